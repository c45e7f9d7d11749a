//! `GET /` in a real headless Chromium is the live dashboard: it shows the running
//! proxy's accounts, follows one cooling down without a reload, shows the requests sent
//! through it as usage.db holds them (table, totals, chart), and loads nothing from
//! anywhere but keypool. curl and scripts keep their answers at `/`.
//!
//! README's picture (docs/dashboard.png) is the busy test's page: run it with
//! `KEYPOOL_DASHBOARD_SCREENSHOT=docs/dashboard.png`.

use crate::support;

use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use support::browser::Browser;
use support::guard::{Within, CLIENT_TIMEOUT};
use support::keypool::{openai_chat, status_json, Harness};
use support::scenario::Scenario;
use support::{account_of, every_host, Behaviour, Flavor};

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

/// Set to a path, the busy dashboard's test saves its screenshot there (README's picture).
const SHOT_VAR: &str = "KEYPOOL_DASHBOARD_SCREENSHOT";
const SHOT_WIDTH: u32 = 1280;
const SHOT_MAX_BYTES: usize = 200 * 1024;
/// The screenshot ends with this many rows of the recent-requests table (the picture is
/// cut there; the page goes on).
const SHOT_ROWS: usize = 10;

const HOUR: Duration = Duration::from_secs(3600);
const OPENAI_KEYS: [(&str, &str); 2] = [("team-key", "sk-busy-team"), ("personal", "sk-busy-me")];
/// The requests sent: the first two of every five to Claude (12), the rest to OpenAI.
const REQUESTS: usize = 30;
/// From this Claude request on, `max-work` answers 429 for half an hour: late, so the
/// rotated row is among the ones the screenshot shows.
const WORK_LIMITED_AFTER: usize = 9;

/// Two pools as a user might keep them: two Claude subscriptions (`max-work` first, by
/// priority; the probes give both their windows at start) and two OpenAI keys taken in
/// turn. Returns the scenario, every secret it holds (which the page must not show), and
/// `max-work`'s access token (the fake's key for its behaviour).
async fn busy_world() -> (Scenario, Vec<String>, String) {
    let mut s = Scenario::new().provider(&every_host()).await.oauth().await;
    let mut secrets: Vec<String> = OPENAI_KEYS.iter().map(|(_, k)| k.to_string()).collect();
    for name in ["max-work", "max-home"] {
        let id = s.oauth_server().identity(Flavor::Anthropic, name);
        let g = s.stored_login(name, "anthropic", &id, 8 * HOUR);
        secrets.extend([g.access, g.refresh]);
    }
    let work = secrets[2].clone();
    let s = s
        .keys("openai", &OPENAI_KEYS)
        .ok(&OPENAI_KEYS.map(|(_, k)| k))
        .pool(
            "claude",
            "anthropic",
            &["max-work", "max-home"],
            "strategy = \"priority\"\n",
        )
        .pool(
            "openai",
            "openai",
            &["team-key", "personal"],
            "strategy = \"round-robin\"\n",
        )
        .config("[probes]\nenabled = true\n");
    (s, secrets, work)
}

/// Request `i` of the busy run: to Claude or OpenAI, one of two models each, every
/// third streamed. Each is a conversation of its own (its first message differs), so
/// stickiness keeps none on one account.
async fn busy_request(kp: &Harness, i: usize) -> reqwest::Response {
    let stream = i % 3 == 0;
    let req = if i % 5 < 2 {
        let model = ["claude-sonnet-4-5", "claude-opus-4-1"][i % 2];
        let body = json!({"model": model, "max_tokens": 256, "stream": stream,
            "messages": [{"role": "user", "content": format!("question {i}")}]});
        kp.client()
            .post("https://api.anthropic.com/v1/messages")
            .bearer_auth("sk-ant-oat01-client-own")
            .header("anthropic-version", "2023-06-01")
            .json(&body)
    } else {
        let model = ["gpt-4o", "gpt-4o-mini"][i % 2];
        let mut body = json!({"model": model,
            "messages": [{"role": "user", "content": format!("question {i}")}]});
        if stream {
            body["stream"] = json!(true);
            body["stream_options"] = json!({"include_usage": true});
        }
        kp.client()
            .post("https://api.openai.com/v1/chat/completions")
            .bearer_auth("sk-placeholder")
            .json(&body)
    };
    let r = req.send().within("a busy request").await.unwrap();
    assert_eq!(r.status(), 200, "request {i}");
    r
}

/// What the busy run's answers said: the one request that took two attempts, and how
/// many requests each account served.
struct BusyRun {
    rotated: usize,
    served: BTreeMap<String, usize>,
}

/// Sends the busy run once the probes have given both subscriptions their windows (so
/// every run routes alike); `max-work` answers 429 for half an hour from the Claude
/// request [`WORK_LIMITED_AFTER`] on, and the first request it gets then rotates.
async fn busy_run(s: &Scenario, kp: &Harness, work: &str) -> BusyRun {
    probed(kp).await;
    let mut served = BTreeMap::new();
    let mut rotated = Vec::new();
    let mut claude_seen = 0;
    for i in 0..REQUESTS {
        let to_claude = i % 5 < 2;
        if to_claude && claude_seen == WORK_LIMITED_AFTER {
            let limited = Behaviour::RateLimited {
                retry_after_secs: Some(1800),
            };
            s.fake().set(work, limited);
        }
        claude_seen += usize::from(to_claude);
        let r = busy_request(kp, i).await;
        *served.entry(account_of(&r)).or_insert(0) += 1;
        let attempts = r.headers()["x-keypool-attempts"].to_str().unwrap();
        if attempts != "1" {
            rotated.push((i, attempts.to_string(), account_of(&r)));
        }
        r.bytes().within("a busy answer's body").await.unwrap();
    }
    match rotated.as_slice() {
        [(i, attempts, by)] if attempts == "2" && by == "max-home" => BusyRun {
            rotated: *i,
            served,
        },
        _ => panic!("one request rotated off max-work to max-home, not {rotated:?}"),
    }
}

/// Until keypool's status shows a probed window on both subscriptions.
async fn probed(kp: &Harness) {
    let both = |st: &Value| {
        let pools = st["pools"].as_array().cloned().unwrap_or_default();
        let claude = pools.into_iter().find(|p| p["name"] == "claude");
        let accounts = claude.and_then(|p| p["accounts"].as_array().cloned());
        let probed = |a: &Value| {
            a["windows"]
                .as_array()
                .is_some_and(|w| w.iter().any(|w| w["source"] == "probe"))
        };
        accounts.is_some_and(|a| a.len() == 2 && a.iter().all(probed))
    };
    async {
        loop {
            if both(&status_json(kp.addr()).await) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    .within("the probes' windows of max-work and max-home")
    .await;
}

/// The page of [`busy_world`] after [`busy_run`]: every request a row, the rotated one
/// billed to `max-home` after two attempts, each account's sums, `max-work` cooling, a
/// bar in the chart, no secret; and with [`SHOT_VAR`] set, its screenshot.
#[tokio::test]
async fn the_dashboard_of_a_busy_keypool() {
    let (mut s, secrets, work) = busy_world().await;
    let kp = s.start().await;
    let run = busy_run(&s, &kp, &work).await;
    let browser = Browser::start().await;
    browser
        .client
        .goto(&format!("http://{}/", kp.addr()))
        .within("Chromium loading the dashboard")
        .await
        .unwrap();
    let ready = format!(
        "u.rows.length >= {REQUESTS} && [...document.querySelectorAll('[data-account]')]
            .every((r) => r.querySelector('.window')) &&
            document.querySelector('[data-account=\"max-work\"]').dataset.state === 'cooling'"
    );
    let u = browser
        .wait_for(
            "every request, max-work cooling, windows",
            &usage_when(&ready),
        )
        .await;
    busy_rows_shown(&u, &run);
    let cooling = browser.js(&account_when("max-work", "true")).await;
    let detail = cooling["detail"].as_str().unwrap();
    assert!(detail.contains("429"), "{cooling}");
    let countdown = cooling["countdown"].as_str().unwrap();
    assert!(countdown.starts_with("for 29m "), "{cooling}");
    let html = browser
        .js("return document.documentElement.outerHTML;")
        .await;
    let html = html.as_str().unwrap();
    for secret in &secrets {
        assert!(!html.contains(secret.as_str()), "a secret on the page");
    }
    save_screenshot(&browser).await;
    browser.close().await;
}

/// The table and sums of the busy run: a row per request, the rotated one billed to
/// `max-home` after two attempts, four models, and each account's 7-day sums counting
/// what it served.
fn busy_rows_shown(u: &Value, run: &BusyRun) {
    let rows = u["rows"].as_array().unwrap();
    assert_eq!(rows.len(), REQUESTS, "one row per request: {u}");
    assert_eq!(u["week"]["requests"], REQUESTS.to_string(), "{u}");
    let cell = |r: &Value, i: usize| r[i].as_str().unwrap().to_string();
    for (n, row) in rows.iter().enumerate() {
        let i = REQUESTS - 1 - n;
        let attempts = if i == run.rotated { "2" } else { "1" };
        assert_eq!(cell(row, STATUS), "200", "row of request {i}: {u}");
        assert_eq!(cell(row, ATTEMPTS), attempts, "row of request {i}: {u}");
        assert_ne!(cell(row, TOKENS), "0 / 0", "row of request {i}: {u}");
        assert!(cell(row, COST).starts_with('$'), "row of request {i}: {u}");
    }
    let rotated_row = &rows[REQUESTS - 1 - run.rotated];
    assert_eq!(cell(rotated_row, ACCOUNT), "max-home", "{u}");
    let mut models: Vec<String> = rows.iter().map(|r| cell(r, MODEL)).collect();
    models.sort();
    models.dedup();
    let want = [
        "claude-opus-4-1",
        "claude-sonnet-4-5",
        "gpt-4o",
        "gpt-4o-mini",
    ];
    assert_eq!(models, want, "{u}");
    assert_eq!(
        run.served.len(),
        4,
        "every account served: {:?}",
        run.served
    );
    for (name, n) in &run.served {
        let sums = u["accounts"][name].as_str().unwrap();
        assert!(sums.starts_with(&format!("{n} req · ")), "{name}: {u}");
    }
    assert!(u["bars"].as_u64().unwrap() >= 1, "no bar in the chart: {u}");
}

/// With [`SHOT_VAR`] set, the page as a PNG at that path: [`SHOT_WIDTH`] wide and down
/// to the [`SHOT_ROWS`]th recent request. Without it, nothing is written.
async fn save_screenshot(browser: &Browser) {
    let Some(path) = std::env::var_os(SHOT_VAR) else {
        return;
    };
    let bottom = browser
        .js(&format!(
            "const tr = document.querySelector('#recent tbody tr:nth-child({SHOT_ROWS})');
            return Math.ceil(tr.getBoundingClientRect().bottom + window.scrollY);"
        ))
        .await;
    let height = u32::try_from(bottom.as_u64().unwrap()).unwrap();
    browser.viewport(SHOT_WIDTH, height).await;
    // The chart is drawn as wide as its box, at the next poll after the resize.
    let fitted = "const c = document.getElementById('chart'); \
        return c.viewBox.baseVal.width === Math.max(320, Math.round(c.clientWidth));";
    browser
        .wait_for("the chart redrawn to the new width", fitted)
        .await;
    let png = browser.screenshot().await;
    // The signature, then the IHDR chunk: its width and height come first.
    assert!(
        png.len() > 24 && png.starts_with(b"\x89PNG\r\n\x1a\n"),
        "not a PNG"
    );
    let px = |at: usize| u32::from_be_bytes([png[at], png[at + 1], png[at + 2], png[at + 3]]);
    assert_eq!(
        (px(16), px(20)),
        (SHOT_WIDTH, height),
        "the screenshot's size"
    );
    assert!(
        png.len() < SHOT_MAX_BYTES,
        "the screenshot is {} bytes, over {SHOT_MAX_BYTES}: show fewer rows",
        png.len()
    );
    std::fs::write(&path, &png)
        .unwrap_or_else(|e| panic!("{SHOT_VAR}={}: {e}", path.to_string_lossy()));
}
