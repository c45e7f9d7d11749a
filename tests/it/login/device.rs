//! GitHub Copilot's device flow: polls keep the server's pace (`slow_down` included),
//! the seat is checked once through the Copilot token exchange and the GitHub token
//! stored, an enterprise server is asked and remembered, and a denial in the browser
//! writes nothing.

use super::{blocks, stored_block, stored_secrets};
use crate::support::scenario::Scenario;
use crate::support::DeviceAnswer;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread")]
async fn copilot_device_flow_keeps_the_pace_and_checks_the_seat() {
    let s = Scenario::new().oauth().await;
    let (fake, m) = (s.oauth_server(), s.login_machine());
    fake.set_device_interval(0);
    fake.set_device_identity("carol");
    fake.device_script(vec![
        DeviceAnswer::Pending,
        DeviceAnswer::SlowDown { interval: 1 },
        DeviceAnswer::Pending,
        DeviceAnswer::Grant,
    ]);
    let mut login = m.login(fake, &["github-copilot"], "true");
    let shown = login
        .read_until(|l| l.starts_with("Open ").then(|| l.to_string()))
        .await;
    assert_eq!(
        shown,
        "Open https://github.com/login/device in a browser and enter the code ABCD-1234"
    );
    let ended = login.end().await;
    assert_eq!(ended.code, Some(0), "{}", ended.output());
    assert!(
        ended
            .stdout
            .contains("Logged in as carol; added account 'copilot-carol'"),
        "{}",
        ended.output()
    );

    let polls = fake.device_polls();
    assert_eq!(polls.len(), 4, "one poll per scripted answer");
    // After slow_down the interval is the one the server named, for every later poll.
    for (i, gap) in polls.windows(2).map(|w| w[1] - w[0]).enumerate().skip(1) {
        assert!(
            gap >= Duration::from_secs(1),
            "poll {} came {gap:?} after the previous one",
            i + 2
        );
    }
    assert_eq!(fake.copilot_exchanges(), 1, "the seat is checked once");

    // The GitHub token the Copilot exchange carried is the one stored.
    let exchange: Vec<_> = (fake.requests().into_iter())
        .filter(|r| r.path == "/copilot_internal/v2/token")
        .collect();
    assert_eq!(exchange.len(), 1);
    assert_eq!(exchange[0].host, "api.github.com");
    let auth = exchange[0].headers["authorization"].to_str().unwrap();
    let gh = auth.strip_prefix("token ").unwrap();
    assert!(gh.starts_with("gho_"));
    let accounts = m.credentials();
    let entry = &accounts["copilot-carol"];
    assert_eq!(entry["provider"], "github-copilot");
    assert_eq!(entry["email"], "carol", "the GitHub user, from GET /user");
    assert_eq!(entry["refresh_token"], gh);
    assert!(entry.get("domain").is_none(), "github.com is the default");
    assert_eq!(
        blocks(&m.config()),
        [stored_block("copilot-carol", "github-copilot")]
    );
    let device_code = fake.requests()[0].clone();
    assert_eq!(device_code.path, "/login/device/code");
    ended.assert_no_secret(&stored_secrets(&accounts));
}

#[tokio::test(flavor = "multi_thread")]
async fn copilot_on_an_enterprise_server_asks_that_server_and_remembers_it() {
    let s = Scenario::new().oauth().await;
    let (fake, m) = (s.oauth_server(), s.login_machine());
    fake.set_device_identity("dave");
    let args = [
        "github-copilot",
        "--domain",
        "ghe.example.com",
        "--name",
        "ghe",
    ];
    let mut login = m.login(fake, &args, "true");
    let shown = login
        .read_until(|l| l.starts_with("Open ").then(|| l.to_string()))
        .await;
    assert!(
        shown.starts_with("Open https://ghe.example.com/login/device "),
        "{shown}"
    );
    let ended = login.end().await;
    assert_eq!(ended.code, Some(0), "{}", ended.output());
    let hosts: Vec<_> = (fake.requests().iter())
        .map(|r| format!("{} {}", r.host, r.path))
        .collect();
    assert_eq!(
        hosts,
        [
            "ghe.example.com /login/device/code",
            "ghe.example.com /login/oauth/access_token",
            "api.ghe.example.com /copilot_internal/v2/token",
            "api.ghe.example.com /user",
        ]
    );
    assert_eq!(fake.copilot_exchanges(), 1);
    let accounts = m.credentials();
    assert_eq!(accounts["ghe"]["domain"], "ghe.example.com");
    assert!(accounts["ghe"]["refresh_token"]
        .as_str()
        .unwrap()
        .starts_with("gho_"));
    assert_eq!(blocks(&m.config()), [stored_block("ghe", "github-copilot")]);
    ended.assert_no_secret(&stored_secrets(&accounts));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_device_login_denied_in_the_browser_fails_and_writes_nothing() {
    let s = Scenario::new().oauth().await;
    let (fake, m) = (s.oauth_server(), s.login_machine());
    fake.device_script(vec![DeviceAnswer::Pending, DeviceAnswer::Denied]);
    let ended = m.login(fake, &["github-copilot"], "true").end().await;
    assert_eq!(ended.code, Some(1), "{}", ended.output());
    assert!(
        ended
            .stderr
            .contains("login failed: the login was cancelled in the browser"),
        "{}",
        ended.output()
    );
    assert_eq!(fake.device_polls().len(), 2, "no poll after the denial");
    assert_eq!(fake.copilot_exchanges(), 0);
    assert!(!m.credentials_path().exists());
    assert!(!m.config_path().exists());
}
