//! Addresses as users write them: `HOST:PORT`, where HOST is an IP address (IPv6 in
//! brackets) or a host name. A name is resolved when the address is used, not when it is
//! parsed, so a process that connects again (a node rejoining its coordinator) follows a name
//! that moved to another machine, as a restarted Kubernetes pod does.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

/// The longest host name DNS allows.
const MAX_HOST_NAME: usize = 253;

/// `HOST:PORT`: an IP address or a host name, and a port.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct HostPort {
    host: Host,
    port: u16,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Host {
    Ip(IpAddr),
    Name(String),
}

/// Why text is no `HOST:PORT`, or a host name did not resolve.
#[derive(thiserror::Error, Debug, PartialEq, Eq)]
pub enum HostPortError {
    /// The text is not of the form `HOST:PORT`.
    #[error(
        "{text:?} is not HOST:PORT ({reason}); write e.g. 127.0.0.1:7600, [::1]:7600 or \
         coordinator.example.com:7600"
    )]
    Malformed {
        /// The text given.
        text: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The host name did not resolve to any address.
    #[error(
        "cannot resolve {address}: {reason}; check the name (and this machine's DNS), or give \
         an IP address"
    )]
    Unresolved {
        /// The address given.
        address: String,
        /// The resolver's reason.
        reason: String,
    },
}

impl HostPort {
    /// The socket address, resolving a host name (the first address it has, IPv4 first).
    pub async fn resolve(&self) -> Result<SocketAddr, HostPortError> {
        match &self.host {
            Host::Ip(ip) => Ok(SocketAddr::new(*ip, self.port)),
            Host::Name(name) => {
                let found = tokio::net::lookup_host((name.as_str(), self.port)).await;
                self.first(found.map(|addrs| addrs.collect()))
            }
        }
    }

    /// [`HostPort::resolve`], blocking: for start-up, before any runtime runs.
    pub fn resolve_blocking(&self) -> Result<SocketAddr, HostPortError> {
        match &self.host {
            Host::Ip(ip) => Ok(SocketAddr::new(*ip, self.port)),
            Host::Name(name) => {
                let found = std::net::ToSocketAddrs::to_socket_addrs(&(name.as_str(), self.port));
                self.first(found.map(|addrs| addrs.collect()))
            }
        }
    }

    /// The first resolved address, IPv4 first (loopback names list `::1` first on many
    /// systems while services listen on 127.0.0.1).
    fn first(&self, found: std::io::Result<Vec<SocketAddr>>) -> Result<SocketAddr, HostPortError> {
        let unresolved = |reason: String| HostPortError::Unresolved {
            address: self.to_string(),
            reason,
        };
        let addrs = found.map_err(|e| unresolved(e.to_string()))?;
        addrs
            .iter()
            .find(|a| a.is_ipv4())
            .or_else(|| addrs.first())
            .copied()
            .ok_or_else(|| unresolved("the name has no address".into()))
    }
}

impl FromStr for HostPort {
    type Err = HostPortError;

    fn from_str(text: &str) -> Result<HostPort, HostPortError> {
        let malformed = |reason: &str| HostPortError::Malformed {
            text: text.to_string(),
            reason: reason.to_string(),
        };
        if let Ok(addr) = text.parse::<SocketAddr>() {
            return Ok(addr.into());
        }
        let (host, port) = text.rsplit_once(':').ok_or_else(|| malformed("no port"))?;
        let port: u16 = port
            .parse()
            .map_err(|_| malformed("the port is not a number from 0 to 65535"))?;
        if host.starts_with('[') || host.contains(':') {
            return Err(malformed("not an IPv6 address in brackets"));
        }
        if !is_host_name(host) {
            return Err(malformed(
                "the host is neither an IP address nor a host name (letters, digits, '-' and \
                 '.' between labels)",
            ));
        }
        Ok(HostPort {
            host: Host::Name(host.to_ascii_lowercase()),
            port,
        })
    }
}

/// Whether `host` is a DNS host name: dot-separated labels of letters, digits and inner
/// hyphens (underscores allowed, as some internal names have them), 253 characters at most,
/// the last not all digits (`300.1.1.1` is a mistyped IPv4 address, not a name).
fn is_host_name(host: &str) -> bool {
    let label = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    };
    let host = host.strip_suffix('.').unwrap_or(host);
    let numeric = host
        .rsplit('.')
        .next()
        .is_some_and(|top| top.chars().all(|c| c.is_ascii_digit()));
    !host.is_empty() && host.len() <= MAX_HOST_NAME && host.split('.').all(label) && !numeric
}

impl From<SocketAddr> for HostPort {
    fn from(addr: SocketAddr) -> HostPort {
        HostPort {
            host: Host::Ip(addr.ip()),
            port: addr.port(),
        }
    }
}

impl fmt::Display for HostPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.host {
            Host::Ip(ip) => SocketAddr::new(*ip, self.port).fmt(f),
            Host::Name(name) => write!(f, "{name}:{}", self.port),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<HostPort, HostPortError> {
        text.parse()
    }

    #[test]
    fn ip_addresses_and_host_names_parse_and_print_back() {
        for text in [
            "127.0.0.1:7600",
            "[::1]:7600",
            "0.0.0.0:0",
            "coordinator:7600",
            "quiver-0.quiver.default.svc.cluster.local:7600",
            "node_1.internal:1",
        ] {
            assert_eq!(parse(text).unwrap().to_string(), text);
        }
        assert_eq!(
            parse("Coord.Example:80").unwrap().to_string(),
            "coord.example:80"
        );
    }

    #[test]
    fn malformed_addresses_say_what_is_wrong() {
        for (text, reason) in [
            ("coordinator", "no port"),
            ("coordinator:", "port is not a number"),
            ("coordinator:65536", "port is not a number"),
            (":7600", "neither an IP address nor a host name"),
            ("-bad.example:1", "neither"),
            ("a..b:1", "neither"),
            ("exa mple:1", "neither"),
            ("::1:7600", "IPv6 address in brackets"),
            ("[::1:7600", "IPv6 address in brackets"),
            ("300.1.1.1:1", "neither"),
        ] {
            let err = parse(text).unwrap_err().to_string();
            assert!(err.contains(reason), "{text}: {err}");
            assert!(err.contains("write e.g."), "{text}: {err}");
        }
        let long = format!("{}:1", vec!["a".repeat(63); 5].join("."));
        assert!(parse(&long).is_err(), "over 253 characters");
    }

    #[test]
    fn ip_addresses_resolve_to_themselves_and_localhost_to_loopback() {
        let ip = parse("127.0.0.1:7600").unwrap();
        assert_eq!(
            ip.resolve_blocking().unwrap(),
            "127.0.0.1:7600".parse().unwrap()
        );
        let name = parse("localhost:7600").unwrap();
        let resolved = name.resolve_blocking().unwrap();
        assert!(resolved.ip().is_loopback(), "{resolved}");
        assert_eq!(resolved.port(), 7600);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        assert_eq!(runtime.block_on(name.resolve()).unwrap(), resolved);
    }

    #[test]
    fn a_name_without_addresses_is_an_error_naming_it() {
        // The resolver's answers are given here: asking it about an unknown name would send a
        // query to this machine's DNS servers.
        let name = parse("nothing.example:1").unwrap();
        for found in [
            Err(std::io::Error::other("Name or service not known")),
            Ok(Vec::new()),
        ] {
            let err = name.first(found).unwrap_err().to_string();
            assert!(err.contains("cannot resolve nothing.example:1"), "{err}");
        }
        let both = vec!["[::1]:1".parse().unwrap(), "127.0.0.1:1".parse().unwrap()];
        assert_eq!(
            name.first(Ok(both)).unwrap(),
            "127.0.0.1:1".parse().unwrap()
        );
    }
}
