//! `keypool accounts list`: every account with its kind, plan, token expiry, state and
//! where its credential lives. The state is the running proxy's when one answers, else
//! what the files tell.

use crate::config::{Config, CredentialConfig, OAuthSource};
use crate::home::Home;
use crate::oauth::link::Linked;
use crate::oauth::store::Store;
use crate::oauth::{Flavor, Tokens};
use secrecy::ExposeSecret;
use serde_json::Value;
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

pub fn list(
    home: &Home,
    config: &Config,
    path: &Path,
    check: bool,
    live: Option<&Value>,
) -> ExitCode {
    if config.accounts.is_empty() {
        println!(
            "No accounts in {}. Import the logins your tools already have with `keypool accounts import --all`, or add [[accounts]] blocks (see the README).",
            path.display()
        );
        return ExitCode::SUCCESS;
    }
    let store = Store::at(home.credentials_file());
    let stored = store.load().unwrap_or_else(|e| {
        eprintln!("warning: {e}");
        Default::default()
    });
    let now = SystemTime::now();
    let mut rows = vec![[
        "NAME", "PROVIDER", "POOL", "KIND", "LOGIN", "PLAN", "EXPIRES", "STATE", "SOURCE",
    ]
    .map(String::from)
    .to_vec()];
    let mut problems = 0;
    for a in &config.accounts {
        let pools: Vec<&str> = config
            .pools
            .iter()
            .filter(|p| p.accounts.contains(&a.name))
            .map(|p| p.name.as_str())
            .collect();
        let (login, plan, expires, mut state) = match &a.credential {
            CredentialConfig::ApiKey { raw, .. } => {
                let state = if check {
                    match crate::secret::resolve(raw.expose_secret()) {
                        Ok(_) => "ok".to_string(),
                        Err(e) => {
                            problems += 1;
                            format!("error: {e}")
                        }
                    }
                } else {
                    "ok".to_string()
                };
                ("-".to_string(), "-".to_string(), "-".to_string(), state)
            }
            CredentialConfig::OAuth(src) => {
                let flavor = Flavor::for_provider(&a.provider).expect("validated");
                let tokens = match src {
                    OAuthSource::Stored => stored
                        .get(&a.name)
                        .filter(|e| e.has_tokens())
                        .map(|e| e.tokens())
                        .ok_or_else(|| {
                            format!("needs login: run `{}`", flavor.login_command(&a.name))
                        }),
                    OAuthSource::Linked(p) => Linked::open(p, flavor)
                        .and_then(|l| l.read())
                        .map(|mut t| {
                            if let Some(e) = stored.get(&a.name) {
                                t.identity.merge(&e.identity);
                            }
                            t
                        })
                        .map_err(|e| {
                            format!("needs login: {e}; log in with {}", flavor.native_login())
                        }),
                };
                match tokens {
                    Ok(t) => oauth_row(flavor, &a.name, &t, now),
                    Err(why) => {
                        problems += 1;
                        ("-".into(), "-".into(), "-".into(), why)
                    }
                }
            }
        };
        if let Some((l, trouble)) = live.and_then(|v| live_state(v, &a.name)) {
            problems += usize::from(trouble);
            state = l;
        }
        rows.push(vec![
            a.name.clone(),
            a.provider.clone(),
            if pools.is_empty() {
                "(none)".into()
            } else {
                pools.join(",")
            },
            a.kind().as_str().into(),
            login,
            plan,
            expires,
            state,
            a.describe_source(),
        ]);
    }
    print_table(&rows);
    if live.is_none() {
        println!(
            "(keypool is not running at {}: states are from the files)",
            config.listen
        );
    }
    if problems > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

fn oauth_row(
    flavor: Flavor,
    name: &str,
    t: &Tokens,
    now: SystemTime,
) -> (String, String, String, String) {
    let dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
    let mut login = dash(&t.identity.email);
    if let Some(d) = &t.identity.domain {
        login = format!("{login} ({d})");
    }
    let plan = dash(&t.identity.plan);
    if flavor == Flavor::Copilot {
        // The GitHub token does not expire; Copilot tokens are minted per run.
        return (login, plan, "-".into(), "ok".into());
    }
    let expires = match t.expires_at {
        None => "-".to_string(),
        Some(at) => match at.duration_since(now) {
            Ok(left) => format!("in {}", human(left)),
            Err(_) => "expired".to_string(),
        },
    };
    let state = match (&t.refresh, t.expires_at) {
        (None, Some(at)) if at <= now => {
            format!("needs login: run `{}`", flavor.login_command(name))
        }
        (Some(_), Some(at)) if at <= now => "ok (refreshes on next use)".into(),
        _ => "ok".into(),
    };
    (login, plan, expires, state)
}

/// The running proxy's view of `name`, and whether that is trouble: the account is
/// disabled, or a refreshed login of it is not saved (stopping keypool now would lose it).
fn live_state(v: &Value, name: &str) -> Option<(String, bool)> {
    let m = v["pools"]
        .as_array()?
        .iter()
        .filter_map(|p| p["members"].as_array())
        .flatten()
        .find(|m| m["name"] == name)?;
    let state = m["state"].as_str()?;
    let unsaved = m["unsaved"].as_str();
    let shown = match state {
        "cooling" => {
            let left = m["until"]
                .as_u64()
                .and_then(crate::bounds::epoch_secs)
                .and_then(|u| u.duration_since(SystemTime::now()).ok())
                .unwrap_or_default();
            format!(
                "cooling for {} ({})",
                human(left),
                m["detail"].as_str().unwrap_or("")
            )
        }
        "disabled" => m["detail"].as_str().unwrap_or("disabled").to_string(),
        s => s.to_string(),
    };
    let shown = match unsaved {
        Some(u) => format!("{shown}; {u}"),
        None => shown,
    };
    Some((shown, state == "disabled" || unsaved.is_some()))
}

fn human(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..=119 => format!("{s}s"),
        120..=7199 => format!("{}m", s / 60),
        7200..=172_799 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86400),
    }
}

pub fn print_table(rows: &[Vec<String>]) {
    let widths: Vec<usize> = (0..rows[0].len())
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    for r in rows {
        let line: Vec<String> = r
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        println!("{}", line.join("  ").trim_end());
    }
}
