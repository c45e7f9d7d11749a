//! `keypool run` keeps the terminal for its child: keypool's log goes to keypool.log,
//! and stderr gets one line saying where.

use crate::support;

use support::binary::keypool;
use support::config_files::mode;
use support::guard::OutputWithin;
use support::keypool::write;
use support::scenario::Scenario;

#[tokio::test(flavor = "multi_thread")]
async fn keypool_run_logs_to_its_file_and_says_so_in_one_line() {
    let s = Scenario::new()
        .provider(&["api.openai.com"])
        .await
        .ok(&["sk-run-log-SECRET"]);
    let (fake, home) = (s.fake(), s.home());
    let cfg = write(
        home,
        "config.toml",
        concat!(
            "listen = \"127.0.0.1:0\"\n[[accounts]]\nname = \"r\"\nprovider = \"openai\"\n",
            "api_key = \"sk-run-log-SECRET\"\n"
        ),
    );
    let connect_to = format!("api.openai.com:443:127.0.0.1:{}", fake.addr().port());
    let curl = concat!(
        "curl -sS --fail --max-time 30 https://api.openai.com/v1/chat/completions ",
        "-H 'Content-Type: application/json' -H 'Authorization: Bearer sk-placeholder' ",
        "-d '{\"model\":\"gpt-4o\",\"messages\":[]}'"
    );
    let mut cmd = keypool(home);
    cmd.arg("--config")
        .arg(&cfg)
        .args(["run", "--connect-to", &connect_to, "--upstream-ca"])
        .arg(home.join("test-ca.pem"))
        .args(["--", "sh", "-c", curl]);
    let out = tokio::task::spawn_blocking(move || cmd.output_within())
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("chat.completion"));
    assert_eq!(fake.credentials_seen(), vec!["sk-run-log-SECRET"]);

    let log_path = home.join("keypool.log");
    assert_eq!(
        stderr.trim_end(),
        format!(
            "keypool: logging to {} (the proxy runs until sh exits)",
            log_path.display()
        ),
        "stderr holds only the one line, no request log"
    );
    let log = std::fs::read_to_string(&log_path).unwrap();
    assert!(
        log.contains("POST api.openai.com/v1/chat/completions")
            && log.contains("account=\"r\"")
            && log.contains("status=200"),
        "{log}"
    );
    assert!(!log.contains("\x1b["), "no colour codes in a file:\n{log}");
    assert!(!log.contains("sk-run-log-SECRET") && !log.contains("sk-placeholder"));
    assert_eq!(mode(&log_path), 0o600);
}
