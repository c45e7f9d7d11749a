//! Which addresses keypool connects to on a client's behalf. Whoever can reach the proxy
//! could otherwise reach every service that listens only on this machine or its private
//! network (SSRF), or make keypool connect to itself until it runs out of sockets. Names
//! are resolved once and the checked address is the one connected to, so a name cannot
//! answer a public address to the check and a private one to the connect (DNS rebinding).

use ipnet::IpNet;
use parking_lot::RwLock;
use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

/// An address keypool will not connect to, worded for the client that asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// The target is keypool's own listening address: the request would come back here.
    #[error("keypool: {target} is keypool's own address ({addr}), so the request would loop back into keypool; fix: send it to the real destination, not to the proxy itself")]
    Loop { target: String, addr: SocketAddr },
    /// The target resolves only to addresses outside the public internet.
    #[error("keypool: refused to connect to {target}: it resolves to {ip}, a {class} address, which only services of this machine or its network use; fix: if that is intended, add \"{suggest}\" to allow_private in the [upstream] section of config.toml")]
    Private {
        target: String,
        ip: IpAddr,
        class: &'static str,
        suggest: String,
    },
}

impl Refused {
    /// The refusal somewhere in an error's source chain (an upstream client wraps it).
    pub fn find<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a Refused> {
        let mut cur = Some(e);
        while let Some(err) = cur {
            if let Some(r) = err.downcast_ref::<Refused>() {
                return Some(r);
            }
            if let Some(r) = err
                .downcast_ref::<std::io::Error>()
                .and_then(|io| io.get_ref())
                .and_then(|inner| inner.downcast_ref::<Refused>())
            {
                return Some(r);
            }
            cur = err.source();
        }
        None
    }

    /// 508 for a loop, 403 for an address the policy keeps out.
    pub fn status(&self) -> http::StatusCode {
        match self {
            Refused::Loop { .. } => http::StatusCode::LOOP_DETECTED,
            Refused::Private { .. } => http::StatusCode::FORBIDDEN,
        }
    }
}

/// One `[upstream] allow_private` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Allow {
    Host(String),
    Net(IpNet),
}

/// Parses an `allow_private` entry: a host name, an IP address or a CIDR block.
pub fn parse_allow(entry: &str) -> Result<(), String> {
    allow(entry).map(|_| ())
}

fn allow(entry: &str) -> Result<Allow, String> {
    let e = entry.trim().trim_matches(['[', ']']);
    if let Ok(net) = e.parse::<IpNet>() {
        return Ok(Allow::Net(net.trunc()));
    }
    if let Ok(ip) = e.parse::<IpAddr>() {
        return Ok(Allow::Net(IpNet::from(ip.to_canonical())));
    }
    let is_name = !e.is_empty()
        && e.len() <= 253
        && e.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_');
    if is_name {
        Ok(Allow::Host(e.trim_end_matches('.').to_ascii_lowercase()))
    } else {
        Err(format!(
            "allow_private entry '{entry}' is neither a host name, an IP address nor a CIDR block \
            like 10.0.0.0/8"
        ))
    }
}

/// Why an address is not on the public internet, or `None` when it is.
pub fn private_class(ip: IpAddr) -> Option<&'static str> {
    // `::ffff:127.0.0.1` is 127.0.0.1 to the kernel; judge it as such.
    match ip.to_canonical() {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            if v4.is_loopback() {
                Some("loopback")
            } else if v4.is_unspecified() || o[0] == 0 {
                Some("unspecified (\"this host\")")
            } else if v4.is_private() {
                Some("private (RFC 1918)")
            } else if v4.is_link_local() {
                Some("link-local (cloud metadata lives here)")
            } else if o[0] == 100 && (o[1] & 0xc0) == 64 {
                Some("shared (CGNAT, 100.64.0.0/10)")
            } else if v4.is_broadcast() {
                Some("broadcast")
            } else if v4.is_multicast() {
                Some("multicast")
            } else if o[0] >= 240 {
                Some("reserved")
            } else {
                None
            }
        }
        IpAddr::V6(v6) => {
            let seg0 = v6.segments()[0];
            if v6.is_loopback() {
                Some("loopback")
            } else if v6.is_unspecified() {
                Some("unspecified")
            } else if v6.is_unique_local() {
                Some("unique local (fc00::/7)")
            } else if v6.is_unicast_link_local() || (seg0 & 0xffc0) == 0xfec0 {
                Some("link-local")
            } else if v6.is_multicast() {
                Some("multicast")
            } else if let Some(v4) = embedded_v4(v6) {
                private_class(IpAddr::V4(v4))
            } else {
                None
            }
        }
    }
}

/// The IPv4 address inside NAT64 (`64:ff9b::/96`) and 6to4 (`2002::/16`) forms, which
/// reach that IPv4 host through a gateway.
fn embedded_v4(v6: std::net::Ipv6Addr) -> Option<std::net::Ipv4Addr> {
    let s = v6.segments();
    let o = v6.octets();
    if s[0] == 0x64 && s[1] == 0xff9b && s[2..6] == [0, 0, 0, 0] {
        return Some(std::net::Ipv4Addr::new(o[12], o[13], o[14], o[15]));
    }
    if s[0] == 0x2002 {
        return Some(std::net::Ipv4Addr::new(o[2], o[3], o[4], o[5]));
    }
    None
}

/// What decides where keypool may connect: the operator's exceptions, the provider hosts
/// of the config in force, and keypool's own address.
#[derive(Debug, Default)]
pub struct Egress {
    allow: Vec<Allow>,
    /// Provider host names; a reload replaces them.
    named: RwLock<Arc<HashSet<String>>>,
    /// keypool's listening address, once it is bound.
    own: RwLock<Option<SocketAddr>>,
    /// This machine's interface addresses: reaching one of them on keypool's port while
    /// keypool listens on every interface is reaching keypool.
    local: RwLock<Vec<IpAddr>>,
}

impl Egress {
    /// Entries were checked by config validation; one that does not parse is skipped.
    pub fn new(allow_private: &[String]) -> Egress {
        Egress {
            allow: allow_private.iter().filter_map(|e| allow(e).ok()).collect(),
            ..Egress::default()
        }
    }

    /// keypool's own address once bound, and the provider hosts of the config in force.
    pub fn set<'a>(&self, own: SocketAddr, hosts: impl IntoIterator<Item = &'a str>) {
        self.set_own(own);
        self.set_named_hosts(hosts);
    }

    /// The provider hosts, replaced on reload.
    pub fn set_named_hosts<'a>(&self, hosts: impl IntoIterator<Item = &'a str>) {
        let set = hosts.into_iter().map(|h| h.to_ascii_lowercase()).collect();
        *self.named.write() = Arc::new(set);
    }

    pub fn set_own(&self, addr: SocketAddr) {
        *self.own.write() = Some(addr);
        if addr.ip().is_unspecified() {
            *self.local.write() = local_addresses();
        }
    }

    /// Whether the operator named `host` (a provider host or an allow_private name), so
    /// whatever it resolves to is reached.
    fn names(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        self.named.read().contains(&host)
            || self
                .allow
                .iter()
                .any(|a| matches!(a, Allow::Host(h) if *h == host))
    }

    fn allows_ip(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.allow
            .iter()
            .any(|a| matches!(a, Allow::Net(n) if n.contains(&ip)))
    }

    fn is_own(&self, addr: SocketAddr) -> bool {
        let Some(own) = *self.own.read() else {
            return false;
        };
        let ip = addr.ip().to_canonical();
        if addr.port() != own.port() {
            return false;
        }
        let own_ip = own.ip().to_canonical();
        if own_ip.is_unspecified() {
            ip.is_loopback() || ip.is_unspecified() || self.local.read().contains(&ip)
        } else {
            ip == own_ip || (ip.is_unspecified() && own_ip.is_loopback())
        }
    }

    /// The resolved addresses keypool may connect to for `target`. `operator` is true when
    /// a `connect_to` route chose the address. The own-address rule has no exception.
    pub fn filter(
        &self,
        target: &str,
        requested_host: &str,
        operator: bool,
        resolved: Vec<SocketAddr>,
    ) -> Result<Vec<SocketAddr>, Refused> {
        if let Some(addr) = resolved.iter().copied().find(|a| self.is_own(*a)) {
            return Err(Refused::Loop {
                target: target.to_string(),
                addr,
            });
        }
        if operator || self.names(requested_host) {
            return Ok(resolved);
        }
        let mut refused = None;
        let ok: Vec<SocketAddr> = resolved
            .into_iter()
            .filter(|a| match private_class(a.ip()) {
                Some(class) if !self.allows_ip(a.ip()) => {
                    refused.get_or_insert((a.ip(), class));
                    false
                }
                _ => true,
            })
            .collect();
        match (ok.is_empty(), refused) {
            (true, Some((ip, class))) => Err(Refused::Private {
                target: target.to_string(),
                ip,
                class,
                suggest: if requested_host.parse::<IpAddr>().is_ok() {
                    ip.to_canonical().to_string()
                } else {
                    requested_host.to_ascii_lowercase()
                },
            }),
            _ => Ok(ok),
        }
    }
}

/// This machine's interface addresses (getifaddrs); empty where it is unavailable.
pub fn local_addresses() -> Vec<IpAddr> {
    let mut out = Vec::new();
    #[cfg(unix)]
    // SAFETY: getifaddrs fills a list that we only read and then free with freeifaddrs;
    // each sockaddr is read as the family it declares.
    unsafe {
        let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
        if libc::getifaddrs(&mut head) != 0 {
            return out;
        }
        let mut cur = head;
        // Bounded: a machine with more interface addresses than this is not the norm, and
        // the list is only a loop guard.
        let mut budget = 4096;
        while !cur.is_null() && budget > 0 {
            budget -= 1;
            let sa = (*cur).ifa_addr;
            if !sa.is_null() {
                match i32::from((*sa).sa_family) {
                    libc::AF_INET => {
                        let sin = &*(sa as *const libc::sockaddr_in);
                        out.push(IpAddr::from(
                            u32::from_be(sin.sin_addr.s_addr).to_be_bytes(),
                        ));
                    }
                    libc::AF_INET6 => {
                        let sin6 = &*(sa as *const libc::sockaddr_in6);
                        out.push(IpAddr::from(sin6.sin6_addr.s6_addr));
                    }
                    _ => {}
                }
            }
            cur = (*cur).ifa_next;
        }
        libc::freeifaddrs(head);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sa(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn classes_cover_every_non_public_range() {
        for ip in [
            "127.0.0.1",
            "127.8.9.10",
            "0.0.0.0",
            "0.1.2.3",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "100.127.255.254",
            "255.255.255.255",
            "224.0.0.1",
            "240.0.0.1",
            "::1",
            "::",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::7f00:1",
            "2002:7f00:1::",
        ] {
            let ip: IpAddr = ip.parse().unwrap();
            assert!(
                private_class(ip).is_some(),
                "{ip} should not count as public"
            );
        }
        for ip in [
            "1.1.1.1",
            "100.128.0.1",
            "8.8.8.8",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            let ip: IpAddr = ip.parse().unwrap();
            assert_eq!(private_class(ip), None, "{ip} is public");
        }
    }

    #[test]
    fn exceptions_and_loops() {
        let e = Egress::new(&["10.9.0.0/16".into(), "Vllm.Lan".into(), "::1".into()]);
        e.set(sa("127.0.0.1:8787"), ["api.openai.com"]);
        let local = vec![sa("127.0.0.1:5432")];
        assert!(matches!(
            e.filter("x:5432", "x", false, local.clone()),
            Err(Refused::Private {
                class: "loopback",
                ..
            })
        ));
        assert!(e.filter("x", "vllm.lan.", false, local.clone()).is_ok());
        assert!(e
            .filter("x", "api.openai.com", false, local.clone())
            .is_ok());
        assert!(e.filter("x", "x", true, local).is_ok());
        assert!(e.filter("x", "x", false, vec![sa("10.9.3.4:80")]).is_ok());
        assert!(e.filter("x", "x", false, vec![sa("10.8.3.4:80")]).is_err());
        assert!(e.filter("x", "x", false, vec![sa("[::1]:80")]).is_ok());
        // A name answering one private and one public address: only the public one is kept.
        let mixed = vec![sa("192.168.0.1:443"), sa("1.1.1.1:443")];
        assert_eq!(
            e.filter("x", "x", false, mixed).unwrap(),
            vec![sa("1.1.1.1:443")]
        );
        // keypool itself: refused even for the operator's own routes.
        for own in ["127.0.0.1:8787", "[::ffff:127.0.0.1]:8787", "0.0.0.0:8787"] {
            assert!(
                matches!(
                    e.filter("x", "x", true, vec![sa(own)]),
                    Err(Refused::Loop { .. })
                ),
                "{own}"
            );
        }
        let any = Egress::new(&[]);
        any.set_own(sa("0.0.0.0:9000"));
        assert!(matches!(
            any.filter("x", "x", true, vec![sa("[::1]:9000")]),
            Err(Refused::Loop { .. })
        ));
    }

    #[test]
    fn allow_entries_parse() {
        assert!(parse_allow("10.0.0.0/8").is_ok());
        assert!(parse_allow("[fd00::]/8").is_ok() || parse_allow("fd00::/8").is_ok());
        assert!(parse_allow("192.168.1.5").is_ok());
        assert!(parse_allow("gpu-box.lan").is_ok());
        for bad in ["", "http://x", "a b", "10.0.0.0/99", "x:80"] {
            assert!(parse_allow(bad).is_err(), "{bad}");
        }
    }
}
