//! Per-client pools: the user name of a client's proxy URL (`http://work@127.0.0.1:8787`)
//! selects which pools serve it, and an optional password makes that an access control:
//! a pool named by a client with a password serves only requests that gave it.

use crate::config::Config;
use base64::Engine;
use http::HeaderMap;
use secrecy::{ExposeSecret, SecretString};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

#[derive(Debug, Default)]
pub struct Clients {
    by_name: HashMap<String, Client>,
    /// Pools named by a client with a password.
    guarded: HashSet<String>,
}

/// The longest client name a refusal repeats back.
const ECHO_MAX: usize = 64;

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
                        tracing::warn!(client = %c.name, "password cannot be resolved ({e}); this \
                            client is refused until it is fixed");
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
        let guarded = config
            .clients
            .iter()
            .filter(|c| c.password.is_some())
            .flat_map(|c| c.pools.iter().cloned())
            .collect();
        Clients { by_name, guarded }
    }

    /// The pools of client `name`.
    pub fn pools(&self, name: &str) -> Option<&[String]> {
        self.by_name.get(name).map(|c| c.pools.as_slice())
    }

    /// Whether a client with a password names `pool`, so only such clients get it.
    pub fn guards(&self, pool: &str) -> bool {
        self.guarded.contains(pool)
    }

    /// Whether client `name` has a password (so naming it proves something).
    pub fn has_password(&self, name: &str) -> bool {
        self.by_name.get(name).is_some_and(|c| c.password.is_some())
    }

    /// Whether any client has a password.
    pub fn any_password(&self) -> bool {
        self.by_name.values().any(|c| c.password.is_some())
    }

    /// Whether a request from `client` may be served by `pool`: an unguarded pool serves
    /// anyone; a guarded one only a client that names it (its password was checked).
    pub fn may_use(&self, pool: &str, client: Option<&str>) -> bool {
        !self.guards(pool)
            || client
                .and_then(|c| self.by_name.get(c))
                .is_some_and(|c| c.password.is_some() && c.pools.iter().any(|p| p == pool))
    }

    /// The client named by `Authorization: Basic` or `Proxy-Authorization: Basic`, with
    /// its password checked: the admin endpoints accept either header, so the CLI and a
    /// browser (which only sends `Authorization` to an origin) both get in. Only a client
    /// with a password counts.
    pub fn admin(&self, headers: &HeaderMap) -> bool {
        [
            http::header::AUTHORIZATION,
            http::header::PROXY_AUTHORIZATION,
        ]
        .iter()
        .any(|h| {
            let mut one = HeaderMap::new();
            let mut values = headers.get_all(h).iter();
            let (Some(v), None) = (values.next(), values.next()) else {
                return false;
            };
            one.insert(http::header::PROXY_AUTHORIZATION, v.clone());
            matches!(self.authenticate(&one), Ok(Some(c)) if self.has_password(&c))
        })
    }

    /// The client a request names in `Proxy-Authorization`, `None` when it names none.
    /// `Err` is the reason to answer 407.
    pub fn authenticate(&self, headers: &HeaderMap) -> Result<Option<Arc<str>>, String> {
        let mut all = headers.get_all(http::header::PROXY_AUTHORIZATION).iter();
        let Some(v) = all.next() else {
            return Ok(None);
        };
        if all.next().is_some() {
            // Which one counts would depend on the parser; a real client sends one.
            return Err(
                "keypool: the request has more than one Proxy-Authorization header; fix: \
                send one (the proxy URL's user:password)"
                    .into(),
            );
        }
        let (user, pass) = basic(v.as_bytes()).ok_or(
            "keypool: Proxy-Authorization is not Basic user:password; fix: put the client name in \
            the proxy URL (http://NAME@127.0.0.1:8787)",
        )?;
        if user.is_empty() {
            return Ok(None);
        }
        let Some(c) = self.by_name.get(&user) else {
            let user = crate::echo::printable(&user, ECHO_MAX);
            let mut known: Vec<&str> = self.by_name.keys().map(String::as_str).collect();
            known.sort_unstable();
            return Err(if known.is_empty() {
                format!(
                    "keypool: the proxy URL names client '{user}', but the config has no \
                    [clients] section; fix: remove '{user}@' from the proxy URL or add \
                    [clients.{user}]"
                )
            } else {
                format!(
                    "keypool: unknown client '{user}'; the config names {}; fix: use one of them \
                    in the proxy URL (http://NAME@host:port)",
                    known.join(", ")
                )
            });
        };
        match &c.password {
            None => {}
            Some(Err(e)) => {
                return Err(format!(
                    "keypool: client '{user}' has a password keypool cannot resolve ({e}); fix: \
                    correct its password line in config.toml, then `keypool reload`"
                ))
            }
            Some(Ok(want)) if !same(pass.as_bytes(), want.expose_secret().as_bytes()) => {
                return Err(format!(
                    "keypool: wrong or missing password for client '{user}'; fix: put it in the \
                    proxy URL (http://{user}:PASSWORD@host:port)"
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

/// Compares digests without an early exit, so the time taken reveals neither a matching
/// prefix nor the password's length.
fn same(a: &[u8], b: &[u8]) -> bool {
    use sha2::Digest;
    let (a, b) = (sha2::Sha256::digest(a), sha2::Sha256::digest(b));
    a.iter()
        .zip(b.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        == 0
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
