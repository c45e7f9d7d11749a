//! `keypool status`: the running proxy's `/_keypool/status` as a table.

use serde_json::Value;
use std::time::SystemTime;

pub fn print(v: &Value) {
    let now = v["now"]
        .as_u64()
        .and_then(crate::bounds::epoch_secs)
        .unwrap_or_else(SystemTime::now);
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
    for p in v["pools"].as_array().into_iter().flatten() {
        for a in p["accounts"].as_array().into_iter().flatten() {
            let state = match a["state"].as_str().unwrap_or("-") {
                "cooling" => {
                    let left = a["until"]
                        .as_u64()
                        .and_then(crate::bounds::epoch_secs)
                        .and_then(|u| u.duration_since(now).ok())
                        .unwrap_or_default();
                    format!("cooling {}s", left.as_secs())
                }
                "disabled" => format!("disabled: {}", a["detail"].as_str().unwrap_or("")),
                s => s.to_string(),
            };
            let state = match a["unsaved"].as_str() {
                Some(unsaved) => format!("{state}; {unsaved}"),
                None => state,
            };
            let last = match &a["last_error"] {
                Value::Null => "-".to_string(),
                e => {
                    let ago = e["at"]
                        .as_u64()
                        .and_then(crate::bounds::epoch_secs)
                        .and_then(|t| now.duration_since(t).ok())
                        .map_or(String::new(), |d| format!(" ({}s ago)", d.as_secs()));
                    format!("{}{ago}", e["detail"].as_str().unwrap_or(""))
                }
            };
            rows.push(vec![
                p["name"].as_str().unwrap_or("-").to_string(),
                a["name"].as_str().unwrap_or("-").to_string(),
                a["kind"].as_str().unwrap_or("-").to_string(),
                p["strategy"].as_str().unwrap_or("-").to_string(),
                state,
                window(&a["tightest"], now),
                a["requests"].as_u64().unwrap_or(0).to_string(),
                a["sticky_conversations"].as_u64().unwrap_or(0).to_string(),
                last,
            ]);
        }
    }
    if rows.len() == 1 {
        println!("keypool is running with no accounts; add some with `keypool accounts import --all` or `keypool login`.");
        return;
    }
    crate::accounts_view::print_table(&rows);
}

/// `5h 42% (resets in 2h)`: the window that binds, how full, when it empties.
fn window(w: &Value, now: SystemTime) -> String {
    let Some(name) = w["name"].as_str() else {
        return "-".into();
    };
    let mut out = match w["scope"].as_str() {
        Some(scope) => format!("{name} [{scope}]"),
        None => name.to_string(),
    };
    if let Some(u) = w["utilization"].as_f64() {
        out += &format!(" {:.0}%", u * 100.0);
    }
    if let Some(left) = w["resets_at"]
        .as_u64()
        .and_then(crate::bounds::epoch_secs)
        .and_then(|t| t.duration_since(now).ok())
    {
        let s = left.as_secs();
        let human = match s {
            0..=119 => format!("{s}s"),
            120..=7199 => format!("{}m", s / 60),
            _ => format!("{}h", s / 3600),
        };
        out += &format!(" (resets in {human})");
    }
    out
}
