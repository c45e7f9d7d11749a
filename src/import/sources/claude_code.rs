//! Claude Code: `.credentials.json` in its config directory holds the tokens and the
//! plan; `.claude.json` beside it says whose they are (`oauthAccount`).

use super::named;
use crate::import::found::{Found, Linkable, Origin, Scan, What};
use crate::import::{Machine, Source};
use crate::oauth::link::{read_json, Linked};
use crate::oauth::Identity;
use crate::providers::Flavor;

pub(super) fn scan(m: &Machine) -> Scan {
    let mut scan = Scan::new(Source::ClaudeCode);
    let path = m.claude_credentials();
    scan.looked.push(m.display(&path));
    if cfg!(target_os = "macos") {
        scan.hint = Some(
            "on macOS Claude Code keeps its login in the keychain, which keypool does not \
             read; use `keypool login anthropic` instead"
                .into(),
        );
    }
    if !path.exists() {
        return scan;
    }
    match Linked::open(&path, Flavor::Anthropic).and_then(|l| l.read()) {
        Ok(mut tokens) => {
            tokens.identity.merge(&account(m));
            scan.found.push(Found {
                source: Source::ClaudeCode,
                provider: Flavor::Anthropic.provider_id().into(),
                default_name: named("claude", tokens.identity.plan.as_deref()),
                what: What::OAuth {
                    tokens,
                    link: Linkable::Yes,
                },
                origin: Origin::File(path),
            });
        }
        Err(e) => scan.problem(&path, &e),
    }
    scan
}

/// `oauthAccount.accountUuid` and `.emailAddress` of `.claude.json`; nothing when the
/// file is missing or unreadable (they are only labels).
fn account(m: &Machine) -> Identity {
    let Ok(v) = read_json(&m.claude_json(), Flavor::Anthropic) else {
        return Identity::default();
    };
    let field = |k: &str| {
        v["oauthAccount"][k]
            .as_str()
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    Identity {
        account_id: field("accountUuid"),
        email: field("emailAddress"),
        ..Identity::default()
    }
}
