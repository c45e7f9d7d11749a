//! The `[upstream]` section: how keypool reaches providers (connect_to, extra roots,
//! timeouts, the private addresses clients may reach).

use serde::Deserialize;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamConfig {
    /// `HOST:PORT:CONNECT_HOST:CONNECT_PORT`, as curl's `--connect-to`.
    #[serde(default)]
    pub connect_to: Vec<String>,
    /// PEM files of extra roots trusted for upstream TLS, on top of the system's.
    #[serde(default)]
    pub extra_ca: Vec<PathBuf>,
    #[serde(default = "default_connect_timeout", with = "humantime_serde")]
    pub connect_timeout: Duration,
    /// Longest silence while waiting for upstream bytes. Not a deadline for the whole
    /// answer: a streamed answer may run for as long as it keeps sending.
    #[serde(default = "default_read_timeout", with = "humantime_serde")]
    pub read_timeout: Duration,
    /// Host names, IP addresses or CIDR blocks on a private network (or this machine)
    /// that clients may reach through keypool; every other non-public address is refused.
    #[serde(default)]
    pub allow_private: Vec<String>,
    /// HTTP/2 to providers that offer it (`auto`), or HTTP/1.1 only (`off`).
    #[serde(default)]
    pub http2: Http2,
    /// Request bodies at least this large go on HTTP/1.1 connections, each on its own,
    /// so that small requests never wait behind them in an HTTP/2 connection's window.
    #[serde(default = "default_large_body")]
    pub large_body: bytesize::ByteSize,
}

/// `[upstream] http2`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Http2 {
    #[default]
    Auto,
    Off,
}

impl Default for UpstreamConfig {
    fn default() -> Self {
        UpstreamConfig {
            connect_to: Vec::new(),
            extra_ca: Vec::new(),
            connect_timeout: default_connect_timeout(),
            read_timeout: default_read_timeout(),
            allow_private: Vec::new(),
            http2: Http2::default(),
            large_body: default_large_body(),
        }
    }
}

fn default_large_body() -> bytesize::ByteSize {
    bytesize::ByteSize::kib(256)
}

fn default_connect_timeout() -> Duration {
    Duration::from_secs(10)
}
fn default_read_timeout() -> Duration {
    Duration::from_secs(600)
}

/// curl's `--connect-to HOST:PORT:CONNECT_HOST:CONNECT_PORT`: connect elsewhere while SNI
/// and `Host` stay HOST. An empty HOST or PORT matches any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectTo {
    host: Option<String>,
    port: Option<u16>,
    to_host: String,
    to_port: u16,
}

impl ConnectTo {
    pub fn parse(s: &str) -> Result<ConnectTo, String> {
        let bad = || format!("connect_to '{s}' is not HOST:PORT:CONNECT_HOST:CONNECT_PORT");
        let parts = split_colons(s);
        let [host, port, to_host, to_port] = parts.as_slice() else {
            return Err(bad());
        };
        let port = match *port {
            "" => None,
            p => Some(p.parse().map_err(|_| bad())?),
        };
        if to_host.is_empty() {
            return Err(bad());
        }
        Ok(ConnectTo {
            host: (!host.is_empty()).then(|| host.trim_matches(['[', ']']).to_ascii_lowercase()),
            port,
            to_host: to_host.trim_matches(['[', ']']).to_string(),
            to_port: to_port.parse().map_err(|_| bad())?,
        })
    }

    /// Whether a connection to `host:port` goes elsewhere by this entry.
    pub fn matches(&self, host: &str, port: u16) -> bool {
        self.host
            .as_deref()
            .is_none_or(|h| h.eq_ignore_ascii_case(host))
            && self.port.is_none_or(|p| p == port)
    }

    /// Where a matching connection goes instead.
    pub fn to(&self) -> (&str, u16) {
        (&self.to_host, self.to_port)
    }
}

/// Splits on ':' outside `[...]`, so IPv6 literals stay whole.
fn split_colons(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut depth, mut start) = (0, 0);
    for (i, c) in s.char_indices() {
        match c {
            '[' => depth += 1,
            ']' => depth -= 1,
            ':' if depth == 0 => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_to_parses_like_curl() {
        let c = ConnectTo::parse("api.openai.com:443:127.0.0.1:9000").unwrap();
        assert!(c.matches("API.openai.com", 443));
        assert!(!c.matches("api.openai.com", 80));
        assert_eq!((c.to_host.as_str(), c.to_port), ("127.0.0.1", 9000));
        let any = ConnectTo::parse("::[::1]:9000").unwrap();
        assert!(any.matches("example.com", 1));
        assert_eq!(any.to_host, "::1");
        assert!(ConnectTo::parse("api.openai.com:443:127.0.0.1").is_err());
        assert!(ConnectTo::parse("a:b:c:1").is_err());
    }
}
