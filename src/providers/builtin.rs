//! The built-in provider table. Ids follow pi's `auth.json` keys.

use super::{AuthScheme, Dialect, OAuthSpec, Provider, Scope};

/// Claude Code's inference calls. Its profile, usage, token, Remote Control and file
/// calls are bound to its own login and pass through.
const ANTHROPIC_OAUTH: OAuthSpec = OAuthSpec {
    paths: &["/v1/messages", "/v1/messages/count_tokens"],
    only: false,
    token_marker: "sk-ant-oat",
};
/// The Codex backend's Responses endpoint (HTTP and WebSocket). The rest of chatgpt.com,
/// e.g. `/backend-api/wham/accounts/check`, must see the client's own account.
const CODEX_OAUTH: OAuthSpec = OAuthSpec {
    paths: &[
        "/backend-api/codex/responses",
        "/backend-api/codex/responses/compact",
    ],
    only: true,
    token_marker: "",
};
const COPILOT_OAUTH: OAuthSpec = OAuthSpec {
    paths: &[
        "/chat/completions",
        "/responses",
        "/v1/messages",
        "/v1/chat/completions",
        "/v1/responses",
        "/embeddings",
    ],
    only: true,
    token_marker: "",
};
const GEMINI_CLI_OAUTH: OAuthSpec = OAuthSpec {
    paths: &[
        "/v1internal:generateContent",
        "/v1internal:streamGenerateContent",
        "/v1internal:countTokens",
    ],
    only: true,
    token_marker: "",
};

pub fn builtin() -> Vec<Provider> {
    use AuthScheme::*;
    use Dialect::*;
    let p = |id: &str, hosts: &[&str], auth: AuthScheme, dialect: Dialect| Provider {
        id: id.to_string(),
        hosts: hosts.iter().map(|h| h.to_string()).collect(),
        auth,
        dialect,
        scope: Scope::All,
        oauth: None,
    };
    vec![
        p("openai", &["api.openai.com"], Bearer, Openai),
        Provider {
            oauth: Some(ANTHROPIC_OAUTH),
            ..p("anthropic", &["api.anthropic.com"], XApiKey, Anthropic)
        },
        Provider {
            oauth: Some(CODEX_OAUTH),
            ..p("openai-codex", &["chatgpt.com"], Bearer, Openai)
        },
        Provider {
            oauth: Some(COPILOT_OAUTH),
            ..p(
                "github-copilot",
                &[
                    "api.githubcopilot.com",
                    "api.individual.githubcopilot.com",
                    "api.business.githubcopilot.com",
                    "api.enterprise.githubcopilot.com",
                ],
                Bearer,
                Openai,
            )
        },
        Provider {
            oauth: Some(GEMINI_CLI_OAUTH),
            ..p(
                "google-gemini-cli",
                &["cloudcode-pa.googleapis.com"],
                Bearer,
                Google,
            )
        },
        p(
            "google",
            &["generativelanguage.googleapis.com"],
            GoogApiKey,
            Google,
        ),
        p("openrouter", &["openrouter.ai"], Bearer, Openrouter),
        p("groq", &["api.groq.com"], Bearer, Openai),
        p("xai", &["api.x.ai"], Bearer, Openai),
        p("mistral", &["api.mistral.ai"], Bearer, Openai),
        p("deepseek", &["api.deepseek.com"], Bearer, Openai),
        p("cerebras", &["api.cerebras.ai"], Bearer, Openai),
        p(
            "together",
            &["api.together.xyz", "api.together.ai"],
            Bearer,
            Openai,
        ),
        p("fireworks", &["api.fireworks.ai"], Bearer, Openai),
        p("huggingface", &["router.huggingface.co"], Bearer, Openai),
        p("zai", &["api.z.ai"], Bearer, Openai),
        p(
            "moonshot",
            &["api.moonshot.ai", "api.moonshot.cn"],
            Bearer,
            Openai,
        ),
        p("kimi-coding", &["api.kimi.com"], XApiKey, Anthropic),
        Provider {
            // The account id lives in the path; the rest of api.cloudflare.com is not AI
            // and keeps the client's own token.
            scope: Scope::AccountPath {
                prefix: "/client/v4/accounts/",
                after: "ai/",
            },
            ..p(
                "cloudflare-workers-ai",
                &["api.cloudflare.com"],
                Bearer,
                Openai,
            )
        },
    ]
}
