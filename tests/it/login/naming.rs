//! Account names and logging in again: a name that cannot take the login (an API-key
//! account, an empty name, another provider's account) is refused before any browser
//! or device step; a second login of the same person replaces the tokens of the same
//! account, found by name or by account id, and leaves the config as it was.

use super::{blocks, free_port, loopback_login, stored_block, stored_secrets};
use crate::support::scenario::Scenario;
use crate::support::Flavor;

#[tokio::test(flavor = "multi_thread")]
async fn a_name_that_cannot_take_the_login_is_refused_before_the_browser() {
    let s = Scenario::new().oauth().await;
    let (fake, m) = (s.oauth_server(), s.login_machine());
    std::fs::create_dir_all(m.keypool_home()).unwrap();
    let config = "[[accounts]]\nname = \"work\"\nprovider = \"anthropic\"\napi_key = \"sk-ant-api03-SECRET\"\n";
    std::fs::write(m.config_path(), config).unwrap();
    let port = free_port().to_string();
    for (name, why) in [
        ("work", "account 'work' uses an API key"),
        ("", "an account name must be non-empty"),
    ] {
        let args = ["anthropic", "--name", name, "--callback-port", &port];
        let ended = m.login(fake, &args, "true").end().await;
        assert_eq!(ended.code, Some(1), "{}", ended.output());
        assert!(ended.stderr.contains(why), "{}", ended.output());
        assert!(!ended.stdout.contains("https://"), "{}", ended.output());
        ended.assert_no_secret(&["sk-ant-api03-SECRET".to_string()]);
    }
    let github = ["github-copilot", "--name", "work"];
    let ended = m.login(fake, &github, "true").end().await;
    assert_eq!(ended.code, Some(1), "{}", ended.output());
    assert!(
        ended.stderr.contains("is a 'anthropic' account"),
        "{}",
        ended.output()
    );
    assert!(fake.requests().is_empty(), "no device flow was started");
    assert_eq!(m.config(), config);
    assert!(!m.credentials_path().exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn logging_in_again_replaces_the_tokens_and_adds_no_block() {
    let s = Scenario::new().oauth().await;
    let (fake, m) = (s.oauth_server(), s.login_machine());
    let alice = fake.identity(Flavor::Anthropic, "alice");

    let first = loopback_login(&m, fake, "anthropic", &alice, &["--name", "work"]).await;
    assert_eq!(first.code, Some(0), "{}", first.output());
    assert!(
        first.stdout.contains("added account 'work'"),
        "{}",
        first.output()
    );
    let config = m.config();
    assert_eq!(blocks(&config), [stored_block("work", "anthropic")]);
    let old = m.credentials()["work"].clone();

    let second = loopback_login(&m, fake, "anthropic", &alice, &["--name", "work"]).await;
    assert_eq!(second.code, Some(0), "{}", second.output());
    assert!(
        second.stdout.contains("new tokens for account 'work'"),
        "{}",
        second.output()
    );
    assert_eq!(m.config(), config, "the config is left as it was");
    let accounts = m.credentials();
    assert_eq!(accounts.as_object().unwrap().len(), 1);
    let new = &accounts["work"];
    assert_ne!(new["refresh_token"], old["refresh_token"]);
    assert_ne!(new["access_token"], old["access_token"]);
    assert_eq!(new["account_id"], alice.account_id.as_str());
    fake.use_refresh(Flavor::Anthropic, new["refresh_token"].as_str().unwrap())
        .expect("the new refresh token is stored");

    // Without --name, the same person is recognised by account id.
    let third = loopback_login(&m, fake, "anthropic", &alice, &[]).await;
    assert_eq!(third.code, Some(0), "{}", third.output());
    assert!(
        third.stdout.contains("new tokens for account 'work'"),
        "{}",
        third.output()
    );
    assert_eq!(m.config(), config);
    assert_eq!(m.credentials().as_object().unwrap().len(), 1);

    // A name taken by another provider's account is refused before any browser step,
    // and nothing changes.
    let before = std::fs::read(m.credentials_path()).unwrap();
    let port = free_port().to_string();
    let args = ["openai-codex", "--name", "work", "--callback-port", &port];
    let clash = m.login(fake, &args, "true").end().await;
    assert_eq!(clash.code, Some(1), "{}", clash.output());
    assert!(
        clash
            .stderr
            .contains("account 'work' is a 'anthropic' account"),
        "{}",
        clash.output()
    );
    assert!(!clash.stdout.contains("https://"), "{}", clash.output());
    assert_eq!(fake.code_exchanges(Flavor::Codex), 0);
    assert_eq!(m.config(), config);
    assert_eq!(std::fs::read(m.credentials_path()).unwrap(), before);
    for e in [&first, &second, &third, &clash] {
        e.assert_no_secret(&stored_secrets(&accounts));
    }
}
