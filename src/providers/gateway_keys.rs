//! Behind a gateway (Cloudflare AI Gateway: `/v1/{account}/{gateway}/{provider}/…`), the
//! provider's own key travels in the header that provider takes. The path names the
//! provider, so the header is a table lookup on that segment.

use super::{AuthScheme, Placement};

/// The segment after the gateway's ids → how that provider takes its key. Every
/// provider not listed takes `Authorization: Bearer` (OpenAI, Groq, Mistral, DeepSeek,
/// OpenRouter, Perplexity, Cerebras, xAI, Workers AI, the `/compat/` endpoint, …).
const HEADERS: [(&str, AuthScheme); 4] = [
    ("anthropic", AuthScheme::XApiKey),
    ("google-ai-studio", AuthScheme::GoogApiKey),
    ("azure-openai", AuthScheme::ApiKeyOrBearer),
    ("compat", AuthScheme::Bearer),
];

/// How the provider key of a gateway account travels for a request to `path`.
pub fn scheme_for(placement: &Placement, path: &str) -> AuthScheme {
    let segment = placement
        .path
        .and_then(|t| t.rest(path))
        .and_then(|rest| rest.split('/').next());
    HEADERS
        .iter()
        .find(|(name, _)| Some(*name) == segment)
        .map_or(AuthScheme::Bearer, |(_, s)| s.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::{builtin, Registry};

    #[test]
    fn each_provider_behind_the_gateway_gets_its_own_header() {
        let r = Registry::new(builtin());
        let gw = &r.by_id("cloudflare-ai-gateway").unwrap().placement;
        for (path, want) in [
            ("/v1/a/g/openai/chat/completions", AuthScheme::Bearer),
            ("/v1/a/g/anthropic/v1/messages", AuthScheme::XApiKey),
            (
                "/v1/a/g/google-ai-studio/v1beta/models/x:generateContent",
                AuthScheme::GoogApiKey,
            ),
            (
                "/v1/a/g/azure-openai/res/dep/chat/completions",
                AuthScheme::ApiKeyOrBearer,
            ),
            ("/v1/a/g/compat/chat/completions", AuthScheme::Bearer),
            ("/v1/a/g/groq/chat/completions", AuthScheme::Bearer),
        ] {
            assert_eq!(scheme_for(gw, path), want, "{path}");
        }
    }
}
