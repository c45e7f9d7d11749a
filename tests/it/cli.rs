//! The real `keypool` binary: exit codes, config errors, `run`, and curl end to end.

use crate::support;

use std::process::{Command, Output};
use support::binary::keypool;
use support::guard::OutputWithin;
use support::keypool::write;
use support::scenario::Scenario;

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn config_errors_exit_2_and_name_the_line_and_the_fix() {
    let home = tempfile::tempdir().unwrap();
    let cases = [
        (
            "[[accounts]]\nname = \"a\"\nprovider = \"openai\"\napi_key = \"sk-1\"\nmodel = \"gpt\"\n",
            vec![":5:1: unknown field `model`", "fix:"],
        ),
        (
            "[[accounts]]\nname = \"a\"\nprovider = \"antropic\"\napi_key = \"sk-1\"\n",
            vec![":3: unknown provider 'antropic'", "did you mean 'anthropic'", "[[providers]]"],
        ),
        (
            "[[accounts]]\nname = \"a\"\nprovider = \"openai\"\napi_key = \"sk-1\"\n\n[[accounts]]\nname = \"a\"\nprovider = \"openai\"\napi_key = \"sk-2\"\n",
            vec![":7: duplicate account name 'a'", "fix: account names must be unique"],
        ),
        ("[[pools]]\nname = \"p\"\nprovider = \"openai\"\naccounts = [\"x\"]\nstrategy = \"fastest\"\n", vec![":5:12: strategy: unknown variant", "round-robin"]),
    ];
    for (toml, wanted) in cases {
        let cfg = write(home.path(), "config.toml", toml);
        for args in [
            vec!["accounts", "list"],
            vec!["serve", "--listen", "127.0.0.1:0"],
        ] {
            let out = keypool(home.path())
                .arg("--config")
                .arg(&cfg)
                .args(&args)
                .output_within();
            assert_eq!(
                out.status.code(),
                Some(2),
                "{args:?} with {toml}: {}",
                stderr(&out)
            );
            let err = stderr(&out);
            for w in &wanted {
                assert!(err.contains(w), "expected {w:?} in:\n{err}");
            }
            assert!(
                !err.contains("sk-1") && !err.contains("sk-2"),
                "a key leaked into an error:\n{err}"
            );
        }
    }
    let out = keypool(home.path())
        .args(["serve", "--connect-to", "nonsense"])
        .output_within();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("HOST:PORT:CONNECT_HOST:CONNECT_PORT"));
    let out = keypool(home.path()).arg("frobnicate").output_within();
    assert_eq!(out.status.code(), Some(2));
}

/// Qwen OAuth and Google Antigravity are refused wherever the config names them: an
/// account's provider, a pool's, a `[[providers]]` id. Each load stops (exit 2) with the
/// reason and the fix, before anything is asked of anyone.
#[test]
fn a_config_naming_a_refused_provider_exits_2_with_the_reason() {
    let home = tempfile::tempdir().unwrap();
    let qwen = "free tier ended on 2026-04-15";
    let antigravity = "terms forbid third-party clients";
    let cases = [
        (
            "[[accounts]]\nname = \"q\"\nprovider = \"qwen\"\noauth = \"stored\"\n",
            vec![
                ":3: provider 'qwen' is refused",
                qwen,
                "fix: remove the account",
            ],
        ),
        (
            "[[accounts]]\nname = \"ag\"\nprovider = \"google-antigravity\"\noauth = \"stored\"\n",
            vec![
                "provider 'google-antigravity' is refused",
                antigravity,
                "fix:",
            ],
        ),
        (
            "[[accounts]]\nname = \"q\"\nprovider = \"Qwen-Code\"\napi_key = \"sk-1\"\n",
            vec!["provider 'Qwen-Code' is refused", qwen],
        ),
        (
            "[[pools]]\nname = \"p\"\nprovider = \"antigravity\"\naccounts = [\"x\"]\n",
            vec!["'antigravity' is refused", antigravity],
        ),
        (
            "[[providers]]\nid = \"qwen\"\nhosts = [\"portal.qwen.ai\"]\nauth = \"bearer\"\n",
            vec!["provider 'qwen' is refused", qwen, "fix: remove the block"],
        ),
    ];
    for (toml, wanted) in cases {
        let cfg = write(home.path(), "config.toml", toml);
        for args in [
            vec!["accounts", "list"],
            vec!["serve", "--listen", "127.0.0.1:0"],
        ] {
            let out = keypool(home.path())
                .arg("--config")
                .arg(&cfg)
                .args(&args)
                .output_within();
            let err = stderr(&out);
            assert_eq!(out.status.code(), Some(2), "{args:?} with {toml}: {err}");
            for w in &wanted {
                assert!(err.contains(w), "{args:?}: expected {w:?} in:\n{err}");
            }
            assert!(!err.contains("sk-1"), "a key leaked into an error:\n{err}");
        }
    }
}

#[test]
fn help_has_an_example_for_every_command() {
    let home = tempfile::tempdir().unwrap();
    for cmd in [
        vec![],
        vec!["serve"],
        vec!["ca", "init"],
        vec!["ca", "rotate"],
        vec!["ca", "path"],
        vec!["ca", "install"],
        vec!["ca", "uninstall"],
        vec!["env"],
        vec!["run"],
        vec!["accounts", "list"],
        vec!["accounts", "import"],
    ] {
        let out = keypool(home.path())
            .args(&cmd)
            .arg("--help")
            .output_within();
        assert!(out.status.success());
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains("Example"),
            "{cmd:?} --help has no example:\n{text}"
        );
    }
}

#[test]
fn first_run_writes_an_example_config_and_run_passes_the_exit_code_through() {
    let home = tempfile::tempdir().unwrap();
    let script = r#"test "$HTTPS_PROXY" = "$https_proxy" && test -s "$SSL_CERT_FILE" && test -s "$NODE_EXTRA_CA_CERTS" && test "$NODE_USE_ENV_PROXY" = 1 && exit 7"#;
    let out = keypool(home.path())
        .args(["run", "--listen", "127.0.0.1:0", "--", "sh", "-c", script])
        .output_within();
    assert_eq!(out.status.code(), Some(7), "{}", stderr(&out));
    assert!(stderr(&out).contains("wrote an example config"));
    let cfg = home.path().join("config.toml");
    assert!(std::fs::read_to_string(&cfg)
        .unwrap()
        .contains("# [[accounts]]"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&cfg).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(
            std::fs::metadata(home.path().join("certs/ca-key.pem"))
                .unwrap()
                .permissions()
                .mode()
                & 0o777,
            0o600
        );
    }
    // The bundle keeps the system's roots and adds keypool's CA.
    let bundle = std::fs::read_to_string(home.path().join("certs/bundle.pem")).unwrap();
    let ca = std::fs::read_to_string(home.path().join("certs/ca.pem")).unwrap();
    assert!(bundle.ends_with(&ca));
    assert!(
        bundle.matches("BEGIN CERTIFICATE").count() > 1,
        "system roots are kept in the bundle"
    );

    let out = keypool(home.path()).args(["ca", "path"]).output_within();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        home.path().join("certs/ca.pem").display().to_string()
    );
    let out = keypool(home.path())
        .args(["env", "--shell", "fish"])
        .output_within();
    assert!(String::from_utf8_lossy(&out.stdout).contains("set -gx CODEX_CA_CERTIFICATE"));
    let out = keypool(home.path())
        .args(["ca", "install", "--dry-run"])
        .output_within();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("sudo") && text.contains("ca.pem"), "{text}");
}

fn curl(args: &[&str]) -> String {
    let out = Command::new("curl")
        .args(["-sS", "-D", "-", "--max-time", "30"])
        .args(args)
        .output()
        .expect("curl is installed");
    assert!(
        out.status.success(),
        "curl failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn curl_through_keypool_serve_rotates_and_no_secret_reaches_the_debug_log() {
    let mut s = Scenario::new()
        .provider(&["api.openai.com", "generativelanguage.googleapis.com"])
        .await
        .limited("sk-live-LIMITED-0001", 30)
        .ok(&["sk-live-GOOD-0002", "AIza-live-GOOGLE-0003"]);
    std::env::set_var("KEYPOOL_TEST_GOOGLE_KEY", "AIza-live-GOOGLE-0003");
    let accounts = r#"
[[accounts]]
name = "first"
provider = "openai"
api_key = "sk-live-LIMITED-0001"
[[accounts]]
name = "second"
provider = "openai"
api_key = "!printf sk-live-GOOD-0002"
[[accounts]]
name = "gem"
provider = "google"
api_key = "env:KEYPOOL_TEST_GOOGLE_KEY"
[[accounts]]
name = "broken"
provider = "openai"
api_key = "!echo vault is locked >&2; exit 3"
"#;
    s = s.accounts(accounts);
    let serve = s
        .spawn_with(|c, _| {
            c.env("KEYPOOL_LOG", "debug");
        })
        .await;
    let fake = s.fake();
    let proxy = format!("http://{}", serve.addr());
    let cacert = serve.home.path().join("certs/ca.pem").display().to_string();

    let out = tokio::task::spawn_blocking({
        let (proxy, cacert) = (proxy.clone(), cacert.clone());
        move || {
            let chat = curl(&[
                "-x", &proxy, "--cacert", &cacert,
                "https://api.openai.com/v1/chat/completions",
                "-H", "Authorization: Bearer sk-client-CLIENTKEY-9999",
                "-H", "Content-Type: application/json",
                "-d", r#"{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}"#,
            ]);
            let gemini = curl(&[
                "-x", &proxy, "--cacert", &cacert,
                "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:generateContent?key=AIza-client-CLIENTKEY-8888",
                "-H", "Content-Type: application/json",
                "-d", r#"{"contents":[{"parts":[{"text":"hi"}]}]}"#,
            ]);
            (chat, gemini)
        }
    })
    .await
    .unwrap();
    let (chat, gemini) = out;
    assert!(chat.starts_with("HTTP/1.1 200"), "{chat}");
    assert!(
        chat.to_ascii_lowercase()
            .contains("x-keypool-account: second"),
        "{chat}"
    );
    assert!(chat.contains("chat.completion"), "{chat}");
    assert!(gemini.starts_with("HTTP/1.1 200"), "{gemini}");
    assert_eq!(
        fake.credentials_seen(),
        vec![
            "sk-live-LIMITED-0001",
            "sk-live-GOOD-0002",
            "AIza-live-GOOGLE-0003"
        ]
    );

    let (code, log) = serve.stop().await;
    assert_eq!(code, Some(0), "SIGTERM is a clean exit; log:\n{log}");
    assert!(
        log.contains("status=200"),
        "one line per request at info:\n{log}"
    );
    assert!(log.contains("DEBUG"), "the log ran at debug level:\n{log}");
    assert!(
        log.contains("account disabled")
            && log.contains("broken")
            && log.contains("vault is locked"),
        "a failing !command is reported at startup and the rest keep serving:\n{log}"
    );
    for secret in [
        "sk-live-LIMITED-0001",
        "sk-live-GOOD-0002",
        "AIza-live-GOOGLE-0003",
        "CLIENTKEY",
    ] {
        assert!(
            !log.contains(secret),
            "{secret} appeared in the log:\n{log}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn keypool_run_starts_a_proxy_for_curl_when_none_is_running() {
    let s = Scenario::new()
        .provider(&["api.openai.com"])
        .await
        .ok(&["sk-run-1"]);
    let (fake, home) = (s.fake(), s.home());
    let accounts = "[[accounts]]\nname = \"r\"\nprovider = \"openai\"\napi_key = \"sk-run-1\"\n";
    // The test hooks are flags this time, so the config has no [upstream] of the scenario's.
    let cfg = write(
        home,
        "config.toml",
        &format!("listen = \"127.0.0.1:0\"\n{accounts}"),
    );
    let test_ca = home.join("test-ca.pem");
    let mut cmd = keypool(home);
    let connect_to = format!("api.openai.com:443:127.0.0.1:{}", fake.addr().port());
    cmd.arg("--config")
        .arg(&cfg)
        .args(["run", "--connect-to", &connect_to]);
    cmd.arg("--upstream-ca").arg(&test_ca).args([
        "--",
        "curl",
        "-sS",
        "--fail",
        "--max-time",
        "30",
        "https://api.openai.com/v1/chat/completions",
        "-H",
        "Content-Type: application/json",
        "-d",
        r#"{"model":"gpt-4o","messages":[]}"#,
    ]);
    let out = tokio::task::spawn_blocking(move || cmd.output_within())
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("chat.completion"));
    assert_eq!(fake.credentials_seen(), vec!["sk-run-1"]);
}

#[test]
fn accounts_list_shows_sources_and_check_reports_broken_keys() {
    let home = tempfile::tempdir().unwrap();
    let cfg = write(
        home.path(),
        "config.toml",
        r#"
[[accounts]]
name = "work"
provider = "openai"
api_key = "sk-literal-SECRET"
[[accounts]]
name = "vault"
provider = "anthropic"
api_key = "!echo locked >&2; exit 1"
"#,
    );
    let out = keypool(home.path())
        .arg("--config")
        .arg(&cfg)
        .args(["accounts", "list"])
        .output_within();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("work") && text.contains("openai") && text.contains("literal"),
        "{text}"
    );
    assert!(
        text.contains("vault") && text.contains("anthropic") && text.contains("!echo locked"),
        "{text}"
    );
    assert!(
        !text.contains("SECRET"),
        "a literal key is never printed:\n{text}"
    );

    let out = keypool(home.path())
        .arg("--config")
        .arg(&cfg)
        .args(["accounts", "list", "--check"])
        .output_within();
    assert_eq!(out.status.code(), Some(1), "a broken key fails the check");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.lines()
            .any(|l| l.starts_with("work") && l.contains(" ok ") && l.ends_with("literal")),
        "{text}"
    );
    assert!(text.contains("error:") && text.contains("locked"), "{text}");
    assert!(!text.contains("SECRET"), "{text}");
}
