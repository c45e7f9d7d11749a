//! The CLI's side of keypool's own endpoints (`keypool status`, `reload`, `accounts list`,
//! `run`'s probe): where to reach the running proxy, and the credentials and headers its
//! admin checks ask for (see `admin_access`).

use base64::Engine;
use secrecy::{ExposeSecret, SecretString};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::Path;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A running keypool as the CLI reaches it.
pub struct Admin {
    /// Where to connect: the listen address, with an every-interface address replaced by
    /// loopback.
    addr: SocketAddr,
    /// `Basic …` for the first client with a password, when the config has one.
    auth: Option<SecretString>,
}

impl Admin {
    /// keypool at `listen`, with the credentials the config file at `path` names. The file
    /// is read leniently: when it is the broken one being reloaded, its clients still count.
    pub fn new(listen: SocketAddr, path: &Path) -> Admin {
        let ip = match listen.ip() {
            IpAddr::V4(v4) if v4.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(v6) if v6.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
            ip => ip,
        };
        Admin {
            addr: SocketAddr::new(ip, listen.port()),
            auth: credentials(path),
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Whether a keypool answers there (its `GET /` JSON names itself).
    pub async fn is_keypool(&self) -> bool {
        self.index().await.is_ok()
    }

    /// `GET /` as JSON, if a keypool answers.
    pub async fn index(&self) -> Result<serde_json::Value, String> {
        let v = self.get("/").await?;
        match v.get("keypool") {
            Some(_) => Ok(v),
            None => Err(format!("what answers at {} is not keypool", self.addr)),
        }
    }

    pub async fn get(&self, path: &str) -> Result<serde_json::Value, String> {
        self.request("GET", path).await
    }

    pub async fn post(&self, path: &str) -> Result<serde_json::Value, String> {
        self.request("POST", path).await
    }

    /// The JSON answer; `Err` says why there is none, worded for the CLI user.
    async fn request(&self, method: &str, path: &str) -> Result<serde_json::Value, String> {
        let mut head = format!(
            concat!(
                "{} {} HTTP/1.0\r\nHost: {}\r\nAccept: application/json\r\n",
                "Content-Type: application/json\r\nContent-Length: 0\r\n"
            ),
            method, path, self.addr
        );
        if let Some(a) = &self.auth {
            head.push_str(&format!("Authorization: {}\r\n", a.expose_secret()));
        }
        head.push_str("\r\n");
        let head = SecretString::from(head);
        let not_running = || {
            format!(
                concat!(
                    "keypool is not running at {} (start it with `keypool serve`, ",
                    "or pass --config with its listen address)"
                ),
                self.addr
            )
        };
        let probe = async {
            let mut s = tokio::net::TcpStream::connect(self.addr)
                .await
                .map_err(|_| not_running())?;
            s.write_all(head.expose_secret().as_bytes())
                .await
                .map_err(|_| not_running())?;
            let mut buf = Vec::new();
            s.take(1 << 20)
                .read_to_end(&mut buf)
                .await
                .map_err(|_| not_running())?;
            let text = String::from_utf8_lossy(&buf);
            let (_, body) = text.split_once("\r\n\r\n").ok_or_else(not_running)?;
            serde_json::from_str::<serde_json::Value>(body).map_err(|_| {
                // keypool's refusals are one line of text that names the fix.
                let first = body.lines().next().unwrap_or("").trim();
                if first.starts_with("keypool:") {
                    crate::echo::printable(first, 400)
                } else {
                    not_running()
                }
            })
        };
        tokio::time::timeout(Duration::from_secs(2), probe)
            .await
            .unwrap_or_else(|_| Err(not_running()))
    }
}

/// `Basic base64(name:password)` of the first `[clients]` entry with a password that
/// resolves, as the running proxy's admin check accepts.
fn credentials(path: &Path) -> Option<SecretString> {
    let text = std::fs::read_to_string(path).ok()?;
    let table = text.parse::<toml::Table>().ok()?;
    let clients = table.get("clients")?.as_table()?;
    clients.iter().find_map(|(name, c)| {
        let raw = c.get("password")?.as_str()?;
        let password = crate::secret::resolve(raw).ok()?;
        let pair = format!("{name}:{}", password.expose_secret());
        let encoded = base64::engine::general_purpose::STANDARD.encode(pair);
        Some(SecretString::from(format!("Basic {encoded}")))
    })
}
