//! `keypool accounts list`: every account with its kind, plan, token expiry, state and
//! where its credential lives. The state is the running proxy's when one answers, else
//! what the files tell.

use crate::config::{AccountConfig, Config, CredentialConfig, OAuthSource};
use crate::home::Home;
use crate::oauth::link::Linked;
use crate::oauth::store::{Entry, Store};
use crate::oauth::Tokens;
use crate::providers::Flavor;
use crate::status_report::{AccountStatus, CoolingCause, HealthState, IndexReport};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

/// One account's LOGIN, PLAN, EXPIRES and STATE columns, and whether its state is a
/// problem (the command then exits 1).
struct Columns {
    login: String,
    plan: String,
    expires: String,
    state: String,
    trouble: bool,
}

impl Columns {
    /// An account whose only column is its state.
    fn state(state: String, trouble: bool) -> Columns {
        let dash = || "-".to_string();
        Columns {
            login: dash(),
            plan: dash(),
            expires: dash(),
            state,
            trouble,
        }
    }
}

pub fn list(
    home: &Home,
    config: &Config,
    path: &Path,
    check: bool,
    live: Option<&Value>,
) -> ExitCode {
    if config.accounts.is_empty() {
        println!(
            "No accounts in {}. Import the logins your tools already have with \
             `keypool accounts import --all`, or add [[accounts]] blocks (see the README).",
            path.display()
        );
        return ExitCode::SUCCESS;
    }
    let store = Store::at(home.credentials_file());
    let stored = store.load().unwrap_or_else(|e| {
        eprintln!("warning: {e}");
        Default::default()
    });
    let live = live.and_then(|v| IndexReport::deserialize(v).ok());
    let now = SystemTime::now();
    let mut rows = vec![[
        "NAME", "PROVIDER", "POOL", "KIND", "LOGIN", "PLAN", "EXPIRES", "STATE", "SOURCE",
    ]
    .map(String::from)
    .to_vec()];
    let mut problems = 0;
    for a in &config.accounts {
        let mut c = from_files(a, &stored, check, now);
        if let Some(m) = live.as_ref().and_then(|r| member(r, &a.name)) {
            let (state, trouble) = live_state(m);
            c.state = state;
            c.trouble |= trouble;
        }
        problems += usize::from(c.trouble);
        rows.push(vec![
            a.name.clone(),
            a.provider.clone(),
            pools_of(config, &a.name),
            a.kind().as_str().into(),
            c.login,
            c.plan,
            c.expires,
            c.state,
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

/// The pools `name` serves in, `a,b`, or `(none)`.
fn pools_of(config: &Config, name: &str) -> String {
    let pools: Vec<&str> = config
        .pools
        .iter()
        .filter(|p| p.accounts.iter().any(|n| n == name))
        .map(|p| p.name.as_str())
        .collect();
    if pools.is_empty() {
        "(none)".into()
    } else {
        pools.join(",")
    }
}

/// What the config and the credential files tell about the account (with `check`, a key
/// is resolved to see that it can be).
fn from_files(
    a: &AccountConfig,
    stored: &BTreeMap<String, Entry>,
    check: bool,
    now: SystemTime,
) -> Columns {
    match &a.credential {
        CredentialConfig::ApiKey { raw, .. } => match check.then(|| key_state(raw)) {
            Some(Err(e)) => Columns::state(format!("error: {e}"), true),
            _ => Columns::state("ok".into(), false),
        },
        CredentialConfig::Aws(keys) => match check.then(|| crate::pool::aws_credentials(keys)) {
            Some(Err(e)) => Columns::state(format!("error: {e}"), true),
            _ => Columns::state("ok".into(), false),
        },
        CredentialConfig::OAuth(src) => {
            let flavor = Flavor::for_provider(&a.provider).expect("validated");
            match tokens(&a.name, flavor, src, stored) {
                Ok(t) => oauth_row(flavor, &a.name, &t, now),
                Err(why) => Columns::state(why, true),
            }
        }
    }
}

fn key_state(raw: &SecretString) -> Result<(), String> {
    crate::secret::resolve(raw.expose_secret())
        .map(drop)
        .map_err(|e| e.to_string())
}

/// The login's tokens, from the credentials file or its linked file; why there are none,
/// with the command that fixes it.
fn tokens(
    name: &str,
    flavor: Flavor,
    src: &OAuthSource,
    stored: &BTreeMap<String, Entry>,
) -> Result<Tokens, String> {
    match src {
        OAuthSource::Stored => stored
            .get(name)
            .filter(|e| e.has_tokens())
            .map(|e| e.tokens())
            .ok_or_else(|| format!("needs login: run `{}`", flavor.login_command(name))),
        OAuthSource::Linked(p) => Linked::open(p, flavor)
            .and_then(|l| l.read())
            .map(|mut t| {
                if let Some(e) = stored.get(name) {
                    t.identity.merge(&e.identity);
                }
                t
            })
            .map_err(|e| format!("needs login: {e}; log in with {}", flavor.native_login())),
    }
}

fn oauth_row(flavor: Flavor, name: &str, t: &Tokens, now: SystemTime) -> Columns {
    let dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
    let mut login = dash(&t.identity.email);
    if let Some(d) = &t.identity.domain {
        login = format!("{login} ({d})");
    }
    let plan = dash(&t.identity.plan);
    let row = |expires, state| Columns {
        login: login.clone(),
        plan: plan.clone(),
        expires,
        state,
        trouble: false,
    };
    if flavor == Flavor::Copilot {
        // The GitHub token does not expire; Copilot tokens are minted per run.
        return row("-".into(), "ok".into());
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
    row(expires, state)
}

/// The running proxy's view of the account `name`.
fn member<'a>(live: &'a IndexReport, name: &str) -> Option<&'a AccountStatus> {
    live.pools
        .iter()
        .flat_map(|p| &p.members)
        .find(|m| m.name == name)
}

/// The running proxy's view of an account, and whether that is trouble: the account is
/// disabled, or a refreshed login of it is not saved (stopping keypool now would lose it).
fn live_state(m: &AccountStatus) -> (String, bool) {
    let shown = match m.state {
        HealthState::Ok => "ok".to_string(),
        HealthState::Cooling => {
            let left = m
                .until
                .and_then(crate::bounds::epoch_secs)
                .and_then(|u| u.duration_since(SystemTime::now()).ok())
                .unwrap_or_default();
            let why = match m.cause {
                Some(CoolingCause::TokenEndpoint) => {
                    format!("{}: {}", CoolingCause::TokenEndpoint.label(), m.detail)
                }
                _ => m.detail.clone(),
            };
            format!("cooling for {} ({why})", human(left))
        }
        HealthState::Disabled => m.detail.clone(),
    };
    let shown = match &m.unsaved {
        Some(u) => format!("{shown}; {u}"),
        None => shown,
    };
    let trouble = m.state == HealthState::Disabled || m.unsaved.is_some();
    (shown, trouble)
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
