//! GitHub Copilot's `apps.json` (`{"github.com:Iv1.b507a08c87ecfe98":{"user",
//! "oauth_token","githubAppId"}}`) and the older `hosts.json` (`{"github.com":{"user",
//! "oauth_token"}}`), under `~/.config/github-copilot/`. The key's host is github.com or
//! a GitHub Enterprise host.
//!
//! The `oauth_token` is the long-lived GitHub token, keypool's `refresh`. The short-lived
//! Copilot token keypool trades it for is never written here, so a linked Copilot file
//! is read-only to keypool. A file can hold several logins (one per host or app); a link
//! follows the first of [`logins`].

use super::{load, string, LinkError};
use crate::oauth::{Identity, Tokens};
use crate::providers::Flavor;
use secrecy::SecretString;
use serde_json::Value;
use std::path::Path;

/// One GitHub login found in a Copilot file.
#[derive(Debug, Clone)]
pub struct CopilotLogin {
    /// `github.com` or a GitHub Enterprise host.
    pub host: String,
    pub user: Option<String>,
    pub github_token: SecretString,
}

impl CopilotLogin {
    pub fn tokens(&self) -> Tokens {
        Tokens {
            access: None,
            refresh: Some(self.github_token.clone()),
            expires_at: None,
            id_token: None,
            identity: Identity {
                email: self.user.clone(),
                domain: (self.host != "github.com").then(|| self.host.clone()),
                ..Identity::default()
            },
        }
    }
}

pub(super) fn detect(v: &Value) -> bool {
    v.as_object()
        .is_some_and(|m| m.values().any(|e| e.get("oauth_token").is_some()))
}

/// Every login of the file: github.com first, then by key, so "the first" is stable.
pub fn logins(v: &Value) -> Vec<CopilotLogin> {
    let Some(m) = v.as_object() else {
        return Vec::new();
    };
    let mut found: Vec<(bool, &String, CopilotLogin)> = m
        .iter()
        .filter_map(|(key, e)| {
            let token = string(e, "oauth_token")?;
            // apps.json keys are `host:app id`; hosts.json keys are the host.
            let host = key.split(':').next().unwrap_or(key).to_ascii_lowercase();
            Some((
                host != "github.com",
                key,
                CopilotLogin {
                    host,
                    user: string(e, "user"),
                    github_token: token.into(),
                },
            ))
        })
        .collect();
    found.sort_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
    found.into_iter().map(|(_, _, l)| l).collect()
}

/// The logins of the Copilot file at `path`.
pub fn logins_in(path: &Path) -> Result<Vec<CopilotLogin>, LinkError> {
    let (v, _) = load(path, Flavor::Copilot)?;
    Ok(logins(&v))
}

pub(super) fn read(v: &Value) -> Result<Tokens, String> {
    logins(v)
        .first()
        .map(CopilotLogin::tokens)
        .ok_or_else(|| "no entry has an oauth_token".to_string())
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::super::Linked;
    use super::*;

    const APPS: &str = r#"{
  "ghe.example.com:Iv1.b507a08c87ecfe98": {"user": "corp-me", "oauth_token": "ghu_corp", "githubAppId": "Iv1.b507a08c87ecfe98"},
  "github.com:Iv1.b507a08c87ecfe98": {"user": "me", "oauth_token": "ghu_home", "githubAppId": "Iv1.b507a08c87ecfe98"}
}"#;

    #[test]
    fn reads_logins_github_com_first() {
        let (_d, p) = file("apps.json", APPS);
        let all = logins_in(&p).unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(all[1].host, "ghe.example.com");
        assert_eq!(
            all[1].tokens().identity.domain.as_deref(),
            Some("ghe.example.com")
        );
        let t = Linked::open(&p, Flavor::Copilot).unwrap().read().unwrap();
        assert_eq!(reveal(&t.refresh), Some("ghu_home"));
        assert!(t.access.is_none() && t.expires_at.is_none());
        assert_eq!(t.identity.email.as_deref(), Some("me"));
        assert_eq!(t.identity.domain, None);

        let (_d, p) = file(
            "hosts.json",
            r#"{"github.com":{"user":"me","oauth_token":"gho_h"}}"#,
        );
        let t = Linked::open(&p, Flavor::Copilot).unwrap().read().unwrap();
        assert_eq!(reveal(&t.refresh), Some("gho_h"));
    }

    #[test]
    fn write_back_leaves_the_file_alone() {
        let (_d, p) = file("apps.json", APPS);
        let before = std::fs::read(&p).unwrap();
        let l = Linked::open(&p, Flavor::Copilot).unwrap();
        l.write_back(&fresh(Identity::default())).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), before);
        assert_eq!(mode(&p), 0o600);
    }

    #[test]
    fn an_empty_token_is_a_clear_error() {
        let (_d, p) = file(
            "hosts.json",
            r#"{"github.com":{"user":"secret-user-x","oauth_token":""}}"#,
        );
        let e = Linked::open(&p, Flavor::Copilot)
            .unwrap()
            .read()
            .unwrap_err();
        assert_clear_error(&e, &p, &["secret-user-x"]);
        assert!(e.0.contains("no entry has an oauth_token"), "{e}");
    }
}
