//! `keypool login`, end to end: the real binary against the fake OAuth server (reached
//! by the real host names through `--connect-to`, trusting the test CA), with the test
//! playing the browser: it reads the printed URL, consents at the fake, and follows the
//! redirect to keypool's loopback listener (or pastes what the page would show).
//! Every wait is bounded by `HANG_GUARD`; no result is decided by a timer.
//! This file holds the shared helpers (the driver is support::login); the tests, by flow,
//! are in tests/login/.

use crate::support;

mod device;
mod kimi;
mod loopback;
mod naming;
mod paste;

use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;
use support::{FakeOAuth, Identity, OAuthRequest};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

pub(crate) use support::login::{Ended, Machine, HANG_GUARD};

/// A port nobody listens on right now, for `--callback-port`.
pub(crate) fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// The browser following the redirect: `GET target` on the loopback listener.
/// Returns the status code and the page.
pub(crate) async fn browser_get(port: u16, target: &str) -> (u16, String) {
    let go = async {
        let mut s = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        let req = format!(
            "GET {target} HTTP/1.1\r\nHost: localhost:{port}\r\nUser-Agent: test-browser\r\nAccept: text/html\r\nConnection: keep-alive\r\n\r\n"
        );
        s.write_all(req.as_bytes()).await.unwrap();
        let mut raw = Vec::new();
        s.read_to_end(&mut raw).await.unwrap();
        String::from_utf8(raw).unwrap()
    };
    let raw = timeout(HANG_GUARD, go)
        .await
        .expect("the callback page did not come");
    let (head, body) = raw.split_once("\r\n\r\n").expect("an HTTP answer");
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    (status, body.to_string())
}

pub(crate) fn callback_target(path: &str, code: &str, state: &str) -> String {
    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair("code", code)
        .append_pair("state", state)
        .finish();
    format!("{path}?{query}")
}

/// Authorization-code grants the fake received at `path`, as parameters.
pub(crate) fn code_grants(
    fake: &FakeOAuth,
    path: &str,
) -> Vec<(OAuthRequest, BTreeMap<String, String>)> {
    (fake.requests().into_iter())
        .filter(|r| r.method == "POST" && r.path == path)
        .map(|r| {
            let p = r.params();
            (r, p)
        })
        .filter(|(_, p)| p.get("grant_type").map(String::as_str) == Some("authorization_code"))
        .collect()
}

/// Every token stored in credentials.json (what must never be printed).
pub(crate) fn stored_secrets(accounts: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for entry in accounts.as_object().unwrap().values() {
        for k in ["access_token", "refresh_token", "id_token"] {
            if let Some(s) = entry[k].as_str() {
                out.push(s.to_string());
            }
        }
    }
    out
}

pub(crate) use support::config_files::{blocks, mode};

pub(crate) fn stored_block(name: &str, provider: &str) -> String {
    format!("name = \"{name}\"\nprovider = \"{provider}\"\noauth = \"stored\"")
}

/// Waits (bounded) until `path` exists with content; for the `$BROWSER` recorder,
/// which keypool starts without waiting for it.
pub(crate) async fn wait_for_file(path: &Path) -> String {
    let wait = async {
        loop {
            if let Ok(s) = std::fs::read_to_string(path) {
                if !s.is_empty() {
                    return s;
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    timeout(HANG_GUARD, wait)
        .await
        .expect("$BROWSER was not run")
}

/// Runs a whole loopback login for `who` (anthropic or openai-codex), checking the
/// redirect URI names the callback port and the vendor's path, and returns how it ended.
pub(crate) async fn loopback_login(
    m: &Machine,
    fake: &FakeOAuth,
    provider: &str,
    who: &Identity,
    extra: &[&str],
) -> Ended {
    let port = free_port();
    let port_arg = port.to_string();
    let mut args = vec![provider, "--callback-port", &port_arg];
    args.extend_from_slice(extra);
    let mut login = m.login(fake, &args, "true");
    let url = login.authorize_url().await;
    let path = match provider {
        "anthropic" => "/callback",
        _ => "/auth/callback",
    };
    let redirect = format!("http://localhost:{port}{path}");
    assert_eq!(url.redirect_uri(), redirect);
    let code = url.consent(fake, who);
    let (status, page) = browser_get(port, &callback_target(path, &code, url.state())).await;
    assert_eq!(status, 200, "{page}");
    login.end().await
}
