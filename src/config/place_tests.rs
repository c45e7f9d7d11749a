//! `[[accounts]]` place keys: what each placed provider needs, the forms they take, the
//! keys other providers refuse; every error names the account, the key and the fix.

use super::*;
use crate::providers::PlaceKey;

fn parse(s: &str) -> Result<Config, ConfigError> {
    Config::parse(s, std::path::Path::new("config.toml"))
}

fn account(provider: &str, lines: &str) -> String {
    format!("[[accounts]]\nname = \"a1\"\nprovider = \"{provider}\"\napi_key = \"k\"\n{lines}\n")
}

fn error(provider: &str, lines: &str) -> String {
    match parse(&account(provider, lines)) {
        Ok(_) => panic!("{provider} with {lines:?} loaded"),
        Err(e) => e.0,
    }
}

#[test]
fn each_placed_provider_loads_with_its_keys() {
    let c = parse(&format!(
        "{}{}{}{}",
        account("azure-openai-responses", "resource = \"res-a\""),
        account("amazon-bedrock", "region = \"eu-west-1\"").replace("a1", "b1"),
        account(
            "cloudflare-ai-gateway",
            "account_id = \"0123abcd\"\ngateway_id = \"gw-1\"\nprovider_key = \"sk-up\""
        )
        .replace("a1", "c1"),
        account(
            "azure-openai-responses",
            "endpoint = \"https://res-d.cognitiveservices.azure.com/\"\ndeployments = { \"gpt-4o\" = \"prod-4o\" }"
        )
        .replace("a1", "d1"),
    ))
    .unwrap();
    let get = |name: &str| c.accounts.iter().find(|a| a.name == name).unwrap();
    assert_eq!(get("a1").place.get(PlaceKey::Resource), Some("res-a"));
    assert_eq!(get("b1").place.get(PlaceKey::Region), Some("eu-west-1"));
    let cf = get("c1");
    assert_eq!(cf.place.get(PlaceKey::AccountId), Some("0123abcd"));
    assert_eq!(cf.place.get(PlaceKey::GatewayId), Some("gw-1"));
    assert!(cf.provider_key.is_some());
    let d = get("d1");
    assert_eq!(d.place.get(PlaceKey::Resource), Some("res-d"));
    assert_eq!(d.place.deployments.as_ref().unwrap()["gpt-4o"], "prod-4o");
    // A region the table does not list still loads, and the CA is made for its hosts.
    let c = parse(&account("amazon-bedrock", "region = \"xx-new-9\"")).unwrap();
    assert!(crate::ca::hosts_of(&c.registry)
        .contains(&"bedrock-runtime.xx-new-9.amazonaws.com".to_string()));
}

#[test]
fn a_missing_place_key_names_the_account_the_key_and_what_to_add() {
    for (provider, lines, key) in [
        ("azure-openai-responses", "", "resource"),
        ("amazon-bedrock", "", "region"),
        ("cloudflare-ai-gateway", "gateway_id = \"g\"", "account_id"),
        (
            "cloudflare-ai-gateway",
            "account_id = \"abc\"",
            "gateway_id",
        ),
        ("cloudflare-workers-ai", "", "account_id"),
    ] {
        let e = error(provider, lines);
        assert!(
            e.contains(&format!(
                "account 'a1' of provider '{provider}' needs {key}"
            )),
            "{e}"
        );
        assert!(e.contains(&format!("fix: add {key} = ")), "{e}");
    }
}

#[test]
fn a_malformed_place_value_is_refused_with_its_form() {
    for (provider, lines, want) in [
        ("amazon-bedrock", "region = \"US-EAST-1\"", "like us-east-1"),
        (
            "amazon-bedrock",
            "region = \"us-east-1.evil.com\"",
            "like us-east-1",
        ),
        (
            "azure-openai-responses",
            "resource = \"res.evil.com\"",
            "lower-case letters",
        ),
        ("azure-openai-responses", "resource = \"a\"", "2 to 64"),
        (
            "azure-openai-responses",
            "endpoint = \"https://res.openai.azure.com.evil.com/\"",
            "not an Azure resource endpoint",
        ),
        (
            "azure-openai-responses",
            "resource = \"one\"\nendpoint = \"https://two.openai.azure.com/\"",
            "keep one of resource and endpoint",
        ),
        (
            "azure-openai-responses",
            "resource = \"res\"\ndeployments = { \"gpt-4o\" = \"../x\" }",
            "a deployment name is",
        ),
        (
            "cloudflare-ai-gateway",
            "account_id = \"../x\"\ngateway_id = \"g\"",
            "letters and digits",
        ),
        (
            "cloudflare-ai-gateway",
            "account_id = \"abc\"\ngateway_id = \"g/h\"",
            "gateway_id is letters",
        ),
        (
            "cloudflare-ai-gateway",
            "account_id = \"abc\"\ngateway_id = \"g\"\nprovider_key = \"\"",
            "empty provider_key",
        ),
    ] {
        let e = error(provider, lines);
        assert!(e.starts_with("config.toml:"), "{e}");
        assert!(e.contains("'a1'"), "{e}");
        assert!(e.contains(want), "{lines}: {e}");
        assert!(e.contains("\nfix: "), "{e}");
    }
}

#[test]
fn a_provider_refuses_the_place_keys_it_does_not_use() {
    for (provider, lines, key) in [
        ("openai", "region = \"us-east-1\"", "region"),
        (
            "amazon-bedrock",
            "region = \"us-east-1\"\nresource = \"res\"",
            "resource",
        ),
        (
            "azure-openai-responses",
            "resource = \"res\"\naccount_id = \"abc\"",
            "account_id",
        ),
        (
            "openai",
            "endpoint = \"https://res.openai.azure.com/\"",
            "endpoint",
        ),
        (
            "amazon-bedrock",
            "region = \"us-east-1\"\ndeployments = { a = \"b\" }",
            "deployments",
        ),
        (
            "azure-openai-responses",
            "resource = \"res\"\nprovider_key = \"k\"",
            "provider_key",
        ),
        ("openai", "gateway_id = \"g\"", "gateway_id"),
    ] {
        let e = error(provider, lines);
        assert!(
            e.contains(&format!("provider '{provider}' does not use {key}")),
            "{e}"
        );
        assert!(e.contains(&format!("fix: remove the {key} line")), "{e}");
    }
    let e = error("openai", "regoin = \"us-east-1\"");
    assert!(e.contains("regoin"), "an unknown key is refused: {e}");
}

fn vertex(lines: &str) -> String {
    format!(
        "[[accounts]]\nname = \"v1\"\nprovider = \"google-vertex\"\noauth = \"link:/keys/sa.json\"\n{lines}\n"
    )
}

/// A Vertex account may name its project and location (both optional: the key file's
/// project and the client's location stand in); each is checked for the form GCP gives
/// it, and the error names the account, the key and the fix.
#[test]
fn a_vertex_account_takes_a_checked_project_and_location() {
    let c = parse(&vertex("project = \"proj-b-123\"\nlocation = \"global\"")).unwrap();
    let a = &c.accounts[0];
    assert_eq!(a.place.get(PlaceKey::Project), Some("proj-b-123"));
    assert_eq!(a.place.get(PlaceKey::Location), Some("global"));
    let c = parse(&vertex("")).unwrap();
    assert!(c.accounts[0].place.values.is_empty(), "neither is required");
    // A region the table does not list loads, and the CA is made for its host.
    let c = parse(&vertex("location = \"me-central9\"")).unwrap();
    assert!(crate::ca::hosts_of(&c.registry)
        .contains(&"me-central9-aiplatform.googleapis.com".to_string()));

    for (lines, key, want) in [
        (
            "project = \"proj\"",
            "project",
            "6 to 30 lower-case letters",
        ),
        (
            "project = \"1-project\"",
            "project",
            "starting with a letter",
        ),
        ("project = \"My-Project\"", "project", "lower-case"),
        ("project = \"example.com:proj\"", "project", "6 to 30"),
        ("project = \"proj-a/../b\"", "project", "6 to 30"),
        ("location = \"US-EAST5\"", "location", "like us-east5"),
        ("location = \"us-east5.evil.com\"", "location", "or global"),
        ("location = \"Global\"", "location", "or global"),
    ] {
        let e = parse(&vertex(lines)).unwrap_err().0;
        assert!(e.starts_with("config.toml:5:"), "{e}");
        assert!(
            e.contains(&format!("account 'v1': {key} = ")) && e.contains("is not valid"),
            "{e}"
        );
        assert!(e.contains(want), "{lines}: {e}");
        assert!(
            e.contains("\nfix: ") && e.contains(&format!("write it like {key} = ")),
            "{e}"
        );
    }
    // AWS's word for it is refused with GCP's.
    let e = parse(&vertex("region = \"us-east5\"")).unwrap_err().0;
    assert!(
        e.contains("provider 'google-vertex' does not use region"),
        "{e}"
    );
    assert!(
        e.contains("fix: it calls it location: write location = \"us-east5\""),
        "{e}"
    );
}

#[test]
fn other_providers_refuse_project_and_location() {
    for (provider, lines, key, fix) in [
        (
            "openai",
            "project = \"proj-a-1\"",
            "project",
            "remove the project line",
        ),
        (
            "openai",
            "location = \"us-east5\"",
            "location",
            "remove the location line",
        ),
        (
            "amazon-bedrock",
            "region = \"us-east-1\"\nproject = \"proj-a-1\"",
            "project",
            "remove the project line",
        ),
        (
            "amazon-bedrock",
            "location = \"us-east-1\"",
            "location",
            "it calls it region: write region = ",
        ),
    ] {
        let e = error(provider, lines);
        assert!(
            e.contains(&format!("provider '{provider}' does not use {key}")),
            "{e}"
        );
        assert!(e.contains(&format!("fix: {fix}")), "{e}");
    }
}
