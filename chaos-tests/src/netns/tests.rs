//! The network harness: parsing of `ip` listings, and a real network built, cut, healed and
//! removed (this needs root, as every test using [`Network`] does).

use super::*;
use std::time::{Duration, Instant};

#[test]
fn prefixes_are_read_from_addr_and_route_listings() {
    let addrs = "1: lo    inet 127.0.0.1/8 scope host lo\n\
                 4: eth0    inet 192.0.2.2/24 brd 192.0.2.255 scope global eth0\n";
    assert_eq!(
        address_prefixes(addrs).collect::<Vec<_>>(),
        vec![(0x7f00_0001, 8), (0xc000_0202, 24)]
    );
    let routes = "default via 192.0.2.1 dev eth0\n\
                  10.1.2.0/24 dev br0 proto kernel scope link src 10.1.2.1\n\
                  local 10.1.2.1 dev br0 table local proto kernel\n\
                  blackhole 10.9.9.9\n";
    assert_eq!(
        route_prefixes(routes).collect::<Vec<_>>(),
        vec![(0x0a01_0200, 24), (0x0a01_0201, 32), (0x0a09_0909, 32)]
    );
}

#[test]
fn overlapping_prefixes_share_their_common_bits() {
    let net = |a, b, c| u32::from(Ipv4Addr::new(10, a, b, c));
    assert!(overlaps(net(1, 2, 0), 24, net(1, 2, 77), 32));
    assert!(overlaps(net(1, 2, 0), 24, net(0, 0, 0), 8));
    assert!(!overlaps(net(1, 2, 0), 24, net(1, 3, 0), 24));
    assert!(
        overlaps(net(1, 2, 0), 24, 0, 0),
        "a default route covers everything"
    );
}

/// Waits up to 5 s for `condition`, panicking with `what` if it never holds.
fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    let start = Instant::now();
    while !condition() {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "{what}: not within 5 s"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Whether `from` has a route to `to` (a blackholed address has none).
fn routes(from: &Host, to: Ipv4Addr) -> bool {
    from.ip(&["route", "get", &to.to_string()]).is_ok()
}

#[test]
fn a_cut_separates_two_hosts_only_and_nothing_outlives_the_network() {
    let network =
        Network::new(3).unwrap_or_else(|e| panic!("cannot build test hosts on this machine: {e}"));
    let [a, b, c] = network.hosts() else {
        panic!("asked for 3 hosts, got {:?}", network.hosts());
    };
    let listed = ip(&["netns", "list"]).unwrap();
    for host in network.hosts() {
        assert!(listed.contains(host.namespace()), "{listed}");
        let lo = ip(&["-n", host.namespace(), "link", "show", "lo"]).unwrap();
        assert!(lo.contains(",UP"), "loopback is down in {host:?}: {lo}");
    }
    let everyone = [network.bridge_addr(), a.addr(), b.addr(), c.addr()];
    assert!(everyone.iter().all(|&to| routes(a, to) && routes(b, to)));

    network.cut(a, b).unwrap();
    assert!(
        !routes(a, b.addr()) && !routes(b, a.addr()),
        "the cut is both ways"
    );
    for to in [network.bridge_addr(), c.addr()] {
        assert!(routes(a, to) && routes(b, to), "{to} stays reachable");
    }
    network.heal(a, b).unwrap();
    assert!(routes(a, b.addr()) && routes(b, a.addr()));

    let dir = tempfile::tempdir().unwrap();
    let mut sleeper = a.start("sleeper", Path::new("sleep"), &["600"], dir.path());
    // `ip netns exec` enters the namespace, then replaces itself with the program.
    let pid = sleeper.pid().to_string();
    eventually("the program's PID is the one in the host", || {
        ip(&["netns", "pids", a.namespace()]).unwrap().trim() == pid
    });

    let namespaces: Vec<String> = network
        .hosts()
        .iter()
        .map(|h| h.namespace.clone())
        .collect();
    let mut links: Vec<String> = network.hosts().iter().map(|h| h.veth.clone()).collect();
    links.push(network.bridge.clone());
    let claim = network.claim.clone();
    assert!(claim.exists());
    drop(network);
    eventually("a process left in a host is killed", || {
        !sleeper.is_running()
    });
    let listed = ip(&["netns", "list"]).unwrap();
    assert!(
        namespaces.iter().all(|ns| !listed.contains(ns.as_str())),
        "{listed}"
    );
    for link in links {
        assert!(ip(&["link", "show", &link]).is_err(), "{link} is left");
    }
    assert!(!claim.exists(), "{} is left", claim.display());
}
