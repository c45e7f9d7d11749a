//! The real binary at `KEYPOOL_LOG=trace` (keypool's own lines and every dependency's)
//! while it refreshes an Anthropic and a Codex login, exchanges a GitHub token for a
//! Copilot token, and completes a browser login and a device login: the whole log is
//! searched for every token, code and verifier involved. A failure names the kind of
//! secret and the log line, never the secret.

use crate::support;

use serde_json::{json, Value};
use std::path::Path;
use std::time::Duration;
use support::guard::Within;
use support::logs::{assert_level_seen, Secrets};
use support::scenario::Scenario;
use support::{every_host, DeviceAnswer, FakeOAuth, Flavor, Grant};

const CLIENT_TOKENS: [&str; 3] = [
    "sk-ant-oat01-client-own-log",
    "client-own-chatgpt-log",
    "client-own-copilot-log",
];

/// A `credentials.json` entry for `g`, expiring `expires_in` from now.
fn entry(provider: &str, g: &Grant, expires_in: Duration) -> Value {
    let expires_at = support::https::unix_now() * 1000 + expires_in.as_millis() as u64;
    let mut e = json!({"provider": provider, "access_token": g.access,
                       "refresh_token": g.refresh, "expires_at": expires_at});
    if let Some(id) = &g.id_token {
        e["id_token"] = json!(id);
    }
    e
}

fn stored(name: &str, provider: &str) -> String {
    format!("[[accounts]]\nname = \"{name}\"\nprovider = \"{provider}\"\noauth = \"stored\"\n")
}

/// Logins that need work on first use: two within the refresh margin, a GitHub token
/// not yet exchanged. Returns the secrets written.
fn write_logins(oauth: &FakeOAuth, home: &Path) -> Secrets {
    let mut secrets = Secrets::default();
    let soon = Duration::from_secs(60);
    let max = oauth.grant(&oauth.identity(Flavor::Anthropic, "max"));
    let codex = oauth.grant(&oauth.identity(Flavor::Codex, "codex"));
    let seat = oauth.grant(&oauth.github_identity("seat", "github.com"));
    assert!(
        codex.id_token.is_some(),
        "a Codex grant carries an id token"
    );
    secrets.add("a Copilot token issued beforehand", &seat.access);
    let file = json!({"version": 1, "accounts": {
        "max": entry("anthropic", &max, soon),
        "codex": entry("openai-codex", &codex, soon),
        "seat": {"provider": "github-copilot", "refresh_token": seat.refresh},
    }});
    let text = file.to_string();
    secrets.add_credentials_file(&text);
    std::fs::write(home.join("credentials.json"), text).unwrap();
    secrets
}

/// One request per account, each through keypool at `addr`, trusting `ca_pem`.
async fn use_each_login(addr: &str, ca_pem: &str) {
    let client = crate::support::client_http::through_keypool(reqwest::Client::builder())
        .proxy(reqwest::Proxy::all(format!("http://{addr}")).unwrap())
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(ca_pem.as_bytes()).unwrap())
        .timeout(support::guard::CLIENT_TIMEOUT)
        .build()
        .unwrap();
    let requests = [
        client
            .post("https://api.anthropic.com/v1/messages?beta=true")
            .bearer_auth(CLIENT_TOKENS[0])
            .header("anthropic-version", "2023-06-01")
            .json(&json!({"model": "claude-sonnet-4-5", "max_tokens": 8,
                          "messages": [{"role": "user", "content": "hi"}]})),
        client
            .post("https://chatgpt.com/backend-api/codex/responses")
            .bearer_auth(CLIENT_TOKENS[1])
            .header("openai-beta", "responses=experimental")
            .json(
                &json!({"model": "gpt-5-codex", "instructions": "", "input": [],
                          "stream": true, "store": false}),
            ),
        client
            .post("https://api.individual.githubcopilot.com/chat/completions")
            .bearer_auth(CLIENT_TOKENS[2])
            .json(&json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]})),
    ];
    for (req, account) in requests.into_iter().zip(["max", "codex", "seat"]) {
        let r = req.send().within(account).await.unwrap();
        assert_eq!(r.status(), 200, "{account}");
        assert_eq!(r.headers()["x-keypool-account"], account);
        r.bytes().within(account).await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn refreshes_and_a_copilot_exchange_log_no_token_at_trace() {
    let s = Scenario::new().provider(&every_host()).await.oauth().await;
    let mut secrets = write_logins(s.oauth_server(), s.home());
    let accounts = stored("max", "anthropic")
        + &stored("codex", "openai-codex")
        + &stored("seat", "github-copilot");
    let mut s = s.accounts(&accounts);
    let served = s
        .spawn_with(|c, _| {
            c.env("KEYPOOL_LOG", "trace");
        })
        .await;
    let (fake, oauth) = (s.fake(), s.oauth_server());
    use_each_login(&served.served.addr, &served.ca_pem()).await;
    let (code, log, home) = served.stop_keeping_home().await;
    assert_eq!(code, Some(0), "keypool serve did not exit 0");

    assert_eq!(oauth.token_calls(Flavor::Anthropic), 1, "max was refreshed");
    assert_eq!(oauth.token_calls(Flavor::Codex), 1, "codex was refreshed");
    assert_eq!(
        oauth.copilot_exchanges(),
        1,
        "the GitHub token was exchanged"
    );
    let after = std::fs::read_to_string(home.path().join("credentials.json")).unwrap();
    let before = secrets.len();
    secrets.add_credentials_file(&after);
    assert!(
        secrets.len() >= before + 5,
        "the refreshes rotated the tokens"
    );
    for t in fake.credentials_seen() {
        secrets.add("a token keypool sent upstream", &t);
    }
    for t in CLIENT_TOKENS {
        secrets.add("a client's own token", t);
    }
    assert_level_seen("keypool serve's log", &log, "TRACE");
    for line in [
        "refreshed the access token",
        "exchanged the GitHub token for a Copilot token",
    ] {
        assert!(
            log.contains(line),
            "the log was not captured around: {line}"
        );
    }
    secrets.assert_absent_from("keypool serve's log at trace", &log);
    assert!(
        !log.contains("proxy-ep="),
        "a Copilot token's body reached the log"
    );
}

/// The parameters of the requests `oauth` received at `path`.
fn params_at(oauth: &FakeOAuth, path: &str) -> Vec<std::collections::BTreeMap<String, String>> {
    (oauth.requests().into_iter())
        .filter(|r| r.method == "POST" && r.path == path)
        .map(|r| r.params())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_browser_login_logs_no_code_verifier_or_token_at_trace() {
    let s = Scenario::new().oauth().await;
    let (oauth, m) = (s.oauth_server(), s.login_machine());
    let alice = oauth.identity(Flavor::Anthropic, "alice");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let port_arg = port.to_string();
    let args = ["anthropic", "--callback-port", port_arg.as_str()];
    let mut login = m.login_at(oauth, &args, "true", "trace");
    let url = login.authorize_url().await;
    let (redirect, state) = (url.redirect_uri(), url.state());
    let code = oauth.authorize(&alice, url.challenge(), redirect, state);
    let callback = reqwest::Url::parse_with_params(
        &format!("http://127.0.0.1:{port}/callback"),
        [("code", code.as_str()), ("state", state)],
    )
    .unwrap();
    let page = reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .get(callback)
        .header("host", format!("localhost:{port}"))
        .send()
        .within("the callback page")
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let ended = login.end().await;
    let (exit, log) = (ended.code, ended.output());
    assert_eq!(exit, Some(0), "the login did not complete");

    let mut secrets = Secrets::default();
    secrets.add("the authorization code", &code);
    let exchanges = params_at(oauth, "/v1/oauth/token");
    let [exchange] = &exchanges[..] else {
        panic!("one code exchange expected, got {}", exchanges.len())
    };
    secrets.add("the PKCE verifier", &exchange["code_verifier"]);
    let creds = std::fs::read_to_string(m.credentials_path()).unwrap();
    secrets.add_credentials_file(&creds);
    assert!(secrets.len() >= 4, "a code, a verifier and two tokens");
    assert_level_seen("keypool login's output", &log, "TRACE");
    secrets.assert_absent_from("keypool login's output at trace", &log);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_device_login_logs_no_device_code_or_token_at_trace() {
    let s = Scenario::new().oauth().await;
    let (oauth, m) = (s.oauth_server(), s.login_machine());
    oauth.set_device_interval(0);
    oauth.set_device_identity("carol");
    oauth.device_script(vec![DeviceAnswer::Pending, DeviceAnswer::Grant]);
    let login = m.login_at(oauth, &["github-copilot"], "true", "trace");
    let ended = login.end().await;
    let (exit, log) = (ended.code, ended.output());
    assert_eq!(exit, Some(0), "the login did not complete");
    assert_eq!(oauth.copilot_exchanges(), 1, "the seat was checked");

    let mut secrets = Secrets::default();
    let polls = params_at(oauth, "/login/oauth/access_token");
    assert_eq!(polls.len(), 2, "one poll per scripted answer");
    secrets.add("the device code", &polls[0]["device_code"]);
    let creds = std::fs::read_to_string(m.credentials_path()).unwrap();
    secrets.add_credentials_file(&creds);
    assert_level_seen("keypool login's output", &log, "TRACE");
    secrets.assert_absent_from("keypool login's output at trace", &log);
    // The seat check's Copilot token is not stored; every Copilot token carries this.
    assert!(
        !log.contains("proxy-ep="),
        "a Copilot token's body reached the log"
    );
}
