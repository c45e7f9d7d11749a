//! The `env` source: keys in the environment become `env:` references, never copies;
//! an empty variable counts as unset; `$CLAUDE_CODE_OAUTH_TOKEN` (a setup token, with
//! no refresh token) is skipped by `--link` and stored without it; importing again
//! adds nothing.

use super::{blocks, Machine};

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
fn gateway_and_plan_keys_in_the_environment_are_references() {
    let m = Machine::new();
    let env = [
        ("AI_GATEWAY_API_KEY", "vck_SECRET-env"),
        ("OPENCODE_API_KEY", "sk-SECRET-oc"),
        ("OPENCODE_ZEN_API_KEY", "sk-SECRET-oc-zen"),
        ("MINIMAX_API_KEY", "sk-SECRET-mm"),
        ("MINIMAX_CN_API_KEY", "sk-SECRET-mmcn"),
        ("XIAOMI_API_KEY", "sk-SECRET-mimo"),
    ];
    let r = m.run(&["accounts", "import", "env"], &env);
    assert_eq!(r.code, Some(0), "{}", r.stdout);
    for (var, provider, name) in [
        (
            "AI_GATEWAY_API_KEY",
            "vercel-ai-gateway",
            "env-vercel-ai-gateway",
        ),
        ("OPENCODE_API_KEY", "opencode", "env-opencode"),
        // A second OpenCode key of its own (its value differs) is a second account.
        ("OPENCODE_ZEN_API_KEY", "opencode", "env-opencode-2"),
        ("MINIMAX_API_KEY", "minimax", "env-minimax"),
        ("MINIMAX_CN_API_KEY", "minimax-cn", "env-minimax-cn"),
        ("XIAOMI_API_KEY", "xiaomi", "env-xiaomi"),
    ] {
        let line = format!(
            "env: {provider} api key from ${var}: added as '{name}' (keypool reads ${var} when it starts)"
        );
        assert!(
            r.stdout.contains(&line),
            "missing {line:?} in:\n{}",
            r.stdout
        );
        let block =
            format!("name = \"{name}\"\nprovider = \"{provider}\"\napi_key = \"env:{var}\"");
        assert!(
            blocks(&m.config()).contains(&block),
            "{block:?} not in:\n{}",
            m.config()
        );
    }
    assert_eq!(blocks(&m.config()).len(), 6);

    // The same OpenCode key under both names is one account.
    let m = Machine::new();
    let env = [
        ("OPENCODE_API_KEY", "sk-SECRET-oc"),
        ("OPENCODE_ZEN_API_KEY", "sk-SECRET-oc"),
    ];
    let r = m.run(&["accounts", "import", "env"], &env);
    assert_eq!(r.code, Some(0), "{}", r.stdout);
    assert!(
        r.stdout
            .contains("$OPENCODE_ZEN_API_KEY: already imported as 'env-opencode'"),
        "{}",
        r.stdout
    );
    assert_eq!(blocks(&m.config()).len(), 1);
}

/// `$GOOGLE_APPLICATION_CREDENTIALS` (a service-account key, or an application-default
/// login) becomes a `google-vertex` account linked to the file, with or without
/// `--link`: the key is never copied into keypool's files. A broken file is reported by
/// its field; importing again adds nothing.
#[test]
fn google_application_credentials_become_a_linked_vertex_account() {
    use crate::support::oauth::google_keys::ServiceAccount;
    let m = Machine::new();
    let sa = ServiceAccount::generate("importer", "proj-imp");
    let key = m.home().join("keys/sa.json");
    std::fs::create_dir_all(key.parent().unwrap()).unwrap();
    std::fs::write(&key, sa.key_file().to_string()).unwrap();
    let var = [("GOOGLE_APPLICATION_CREDENTIALS", key.to_str().unwrap())];
    let r = m.run(&["accounts", "import", "env"], &var);
    assert_eq!(r.code, Some(0), "{}", r.stdout);
    assert!(
        r.stdout.contains("google-vertex") && r.stdout.contains("'vertex-proj-imp'"),
        "{}",
        r.stdout
    );
    let block =
        "name = \"vertex-proj-imp\"\nprovider = \"google-vertex\"\noauth = \"link:~/keys/sa.json\"";
    assert!(
        blocks(&m.config()).contains(&block.to_string()),
        "{}",
        m.config()
    );
    let key_line = sa.private_pem.lines().nth(1).unwrap();
    let stored =
        std::fs::read_to_string(m.keypool_home().join("credentials.json")).unwrap_or_default();
    assert!(
        !stored.contains(key_line) && !stored.contains("PRIVATE KEY"),
        "copied: {stored}"
    );
    assert!(!m.config().contains(key_line));

    let r = m.run(&["accounts", "import", "env", "--link"], &var);
    assert!(r.stdout.contains("Nothing new to import."), "{}", r.stdout);

    let adc = m
        .home()
        .join(".config/gcloud/application_default_credentials.json");
    std::fs::create_dir_all(adc.parent().unwrap()).unwrap();
    let login = serde_json::json!({"type": "authorized_user", "client_id": "c.apps.googleusercontent.com",
        "client_secret": "d-SECRET-adc", "refresh_token": "1//SECRET-adc", "quota_project_id": "proj-q"});
    std::fs::write(&adc, login.to_string()).unwrap();
    let r = m.run(
        &["accounts", "import", "env"],
        &[("GOOGLE_APPLICATION_CREDENTIALS", adc.to_str().unwrap())],
    );
    assert_eq!(r.code, Some(0), "{}", r.stdout);
    assert!(r.stdout.contains("'vertex-proj-q'"), "{}", r.stdout);
    assert!(!m.config().contains("SECRET"));

    let broken = m.home().join("keys/broken.json");
    let mut v = sa.key_file();
    v.as_object_mut().unwrap().remove("client_email");
    std::fs::write(&broken, v.to_string()).unwrap();
    let r = m.run(
        &["accounts", "import", "env"],
        &[("GOOGLE_APPLICATION_CREDENTIALS", broken.to_str().unwrap())],
    );
    assert!(
        r.stdout.contains("field client_email is missing"),
        "{}",
        r.stdout
    );
    assert!(!r.stdout.contains(key_line));
    assert_eq!(blocks(&m.config()).len(), 2);
}
