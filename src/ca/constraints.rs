//! What keypool's CA may sign. The CA is issued with X.509 name constraints naming the
//! provider hosts it intercepts, so neither its key nor a system-wide install of it can
//! vouch for any other site; keypool applies the same rule before minting, so it never
//! hands out a leaf that a client would reject.

use crate::providers::Registry;
use rcgen::{CidrSubnet, GeneralSubtree, NameConstraints};
use std::net::IpAddr;
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::X509Certificate;

/// The names a CA certificate lets its leaves carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// No NameConstraints extension: a CA made before keypool constrained its CA. It can
    /// sign for any site, which is why keypool warns about it at every start.
    Unconstrained,
    Limited(Limits),
}

/// RFC 5280 name constraints, restricted to the two name types a TLS server leaf uses.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Limits {
    permitted_dns: Vec<String>,
    excluded_dns: Vec<String>,
    permitted_ip: Vec<Subnet>,
    excluded_ip: Vec<Subnet>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Subnet {
    addr: Vec<u8>,
    mask: Vec<u8>,
}

impl Subnet {
    fn of(addr: IpAddr, prefix: u8) -> Subnet {
        match CidrSubnet::from_addr_prefix(addr, prefix) {
            CidrSubnet::V4(a, m) => Subnet {
                addr: a.to_vec(),
                mask: m.to_vec(),
            },
            CidrSubnet::V6(a, m) => Subnet {
                addr: a.to_vec(),
                mask: m.to_vec(),
            },
        }
    }

    /// The encoding in a certificate: address then mask, 8 or 32 bytes.
    fn from_der(raw: &[u8]) -> Option<Subnet> {
        (raw.len() == 8 || raw.len() == 32).then(|| {
            let (addr, mask) = raw.split_at(raw.len() / 2);
            Subnet {
                addr: addr.to_vec(),
                mask: mask.to_vec(),
            }
        })
    }

    fn to_rcgen(&self) -> Option<CidrSubnet> {
        Some(match (self.addr.len(), self.mask.len()) {
            (4, 4) => CidrSubnet::V4(
                self.addr.clone().try_into().ok()?,
                self.mask.clone().try_into().ok()?,
            ),
            (16, 16) => CidrSubnet::V6(
                self.addr.clone().try_into().ok()?,
                self.mask.clone().try_into().ok()?,
            ),
            _ => return None,
        })
    }

    fn contains(&self, ip: &IpAddr) -> bool {
        let octets = match ip {
            IpAddr::V4(v4) => v4.octets().to_vec(),
            IpAddr::V6(v6) => v6.octets().to_vec(),
        };
        octets.len() == self.addr.len()
            && octets
                .iter()
                .zip(&self.addr)
                .zip(&self.mask)
                .all(|((o, a), m)| o & m == a & m)
    }
}

/// Every host keypool would intercept with this provider table: the built-ins and the
/// config's `[[providers]]`, the placed providers' host families (a suffix as its
/// domain, whose subtree covers it; a template as each known host) and the hosts of
/// configured accounts' places; normalised, sorted, without duplicates.
pub fn hosts_of(registry: &Registry) -> Vec<String> {
    let mut hosts: Vec<String> = registry
        .ids()
        .filter_map(|id| registry.by_id(id))
        .flat_map(|p| p.hosts.iter().map(|h| normalise(h)))
        .chain(registry.constraint_names().iter().map(|h| normalise(h)))
        .filter(|h| !h.is_empty())
        .collect();
    hosts.sort();
    hosts.dedup();
    hosts
}

/// Host names compare case-insensitively, and `host.` is `host`.
pub fn normalise(host: &str) -> String {
    host.trim_matches(['[', ']'])
        .trim_end_matches('.')
        .to_ascii_lowercase()
}

impl Scope {
    /// The constraints a new CA gets: exactly these host names (a `dNSName` constraint
    /// also admits subdomains, which RFC 5280 gives no way to refuse, and is narrow
    /// enough), and no IP address unless a provider is addressed by one. Without the
    /// IP exclusion, DNS-only constraints would leave every IP address signable.
    pub fn for_hosts(hosts: &[String]) -> Scope {
        let mut limits = Limits::default();
        for h in hosts.iter().map(|h| normalise(h)) {
            match h.parse::<IpAddr>() {
                Ok(ip) => limits
                    .permitted_ip
                    .push(Subnet::of(ip, if ip.is_ipv4() { 32 } else { 128 })),
                Err(_) => limits.permitted_dns.push(h),
            }
        }
        if limits.permitted_dns.is_empty() {
            // No permitted DNS subtree would leave every DNS name open (RFC 5280):
            // permit only the reserved `.invalid` instead, which names nothing.
            limits.permitted_dns.push("invalid".into());
        }
        if limits.permitted_ip.is_empty() {
            limits.excluded_ip = vec![
                Subnet::of(IpAddr::from([0u8; 4]), 0),
                Subnet::of(IpAddr::from([0u8; 16]), 0),
            ];
        }
        Scope::Limited(limits)
    }

    /// rcgen writes the extension as critical, as RFC 5280 requires of a CA.
    pub fn to_rcgen(&self) -> Option<NameConstraints> {
        let Scope::Limited(l) = self else {
            return None;
        };
        let dns = |v: &[String]| {
            v.iter()
                .map(|d| GeneralSubtree::DnsName(d.clone()))
                .collect::<Vec<_>>()
        };
        let ip = |v: &[Subnet]| {
            v.iter()
                .filter_map(|s| Some(GeneralSubtree::IpAddress(s.to_rcgen()?)))
                .collect::<Vec<_>>()
        };
        let mut permitted_subtrees = dns(&l.permitted_dns);
        permitted_subtrees.extend(ip(&l.permitted_ip));
        let mut excluded_subtrees = dns(&l.excluded_dns);
        excluded_subtrees.extend(ip(&l.excluded_ip));
        Some(NameConstraints {
            permitted_subtrees,
            excluded_subtrees,
        })
    }

    /// What a CA certificate allows. Name types other than DNS and IP do not occur in
    /// a server leaf keypool mints, so they are left out.
    pub fn of_cert(cert: &X509Certificate<'_>) -> Result<Scope, String> {
        let Some(ext) = cert
            .name_constraints()
            .map_err(|e| format!("unreadable name constraints: {e}"))?
        else {
            return Ok(Scope::Unconstrained);
        };
        let mut limits = Limits::default();
        let nc = ext.value;
        for (subtrees, dns, ip) in [
            (
                &nc.permitted_subtrees,
                &mut limits.permitted_dns,
                &mut limits.permitted_ip,
            ),
            (
                &nc.excluded_subtrees,
                &mut limits.excluded_dns,
                &mut limits.excluded_ip,
            ),
        ] {
            for s in subtrees.iter().flatten() {
                match &s.base {
                    GeneralName::DNSName(d) => dns.push(d.to_ascii_lowercase()),
                    GeneralName::IPAddress(raw) => ip.push(
                        Subnet::from_der(raw).ok_or("an IP name constraint of a bad length")?,
                    ),
                    _ => {}
                }
            }
        }
        Ok(Scope::Limited(limits))
    }

    pub fn is_constrained(&self) -> bool {
        matches!(self, Scope::Limited(_))
    }

    /// Whether a leaf for `host` would pass the CA's constraints, by RFC 5280's rules:
    /// an excluded match refuses; with any permitted subtree of the name's type, one
    /// must match.
    pub fn permits(&self, host: &str) -> bool {
        let Scope::Limited(l) = self else {
            return true;
        };
        let host = normalise(host);
        match host.parse::<IpAddr>() {
            Ok(ip) => {
                !l.excluded_ip.iter().any(|s| s.contains(&ip))
                    && (l.permitted_ip.is_empty() || l.permitted_ip.iter().any(|s| s.contains(&ip)))
            }
            Err(_) => {
                !l.excluded_dns.iter().any(|c| dns_within(&host, c))
                    && (l.permitted_dns.is_empty()
                        || l.permitted_dns.iter().any(|c| dns_within(&host, c)))
            }
        }
    }

    /// Of `hosts`, those this CA cannot sign for.
    pub fn uncovered<'a>(&self, hosts: impl IntoIterator<Item = &'a str>) -> Vec<String> {
        let mut out: Vec<String> = hosts
            .into_iter()
            .filter(|h| !self.permits(h))
            .map(normalise)
            .collect();
        out.sort();
        out.dedup();
        out
    }

    /// The DNS names the CA may sign for (with their subdomains); empty when unconstrained.
    pub fn dns_names(&self) -> &[String] {
        match self {
            Scope::Limited(l) => &l.permitted_dns,
            Scope::Unconstrained => &[],
        }
    }
}

/// RFC 5280 §4.2.1.10: `example.com` admits itself and any name below it; `.example.com`
/// only names below it. Label boundaries count: `evilexample.com` is not within.
fn dns_within(host: &str, constraint: &str) -> bool {
    let c = constraint.trim_end_matches('.').to_ascii_lowercase();
    if c.is_empty() {
        return true;
    }
    if let Some(sub) = c.strip_prefix('.') {
        return host.len() > sub.len() && host.ends_with(&c);
    }
    host == c
        || (host.len() > c.len()
            && host.ends_with(&c)
            && host.as_bytes()[host.len() - c.len() - 1] == b'.')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope(hosts: &[&str]) -> Scope {
        Scope::for_hosts(&hosts.iter().map(|h| h.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn permits_the_hosts_and_their_subdomains_only() {
        let s = scope(&["api.openai.com", "LLM.Internal.Example."]);
        assert!(s.permits("api.openai.com"));
        assert!(s.permits("API.OpenAI.com."));
        assert!(s.permits("llm.internal.example"));
        assert!(s.permits("eu.api.openai.com"), "RFC 5280 admits subdomains");
        assert!(!s.permits("openai.com"), "never the parent domain");
        assert!(!s.permits("evilapi.openai.com"));
        assert!(!s.permits("api.openai.com.evil.example"));
        assert!(!s.permits("www.example.com"));
        assert!(
            !s.permits("127.0.0.1"),
            "no IP address without a provider on one"
        );
        assert!(!s.permits("::1"));
        assert!(Scope::Unconstrained.permits("www.example.com"));
        assert_eq!(
            s.uncovered(["api.openai.com", "new.example", "NEW.example."]),
            vec!["new.example"]
        );
    }

    /// A CA made for the provider table can sign for every host in it, the newest rows
    /// included (named here so that dropping one from the CA's hosts cannot pass).
    #[test]
    fn a_ca_for_the_table_covers_every_registry_host() {
        let registry = Registry::new(crate::providers::builtin());
        let hosts = hosts_of(&registry);
        let s = Scope::for_hosts(&hosts);
        assert_eq!(s.uncovered(registry.hosts()), Vec::<String>::new());
        for h in [
            "ai-gateway.vercel.sh",
            "opencode.ai",
            "api.minimax.io",
            "api.minimaxi.com",
            "api.xiaomimimo.com",
            "token-plan-cn.xiaomimimo.com",
            "token-plan-ams.xiaomimimo.com",
            "token-plan-sgp.xiaomimimo.com",
            "aiplatform.googleapis.com",
            "us-east5-aiplatform.googleapis.com",
            "api.kilo.ai",
            "kilocode.ai",
            "api.cline.bot",
        ] {
            assert!(hosts.iter().any(|x| x == h), "{h} is a registry host");
            assert!(s.permits(h), "{h}");
        }
        assert!(!s.permits("xiaomimimo.com"), "never the parent domain");
        assert!(!s.permits("vercel.sh"));
        assert!(!s.permits("app.kilo.ai"), "Kilo's app is not its API");
        assert!(!s.permits("app.cline.bot"), "nor Cline's");
    }

    /// The placed providers' families: a suffix is one subtree, a template each known
    /// host (never its parent domain, which would be all of AWS), and an account's place
    /// outside the known values adds its own hosts.
    #[test]
    fn a_ca_for_the_table_covers_the_host_families() {
        let mut registry = Registry::new(crate::providers::builtin());
        registry.note_place_hosts(vec![
            "bedrock-runtime.xx-new-9.amazonaws.com".into(),
            "me-central9-aiplatform.googleapis.com".into(),
        ]);
        let hosts = hosts_of(&registry);
        let s = Scope::for_hosts(&hosts);
        for h in [
            "res-a.openai.azure.com",
            "res-b.cognitiveservices.azure.com",
            "res-c.services.ai.azure.com",
            "bedrock-runtime.us-east-1.amazonaws.com",
            "bedrock-runtime.ap-southeast-7.amazonaws.com",
            "bedrock-runtime-fips.us-gov-west-1.amazonaws.com",
            "bedrock-mantle.eu-west-1.api.aws",
            "bedrock-runtime.xx-new-9.amazonaws.com",
            "gateway.ai.cloudflare.com",
            "aiplatform.googleapis.com",
            "us-east5-aiplatform.googleapis.com",
            "europe-west4-aiplatform.googleapis.com",
            "northamerica-northeast1-aiplatform.googleapis.com",
            "me-central9-aiplatform.googleapis.com",
        ] {
            assert!(s.permits(h), "{h}");
        }
        for h in [
            "azure.com",
            "openai.azure.com.evil.com",
            "amazonaws.com",
            "s3.us-east-1.amazonaws.com",
            "api.aws",
            "bedrock-runtime.yy-other-1.amazonaws.com",
            "ai.cloudflare.com",
            // Vertex's regional hosts are listed one by one: a subtree on googleapis.com
            // would let the CA sign for Google's token endpoint and every other API.
            "googleapis.com",
            "oauth2.googleapis.com",
            "storage.googleapis.com",
            "yy-other9-aiplatform.googleapis.com",
            "global-aiplatform.googleapis.com",
        ] {
            assert!(!s.permits(h), "{h}");
        }
        assert!(hosts.iter().any(|h| h == "openai.azure.com"));
        assert!(!hosts.iter().any(|h| h == "googleapis.com"));
    }

    #[test]
    fn no_hosts_permits_nothing() {
        let s = scope(&[]);
        assert!(!s.permits("www.example.com"));
        assert!(!s.permits("127.0.0.1"));
    }

    #[test]
    fn a_provider_on_an_ip_address_is_the_only_ip_permitted() {
        let s = scope(&["api.openai.com", "10.0.0.5", "[fd00::1]"]);
        assert!(s.permits("10.0.0.5"));
        assert!(s.permits("fd00::1"));
        assert!(!s.permits("10.0.0.6"));
        assert!(!s.permits("127.0.0.1"));
        assert!(s.permits("api.openai.com"));
    }

    #[test]
    fn constraints_survive_a_round_trip_through_a_certificate() {
        for s in [
            scope(&["api.openai.com", "chatgpt.com"]),
            scope(&["a.example", "10.1.2.3"]),
        ] {
            let key = rcgen::KeyPair::generate().unwrap();
            let mut params = rcgen::CertificateParams::default();
            params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Constrained(0));
            params.name_constraints = s.to_rcgen();
            let cert = params.self_signed(&key).unwrap();
            let (_, x509) = x509_parser::parse_x509_certificate(cert.der()).unwrap();
            let ext = x509
                .extensions()
                .iter()
                .find(|e| e.oid == x509_parser::oid_registry::OID_X509_EXT_NAME_CONSTRAINTS)
                .unwrap();
            assert!(
                ext.critical,
                "RFC 5280: a CA marks name constraints critical"
            );
            assert_eq!(Scope::of_cert(&x509).unwrap(), s);
        }
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::default()
            .self_signed(&key)
            .unwrap();
        let (_, x509) = x509_parser::parse_x509_certificate(cert.der()).unwrap();
        assert_eq!(Scope::of_cert(&x509).unwrap(), Scope::Unconstrained);
    }
}
