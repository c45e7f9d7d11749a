//! Where a proxied request goes: the CONNECT target, or the host of an absolute-form
//! URI. Below the listener, the tunnel and the forward pipeline, which all carry one.

use http::Uri;
use std::sync::Arc;

/// Where a request goes: the CONNECT target, or the host of an absolute-form URI.
#[derive(Debug, Clone)]
pub struct Target {
    pub scheme: &'static str,
    pub host: String,
    pub port: u16,
    /// The client the proxy URL named (`http://work@…`), selecting its pools.
    pub client: Option<Arc<str>>,
}

impl Target {
    pub fn from_absolute_uri(uri: &Uri) -> Option<Target> {
        let scheme = match uri.scheme_str()? {
            "http" => "http",
            "https" => "https",
            _ => return None,
        };
        let host = uri.host()?.trim_matches(['[', ']']).to_string();
        if !plausible_host(&host) {
            return None;
        }
        let port = uri
            .port_u16()
            .unwrap_or(if scheme == "https" { 443 } else { 80 });
        Some(Target {
            scheme,
            host,
            port,
            client: None,
        })
    }

    /// `host[:port]` as a Host header or URI names it: the port only when it is not the
    /// scheme's default, an IPv6 address in brackets.
    pub fn authority(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        let default = if self.scheme == "https" { 443 } else { 80 };
        if self.port == default {
            host
        } else {
            format!("{host}:{}", self.port)
        }
    }
}

/// A host name or IP address, nothing else: a target with other bytes in it is refused
/// before any lookup.
pub fn plausible_host(host: &str) -> bool {
    let host = host.trim_matches(['[', ']']);
    host.parse::<std::net::IpAddr>().is_ok()
        || (!host.is_empty()
            && host.len() <= 253
            && !host.starts_with(['.', '-'])
            && host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_')))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(scheme: &'static str, host: &str, port: u16) -> Target {
        Target {
            scheme,
            host: host.to_string(),
            port,
            client: None,
        }
    }

    #[test]
    fn an_absolute_uri_names_scheme_host_and_default_port() {
        let t = |u: &str| Target::from_absolute_uri(&u.parse().unwrap());
        let https = t("https://api.openai.com/v1/models").unwrap();
        assert_eq!(
            (https.scheme, https.host.as_str(), https.port),
            ("https", "api.openai.com", 443)
        );
        let http = t("http://localhost/v1").unwrap();
        assert_eq!(
            (http.scheme, http.host.as_str(), http.port),
            ("http", "localhost", 80)
        );
        let v6 = t("http://[::1]:8080/x").unwrap();
        assert_eq!((v6.host.as_str(), v6.port), ("::1", 8080));
        assert!(t("ftp://example.com/x").is_none(), "only http and https");
        assert!(
            t("http://-evil.com/x").is_none(),
            "an implausible host is refused"
        );
        assert!(
            t("http://a!b/x").is_none(),
            "a host with other bytes is refused"
        );
    }

    #[test]
    fn authority_omits_only_the_schemes_default_port() {
        assert_eq!(
            target("https", "api.openai.com", 443).authority(),
            "api.openai.com"
        );
        assert_eq!(
            target("https", "api.openai.com", 8443).authority(),
            "api.openai.com:8443"
        );
        assert_eq!(target("http", "localhost", 80).authority(), "localhost");
        assert_eq!(
            target("http", "localhost", 443).authority(),
            "localhost:443"
        );
        assert_eq!(target("https", "::1", 443).authority(), "[::1]");
        assert_eq!(target("http", "::1", 8080).authority(), "[::1]:8080");
    }

    #[test]
    fn a_plausible_host_is_a_name_or_an_address() {
        for ok in [
            "api.openai.com",
            "my_host-1.local",
            "127.0.0.1",
            "::1",
            "[::1]",
            &"a".repeat(253),
        ] {
            assert!(plausible_host(ok), "{ok}");
        }
        for bad in [
            "",
            ".evil",
            "-evil",
            "a b",
            "a/b",
            "a@b",
            "a:b",
            &"a".repeat(254),
        ] {
            assert!(!plausible_host(bad), "{bad}");
        }
    }
}
