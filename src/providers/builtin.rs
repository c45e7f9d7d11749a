//! The built-in provider table. Ids follow pi's `auth.json` keys.

use super::{AuthScheme, Dialect, Provider, Scope};

pub fn builtin() -> Vec<Provider> {
    use AuthScheme::*;
    use Dialect::*;
    let p = |id: &str, hosts: &[&str], auth: AuthScheme, dialect: Dialect| Provider {
        id: id.to_string(),
        hosts: hosts.iter().map(|h| h.to_string()).collect(),
        auth,
        dialect,
        scope: Scope::All,
    };
    vec![
        p("openai", &["api.openai.com"], Bearer, Openai),
        p("anthropic", &["api.anthropic.com"], XApiKey, Anthropic),
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
