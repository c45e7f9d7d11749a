//! The built-in provider table. Ids follow pi's `auth.json` keys.

use super::{AuthScheme, Dialect, Flavor, Marker, OAuthSpec, Provider, Scope};

/// Claude Code's inference calls. Its profile, usage, token, Remote Control and file
/// calls are bound to its own login and pass through.
const ANTHROPIC_OAUTH: OAuthSpec = OAuthSpec {
    flavor: Flavor::Anthropic,
    paths: &["/v1/messages", "/v1/messages/count_tokens"],
    only: false,
    marker: Marker::Token("sk-ant-oat"),
};
/// The Codex backend's Responses endpoint (HTTP and WebSocket). The rest of chatgpt.com,
/// e.g. `/backend-api/wham/accounts/check`, must see the client's own account.
const CODEX_OAUTH: OAuthSpec = OAuthSpec {
    flavor: Flavor::Codex,
    paths: &[
        "/backend-api/codex/responses",
        "/backend-api/codex/responses/compact",
    ],
    only: true,
    marker: Marker::None,
};
const COPILOT_OAUTH: OAuthSpec = OAuthSpec {
    flavor: Flavor::Copilot,
    paths: &[
        "/chat/completions",
        "/responses",
        "/v1/messages",
        "/v1/chat/completions",
        "/v1/responses",
        "/embeddings",
    ],
    only: true,
    marker: Marker::None,
};
const GEMINI_CLI_OAUTH: OAuthSpec = OAuthSpec {
    flavor: Flavor::GeminiCli,
    paths: &[
        "/v1internal:generateContent",
        "/v1internal:streamGenerateContent",
        "/v1internal:countTokens",
    ],
    only: true,
    marker: Marker::None,
};
/// Kimi For Coding's Messages API. A kimi-cli logged in sends its opaque token as
/// `Authorization: Bearer`; keys (`sk-kimi-…`) come as `x-api-key` (Anthropic SDKs, pi)
/// or as a bearer (kimi-cli with a key). The usage endpoint keeps the client's own login.
const KIMI_OAUTH: OAuthSpec = OAuthSpec {
    flavor: Flavor::Kimi,
    paths: &["/coding/v1/messages", "/coding/v1/messages/count_tokens"],
    only: false,
    marker: Marker::Key("sk-kimi-"),
};
/// Kilo Code's gateway (OpenAI-compatible, OpenRouter-backed) and its older OpenRouter
/// path. A device login's token is an API key of the same kind, so both kinds serve every
/// path below the two bases; the rest of the hosts (profile, device auth, the site) keep
/// the client's own headers.
const KILO_OAUTH: OAuthSpec = OAuthSpec {
    flavor: Flavor::Kilo,
    paths: &["/api/gateway/", "/api/openrouter/"],
    only: false,
    marker: Marker::Either,
};
/// Cline's OpenAI-compatible API (OpenRouter model ids). Cline's logins are its only
/// credential: every request is a subscription request.
const CLINE_OAUTH: OAuthSpec = OAuthSpec {
    flavor: Flavor::Cline,
    paths: &["/api/v1/chat/completions", "/api/v1/models"],
    only: true,
    marker: Marker::None,
};

/// Where each API-key provider's API lives on its hosts: pooled keys go there and nowhere
/// else on the host (telemetry, feature flags, registries, consoles keep the client's own
/// headers). Subscription-only providers take no keys: their scope is `OAuthSpec.paths`.
/// Named here so that each row of the table stays one line.
const OPENAI_API: Keys = Keys::Under(&["/v1/"]);
/// Claude Code's `/api/event_logging/…`, `/api/claude_code/…` and `/mcp-registry/…` are
/// outside: they are not the Messages API, and a 429 there says nothing about a key.
const ANTHROPIC_API: Keys = Keys::Under(&["/v1/"]);
/// `/upload/` and `/download/` carry the Files API (`/upload/v1beta/files`).
const GOOGLE_API: Keys = Keys::Under(&["/v1beta/", "/v1/", "/v1alpha/", "/upload/", "/download/"]);
/// DeepSeek's documented base has no `/v1`; `/beta/` is its completion (FIM) API and
/// `/anthropic/` its Anthropic-compatible one.
const DEEPSEEK_API: Keys = Keys::Under(&[
    "/v1/",
    "/chat/completions",
    "/completions",
    "/models",
    "/user/balance",
    "/beta/",
    "/anthropic/",
]);
/// The general, coding-plan and Anthropic-compatible bases.
const ZAI_API: Keys = Keys::Under(&["/api/paas/", "/api/coding/", "/api/anthropic/"]);
/// `/inference/v1` is the OpenAI-compatible base; `/v1/` the account API keys also open.
const FIREWORKS_API: Keys = Keys::Under(&["/inference/", "/v1/"]);
const MOONSHOT_API: Keys = Keys::Under(&["/v1/", "/anthropic/"]);
/// Kimi For Coding's base is `/coding` (`/coding/v1/messages`, `/coding/v1/usages`).
const KIMI_API: Keys = Keys::Under(&["/coding/"]);
/// OpenAI-compatible `/v1/…` and the Anthropic-compatible base `/anthropic`
/// (`/anthropic/v1/messages`): MiniMax and Xiaomi MiMo, on each of their hosts.
const V1_AND_ANTHROPIC: Keys = Keys::Under(&["/v1/", "/anthropic/"]);
/// OpenCode Zen (`/zen/v1/…`) and Go (`/zen/go/v1/…`) share the host and the key: one
/// OpenCode API key serves both catalogs, so they are one provider. The rest of
/// opencode.ai (the site, the console, `/auth`) keeps the client's own headers.
const OPENCODE_API: Keys = Keys::Under(&["/zen/v1/", "/zen/go/v1/"]);

const KILO_API: Keys = Keys::Under(&["/api/gateway/", "/api/openrouter/"]);

/// How API keys of a built-in provider are scoped.
pub(super) enum Keys {
    /// Paths under these prefixes (empty: the provider takes no keys).
    Under(&'static [&'static str]),
    /// Every path of the host.
    Everywhere,
    /// Cloudflare's `/client/v4/accounts/{id}/ai/…`.
    AccountPath,
}

/// id, hosts, how the key travels, error dialect, key scope, subscription logins.
pub(super) type Row = (
    &'static str,
    &'static [&'static str],
    AuthScheme,
    Dialect,
    Keys,
    Option<OAuthSpec>,
);

// Host lists named so that their rows stay one line.
const ANTHROPIC_HOSTS: &[&str] = &["api.anthropic.com"];
const GEMINI_CLI_HOSTS: &[&str] = &["cloudcode-pa.googleapis.com"];
const KIMI_HOSTS: &[&str] = &["api.kimi.com"];
/// `kilocode.ai` is the gateway's legacy host (`/api/openrouter`).
const KILO_HOSTS: &[&str] = &["api.kilo.ai", "kilocode.ai"];
const CLINE_HOSTS: &[&str] = &["api.cline.bot"];
const GOOGLE_HOSTS: &[&str] = &["generativelanguage.googleapis.com"];
const MOONSHOT_HOSTS: &[&str] = &["api.moonshot.ai", "api.moonshot.cn"];
const VERCEL_HOSTS: &[&str] = &["ai-gateway.vercel.sh"];
const XIAOMI_CN_HOSTS: &[&str] = &["token-plan-cn.xiaomimimo.com"];
const XIAOMI_AMS_HOSTS: &[&str] = &["token-plan-ams.xiaomimimo.com"];
const XIAOMI_SGP_HOSTS: &[&str] = &["token-plan-sgp.xiaomimimo.com"];
const COPILOT_HOSTS: &[&str] = &[
    "api.githubcopilot.com",
    "api.individual.githubcopilot.com",
    "api.business.githubcopilot.com",
    "api.enterprise.githubcopilot.com",
];

#[rustfmt::skip]
pub(super) const TABLE: [Row; 29] = {
    use AuthScheme::{Bearer, BearerOrXApiKey, GoogApiKey, XApiKey};
    use Dialect::{Anthropic, Google, Openai, Openrouter};
    use Keys::{AccountPath, Everywhere, Under};
    const V1: Keys = Under(&["/v1/"]);
    const NONE: Keys = Under(&[]);
    [
        ("openai", &["api.openai.com"], Bearer, Openai, OPENAI_API, None),
        ("anthropic", ANTHROPIC_HOSTS, XApiKey, Anthropic, ANTHROPIC_API, Some(ANTHROPIC_OAUTH)),
        ("openai-codex", &["chatgpt.com"], Bearer, Openai, NONE, Some(CODEX_OAUTH)),
        ("github-copilot", COPILOT_HOSTS, Bearer, Openai, NONE, Some(COPILOT_OAUTH)),
        ("google-gemini-cli", GEMINI_CLI_HOSTS, Bearer, Google, NONE, Some(GEMINI_CLI_OAUTH)),
        ("google", GOOGLE_HOSTS, GoogApiKey, Google, GOOGLE_API, None),
        ("openrouter", &["openrouter.ai"], Bearer, Openrouter, Under(&["/api/v1/"]), None),
        ("groq", &["api.groq.com"], Bearer, Openai, Under(&["/openai/v1/"]), None),
        ("xai", &["api.x.ai"], Bearer, Openai, V1, None),
        ("mistral", &["api.mistral.ai"], Bearer, Openai, V1, None),
        ("deepseek", &["api.deepseek.com"], Bearer, Openai, DEEPSEEK_API, None),
        ("cerebras", &["api.cerebras.ai"], Bearer, Openai, V1, None),
        ("together", &["api.together.xyz", "api.together.ai"], Bearer, Openai, V1, None),
        ("fireworks", &["api.fireworks.ai"], Bearer, Openai, FIREWORKS_API, None),
        // The router host serves nothing but inference (`/v1/…`, and `/{provider}/…` for
        // a changing list of providers): every path is its API.
        ("huggingface", &["router.huggingface.co"], Bearer, Openai, Everywhere, None),
        ("zai", &["api.z.ai"], Bearer, Openai, ZAI_API, None),
        ("moonshot", MOONSHOT_HOSTS, Bearer, Openai, MOONSHOT_API, None),
        ("kimi-coding", KIMI_HOSTS, XApiKey, Anthropic, KIMI_API, Some(KIMI_OAUTH)),
        // The account id lives in the path; the rest of api.cloudflare.com is not AI and
        // keeps the client's own token.
        ("cloudflare-workers-ai", &["api.cloudflare.com"], Bearer, Openai, AccountPath, None),
        // OpenAI-compatible `/v1/…` and Anthropic-compatible `/v1/messages` on one host;
        // the key travels as the client's SDK sent it. A 429 may carry the upstream's body.
        ("vercel-ai-gateway", VERCEL_HOSTS, BearerOrXApiKey, Openai, V1, None),
        // Zen and Go: see OPENCODE_API. Go's `x-opencode-session` passes untouched.
        ("opencode", &["opencode.ai"], Bearer, Openai, OPENCODE_API, None),
        ("minimax", &["api.minimax.io"], BearerOrXApiKey, Openai, V1_AND_ANTHROPIC, None),
        ("minimax-cn", &["api.minimaxi.com"], BearerOrXApiKey, Openai, V1_AND_ANTHROPIC, None),
        // Pay-as-you-go and the Token Plan's regional hosts; a key belongs to one of them.
        ("xiaomi", &["api.xiaomimimo.com"], Bearer, Openai, V1_AND_ANTHROPIC, None),
        ("xiaomi-token-plan-cn", XIAOMI_CN_HOSTS, Bearer, Openai, V1_AND_ANTHROPIC, None),
        ("xiaomi-token-plan-ams", XIAOMI_AMS_HOSTS, Bearer, Openai, V1_AND_ANTHROPIC, None),
        ("xiaomi-token-plan-sgp", XIAOMI_SGP_HOSTS, Bearer, Openai, V1_AND_ANTHROPIC, None),
        // pi has no id for these two; their tools' own names.
        ("kilo", KILO_HOSTS, Bearer, Openrouter, KILO_API, Some(KILO_OAUTH)),
        ("cline", CLINE_HOSTS, Bearer, Openrouter, NONE, Some(CLINE_OAUTH)),
    ]
};

/// Ids other tools give a provider that keypool keeps under another id: pi's
/// `opencode-go` entry holds an OpenCode key, which serves Zen and Go alike (one host, so
/// one provider: see OPENCODE_API).
const ALIASES: [(&str, &str); 1] = [("opencode-go", "opencode")];

/// The built-in id behind another tool's name for it, else `id` itself.
pub fn canonical_id(id: &str) -> &str {
    ALIASES
        .iter()
        .find(|(alias, _)| *alias == id)
        .map_or(id, |(_, canonical)| canonical)
}

pub fn builtin() -> Vec<Provider> {
    TABLE
        .into_iter()
        .map(|(id, hosts, auth, dialect, keys, oauth)| Provider {
            id: id.to_string(),
            hosts: hosts.iter().map(|h| h.to_string()).collect(),
            auth,
            dialect,
            scope: match keys {
                Keys::Under(paths) => {
                    Scope::Prefixes(paths.iter().map(|p| p.to_string()).collect())
                }
                Keys::Everywhere => Scope::All,
                Keys::AccountPath => Scope::AccountPath {
                    prefix: "/client/v4/accounts/",
                    after: "ai/",
                },
            },
            oauth,
            allow_http: false,
        })
        .collect()
}
