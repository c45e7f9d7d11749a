//! `GET /` in a real headless Chromium is the live dashboard: it shows the running
//! proxy's accounts, follows one cooling down without a reload, and loads nothing from
//! anywhere but keypool. curl and scripts keep their answers at `/`.

use crate::support;

use serde_json::Value;
use std::time::{SystemTime, UNIX_EPOCH};
use support::browser::Browser;
use support::guard::{Within, CLIENT_TIMEOUT};
use support::keypool::openai_chat;
use support::scenario::Scenario;
use support::{account_of, Behaviour};

const CSP: &str = "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'";

/// Two API-key accounts, `a` tried first (priority), both answered normally.
async fn two_accounts() -> Scenario {
    Scenario::new()
        .provider(&["api.openai.com"])
        .await
        .ok(&["sk-dash-a", "sk-dash-b"])
        .keys("openai", &[("a", "sk-dash-a"), ("b", "sk-dash-b")])
        .pool("openai", "openai", &["a", "b"], "strategy = \"priority\"\n")
}

/// A script giving the account `name`'s row as shown (state badge, countdown, detail
/// and first window's utilization) when `cond` (an expression on `a`) holds, else null.
fn account_when(name: &str, cond: &str) -> String {
    format!(
        r#"const row = document.querySelector('[data-account="{name}"]');
        if (!row) return null;
        const w = row.querySelector('.window');
        const a = {{state: row.querySelector('.state').textContent,
            countdown: row.querySelector('.countdown').textContent,
            detail: row.querySelector('.detail').textContent,
            utilization: w ? w.dataset.utilization : null}};
        return ({cond}) ? a : null;"#
    )
}

/// A script giving what the page shows of the ledger when `cond` (an expression on `u`)
/// holds, else null: the recent-requests table as the cells' text (time, account, model,
/// status, attempts, tokens in / out, latency, cost), the totals, each account's 7-day
/// sums, and how many of the chart's bars have tokens and a height.
fn usage_when(cond: &str) -> String {
    format!(
        r#"const cells = (tr) => [...tr.cells].map((td) => td.textContent);
        const total = (id) => {{
            const b = document.getElementById(id);
            return {{requests: b.querySelector('.requests').textContent,
                tokens: b.querySelector('.tokens').textContent,
                cost: b.querySelector('.cost').textContent}};
        }};
        const week = {{}};
        for (const row of document.querySelectorAll('[data-account]')) {{
            week[row.dataset.account] =
                row.querySelector('.usage dd[data-period="week"]').textContent;
        }}
        const bars = [...document.querySelectorAll('#chart rect.slice')]
            .filter((r) => Number(r.dataset.tokens) > 0 && Number(r.getAttribute('height')) > 0);
        const u = {{rows: [...document.querySelectorAll('#recent tbody tr')].map(cells),
            today: total('total-today'), week: total('total-week'), accounts: week,
            bars: bars.length,
            placeholder: !document.getElementById('no-recent').hidden}};
        return ({cond}) ? u : null;"#
    )
}

/// The day (UTC) `t` falls on: the page's "today" starts at midnight UTC.
fn utc_day(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).unwrap().as_secs() / 86_400
}

/// Column indexes of the recent-requests table.
const ACCOUNT: usize = 1;
const MODEL: usize = 2;
const STATUS: usize = 3;
const ATTEMPTS: usize = 4;
const TOKENS: usize = 5;
const COST: usize = 7;

/// The two answers of the cooling test as the page shows them from usage.db: the
/// rotated request is one row, billed to `b` after two attempts (the 429 from `a` has no
/// row of its own), and the first is `a`'s. Tokens are the fake's chat usage
/// (support/fake/bodies.rs: 2006 prompt, 300 completion), priced as gpt-4o.
async fn ledger_shown(browser: &Browser, first_day: u64) {
    let u = browser
        .wait_for(
            "the two requests in the recent-requests table",
            &usage_when("u.rows.length >= 2"),
        )
        .await;
    let rows = u["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 2, "one row per request: {u}");
    let cols = |r: &Value, i: usize| r[i].as_str().unwrap().to_string();
    let (rotated, first) = (&rows[0], &rows[1]);
    for (row, account, attempts) in [(rotated, "b", "2"), (first, "a", "1")] {
        let shown = [ACCOUNT, MODEL, STATUS, ATTEMPTS, TOKENS].map(|i| cols(row, i));
        assert_eq!(
            shown,
            [account, "gpt-4o", "200", attempts, "2.0k / 300"],
            "{u}"
        );
        assert!(
            !["—", "$0"].contains(&cols(row, COST).as_str()),
            "gpt-4o has a price: {u}"
        );
    }
    assert_eq!(u["placeholder"], false, "{u}");
    // 2 × 2306 tokens.
    assert_eq!(u["week"]["requests"], "2", "{u}");
    assert_eq!(u["week"]["tokens"], "4.6k", "{u}");
    if utc_day(SystemTime::now()) == first_day {
        assert_eq!(u["today"], u["week"], "{u}");
    }
    for name in ["a", "b"] {
        let sums = u["accounts"][name].as_str().unwrap();
        assert!(sums.starts_with("1 req · 2.3k tok · $"), "{name}: {u}");
    }
    assert!(u["bars"].as_u64().unwrap() >= 1, "no bar in the chart: {u}");
}

#[tokio::test]
async fn the_dashboard_follows_an_account_cooling_down_without_a_reload() {
    let mut s = two_accounts().await;
    let kp = s.start().await.kp;
    let origin = format!("http://{}", kp.addr());
    let browser = Browser::start().await;
    browser
        .client
        .goto(&format!("{origin}/"))
        .within("Chromium loading the dashboard")
        .await
        .unwrap();
    for n in ["a", "b"] {
        let ok = account_when(n, "a.state === 'ok'");
        browser
            .wait_for(&format!("account {n} shown ok"), &ok)
            .await;
    }
    // A mark that a reload would wipe.
    let mark = "window.keypoolTestMark = 'same page'; return null;";
    browser.js(mark).await;

    // One answer from `a` teaches keypool its request window (1 of 500 used).
    let first_day = utc_day(SystemTime::now());
    let r = openai_chat(&kp.client()).await;
    assert_eq!((r.status().as_u16(), account_of(&r)), (200, "a".into()));
    let window = account_when("a", "a.utilization");
    let shown = browser
        .wait_for("account a's request window", &window)
        .await;
    assert_eq!(shown["utilization"], "0.002", "{shown}");

    // `a` now answers 429 for two minutes: the next request rotates to `b`.
    let limited = Behaviour::RateLimited {
        retry_after_secs: Some(120),
    };
    s.fake().set("sk-dash-a", limited);
    let r = openai_chat(&kp.client()).await;
    assert_eq!((r.status().as_u16(), account_of(&r)), (200, "b".into()));
    let cooling = account_when(
        "a",
        r"a.state === 'cooling' && /^for [12]m \d\ds$/.test(a.countdown)",
    );
    let a = browser.wait_for("account a shown cooling", &cooling).await;
    assert!(a["detail"].as_str().unwrap().contains("429"), "{a}");
    let mark = browser.js("return window.keypoolTestMark || null;").await;
    assert_eq!(mark, "same page", "the page reloaded instead of updating");
    let b = browser.js(&account_when("b", "true")).await;
    assert_eq!(b["state"], "ok", "{b}");
    ledger_shown(&browser, first_day).await;

    same_origin_only(&browser, &origin).await;
    styled_and_secret_free(&browser).await;

    // keypool gone: the page says so, and keeps counting down on its own.
    kp.proxy.shutdown().within("keypool's shutdown drain").await;
    let down = "const c = document.getElementById('conn'); \
        return c.textContent === 'keypool not answering' && c.dataset.state === 'down';";
    browser
        .wait_for("the page saying keypool is not answering", down)
        .await;
    let before = browser.js(&account_when("a", "true")).await;
    let moved = format!("a.countdown !== {}", before["countdown"]);
    let ticking = account_when("a", &moved);
    browser
        .wait_for("the countdown ticking in the page", &ticking)
        .await;
    browser.close().await;
}

/// The style sheet applied under the policy (the badge has its colour), and no key
/// reached the page.
async fn styled_and_secret_free(browser: &Browser) {
    let badge = "document.querySelector('[data-account=\"a\"] .state')";
    let bg = browser
        .js(&format!(
            "return getComputedStyle({badge}).backgroundColor;"
        ))
        .await;
    assert_ne!(bg, "rgba(0, 0, 0, 0)", "style.css was not applied");
    let html = browser
        .js("return document.documentElement.outerHTML;")
        .await;
    let html = html.as_str().unwrap();
    assert!(!html.contains("sk-dash-a") && !html.contains("sk-dash-b"));
}

/// Every resource the page loaded came from keypool: the script, the style, the polls.
async fn same_origin_only(browser: &Browser, origin: &str) {
    let names = browser
        .js("return performance.getEntriesByType('resource').map(e => e.name);")
        .await;
    let names: Vec<&str> = names
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for want in [
        "/_keypool/assets/app.js",
        "/_keypool/assets/style.css",
        "/_keypool/dashboard",
    ] {
        assert!(
            names.contains(&format!("{origin}{want}").as_str()),
            "{want} not loaded: {names:?}"
        );
    }
    let foreign: Vec<_> = names
        .iter()
        .filter(|n| !n.starts_with(&format!("{origin}/")))
        .collect();
    assert!(foreign.is_empty(), "loaded from elsewhere: {foreign:?}");
}

fn direct() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(CLIENT_TIMEOUT)
        .build()
        .unwrap()
}

async fn get(origin: &str, path: &str, accept: &str) -> reqwest::Response {
    direct()
        .get(format!("{origin}{path}"))
        .header("accept", accept)
        .send()
        .within(&format!("keypool's answer to GET {path} ({accept})"))
        .await
        .unwrap()
}

fn header<'a>(r: &'a reqwest::Response, name: &str) -> &'a str {
    r.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_else(|| panic!("no {name} on {}", r.url()))
}

#[tokio::test]
async fn curl_and_scripts_keep_their_answers_and_the_page_its_guards() {
    let mut s = two_accounts().await;
    let kp = s.start().await;
    let origin = format!("http://{}", kp.addr());

    let curl = get(&origin, "/", "*/*").await;
    assert_eq!(header(&curl, "content-type"), "text/plain; charset=utf-8");
    let body = curl.text().within("the text at /").await.unwrap();
    assert!(
        body.contains("is running on") && body.contains("pool openai (openai): 2 account(s)"),
        "{body}"
    );

    let json: Value = get(&origin, "/", "application/json")
        .await
        .json()
        .within("the JSON at /")
        .await
        .unwrap();
    assert_eq!(json["status"], "running");
    assert_eq!(json["pools"][0]["accounts"], 2);

    let browser_accept = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";
    for (path, accept, kind) in [
        ("/", browser_accept, "text/html; charset=utf-8"),
        (
            "/_keypool/assets/app.js",
            "*/*",
            "text/javascript; charset=utf-8",
        ),
        (
            "/_keypool/assets/style.css",
            "text/css,*/*;q=0.1",
            "text/css; charset=utf-8",
        ),
        (
            "/_keypool/dashboard",
            "application/json",
            "application/json",
        ),
    ] {
        let r = get(&origin, path, accept).await;
        assert_eq!(r.status(), 200, "{path}");
        assert_eq!(header(&r, "content-type"), kind, "{path}");
        assert_eq!(header(&r, "content-security-policy"), CSP, "{path}");
        assert_eq!(header(&r, "x-content-type-options"), "nosniff", "{path}");
        assert_eq!(header(&r, "cache-control"), "no-store", "{path}");
    }
    let page = get(&origin, "/", browser_accept)
        .await
        .text()
        .within("the page")
        .await
        .unwrap();
    assert!(
        page.contains(r#"<script src="/_keypool/assets/app.js" defer></script>"#),
        "{page}"
    );
    assert!(
        !page.contains("<script>") && !page.contains(" style=\""),
        "inline code: {page}"
    );
    let missing = get(&origin, "/_keypool/assets/other.js", "*/*").await;
    assert_eq!(missing.status(), 404);

    data_has_the_accounts_and_an_empty_ledger(&origin).await;
}

/// The data the page polls: the accounts as the status shows them, the ledger's sums (none
/// yet: nothing went through), and a chart of 24 whole hours.
async fn data_has_the_accounts_and_an_empty_ledger(origin: &str) {
    let d: Value = get(origin, "/_keypool/dashboard", "application/json")
        .await
        .json()
        .within("the dashboard's JSON")
        .await
        .unwrap();
    assert!(d["now"].as_u64().unwrap() > 1_700_000_000, "{d}");
    assert_eq!(d["listen"], origin.trim_start_matches("http://"));
    assert!(d["ca"].as_str().unwrap().ends_with("ca.pem"), "{d}");
    let accounts = &d["pools"][0]["accounts"];
    assert_eq!(accounts[0]["name"], "a");
    assert_eq!(accounts[1]["name"], "b");
    assert_eq!(accounts[0]["state"], "ok");
    assert_eq!(d["pools"][0]["strategy"], "priority");
    let usage = &d["usage"];
    assert_eq!(usage["today"]["requests"], 0, "{usage}");
    assert_eq!(usage["recent"], Value::Array(Vec::new()), "{usage}");
    let hourly = usage["hourly"].as_array().unwrap();
    assert_eq!(hourly.len(), 24);
    let hour = 3_600_000;
    let last = hourly[23]["start_ms"].as_i64().unwrap();
    let now_ms = d["now"].as_i64().unwrap() * 1000;
    assert!(
        last % hour == 0 && last <= now_ms && now_ms < last + hour,
        "{last} {now_ms}"
    );
}
