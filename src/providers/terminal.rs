//! Answers that end an account's turn for good (PROVIDERS.md §14): a lost membership, a
//! ban for third-party use, exhaustion reported as a bad key. Each is a row of one table,
//! scoped to the providers it names, matched on the status and on text or fields of the
//! body; the pipeline asks [`judge`] for every error answer without knowing whose it is.
//!
//! A row that ends the turn takes the account out until a config reload or a quota probe
//! of it that works; keypool shows it disabled with the rule, the reason and the fix. A
//! row may instead cool the account (exhaustion in disguise, where no probe exists).
//!
//! Adding a row: name the providers, the status and what the body must hold
//! ([`Needle::Text`] anywhere in it, or [`Needle::Field`] at a JSON path).

use super::{Outcome, Verdict};
use http::HeaderMap;
use serde_json::Value;
use std::time::Duration;

/// One kind of answer that ends (or long-cools) an account's turn.
pub struct Row {
    /// Names the rule in the status, the logs and the metrics: `kimi-membership`.
    pub rule: &'static str,
    /// The built-in provider ids the row applies to; no other provider's answer matches.
    pub providers: &'static [&'static str],
    pub status: u16,
    /// What the answer must hold, every one of them.
    pub body: &'static [Needle],
    /// The row applies only when the account answered successfully within this long
    /// before: a refusal of a key that just worked means something else than a bad key.
    pub served_within: Option<Duration>,
    pub then: Then,
}

/// Something an error body holds. Text is compared without regard to case.
pub enum Needle {
    /// This text anywhere in the body.
    Text(&'static str),
    /// A string at this JSON path (`/error/details/*/domain`: `*` is any element of an
    /// array) that contains this text.
    Field {
        path: &'static str,
        contains: &'static str,
    },
    /// A header of the answer that contains this text (AWS names its error there).
    Header {
        name: &'static str,
        contains: &'static str,
    },
}

/// What a matching answer does to the account.
pub enum Then {
    /// Out of rotation until a reload or a successful probe.
    Ends {
        /// What happened, in words: `Kimi could not verify the membership`.
        reason: &'static str,
        /// What the user does about it.
        fix: &'static str,
        /// A JSON field whose (https) link the fix points at, if the body has one.
        link: Option<&'static str>,
    },
    /// Sits out this long under this verdict, as a quota limit would.
    Cools {
        verdict: Verdict,
        wait: Duration,
        reason: &'static str,
    },
}

const XIAOMI: &[&str] = &[
    "xiaomi",
    "xiaomi-token-plan-cn",
    "xiaomi-token-plan-ams",
    "xiaomi-token-plan-sgp",
];

const BEDROCK_QUOTA: Then = Then::Ends {
    reason: "Bedrock says a service quota of the account is used up",
    fix: "raise the quota in the AWS Service Quotas console (or wait for it to renew), then \
        `keypool reload`",
    link: None,
};

/// Every terminal answer keypool knows.
pub const TABLE: &[Row] = &[
    Row {
        rule: "kimi-membership",
        providers: &["kimi-coding"],
        status: 402,
        body: &[Needle::Text("membership")],
        served_within: None,
        then: Then::Ends {
            reason: "Kimi could not verify the account's membership",
            fix: "renew the Kimi membership (or log in again with `keypool login kimi-coding`), \
                then `keypool reload`",
            link: None,
        },
    },
    Row {
        rule: "cloudcode-tos-ban",
        providers: &["google-gemini-cli"],
        status: 403,
        body: &[
            Needle::Field {
                path: "/error/status",
                contains: "PERMISSION_DENIED",
            },
            Needle::Text("violation of Terms of Service"),
        ],
        served_within: None,
        then: Then::Ends {
            reason: "Google disabled Code Assist for this account for violation of its Terms \
                of Service",
            fix: "appeal the suspension with Google, then `keypool reload`",
            link: Some("appeal_url"),
        },
    },
    // Azure OpenAI behind API Management: its quota policies answer 403 when a
    // subscription's call or token quota for the period is used up ("Out of call volume
    // quota. Quota will be replenished in …"), 429 for rate (PROVIDERS.md §10). Azure has
    // no free quota endpoint, so a reload brings the account back.
    Row {
        rule: "azure-apim-quota",
        providers: &["azure-openai-responses"],
        status: 403,
        body: &[Needle::Text("quota")],
        served_within: None,
        then: Then::Ends {
            reason: "Azure API Management says the subscription's quota is used up",
            fix: "wait until the quota period renews (the answer says when) or raise the \
                quota in API Management, then `keypool reload`",
            link: None,
        },
    },
    // Bedrock's ServiceQuotaExceededException is a 400 (PROVIDERS.md §14): the account's
    // quota, not a bad request. AWS names the exception in `x-amzn-errortype`, or in the
    // body's `__type` where the header is missing.
    Row {
        rule: "bedrock-service-quota",
        providers: &["amazon-bedrock"],
        status: 400,
        body: &[Needle::Header {
            name: "x-amzn-errortype",
            contains: "ServiceQuotaExceededException",
        }],
        served_within: None,
        then: BEDROCK_QUOTA,
    },
    Row {
        rule: "bedrock-service-quota",
        providers: &["amazon-bedrock"],
        status: 400,
        body: &[Needle::Field {
            path: "/__type",
            contains: "ServiceQuotaExceededException",
        }],
        served_within: None,
        then: BEDROCK_QUOTA,
    },
    // Xiaomi MiMo answered every key with 401 "Invalid API Key" once its plan ran out
    // (CLIProxyAPI #3317). It has no quota endpoint to probe, so a key that served within
    // the hour sits out an hour as exhausted instead of being disabled; if it is refused
    // again after that, it has not served for an hour and the 401 disables it as a bad
    // key. A key that never worked is disabled at once.
    Row {
        rule: "xiaomi-exhausted-as-401",
        providers: XIAOMI,
        status: 401,
        body: &[Needle::Text("Invalid API Key")],
        served_within: Some(Duration::from_secs(3600)),
        then: Then::Cools {
            verdict: Verdict::Exhausted,
            wait: Duration::from_secs(3600),
            reason: "invalid key on a key that served within the hour (Xiaomi reports a \
                used-up plan so)",
        },
    },
];

/// How an account's turn ended for good: the rule and the fix, for the account's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ending {
    pub rule: &'static str,
    pub fix: String,
}

/// The outcome a row of `table` gives an answer of `status` with `body` from `provider`,
/// whose account last served `served_ago` ago (`None`: never); `None` when no row matches.
pub fn judge_with(
    table: &[Row],
    provider: &str,
    status: u16,
    headers: &HeaderMap,
    body: &[u8],
    served_ago: Option<Duration>,
) -> Option<Outcome> {
    let text = String::from_utf8_lossy(body).to_ascii_lowercase();
    let json: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let row = table.iter().find(|r| {
        r.status == status
            && r.providers.contains(&provider)
            && r.body.iter().all(|n| n.found(headers, &text, &json))
            && r.served_within
                .is_none_or(|within| served_ago.is_some_and(|ago| ago <= within))
    })?;
    Some(match &row.then {
        Then::Ends { reason, fix, link } => {
            let fix = match link.and_then(|name| find_link(&json, name, 0)) {
                Some(url) => format!("{fix} (appeal at {url})"),
                None => fix.to_string(),
            };
            Outcome {
                verdict: Verdict::Terminal,
                reset_in: None,
                detail: format!("{status} {reason}"),
                ending: Some(Ending {
                    rule: row.rule,
                    fix,
                }),
            }
        }
        Then::Cools {
            verdict,
            wait,
            reason,
        } => Outcome {
            verdict: *verdict,
            reset_in: Some(*wait),
            detail: format!("{status} {reason}"),
            ending: None,
        },
    })
}

/// [`judge_with`] over the built-in [`TABLE`].
pub fn judge(
    provider: &str,
    status: u16,
    headers: &HeaderMap,
    body: &[u8],
    served_ago: Option<Duration>,
) -> Option<Outcome> {
    judge_with(TABLE, provider, status, headers, body, served_ago)
}

impl Needle {
    /// Whether the body (`text`, in lower case, and as `json`) holds this.
    fn found(&self, headers: &HeaderMap, text: &str, json: &Value) -> bool {
        match self {
            Needle::Text(t) => text.contains(&t.to_ascii_lowercase()),
            Needle::Header { name, contains } => {
                let want = contains.to_ascii_lowercase();
                (headers.get_all(*name).iter())
                    .filter_map(|v| v.to_str().ok())
                    .any(|v| v.to_ascii_lowercase().contains(&want))
            }
            Needle::Field { path, contains } => {
                let want = contains.to_ascii_lowercase();
                let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
                let mut found = Vec::new();
                strings_at(json, &parts, &mut found);
                found.iter().any(|s| s.to_ascii_lowercase().contains(&want))
            }
        }
    }
}

/// The strings at `path` in `v` into `out`, `*` standing for every element of an array.
fn strings_at<'v>(v: &'v Value, path: &[&str], out: &mut Vec<&'v str>) {
    let Some((first, rest)) = path.split_first() else {
        out.extend(v.as_str());
        return;
    };
    match (*first, v) {
        ("*", Value::Array(items)) => items.iter().for_each(|i| strings_at(i, rest, out)),
        (key, Value::Object(m)) => {
            if let Some(next) = m.get(key) {
                strings_at(next, rest, out);
            }
        }
        _ => {}
    }
}

/// The longest link keypool quotes from an answer.
const MAX_LINK: usize = 512;
/// How deep an answer is searched for a link.
const MAX_DEPTH: usize = 8;

/// A string field `name` anywhere in `v` (bounded depth) that is a plain https link: the
/// answer comes from outside, so anything else (spaces, control characters, another
/// scheme, a huge value) is left out of the fix.
fn find_link(v: &Value, name: &str, depth: usize) -> Option<String> {
    if depth > MAX_DEPTH {
        return None;
    }
    match v {
        Value::Object(m) => {
            if let Some(s) = m.get(name).and_then(Value::as_str) {
                if plain_link(s) {
                    return Some(s.to_string());
                }
            }
            m.values().find_map(|x| find_link(x, name, depth + 1))
        }
        Value::Array(items) => items.iter().find_map(|x| find_link(x, name, depth + 1)),
        _ => None,
    }
}

fn plain_link(s: &str) -> bool {
    s.starts_with("https://")
        && s.len() <= MAX_LINK
        && s.bytes().all(|b| b.is_ascii_graphic())
        && !s.contains(['"', '<', '>', '\\'])
}

#[cfg(test)]
mod tests;
