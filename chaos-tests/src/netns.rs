//! Separate network hosts on one machine, and faults between them, for tests.
//!
//! A [`Network`] is a Linux bridge with an address on this machine's side (processes started
//! normally, such as a coordinator, listen there) and N network namespaces, each a [`Host`]
//! joined to the bridge by a veth pair, with loopback up and its own address in the
//! network's `10.a.b.0/24` subnet:
//!
//! ```text
//!   this machine: bridge qv…-br 10.a.b.1 ──┬── veth ── host 0 (netns, eth0 10.a.b.2)
//!                                          ├── veth ── host 1 (netns, eth0 10.a.b.3)
//!                                          └── …
//! ```
//!
//! [`Host::start`] runs a [`Process`] inside a host (`ip netns exec`); [`Network::cut`] makes
//! two hosts unreachable from each other while both still reach the bridge address and every
//! other host, and [`Network::heal`] undoes it.
//!
//! Names carry this process's id and a counter, and each network claims its subnet under
//! [`CLAIMS`], so tests running in parallel (in one process or several) never collide.
//! Dropping the network kills what still runs in its namespaces (by PID) and deletes every
//! namespace, veth and bridge it made, also when the test panics. Only a test process killed
//! outright (SIGKILL) leaves them behind: `ip netns list`, `ip link show type bridge` and the
//! files in [`CLAIMS`] (each holding its owner's PID) name them, and [`remove_left_by`]
//! removes them.
//!
//! It needs root (`CAP_NET_ADMIN`) and iproute2's `ip`; without them [`Network::new`] returns
//! an error saying so, which a test should report by failing, never by skipping.

use crate::Process;
use std::ffi::OsStr;
use std::io::{ErrorKind, Write};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

/// Where networks claim their subnets: one file per subnet in use, named after it.
pub const CLAIMS: &str = "/run/quiver-netns";

/// Networks made by this process so far, for unique names.
static NETWORKS: AtomicU32 = AtomicU32::new(0);

/// Why a network could not be built or a fault not applied.
#[derive(Debug, thiserror::Error)]
pub enum NetnsError {
    /// `ip` could not be started.
    #[error("cannot run `ip {command}`: {source} (test hosts need iproute2's `ip`)")]
    NoIp {
        /// The arguments given to `ip`.
        command: String,
        /// Why it did not start.
        #[source]
        source: std::io::Error,
    },
    /// Refused for lack of privilege.
    #[error("{what} was refused: {reason} (test hosts need root, CAP_NET_ADMIN)")]
    NotPermitted {
        /// What was refused (an `ip` command, a claim).
        what: String,
        /// Why, as the system said it.
        reason: String,
    },
    /// `ip` failed for another reason.
    #[error("`ip {command}` failed: {stderr}")]
    Ip {
        /// The arguments given to `ip`.
        command: String,
        /// What `ip` said.
        stderr: String,
    },
    /// A subnet could not be claimed.
    #[error("cannot claim a subnet for test hosts in {CLAIMS}: {0}")]
    Claim(std::io::Error),
    /// Every `10.a.b.0/24` subnet is taken.
    #[error("no free 10.a.b.0/24 subnet for test hosts (see {CLAIMS} and `ip -4 addr`)")]
    NoSubnet,
}

/// One host: a network namespace joined to the bridge.
#[derive(Debug)]
pub struct Host {
    namespace: String,
    /// The bridge end of its veth pair; the other end is its `eth0`.
    veth: String,
    addr: Ipv4Addr,
}

impl Host {
    /// The network namespace's name (for `ip netns exec` and `ip -n`).
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// Its address on the bridge; peers and the bridge side reach it there.
    pub fn addr(&self) -> Ipv4Addr {
        self.addr
    }

    /// Starts `program args` inside this host (through `ip netns exec`, which replaces
    /// itself with the program, so the [`Process`]'s PID is the program's), logging to
    /// `log_dir/NAME.log` as [`Process::start`] does.
    pub fn start(
        &self,
        name: &str,
        program: &Path,
        args: &[impl AsRef<OsStr>],
        log_dir: &Path,
    ) -> Process {
        let mut all: Vec<&OsStr> = vec!["netns".as_ref(), "exec".as_ref()];
        all.extend([self.namespace.as_ref(), program.as_os_str()]);
        all.extend(args.iter().map(AsRef::as_ref));
        Process::start(name, Path::new("ip"), &all, log_dir)
    }

    /// Runs `ip ARGS` inside this host.
    fn ip(&self, args: &[&str]) -> Result<(), NetnsError> {
        let mut all = vec!["-n", self.namespace.as_str()];
        all.extend_from_slice(args);
        ip(&all).map(drop)
    }

    /// Makes `addr` unreachable from this host (`add` or `del` a blackhole route).
    fn blackhole(&self, action: &str, addr: Ipv4Addr) -> Result<(), NetnsError> {
        self.ip(&["route", action, "blackhole", &format!("{addr}/32")])
    }
}

/// A bridge on this machine and hosts joined to it; everything is deleted on drop.
#[derive(Debug)]
pub struct Network {
    bridge: String,
    bridge_made: bool,
    bridge_addr: Ipv4Addr,
    claim: PathBuf,
    hosts: Vec<Host>,
}

impl Network {
    /// Builds a bridge and `hosts` hosts. Each host reaches the bridge address and every
    /// other host; loopback is up in each.
    pub fn new(hosts: usize) -> Result<Network, NetnsError> {
        assert!(hosts <= 253, "a /24 holds the bridge and at most 253 hosts");
        let prefix = format!(
            "qv{:x}-{:x}",
            std::process::id(),
            NETWORKS.fetch_add(1, Ordering::Relaxed)
        );
        let (claim, subnet) = claim_subnet()?;
        let address = |last: u8| Ipv4Addr::new(10, subnet[0], subnet[1], last);
        // From here on, dropping `network` undoes whatever was made.
        let mut network = Network {
            bridge: format!("{prefix}-br"),
            bridge_made: false,
            bridge_addr: address(1),
            claim,
            hosts: Vec::new(),
        };
        let bridge = network.bridge.clone();
        ip(&["link", "add", &bridge, "type", "bridge"])?;
        network.bridge_made = true;
        ip(&["addr", "add", &format!("{}/24", address(1)), "dev", &bridge])?;
        ip(&["link", "set", &bridge, "up"])?;
        for i in 0..hosts {
            let namespace = format!("{prefix}-ns{i}");
            ip(&["netns", "add", &namespace])?;
            network.hosts.push(Host {
                namespace,
                veth: format!("{prefix}-{i}"),
                addr: address(i as u8 + 2),
            });
            let host = &network.hosts[i];
            ip(&[
                "link",
                "add",
                &host.veth,
                "type",
                "veth",
                "peer",
                "name",
                "eth0",
                "netns",
                &host.namespace,
            ])?;
            ip(&["link", "set", &host.veth, "master", &bridge, "up"])?;
            host.ip(&["addr", "add", &format!("{}/24", host.addr), "dev", "eth0"])?;
            host.ip(&["link", "set", "eth0", "up"])?;
            host.ip(&["link", "set", "lo", "up"])?;
        }
        Ok(network)
    }

    /// The bridge's address on this machine: a process started normally (not in a host)
    /// and listening there is reachable from every host.
    pub fn bridge_addr(&self) -> Ipv4Addr {
        self.bridge_addr
    }

    /// The hosts, in the order made.
    pub fn hosts(&self) -> &[Host] {
        &self.hosts
    }

    /// Cuts the link between `a` and `b` both ways (a blackhole route to the other in each),
    /// while both still reach the bridge address and every other host. A packet either
    /// sends to the other is dropped at once: the sender's `sendmsg` fails with `EINVAL`,
    /// which QUIC (quinn) logs and treats as a lost packet.
    pub fn cut(&self, a: &Host, b: &Host) -> Result<(), NetnsError> {
        a.blackhole("add", b.addr)?;
        b.blackhole("add", a.addr)
    }

    /// Restores the link [`Network::cut`] cut between `a` and `b`.
    pub fn heal(&self, a: &Host, b: &Host) -> Result<(), NetnsError> {
        a.blackhole("del", b.addr)?;
        b.blackhole("del", a.addr)
    }
}

/// How [`Network::isolate`] cuts a host off.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cut {
    /// Nothing in or out: its link is down.
    Both,
    /// It hears nothing from this machine (a blackhole route to it here); what it sends
    /// still arrives.
    Inbound,
    /// Nothing it sends to the bridge address arrives (a blackhole route in it); it still
    /// hears everything.
    Outbound,
}

impl Network {
    /// Cuts `host` off from this machine (the bridge address, where a coordinator and the
    /// proxies in front of other hosts listen) as `cut` says.
    pub fn isolate(&self, host: &Host, cut: Cut) -> Result<(), NetnsError> {
        self.apply(host, cut, true)
    }

    /// Undoes [`Network::isolate`].
    pub fn rejoin(&self, host: &Host, cut: Cut) -> Result<(), NetnsError> {
        self.apply(host, cut, false)
    }

    fn apply(&self, host: &Host, cut: Cut, on: bool) -> Result<(), NetnsError> {
        let action = if on { "add" } else { "del" };
        match cut {
            Cut::Both => ip(&["link", "set", &host.veth, if on { "down" } else { "up" }]).map(drop),
            Cut::Inbound => {
                ip(&["route", action, "blackhole", &format!("{}/32", host.addr)]).map(drop)
            }
            Cut::Outbound => host.blackhole(action, self.bridge_addr),
        }
    }
}

impl Drop for Network {
    fn drop(&mut self) {
        let mut failures = Vec::new();
        let mut undo = |args: &[&str]| {
            if let Err(e) = ip(args) {
                failures.push(e.to_string());
            }
        };
        for host in &self.hosts {
            // Normally the test's `Process` guards have already killed these.
            kill_everything_in(&host.namespace);
            // Deleting the namespace would delete the veth pair too, but only once the kernel
            // has freed the namespace; deleting the pair first leaves nothing behind now.
            if ip(&["link", "show", &host.veth]).is_ok() {
                undo(&["link", "del", &host.veth]);
            }
            undo(&["netns", "del", &host.namespace]);
        }
        if self.bridge_made {
            undo(&["link", "del", &self.bridge]);
        }
        if let Err(e) = std::fs::remove_file(&self.claim) {
            failures.push(format!("cannot remove {}: {e}", self.claim.display()));
        }
        for failure in failures {
            eprintln!("test network {}: teardown: {failure}", self.bridge);
        }
    }
}

/// Removes the namespaces (killing what runs in them), links and subnet claims that process
/// `pid` made and left behind: call it only once `pid` is gone. Returns what it removed.
pub fn remove_left_by(pid: u32) -> Vec<String> {
    let prefix = format!("qv{pid:x}-");
    let mut removed = Vec::new();
    let names = |text: String| -> Vec<String> {
        text.lines()
            .filter_map(|line| line.split_whitespace().next())
            .map(|name| name.trim_end_matches(':').to_string())
            .filter(|name| name.starts_with(&prefix))
            .collect()
    };
    for namespace in names(ip(&["netns", "list"]).unwrap_or_default()) {
        kill_everything_in(&namespace);
        if ip(&["netns", "del", &namespace]).is_ok() {
            removed.push(format!("network namespace {namespace}"));
        }
    }
    // `ip -o link show`: `12: NAME: <…>` or `13: NAME@if2: <…>`.
    let links = ip(&["-o", "link", "show"]).unwrap_or_default();
    let links = links.lines().filter_map(|line| {
        let name = line.split(": ").nth(1)?;
        Some(name.split('@').next()?.to_string())
    });
    for link in links.filter(|name| name.starts_with(&prefix)) {
        if ip(&["link", "del", &link]).is_ok() {
            removed.push(format!("link {link}"));
        }
    }
    let owner = pid.to_string();
    for claim in std::fs::read_dir(CLAIMS).into_iter().flatten().flatten() {
        let path = claim.path();
        let owned = std::fs::read_to_string(&path).is_ok_and(|text| text.trim() == owner);
        if owned && std::fs::remove_file(&path).is_ok() {
            removed.push(format!("subnet claim {}", path.display()));
        }
    }
    removed
}

/// Kills (SIGKILL) every process running in network namespace `namespace`.
fn kill_everything_in(namespace: &str) {
    if let Ok(pids) = ip(&["netns", "pids", namespace]) {
        for pid in pids.split_whitespace() {
            crate::send_signal("KILL", pid);
        }
    }
}

/// Runs `ip ARGS`; returns what it printed.
fn ip(args: &[&str]) -> Result<String, NetnsError> {
    let command = args.join(" ");
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|source| NetnsError::NoIp {
            command: command.clone(),
            source,
        })?;
    let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else if stderr.contains("Operation not permitted") || stderr.contains("Permission denied") {
        Err(NetnsError::NotPermitted {
            what: format!("`ip {command}`"),
            reason: stderr,
        })
    } else {
        Err(NetnsError::Ip { command, stderr })
    }
}

/// Claims a `10.a.b.0/24` that no address or route on this machine overlaps and no other
/// network has claimed: creating `CLAIMS/10.a.b.0` is atomic, so two claimants never get the
/// same subnet. Returns the claim file and `[a, b]`.
fn claim_subnet() -> Result<(PathBuf, [u8; 2]), NetnsError> {
    let refused = |e: std::io::Error| match e.kind() {
        ErrorKind::PermissionDenied => NetnsError::NotPermitted {
            what: format!("claiming a subnet in {CLAIMS}"),
            reason: e.to_string(),
        },
        _ => NetnsError::Claim(e),
    };
    std::fs::create_dir_all(CLAIMS).map_err(refused)?;
    let addresses = ip(&["-4", "-o", "addr", "show"])?;
    let routes = ip(&["-4", "route", "show", "table", "all"])?;
    let used: Vec<(u32, u32)> = address_prefixes(&addresses)
        .chain(route_prefixes(&routes))
        .collect();
    // Start where this process's id points, so parallel runs rarely probe the same subnets.
    let start = std::process::id().wrapping_mul(2654435761) >> 16;
    for offset in 0..1u32 << 16 {
        let index = (start + offset) & 0xffff;
        let subnet = [(index >> 8) as u8, index as u8];
        let base = u32::from(Ipv4Addr::new(10, subnet[0], subnet[1], 0));
        if used
            .iter()
            .any(|&(addr, len)| overlaps(base, 24, addr, len))
        {
            continue;
        }
        let claim = Path::new(CLAIMS).join(format!("10.{}.{}.0", subnet[0], subnet[1]));
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&claim)
        {
            Ok(mut file) => {
                // The owner, so that what a killed process left can be told apart.
                let _ = write!(file, "{}", std::process::id());
                return Ok((claim, subnet));
            }
            Err(e) if e.kind() == ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(refused(e)),
        }
    }
    Err(NetnsError::NoSubnet)
}

/// The prefixes in `ip -4 -o addr show`: the word after `inet` on each line.
fn address_prefixes(text: &str) -> impl Iterator<Item = (u32, u32)> + '_ {
    text.lines().filter_map(|line| {
        let mut words = line.split_whitespace().skip_while(|w| *w != "inet");
        words.nth(1).and_then(parse_prefix)
    })
}

/// The destinations in `ip -4 route show`: the first word of a line, or the second after a
/// route type (`local`, `blackhole`, …), that is an address.
fn route_prefixes(text: &str) -> impl Iterator<Item = (u32, u32)> + '_ {
    text.lines()
        .filter_map(|line| line.split_whitespace().take(2).find_map(parse_prefix))
}

/// `A.B.C.D` or `A.B.C.D/N` as (address, prefix length).
fn parse_prefix(word: &str) -> Option<(u32, u32)> {
    let (addr, len) = word.split_once('/').unwrap_or((word, "32"));
    Some((u32::from(addr.parse::<Ipv4Addr>().ok()?), len.parse().ok()?))
}

/// Whether two prefixes share an address.
fn overlaps(a: u32, a_len: u32, b: u32, b_len: u32) -> bool {
    let len = a_len.min(b_len).min(32);
    let mask = u32::MAX.checked_shl(32 - len).unwrap_or(0);
    a & mask == b & mask
}

#[cfg(test)]
mod tests;
