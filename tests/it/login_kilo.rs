//! Kilo Code's gateway: `keypool login kilo` against a fake api.kilo.ai over real TLS (its
//! device codes, polled by `GET` until approved, with 202 for pending and 429 to back off,
//! on the one device loop and its pace), and the token it stores serving requests through
//! keypool with Kilo's editor headers and the account's organization, never the client's
//! key.

use crate::login::{blocks, stored_block, stored_secrets};
use crate::support;

use serde_json::json;
use std::time::Duration;
use support::guard::Within;
use support::kilo_cline::{FakeKiloCline, KiloPoll, KILO_CODE, KILO_EMAIL};
use support::login::Machine;
use support::scenario::Scenario;

/// One protocol second lasts this many milliseconds in these tests.
const SECOND_MS: u64 = 20;
const FAST: [(&str, &str); 1] = [("KEYPOOL_TEST_DEVICE_SECOND_MS", "20")];
const CLIENT_KEY: &str = "client-own-kilo-key-93f1";

#[tokio::test(flavor = "multi_thread")]
async fn kilo_device_login_waits_out_pending_and_a_429_then_stores_the_token() {
    let ca = support::TestCa::new();
    let fake = FakeKiloCline::start(&ca).await;
    let m = Machine::new(&ca);
    fake.kilo_script(&[
        KiloPoll::Pending,
        KiloPoll::Pending,
        KiloPoll::TooMany { retry_after: 9 },
    ]);
    let mut login = m.login_via(&fake.connect_to(), &["kilo"], "true", "debug", &FAST);
    let shown = login
        .read_until(|l| l.starts_with("Open ").then(|| l.to_string()))
        .await;
    assert_eq!(
        shown,
        format!(
            "Open https://app.kilo.ai/device-auth?code={KILO_CODE} in a browser and enter \
            the code {KILO_CODE}"
        )
    );
    let ended = login.end().await;
    assert_eq!(ended.code, Some(0), "{}", ended.output());
    assert!(
        ended.stdout.contains(&format!(
            "Logged in as {KILO_EMAIL}; added account 'kilo-dev'"
        )),
        "{}",
        ended.output()
    );

    let seen = fake.seen();
    let start = &seen[0];
    assert_eq!(
        (start.method.as_str(), start.path.as_str()),
        ("POST", "/api/device-auth/codes")
    );
    let polls: Vec<_> = seen.iter().filter(|r| r.method == "GET").collect();
    assert_eq!(polls.len(), 4, "pending, pending, 429, approved");
    assert!(polls
        .iter()
        .all(|p| p.path == format!("/api/device-auth/codes/{KILO_CODE}")));
    let gaps: Vec<Duration> = polls.windows(2).map(|w| w[1].at - w[0].at).collect();
    let ms = Duration::from_millis;
    assert!(
        gaps[0] >= ms(5 * SECOND_MS) && gaps[1] >= ms(5 * SECOND_MS),
        "Kilo names no interval: five seconds: {gaps:?}"
    );
    assert!(
        gaps[2] >= ms(9 * SECOND_MS),
        "the 429's Retry-After sets the pace: {gaps:?}"
    );

    let accounts = m.credentials();
    let entry = &accounts["kilo-dev"];
    assert_eq!(entry["provider"], "kilo");
    assert!(entry["access_token"]
        .as_str()
        .is_some_and(|t| t.starts_with("eyJ-kilo-device-token-")));
    assert!(
        entry.get("refresh_token").is_none_or(|r| r.is_null()),
        "{entry}"
    );
    assert_eq!(blocks(&m.config()), [stored_block("kilo-dev", "kilo")]);
    ended.assert_no_secret(&stored_secrets(&accounts));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_denied_or_expired_kilo_code_ends_the_login_clearly() {
    for (answer, words) in [
        (KiloPoll::Denied, "cancelled in the browser"),
        (KiloPoll::Expired, "the code expired before it was entered"),
    ] {
        let ca = support::TestCa::new();
        let fake = FakeKiloCline::start(&ca).await;
        let m = Machine::new(&ca);
        fake.kilo_script(&[KiloPoll::Pending, answer]);
        let ended = m
            .login_via(&fake.connect_to(), &["kilo"], "true", "debug", &FAST)
            .end()
            .await;
        assert_eq!(ended.code, Some(1), "{answer:?}: {}", ended.output());
        assert!(
            ended.stderr.contains(words),
            "{answer:?}: {}",
            ended.output()
        );
        let polls = fake.seen().iter().filter(|r| r.method == "GET").count();
        assert_eq!(polls, 2, "{answer:?}: no poll after the end");
        assert!(!m.config().contains("kilo"), "{answer:?}: no account added");
    }
}

/// The logged-in token, stored as keypool's login leaves it, serves a gateway request.
fn with_kilo_login(s: Scenario, token: &str, organization: Option<&str>) -> Scenario {
    let entry = json!({"provider": "kilo", "access_token": token});
    let file = json!({"version": 1, "accounts": {"kilo-team": entry}});
    s.home_file("credentials.json", &file.to_string());
    let org = organization.map_or(String::new(), |o| format!("organization_id = \"{o}\"\n"));
    s.config(&format!(
        "[[accounts]]\nname = \"kilo-team\"\nprovider = \"kilo\"\noauth = \"stored\"\n{org}"
    ))
}

#[tokio::test(flavor = "multi_thread")]
async fn the_kilo_token_serves_with_the_editor_headers_and_never_the_clients_key() {
    let s = Scenario::new();
    let fake = FakeKiloCline::start(&s.ca).await;
    let token = "eyJ-kilo-long-lived-key-1";
    fake.kilo_token(token);
    let mut s = with_kilo_login(s.upstream(fake.addr()), token, Some("org-4411"));
    let kp = s.start().await;
    let body = json!({"model": "anthropic/claude-sonnet-4", "messages": [{"role": "user", "content": "hi"}]});
    for (path, editor) in [
        ("/api/gateway/chat/completions", None),
        ("/api/openrouter/chat/completions", Some("Kilo CLI")),
    ] {
        let mut req = kp
            .client()
            .post(format!("https://api.kilo.ai{path}"))
            .bearer_auth(CLIENT_KEY)
            .header("x-kilocode-organizationid", "client-org")
            .json(&body);
        if let Some(e) = editor {
            req = req.header("x-kilocode-editorname", e);
        }
        let r = req.send().within(path).await.unwrap();
        assert_eq!(r.status(), 200, "{path}");
        assert_eq!(r.headers()["x-keypool-account"], "kilo-team", "{path}");
        let seen = fake.seen();
        let up = seen.last().unwrap();
        assert_eq!(up.path, path);
        let h = &up.headers;
        assert_eq!(h["authorization"], format!("Bearer {token}"), "{path}");
        assert_eq!(
            h["x-kilocode-editorname"],
            editor.unwrap_or("keypool"),
            "{path}"
        );
        assert_eq!(h["x-kilocode-version"], env!("CARGO_PKG_VERSION"), "{path}");
        assert_eq!(h["http-referer"], "https://kilocode.ai", "{path}");
        assert_eq!(h["x-title"], "Kilo Code", "{path}");
        assert_eq!(
            h["x-kilocode-organizationid"], "org-4411",
            "{path}: the account's"
        );
        for (name, value) in h {
            let value = String::from_utf8_lossy(value.as_bytes());
            assert!(
                !value.contains(CLIENT_KEY),
                "{path}: the client's key in {name}"
            );
        }
    }
    // The profile and device endpoints are not the gateway: the client's own key.
    let r = kp
        .client()
        .get("https://api.kilo.ai/api/profile")
        .bearer_auth(CLIENT_KEY)
        .send()
        .within("profile")
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let seen = fake.seen();
    assert_eq!(
        seen.last().unwrap().headers["authorization"],
        format!("Bearer {CLIENT_KEY}")
    );
}

#[test]
fn an_organization_id_is_refused_where_the_provider_has_none_or_it_is_no_id() {
    let load = |toml: &str| {
        keypool::config::Config::parse(toml, std::path::Path::new("config.toml"))
            .map(drop)
            .unwrap_err()
            .to_string()
    };
    let err = load(
        "[[accounts]]\nname = \"o\"\nprovider = \"openai\"\napi_key = \"sk-x\"\n\
         organization_id = \"org-1\"\n",
    );
    assert!(
        err.contains("provider 'openai' does not use organization_id"),
        "{err}"
    );
    let err = load(
        "[[accounts]]\nname = \"k\"\nprovider = \"kilo\"\noauth = \"stored\"\n\
         organization_id = \"org 1; evil\"\n",
    );
    assert!(
        err.contains("not an organization id") && err.contains("app.kilo.ai"),
        "{err}"
    );
}

/// `KILO_API_KEY` (Kilo's CLI reads its gateway key there) imports as an `env:` reference.
#[test]
fn a_kilo_key_in_the_environment_imports_as_a_reference() {
    let m = crate::import::Machine::new();
    let r = m.run(
        &["accounts", "import", "env"],
        &[("KILO_API_KEY", "SECRET-kilo-key")],
    );
    assert_eq!(r.code, Some(0), "{}", r.stdout);
    assert!(
        r.stdout
            .contains("env: kilo api key from $KILO_API_KEY: added as 'env-kilo'"),
        "{}",
        r.stdout
    );
    assert_eq!(
        blocks(&m.config()),
        ["name = \"env-kilo\"\nprovider = \"kilo\"\napi_key = \"env:KILO_API_KEY\""]
    );
    assert!(
        !m.config().contains("SECRET-kilo-key"),
        "a reference, never a copy"
    );
}
