//! Active quota probes against fake usage endpoints that speak each provider's real
//! shape: keypool started with a subscription of each kind knows their windows, marked
//! `probe`, before any request; the endpoints saw the right credentials and headers; a
//! 429 with `retry-after: 0` holds the next probe for five minutes; a failing probe
//! leaves its account `ok`; `[probes] enabled = false` sends nothing.
//!
//! The schedule runs on keypool's clock, so the tests that need a second probe drive a
//! [`Prober`] round by round on a manual clock instead of waiting minutes.

use crate::support;
use support::fake::usage::{
    ANTHROPIC_5H_PERCENT, CHATGPT_5H_PERCENT, CHATGPT_7D_PERCENT, CODE_ASSIST_PRO_LEFT,
};
use support::guard::Within;
use support::keypool::{status_json, Harness};
use support::oauth::usage::{PREMIUM_ENTITLEMENT, PREMIUM_REMAINING};
use support::scenario::Scenario;
use support::{every_host, Behaviour, Flavor, Grant, Identity};

use keypool::clock::ManualClock;
use keypool::probes::Prober;
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

const HOUR: Duration = Duration::from_secs(3600);
const USAGE_PATHS: [&str; 3] = [
    "/api/oauth/usage",
    "/backend-api/wham/usage",
    "/v1internal:retrieveUserQuota",
];

async fn world(config: &str) -> Scenario {
    let clock = Arc::new(ManualClock::new(SystemTime::now()));
    let s = Scenario::new().provider(&every_host()).await;
    s.oauth().await.clock(clock).config(config)
}

/// A Claude, a ChatGPT, a Copilot and a Code Assist login, stored; returns the
/// identities and the Claude and GitHub grants.
fn four_logins(s: &mut Scenario) -> [(Identity, Grant); 4] {
    let oauth = s.oauth_server();
    let claude = oauth.identity(Flavor::Anthropic, "max");
    let chatgpt = oauth.identity(Flavor::Codex, "pro");
    let github = oauth.github_identity("seat", "github.com");
    let google = oauth.identity(Flavor::Google, "paid");
    let gh = oauth.grant(&github);
    let g1 = s.stored_login("max", "anthropic", &claude, HOUR);
    let g2 = s.stored_login("pro", "openai-codex", &chatgpt, HOUR);
    let entry = json!({"provider": "github-copilot", "refresh_token": gh.refresh});
    s.stored_entry("seat", "github-copilot", entry);
    let g4 = s.stored_login("paid", "google-gemini-cli", &google, HOUR);
    [(claude, g1), (chatgpt, g2), (github, gh), (google, g4)]
}

fn account<'a>(status: &'a Value, name: &str) -> &'a Value {
    status["pools"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["accounts"].as_array().unwrap())
        .find(|a| a["name"] == name)
        .unwrap_or_else(|| panic!("no account {name} in {status}"))
}

fn window<'a>(status: &'a Value, name: &str, window: &str, scope: Option<&str>) -> &'a Value {
    let a = account(status, name);
    a["windows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["name"] == window && w["scope"].as_str() == scope)
        .unwrap_or_else(|| panic!("no window {window} {scope:?} of {name} in {a}"))
}

fn probed_windows(status: &Value, name: &str) -> usize {
    let windows = account(status, name)["windows"].as_array().unwrap();
    windows.iter().filter(|w| w["source"] == "probe").count()
}

/// The status once `done` holds of it; polled, bounded by the guard's wait.
async fn status_when(addr: SocketAddr, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    async {
        loop {
            let s = status_json(addr).await;
            if done(&s) {
                return s;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    .within(what)
    .await
}

fn close(v: &Value, expected: f64) -> bool {
    v.as_f64().is_some_and(|f| (f - expected).abs() < 1e-9)
}

#[tokio::test]
async fn every_subscription_is_probed_at_start_and_status_shows_the_windows_as_probed() {
    let mut s = world("[probes]\nenabled = true\n").await;
    let [claude, chatgpt, github, google] = four_logins(&mut s);
    let kp = s.start().await;
    let status = status_when(kp.addr(), "a probed window on each account", |st| {
        ["max", "pro", "seat", "paid"]
            .iter()
            .all(|a| probed_windows(st, a) > 0)
    })
    .await;

    let five = window(&status, "max", "5h", None);
    assert!(
        close(&five["utilization"], ANTHROPIC_5H_PERCENT / 100.0),
        "{five}"
    );
    assert_eq!(five["source"], "probe");
    assert_eq!(five["age_secs"], 0, "learned on keypool's clock");
    let week = window(&status, "pro", "7d", None);
    assert!(
        close(&week["utilization"], CHATGPT_7D_PERCENT as f64 / 100.0),
        "{week}"
    );
    let five = window(&status, "pro", "5h", None);
    assert!(
        close(&five["utilization"], CHATGPT_5H_PERCENT as f64 / 100.0),
        "{five}"
    );
    window(&status, "pro", "7d", Some("code_review"));
    let premium = window(&status, "seat", "premium_interactions", None);
    assert_eq!(premium["limit"], PREMIUM_ENTITLEMENT);
    assert_eq!(premium["remaining"], PREMIUM_REMAINING);
    let used = 1.0 - PREMIUM_REMAINING as f64 / PREMIUM_ENTITLEMENT as f64;
    assert!(close(&premium["utilization"], used), "{premium}");
    assert_eq!(
        account(&status, "seat")["windows"]
            .as_array()
            .unwrap()
            .len(),
        1,
        "unlimited chat and completions are no windows"
    );
    let pro = window(&status, "paid", "1d", Some("gemini-2.5-pro"));
    assert!(
        close(&pro["utilization"], 1.0 - CODE_ASSIST_PRO_LEFT),
        "{pro}"
    );
    for a in ["max", "pro", "seat", "paid"] {
        let a = account(&status, a);
        assert_eq!(a["state"], "ok", "{a}");
        assert_eq!(a["requests"], 0, "no request was needed: {a}");
    }

    // What each endpoint was sent.
    let seen = s.fake().seen();
    let usage = |path: &str| {
        let hits: Vec<_> = seen.iter().filter(|r| r.path == path).collect();
        assert_eq!(hits.len(), 1, "one probe of {path}");
        hits[0].clone()
    };
    let r = usage("/api/oauth/usage");
    assert_eq!(r.method, "GET");
    assert_eq!(r.credential.as_deref(), Some(claude.1.access.as_str()));
    let beta = r.headers["anthropic-beta"].to_str().unwrap();
    assert!(
        beta.split(',').any(|b| b.trim() == "oauth-2025-04-20"),
        "{beta}"
    );
    let r = usage("/backend-api/wham/usage");
    assert_eq!(r.credential.as_deref(), Some(chatgpt.1.access.as_str()));
    assert_eq!(
        r.headers["chatgpt-account-id"],
        chatgpt.0.account_id.as_str()
    );
    let r = usage("/v1internal:retrieveUserQuota");
    assert_eq!(r.method, "POST");
    let body: Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(body, json!({"project": google.0.project.clone().unwrap()}));
    let copilot: Vec<_> = (s.oauth_server().requests().into_iter())
        .filter(|r| r.path == "/copilot_internal/user")
        .collect();
    assert_eq!(copilot.len(), 1, "one Copilot probe");
    assert_eq!(copilot[0].host, "api.github.com");
    assert_eq!(
        copilot[0].headers["authorization"].to_str().unwrap(),
        format!("token {}", github.1.refresh),
        "the GitHub token, with GitHub's scheme"
    );
    assert_eq!(
        s.oauth_server().copilot_exchanges(),
        0,
        "the probe needs no Copilot token"
    );
    assert_eq!(
        s.oauth_server().token_calls(Flavor::Anthropic),
        0,
        "no refresh to probe"
    );

    // The age counts on keypool's clock; an answer's headers then take over the window.
    s.manual_clock().advance(Duration::from_secs(90));
    let later = status_json(kp.addr()).await;
    assert_eq!(window(&later, "max", "5h", None)["age_secs"], 90);
    assert_eq!(codex_request(&kp).await.status(), 200);
    let after = status_json(kp.addr()).await;
    let week = window(&after, "pro", "7d", None);
    assert_eq!(week["source"], "headers", "{week}");
    assert_eq!(week["age_secs"], 0);
    let weeks = account(&after, "pro")["windows"].as_array().unwrap().iter();
    assert_eq!(
        weeks
            .filter(|w| w["name"] == "7d" && w["scope"].is_null())
            .count(),
        1,
        "one window, whichever source spoke last"
    );
}

async fn codex_request(kp: &Harness) -> reqwest::Response {
    kp.client()
        .post("https://chatgpt.com/backend-api/codex/responses")
        .bearer_auth("client-own-chatgpt-token")
        .header("content-type", "application/json")
        .body(json!({"model": "gpt-5-codex", "instructions": "", "input": [], "stream": true, "store": false}).to_string())
        .send()
        .within("the answer to a Codex request through keypool")
        .await
        .unwrap()
}

fn usage_probes(s: &Scenario, path: &str) -> usize {
    s.fake().seen().iter().filter(|r| r.path == path).count()
}

#[tokio::test]
async fn a_429_with_retry_after_zero_holds_the_next_probe_for_five_minutes() {
    // The proxy's own probes are off: this test's prober is the only one asking.
    let mut s = world("").await;
    let id = s.oauth_server().identity(Flavor::Anthropic, "max");
    let g = s.stored_login("max", "anthropic", &id, 2 * HOUR);
    s.fake().set(
        &g.access,
        Behaviour::Verbatim {
            status: 429,
            headers: vec![
                ("content-type".into(), "application/json".into()),
                ("retry-after".into(), "0".into()),
            ],
            body: r#"{"error":{"message":"Rate limited. Please try again later.","type":"rate_limit_error"}}"#.into(),
        },
    );
    let kp = s.start().await;
    let clock = s.manual_clock();
    let prober = Prober::default();
    let round = prober.round(kp.state()).within("a probe round").await;
    assert_eq!((round.sent, round.failed), (1, 1));
    assert_eq!(usage_probes(&s, "/api/oauth/usage"), 1);
    let now = keypool::clock::Clock::now(clock);
    assert_eq!(
        prober.next("anthropic", "max"),
        Some(now + Duration::from_secs(300))
    );

    clock.advance(Duration::from_secs(299));
    let round = prober.round(kp.state()).within("a probe round").await;
    assert_eq!(round.sent, 0, "still backing off");
    assert_eq!(usage_probes(&s, "/api/oauth/usage"), 1);
    clock.advance(Duration::from_secs(1));
    let round = prober.round(kp.state()).within("a probe round").await;
    assert_eq!(round.sent, 1, "five minutes on");
    assert_eq!(usage_probes(&s, "/api/oauth/usage"), 2);

    let status = status_json(kp.addr()).await;
    let a = account(&status, "max");
    assert_eq!(
        a["state"], "ok",
        "a 429 to a probe never cools the account: {a}"
    );
    assert_eq!(a["last_error"], Value::Null, "{a}");
}

#[tokio::test]
async fn an_answering_endpoint_is_asked_at_most_once_a_minute() {
    let mut s = world("").await;
    let id = s.oauth_server().identity(Flavor::Anthropic, "max");
    s.stored_login("max", "anthropic", &id, 2 * HOUR);
    let kp = s.start().await;
    let prober = Prober::default();
    for (advance, sent) in [(0, 1), (30, 0), (29, 0), (1, 1)] {
        s.manual_clock().advance(Duration::from_secs(advance));
        let round = prober.round(kp.state()).within("a probe round").await;
        assert_eq!(round.sent, sent, "{advance}s on");
    }
    assert_eq!(usage_probes(&s, "/api/oauth/usage"), 2);
}

/// A 403 (a token without `user:profile`), a 500 and a body that is not JSON: each
/// probe fails, and each account stays `ok` with nothing learned and no error recorded.
#[tokio::test]
async fn a_failing_probe_leaves_the_account_ok() {
    let mut s = world("").await;
    let oauth = s.oauth_server();
    let claude = oauth.identity(Flavor::Anthropic, "setup");
    let chatgpt = oauth.identity(Flavor::Codex, "broken");
    let google = oauth.identity(Flavor::Google, "garbled");
    let g1 = s.stored_login("setup", "anthropic", &claude, HOUR);
    let g2 = s.stored_login("broken", "openai-codex", &chatgpt, HOUR);
    // With its project known, so the garbled answer is the quota's, not the discovery's.
    let g3 = s.oauth_server().grant(&google);
    let entry = json!({"provider": "google-gemini-cli", "access_token": g3.access,
        "refresh_token": g3.refresh, "expires_at": s.ms_from_now(HOUR),
        "email": google.email, "project": google.project});
    s.stored_entry("garbled", "google-gemini-cli", entry);
    let verbatim = |status: u16, body: &str| Behaviour::Verbatim {
        status,
        headers: vec![("content-type".into(), "application/json".into())],
        body: body.into(),
    };
    let fake = s.fake();
    fake.set(&g1.access, verbatim(403, r#"{"type":"error","error":{"type":"permission_error","message":"OAuth token does not meet scope requirement user:profile"}}"#));
    fake.set(
        &g2.access,
        verbatim(500, r#"{"detail":"Internal Server Error"}"#),
    );
    fake.set(&g3.access, verbatim(200, "<html>not json</html>"));
    let kp = s.start().await;

    let round = Prober::default()
        .round(kp.state())
        .within("a probe round")
        .await;
    assert_eq!((round.sent, round.failed, round.learned), (3, 3, 0));
    for path in USAGE_PATHS {
        assert_eq!(usage_probes(&s, path), 1, "{path} was asked");
    }
    let status = status_json(kp.addr()).await;
    for name in ["setup", "broken", "garbled"] {
        let a = account(&status, name);
        assert_eq!(a["state"], "ok", "{a}");
        assert_eq!(a["detail"], "", "{a}");
        assert_eq!(a["last_error"], Value::Null, "{a}");
        assert_eq!(a["windows"], json!([]), "{a}");
    }
}

#[tokio::test]
async fn probes_disabled_send_nothing() {
    let mut s = world("[probes]\nenabled = false\nevery = \"1m\"\n").await;
    four_logins(&mut s);
    let kp = s.start().await;
    let config = keypool::config::ProbesConfig {
        enabled: false,
        every: Duration::from_secs(60),
    };
    assert!(
        keypool::probes::spawn(kp.state().clone(), &config).is_none(),
        "no probe task at all"
    );
    // keypool is up and learns from answers as ever, marked as such.
    assert_eq!(codex_request(&kp).await.status(), 200);
    let status = status_json(kp.addr()).await;
    let week = window(&status, "pro", "7d", None);
    assert_eq!(week["source"], "headers", "{week}");
    for path in USAGE_PATHS {
        assert_eq!(usage_probes(&s, path), 0, "{path} was not asked");
    }
    let copilot = (s.oauth_server().requests().into_iter())
        .filter(|r| r.path == "/copilot_internal/user")
        .count();
    assert_eq!(copilot, 0);
    for a in ["max", "seat", "paid"] {
        assert_eq!(probed_windows(&status, a), 0);
    }
}

/// The real binary probes at start; a failing probe is one info line naming the account
/// and what failed, and no token reaches the log even at trace.
#[tokio::test(flavor = "multi_thread")]
async fn the_binary_probes_at_start_and_logs_a_failure_once_without_secrets() {
    let mut s = Scenario::new().provider(&every_host()).await.oauth().await;
    s.push_config("[probes]\nenabled = true\n");
    let logins = four_logins(&mut s);
    let claude_access = logins[0].1.access.clone();
    s.fake().set(
        &claude_access,
        Behaviour::Verbatim {
            status: 403,
            headers: vec![("content-type".into(), "application/json".into())],
            body: r#"{"type":"error","error":{"type":"permission_error","message":"OAuth token does not meet scope requirement user:profile"}}"#.into(),
        },
    );
    let mut served = s
        .spawn_with(|c, _| {
            c.env("KEYPOOL_LOG", "trace");
        })
        .await;
    let addr = served.addr();
    status_when(addr, "probed windows on the answering accounts", |st| {
        ["pro", "seat", "paid"]
            .iter()
            .all(|a| probed_windows(st, a) > 0)
    })
    .await;
    let seen_claude = || usage_probes(&s, "/api/oauth/usage") == 1;
    async {
        while !seen_claude() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    .within("the Anthropic probe")
    .await;
    // The fake counts the probe when it arrives; keypool logs its failure only after the
    // answer is back, so stopping now could lose the line.
    tokio::task::block_in_place(|| served.served.line_with("quota probe failed"));
    let status = status_json(addr).await;
    assert_eq!(account(&status, "max")["state"], "ok");
    let (code, log) = served.stop().await;
    assert_eq!(code, Some(0));

    let failed: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("quota probe failed"))
        .collect();
    assert_eq!(failed.len(), 1, "one line for the one failure: {failed:?}");
    assert!(failed[0].contains("INFO"), "{}", failed[0]);
    assert!(
        failed[0].contains("max") && failed[0].contains("403"),
        "{}",
        failed[0]
    );
    let mut secrets = support::logs::Secrets::default();
    for (label, (_, g)) in ["claude", "chatgpt", "github", "google"]
        .iter()
        .zip(&logins)
    {
        secrets.add(&format!("{label}'s login token"), &g.refresh);
        secrets.add(&format!("{label}'s access token"), &g.access);
    }
    for t in s.fake().credentials_seen() {
        secrets.add("a token keypool sent upstream", &t);
    }
    secrets.assert_absent_from("keypool serve's log at trace", &log);
}

/// A probe whose endpoint accepts the connection and then says nothing does not hold the
/// shutdown: the probe stops with the proxy, long before its own deadline.
#[tokio::test]
async fn probes_stop_at_shutdown() {
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = silent.local_addr().unwrap().port();
    let (accepted, mut arrived) = tokio::sync::mpsc::channel(4);
    let holder = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            held.push(socket); // never read, never answered
            let _ = accepted.send(()).await;
        }
    });
    let mut s = world("[probes]\nenabled = true\n")
        .await
        .connect_to([format!("chatgpt.com:443:127.0.0.1:{port}")]);
    let id = s.oauth_server().identity(Flavor::Codex, "pro");
    s.stored_login("pro", "openai-codex", &id, HOUR);
    let kp = s.start().await;
    arrived
        .recv()
        .within("the probe connecting to the silent endpoint")
        .await
        .unwrap();
    kp.shutdown_keeping_home()
        .within_for(
            Duration::from_secs(10),
            "keypool stopping with a probe in flight",
        )
        .await;
    holder.abort();
}
