//! Claude Code's login: stored once (again changes nothing, newer tokens in the file
//! replace the stored ones, older ones do not), or linked with `--link` (the path
//! written, no token copied, `$CLAUDE_CONFIG_DIR` outside the home written absolute).

use super::{blocks, mode, Machine, FIXTURES};
use serde_json::Value;
use std::path::Path;

#[test]
fn claude_code_is_stored_once_and_newer_tokens_replace_the_stored_ones() {
    let m = Machine::new();
    let creds = m.place("claude-code/.credentials.json", ".claude/.credentials.json");
    m.place("claude-code/.claude.json", ".claude.json");

    let r = m.run(&["accounts", "import", "claude-code"], &[]);
    assert_eq!(r.code, Some(0), "{}", r.stdout);
    assert!(
        r.stdout.contains(
            "claude-code: anthropic oauth (max, max@example.com) from ~/.claude/.credentials.json: added as 'claude-max' (stored)"
        ),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("warning: 'claude-max' and Claude Code now share one login")
            && r.stdout.contains("--link"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("keypool reload"), "{}", r.stdout);
    assert_eq!(
        blocks(&m.config()),
        ["name = \"claude-max\"\nprovider = \"anthropic\"\noauth = \"stored\""]
    );
    assert_eq!(mode(&m.keypool_home().join("config.toml")), 0o600);
    let c = m.credentials();
    let e = &c["claude-max"];
    assert_eq!(e["provider"], "anthropic");
    assert_eq!(e["access_token"], "sk-ant-oat01-SECRET-claude-access");
    assert_eq!(e["refresh_token"], "sk-ant-ort01-SECRET-claude-refresh");
    assert_eq!(e["expires_at"], 1_900_000_000_000_i64);
    assert_eq!(e["account_id"], "0b6c2f5e-uuid-fixture");
    assert_eq!(e["email"], "max@example.com");
    assert_eq!(e["plan"], "max");

    // Again: nothing changes.
    let config_before = m.config();
    let r = m.run(&["accounts", "import", "claude-code"], &[]);
    assert_eq!(r.code, Some(0));
    assert!(
        r.stdout.contains("already imported as 'claude-max'"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("Nothing new to import."), "{}", r.stdout);
    assert_eq!(m.config(), config_before);

    // Claude Code refreshed: the file's tokens are newer and replace the stored ones.
    let mut v: Value = serde_json::from_slice(&std::fs::read(&creds).unwrap()).unwrap();
    v["claudeAiOauth"]["accessToken"] = "sk-ant-oat01-SECRET-newer-access".into();
    v["claudeAiOauth"]["refreshToken"] = "sk-ant-ort01-SECRET-newer-refresh".into();
    v["claudeAiOauth"]["expiresAt"] = 1_900_000_900_000_i64.into();
    std::fs::write(&creds, serde_json::to_vec(&v).unwrap()).unwrap();
    let r = m.run(&["accounts", "import", "claude-code"], &[]);
    assert!(
        r.stdout.contains(
            "already imported as 'claude-max'; its stored tokens were older and are updated"
        ),
        "{}",
        r.stdout
    );
    let e = &m.credentials()["claude-max"];
    assert_eq!(e["refresh_token"], "sk-ant-ort01-SECRET-newer-refresh");
    assert_eq!(e["expires_at"], 1_900_000_900_000_i64);
    assert_eq!(e["plan"], "max", "identity kept");
    assert_eq!(m.config(), config_before);

    // An older file (another login of the same account) does not replace newer tokens.
    v["claudeAiOauth"]["refreshToken"] = "sk-ant-ort01-SECRET-older-refresh".into();
    v["claudeAiOauth"]["expiresAt"] = 1_800_000_000_000_i64.into();
    std::fs::write(&creds, serde_json::to_vec(&v).unwrap()).unwrap();
    let r = m.run(&["accounts", "import", "claude-code"], &[]);
    assert!(
        r.stdout.contains("already imported as 'claude-max'\n"),
        "{}",
        r.stdout
    );
    assert_eq!(
        m.credentials()["claude-max"]["refresh_token"],
        "sk-ant-ort01-SECRET-newer-refresh"
    );
}

#[test]
fn link_writes_the_path_and_copies_no_token() {
    let m = Machine::new();
    let creds = m.place("claude-code/.credentials.json", ".claude/.credentials.json");
    m.place("claude-code/.claude.json", ".claude.json");
    let r = m.run(&["accounts", "import", "claude-code", "--link"], &[]);
    assert_eq!(r.code, Some(0), "{}", r.stdout);
    assert!(
        r.stdout.contains("added as 'claude-max' (linked)"),
        "{}",
        r.stdout
    );
    assert!(
        !r.stdout.contains("warning"),
        "a link shares nothing: {}",
        r.stdout
    );
    assert_eq!(
        blocks(&m.config()),
        ["name = \"claude-max\"\nprovider = \"anthropic\"\noauth = \"link:~/.claude/.credentials.json\""]
    );
    let e = &m.credentials()["claude-max"];
    assert!(
        e.get("access_token").is_none() && e.get("refresh_token").is_none(),
        "{e}"
    );
    assert_eq!(e["account_id"], "0b6c2f5e-uuid-fixture");
    assert_eq!(e["plan"], "max");

    // The same file imported again, linked or not, is the same account.
    for args in [
        &["accounts", "import", "claude-code", "--link"][..],
        &["accounts", "import", "claude-code"][..],
    ] {
        let r = m.run(args, &[]);
        assert!(
            r.stdout.contains("already imported as 'claude-max'"),
            "{}",
            r.stdout
        );
    }
    assert_eq!(blocks(&m.config()).len(), 1);
    assert!(creds.exists());

    // A config directory outside the home is written as an absolute path.
    let elsewhere = m.dir.path().join("claude-elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    std::fs::copy(
        Path::new(FIXTURES).join("claude-code/.credentials.json"),
        elsewhere.join(".credentials.json"),
    )
    .unwrap();
    let m2 = Machine::new();
    let r = m2.run(
        &["accounts", "import", "claude-code", "--link"],
        &[("CLAUDE_CONFIG_DIR", elsewhere.to_str().unwrap())],
    );
    assert_eq!(r.code, Some(0), "{}", r.stdout);
    assert!(
        m2.config().contains(&format!(
            "oauth = \"link:{}\"",
            elsewhere.join(".credentials.json").display()
        )),
        "{}",
        m2.config()
    );
}
