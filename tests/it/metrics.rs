//! `GET /metrics`: what the pipeline did, as Prometheus families, checked by a real
//! exposition parser (Python's `prometheus_client`, strict for OpenMetrics); metrics
//! turned off; and the admin access rules in front of the page.

use crate::support;
use support::scenario::Scenario;

use serde_json::{json, Value};
use std::net::SocketAddr;
use std::process::Stdio;
use support::guard::Within;
use support::raw_client::{basic, exchange, Answer};
use tokio::io::AsyncWriteExt;

/// Parses stdin with `prometheus_client`'s parser (`openmetrics` or the classic 0.0.4
/// one) and prints every sample as JSON: `[{family, type, name, labels, value}]`.
const PARSE: &str = r#"
import json, math, sys
kind = sys.argv[1]
if kind == "openmetrics":
    from prometheus_client.openmetrics.parser import text_string_to_metric_families
else:
    from prometheus_client.parser import text_string_to_metric_families
out = []
for f in text_string_to_metric_families(sys.stdin.read()):
    for s in f.samples:
        v = s.value
        out.append({"family": f.name, "type": f.type, "name": s.name,
                    "labels": s.labels, "value": v if math.isfinite(v) else str(v)})
print(json.dumps(out))
"#;

/// The samples of `text` as the real parser reads them; panics with its error.
async fn parse(text: &str, kind: &str) -> Vec<Value> {
    let mut child = tokio::process::Command::new("python3")
        .args(["-c", PARSE, kind])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("python3 runs (the CI installs prometheus-client for it)");
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(text.as_bytes()).await.unwrap();
    drop(stdin);
    let out = child
        .wait_with_output()
        .within("the exposition parser")
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "the {kind} parser refused the exposition: {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice::<Value>(&out.stdout)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

/// The value of the sample `name` whose labels include all of `labels`.
fn value(samples: &[Value], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    samples
        .iter()
        .find(|s| s["name"] == name && labels.iter().all(|(k, v)| s["labels"][*k] == *v))
        .and_then(|s| s["value"].as_f64())
}

async fn scrape(addr: SocketAddr, accept: Option<&str>) -> reqwest::Response {
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let mut req = client.get(format!("http://{addr}/metrics"));
    if let Some(a) = accept {
        req = req.header("accept", a);
    }
    req.send()
        .within("keypool's answer to GET /metrics")
        .await
        .unwrap()
}

async fn chat(client: &reqwest::Client) {
    let r = client
        .post("https://api.openai.com/v1/chat/completions")
        .bearer_auth("sk-placeholder")
        .json(&json!({"model": "gpt-4o", "messages": []}))
        .send()
        .within("the answer to a chat request")
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    r.bytes().within("the chat answer's body").await.unwrap();
}

#[tokio::test]
async fn metrics_show_requests_rotations_and_cooling_to_a_strict_parser() {
    let mut s = Scenario::new()
        .provider(&["api.openai.com"])
        .await
        .limited("sk-limited", 120)
        .ok(&["sk-good"])
        .keys("openai", &[("a", "sk-limited"), ("b", "sk-good")])
        .pool("openai", "openai", &["a", "b"], "strategy = \"priority\"\n");
    let kp = s.start().await.kp;
    // One client for all three: its intercepted tunnel is still open at the scrape.
    let client = kp.client();
    for _ in 0..3 {
        chat(&client).await;
    }
    let r = scrape(kp.addr(), None).await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["content-type"],
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    );
    let text = r.text().await.unwrap();
    assert!(
        !text.contains("sk-limited") && !text.contains("sk-good"),
        "{text}"
    );
    let m = parse(&text, "openmetrics").await;

    let pool = [("provider", "openai"), ("pool", "openai")];
    let served_b = [pool[0], pool[1], ("account", "b"), ("status_class", "2xx")];
    assert_eq!(
        value(&m, "keypool_requests_total", &served_b),
        Some(3.0),
        "{text}"
    );
    let a = ("account", "a");
    assert_eq!(
        value(&m, "keypool_requests_total", &[a]),
        None,
        "a served nothing"
    );
    let rotated = [pool[0], pool[1], ("reason", "rate_limited")];
    assert_eq!(
        value(&m, "keypool_rotations_total", &rotated),
        Some(1.0),
        "{text}"
    );
    let refused = [a, ("result", "rate_limited")];
    assert_eq!(
        value(&m, "keypool_upstream_attempts_total", &refused),
        Some(1.0)
    );
    let ok = [("account", "b"), ("result", "ok")];
    assert_eq!(value(&m, "keypool_upstream_attempts_total", &ok), Some(3.0));
    let cooling = value(
        &m,
        "keypool_account_cooling_seconds",
        &[("pool", "openai"), a],
    );
    assert!(
        cooling.is_some_and(|c| c > 0.0 && c <= 120.0),
        "{cooling:?}\n{text}"
    );
    let b = [("pool", "openai"), ("account", "b")];
    assert_eq!(value(&m, "keypool_account_cooling_seconds", &b), Some(0.0));
    assert_eq!(value(&m, "keypool_account_disabled", &b), Some(0.0));
    // This scrape's own connection is open.
    assert!(value(&m, "keypool_open_connections", &[]).is_some_and(|n| n >= 1.0));
    assert_eq!(
        value(&m, "keypool_request_duration_seconds_count", &pool),
        Some(3.0)
    );
    assert!(value(&m, "keypool_open_intercepted", &[]).is_some_and(|n| n >= 1.0));
    // The answers went through an intercepted tunnel, whose leaf is cached.
    assert!(value(&m, "keypool_leaf_cache_entries", &[]).is_some_and(|n| n >= 1.0));
    let version = [("version", env!("CARGO_PKG_VERSION"))];
    assert_eq!(value(&m, "keypool_build_info", &version), Some(1.0));
    assert_eq!(value(&m, "keypool_ledger_dropped_total", &[]), Some(0.0));

    // A scraper asking only for the classic format gets it, and its parser agrees.
    let r = scrape(kp.addr(), Some("text/plain;version=0.0.4;q=1,*/*;q=0.1")).await;
    assert_eq!(
        r.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let classic = parse(&r.text().await.unwrap(), "classic").await;
    assert_eq!(
        value(&classic, "keypool_requests_total", &served_b),
        Some(3.0)
    );
    kp.proxy.shutdown().within("keypool draining").await;
}

#[tokio::test]
async fn metrics_turned_off_answer_404_with_the_fix() {
    let mut s = Scenario::new()
        .provider(&["api.openai.com"])
        .await
        .ok(&["sk-good"])
        .keys("openai", &[("b", "sk-good")])
        .config("[metrics]\nenabled = false\n");
    let kp = s.start().await.kp;
    chat(&kp.client()).await;
    let r = scrape(kp.addr(), None).await;
    assert_eq!(r.status(), 404);
    let body = r.text().await.unwrap();
    assert!(
        body.contains("[metrics]") && body.contains("fix:"),
        "{body}"
    );
    kp.proxy.shutdown().within("keypool draining").await;
}

const WITH_PASSWORD: &str =
    "[[accounts]]\nname = \"a\"\nprovider = \"openai\"\napi_key = \"sk-a\"\n\
                             [clients.ci]\npools = [\"openai\"]\npassword = \"ci-secret\"\n";

async fn ask(addr: SocketAddr, headers: &str) -> Answer {
    let req =
        format!("GET /metrics HTTP/1.1\r\n{headers}Content-Length: 0\r\nConnection: close\r\n\r\n");
    exchange(addr, req.as_bytes()).await
}

#[tokio::test]
async fn metrics_follow_the_admin_access_rules() {
    let mut s = Scenario::new()
        .provider(&["api.openai.com"])
        .await
        .config(WITH_PASSWORD);
    let kp = s.start().await;
    let addr = kp.addr();
    let own = format!("Host: 127.0.0.1:{}\r\n", addr.port());
    let login = format!("Authorization: {}\r\n", basic("ci:ci-secret"));
    for (what, headers, want) in [
        ("no password", own.clone(), 401),
        (
            "wrong password",
            format!("{own}Authorization: {}\r\n", basic("ci:no")),
            401,
        ),
        (
            "rebinding host",
            format!("Host: evil.example:{}\r\n{login}", addr.port()),
            403,
        ),
        (
            "cross-site",
            format!("{own}{login}Origin: https://evil.example\r\n"),
            403,
        ),
        ("password", format!("{own}{login}"), 200),
    ] {
        let a = ask(addr, &headers).await;
        assert_eq!(a.status, want, "{what}: {}", a.body);
        if want == 200 {
            assert!(a.body.contains("keypool_build_info"), "{}", a.body);
        } else {
            assert!(!a.body.contains("keypool_"), "{what}: {}", a.body);
        }
    }
}

#[tokio::test]
async fn metrics_count_token_refreshes_and_show_the_disabled_login() {
    use crate::oauth::{claude_message, world};
    use support::Flavor;
    let mut w = world().await;
    let mut grants = Vec::new();
    for n in ["a", "b"] {
        let id = w.oauth_server().identity(Flavor::Anthropic, n);
        grants.push(w.stored_login(n, "anthropic", &id, std::time::Duration::from_secs(60)));
    }
    // Another program redeemed a's refresh token first: its refresh is refused for good.
    w.oauth_server()
        .use_refresh(Flavor::Anthropic, &grants[0].refresh)
        .unwrap();
    let kp = w.start().await;
    for _ in 0..2 {
        let r = claude_message(&kp).await;
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["x-keypool-account"], "b");
    }
    let text = scrape(kp.addr(), None).await.text().await.unwrap();
    for g in &grants {
        assert!(
            !text.contains(&g.refresh) && !text.contains(&g.access),
            "{text}"
        );
    }
    let m = parse(&text, "openmetrics").await;
    let refreshes = |result: &str| {
        let l = [("provider", "anthropic"), ("result", result)];
        value(&m, "keypool_oauth_refreshes_total", &l)
    };
    assert_eq!(refreshes("refused"), Some(1.0), "{text}");
    assert_eq!(refreshes("ok"), Some(1.0), "{text}");
    let disabled = |account: &str| {
        let l = [("pool", "anthropic"), ("account", account)];
        value(&m, "keypool_account_disabled", &l)
    };
    assert_eq!(disabled("a"), Some(1.0), "{text}");
    assert_eq!(disabled("b"), Some(0.0), "{text}");
}
