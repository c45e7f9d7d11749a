//! Logins with `--no-browser`, finished by pasting what the browser shows: Anthropic's
//! `code#state` (a state from another attempt is refused before any exchange) and
//! Codex's whole redirect address, with the identity read from the ID token.

use super::{blocks, code_grants, free_port, stored_block, stored_secrets};
use crate::support;
use crate::support::oauth::pkce_challenge;
use crate::support::scenario::Scenario;
use crate::support::Flavor;

#[tokio::test(flavor = "multi_thread")]
async fn anthropic_without_a_browser_takes_the_pasted_code_and_state() {
    let s = Scenario::new().oauth().await;
    let (fake, m) = (s.oauth_server(), s.login_machine());
    let alice = fake.identity(Flavor::Anthropic, "alice");

    // A code pasted from another login attempt is refused before any exchange.
    let mut login = m.login(fake, &["anthropic", "--no-browser"], "true");
    let url = login.authorize_url().await;
    let code = url.consent(fake, &alice);
    login
        .read_until(|l| l.starts_with("Paste the code").then_some(()))
        .await;
    login.paste(&format!("{code}#some-other-state")).await;
    let ended = login.end().await;
    assert_eq!(ended.code, Some(1), "{}", ended.output());
    assert!(
        ended.stderr.contains("another login attempt"),
        "{}",
        ended.output()
    );
    assert_eq!(fake.code_exchanges(Flavor::Anthropic), 0);
    assert!(!m.credentials_path().exists());

    let mut login = m.login(
        fake,
        &["anthropic", "--no-browser", "--name", "work"],
        "true",
    );
    let url = login.authorize_url().await;
    assert_eq!(
        url.redirect_uri(),
        "https://platform.claude.com/oauth/code/callback"
    );
    let code = url.consent(fake, &alice);
    login
        .read_until(|l| l.starts_with("Paste the code").then_some(()))
        .await;
    login.paste(&format!("  {code}#{}  ", url.state())).await;
    let ended = login.end().await;
    assert_eq!(ended.code, Some(0), "{}", ended.output());
    assert!(
        ended.stdout.contains("added account 'work'"),
        "{}",
        ended.output()
    );
    let accounts = m.credentials();
    assert_eq!(accounts["work"]["email"], alice.email.as_str());
    assert_eq!(blocks(&m.config()), [stored_block("work", "anthropic")]);
    ended.assert_no_secret(&stored_secrets(&accounts));
}

#[tokio::test(flavor = "multi_thread")]
async fn codex_without_a_browser_takes_the_pasted_redirect_and_reads_the_jwt() {
    let s = Scenario::new().oauth().await;
    let (fake, m) = (s.oauth_server(), s.login_machine());
    let bob = fake.identity(Flavor::Codex, "bob");
    let port = free_port();
    let mut login = m.login(
        fake,
        &[
            "openai-codex",
            "--no-browser",
            "--callback-port",
            &port.to_string(),
        ],
        "true",
    );
    let url = login.authorize_url().await;
    assert_eq!(url.base, "https://auth.openai.com/oauth/authorize");
    assert_eq!(url.get("client_id"), support::oauth::CODEX_CLIENT_ID);
    assert_eq!(url.get("code_challenge_method"), "S256");
    assert!(url.get("scope").contains("offline_access"));
    let redirect = format!("http://localhost:{port}/auth/callback");
    assert_eq!(url.redirect_uri(), redirect);
    let code = url.consent(fake, &bob);
    login
        .read_until(|l| l.contains("paste that page's full address").then_some(()))
        .await;
    // The address bar of the page that did not load.
    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair("code", &code)
        .append_pair("scope", "openid profile email offline_access")
        .append_pair("state", url.state())
        .finish();
    login.paste(&format!("{redirect}?{query}")).await;
    let ended = login.end().await;
    assert_eq!(ended.code, Some(0), "{}", ended.output());
    assert!(
        ended.stdout.contains(&format!(
            "Logged in as {}; added account 'chatgpt-bob'",
            bob.email
        )),
        "{}",
        ended.output()
    );

    let grants = code_grants(fake, "/oauth/token");
    let [(req, p)] = &grants[..] else {
        panic!("one exchange expected, got {}", grants.len())
    };
    assert_eq!(req.host, "auth.openai.com");
    assert!(req
        .content_type()
        .unwrap()
        .starts_with("application/x-www-form-urlencoded"));
    assert_eq!(pkce_challenge(&p["code_verifier"]), url.challenge());
    assert_eq!(p["redirect_uri"], redirect);

    let accounts = m.credentials();
    let entry = &accounts["chatgpt-bob"];
    assert_eq!(entry["provider"], "openai-codex");
    assert_eq!(entry["account_id"], bob.account_id.as_str());
    assert_eq!(entry["plan"], bob.plan.as_str());
    assert_eq!(entry["plan"], "pro");
    assert_eq!(entry["email"], bob.email.as_str());
    assert!(entry["id_token"].as_str().is_some());
    let refresh = entry["refresh_token"].as_str().unwrap();
    fake.use_refresh(Flavor::Codex, refresh)
        .expect("the stored refresh token is the fake's live one");
    assert_eq!(
        blocks(&m.config()),
        [stored_block("chatgpt-bob", "openai-codex")]
    );
    let mut secrets = stored_secrets(&accounts);
    secrets.extend([code, p["code_verifier"].clone()]);
    ended.assert_no_secret(&secrets);
}
