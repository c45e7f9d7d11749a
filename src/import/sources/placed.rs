//! Where an imported key of a placed provider lives: the variables the providers' SDKs
//! (and pi) read beside the key. A key without its place is not imported; the report
//! says which variable (or config key) to add.

use crate::import::Machine;
use crate::providers::PlaceKey;

/// One placed provider's variables: the place key, the variables that give it (first set
/// wins), and how a value becomes the key's.
struct Var {
    key: PlaceKey,
    vars: &'static [&'static str],
    read: fn(&str) -> Option<String>,
}

/// The Azure SDKs and pi name the resource, or an endpoint (base URL) that holds it.
const AZURE: &[Var] = &[Var {
    key: PlaceKey::Resource,
    vars: &[
        "AZURE_OPENAI_RESOURCE_NAME",
        "AZURE_OPENAI_ENDPOINT",
        "AZURE_OPENAI_BASE_URL",
    ],
    read: azure_resource,
}];
const BEDROCK: &[Var] = &[Var {
    key: PlaceKey::Region,
    vars: &["AWS_REGION", "AWS_DEFAULT_REGION"],
    read: as_is,
}];
const CLOUDFLARE: &[Var] = &[
    Var {
        key: PlaceKey::AccountId,
        vars: &["CLOUDFLARE_ACCOUNT_ID"],
        read: as_is,
    },
    Var {
        key: PlaceKey::GatewayId,
        vars: &["CLOUDFLARE_GATEWAY_ID"],
        read: as_is,
    },
];

const PLACED: [(&str, &[Var]); 3] = [
    ("azure-openai-responses", AZURE),
    ("amazon-bedrock", BEDROCK),
    ("cloudflare-ai-gateway", CLOUDFLARE),
];

/// The place lines of an account of `provider` (none for a provider that is not placed),
/// or what to set.
pub(in crate::import) fn from_env(
    m: &Machine,
    provider: &str,
) -> Result<Vec<(&'static str, String)>, String> {
    let Some((_, vars)) = PLACED.iter().find(|(p, _)| *p == provider) else {
        return Ok(Vec::new());
    };
    let mut place = Vec::new();
    for v in vars.iter() {
        let value = v
            .vars
            .iter()
            .find_map(|name| m.var(name).and_then(|raw| (v.read)(raw.trim())));
        let missing = || {
            format!(
                "a {provider} key needs its {}: set ${} (or add {} to the account after \
                 importing)",
                v.key.name(),
                v.vars.join(" or $"),
                v.key.example()
            )
        };
        let value = value.ok_or_else(missing)?;
        v.key
            .check(&value)
            .map_err(|why| format!("{}: {why}", v.key.name()))?;
        place.push((v.key.name(), value));
    }
    Ok(place)
}

fn as_is(v: &str) -> Option<String> {
    (!v.is_empty()).then(|| v.to_string())
}

/// `NAME`, or the NAME of `https://NAME.openai.azure.com[/openai/v1]` (and the other
/// Azure AI hosts).
fn azure_resource(v: &str) -> Option<String> {
    if !v.contains('/') {
        return as_is(&v.to_ascii_lowercase());
    }
    let uri: http::Uri = v.parse().ok()?;
    let host = uri.host()?.to_ascii_lowercase();
    [
        ".openai.azure.com",
        ".cognitiveservices.azure.com",
        ".services.ai.azure.com",
    ]
    .iter()
    .find_map(|s| host.strip_suffix(s))
    .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_placed_provider_reads_its_place_or_says_what_to_set() {
        let m = Machine::new(
            "/h",
            [
                ("AZURE_OPENAI_ENDPOINT", "https://my-res.openai.azure.com/"),
                ("AWS_DEFAULT_REGION", "eu-west-1"),
                ("CLOUDFLARE_ACCOUNT_ID", "0123abcd"),
            ],
        );
        assert_eq!(
            from_env(&m, "azure-openai-responses").unwrap(),
            [("resource", "my-res".to_string())]
        );
        assert_eq!(
            from_env(&m, "amazon-bedrock").unwrap(),
            [("region", "eu-west-1".to_string())]
        );
        let e = from_env(&m, "cloudflare-ai-gateway").unwrap_err();
        assert!(e.contains("$CLOUDFLARE_GATEWAY_ID"), "{e}");
        assert!(e.contains("gateway_id = "), "{e}");
        assert!(from_env(&m, "openai").unwrap().is_empty());
        let bad = Machine::new("/h", [("AWS_REGION", "US_EAST")]);
        assert!(from_env(&bad, "amazon-bedrock")
            .unwrap_err()
            .contains("us-east-1"));
        let none = Machine::new("/h", [("HOME", "/h")]);
        let e = from_env(&none, "azure-openai-responses").unwrap_err();
        assert!(
            e.contains("$AZURE_OPENAI_RESOURCE_NAME or $AZURE_OPENAI_ENDPOINT"),
            "{e}"
        );
    }
}
