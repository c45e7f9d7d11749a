//! Provider API keys in environment variables. The config gets a reference
//! (`env:VAR`), not a copy: keypool reads the variable when it starts, so the key stays
//! wherever the user keeps it. `CLAUDE_CODE_OAUTH_TOKEN` (from `claude setup-token`) is a
//! one-year subscription token without a refresh token, stored as such.

use crate::import::found::{Found, Linkable, Origin, Scan, What};
use crate::import::{Machine, Source};
use crate::oauth::{Identity, Tokens};
use crate::providers::Flavor;

/// Variable → provider, as the providers' own SDKs and CLIs name them.
const KEYS: [(&str, &str); 22] = [
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
];

const SETUP_TOKEN: &str = "CLAUDE_CODE_OAUTH_TOKEN";

/// The variables of this source that are set.
pub(super) fn set_vars(m: &Machine) -> impl Iterator<Item = &'static str> + '_ {
    KEYS.iter()
        .map(|(v, _)| *v)
        .chain([SETUP_TOKEN])
        .filter(|v| m.var(v).is_some())
}

pub(super) fn scan(m: &Machine) -> Scan {
    let mut scan = Scan::new(Source::Env);
    scan.looked = KEYS
        .iter()
        .map(|(v, _)| *v)
        .chain([SETUP_TOKEN])
        .map(|v| format!("${v}"))
        .collect();
    for (var, provider) in KEYS {
        if m.var(var).is_none() {
            continue;
        }
        scan.found.push(Found {
            source: Source::Env,
            provider: provider.into(),
            what: What::ApiKey(format!("env:{var}").into()),
            origin: Origin::Env(var.into()),
            default_name: format!("env-{provider}"),
        });
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
