//! `keypool accounts import`, driving the real binary against CLI files laid out in a
//! temp home (fixtures in tests/fixtures/import), with a cleared environment.

use base64::Engine;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/import");

/// A machine: a home directory with CLI files in it, and keypool's own directory.
struct Machine {
    dir: tempfile::TempDir,
}

struct Run {
    code: Option<i32>,
    stdout: String,
}

impl Machine {
    fn new() -> Machine {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("home")).unwrap();
        Machine { dir }
    }

    fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    fn keypool_home(&self) -> PathBuf {
        self.dir.path().join("keypool")
    }

    /// Copies fixture `name` to `dest` (relative to the home directory) at 0600.
    fn place(&self, name: &str, dest: &str) -> PathBuf {
        let to = self.home().join(dest);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(Path::new(FIXTURES).join(name), &to).unwrap();
        set_mode(&to, 0o600);
        to
    }

    /// Runs keypool with only HOME, KEYPOOL_HOME and `env` set, and checks that no
    /// secret of any fixture reached its output.
    fn run(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let out = Command::new(env!("CARGO_BIN_EXE_keypool"))
            .env_clear()
            .env("HOME", self.home())
            .env("KEYPOOL_HOME", self.keypool_home())
            .envs(env.iter().copied())
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        for text in [&stdout, &stderr] {
            for secret in secrets() {
                assert!(
                    !text.contains(&secret),
                    "a secret reached the output of {args:?}:\n{text}"
                );
            }
        }
        assert!(
            stderr.is_empty() || out.status.code() != Some(0),
            "{stderr}"
        );
        Run {
            code: out.status.code(),
            stdout: stdout + &stderr,
        }
    }

    fn config(&self) -> String {
        std::fs::read_to_string(self.keypool_home().join("config.toml")).unwrap_or_default()
    }

    /// `credentials.json`'s accounts, after checking its mode.
    fn credentials(&self) -> Value {
        let path = self.keypool_home().join("credentials.json");
        assert_eq!(mode(&path), 0o600, "credentials.json must be private");
        let v: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
        v["accounts"].clone()
    }
}

/// Every token and key in the fixtures: the marked ones and the JWTs.
fn secrets() -> Vec<String> {
    let mut s = vec!["SECRET".to_string()];
    let codex: Value = serde_json::from_slice(
        &std::fs::read(Path::new(FIXTURES).join("codex/auth.json")).unwrap(),
    )
    .unwrap();
    for k in ["access_token", "id_token"] {
        s.push(codex["tokens"][k].as_str().unwrap().to_string());
    }
    s
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// The lines of `[[accounts]]` blocks, comments dropped, for exact comparisons. (The
/// example config mentions `[[accounts]]` in comments; a block header starts a line.)
fn blocks(config: &str) -> Vec<String> {
    format!("\n{config}")
        .split("\n[[accounts]]\n")
        .skip(1)
        .map(|b| {
            b.lines()
                .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
                .collect::<Vec<_>>()
                .join("\n")
        })
        .collect()
}

fn jwt(payload: &str) -> String {
    let enc = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
    format!("{}.{}.SECRET-sig", enc(r#"{"alg":"none"}"#), enc(payload))
}

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
    assert!(r.stdout.contains("Restart keypool"), "{}", r.stdout);
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

#[test]
fn codex_gives_a_chatgpt_login_and_an_api_key() {
    let m = Machine::new();
    let codex_home = m.dir.path().join("codex-home");
    std::fs::create_dir_all(&codex_home).unwrap();
    let auth = codex_home.join("auth.json");
    std::fs::copy(Path::new(FIXTURES).join("codex/auth.json"), &auth).unwrap();
    let env = [("CODEX_HOME", codex_home.to_str().unwrap())];
    let r = m.run(&["accounts", "import", "codex"], &env);
    assert_eq!(r.code, Some(0), "{}", r.stdout);
    let shown = auth.display().to_string();
    assert!(
        r.stdout.contains(&format!(
            "codex: openai-codex oauth (pro, codex@example.com) from {shown}: added as 'codex-pro' (stored)"
        )),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains(&format!(
            "codex: openai api key from {shown}: added as 'openai-codex-key' (the key is copied into the config)"
        )),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("warning: 'codex-pro' and Codex"),
        "{}",
        r.stdout
    );
    assert_eq!(
        blocks(&m.config()),
        [
            "name = \"codex-pro\"\nprovider = \"openai-codex\"\noauth = \"stored\"",
            "name = \"openai-codex-key\"\nprovider = \"openai\"\napi_key = \"sk-proj-SECRET-codex-key\"",
        ]
    );
    let e = &m.credentials()["codex-pro"];
    assert_eq!(e["account_id"], "acc-fixture-1");
    assert_eq!(e["plan"], "pro");
    assert_eq!(e["email"], "codex@example.com");
    assert_eq!(e["refresh_token"], "rt_SECRET-codex-refresh");
    assert_eq!(e["expires_at"], 1_900_000_000_000_i64, "from the JWT's exp");
    assert!(e["id_token"].as_str().is_some());

    // Codex refreshed: a later exp in the new access token updates the stored login.
    let mut v: Value = serde_json::from_slice(&std::fs::read(&auth).unwrap()).unwrap();
    v["tokens"]["access_token"] = jwt(
        r#"{"exp":1900003600,"https://api.openai.com/auth":{"chatgpt_account_id":"acc-fixture-1","chatgpt_plan_type":"pro"}}"#,
    )
    .into();
    v["tokens"]["refresh_token"] = "rt_SECRET-codex-rotated".into();
    std::fs::write(&auth, serde_json::to_vec_pretty(&v).unwrap()).unwrap();
    let r = m.run(&["accounts", "import", "codex"], &env);
    assert!(
        r.stdout
            .contains("'codex-pro'; its stored tokens were older"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("already imported as 'openai-codex-key'"),
        "{}",
        r.stdout
    );
    assert_eq!(
        m.credentials()["codex-pro"]["refresh_token"],
        "rt_SECRET-codex-rotated"
    );
    assert_eq!(blocks(&m.config()).len(), 2);

    // API-key mode alone.
    let m = Machine::new();
    m.place("codex/auth-api-key.json", ".codex/auth.json");
    let r = m.run(&["accounts", "import", "codex", "--link"], &[]);
    assert_eq!(r.code, Some(0), "{}", r.stdout);
    assert!(
        r.stdout
            .contains("codex: openai api key from ~/.codex/auth.json: added as 'openai-codex-key'"),
        "{}",
        r.stdout
    );
    assert_eq!(
        blocks(&m.config()).len(),
        1,
        "--link does not apply to keys"
    );
}

#[test]
fn pi_entries_keep_pis_key_forms_and_unknown_providers_are_skipped() {
    let m = Machine::new();
    m.place("pi/auth.json", ".pi/agent/auth.json");
    let env = [("PI_TEST_MISTRAL_KEY", "mistral-SECRET-value")];
    let r = m.run(&["accounts", "import", "pi"], &env);
    assert_eq!(r.code, Some(0), "{}", r.stdout);
    let from = "from ~/.pi/agent/auth.json";
    for line in [
        format!("pi: openrouter api key {from}: added as 'pi-openrouter' (the key is copied into the config)"),
        format!("pi: groq api key {from}: added as 'pi-groq' (keypool runs `pass show keys/groq` when it starts)"),
        format!("pi: mistral api key {from}: added as 'pi-mistral' (keypool reads $PI_TEST_MISTRAL_KEY when it starts)"),
        format!("pi: acme-llm api key {from}: skipped: keypool has no provider 'acme-llm'"),
        format!("pi: amazon-bedrock oauth {from}: skipped: keypool has no subscription login for 'amazon-bedrock'"),
        format!("pi: anthropic oauth {from}: added as 'pi-anthropic' (stored)"),
        format!("pi: github-copilot oauth (ghe.example.com) {from}: added as 'pi-github-copilot' (stored)"),
    ] {
        assert!(r.stdout.contains(&line), "missing {line:?} in:\n{}", r.stdout);
    }
    assert!(r
        .stdout
        .contains("warning: 'pi-anthropic' and pi now share one login"));
    let config = m.config();
    for block in [
        "name = \"pi-openrouter\"\nprovider = \"openrouter\"\napi_key = \"sk-or-v1-SECRET-literal\"",
        "name = \"pi-groq\"\nprovider = \"groq\"\napi_key = \"!pass show keys/groq\"",
        "name = \"pi-mistral\"\nprovider = \"mistral\"\napi_key = \"env:PI_TEST_MISTRAL_KEY\"",
        "name = \"pi-anthropic\"\nprovider = \"anthropic\"\noauth = \"stored\"",
    ] {
        assert!(blocks(&config).iter().any(|b| b == block), "{block:?} not in:\n{config}");
    }
    assert_eq!(blocks(&config).len(), 5);
    let c = m.credentials();
    assert_eq!(
        c["pi-github-copilot"]["refresh_token"],
        "ghu_SECRETpicopilot"
    );
    assert_eq!(c["pi-github-copilot"]["domain"], "ghe.example.com");
    assert_eq!(
        c["pi-anthropic"]["refresh_token"],
        "sk-ant-ort01-SECRET-pi-refresh"
    );

    let r = m.run(&["accounts", "import", "pi"], &env);
    assert!(r.stdout.contains("Nothing new to import."), "{}", r.stdout);
    assert_eq!(blocks(&m.config()).len(), 5);

    // With --link the logins point at pi's file; the keys are what they were.
    let m = Machine::new();
    let dir = m.dir.path().join("pi-dir");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(
        Path::new(FIXTURES).join("pi/auth.json"),
        dir.join("auth.json"),
    )
    .unwrap();
    let r = m.run(
        &["accounts", "import", "pi", "--link"],
        &[("PI_CODING_AGENT_DIR", dir.to_str().unwrap())],
    );
    assert_eq!(r.code, Some(0), "{}", r.stdout);
    let link = format!("oauth = \"link:{}\"", dir.join("auth.json").display());
    assert_eq!(m.config().matches(&link).count(), 2, "{}", m.config());
    assert!(
        m.config().contains("api_key = \"env:PI_TEST_MISTRAL_KEY\""),
        "a key named like a variable is one, even when unset here: {}",
        m.config()
    );
    let c = m.credentials();
    assert!(c["pi-anthropic"].get("refresh_token").is_none());
    assert_eq!(c["pi-github-copilot"]["domain"], "ghe.example.com");
}

#[test]
fn gemini_cli_gets_its_project_from_the_environment_and_a_note() {
    let m = Machine::new();
    m.place("gemini-cli/oauth_creds.json", ".gemini/oauth_creds.json");
    let r = m.run(
        &["accounts", "import", "gemini-cli"],
        &[("GOOGLE_CLOUD_PROJECT_ID", "my-proj-1")],
    );
    assert_eq!(r.code, Some(0), "{}", r.stdout);
    assert!(
        r.stdout.contains(
            "gemini-cli: google-gemini-cli oauth (gemini@example.com, my-proj-1) from ~/.gemini/oauth_creds.json: added as 'gemini-cli' (stored)"
        ),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("note: Google ended consumer Gemini CLI")
            && r.stdout.contains("paid Code Assist")
    );
    assert!(
        !r.stdout.contains("warning"),
        "Google does not rotate: {}",
        r.stdout
    );
    let e = &m.credentials()["gemini-cli"];
    assert_eq!(e["project"], "my-proj-1");
    assert_eq!(e["email"], "gemini@example.com");
    assert_eq!(e["refresh_token"], "1//SECRET-gemini-refresh");
}

#[test]
fn copilot_gives_one_account_per_github_token() {
    let m = Machine::new();
    let xdg = m.dir.path().join("xdg");
    for f in ["apps.json", "hosts.json"] {
        std::fs::create_dir_all(xdg.join("github-copilot")).unwrap();
        std::fs::copy(
            Path::new(FIXTURES).join("copilot").join(f),
            xdg.join("github-copilot").join(f),
        )
        .unwrap();
    }
    let env = [("XDG_CONFIG_HOME", xdg.to_str().unwrap())];
    let r = m.run(&["accounts", "import", "copilot", "--link"], &env);
    assert_eq!(r.code, Some(0), "{}", r.stdout);
    let apps = xdg.join("github-copilot/apps.json").display().to_string();
    assert!(
        r.stdout.contains(&format!(
            "copilot: github-copilot oauth (octocat) from {apps}: added as 'copilot-octocat' (linked)"
        )),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("copilot: github-copilot oauth (octo-corp, ghe.example.com)")
            && r.stdout.contains("skipped: a link to")
            && r.stdout.contains("import without --link to store this one"),
        "{}",
        r.stdout
    );
    assert_eq!(
        r.stdout.matches("copilot: github-copilot").count(),
        2,
        "hosts.json repeats a token: {}",
        r.stdout
    );

    let r = m.run(&["accounts", "import", "copilot"], &env);
    assert!(
        r.stdout.contains("already imported as 'copilot-octocat'"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("added as 'copilot-octo-corp' (stored)"),
        "{}",
        r.stdout
    );
    let c = m.credentials();
    assert_eq!(c["copilot-octo-corp"]["refresh_token"], "ghu_SECRETappsghe");
    assert_eq!(c["copilot-octo-corp"]["domain"], "ghe.example.com");
    assert!(c["copilot-octocat"].get("refresh_token").is_none());
    assert_eq!(blocks(&m.config()).len(), 2);
}

#[test]
fn env_keys_are_references_and_the_setup_token_is_stored() {
    let m = Machine::new();
    let env = [
        ("OPENAI_API_KEY", "sk-SECRET-env-openai"),
        ("HF_TOKEN", "hf_SECRET"),
        ("KIMI_API_KEY", "kimi-SECRET"),
        ("GROQ_API_KEY", ""),
        ("CLAUDE_CODE_OAUTH_TOKEN", "sk-ant-oat01-SECRET-setup"),
    ];
    let r = m.run(&["accounts", "import", "env", "--link"], &env);
    assert_eq!(r.code, Some(0), "{}", r.stdout);
    for line in [
        "env: openai api key from $OPENAI_API_KEY: added as 'env-openai' (keypool reads $OPENAI_API_KEY when it starts)",
        "env: huggingface api key from $HF_TOKEN: added as 'env-huggingface'",
        "env: kimi-coding api key from $KIMI_API_KEY: added as 'env-kimi-coding'",
        "env: anthropic oauth from $CLAUDE_CODE_OAUTH_TOKEN: skipped: $CLAUDE_CODE_OAUTH_TOKEN is not a file to link to",
    ] {
        assert!(r.stdout.contains(line), "missing {line:?} in:\n{}", r.stdout);
    }
    assert!(
        !r.stdout.contains("groq"),
        "an empty variable is unset: {}",
        r.stdout
    );
    assert!(blocks(&m.config()).contains(
        &"name = \"env-openai\"\nprovider = \"openai\"\napi_key = \"env:OPENAI_API_KEY\""
            .to_string()
    ));

    let r = m.run(&["accounts", "import", "env"], &env);
    assert!(
        r.stdout.contains("added as 'claude-setup-token' (stored)")
            && r.stdout.contains("already imported as 'env-openai'"),
        "{}",
        r.stdout
    );
    assert!(
        !r.stdout.contains("warning"),
        "no refresh token, nothing to race: {}",
        r.stdout
    );
    let e = &m.credentials()["claude-setup-token"];
    assert_eq!(e["access_token"], "sk-ant-oat01-SECRET-setup");
    assert!(
        e.get("refresh_token").is_none() && e.get("expires_at").is_none(),
        "{e}"
    );
    let r = m.run(&["accounts", "import", "env"], &env);
    assert!(r.stdout.contains("Nothing new to import."), "{}", r.stdout);
    assert_eq!(blocks(&m.config()).len(), 4);
}

#[test]
fn nothing_found_exits_1_and_usage_errors_exit_2() {
    let m = Machine::new();
    let r = m.run(&["accounts", "import", "codex"], &[]);
    assert_eq!(r.code, Some(1), "{}", r.stdout);
    assert!(
        r.stdout
            .contains("codex: nothing found (looked at ~/.codex/auth.json)"),
        "{}",
        r.stdout
    );
    let r = m.run(&["accounts", "import", "--all"], &[]);
    assert_eq!(r.code, Some(1), "{}", r.stdout);
    for s in ["claude-code", "codex", "pi", "gemini-cli", "copilot", "env"] {
        assert!(
            r.stdout
                .contains(&format!("{s}: nothing found (looked at ")),
            "{s}: {}",
            r.stdout
        );
    }
    assert!(r.stdout.contains("$ANTHROPIC_API_KEY"), "{}", r.stdout);
    assert!(
        !m.keypool_home().join("config.toml").exists(),
        "nothing written"
    );

    for args in [
        &["accounts", "import"][..],
        &["accounts", "import", "codex", "--all"][..],
        &["accounts", "import", "--all", "--name", "x"][..],
        &["accounts", "import", "nowhere"][..],
    ] {
        let r = m.run(args, &[]);
        assert_eq!(r.code, Some(2), "{args:?}: {}", r.stdout);
    }

    // A broken file is named with its problem, never quoted.
    std::fs::create_dir_all(m.home().join(".codex")).unwrap();
    std::fs::write(
        m.home().join(".codex/auth.json"),
        "{\"tokens\": sk-SECRET-broken",
    )
    .unwrap();
    let r = m.run(&["accounts", "import", "codex"], &[]);
    assert_eq!(r.code, Some(1), "{}", r.stdout);
    assert!(
        r.stdout
            .contains("codex: ~/.codex/auth.json: cannot import: not valid JSON (line 1)"),
        "{}",
        r.stdout
    );
}

#[test]
fn names_are_unique_and_the_existing_config_is_kept_byte_for_byte() {
    let m = Machine::new();
    let cfg = m.keypool_home().join("config.toml");
    std::fs::create_dir_all(m.keypool_home()).unwrap();
    let mine = "# my keypool config\nlisten = \"127.0.0.1:8788\" # not the default\n\n[[accounts]]\nname = \"work\"\nprovider = \"groq\"\napi_key = \"env:GROQ_WORK\"   # keep this comment";
    std::fs::write(&cfg, mine).unwrap();
    m.place("copilot/apps.json", ".config/github-copilot/apps.json");

    // --name taken by another account: a usage error, nothing written.
    let r = m.run(&["accounts", "import", "copilot", "--name", "work"], &[]);
    assert_eq!(r.code, Some(2), "{}", r.stdout);
    assert!(r.stdout.contains("'work' is already in"), "{}", r.stdout);
    assert_eq!(std::fs::read_to_string(&cfg).unwrap(), mine);

    let r = m.run(&["accounts", "import", "copilot", "--name", "gh"], &[]);
    assert_eq!(r.code, Some(0), "{}", r.stdout);
    assert!(
        r.stdout.contains("added as 'gh' (stored)")
            && r.stdout.contains("added as 'gh-2' (stored)"),
        "{}",
        r.stdout
    );
    let text = std::fs::read_to_string(&cfg).unwrap();
    assert!(text.starts_with(mine), "{text}");
    assert!(
        text.contains("\n# imported from ~/.config/github-copilot/apps.json (copilot)\n[[accounts]]\nname = \"gh\"\n"),
        "{text}"
    );

    // Default names step around taken ones.
    let m = Machine::new();
    std::fs::create_dir_all(m.keypool_home()).unwrap();
    std::fs::write(
        m.keypool_home().join("config.toml"),
        "[[accounts]]\nname = \"env-openai\"\nprovider = \"openai\"\napi_key = \"sk-other\"\n",
    )
    .unwrap();
    let r = m.run(
        &["accounts", "import", "env"],
        &[("OPENAI_API_KEY", "sk-SECRET-2")],
    );
    assert!(r.stdout.contains("added as 'env-openai-2'"), "{}", r.stdout);
}

#[test]
fn serve_without_accounts_lists_what_it_could_import() {
    use std::io::{BufRead, BufReader};
    let m = Machine::new();
    m.place("claude-code/.credentials.json", ".claude/.credentials.json");
    let mut child = Command::new(env!("CARGO_BIN_EXE_keypool"))
        .env_clear()
        .env("HOME", m.home())
        .env("KEYPOOL_HOME", m.keypool_home())
        .env("GROQ_API_KEY", "gsk-SECRET")
        .args(["serve", "--listen", "127.0.0.1:0"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut seen = Vec::new();
    for line in BufReader::new(child.stderr.take().unwrap()).lines() {
        let line = line.unwrap();
        let done = line.contains("CA certificate");
        seen.push(line);
        if done {
            break;
        }
    }
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    child.wait().unwrap();
    let text = seen.join("\n");
    assert!(
        text.contains("claude-code  ~/.claude/.credentials.json"),
        "{text}"
    );
    assert!(text.contains("env          $GROQ_API_KEY"), "{text}");
    assert!(text.contains("keypool accounts import --all"), "{text}");
    assert!(!text.contains("SECRET"), "{text}");
}
