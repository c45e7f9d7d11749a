//! `keypool status`: the running proxy's `/_keypool/status` as a table.

use crate::status_report::{AccountStatus, HealthState, StatusReport, WindowStatus};
use serde::Deserialize;
use serde_json::Value;
use std::time::SystemTime;

pub fn print(v: &Value) {
    let report = match StatusReport::deserialize(v) {
        Ok(r) => r,
        Err(e) => {
            let e = crate::serde_message::redact(&e.to_string());
            eprintln!("keypool answered with a status this keypool cannot read ({e}); try --json");
            return;
        }
    };
    let now = crate::bounds::epoch_secs(report.now).unwrap_or_else(SystemTime::now);
    let mut rows = vec![[
        "POOL",
        "ACCOUNT",
        "KIND",
        "STRATEGY",
        "STATE",
        "TIGHTEST WINDOW",
        "REQUESTS",
        "STICKY",
        "LAST ERROR",
    ]
    .map(String::from)
    .to_vec()];
    for p in &report.pools {
        for a in &p.accounts {
            rows.push(vec![
                p.name.clone(),
                a.name.clone(),
                a.kind.clone(),
                p.strategy.clone(),
                state(a, now),
                a.tightest.as_ref().map_or("-".into(), |w| window(w, now)),
                a.requests.to_string(),
                a.sticky_conversations.unwrap_or(0).to_string(),
                last_error(a, now),
            ]);
        }
    }
    if rows.len() == 1 {
        println!(
            "keypool is running with no accounts; add some with \
             `keypool accounts import --all` or `keypool login`."
        );
        return;
    }
    crate::accounts_view::print_table(&rows);
}

/// `ok`, `cooling 30s (rate-limited)`, `disabled: <reason>`, with what is unsaved.
fn state(a: &AccountStatus, now: SystemTime) -> String {
    let state = match a.state {
        HealthState::Ok => "ok".to_string(),
        HealthState::Cooling => {
            let left = a
                .until
                .and_then(crate::bounds::epoch_secs)
                .and_then(|u| u.duration_since(now).ok())
                .unwrap_or_default();
            match a.cause {
                Some(cause) => format!("cooling {}s ({})", left.as_secs(), cause.label()),
                None => format!("cooling {}s", left.as_secs()),
            }
        }
        HealthState::Disabled => format!("disabled: {}", a.detail),
    };
    match &a.unsaved {
        Some(unsaved) => format!("{state}; {unsaved}"),
        None => state,
    }
}

/// `429 rate_limit_exceeded (12s ago)`, or `-`.
fn last_error(a: &AccountStatus, now: SystemTime) -> String {
    let Some(e) = &a.last_error else {
        return "-".to_string();
    };
    let ago = crate::bounds::epoch_secs(e.at)
        .and_then(|t| now.duration_since(t).ok())
        .map_or(String::new(), |d| format!(" ({}s ago)", d.as_secs()));
    format!("{}{ago}", e.detail)
}

/// `5h 42% (resets in 2h)`: the window that binds, how full, when it empties.
fn window(w: &WindowStatus, now: SystemTime) -> String {
    let mut out = match &w.scope {
        Some(scope) => format!("{} [{scope}]", w.name),
        None => w.name.clone(),
    };
    if let Some(u) = w.utilization {
        out += &format!(" {:.0}%", u * 100.0);
    }
    if let Some(left) = w
        .resets_at
        .and_then(crate::bounds::epoch_secs)
        .and_then(|t| t.duration_since(now).ok())
    {
        out += &format!(" (resets in {})", short(left.as_secs()));
    }
    if let Some(learned) = learned(w) {
        out += &format!(" [{learned}]");
    }
    out
}

/// `probe 3m ago`, `headers 12s ago`: where the window's numbers came from and how old
/// they are; `None` from a keypool that does not say.
fn learned(w: &WindowStatus) -> Option<String> {
    let source = w.source?.as_str();
    Some(match w.age_secs {
        Some(s) => format!("{source} {} ago", short(s)),
        None => source.to_string(),
    })
}

/// `42s`, `3m`, `5h`.
fn short(s: u64) -> String {
    match s {
        0..=119 => format!("{s}s"),
        120..=7199 => format!("{}m", s / 60),
        _ => format!("{}h", s / 3600),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status_report::WindowSource;
    use std::time::Duration;

    fn window5h(source: Option<WindowSource>, age_secs: Option<u64>) -> WindowStatus {
        WindowStatus {
            name: "5h".into(),
            scope: None,
            utilization: Some(0.42),
            remaining: None,
            limit: None,
            resets_at: Some(1_800_007_200),
            source,
            age_secs,
        }
    }

    /// The tightest window says where its numbers came from and how old they are; a
    /// keypool that does not say gets the column as before.
    #[test]
    fn a_window_shows_its_source_and_age() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let probed = window5h(Some(WindowSource::Probe), Some(180));
        assert_eq!(window(&probed, now), "5h 42% (resets in 2h) [probe 3m ago]");
        let heard = window5h(Some(WindowSource::Headers), Some(12));
        assert_eq!(
            window(&heard, now),
            "5h 42% (resets in 2h) [headers 12s ago]"
        );
        let saved = window5h(Some(WindowSource::Headers), None);
        assert_eq!(window(&saved, now), "5h 42% (resets in 2h) [headers]");
        assert_eq!(window(&window5h(None, None), now), "5h 42% (resets in 2h)");
    }
}
