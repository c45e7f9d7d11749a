//! The facts doctor reports beside the runtimes: the CA's validity and name constraints,
//! and the accounts disabled (from the running proxy, else from state.json).

use super::report::{Line, Verdict};
use crate::home::Home;
use std::time::{SystemTime, UNIX_EPOCH};

/// A CA this close to its end gets a note to rotate it.
const CA_WARN_DAYS: i64 = 30;

/// The CA: valid from/until, days left, and what its name constraints allow.
pub fn ca_lines(home: &Home) -> Vec<Line> {
    let path = home.ca_cert();
    let ca = match crate::ca::CertAuthority::load(home) {
        Ok(ca) => ca,
        Err(e) => {
            return vec![Line::new("ca", Verdict::Fail, e.to_string())
                .fix("run `keypool ca rotate` to make a new CA")]
        }
    };
    let mut lines = vec![validity(ca.ca_pem(), &path.display().to_string())];
    let scope = ca.scope();
    lines.push(match scope.is_constrained() {
        true => Line::new(
            "ca constraints",
            Verdict::Ok,
            format!(
                "name constraints present: signs only for {} host name(s) ({})",
                scope.dns_names().len(),
                abbreviated(scope.dns_names())
            ),
        ),
        false => Line::new(
            "ca constraints",
            Verdict::Note,
            "no name constraints: this CA could sign for any site",
        )
        .fix("run `keypool ca rotate` for a CA limited to the provider hosts"),
    });
    lines
}

fn validity(pem_text: &str, path: &str) -> Line {
    let parsed = pem::parse(pem_text).ok().and_then(|p| {
        let (_, cert) = x509_parser::parse_x509_certificate(p.contents()).ok()?;
        let v = cert.validity();
        Some((v.not_before.timestamp(), v.not_after.timestamp()))
    });
    let Some((from, until)) = parsed else {
        return Line::new("ca", Verdict::Fail, format!("{path} does not parse"))
            .fix("run `keypool ca rotate` to make a new CA");
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    let days = until.saturating_sub(now) / 86_400;
    let detail = format!(
        "{path}: valid from {} until {} ({days} days left)",
        date(from),
        date(until)
    );
    let rotate = "run `keypool ca rotate`, then trust the new CA where you trusted this one";
    if now >= until || now < from {
        Line::new("ca", Verdict::Fail, format!("{detail}: not valid now")).fix(rotate)
    } else if days < CA_WARN_DAYS {
        Line::new("ca", Verdict::Note, detail).fix(rotate)
    } else {
        Line::new("ca", Verdict::Ok, detail)
    }
}

fn date(epoch: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(epoch)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| epoch.to_string())
}

fn abbreviated(names: &[String]) -> String {
    let mut shown: Vec<&str> = names.iter().take(4).map(String::as_str).collect();
    if names.len() > shown.len() {
        shown.push("…");
    }
    shown.join(", ")
}

const REENABLE: &str = "fix what the reason says (the key, or `keypool login` again), then \
    `keypool reload`";

/// The disabled accounts the running proxy's status reports.
pub fn disabled_from_status(status: &serde_json::Value) -> Vec<Line> {
    let mut lines = Vec::new();
    let pools = status["pools"].as_array().map_or(&[][..], Vec::as_slice);
    for pool in pools {
        let accounts = pool["accounts"].as_array().map_or(&[][..], Vec::as_slice);
        for a in accounts.iter().filter(|a| a["state"] == "disabled") {
            lines.push(disabled(
                a["name"].as_str().unwrap_or("?"),
                a["detail"].as_str().unwrap_or(""),
                &format!(" in pool {}", pool["name"].as_str().unwrap_or("?")),
            ));
        }
    }
    lines
}

/// The disabled accounts state.json holds, when no keypool runs.
pub fn disabled_from_state(home: &Home) -> Vec<Line> {
    let saved = crate::persist::StateFile::at(home.state_file()).load();
    saved
        .accounts
        .iter()
        .filter_map(|(name, s)| match &s.health {
            Some(crate::persist::SavedHealth::Disabled { reason, .. }) => {
                Some(disabled(name, reason, " (from state.json)"))
            }
            _ => None,
        })
        .collect()
}

fn disabled(name: &str, why: &str, where_: &str) -> Line {
    Line::new(
        "account",
        Verdict::Note,
        format!(
            "{}{where_} is disabled: {}",
            crate::echo::printable(name, 64),
            crate::echo::printable(why, 200)
        ),
    )
    .fix(REENABLE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disabled_accounts_are_named_with_their_reason() {
        let status = serde_json::json!({"pools": [{"name": "anthropic", "accounts": [
            {"name": "a", "state": "ok", "detail": ""},
            {"name": "b", "state": "disabled", "detail": "401 invalid x-api-key"},
        ]}]});
        let lines = disabled_from_status(&status);
        assert_eq!(lines.len(), 1);
        assert!(lines[0]
            .detail
            .contains("b in pool anthropic is disabled: 401 invalid"));
        assert!(disabled_from_status(&serde_json::json!({"pools": 3})).is_empty());
    }

    #[test]
    fn the_ca_lines_give_validity_and_constraints() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::at(dir.path());
        crate::ca::CertAuthority::load_or_create(&home, &["api.anthropic.com".into()]).unwrap();
        let lines = ca_lines(&home);
        assert_eq!(lines[0].verdict, Verdict::Ok, "{:?}", lines[0]);
        assert!(lines[0].detail.contains("days left"));
        assert_eq!(lines[1].verdict, Verdict::Ok);
        assert!(lines[1].detail.contains("api.anthropic.com"));
    }
}
