//! The faults a chaos run injects, and how each is applied to and lifted from the cluster.

use super::cluster::ChaosCluster;
use super::proxy::NetFaults;
use super::rng::Rng;
use crate::Cut;
use std::time::Duration;

/// A kind of fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FaultKind {
    /// SIGKILL a node, then start it again (as a supervisor would).
    NodeKill,
    /// SIGSTOP a node past the heartbeat timeout, then SIGCONT it.
    NodeStop,
    /// SIGKILL the coordinator, then start it again on its data.
    CoordinatorKill,
    /// A task panics (the chaos build's SIGUSR1 hook).
    TaskPanic,
    /// The proxy in front of a node drops a share of datagrams.
    NetDrop,
    /// The proxy in front of a node delays every datagram.
    NetDelay,
    /// The proxy in front of a node sends a share of datagrams twice.
    NetDuplicate,
    /// The proxy in front of a node reorders a share of datagrams.
    NetReorder,
    /// A node's link is down both ways, then up.
    PartitionBoth,
    /// A node hears nothing, or nothing it sends arrives, then the link heals.
    PartitionOneWay,
    /// The coordinator's or the job's file system is full, then has room again.
    DiskFull,
    /// A checkpoint blob is stored corrupt (the chaos build's SIGUSR2 hook).
    CorruptBlob,
    /// A node — with the parameter-server shards it holds — is killed while a model swap
    /// is under way, then started again.
    SwapKill,
}

impl FaultKind {
    /// Every kind, in a fixed order.
    pub const ALL: [FaultKind; 13] = [
        FaultKind::NodeKill,
        FaultKind::NodeStop,
        FaultKind::CoordinatorKill,
        FaultKind::TaskPanic,
        FaultKind::NetDrop,
        FaultKind::NetDelay,
        FaultKind::NetDuplicate,
        FaultKind::NetReorder,
        FaultKind::PartitionBoth,
        FaultKind::PartitionOneWay,
        FaultKind::DiskFull,
        FaultKind::CorruptBlob,
        FaultKind::SwapKill,
    ];

    /// Its name in reports and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            FaultKind::NodeKill => "node-kill",
            FaultKind::NodeStop => "node-stop",
            FaultKind::CoordinatorKill => "coordinator-kill",
            FaultKind::TaskPanic => "task-panic",
            FaultKind::NetDrop => "net-drop",
            FaultKind::NetDelay => "net-delay",
            FaultKind::NetDuplicate => "net-duplicate",
            FaultKind::NetReorder => "net-reorder",
            FaultKind::PartitionBoth => "partition-both",
            FaultKind::PartitionOneWay => "partition-one-way",
            FaultKind::DiskFull => "disk-full",
            FaultKind::CorruptBlob => "corrupt-blob",
            FaultKind::SwapKill => "swap-kill",
        }
    }

    /// The kind named `name`.
    pub fn parse(name: &str) -> Option<FaultKind> {
        FaultKind::ALL.into_iter().find(|k| k.name() == name)
    }

    /// Whether the fault is over once injected: a process killed (its restart is the
    /// supervisor's answer, not the fault's end), a panic, a corrupt write. Recovery from
    /// these counts from the injection; from the others, from when they are lifted.
    pub fn instantaneous(self) -> bool {
        matches!(
            self,
            FaultKind::NodeKill
                | FaultKind::SwapKill
                | FaultKind::CoordinatorKill
                | FaultKind::TaskPanic
                | FaultKind::CorruptBlob
        )
    }
}

/// A fault as injected: what, where, and how to lift it.
#[derive(Clone, Debug)]
pub struct Fault {
    /// Its kind.
    pub kind: FaultKind,
    /// What it hit: a node's name, `coordinator` or `job`.
    pub target: String,
    /// How long it lasts before it is lifted (zero: instantaneous).
    pub hold: Duration,
    /// Its parameters, for the report.
    pub detail: String,
    node: Option<usize>,
    cut: Option<Cut>,
    net: NetFaults,
    coordinator_disk: bool,
}

/// A duration between `low` and `high` milliseconds.
fn millis(rng: &mut Rng, low: u64, high: u64) -> Duration {
    Duration::from_millis(rng.range(low, high))
}

/// Chooses the parameters of a fault of `kind` on the cluster's nodes.
pub fn plan(kind: FaultKind, nodes: usize, rng: &mut Rng) -> Fault {
    let node = rng.range(0, nodes as u64) as usize;
    let mut fault = Fault {
        kind,
        target: format!("node{}", node + 1),
        hold: Duration::ZERO,
        detail: String::new(),
        node: Some(node),
        cut: None,
        net: NetFaults::default(),
        coordinator_disk: false,
    };
    match kind {
        FaultKind::NodeKill | FaultKind::SwapKill => fault.hold = millis(rng, 200, 2_000),
        FaultKind::NodeStop => fault.hold = millis(rng, 2_500, 4_000),
        FaultKind::CoordinatorKill => {
            fault.hold = millis(rng, 200, 1_500);
            fault.target = "coordinator".into();
            fault.node = None;
        }
        FaultKind::CorruptBlob => {
            fault.target = "coordinator".into();
            fault.node = None;
        }
        FaultKind::TaskPanic => {}
        FaultKind::NetDrop
        | FaultKind::NetDelay
        | FaultKind::NetDuplicate
        | FaultKind::NetReorder => {
            fault.hold = millis(rng, 2_000, 5_000);
            let mut net = NetFaults::default();
            fault.detail = match kind {
                FaultKind::NetDrop => {
                    let p = rng.range(5, 30);
                    net.drop = p as f64 / 100.0;
                    format!("drop {p}%")
                }
                FaultKind::NetDelay => {
                    let ms = rng.range(20, 150);
                    net.delay = Duration::from_millis(ms);
                    format!("delay {ms} ms")
                }
                FaultKind::NetDuplicate => {
                    let p = rng.range(10, 50);
                    net.duplicate = p as f64 / 100.0;
                    format!("duplicate {p}%")
                }
                _ => {
                    let p = rng.range(10, 50);
                    net.reorder = p as f64 / 100.0;
                    format!("reorder {p}%")
                }
            };
            fault.net = net;
        }
        FaultKind::PartitionBoth => {
            fault.hold = millis(rng, 2_500, 5_000);
            fault.cut = Some(Cut::Both);
            fault.detail = "both ways".into();
        }
        FaultKind::PartitionOneWay => {
            fault.hold = millis(rng, 2_500, 5_000);
            let cut = if rng.unit() < 0.5 {
                Cut::Inbound
            } else {
                Cut::Outbound
            };
            fault.cut = Some(cut);
            fault.detail = format!("{cut:?}").to_lowercase();
        }
        FaultKind::DiskFull => {
            fault.hold = millis(rng, 1_500, 4_000);
            fault.coordinator_disk = rng.unit() < 0.5;
            fault.node = None;
            fault.target = if fault.coordinator_disk {
                "coordinator"
            } else {
                "job"
            }
            .into();
            fault.detail = if fault.coordinator_disk {
                "coordinator data"
            } else {
                "job output"
            }
            .into();
        }
    }
    fault
}

/// Aims a task panic at a node that runs tasks (`busy`: node indexes): the planned node if it
/// is one, else one of them chosen by the planned index. A node without tasks would keep the
/// panic armed until a task is deployed on it, inside a later fault's window. Other faults,
/// and a cluster with no busy node, keep their plan.
pub fn aim(fault: &mut Fault, busy: &[usize]) {
    let Some(planned) = fault.node.filter(|_| fault.kind == FaultKind::TaskPanic) else {
        return;
    };
    if busy.is_empty() || busy.contains(&planned) {
        return;
    }
    let node = busy[planned % busy.len()];
    fault.node = Some(node);
    fault.target = format!("node{}", node + 1);
}

/// Why a fault could not be applied or lifted.
pub type FaultError = String;

/// Applies `fault` to the cluster.
pub fn inject(cluster: &mut ChaosCluster, fault: &Fault) -> Result<(), FaultError> {
    let node = fault.node.map(|i| &mut cluster.nodes[i]);
    match fault.kind {
        FaultKind::NodeKill | FaultKind::SwapKill => {
            if let Some(process) = node.and_then(|n| n.process.take()) {
                process.try_signal("KILL");
            }
        }
        FaultKind::NodeStop => signal_node(node, "STOP"),
        FaultKind::TaskPanic => signal_node(node, "USR1"),
        FaultKind::CoordinatorKill => {
            if let Some(process) = cluster.coordinator.take() {
                process.try_signal("KILL");
            }
        }
        FaultKind::CorruptBlob => {
            if let Some(process) = &cluster.coordinator {
                process.try_signal("USR2");
            }
        }
        FaultKind::NetDrop
        | FaultKind::NetDelay
        | FaultKind::NetDuplicate
        | FaultKind::NetReorder => {
            if let Some(n) = node {
                n.proxy.set(fault.net);
            }
        }
        FaultKind::PartitionBoth | FaultKind::PartitionOneWay => {
            partition(cluster, fault, true)?;
        }
        FaultKind::DiskFull => {
            disk(cluster, fault)?
                .fill()
                .map_err(|e| format!("{}: {e}", fault.kind.name()))?;
        }
    }
    Ok(())
}

/// Lifts `fault` (restarts what it killed).
pub fn lift(cluster: &mut ChaosCluster, fault: &Fault) -> Result<(), FaultError> {
    match fault.kind {
        FaultKind::NodeKill | FaultKind::SwapKill => {
            if let Some(i) = fault.node {
                cluster.start_node(i);
            }
        }
        FaultKind::NodeStop => signal_node(fault.node.map(|i| &mut cluster.nodes[i]), "CONT"),
        FaultKind::CoordinatorKill => cluster.start_coordinator().map_err(|e| e.to_string())?,
        FaultKind::NetDrop
        | FaultKind::NetDelay
        | FaultKind::NetDuplicate
        | FaultKind::NetReorder => {
            if let Some(i) = fault.node {
                cluster.nodes[i].proxy.set(NetFaults::default());
            }
        }
        FaultKind::PartitionBoth | FaultKind::PartitionOneWay => partition(cluster, fault, false)?,
        FaultKind::DiskFull => {
            disk(cluster, fault)?
                .heal()
                .map_err(|e| format!("{}: {e}", fault.kind.name()))?;
        }
        FaultKind::TaskPanic | FaultKind::CorruptBlob => {}
    }
    Ok(())
}

fn signal_node(node: Option<&mut super::cluster::ChaosNode>, name: &str) {
    if let Some(process) = node.and_then(|n| n.process.as_ref()) {
        process.try_signal(name);
    }
}

fn partition(cluster: &ChaosCluster, fault: &Fault, on: bool) -> Result<(), FaultError> {
    let (Some(network), Some(i), Some(cut)) = (&cluster.network, fault.node, fault.cut) else {
        return Err(format!("{} needs network hosts (root)", fault.kind.name()));
    };
    let Some(host) = cluster.nodes[i].host.map(|h| &network.hosts()[h]) else {
        return Err(format!("{} has no network host", cluster.nodes[i].name));
    };
    let result = if on {
        network.isolate(host, cut)
    } else {
        network.rejoin(host, cut)
    };
    result.map_err(|e| e.to_string())
}

fn disk<'a>(
    cluster: &'a ChaosCluster,
    fault: &Fault,
) -> Result<&'a super::disk::Tmpfs, FaultError> {
    let disk = if fault.coordinator_disk {
        &cluster.coordinator_disk
    } else {
        &cluster.job_disk
    };
    disk.as_ref()
        .ok_or_else(|| format!("{} needs file systems of its own (root)", fault.kind.name()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn planned(kind: FaultKind, node: usize) -> Fault {
        let mut fault = plan(kind, 3, &mut Rng::new(1));
        fault.node = Some(node);
        fault.target = format!("node{}", node + 1);
        fault
    }

    #[test]
    fn a_task_panic_moves_to_a_node_running_tasks() {
        let mut fault = planned(FaultKind::TaskPanic, 0);
        aim(&mut fault, &[1, 2]);
        assert_eq!((fault.node, fault.target.as_str()), (Some(1), "node2"));
        let mut fault = planned(FaultKind::TaskPanic, 2);
        aim(&mut fault, &[0]);
        assert_eq!((fault.node, fault.target.as_str()), (Some(0), "node1"));
    }

    #[test]
    fn a_busy_node_an_idle_cluster_and_other_kinds_keep_their_plan() {
        let mut fault = planned(FaultKind::TaskPanic, 2);
        aim(&mut fault, &[0, 2]);
        assert_eq!(fault.node, Some(2));
        let mut fault = planned(FaultKind::TaskPanic, 2);
        aim(&mut fault, &[]);
        assert_eq!(fault.node, Some(2));
        let mut fault = planned(FaultKind::NodeKill, 2);
        aim(&mut fault, &[0]);
        assert_eq!((fault.node, fault.target.as_str()), (Some(2), "node3"));
    }
}
