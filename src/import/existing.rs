//! The accounts already configured, and whether a found credential is one of them.
//! Same means same provider and: the same linked file, the same API key (as written, or
//! the same value behind a literal and an `env:` reference), or the same login (account
//! id, else email; or the same refresh or access token).

use super::Machine;
use crate::config::edit::Snapshot;
use crate::oauth::store::Entry;
use crate::oauth::{Identity, Tokens};
use crate::secret::SecretRef;
use secrecy::{ExposeSecret, SecretString};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// One configured account, with its `credentials.json` entry when there is one.
#[derive(Debug, Clone)]
pub struct Known {
    pub name: String,
    pub provider: String,
    pub kind: Kind,
    pub entry: Option<Entry>,
}

#[derive(Debug, Clone)]
pub enum Kind {
    ApiKey(SecretString),
    Stored,
    /// The linked file, with `~/` expanded.
    Linked(PathBuf),
    /// A block this version does not understand; it only takes up its name.
    Other,
}

#[derive(Debug, Default)]
pub struct Existing {
    accounts: Vec<Known>,
}

impl Existing {
    pub fn new(config: Snapshot, mut store: BTreeMap<String, Entry>, m: &Machine) -> Existing {
        let accounts = config
            .accounts
            .into_iter()
            .map(|a| {
                let kind = match (a.api_key, a.oauth.as_deref()) {
                    (Some(k), _) => Kind::ApiKey(k),
                    (None, Some("stored")) => Kind::Stored,
                    (None, Some(o)) => match o.strip_prefix("link:") {
                        Some(p) => Kind::Linked(m.expand(p)),
                        None => Kind::Other,
                    },
                    (None, None) => Kind::Other,
                };
                Known {
                    entry: store.remove(&a.name),
                    name: a.name,
                    provider: a.provider,
                    kind,
                }
            })
            .collect();
        Existing { accounts }
    }

    pub fn add(&mut self, k: Known) {
        self.accounts.push(k);
    }

    pub fn name_taken(&self, name: &str) -> bool {
        self.accounts.iter().any(|a| a.name == name)
    }

    /// The account holding the API key written as `raw`.
    pub fn find_key(&self, provider: &str, raw: &str, m: &Machine) -> Option<&Known> {
        let value = key_value(raw, m);
        self.of(provider).find(|a| match &a.kind {
            Kind::ApiKey(k) => {
                let k = k.expose_secret();
                k == raw || (value.is_some() && key_value(k, m) == value)
            }
            _ => false,
        })
    }

    /// The account holding the login `tokens`, found in `file` (if it came from one).
    pub fn find_login(
        &self,
        provider: &str,
        tokens: &Tokens,
        file: Option<&Path>,
    ) -> Option<&Known> {
        self.of(provider).find(|a| {
            let known = a.entry.as_ref().map(|e| &e.identity);
            if let (Kind::Linked(p), Some(f)) = (&a.kind, file) {
                // One file can hold several logins (Copilot's apps.json): the path is the
                // same account only if what is known of the two does not disagree.
                if same_file(p, f) && !known.is_some_and(|k| differ(k, &tokens.identity)) {
                    return true;
                }
            }
            let Some(entry) = &a.entry else {
                return false;
            };
            if same_person(&entry.identity, &tokens.identity) {
                return true;
            }
            let stored = entry.tokens();
            same_secret(&stored.refresh, &tokens.refresh)
                || same_secret(&stored.access, &tokens.access)
        })
    }

    fn of<'a>(&'a self, provider: &str) -> impl Iterator<Item = &'a Known> {
        let provider = provider.to_string();
        self.accounts.iter().filter(move |a| a.provider == provider)
    }
}

/// The key behind a literal or an `env:` reference; `None` for a command, which an
/// import does not run.
fn key_value<'a>(raw: &'a str, m: &'a Machine) -> Option<&'a str> {
    match SecretRef::parse(raw) {
        SecretRef::Literal => Some(raw),
        SecretRef::Env(var) => m.var(&var),
        SecretRef::Command(_) => None,
    }
}

/// Same login by what the provider says about it: the account id when both know one (a
/// ChatGPT email can own several workspaces), else the email, on the same host.
fn same_person(a: &Identity, b: &Identity) -> bool {
    if a.domain != b.domain {
        return false;
    }
    match (&a.account_id, &b.account_id) {
        (Some(x), Some(y)) => x == y,
        _ => matches!((&a.email, &b.email), (Some(x), Some(y)) if x.eq_ignore_ascii_case(y)),
    }
}

/// Whether two identities are known to belong to different logins.
fn differ(a: &Identity, b: &Identity) -> bool {
    fn both(x: &Option<String>, y: &Option<String>) -> bool {
        matches!((x, y), (Some(x), Some(y)) if !x.eq_ignore_ascii_case(y))
    }
    both(&a.account_id, &b.account_id) || both(&a.email, &b.email) || both(&a.domain, &b.domain)
}

fn same_secret(a: &Option<SecretString>, b: &Option<SecretString>) -> bool {
    matches!((a, b), (Some(x), Some(y)) if x.expose_secret() == y.expose_secret())
}

fn same_file(a: &Path, b: &Path) -> bool {
    let real = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    a == b || real(a) == real(b)
}

/// Whether `found` is a fresher copy of the login stored as `stored`: a later expiry, or
/// (for logins that do not expire, like Copilot's GitHub token) a different token.
pub fn newer(found: &Tokens, stored: Option<&Entry>) -> bool {
    let Some(stored) = stored.filter(|e| e.has_tokens()) else {
        return true;
    };
    let old = stored.tokens();
    match (found.expires_at, old.expires_at) {
        (Some(f), Some(o)) => f > o,
        (None, None) => match found.refresh {
            Some(_) => !same_secret(&found.refresh, &old.refresh),
            // A setup token: an access token and nothing else.
            None => found.access.is_some() && !same_secret(&found.access, &old.access),
        },
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::edit::ExistingAccount;
    use std::time::{Duration, UNIX_EPOCH};

    fn tokens(refresh: &str, exp_ms: Option<u64>, identity: Identity) -> Tokens {
        Tokens {
            access: Some(format!("a-{refresh}").into()),
            refresh: Some(refresh.to_string().into()),
            expires_at: exp_ms.map(|ms| UNIX_EPOCH + Duration::from_millis(ms)),
            id_token: None,
            identity,
        }
    }

    fn account(
        name: &str,
        provider: &str,
        api_key: Option<&str>,
        oauth: Option<&str>,
    ) -> ExistingAccount {
        ExistingAccount {
            name: name.into(),
            provider: provider.into(),
            api_key: api_key.map(|k| k.to_string().into()),
            oauth: oauth.map(str::to_string),
        }
    }

    #[test]
    fn keys_match_by_value_or_reference() {
        let m = Machine::new("/h", [("OPENAI_API_KEY", "sk-1")]);
        let snap = Snapshot {
            accounts: vec![
                account("lit", "openai", Some("sk-1"), None),
                account("cmd", "groq", Some("!pass groq"), None),
            ],
            provider_ids: vec![],
        };
        let e = Existing::new(snap, BTreeMap::new(), &m);
        assert_eq!(
            e.find_key("openai", "env:OPENAI_API_KEY", &m).unwrap().name,
            "lit"
        );
        assert_eq!(e.find_key("groq", "!pass groq", &m).unwrap().name, "cmd");
        assert!(e.find_key("groq", "!pass other", &m).is_none());
        assert!(
            e.find_key("anthropic", "sk-1", &m).is_none(),
            "provider must match"
        );
    }

    #[test]
    fn logins_match_by_account_then_email_then_token() {
        let m = Machine::new("/h", Vec::<(String, String)>::new());
        let id = |acc: Option<&str>, email: Option<&str>| Identity {
            account_id: acc.map(str::to_string),
            email: email.map(str::to_string),
            ..Identity::default()
        };
        let stored = tokens("r1", Some(1000), id(Some("acc-1"), Some("me@x")));
        let mut store = BTreeMap::new();
        store.insert(
            "codex-pro".to_string(),
            Entry::new("openai-codex", Some(&stored), &stored.identity),
        );
        let snap = Snapshot {
            accounts: vec![account("codex-pro", "openai-codex", None, Some("stored"))],
            provider_ids: vec![],
        };
        let e = Existing::new(snap, store, &m);
        let same_acc = tokens("r2", Some(2000), id(Some("acc-1"), None));
        assert!(e.find_login("openai-codex", &same_acc, None).is_some());
        let other_workspace = tokens("r3", None, id(Some("acc-2"), Some("me@x")));
        assert!(
            e.find_login("openai-codex", &other_workspace, None)
                .is_none(),
            "same email, another workspace"
        );
        let same_refresh = tokens("r1", None, Identity::default());
        assert!(e.find_login("openai-codex", &same_refresh, None).is_some());

        let entry = Entry::new("x", Some(&stored), &stored.identity);
        assert!(newer(&same_acc, Some(&entry)));
        assert!(!newer(&stored, Some(&entry)));
        assert!(!newer(
            &tokens("r0", Some(500), Identity::default()),
            Some(&entry)
        ));
    }

    #[test]
    fn a_linked_file_matches_unless_the_identities_differ() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("apps.json");
        std::fs::write(&f, "{}").unwrap();
        let m = Machine::new(dir.path(), Vec::<(String, String)>::new());
        let mut store = BTreeMap::new();
        let me = Identity {
            email: Some("me".into()),
            ..Identity::default()
        };
        store.insert("c".to_string(), Entry::new("github-copilot", None, &me));
        let snap = Snapshot {
            accounts: vec![account(
                "c",
                "github-copilot",
                None,
                Some("link:~/apps.json"),
            )],
            provider_ids: vec![],
        };
        let e = Existing::new(snap, store, &m);
        assert!(e
            .find_login("github-copilot", &tokens("g1", None, me.clone()), Some(&f))
            .is_some());
        let other = Identity {
            email: Some("corp".into()),
            ..Identity::default()
        };
        assert!(e
            .find_login("github-copilot", &tokens("g2", None, other), Some(&f))
            .is_none());
    }
}
