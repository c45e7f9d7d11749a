//! Numbers from outside never panic, never poison, never last forever (issue 8 §1).
//!
//! A fake upstream answers with absurd values (2^64−1, 2^63, −1, 1e308, inf, NaN,
//! "99999999999999999999", year-9999 dates, 0) in every reset and duration field keypool
//! reads; keypool must keep answering, cool the account for at most `MAX_COOLDOWN`, keep
//! learned windows within `MAX_HORIZON`, and serve the next request. Then the real binary:
//! hostile answers, `GET /`, a normal request, SIGTERM → exit 0; and a start on a
//! `state.json` full of absurd values.

use crate::support;

use keypool::bounds::{MAX_COOLDOWN, MAX_HORIZON};
use keypool::clock::{Clock, ManualClock};
use keypool::pool::Health;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use support::guard::{Within, CLIENT_TIMEOUT};
use support::keypool::Keypool;
use support::scenario::{Scenario, Spawned};
use support::{Behaviour, FakeProvider, TestCa};

/// Absurd numbers as a server may write them.
const ABSURD: &[&str] = &[
    "18446744073709551615",
    "9223372036854775808",
    "-1",
    "1e308",
    "inf",
    "NaN",
    "99999999999999999999",
    "0",
];

/// One provider of the test, with a hostile and a good account in a priority pool (so
/// the hostile one gets the first request).
#[derive(Clone, Copy, Debug, PartialEq)]
enum Api {
    OpenAi,
    Anthropic,
    Google,
    OpenRouter,
}

impl Api {
    const ALL: [Api; 4] = [Api::OpenAi, Api::Anthropic, Api::Google, Api::OpenRouter];

    fn id(self) -> &'static str {
        match self {
            Api::OpenAi => "openai",
            Api::Anthropic => "anthropic",
            Api::Google => "google",
            Api::OpenRouter => "openrouter",
        }
    }

    fn host(self) -> &'static str {
        match self {
            Api::OpenAi => "api.openai.com",
            Api::Anthropic => "api.anthropic.com",
            Api::Google => "generativelanguage.googleapis.com",
            Api::OpenRouter => "openrouter.ai",
        }
    }

    /// The hostile account's key; `tag` keeps cases that run at once apart.
    fn hostile_key(self, tag: usize) -> String {
        format!("key-{}-hostile-{tag}", self.id())
    }

    fn accounts(self, tag: usize) -> String {
        let id = self.id();
        let hostile =
            support::keypool::key_account(&format!("{id}-hostile"), id, &self.hostile_key(tag));
        let good =
            support::keypool::key_account(&format!("{id}-good"), id, &format!("key-{id}-good"));
        let s = hostile + &good;
        s + &format!(
            "[[pools]]\nname = \"{id}\"\nprovider = \"{id}\"\naccounts = [\"{id}-hostile\", \"{id}-good\"]\nstrategy = \"priority\"\n"
        )
    }

    /// A request the fake answers with 200 for a good key.
    fn request(self, client: &reqwest::Client) -> reqwest::RequestBuilder {
        let body =
            serde_json::json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]});
        let r = match self {
            Api::OpenAi => client
                .post("https://api.openai.com/v1/chat/completions")
                .bearer_auth("placeholder"),
            Api::Anthropic => client
                .post("https://api.anthropic.com/v1/messages")
                .header("x-api-key", "placeholder")
                .header("anthropic-version", "2023-06-01"),
            Api::Google => client
                .post("https://generativelanguage.googleapis.com/v1beta/models/gemini-2.0-flash:generateContent")
                .header("x-goog-api-key", "placeholder"),
            Api::OpenRouter => client
                .post("https://openrouter.ai/api/v1/chat/completions")
                .bearer_auth("placeholder"),
        };
        r.json(&body)
    }
}

/// One hostile answer: which field it attacks, on which provider.
struct Case {
    field: String,
    api: Api,
    answer: Behaviour,
}

fn answer(status: u16, headers: &[(&str, &str)], body: String) -> Behaviour {
    let mut h: Vec<(String, String)> = headers
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect();
    let sse = body.starts_with("event:") || body.starts_with("data:");
    let ct = if sse {
        "text/event-stream"
    } else {
        "application/json"
    };
    h.push(("content-type".into(), ct.into()));
    Behaviour::Verbatim {
        status,
        headers: h,
        body,
    }
}

const OPENAI_429: &str = r#"{"error":{"message":"Rate limit reached","type":"requests","param":null,"code":"rate_limit_exceeded"}}"#;
const ANTHROPIC_429: &str =
    r#"{"type":"error","error":{"type":"rate_limit_error","message":"slow down"}}"#;
const OK_CHAT: &str = r#"{"id":"c","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"ok"},"finish_reason":"stop"}]}"#;

/// Every reset and duration field keypool reads from an answer, with value `v`.
fn cases_for(v: &str) -> Vec<Case> {
    let s = |x: &str| x.to_string();
    let go = format!("{v}h{v}m{v}s");
    let codex_body = |field: &str| {
        format!(
            r#"{{"error":{{"type":"usage_limit_reached","message":"You've hit your usage limit.","plan_type":"plus","{field}":{v}}}}}"#
        )
    };
    let google_body = format!(
        r#"{{"error":{{"code":429,"message":"quota","status":"RESOURCE_EXHAUSTED","details":[{{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"{v}s"}}]}}}}"#
    );
    let mut out = vec![
        (Api::OpenAi, "retry-after", answer(429, &[("retry-after", v)], s(OPENAI_429))),
        (Api::OpenAi, "retry-after-ms", answer(429, &[("retry-after-ms", v)], s(OPENAI_429))),
        (
            Api::OpenAi,
            "x-ratelimit-reset-requests (Go duration)",
            answer(
                429,
                &[("x-ratelimit-remaining-requests", "0"), ("x-ratelimit-reset-requests", &go)],
                s(OPENAI_429),
            ),
        ),
        (
            Api::OpenAi,
            "x-ratelimit-reset-tokens (bare number)",
            answer(
                200,
                &[("x-ratelimit-remaining-tokens", "0"), ("x-ratelimit-limit-tokens", v), ("x-ratelimit-reset-tokens", v)],
                s(OK_CHAT),
            ),
        ),
        (
            Api::OpenAi,
            "x-ratelimit-reset (bare epoch / ms / secs)",
            answer(429, &[("x-ratelimit-remaining", "0"), ("x-ratelimit-reset", v)], s(OPENAI_429)),
        ),
        (
            Api::OpenAi,
            "x-ratelimit-reset-after",
            answer(200, &[("x-ratelimit-remaining", "0"), ("x-ratelimit-reset-after", v)], s(OK_CHAT)),
        ),
        (
            Api::Anthropic,
            "anthropic-ratelimit-tokens-reset",
            answer(
                429,
                &[("anthropic-ratelimit-tokens-remaining", "0"), ("anthropic-ratelimit-tokens-reset", v)],
                s(ANTHROPIC_429),
            ),
        ),
        (
            Api::Anthropic,
            "anthropic-ratelimit-unified-5h-reset / -unified-reset",
            answer(
                429,
                &[
                    ("anthropic-ratelimit-unified-status", "rejected"),
                    ("anthropic-ratelimit-unified-reset", v),
                    ("anthropic-ratelimit-unified-representative-claim", "five_hour"),
                    ("anthropic-ratelimit-unified-5h-utilization", v),
                    ("anthropic-ratelimit-unified-5h-reset", v),
                    ("anthropic-ratelimit-unified-7d-reset", v),
                ],
                s(ANTHROPIC_429),
            ),
        ),
        (
            Api::OpenAi,
            "x-codex-primary/secondary-* (reset-after-seconds, reset-at, window-minutes)",
            answer(
                200,
                &[
                    ("x-codex-primary-used-percent", "100"),
                    ("x-codex-primary-window-minutes", v),
                    ("x-codex-primary-reset-after-seconds", v),
                    ("x-codex-secondary-used-percent", v),
                    ("x-codex-secondary-window-minutes", v),
                    ("x-codex-secondary-reset-at", v),
                ],
                s(OK_CHAT),
            ),
        ),
        (Api::OpenAi, "Codex body resets_at", answer(429, &[], codex_body("resets_at"))),
        (Api::OpenAi, "Codex body resets_in_seconds", answer(429, &[], codex_body("resets_in_seconds"))),
        (Api::Google, "Google RetryInfo retryDelay", answer(429, &[], google_body.clone())),
        (
            Api::OpenRouter,
            "OpenRouter X-RateLimit-Reset (epoch ms)",
            answer(
                429,
                &[("x-ratelimit-limit", "20"), ("x-ratelimit-remaining", "0"), ("x-ratelimit-reset", v)],
                format!(r#"{{"error":{{"code":429,"message":"Rate limit exceeded","metadata":{{"headers":{{"X-RateLimit-Reset":"{v}"}}}}}}}}"#),
            ),
        ),
        (
            Api::OpenAi,
            "in-stream Codex error event resets_at",
            answer(
                200,
                &[],
                format!(
                    "event: error\ndata: {{\"type\":\"error\",\"status\":429,\"error\":{{\"type\":\"usage_limit_reached\",\"message\":\"limit\",\"resets_at\":{v}}}}}\n\n"
                ),
            ),
        ),
        (
            Api::OpenAi,
            "in-stream response.failed (Codex resets_in_seconds)",
            answer(
                200,
                &[],
                format!(
                    "event: response.failed\ndata: {{\"type\":\"response.failed\",\"response\":{{\"id\":\"r\",\"status\":\"failed\",\"error\":{{\"code\":\"usage_limit_reached\",\"message\":\"x\",\"resets_in_seconds\":{v}}}}}}}\n\n"
                ),
            ),
        ),
        (
            Api::Google,
            "in-stream Gemini RetryInfo retryDelay",
            answer(200, &[], format!("data: {google_body}\r\n\r\n")),
        ),
    ];
    if v == ABSURD[0] {
        // The date forms, once: HTTP-date and RFC 3339 in year 9999.
        let y9999 = "Fri, 31 Dec 9999 23:59:59 GMT";
        out.push((
            Api::OpenAi,
            "retry-after (HTTP-date, year 9999)",
            answer(429, &[("retry-after", y9999)], s(OPENAI_429)),
        ));
        out.push((
            Api::Anthropic,
            "anthropic-ratelimit-requests-reset (RFC 3339, year 9999)",
            answer(
                429,
                &[
                    ("anthropic-ratelimit-requests-remaining", "0"),
                    ("anthropic-ratelimit-requests-reset", "9999-12-31T23:59:59Z"),
                ],
                s(ANTHROPIC_429),
            ),
        ));
        out.push((
            Api::OpenAi,
            "retry-after: 1000000000 (31 years)",
            answer(429, &[("retry-after", "1000000000")], s(OPENAI_429)),
        ));
    }
    out.into_iter()
        .map(|(api, field, answer)| Case {
            field: format!("{field} = {v}"),
            api,
            answer,
        })
        .collect()
}

async fn guarded<T>(what: &str, f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(20), f)
        .await
        .unwrap_or_else(|_| panic!("{what}: no answer within 20 s"))
}

/// One case on a fresh keypool: the hostile answer, then the checks.
async fn run(case: &Case, tag: usize, fake: &FakeProvider, ca: &TestCa) {
    let clock = Arc::new(ManualClock::new(SystemTime::now()));
    let kp = Keypool::builder(ca)
        .accounts(&case.api.accounts(tag))
        .upstream(fake.addr())
        .clock(clock.clone())
        .start()
        .await;
    let before = fake.seen().len();
    let client = kp.client();
    let what = &case.field;
    let r = guarded(what, case.api.request(&client).send()).await;
    let r = r.unwrap_or_else(|e| panic!("{what}: keypool dropped the request: {e}"));
    assert!(
        r.status().is_success() || r.status() == 429,
        "{what}: {}",
        r.status()
    );
    let _ = guarded(what, r.bytes()).await;
    let hostile = case.api.hostile_key(tag);
    assert!(
        fake.seen()[before..]
            .iter()
            .any(|s| s.credential.as_deref() == Some(&hostile)),
        "{what}: the hostile account was not tried"
    );

    let now = clock.now();
    let live = kp.proxy.state().live();
    let pool = live.pools.by_name(case.api.id()).expect("pool");
    let acct = pool
        .members
        .iter()
        .find(|a| a.name.ends_with("-hostile"))
        .unwrap();
    if let Health::Cooling { until, .. } = acct.health(now) {
        let left = until.duration_since(now).unwrap_or_default();
        assert!(left <= MAX_COOLDOWN, "{what}: cooling for {left:?}");
    }
    for w in acct.quota(now) {
        if let Some(at) = w.resets_at {
            let ahead = at.duration_since(now).unwrap_or_default();
            assert!(
                ahead <= MAX_HORIZON,
                "{what}: window {} resets in {ahead:?}",
                w.name
            );
        }
    }
    // The pool still serves, and keypool's own page still answers.
    let r = guarded(what, case.api.request(&client).send())
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{what}: the next request");
    let page = guarded(
        what,
        reqwest::Client::builder()
            .no_proxy()
            .timeout(CLIENT_TIMEOUT)
            .build()
            .unwrap()
            .get(format!("http://{}/", kp.addr()))
            .send(),
    )
    .await
    .unwrap();
    assert_eq!(page.status(), 200, "{what}: GET /");
    kp.kp
        .proxy
        .shutdown()
        .within(&format!("{what}: keypool's shutdown drain"))
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_reset_field_with_absurd_values_is_clamped_and_the_pool_keeps_serving() {
    let ca = TestCa::new();
    let hosts: Vec<&str> = Api::ALL.iter().map(|a| a.host()).collect();
    let fake = FakeProvider::start(&ca, &hosts).await;
    for api in Api::ALL {
        fake.set(&format!("key-{}-good", api.id()), Behaviour::Ok);
    }
    // One group per value, the groups at once (each with its own hostile keys).
    let groups = ABSURD.iter().enumerate().map(|(tag, v)| {
        let (fake, ca) = (&fake, &ca);
        async move {
            let cases = cases_for(v);
            for case in &cases {
                fake.set(&case.api.hostile_key(tag), case.answer.clone());
                run(case, tag, fake, ca).await;
            }
            cases.len()
        }
    });
    let count: usize = futures_util::future::join_all(groups)
        .await
        .into_iter()
        .sum();
    assert!(count >= ABSURD.len() * 16, "{count} cases");
}

// ---- the real binary ----

/// `keypool serve` with nothing of the test's environment: only its home, which is also
/// `HOME` (no client's credential files of the machine the tests run on).
async fn spawn_binary(s: &mut Scenario) -> Spawned {
    s.spawn_with(|c, home| {
        c.env_clear().env("KEYPOOL_HOME", home).env("HOME", home);
    })
    .await
}

/// SIGTERM must exit 0.
async fn sigterm_exits_0(kp: Spawned) {
    let (code, log) = kp.stop().await;
    assert_eq!(code, Some(0), "SIGTERM must exit 0:\n{log}");
}

#[cfg(unix)]
#[tokio::test]
async fn the_binary_survives_hostile_answers_and_exits_0_on_sigterm() {
    let mut s = Scenario::new()
        .provider(&["api.openai.com"])
        .await
        .accounts(&Api::OpenAi.accounts(0))
        .ok(&["key-openai-good"]);
    let kp = spawn_binary(&mut s).await;
    let fake = s.fake();
    let client = kp.client();
    // Several of each: the reported failure needed a few panics to poison the pool.
    for _round in 0..3 {
        for v in ["18446744073709551615", "1e308", "-1", "NaN"] {
            for case in cases_for(v).into_iter().filter(|c| c.api == Api::OpenAi) {
                fake.set(&Api::OpenAi.hostile_key(0), case.answer.clone());
                let r = guarded(&case.field, Api::OpenAi.request(&client).send())
                    .await
                    .unwrap_or_else(|e| panic!("{}: {e}", case.field));
                let _ = guarded(&case.field, r.bytes()).await;
            }
        }
    }
    let page = reqwest::Client::builder()
        .no_proxy()
        .timeout(CLIENT_TIMEOUT)
        .build()
        .unwrap();
    let r = guarded("GET /", page.get(format!("http://{}/", kp.addr())).send())
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let status = guarded("status", kp.status()).await;
    let now = keypool::persist::epoch_secs(SystemTime::now());
    for a in status["pools"][0]["accounts"].as_array().unwrap() {
        if let Some(until) = a["until"].as_u64() {
            assert!(until <= now + MAX_COOLDOWN.as_secs() + 5, "{a}");
        }
    }
    let r = guarded("a normal request", Api::OpenAi.request(&client).send())
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-keypool-account"], "openai-good");
    sigterm_exits_0(kp).await;
}

#[cfg(unix)]
#[tokio::test]
async fn the_binary_starts_on_a_state_file_full_of_absurd_values() {
    let mut s = Scenario::new()
        .provider(&["api.openai.com"])
        .await
        .ok(&["sk-a", "sk-b", "sk-c", "sk-d"])
        .keys(
            "openai",
            &[("a", "sk-a"), ("b", "sk-b"), ("c", "sk-c"), ("d", "sk-d")],
        );
    let fp = keypool::persist::fingerprint;
    let now = keypool::persist::epoch_secs(SystemTime::now());
    let key = format!("codex:{}", "ab".repeat(16));
    let state = format!(
        r#"{{"version":1,"accounts":{{
  "a": {{"credential":"{}","state":"cooling","until":18446744073709551615,"verdict":"rate_limited","detail":"429 absurd"}},
  "b": {{"credential":"{}","state":"cooling","until":{},"verdict":"rate_limited","detail":"429 sane"}},
  "c": {{"credential":"{}","quota":[{{"name":"5h","utilization":0.5,"resets_at":18446744073709551615}},{{"name":"7d","utilization":0.25,"resets_at":{}}}]}},
  "d": {{"credential":"{}","state":"cooling","until":18446744073709551616,"verdict":"exhausted","detail":"beyond u64"}}
}},"affinity":{{"sticky":{{"entries":[
  {{"pool":"openai","key":"{key}","account":"a","seen":18446744073709551615}}
]}},"pins":{{"entries":[]}}}}}}"#,
        fp("sk-a"),
        fp("sk-b"),
        now + 600,
        fp("sk-c"),
        now + 3600,
        fp("sk-d"),
    );
    s.home_file("state.json", &state);

    let kp = spawn_binary(&mut s).await;
    let log = kp.served.log.join("\n");
    for field in [
        "accounts.\"a\".until",
        "accounts.\"c\".quota[0].resets_at",
        "accounts.\"d\"",
        "affinity.sticky.entries[0].seen",
    ] {
        assert!(
            log.lines()
                .any(|l| l.contains("state.json") && l.contains(field)),
            "no warning naming {field}:\n{log}"
        );
    }
    let status = guarded("status", kp.status()).await;
    let accts = status["pools"][0]["accounts"].as_array().unwrap();
    let by = |n: &str| accts.iter().find(|a| a["name"] == n).unwrap().clone();
    assert_eq!(by("a")["state"], "ok", "the absurd cooldown was dropped");
    assert_eq!(by("b")["state"], "cooling", "the sane cooldown was kept");
    assert_eq!(by("b")["until"], now + 600);
    let windows: Vec<String> = by("c")["windows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        windows,
        ["7d"],
        "the sane window was kept, the absurd one dropped"
    );
    assert_eq!(by("d")["state"], "ok");
    let r = guarded("a request", Api::OpenAi.request(&kp.client()).send())
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_ne!(r.headers()["x-keypool-account"], "b");
    sigterm_exits_0(kp).await;
}
