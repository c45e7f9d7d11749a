//! No secret in an error message (issue 8 §6): a config, `state.json`,
//! `credentials.json` or linked CLI file that does not parse is reported with the
//! file, the line, the field and the fix, never with the value (which may be a key, a
//! password or a token). Every value below is a distinctive secret; no error may
//! contain it.

use crate::support;

use keypool::oauth::link::Linked;
use keypool::oauth::store::Store;
use keypool::providers::Flavor;
use keypool::Config;
use std::path::Path;
use std::process::{Command, Stdio};
use support::guard::{OutputWithin, Within};

/// A value of every TOML type, each a secret (or holding one).
const TOML_VALUES: &[(&str, &str)] = &[
    ("12345678901", "12345678901"),
    ("-98765432109", "98765432109"),
    ("31337.424242", "31337"),
    ("true", "true"),
    ("1979-05-27T07:32:00Z", "1979"),
    ("[\"sk-ARRAY-SECRET\"]", "sk-ARRAY-SECRET"),
    ("{ inner = \"sk-INLINE-SECRET\" }", "sk-INLINE-SECRET"),
];

/// `(config text, line, field)`; `{V}` is replaced by each value.
fn config_templates() -> Vec<(String, usize, &'static str)> {
    let account = "[[accounts]]\nname = \"a\"\nprovider = \"openai\"\n";
    let pool = "[[pools]]\nname = \"p\"\nprovider = \"openai\"\naccounts = [\"a\"]\n";
    vec![
        (format!("{account}api_key = {{V}}\n"), 4, "api_key"),
        (
            format!(
                "{account}api_key = \"k\"\n[clients.ci]\npools = [\"openai\"]\npassword = {{V}}\n"
            ),
            7,
            "password",
        ),
        (
            format!("{account}api_key = \"k\"\noauth = {{V}}\n"),
            5,
            "oauth",
        ),
        (
            format!("{account}api_key = \"k\"\n{pool}strategy = {{V}}\n"),
            9,
            "strategy",
        ),
        (
            format!("{account}api_key = \"k\"\n{pool}hold_max = {{V}}\n"),
            9,
            "hold_max",
        ),
        (
            "[limits]\nshutdown_grace = {V}\n".to_string(),
            2,
            "shutdown_grace",
        ),
        (
            "[upstream]\nread_timeout = {V}\n".to_string(),
            2,
            "read_timeout",
        ),
        (
            "[oauth]\nrefresh_margin = {V}\n".to_string(),
            2,
            "refresh_margin",
        ),
        ("listen = {V}\n".to_string(), 1, "listen"),
    ]
}

fn refuse(text: &str) -> String {
    match Config::parse(text, Path::new("config.toml")) {
        Ok(_) => panic!("accepted:\n{text}"),
        Err(e) => e.0,
    }
}

#[test]
fn config_errors_name_the_field_and_line_never_the_value() {
    let mut checked = 0;
    for (template, line, field) in config_templates() {
        let strings = [("\"sk-STRING-SECRET-77\"", "sk-STRING-SECRET-77")];
        for (v, secret) in TOML_VALUES.iter().chain(&strings) {
            let text = template.replace("{V}", v);
            let Err(e) = Config::parse(&text, Path::new("config.toml")).map_err(|e| e.0) else {
                continue; // a string api_key, say, is valid
            };
            assert!(!e.contains(secret), "{field} = {v} leaked:\n{e}");
            assert!(
                e.starts_with(&format!("config.toml:{line}:")),
                "{field} = {v}: not at line {line}:\n{e}"
            );
            assert!(e.contains(field), "{field} = {v}: field not named:\n{e}");
            assert!(e.contains("fix:"), "{field} = {v}: no fix:\n{e}");
            checked += 1;
        }
    }
    assert!(checked >= 55, "only {checked} errors checked");
}

#[test]
fn the_reported_password_integer_is_not_printed() {
    let e = refuse(
        "[[accounts]]\nname = \"a\"\nprovider = \"openai\"\napi_key = \"k\"\n[clients.ci]\npools = [\"openai\"]\npassword = 12345\n",
    );
    assert!(
        e.starts_with("config.toml:7:12: password: invalid type: an integer, expected a string"),
        "{e}"
    );
    assert!(!e.contains("12345"), "{e}");
}

#[test]
fn syntax_errors_and_duration_limits_quote_nothing() {
    for (text, want) in [
        (
            "[[accounts]]\nname = \"a\"\napi_key = \"sk-SYNTAX-SECRET\" x\n",
            "config.toml:3:",
        ),
        ("api_key = \"sk-UNTERMINATED-SECRET\n", "config.toml:1:"),
        (
            "[limits]\nsticky_idle = \"1sk-UNIT-SECRET\"\n",
            "config.toml:2:",
        ),
        (
            "[limits]\nsticky_idle = \"99999999999999999999999y\"\n",
            "config.toml:2:",
        ),
    ] {
        let e = refuse(text);
        assert!(e.starts_with(want), "{text}:\n{e}");
        assert!(
            !e.contains("SECRET") && !e.contains("99999999"),
            "{text}:\n{e}"
        );
    }
}

#[test]
fn config_durations_have_limits_that_name_field_limit_and_fix() {
    let account = "[[accounts]]\nname = \"a\"\nprovider = \"openai\"\napi_key = \"k\"\n";
    for (text, line, field, limit) in [
        ("[upstream]\nconnect_timeout = \"1h\"\n".to_string(), 2, "connect_timeout", "5m"),
        ("[upstream]\nconnect_timeout = \"0s\"\n".to_string(), 2, "connect_timeout", "5m"),
        ("[upstream]\nread_timeout = \"600d\"\n".to_string(), 2, "read_timeout", "1day"),
        ("[limits]\nshutdown_grace = \"2h\"\n".to_string(), 2, "shutdown_grace", "1h"),
        ("[limits]\ntunnel_idle_timeout = \"0s\"\n".to_string(), 2, "tunnel_idle_timeout", "7days"),
        ("[limits]\nfirst_event_timeout = \"1h\"\n".to_string(), 2, "first_event_timeout", "10m"),
        ("[limits]\nhandshake_timeout = \"0s\"\n".to_string(), 2, "handshake_timeout", "5m"),
        ("[limits]\nhandshake_timeout = \"1h\"\n".to_string(), 2, "handshake_timeout", "5m"),
        ("[limits]\npark_after = \"2h\"\n".to_string(), 2, "park_after", "1h"),
        ("\n[limits]\nsticky_idle = \"0s\"\n".to_string(), 3, "sticky_idle", "30days"),
        ("[limits]\nsticky_idle = \"1y\"\n".to_string(), 2, "sticky_idle", "30days"),
        ("[oauth]\nrefresh_margin = \"1h\"\n".to_string(), 2, "refresh_margin", "15m"),
        (
            format!("{account}[[pools]]\nname = \"p\"\nprovider = \"openai\"\naccounts = [\"a\"]\nhold_max = \"2h\"\n"),
            9,
            "hold_max",
            "1h",
        ),
        (
            format!("{account}[[pools]]\nname = \"p\"\nhold_max = \"0s\"\nprovider = \"openai\"\naccounts = [\"a\"]\n"),
            7,
            "hold_max",
            "1h",
        ),
    ] {
        let e = refuse(&text);
        assert!(e.starts_with(&format!("config.toml:{line}: {field}")), "{text}:\n{e}");
        assert!(e.contains(&format!("at most {limit}")) && e.contains("\nfix: set"), "{text}:\n{e}");
    }
    // Zero where zero means something, and the edges, are accepted.
    for ok in [
        "[limits]\nshutdown_grace = \"0s\"\nfirst_event_timeout = \"0s\"\npark_after = \"0s\"\n",
        "[oauth]\nrefresh_margin = \"0s\"\n",
        "[limits]\nsticky_idle = \"30days\"\ntunnel_idle_timeout = \"7days\"\n",
        "[limits]\nhandshake_timeout = \"5m\"\n",
    ] {
        Config::parse(ok, Path::new("config.toml")).unwrap_or_else(|e| panic!("{ok}: {}", e.0));
    }
}

/// `credentials.json` shapes with a secret where a value goes.
#[test]
fn credentials_json_errors_name_line_and_field_never_the_token() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("credentials.json");
    for (text, field) in [
        (
            r#"{"accounts":{"w":{"provider":"anthropic","access_token":12345678901}}}"#,
            "accounts.w.access_token",
        ),
        (
            r#"{"accounts":{"w":{"provider":"anthropic","refresh_token":["sk-ant-ort01-SECRET"]}}}"#,
            "accounts.w.refresh_token",
        ),
        (
            r#"{"accounts":{"w":{"provider":"anthropic","expires_at":"sk-ant-oat01-SECRET"}}}"#,
            "accounts.w.expires_at",
        ),
        (
            r#"{"accounts":{"w":{"provider":{"k":"sk-SECRET-OBJ"}}}}"#,
            "accounts.w.provider",
        ),
        (
            r#"{"accounts":{"w":{"provider":true,"access_token":"sk-ant-oat01-SECRET"}}}"#,
            "accounts.w.provider",
        ),
        (
            "{\"accounts\":{\"w\":{\"access_token\":\"sk-ant-oat01-SECRET\" x}}}",
            "line 1",
        ),
    ] {
        std::fs::write(&path, text).unwrap();
        let e = Store::at(&path).load().unwrap_err().to_string();
        assert!(
            !e.contains("SECRET") && !e.contains("12345678901") && !e.contains("true,"),
            "{text}:\n{e}"
        );
        assert!(
            e.contains("line 1, column") && e.contains(field),
            "{text}:\n{e}"
        );
        assert!(e.contains("fix it or move it aside"), "{e}");
    }
    // An absurd expiry is not an error: the file reads, the expiry is dropped.
    std::fs::write(
        &path,
        r#"{"accounts":{"w":{"provider":"anthropic","access_token":"a","expires_at":1e300},"v":{"provider":"anthropic","access_token":"b","expires_at":18446744073709551616}}}"#,
    )
    .unwrap();
    let all = Store::at(&path).load().unwrap();
    assert!(all.values().all(|e| e.tokens().expires_at.is_none()));
}

#[test]
fn linked_files_say_what_is_wrong_without_quoting_it() {
    let dir = tempfile::tempdir().unwrap();
    let cases: &[(&str, Flavor, &str, &str)] = &[
        (
            ".credentials.json",
            Flavor::Anthropic,
            r#"{"claudeAiOauth":{"accessToken":12345678901,"refreshToken":["sk-ant-ort01-SECRET"]}}"#,
            "accessToken",
        ),
        (
            ".credentials.json",
            Flavor::Anthropic,
            "{\"claudeAiOauth\":{\"accessToken\":\"sk-ant-oat01-SECRET\" x}}",
            "line 1",
        ),
        (
            "auth.json",
            Flavor::Codex,
            r#"{"auth_mode":"chatgpt","tokens":{"access_token":12345678901,"refresh_token":{"k":"rt-SECRET"}}}"#,
            "refresh",
        ),
        (
            "auth.json",
            Flavor::Codex,
            "{\"tokens\":{\"refresh_token\":\"rt-SECRET\",}}",
            "line 1",
        ),
        (
            "pi-auth.json",
            Flavor::Anthropic,
            r#"{"anthropic":{"type":"oauth","refresh":12345678901,"access":["sk-SECRET"]}}"#,
            "anthropic",
        ),
        (
            "oauth_creds.json",
            Flavor::GeminiCli,
            r#"{"access_token":12345678901,"refresh_token":["1//SECRET"],"expiry_date":"SECRET"}"#,
            "token",
        ),
        (
            "apps.json",
            Flavor::Copilot,
            r#"{"github.com:Iv1.b507a08c87ecfe98":{"user":"me","oauth_token":12345678901}}"#,
            "oauth_token",
        ),
    ];
    for (name, flavor, text, named) in cases {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        let e = match Linked::open(&p, *flavor).and_then(|l| l.read()) {
            Ok(_) => panic!("{name}: {text} read"),
            Err(e) => e.to_string(),
        };
        assert!(
            !e.contains("SECRET") && !e.contains("12345678901"),
            "{name}:\n{e}"
        );
        assert!(
            e.contains(&p.display().to_string()) && e.contains(named),
            "{name}: {named} not named:\n{e}"
        );
    }
}

fn keypool(home: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_keypool"))
        .env_clear()
        .env("HOME", home)
        .env("KEYPOOL_HOME", home.join(".keypool"))
        .args(args)
        .output_within()
}

/// The commands that read these files: `accounts import`, `accounts list`, `login`,
/// `serve` (config), each with a file holding a secret where it should not be.
#[test]
fn commands_that_read_broken_files_keep_secrets_out_of_their_output() {
    let home = tempfile::tempdir().unwrap();
    let kh = home.path().join(".keypool");
    std::fs::create_dir_all(&kh).unwrap();
    std::fs::write(
        kh.join("credentials.json"),
        r#"{"accounts":{"w":{"provider":"anthropic","access_token":"sk-ant-oat01-CRED-SECRET","refresh_token":31337424242}}}"#,
    )
    .unwrap();
    std::fs::create_dir_all(home.path().join(".codex")).unwrap();
    std::fs::write(
        home.path().join(".codex/auth.json"),
        "{\"tokens\":{\"refresh_token\":\"rt-CODEX-SECRET\" oops}}",
    )
    .unwrap();
    let config = kh.join("config.toml");
    std::fs::write(
        &config,
        "[[accounts]]\nname = \"w\"\nprovider = \"anthropic\"\noauth = \"stored\"\n[clients.ci]\npools = [\"anthropic\"]\npassword = 12345678901\n",
    )
    .unwrap();
    let cfg = config.to_str().unwrap();
    for args in [
        vec!["accounts", "import", "--all"],
        vec!["--config", cfg, "accounts", "list"],
        vec!["--config", cfg, "serve", "--listen", "127.0.0.1:0"],
        vec!["login", "anthropic", "--name", "x"],
    ] {
        let out = keypool(home.path(), &args);
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert_ne!(out.status.code(), Some(0), "{args:?} succeeded:\n{text}");
        for secret in ["CRED-SECRET", "31337424242", "CODEX-SECRET", "12345678901"] {
            assert!(!text.contains(secret), "{args:?} printed {secret}:\n{text}");
        }
    }
    // The config error names its field and line.
    let out = keypool(home.path(), &["--config", cfg, "accounts", "list"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("config.toml:7:12: password: invalid type: an integer"),
        "{err}"
    );
    // Fixed config: the credentials error names its field and line.
    std::fs::write(
        &config,
        "[[accounts]]\nname = \"w\"\nprovider = \"anthropic\"\noauth = \"stored\"\n",
    )
    .unwrap();
    let out = keypool(home.path(), &["accounts", "import", "--all"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("credentials.json is not valid credentials JSON (line 1, column"),
        "{err}"
    );
    assert!(err.contains("accounts.w.refresh_token"), "{err}");
}

/// `state.json` with secrets where numbers go, and one syntax error after a secret: the
/// warnings name the field, keypool starts, and no secret is printed.
#[cfg(unix)]
#[tokio::test]
async fn state_json_warnings_name_the_field_never_the_value() {
    use tokio::io::AsyncBufReadExt;
    let home = tempfile::tempdir().unwrap();
    let cfg = support::keypool::write(
        home.path(),
        "config.toml",
        &support::keypool::key_account("a", "openai", "sk-a"),
    );
    for (state, want) in [
        (
            r#"{"accounts":{"a":{"credential":"sk-STATE-SECRET-1","state":"cooling","until":"sk-STATE-SECRET-2","verdict":"x","detail":"d"},"b":{"credential":["sk-STATE-SECRET-3"]}},"affinity":{"sticky":{"entries":[{"pool":"p","key":"sk-STATE-SECRET-4","account":"a","seen":1}]}}}"#,
            vec![
                "accounts.\"a\".until",
                "accounts.\"b\".credential",
                "affinity.sticky.entries[0].key",
            ],
        ),
        (
            "{\"accounts\":{\"a\":\"sk-STATE-SECRET-5\" x}}",
            vec!["is not valid state (line 1, column"],
        ),
    ] {
        std::fs::write(home.path().join("state.json"), state).unwrap();
        let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_keypool"))
            .env_clear()
            .env("KEYPOOL_HOME", home.path())
            .env("HOME", home.path())
            .args([
                "--config",
                cfg.to_str().unwrap(),
                "serve",
                "--listen",
                "127.0.0.1:0",
            ])
            .kill_on_drop(true)
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = tokio::io::BufReader::new(child.stderr.take().unwrap()).lines();
        let log = tokio::time::timeout(std::time::Duration::from_secs(20), async {
            let mut log = String::new();
            while let Some(line) = lines.next_line().await.unwrap() {
                log += &line;
                log.push('\n');
                if line.contains("listening on") {
                    return log;
                }
            }
            panic!("keypool exited:\n{log}");
        })
        .await
        .expect("keypool did not start within 20 s");
        assert!(!log.contains("STATE-SECRET"), "{log}");
        for w in want {
            assert!(log.contains(w), "{w} not in:\n{log}");
        }
        child
            .kill()
            .within("keypool serve to exit after SIGKILL")
            .await
            .unwrap();
        let _ = std::fs::remove_file(home.path().join("state.json"));
    }
}
