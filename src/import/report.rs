//! The lines `keypool accounts import` prints. They name sources, providers, plans,
//! emails, files and variables; never a token or a key (a literal key is reported as
//! "copied", not shown).
//!
//! ```text
//! claude-code: anthropic oauth (max, me@example.com) from ~/.claude/.credentials.json: added as 'claude-max' (stored)
//! env: openai api key from $OPENAI_API_KEY: added as 'env-openai' (keypool reads $OPENAI_API_KEY when it starts)
//! pi: acme api key from ~/.pi/agent/auth.json: skipped: keypool has no provider 'acme' (…)
//! gemini-cli: nothing found (looked at ~/.gemini/oauth_creds.json)
//! ```

use super::apply::{How, Outcome};
use super::found::{Found, Origin, Scan, What};
use super::Machine;
use crate::secret::SecretRef;
use secrecy::ExposeSecret;
use std::path::Path;

/// One credential and what became of it.
pub fn found_line(f: &Found, outcome: &Outcome, m: &Machine) -> String {
    let kind = match &f.what {
        What::OAuth { .. } => "oauth",
        What::ApiKey(_) | What::PlacedKey { .. } => "api key",
        What::Iam { .. } => "iam credentials",
        What::Skipped { kind, .. } => kind,
    };
    let facts = match &f.what {
        What::OAuth { tokens, .. } => {
            let id = &tokens.identity;
            let known: Vec<&str> = [&id.plan, &id.email, &id.project, &id.domain]
                .into_iter()
                .flatten()
                .map(String::as_str)
                .collect();
            if known.is_empty() {
                String::new()
            } else {
                format!(" ({})", known.join(", "))
            }
        }
        _ => String::new(),
    };
    let from = match &f.origin {
        Origin::File(p) => m.display(p),
        Origin::Env(v) => format!("${v}"),
    };
    format!(
        "{}: {} {kind}{facts} from {from}: {}",
        f.source.name(),
        f.provider,
        outcome_text(f, outcome)
    )
}

fn outcome_text(f: &Found, outcome: &Outcome) -> String {
    match outcome {
        Outcome::Added { name, how } => {
            let how = match how {
                How::Stored => "stored".to_string(),
                How::Linked => "linked".to_string(),
                How::Key => match &f.what {
                    What::ApiKey(raw) | What::PlacedKey { key: raw, .. } => {
                        key_source(raw.expose_secret())
                    }
                    What::Iam {
                        access_key_id,
                        secret_access_key,
                        session_token,
                        ..
                    } => iam_source(access_key_id, secret_access_key, session_token.as_ref()),
                    _ => String::new(),
                },
            };
            format!("added as '{name}' ({how})")
        }
        Outcome::Already {
            name,
            updated: false,
        } => format!("already imported as '{name}'"),
        Outcome::Already {
            name,
            updated: true,
        } => format!("already imported as '{name}'; its stored tokens were older and are updated"),
        Outcome::Skipped(why) => format!("skipped: {why}"),
    }
}

/// Where keypool will get imported IAM credentials: the variables it reads, or that a
/// part is copied.
fn iam_source(
    id: &secrecy::SecretString,
    secret: &secrecy::SecretString,
    token: Option<&secrecy::SecretString>,
) -> String {
    let parts: Vec<String> = [Some(id), Some(secret), token]
        .into_iter()
        .flatten()
        .map(|raw| match SecretRef::parse(raw.expose_secret()) {
            SecretRef::Env(v) => format!("${v}"),
            SecretRef::Command(c) => format!("`{c}`"),
            SecretRef::Literal => "a copied value".into(),
        })
        .collect();
    format!("keypool reads {} when it starts", parts.join(", "))
}

/// Where keypool will get an imported key, without showing the key.
fn key_source(raw: &str) -> String {
    match SecretRef::parse(raw) {
        SecretRef::Env(v) => format!("keypool reads ${v} when it starts"),
        SecretRef::Command(c) => format!("keypool runs `{c}` when it starts"),
        SecretRef::Literal => "the key is copied into the config".into(),
    }
}

/// A file that is there but could not be used.
pub fn problem_line(scan: &Scan, path: &Path, problem: &str, m: &Machine) -> String {
    format!(
        "{}: {}: cannot import: {problem}",
        scan.source.name(),
        m.display(path)
    )
}

/// A source that found nothing.
pub fn nothing_line(scan: &Scan) -> String {
    let hint = scan
        .hint
        .as_ref()
        .map_or(String::new(), |h| format!("; {h}"));
    format!(
        "{}: nothing found (looked at {}){hint}",
        scan.source.name(),
        scan.looked.join(", ")
    )
}

/// The closing line: what changed and what to do next.
pub fn summary(found: bool, added: usize, updated: usize, config: &Path, m: &Machine) -> String {
    if !found {
        return "Found nothing to import.".into();
    }
    let plural = |n: usize| if n == 1 { "" } else { "s" };
    let mut parts = Vec::new();
    if added > 0 {
        parts.push(format!(
            "Added {added} account{} to {}.",
            plural(added),
            m.display(config)
        ));
    }
    if updated > 0 {
        parts.push(format!(
            "Updated the stored tokens of {updated} account{}.",
            plural(updated)
        ));
    }
    if parts.is_empty() {
        return "Nothing new to import.".into();
    }
    parts.push("Run `keypool reload` (or restart keypool) to use them.".into());
    parts.join(" ")
}
