//! Kimi For Coding logins imported with `--link`, then served: pi's `kimi-coding` OAuth
//! entry (beside the Qwen and Antigravity logins keypool refuses, skipped with the
//! reason) and kimi-cli's `~/.kimi/credentials/kimi-code.json` with its `~/.kimi/device_id`.
//! Each becomes an account linked to the file (nothing of the tokens copied), and the real
//! `keypool serve`, on that home, answers a kimi-cli request with the token from the
//! file and the account's device, never the client's.

use super::blocks;
use crate::support::fake::KIMI_HOST;
use crate::support::guard::{OutputWithin, Within};
use crate::support::scenario::{Scenario, Spawned};
use crate::support::{Flavor, Grant, SeenRequest};
use serde_json::{json, Value};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const CLIENT_TOKEN: &str = "kimi-client-own-token";
const CLIENT_DEVICE: &str = "c11e47c11e47c11e47c11e47c11e47c1";
/// kimi-cli's device (`~/.kimi/device_id`).
const KIMI_CLI_DEVICE: &str = "6b696d69636c6964657669636569640a";

fn write_private(path: &Path, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

fn now_secs() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// `keypool accounts import SOURCE --link` with only HOME and KEYPOOL_HOME set; its
/// output, after checking it exited 0 and printed none of `secrets`.
fn import(home: &Path, keypool_home: &Path, source: &str, secrets: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_keypool"))
        .env_clear()
        .env("HOME", home)
        .env("KEYPOOL_HOME", keypool_home)
        .args(["accounts", "import", source, "--link"])
        .output_within();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{text}");
    for s in secrets {
        assert!(
            !text.contains(s),
            "a token reached the import's output:\n{text}"
        );
    }
    text
}

/// The imported accounts as the config has them, for the scenario's own config.
fn imported_accounts(keypool_home: &Path) -> String {
    let config = std::fs::read_to_string(keypool_home.join("config.toml")).unwrap();
    blocks(&config)
        .iter()
        .map(|b| format!("[[accounts]]\n{b}\n"))
        .collect()
}

/// A Kimi login the fake OAuth server issued (its token works at the fake api.kimi.com).
fn kimi_grant(s: &Scenario, label: &str) -> Grant {
    let id = s.oauth_server().identity(Flavor::Kimi, label);
    s.oauth_server().grant(&id)
}

/// kimi-cli, logged in as itself, sends a message through the spawned keypool; the
/// request api.kimi.com got for it.
async fn serve_one(s: &Scenario, kp: &Spawned) -> SeenRequest {
    let r = kp
        .client()
        .post("https://api.kimi.com/coding/v1/messages")
        .bearer_auth(CLIENT_TOKEN)
        .header("x-msh-platform", "kimi_cli")
        .header("x-msh-device-id", CLIENT_DEVICE)
        .header("anthropic-version", "2023-06-01")
        .json(&json!({"model": "kimi-for-coding", "max_tokens": 8,
                      "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .within("a Kimi message through keypool serve")
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    (s.fake().seen().into_iter())
        .rfind(|r| r.path == "/coding/v1/messages")
        .expect("api.kimi.com got the message")
}

fn header<'h>(r: &'h SeenRequest, name: &str) -> &'h str {
    r.headers[name].to_str().unwrap()
}

fn credentials(keypool_home: &Path) -> Value {
    let text = std::fs::read_to_string(keypool_home.join("credentials.json")).unwrap();
    serde_json::from_str::<Value>(&text).unwrap()["accounts"].clone()
}

#[tokio::test]
async fn pis_kimi_login_is_linked_and_served_while_qwen_and_antigravity_are_skipped() {
    let s = Scenario::new().provider(&[KIMI_HOST]).await;
    let s = s.oauth().await;
    let g = kimi_grant(&s, "pi");
    let home = tempfile::tempdir().unwrap();
    let expires_ms = (now_secs() as u64 + 900) * 1000;
    let auth = json!({
        "kimi-coding": {"type": "oauth", "refresh": g.refresh, "access": g.access,
                        "expires": expires_ms},
        "qwen-cli": {"type": "oauth", "refresh": "qwen-SECRET-r", "access": "qwen-SECRET-a",
                     "expires": expires_ms, "resourceUrl": "portal.qwen.ai"},
        "google-antigravity": {"type": "oauth", "refresh": "1//0SECRET-ag",
                               "access": "ya29.SECRET-ag", "expires": expires_ms,
                               "projectId": "rising-fact-p41fc"},
    });
    let pi_file = home.path().join(".pi/agent/auth.json");
    write_private(&pi_file, &auth.to_string());

    let secrets = [g.access.as_str(), g.refresh.as_str(), "SECRET"];
    let out = import(home.path(), s.home(), "pi", &secrets);
    let from = "from ~/.pi/agent/auth.json";
    for line in [
        format!("pi: kimi-coding oauth {from}: added as 'pi-kimi-coding'"),
        format!("pi: qwen-cli oauth {from}: skipped: keypool does not pool Qwen OAuth: its free tier ended on 2026-04-15"),
        format!("pi: google-antigravity oauth {from}: skipped: keypool does not pool Google Antigravity: its terms forbid third-party clients"),
    ] {
        assert!(out.contains(&line), "missing {line:?} in:\n{out}");
    }
    let accounts = imported_accounts(s.home());
    assert_eq!(
        blocks(&accounts),
        ["name = \"pi-kimi-coding\"\nprovider = \"kimi-coding\"\noauth = \"link:~/.pi/agent/auth.json\""],
        "only the Kimi login, linked to pi's file"
    );
    let entry = &credentials(s.home())["pi-kimi-coding"];
    assert!(
        entry.get("access_token").is_none(),
        "a reference, not a copy: {entry}"
    );
    assert!(entry.get("refresh_token").is_none(), "{entry}");

    let mut s = s.accounts(&accounts);
    let home_dir = home.path().to_path_buf();
    let kp = s
        .spawn_with(|cmd, _| {
            cmd.env("HOME", &home_dir);
        })
        .await;
    let seen = serve_one(&s, &kp).await;
    assert_eq!(
        seen.credential.as_deref(),
        Some(g.access.as_str()),
        "pi's token"
    );
    let device = header(&seen, "x-msh-device-id").to_string();
    assert_ne!(device, CLIENT_DEVICE);
    let (code, log, kept) = kp.stop_keeping_home().await;
    assert_eq!(code, Some(0), "{log}");
    assert_eq!(
        credentials(kept.path())["pi-kimi-coding"]["device_id"],
        device.as_str(),
        "pi keeps no device id: keypool made one for the account and kept it"
    );
    assert!(
        !log.contains(&g.access) && !log.contains(CLIENT_TOKEN),
        "{log}"
    );
}

#[tokio::test]
async fn kimi_clis_file_login_is_linked_with_its_device_and_served() {
    let s = Scenario::new().provider(&[KIMI_HOST]).await;
    let s = s.oauth().await;
    let g = kimi_grant(&s, "cli");
    let home = tempfile::tempdir().unwrap();
    let file = home.path().join(".kimi/credentials/kimi-code.json");
    let expires_at = now_secs() + Duration::from_secs(900).as_secs_f64();
    let creds = json!({"access_token": g.access, "refresh_token": g.refresh,
        "expires_at": expires_at, "scope": "kimi-code", "token_type": "Bearer"});
    write_private(&file, &creds.to_string());
    std::fs::write(
        home.path().join(".kimi/device_id"),
        format!("{KIMI_CLI_DEVICE}\n"),
    )
    .unwrap();

    let secrets = [g.access.as_str(), g.refresh.as_str()];
    let out = import(home.path(), s.home(), "kimi-cli", &secrets);
    let line =
        "kimi-cli: kimi-coding oauth from ~/.kimi/credentials/kimi-code.json: added as 'kimi-cli'";
    assert!(out.contains(line), "missing {line:?} in:\n{out}");
    let accounts = imported_accounts(s.home());
    assert_eq!(
        blocks(&accounts),
        ["name = \"kimi-cli\"\nprovider = \"kimi-coding\"\noauth = \"link:~/.kimi/credentials/kimi-code.json\""]
    );
    let entry = &credentials(s.home())["kimi-cli"];
    assert!(
        entry.get("access_token").is_none(),
        "a reference, not a copy: {entry}"
    );

    let mut s = s.accounts(&accounts);
    let home_dir = home.path().to_path_buf();
    let kp = s
        .spawn_with(|cmd, _| {
            cmd.env("HOME", &home_dir);
        })
        .await;
    let seen = serve_one(&s, &kp).await;
    assert_eq!(
        seen.credential.as_deref(),
        Some(g.access.as_str()),
        "the file's token"
    );
    assert_eq!(
        header(&seen, "x-msh-device-id"),
        KIMI_CLI_DEVICE,
        "kimi-cli's own device, as kimi-cli would send it"
    );
    let (code, log) = kp.stop().await;
    assert_eq!(code, Some(0), "{log}");
    // The file is kimi-cli's as it was, byte for byte: nothing refreshed, nothing
    // rewritten. (Compared as text: serde_json reads a float back to within a unit in
    // the last place, so a parsed copy may differ where the file does not.)
    let after = std::fs::read_to_string(&file).unwrap();
    assert_eq!(after, creds.to_string());
}
