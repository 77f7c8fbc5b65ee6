//! A user-space UDP fault proxy in front of a QUIC endpoint (`tc netem` is not available
//! here): peers send to the proxy's address, it forwards to the endpoint and carries the
//! replies back, dropping, delaying, duplicating and reordering datagrams both ways as its
//! [`NetFaults`] say.
//!
//! Each client address gets its own upstream socket, so the endpoint sees one distinct peer
//! per client, as without the proxy. Every datagram goes through one scheduler thread that
//! sends it when due, which is what delays and reorders it.

use super::rng::Rng;
use std::collections::{BinaryHeap, HashMap};
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long a socket read waits before the thread looks at the stop flag.
const POLL: Duration = Duration::from_millis(100);
/// The largest datagram carried (QUIC's are at most 1,452 bytes on Ethernet).
const MAX_DATAGRAM: usize = 65_535;

/// What happens to datagrams, each way. All zero: forwarded untouched.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct NetFaults {
    /// The share of datagrams dropped.
    pub drop: f64,
    /// The delay added to every datagram.
    pub delay: Duration,
    /// The share of datagrams sent twice.
    pub duplicate: f64,
    /// The share of datagrams held back up to 20 ms extra, so later ones overtake them.
    pub reorder: f64,
}

/// A running proxy; stops its threads when dropped.
pub struct Proxy {
    addr: SocketAddr,
    faults: Arc<Mutex<NetFaults>>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

/// A datagram waiting for its time.
struct Due {
    at: Instant,
    seq: u64,
    socket: Arc<UdpSocket>,
    /// `None`: the socket is connected to its destination.
    to: Option<SocketAddr>,
    bytes: Vec<u8>,
}

impl PartialEq for Due {
    fn eq(&self, other: &Due) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Due {}
impl PartialOrd for Due {
    fn partial_cmp(&self, other: &Due) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Due {
    /// Earliest first in a max-heap.
    fn cmp(&self, other: &Due) -> std::cmp::Ordering {
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

/// Decides each datagram's fate and hands it to the scheduler.
#[derive(Clone)]
struct Forwarder {
    faults: Arc<Mutex<NetFaults>>,
    rng: Arc<Mutex<Rng>>,
    queue: mpsc::Sender<Due>,
    seq: Arc<std::sync::atomic::AtomicU64>,
}

impl Forwarder {
    fn forward(&self, socket: &Arc<UdpSocket>, to: Option<SocketAddr>, bytes: &[u8]) {
        let faults = *self.faults.lock().unwrap_or_else(|e| e.into_inner());
        let (dropped, copies, extra) = {
            let mut rng = self.rng.lock().unwrap_or_else(|e| e.into_inner());
            let dropped = rng.unit() < faults.drop;
            let copies = if rng.unit() < faults.duplicate { 2 } else { 1 };
            let extra = if rng.unit() < faults.reorder {
                Duration::from_micros(rng.range(1_000, 20_000))
            } else {
                Duration::ZERO
            };
            (dropped, copies, extra)
        };
        if dropped {
            return;
        }
        for _ in 0..copies {
            let _ = self.queue.send(Due {
                at: Instant::now() + faults.delay + extra,
                seq: self.seq.fetch_add(1, Ordering::Relaxed),
                socket: socket.clone(),
                to,
                bytes: bytes.to_vec(),
            });
        }
    }
}

impl Proxy {
    /// A proxy listening on `listen` (port 0: any) in front of `target`; `seed` seeds its
    /// fault decisions.
    pub fn start(listen: SocketAddr, target: SocketAddr, seed: u64) -> std::io::Result<Proxy> {
        let front = Arc::new(UdpSocket::bind(listen)?);
        front.set_read_timeout(Some(POLL))?;
        let addr = front.local_addr()?;
        let faults = Arc::new(Mutex::new(NetFaults::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let (queue, due) = mpsc::channel();
        let forwarder = Forwarder {
            faults: faults.clone(),
            rng: Arc::new(Mutex::new(Rng::new(seed))),
            queue,
            seq: Default::default(),
        };
        let scheduler = {
            let stop = stop.clone();
            std::thread::spawn(move || schedule(&due, &stop))
        };
        let front_thread = {
            let stop = stop.clone();
            std::thread::spawn(move || serve_front(front, target, forwarder, &stop))
        };
        Ok(Proxy {
            addr,
            faults,
            stop,
            threads: vec![scheduler, front_thread],
        })
    }

    /// Where peers send to reach the target through the proxy.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Applies `faults` from now on (all zero heals the link).
    pub fn set(&self, faults: NetFaults) {
        *self.faults.lock().unwrap_or_else(|e| e.into_inner()) = faults;
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

/// Reads datagrams from clients and forwards them upstream, one upstream socket (and reply
/// thread) per client address.
fn serve_front(front: Arc<UdpSocket>, target: SocketAddr, forwarder: Forwarder, stop: &AtomicBool) {
    let mut upstreams: HashMap<SocketAddr, Arc<UdpSocket>> = HashMap::new();
    let mut replies = Vec::new();
    let mut buf = vec![0u8; MAX_DATAGRAM];
    let local_ip = front.local_addr().map(|a| a.ip()).ok();
    while !stop.load(Ordering::Relaxed) {
        let Ok((n, client)) = front.recv_from(&mut buf) else {
            continue;
        };
        let upstream = match upstreams.get(&client) {
            Some(socket) => socket.clone(),
            None => {
                let Some(socket) = local_ip.and_then(|ip| upstream_socket(ip, target)) else {
                    continue;
                };
                let (socket, front, forwarder) =
                    (Arc::new(socket), front.clone(), forwarder.clone());
                upstreams.insert(client, socket.clone());
                let stop_flag = Arc::new(AtomicBool::new(false));
                replies.push(stop_flag.clone());
                let reader = socket.clone();
                std::thread::spawn(move || {
                    let mut buf = vec![0u8; MAX_DATAGRAM];
                    while !stop_flag.load(Ordering::Relaxed) {
                        if let Ok(n) = reader.recv(&mut buf) {
                            forwarder.forward(&front, Some(client), &buf[..n]);
                        }
                    }
                });
                socket
            }
        };
        forwarder.forward(&upstream, None, &buf[..n]);
    }
    for flag in replies {
        flag.store(true, Ordering::Relaxed);
    }
}

/// A socket on `ip` connected to `target`, for one client's traffic.
fn upstream_socket(ip: std::net::IpAddr, target: SocketAddr) -> Option<UdpSocket> {
    let socket = UdpSocket::bind((ip, 0)).ok()?;
    socket.connect(target).ok()?;
    socket.set_read_timeout(Some(POLL)).ok()?;
    Some(socket)
}

/// Sends each datagram when it is due.
fn schedule(due: &mpsc::Receiver<Due>, stop: &AtomicBool) {
    let mut heap = BinaryHeap::new();
    while !stop.load(Ordering::Relaxed) {
        let wait = heap.peek().map_or(POLL, |d: &Due| {
            d.at.saturating_duration_since(Instant::now())
        });
        match due.recv_timeout(wait.min(POLL)) {
            Ok(d) => heap.push(d),
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => return,
        }
        let now = Instant::now();
        while heap.peek().is_some_and(|d| d.at <= now) {
            if let Some(d) = heap.pop() {
                let _ = match d.to {
                    Some(to) => d.socket.send_to(&d.bytes, to),
                    None => d.socket.send(&d.bytes),
                };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An echo server on loopback; returns its address.
    fn echo() -> SocketAddr {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = socket.local_addr().unwrap();
        std::thread::spawn(move || {
            let mut buf = [0u8; 2048];
            while let Ok((n, from)) = socket.recv_from(&mut buf) {
                let _ = socket.send_to(&buf[..n], from);
            }
        });
        addr
    }

    /// Sends `count` numbered datagrams through the proxy; returns the numbers echoed back
    /// within a second of the last, in arrival order.
    fn round_trip(proxy: &Proxy, count: u32) -> Vec<u32> {
        let client = UdpSocket::bind("127.0.0.1:0").unwrap();
        client
            .set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        for i in 0..count {
            client.send_to(&i.to_le_bytes(), proxy.addr()).unwrap();
        }
        let mut got = Vec::new();
        let mut buf = [0u8; 16];
        while let Ok(n) = client.recv(&mut buf) {
            got.push(u32::from_le_bytes(buf[..n].try_into().unwrap()));
        }
        got
    }

    #[test]
    fn a_clean_link_carries_every_datagram_both_ways() {
        let proxy = Proxy::start("127.0.0.1:0".parse().unwrap(), echo(), 1).unwrap();
        let mut got = round_trip(&proxy, 200);
        got.sort_unstable();
        assert_eq!(got, (0..200).collect::<Vec<_>>());
    }

    #[test]
    fn faults_drop_duplicate_and_reorder_datagrams() {
        let proxy = Proxy::start("127.0.0.1:0".parse().unwrap(), echo(), 2).unwrap();
        proxy.set(NetFaults {
            drop: 0.3,
            ..NetFaults::default()
        });
        // Each way drops 30%: about 49% of 1,000 round trips survive.
        let survived = round_trip(&proxy, 1000).len();
        assert!(
            (350..650).contains(&survived),
            "{survived} of 1000 survived"
        );
        proxy.set(NetFaults {
            duplicate: 1.0,
            ..NetFaults::default()
        });
        // Duplicated each way: every datagram comes back four times.
        let got = round_trip(&proxy, 50);
        assert_eq!(got.len(), 200, "{got:?}");
        proxy.set(NetFaults {
            reorder: 0.5,
            ..NetFaults::default()
        });
        let got = round_trip(&proxy, 300);
        assert_eq!(got.len(), 300);
        assert!(got.windows(2).any(|w| w[0] > w[1]), "nothing was reordered");
    }
}
