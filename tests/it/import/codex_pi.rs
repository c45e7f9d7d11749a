//! Codex and pi: Codex's ChatGPT login (expiry from the JWT, refreshed tokens taken
//! up) and API key, alone or together; pi's entries keeping pi's key forms (literal,
//! `!command`, variable name), unknown providers skipped, and logins linked with `--link`.

use super::{blocks, Machine, FIXTURES};
use base64::Engine;
use serde_json::Value;
use std::path::Path;

fn jwt(payload: &str) -> String {
    let enc = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
    format!("{}.{}.SECRET-sig", enc(r#"{"alg":"none"}"#), enc(payload))
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
fn pi_keys_of_the_gateway_and_plan_providers_land_on_their_providers() {
    let m = Machine::new();
    m.place("pi/auth-gateways.json", ".pi/agent/auth.json");
    let r = m.run(&["accounts", "import", "pi"], &[]);
    assert_eq!(r.code, Some(0), "{}", r.stdout);
    let from = "from ~/.pi/agent/auth.json";
    for line in [
        format!("pi: vercel-ai-gateway api key {from}: added as 'pi-vercel-ai-gateway' (the key is copied into the config)"),
        format!("pi: opencode api key {from}: added as 'pi-opencode' (keypool reads $OPENCODE_API_KEY when it starts)"),
        // pi's `opencode-go` is keypool's `opencode`: the same key is the same account.
        format!("pi: opencode api key {from}: already imported as 'pi-opencode'"),
        format!("pi: minimax api key {from}: added as 'pi-minimax'"),
        format!("pi: minimax-cn api key {from}: added as 'pi-minimax-cn' (keypool runs `pass show keys/minimax-cn` when it starts)"),
        format!("pi: xiaomi api key {from}: added as 'pi-xiaomi' (keypool reads $XIAOMI_API_KEY when it starts)"),
        format!("pi: xiaomi-token-plan-sgp api key {from}: added as 'pi-xiaomi-token-plan-sgp'"),
    ] {
        assert!(r.stdout.contains(&line), "missing {line:?} in:\n{}", r.stdout);
    }
    assert!(!r.stdout.contains("skipped"), "{}", r.stdout);
    let config = m.config();
    for block in [
        "name = \"pi-opencode\"\nprovider = \"opencode\"\napi_key = \"env:OPENCODE_API_KEY\"",
        "name = \"pi-xiaomi-token-plan-sgp\"\nprovider = \"xiaomi-token-plan-sgp\"\napi_key = \"tp-sw1-SECRET-sgp\"",
    ] {
        assert!(blocks(&config).iter().any(|b| b == block), "{block:?} not in:\n{config}");
    }
    assert_eq!(blocks(&config).len(), 6);

    // An `opencode-go` key of its own is an `opencode` account named after pi's entry.
    let m = Machine::new();
    let auth = m.home().join(".pi/agent/auth.json");
    std::fs::create_dir_all(auth.parent().unwrap()).unwrap();
    std::fs::write(
        &auth,
        r#"{"opencode-go": {"type": "api_key", "key": "sk-SECRET-go"}}"#,
    )
    .unwrap();
    let r = m.run(&["accounts", "import", "pi"], &[]);
    assert_eq!(r.code, Some(0), "{}", r.stdout);
    assert!(
        blocks(&m.config()).contains(
            &"name = \"pi-opencode-go\"\nprovider = \"opencode\"\napi_key = \"sk-SECRET-go\""
                .to_string()
        ),
        "{}",
        m.config()
    );
}
