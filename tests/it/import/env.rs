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

/// Placed providers' keys come with their place from the variables their SDKs read
/// beside them; a key without its place is skipped with the variable to set. pi's
/// entries for them read the same variables.
#[test]
fn placed_keys_import_with_their_place_or_say_what_to_set() {
    let m = Machine::new();
    let env = [
        ("AZURE_OPENAI_API_KEY", "az-SECRET"),
        ("AZURE_OPENAI_ENDPOINT", "https://my-res.openai.azure.com/"),
        ("AWS_BEARER_TOKEN_BEDROCK", "bedrock-api-key-SECRET"),
        ("AWS_REGION", "eu-west-1"),
        ("CLOUDFLARE_API_KEY", "cf-SECRET"),
        ("CLOUDFLARE_ACCOUNT_ID", "0123abcd"),
    ];
    let r = m.run(&["accounts", "import", "env"], &env);
    assert_eq!(r.code, Some(0), "{}", r.stdout);
    let config = m.config();
    for block in [
        "name = \"env-azure-openai-responses\"\nprovider = \"azure-openai-responses\"\n\
         api_key = \"env:AZURE_OPENAI_API_KEY\"\nresource = \"my-res\"",
        "name = \"env-amazon-bedrock\"\nprovider = \"amazon-bedrock\"\n\
         api_key = \"env:AWS_BEARER_TOKEN_BEDROCK\"\nregion = \"eu-west-1\"",
    ] {
        assert!(
            blocks(&config).iter().any(|b| b == block),
            "{block:?} not in:\n{config}"
        );
    }
    let line = "env: cloudflare-ai-gateway api key from $CLOUDFLARE_API_KEY: skipped: a \
                cloudflare-ai-gateway key needs its gateway_id: set $CLOUDFLARE_GATEWAY_ID";
    assert!(
        r.stdout.contains(line),
        "missing {line:?} in:\n{}",
        r.stdout
    );
    assert!(
        !config.contains("SECRET"),
        "references, never copies:\n{config}"
    );
    assert_eq!(blocks(&config).len(), 2);

    // With the gateway id the gateway account loads; the config it wrote is valid.
    let mut env = env.to_vec();
    env.push(("CLOUDFLARE_GATEWAY_ID", "my-gw"));
    let r = m.run(&["accounts", "import", "env"], &env);
    assert_eq!(r.code, Some(0), "{}", r.stdout);
    let block = "name = \"env-cloudflare-ai-gateway\"\nprovider = \"cloudflare-ai-gateway\"\n\
                 api_key = \"env:CLOUDFLARE_API_KEY\"\naccount_id = \"0123abcd\"\n\
                 gateway_id = \"my-gw\"";
    assert!(
        blocks(&m.config()).iter().any(|b| b == block),
        "{}",
        m.config()
    );
    keypool::config::Config::parse(&m.config(), std::path::Path::new("config.toml"))
        .expect("the imported config loads");

    // pi's entries read the same variables.
    let m = Machine::new();
    let auth = m.home().join(".pi/agent/auth.json");
    std::fs::create_dir_all(auth.parent().unwrap()).unwrap();
    std::fs::write(
        &auth,
        r#"{"amazon-bedrock": {"type": "api_key", "key": "AWS_BEARER_TOKEN_BEDROCK"},
            "azure-openai-responses": {"type": "api_key", "key": "az-SECRET-pi"}}"#,
    )
    .unwrap();
    let r = m.run(
        &["accounts", "import", "pi"],
        &[
            ("AWS_DEFAULT_REGION", "us-west-2"),
            ("AWS_BEARER_TOKEN_BEDROCK", "x"),
        ],
    );
    assert_eq!(r.code, Some(0), "{}", r.stdout);
    let block = "name = \"pi-amazon-bedrock\"\nprovider = \"amazon-bedrock\"\n\
                 api_key = \"env:AWS_BEARER_TOKEN_BEDROCK\"\nregion = \"us-west-2\"";
    assert!(
        blocks(&m.config()).iter().any(|b| b == block),
        "{}",
        m.config()
    );
    assert!(
        r.stdout.contains(
            "azure-openai-responses key needs its resource: set $AZURE_OPENAI_RESOURCE_NAME"
        ),
        "{}",
        r.stdout
    );
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

/// `$AWS_ACCESS_KEY_ID` + `$AWS_SECRET_ACCESS_KEY` (+ `$AWS_SESSION_TOKEN`) become an
/// `amazon-bedrock` IAM account of references in `$AWS_REGION`'s (or
/// `$AWS_DEFAULT_REGION`'s) region; without a region, or without the secret, it is
/// skipped with what to set; importing again adds nothing; the config it writes loads.
#[test]
fn aws_iam_credentials_import_as_references_with_their_region_or_say_what_to_set() {
    let m = Machine::new();
    let no_region = [
        ("AWS_ACCESS_KEY_ID", "ASIASECRETKEYID"),
        ("AWS_SECRET_ACCESS_KEY", "aws-SECRET-access-key"),
        ("AWS_SESSION_TOKEN", "aws-SECRET-session"),
    ];
    let r = m.run(&["accounts", "import", "env"], &no_region);
    assert_eq!(r.code, Some(0), "{}", r.stdout);
    let line = "env: amazon-bedrock iam credentials from $AWS_ACCESS_KEY_ID: skipped: a \
                amazon-bedrock key needs its region: set $AWS_REGION or $AWS_DEFAULT_REGION";
    assert!(
        r.stdout.contains(line),
        "missing {line:?} in:\n{}",
        r.stdout
    );
    assert!(blocks(&m.config()).is_empty(), "{}", m.config());

    let half = [
        ("AWS_ACCESS_KEY_ID", "AKIASECRETKEYID"),
        ("AWS_REGION", "us-east-1"),
    ];
    let r = m.run(&["accounts", "import", "env"], &half);
    assert!(
        r.stdout.contains("skipped: set $AWS_SECRET_ACCESS_KEY too"),
        "{}",
        r.stdout
    );

    let mut env = no_region.to_vec();
    env.push(("AWS_DEFAULT_REGION", "eu-central-1"));
    let r = m.run(&["accounts", "import", "env"], &env);
    assert_eq!(r.code, Some(0), "{}", r.stdout);
    let line = "env: amazon-bedrock iam credentials from $AWS_ACCESS_KEY_ID: added as \
                'env-amazon-bedrock-iam' (keypool reads $AWS_ACCESS_KEY_ID, \
                $AWS_SECRET_ACCESS_KEY, $AWS_SESSION_TOKEN when it starts)";
    assert!(
        r.stdout.contains(line),
        "missing {line:?} in:\n{}",
        r.stdout
    );
    let config = m.config();
    let block = "name = \"env-amazon-bedrock-iam\"\nprovider = \"amazon-bedrock\"\n\
                 access_key_id = \"env:AWS_ACCESS_KEY_ID\"\n\
                 secret_access_key = \"env:AWS_SECRET_ACCESS_KEY\"\n\
                 session_token = \"env:AWS_SESSION_TOKEN\"\nregion = \"eu-central-1\"";
    assert!(
        blocks(&config).iter().any(|b| b == block),
        "{block:?} not in:\n{config}"
    );
    for value in [
        "ASIASECRETKEYID",
        "aws-SECRET-access-key",
        "aws-SECRET-session",
    ] {
        assert!(
            !config.contains(value),
            "references, never copies:\n{config}"
        );
    }
    let c = keypool::config::Config::parse(&config, std::path::Path::new("config.toml"))
        .expect("the imported config loads");
    assert_eq!(
        c.accounts[0].describe_source(),
        "iam env:AWS_ACCESS_KEY_ID, env:AWS_SECRET_ACCESS_KEY, env:AWS_SESSION_TOKEN"
    );
    let r = m.run(&["accounts", "import", "env"], &env);
    assert!(
        r.stdout
            .contains("already imported as 'env-amazon-bedrock-iam'"),
        "{}",
        r.stdout
    );
    assert_eq!(blocks(&m.config()).len(), 1);
}
