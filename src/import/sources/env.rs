//! Provider API keys in environment variables. The config gets a reference
//! (`env:VAR`), not a copy: keypool reads the variable when it starts, so the key stays
//! wherever the user keeps it. `CLAUDE_CODE_OAUTH_TOKEN` (from `claude setup-token`) is a
//! one-year subscription token without a refresh token, stored as such.
//! `GOOGLE_APPLICATION_CREDENTIALS` names a Google credential file (a service-account key
//! or an application-default login): a `google-vertex` account linked to the file, which
//! is never copied.

use crate::import::found::{Found, Linkable, Origin, Scan, What};
use crate::import::{Machine, Source};
use crate::oauth::link::Linked;
use crate::oauth::{Identity, Tokens};
use crate::providers::Flavor;

/// Variable → provider, as the providers' own SDKs and CLIs name them.
const KEYS: [(&str, &str); 25] = [
    ("OPENAI_API_KEY", "openai"),
    ("ANTHROPIC_API_KEY", "anthropic"),
    ("GEMINI_API_KEY", "google"),
    ("OPENROUTER_API_KEY", "openrouter"),
    ("GROQ_API_KEY", "groq"),
    ("XAI_API_KEY", "xai"),
    ("MISTRAL_API_KEY", "mistral"),
    ("DEEPSEEK_API_KEY", "deepseek"),
    ("CEREBRAS_API_KEY", "cerebras"),
    ("TOGETHER_API_KEY", "together"),
    ("FIREWORKS_API_KEY", "fireworks"),
    ("HF_TOKEN", "huggingface"),
    ("ZAI_API_KEY", "zai"),
    ("MOONSHOT_API_KEY", "moonshot"),
    ("KIMI_API_KEY", "kimi-coding"),
    ("AI_GATEWAY_API_KEY", "vercel-ai-gateway"),
    // One OpenCode key serves Zen and Go; OpenCode's tools read either name.
    ("OPENCODE_API_KEY", "opencode"),
    ("OPENCODE_ZEN_API_KEY", "opencode"),
    ("MINIMAX_API_KEY", "minimax"),
    ("MINIMAX_CN_API_KEY", "minimax-cn"),
    ("XIAOMI_API_KEY", "xiaomi"),
    // Kilo's CLI reads its gateway key from here; a device login's token is the same kind.
    ("KILO_API_KEY", "kilo"),
    // Placed providers: the account's place comes from the variables beside the key
    // (placed.rs).
    ("AZURE_OPENAI_API_KEY", "azure-openai-responses"),
    ("AWS_BEARER_TOKEN_BEDROCK", "amazon-bedrock"),
    ("CLOUDFLARE_API_KEY", "cloudflare-ai-gateway"),
];

/// AWS's own variables for IAM credentials, as every AWS SDK and the CLI read them: an
/// `amazon-bedrock` account whose region comes from `$AWS_REGION` / `$AWS_DEFAULT_REGION`.
const AWS_ACCESS_KEY_ID: &str = "AWS_ACCESS_KEY_ID";
const AWS_SECRET_ACCESS_KEY: &str = "AWS_SECRET_ACCESS_KEY";
const AWS_SESSION_TOKEN: &str = "AWS_SESSION_TOKEN";
const BEDROCK: &str = "amazon-bedrock";

const SETUP_TOKEN: &str = "CLAUDE_CODE_OAUTH_TOKEN";
const GOOGLE_CREDENTIALS: &str = "GOOGLE_APPLICATION_CREDENTIALS";

/// The variables of this source that are set.
pub(super) fn set_vars(m: &Machine) -> impl Iterator<Item = &'static str> + '_ {
    KEYS.iter()
        .map(|(v, _)| *v)
        .chain([SETUP_TOKEN, GOOGLE_CREDENTIALS, AWS_ACCESS_KEY_ID])
        .filter(|v| m.var(v).is_some())
}

pub(super) fn scan(m: &Machine) -> Scan {
    let mut scan = Scan::new(Source::Env);
    scan.looked = KEYS
        .iter()
        .map(|(v, _)| *v)
        .chain([SETUP_TOKEN, GOOGLE_CREDENTIALS, AWS_ACCESS_KEY_ID])
        .map(|v| format!("${v}"))
        .collect();
    for (var, provider) in KEYS {
        if m.var(var).is_none() {
            continue;
        }
        let key = format!("env:{var}");
        let what = match super::placed::from_env(m, provider) {
            Ok(place) if place.is_empty() => What::ApiKey(key.into()),
            Ok(place) => What::PlacedKey {
                key: key.into(),
                place,
            },
            Err(reason) => What::Skipped {
                kind: "api key",
                reason,
            },
        };
        scan.found.push(Found {
            source: Source::Env,
            provider: provider.into(),
            what,
            origin: Origin::Env(var.into()),
            default_name: format!("env-{provider}"),
        });
    }
    if let Some(path) = m.var(GOOGLE_CREDENTIALS) {
        google_credentials(&mut scan, path);
    }
    if m.var(AWS_ACCESS_KEY_ID).is_some() || m.var(AWS_SECRET_ACCESS_KEY).is_some() {
        scan.found.push(aws_iam(m));
    }
    if let Some(token) = m.var(SETUP_TOKEN) {
        scan.found.push(Found {
            source: Source::Env,
            provider: Flavor::Anthropic.provider_id().into(),
            what: What::OAuth {
                tokens: Tokens {
                    access: Some(token.trim().to_string().into()),
                    refresh: None,
                    expires_at: None,
                    id_token: None,
                    identity: Identity::default(),
                },
                link: Linkable::No(format!(
                    "${SETUP_TOKEN} is not a file to link to; import without --link to store it"
                )),
            },
            origin: Origin::Env(SETUP_TOKEN.into()),
            default_name: "claude-setup-token".into(),
        });
    }
    scan
}

/// `$AWS_ACCESS_KEY_ID` + `$AWS_SECRET_ACCESS_KEY` (+ `$AWS_SESSION_TOKEN`) as an
/// `amazon-bedrock` IAM account of references, in the region the environment names;
/// skipped, saying what to set, when the other half or the region is missing.
fn aws_iam(m: &Machine) -> Found {
    let reference = |v: &str| format!("env:{v}").into();
    let what = match (m.var(AWS_ACCESS_KEY_ID), m.var(AWS_SECRET_ACCESS_KEY)) {
        (Some(_), Some(_)) => match super::placed::from_env(m, BEDROCK) {
            Ok(place) => What::Iam {
                access_key_id: reference(AWS_ACCESS_KEY_ID),
                secret_access_key: reference(AWS_SECRET_ACCESS_KEY),
                session_token: m
                    .var(AWS_SESSION_TOKEN)
                    .map(|_| reference(AWS_SESSION_TOKEN)),
                place,
            },
            Err(reason) => What::Skipped {
                kind: "iam credentials",
                reason,
            },
        },
        (id, _) => What::Skipped {
            kind: "iam credentials",
            reason: format!(
                "set ${} too: IAM credentials are an access key id and its secret",
                if id.is_none() {
                    AWS_ACCESS_KEY_ID
                } else {
                    AWS_SECRET_ACCESS_KEY
                }
            ),
        },
    };
    Found {
        source: Source::Env,
        provider: BEDROCK.into(),
        what,
        origin: Origin::Env(AWS_ACCESS_KEY_ID.into()),
        default_name: "env-amazon-bedrock-iam".into(),
    }
}

/// The file `$GOOGLE_APPLICATION_CREDENTIALS` names, as a `google-vertex` account linked
/// to it (named after its project); a file that is no usable credential is a problem.
fn google_credentials(scan: &mut Scan, path: &str) {
    let path = std::path::absolute(path).unwrap_or_else(|_| path.into());
    match Linked::open(&path, Flavor::Vertex).and_then(|l| l.read()) {
        Ok(tokens) => {
            let default_name = match &tokens.identity.project {
                Some(p) => format!("vertex-{p}"),
                None => "vertex".into(),
            };
            scan.found.push(Found {
                source: Source::Env,
                provider: Flavor::Vertex.provider_id().into(),
                what: What::OAuth {
                    tokens,
                    link: Linkable::Only,
                },
                origin: Origin::File(path),
                default_name,
            });
        }
        Err(e) => scan.problem(&path, &e),
    }
}
