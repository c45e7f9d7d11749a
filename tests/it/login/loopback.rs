//! Browser logins through keypool's loopback listener: Anthropic's end to end (the
//! authorization URL, `$BROWSER`, the PKCE exchange, what is stored and how privately)
//! and Codex's callback path; and the callbacks that must not complete a login (a code
//! bound to another challenge, a wrong state, the provider's refusal without this
//! login's state) or hold it up (an idle connection).

use super::{
    blocks, browser_get, callback_target, code_grants, free_port, loopback_login, mode,
    stored_block, stored_secrets, wait_for_file,
};
use crate::support;
use crate::support::guard::Within;
use crate::support::oauth::pkce_challenge;
use crate::support::scenario::Scenario;
use crate::support::Flavor;
use tokio::net::TcpStream;

#[tokio::test(flavor = "multi_thread")]
async fn anthropic_loopback_login_stores_the_tokens_and_adds_the_account() {
    let s = Scenario::new().oauth().await;
    let (fake, m) = (s.oauth_server(), s.login_machine());
    let alice = fake.identity(Flavor::Anthropic, "alice");
    let port = free_port();
    // A `$BROWSER` that records what it was asked to open.
    let opened = m.dir.path().join("opened");
    let browser = m.dir.path().join("browser.sh");
    std::fs::write(
        &browser,
        format!(
            "#!/bin/sh\nprintf '%s\\n' \"$1\" > '{0}.tmp' && mv '{0}.tmp' '{0}'\n",
            opened.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(
        &browser,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();

    let mut login = m.login(
        fake,
        &["anthropic", "--callback-port", &port.to_string()],
        browser.to_str().unwrap(),
    );
    let url = login.authorize_url().await;
    assert_eq!(url.base, "https://claude.ai/oauth/authorize");
    assert_eq!(url.get("client_id"), support::oauth::ANTHROPIC_CLIENT_ID);
    assert_eq!(url.get("response_type"), "code");
    assert_eq!(url.get("code_challenge_method"), "S256");
    assert_eq!(url.get("code"), "true");
    assert!(url.get("scope").contains("user:inference"));
    assert_eq!(
        url.redirect_uri(),
        format!("http://localhost:{port}/callback")
    );
    assert_eq!(wait_for_file(&opened).await.trim_end(), url.url);

    let code = url.consent(fake, &alice);
    let (status, page) = browser_get(port, &callback_target("/callback", &code, url.state())).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("login complete"), "{page}");
    let ended = login.end().await;
    assert_eq!(ended.code, Some(0), "{}", ended.output());
    assert!(
        ended.stdout.contains(&format!(
            "Logged in as {}; added account 'claude-alice'",
            alice.email
        )),
        "{}",
        ended.output()
    );

    // One exchange, with the verifier behind the URL's challenge, the redirect and
    // the state, as JSON (as Claude Code sends it).
    assert_eq!(fake.code_exchanges(Flavor::Anthropic), 1);
    let grants = code_grants(fake, "/v1/oauth/token");
    let [(req, p)] = &grants[..] else {
        panic!("one exchange expected, got {}", grants.len())
    };
    assert_eq!(req.host, "platform.claude.com");
    assert!(req.content_type().unwrap().starts_with("application/json"));
    assert_eq!(pkce_challenge(&p["code_verifier"]), url.challenge());
    assert_eq!(p["redirect_uri"], url.redirect_uri());
    assert_eq!(p["state"], url.state());
    assert_eq!(p["code"], code);

    let accounts = m.credentials();
    let names: Vec<_> = accounts.as_object().unwrap().keys().cloned().collect();
    assert_eq!(names, ["claude-alice"]);
    let entry = &accounts["claude-alice"];
    assert_eq!(entry["provider"], "anthropic");
    assert_eq!(entry["account_id"], alice.account_id.as_str());
    assert_eq!(entry["email"], alice.email.as_str());
    assert!(entry["access_token"]
        .as_str()
        .unwrap()
        .starts_with("sk-ant-oat01-"));
    let expires_at = entry["expires_at"].as_u64().unwrap();
    let now_ms = support::https::unix_now() * 1000;
    assert!(
        (now_ms + 28_000_000..=now_ms + 28_900_000).contains(&expires_at),
        "expires_at {expires_at} is not about 8 h from now"
    );
    // The stored refresh token is the live one the fake issued: it redeems.
    let refresh = entry["refresh_token"].as_str().unwrap();
    fake.use_refresh(Flavor::Anthropic, refresh)
        .expect("the stored refresh token is the fake's live one");

    assert_eq!(mode(&m.config_path()), 0o600);
    assert_eq!(
        blocks(&m.config()),
        [stored_block("claude-alice", "anthropic")]
    );
    let mut secrets = stored_secrets(&accounts);
    secrets.extend([code, p["code_verifier"].clone()]);
    ended.assert_no_secret(&secrets);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_code_bound_to_another_challenge_fails_the_login_and_writes_nothing() {
    let s = Scenario::new().oauth().await;
    let (fake, m) = (s.oauth_server(), s.login_machine());
    let alice = fake.identity(Flavor::Anthropic, "alice");
    let port = free_port();
    let mut login = m.login(
        fake,
        &["anthropic", "--callback-port", &port.to_string()],
        "true",
    );
    let url = login.authorize_url().await;
    // Someone else's login: consent was given for a challenge this keypool did not send.
    let other = pkce_challenge("an-attacker's-verifier-that-keypool-never-saw-0123456789");
    assert_ne!(other, url.challenge());
    let code = fake.authorize(&alice, &other, url.redirect_uri(), url.state());
    let (status, page) = browser_get(port, &callback_target("/callback", &code, url.state())).await;
    let ended = login.end().await;
    assert_eq!(ended.code, Some(1), "{}", ended.output());
    assert!(ended.stderr.contains("login failed"), "{}", ended.output());
    assert!(ended.stderr.contains("invalid_grant"), "{}", ended.output());
    // The browser waited for the outcome and shows it.
    assert_eq!(status, 500, "{page}");
    assert!(
        page.contains("login failed: the code exchange failed"),
        "{page}"
    );
    assert_eq!(fake.code_exchanges(Flavor::Anthropic), 1);
    let grants = code_grants(fake, "/v1/oauth/token");
    let verifier = grants[0].1["code_verifier"].clone();
    assert_eq!(pkce_challenge(&verifier), url.challenge());
    assert!(!m.credentials_path().exists());
    assert!(!m.config_path().exists());
    ended.assert_no_secret(&[code, verifier]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_callback_with_the_wrong_state_is_refused_and_the_right_one_still_completes() {
    let s = Scenario::new().oauth().await;
    let (fake, m) = (s.oauth_server(), s.login_machine());
    let alice = fake.identity(Flavor::Anthropic, "alice");
    let port = free_port();
    let mut login = m.login(
        fake,
        &["anthropic", "--callback-port", &port.to_string()],
        "true",
    );
    let url = login.authorize_url().await;
    let code = url.consent(fake, &alice);

    // A forged redirect (a real code, another state), a stray request, and a
    // redirect without a code: each gets a 400 page and the login goes on waiting.
    let (status, page) = browser_get(port, &callback_target("/callback", &code, "forged")).await;
    assert_eq!(status, 400, "{page}");
    assert!(page.contains("state does not match"), "{page}");
    let (status, _) = browser_get(port, "/favicon.ico").await;
    assert_eq!(status, 400);
    let (status, page) = browser_get(port, &format!("/callback?state={}", url.state())).await;
    assert_eq!(status, 400);
    assert!(page.contains("no code"), "{page}");
    assert_eq!(fake.code_exchanges(Flavor::Anthropic), 0);

    let (status, page) = browser_get(port, &callback_target("/callback", &code, url.state())).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("login complete"), "{page}");
    let ended = login.end().await;
    assert_eq!(ended.code, Some(0), "{}", ended.output());
    assert_eq!(fake.code_exchanges(Flavor::Anthropic), 1);
    let accounts = m.credentials();
    assert_eq!(
        accounts["claude-alice"]["account_id"],
        alice.account_id.as_str()
    );
    ended.assert_no_secret(&stored_secrets(&accounts));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_providers_refusal_ends_the_login_only_with_this_logins_state() {
    let s = Scenario::new().oauth().await;
    let (fake, m) = (s.oauth_server(), s.login_machine());
    let port = free_port();
    let port_arg = port.to_string();
    let mut login = m.login(
        fake,
        &["openai-codex", "--callback-port", &port_arg],
        "true",
    );
    let url = login.authorize_url().await;
    // Any web page can send the browser here; without the state it ends nothing.
    let (status, page) = browser_get(port, "/auth/callback?error=access_denied&state=guess").await;
    assert_eq!(status, 400);
    assert!(page.contains("state does not match"), "{page}");
    // The provider's refusal, quoting markup: the page shows it as text.
    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair("error", "<script>alert(1)</script>")
        .append_pair("state", url.state())
        .finish();
    let (status, page) = browser_get(port, &format!("/auth/callback?{query}")).await;
    assert_eq!(status, 400);
    assert!(
        page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{page}"
    );
    assert!(!page.contains("<script>"), "{page}");
    let ended = login.end().await;
    assert_eq!(ended.code, Some(1), "{}", ended.output());
    assert!(
        ended
            .stderr
            .contains("login failed: the provider refused the login"),
        "{}",
        ended.output()
    );
    assert_eq!(fake.code_exchanges(Flavor::Codex), 0);
    assert!(!m.config_path().exists());
    assert!(!m.credentials_path().exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn an_idle_connection_does_not_hold_up_the_callback() {
    let s = Scenario::new().oauth().await;
    let (fake, m) = (s.oauth_server(), s.login_machine());
    let alice = fake.identity(Flavor::Anthropic, "alice");
    let port = free_port();
    let mut login = m.login(
        fake,
        &["anthropic", "--callback-port", &port.to_string()],
        "true",
    );
    let url = login.authorize_url().await;
    let code = url.consent(fake, &alice);
    // Browsers open spare connections ahead of time and may never send on them.
    let _idle = TcpStream::connect(("127.0.0.1", port))
        .within("keypool login's callback listener accepting a spare connection")
        .await
        .unwrap();
    let (status, page) = browser_get(port, &callback_target("/callback", &code, url.state())).await;
    assert_eq!(status, 200, "{page}");
    let ended = login.end().await;
    assert_eq!(ended.code, Some(0), "{}", ended.output());
}

#[tokio::test(flavor = "multi_thread")]
async fn codex_loopback_login_uses_the_auth_callback_path() {
    let s = Scenario::new().oauth().await;
    let (fake, m) = (s.oauth_server(), s.login_machine());
    let bob = fake.identity(Flavor::Codex, "bob");
    let ended = loopback_login(&m, fake, "openai-codex", &bob, &[]).await;
    assert_eq!(ended.code, Some(0), "{}", ended.output());
    let accounts = m.credentials();
    assert_eq!(
        accounts["chatgpt-bob"]["account_id"],
        bob.account_id.as_str()
    );
    ended.assert_no_secret(&stored_secrets(&accounts));
}
