//! Per-client pools: the user name of a client's proxy URL (`http://work@127.0.0.1:8787`)
//! selects which pools serve it, and an optional password makes that an access control.

use crate::config::Config;
use base64::Engine;
use http::HeaderMap;
use secrecy::{ExposeSecret, SecretString};
use std::collections::HashMap;
use std::sync::Arc;

#[derive(Debug, Default)]
pub struct Clients {
    by_name: HashMap<String, Client>,
}

#[derive(Debug)]
struct Client {
    pools: Vec<String>,
    /// `Err` when the configured password could not be resolved: the client is refused.
    password: Option<Result<SecretString, String>>,
}

impl Clients {
    pub fn build(config: &Config) -> Clients {
        let by_name = config
            .clients
            .iter()
            .map(|c| {
                let password = c.password.as_ref().map(|raw| {
                    crate::secret::resolve(raw.expose_secret()).inspect_err(|e| {
                        tracing::warn!(client = %c.name, "password cannot be resolved ({e}); this client is refused until it is fixed");
                    })
                });
                (
                    c.name.clone(),
                    Client {
                        pools: c.pools.clone(),
                        password,
                    },
                )
            })
            .collect();
        Clients { by_name }
    }

    /// The pools of client `name`.
    pub fn pools(&self, name: &str) -> Option<&[String]> {
        self.by_name.get(name).map(|c| c.pools.as_slice())
    }

    /// The client a request names in `Proxy-Authorization`, `None` when it names none.
    /// `Err` is the reason to answer 407.
    pub fn authenticate(&self, headers: &HeaderMap) -> Result<Option<Arc<str>>, String> {
        let Some(v) = headers.get(http::header::PROXY_AUTHORIZATION) else {
            return Ok(None);
        };
        let (user, pass) = basic(v.as_bytes()).ok_or(
            "keypool: Proxy-Authorization is not Basic user:password; put the client name in the proxy URL (http://NAME@127.0.0.1:8787)",
        )?;
        if user.is_empty() {
            return Ok(None);
        }
        let Some(c) = self.by_name.get(&user) else {
            let mut known: Vec<&str> = self.by_name.keys().map(String::as_str).collect();
            known.sort_unstable();
            return Err(if known.is_empty() {
                format!("keypool: the proxy URL names client '{user}', but the config has no [clients] section; remove '{user}@' from the proxy URL or add [clients.{user}]")
            } else {
                format!(
                    "keypool: unknown client '{user}'; the config names {}",
                    known.join(", ")
                )
            });
        };
        match &c.password {
            None => {}
            Some(Err(e)) => {
                return Err(format!(
                    "keypool: client '{user}' has a password keypool cannot resolve ({e})"
                ))
            }
            Some(Ok(want)) if !same(pass.as_bytes(), want.expose_secret().as_bytes()) => {
                return Err(format!(
                    "keypool: wrong or missing password for client '{user}' (http://{user}:PASSWORD@host:port)"
                ));
            }
            Some(Ok(_)) => {}
        }
        Ok(Some(Arc::from(user)))
    }
}

/// `Basic base64(user:pass)` → (user, pass), percent-decoding as clients encode the URL's
/// user info.
fn basic(v: &[u8]) -> Option<(String, String)> {
    let v = std::str::from_utf8(v).ok()?;
    let (scheme, b64) = v.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let raw = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (user, pass) = text.split_once(':').unwrap_or((&text, ""));
    Some((user.to_string(), pass.to_string()))
}

/// Compares without an early exit, so the time taken does not reveal a matching prefix.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth(user_pass: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        let v = base64::engine::general_purpose::STANDARD.encode(user_pass);
        h.insert(
            http::header::PROXY_AUTHORIZATION,
            format!("Basic {v}").parse().unwrap(),
        );
        h
    }

    #[test]
    fn names_and_passwords() {
        let c = Config::parse(
            "[[accounts]]\nname = \"a\"\nprovider = \"openai\"\napi_key = \"k\"\n\
             [clients.work]\npools = [\"openai\"]\n[clients.ci]\npools = []\npassword = \"s3cret\"\n",
            std::path::Path::new("c.toml"),
        )
        .unwrap();
        let clients = Clients::build(&c);
        assert_eq!(clients.authenticate(&HeaderMap::new()), Ok(None));
        assert_eq!(
            clients.authenticate(&auth("work:")).unwrap().as_deref(),
            Some("work")
        );
        assert_eq!(
            clients.authenticate(&auth("ci:s3cret")).unwrap().as_deref(),
            Some("ci")
        );
        let e = clients.authenticate(&auth("ci:nope")).unwrap_err();
        assert!(
            e.contains("wrong or missing password") && !e.contains("s3cret"),
            "{e}"
        );
        let e = clients.authenticate(&auth("home:")).unwrap_err();
        assert!(
            e.contains("unknown client 'home'") && e.contains("ci, work"),
            "{e}"
        );
        assert_eq!(clients.pools("work").unwrap(), ["openai"]);
    }
}
