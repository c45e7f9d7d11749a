//! The built-in provider table. Ids follow pi's `auth.json` keys.

use super::{
    AuthScheme, Dialect, Flavor, HostFamily, HostPattern, Marker, OAuthPaths, OAuthSpec,
    PathTemplate, PlaceKey, Placement, Provider, Scope, Seg,
};

/// Claude Code's inference calls. Its profile, usage, token, Remote Control and file
/// calls are bound to its own login and pass through.
const ANTHROPIC_OAUTH: OAuthSpec = OAuthSpec {
    flavor: Flavor::Anthropic,
    paths: OAuthPaths::Exact(&["/v1/messages", "/v1/messages/count_tokens"]),
    only: false,
    marker: Marker::Token("sk-ant-oat"),
};
/// The Codex backend's Responses endpoint (HTTP and WebSocket). The rest of chatgpt.com,
/// e.g. `/backend-api/wham/accounts/check`, must see the client's own account.
const CODEX_OAUTH: OAuthSpec = OAuthSpec {
    flavor: Flavor::Codex,
    paths: OAuthPaths::Exact(&[
        "/backend-api/codex/responses",
        "/backend-api/codex/responses/compact",
    ]),
    only: true,
    marker: Marker::None,
};
const COPILOT_OAUTH: OAuthSpec = OAuthSpec {
    flavor: Flavor::Copilot,
    paths: OAuthPaths::Exact(&[
        "/chat/completions",
        "/responses",
        "/v1/messages",
        "/v1/chat/completions",
        "/v1/responses",
        "/embeddings",
    ]),
    only: true,
    marker: Marker::None,
};
const GEMINI_CLI_OAUTH: OAuthSpec = OAuthSpec {
    flavor: Flavor::GeminiCli,
    paths: OAuthPaths::Exact(&[
        "/v1internal:generateContent",
        "/v1internal:streamGenerateContent",
        "/v1internal:countTokens",
    ]),
    only: true,
    marker: Marker::None,
};
/// Vertex AI's inference calls on a project's models: Gemini (`publishers/google`) and
/// Claude (`publishers/anthropic`). The rest of the API (endpoints, datasets, tuning,
/// operations) keeps the client's own token.
const VERTEX_OAUTH: OAuthSpec = OAuthSpec {
    flavor: Flavor::Vertex,
    paths: OAuthPaths::Methods {
        under: &["/v1/projects/", "/v1beta1/projects/"],
        methods: &[
            "generateContent",
            "streamGenerateContent",
            "rawPredict",
            "streamRawPredict",
        ],
    },
    only: true,
    marker: Marker::None,
};
/// Kimi For Coding's Messages API. A kimi-cli logged in sends its opaque token as
/// `Authorization: Bearer`; keys (`sk-kimi-…`) come as `x-api-key` (Anthropic SDKs, pi)
/// or as a bearer (kimi-cli with a key). The usage endpoint keeps the client's own login.
const KIMI_OAUTH: OAuthSpec = OAuthSpec {
    flavor: Flavor::Kimi,
    paths: OAuthPaths::Exact(&["/coding/v1/messages", "/coding/v1/messages/count_tokens"]),
    only: false,
    marker: Marker::Key("sk-kimi-"),
};
/// Kilo Code's gateway (OpenAI-compatible, OpenRouter-backed) and its older OpenRouter
/// path. A device login's token is an API key of the same kind, so both kinds serve every
/// path below the two bases; the rest of the hosts (profile, device auth, the site) keep
/// the client's own headers.
const KILO_OAUTH: OAuthSpec = OAuthSpec {
    flavor: Flavor::Kilo,
    paths: OAuthPaths::Exact(&["/api/gateway/", "/api/openrouter/"]),
    only: false,
    marker: Marker::Either,
};
/// Cline's OpenAI-compatible API (OpenRouter model ids). Cline's logins are its only
/// credential: every request is a subscription request.
const CLINE_OAUTH: OAuthSpec = OAuthSpec {
    flavor: Flavor::Cline,
    paths: OAuthPaths::Exact(&["/api/v1/chat/completions", "/api/v1/models"]),
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
    /// Paths below the provider's placement path template only (see PLACEMENTS).
    Placed,
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
/// The global endpoint; the regional ones are its host family (see VERTEX_FAMILY).
const VERTEX_HOSTS: &[&str] = &["aiplatform.googleapis.com"];
const COPILOT_HOSTS: &[&str] = &[
    "api.githubcopilot.com",
    "api.individual.githubcopilot.com",
    "api.business.githubcopilot.com",
    "api.enterprise.githubcopilot.com",
];

/// Azure OpenAI's v1 and legacy APIs (`/openai/…`) and Foundry's model inference
/// (`/models/…`) and Anthropic (`/anthropic/…`) APIs, on every host of the resource.
const AZURE_API: Keys = Keys::Under(&["/openai/", "/models/", "/anthropic/"]);
const CF_GATEWAY_HOSTS: &[&str] = &["gateway.ai.cloudflare.com"];

#[rustfmt::skip]
pub(super) const TABLE: [Row; 33] = {
    use AuthScheme::{ApiKeyOrBearer, Bearer, BearerOrXApiKey, CfAig, GoogApiKey, XApiKey};
    use Dialect::{Anthropic, Bedrock, Google, Openai, Openrouter};
    use Keys::{Everywhere, Placed, Under};
    const V1: Keys = Under(&["/v1/"]);
    const NONE: Keys = Under(&[]);
    [
        ("openai", &["api.openai.com"], Bearer, Openai, OPENAI_API, None),
        ("anthropic", ANTHROPIC_HOSTS, XApiKey, Anthropic, ANTHROPIC_API, Some(ANTHROPIC_OAUTH)),
        ("openai-codex", &["chatgpt.com"], Bearer, Openai, NONE, Some(CODEX_OAUTH)),
        ("github-copilot", COPILOT_HOSTS, Bearer, Openai, NONE, Some(COPILOT_OAUTH)),
        ("google-gemini-cli", GEMINI_CLI_HOSTS, Bearer, Google, NONE, Some(GEMINI_CLI_OAUTH)),
        ("google", GOOGLE_HOSTS, GoogApiKey, Google, GOOGLE_API, None),
        // Gemini and Claude on Vertex AI, with tokens keypool gets from each account's
        // Google credential file. Claude's errors there come in either dialect; the
        // classifier reads both.
        ("google-vertex", VERTEX_HOSTS, Bearer, Google, NONE, Some(VERTEX_OAUTH)),
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
        ("cloudflare-workers-ai", &["api.cloudflare.com"], Bearer, Openai, Placed, None),
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
        // Placed providers: their hosts are families (see PLACEMENTS), so no plain host.
        // The key travels as the client sent it: `api-key` (legacy) or Bearer (v1).
        ("azure-openai-responses", &[], ApiKeyOrBearer, Openai, AZURE_API, None),
        // The account's Cloudflare token in `cf-aig-authorization`, its optional provider
        // key in the header of the provider the path names (providers/gateway_keys.rs).
        ("cloudflare-ai-gateway", CF_GATEWAY_HOSTS, CfAig, Openai, Placed, None),
        // Bedrock API keys (Bearer) or IAM credentials (each request signed anew, see
        // SIGV4); the runtime hosts serve nothing but inference. Its native APIs speak
        // AWS's errors, its compatible ones their own (PATH_DIALECTS).
        ("amazon-bedrock", &[], Bearer, Bedrock, Everywhere, None),
        // pi has no id for these two; their tools' own names.
        ("kilo", KILO_HOSTS, Bearer, Openrouter, KILO_API, Some(KILO_OAUTH)),
        ("cline", CLINE_HOSTS, Bearer, Openrouter, NONE, Some(CLINE_OAUTH)),
    ]
};

/// Paths below which a provider answers in another dialect than its row's. Bedrock's
/// OpenAI-compatible Chat Completions and Responses (`/openai/v1/…` on bedrock-runtime,
/// `/v1/…` and `/openai/v1/…` on bedrock-mantle) keep OpenAI's error taxonomy, and its
/// Anthropic Messages API (`/anthropic/v1/messages`) Anthropic's; only the native APIs
/// (`/model/{id}/converse`, `/invoke`, …) answer `{"message"}` + `x-amzn-errortype`.
/// keypool's own answers on those paths then read as the client's SDK expects.
const PATH_DIALECTS: [(&str, &[(&str, Dialect)]); 1] = [(
    "amazon-bedrock",
    &[
        ("/openai/", Dialect::Openai),
        ("/anthropic/", Dialect::Anthropic),
        ("/v1/", Dialect::Openai),
    ],
)];

/// Providers whose accounts may be AWS IAM credentials, and the SigV4 signing name.
const SIGV4: [(&str, &str); 1] = [("amazon-bedrock", crate::sigv4::BEDROCK)];

fn path_dialects(id: &str) -> &'static [(&'static str, Dialect)] {
    PATH_DIALECTS
        .iter()
        .find(|(p, _)| *p == id)
        .map_or(&[], |(_, d)| d)
}

fn sigv4(id: &str) -> Option<&'static str> {
    SIGV4.iter().find(|(p, _)| *p == id).map(|(_, s)| *s)
}

/// Where the accounts of a placed provider live (providers/place.rs).
fn placement(id: &str) -> Placement {
    match PLACEMENTS.iter().find(|(p, _)| *p == id) {
        Some((_, placement)) => placement.clone(),
        None => Placement::NONE,
    }
}

/// Every resource of an Azure AI Services (Foundry) resource answers on these three
/// hosts; an Azure OpenAI resource on the first two.
const AZURE_HOSTS: HostFamily = HostFamily {
    key: PlaceKey::Resource,
    patterns: &[
        HostPattern::Suffix("openai.azure.com"),
        HostPattern::Suffix("cognitiveservices.azure.com"),
        HostPattern::Suffix("services.ai.azure.com"),
    ],
    known: &[],
    named: &[],
};

/// The regions Bedrock runs in (AWS's commercial and GovCloud partitions), which the CA
/// is made for; an account in another one adds its own hosts.
const AWS_REGIONS: &[&str] = &[
    "us-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
    "ca-central-1",
    "ca-west-1",
    "mx-central-1",
    "sa-east-1",
    "eu-central-1",
    "eu-central-2",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "eu-north-1",
    "eu-south-1",
    "eu-south-2",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-northeast-3",
    "ap-south-1",
    "ap-south-2",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-southeast-3",
    "ap-southeast-4",
    "ap-southeast-5",
    "ap-southeast-7",
    "ap-east-1",
    "ap-east-2",
    "me-central-1",
    "me-south-1",
    "il-central-1",
    "af-south-1",
    "us-gov-west-1",
    "us-gov-east-1",
];

/// `bedrock-runtime` (InvokeModel, Converse, OpenAI and Anthropic-compatible) and
/// `bedrock-mantle` (OpenAI `/v1`, Anthropic), each in the account's region.
const BEDROCK_HOSTS: HostFamily = HostFamily {
    key: PlaceKey::Region,
    patterns: &[
        HostPattern::Template {
            before: "bedrock-runtime.",
            after: ".amazonaws.com",
        },
        HostPattern::Template {
            before: "bedrock-runtime-fips.",
            after: ".amazonaws.com",
        },
        HostPattern::Template {
            before: "bedrock-mantle.",
            after: ".api.aws",
        },
    ],
    known: AWS_REGIONS,
    named: &[],
};

/// The regions Generative AI on Vertex AI serves (Google's locations page), which the CA
/// is made for; an account in another one adds its own host. Never a subtree on
/// `googleapis.com`: that would be every Google API, oauth2.googleapis.com among them.
const GCP_REGIONS: &[&str] = &[
    "us-central1",
    "us-east1",
    "us-east4",
    "us-east5",
    "us-south1",
    "us-west1",
    "us-west2",
    "us-west3",
    "us-west4",
    "northamerica-northeast1",
    "northamerica-northeast2",
    "southamerica-east1",
    "europe-west1",
    "europe-west2",
    "europe-west3",
    "europe-west4",
    "europe-west6",
    "europe-west8",
    "europe-west9",
    "europe-north1",
    "europe-central2",
    "europe-southwest1",
    "asia-east1",
    "asia-east2",
    "asia-northeast1",
    "asia-northeast3",
    "asia-south1",
    "asia-southeast1",
    "australia-southeast1",
    "me-central1",
    "me-central2",
    "me-west1",
];

/// `{location}-aiplatform.googleapis.com` for a region, `aiplatform.googleapis.com` for
/// `global`.
const VERTEX_FAMILY: HostFamily = HostFamily {
    key: PlaceKey::Location,
    patterns: &[HostPattern::Template {
        before: "",
        after: "-aiplatform.googleapis.com",
    }],
    known: GCP_REGIONS,
    named: &[("global", "aiplatform.googleapis.com")],
};

const PLACEMENTS: [(&str, Placement); 5] = [
    (
        "cloudflare-workers-ai",
        Placement {
            host: None,
            path: Some(PathTemplate(&[
                Seg::Lit("client"),
                Seg::Lit("v4"),
                Seg::Lit("accounts"),
                Seg::Key(PlaceKey::AccountId),
                Seg::Lit("ai"),
            ])),
            optional: &[],
        },
    ),
    (
        "azure-openai-responses",
        Placement {
            host: Some(AZURE_HOSTS),
            // The legacy API names the deployment in the path; v1 names it as `model`.
            path: Some(PathTemplate(&[
                Seg::Lit("openai"),
                Seg::Lit("deployments"),
                Seg::Deployment,
            ])),
            optional: &[],
        },
    ),
    (
        "cloudflare-ai-gateway",
        Placement {
            host: None,
            path: Some(PathTemplate(&[
                Seg::Lit("v1"),
                Seg::Key(PlaceKey::AccountId),
                Seg::Key(PlaceKey::GatewayId),
            ])),
            optional: &[],
        },
    ),
    (
        "amazon-bedrock",
        Placement {
            host: Some(BEDROCK_HOSTS),
            path: None,
            optional: &[],
        },
    ),
    (
        "google-vertex",
        Placement {
            host: Some(VERTEX_FAMILY),
            // The project and location a model call names; an account without its own
            // keeps the client's (the project then comes from its key file, see
            // forward/request.rs), and the host follows the location.
            path: Some(PathTemplate(&[
                Seg::OneOf(&["v1", "v1beta1"]),
                Seg::Lit("projects"),
                Seg::Key(PlaceKey::Project),
                Seg::Lit("locations"),
                Seg::Key(PlaceKey::Location),
            ])),
            optional: &[PlaceKey::Project, PlaceKey::Location],
        },
    ),
];

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
                Keys::Placed => Scope::Placed,
            },
            placement: placement(id),
            oauth,
            allow_http: false,
            path_dialects: path_dialects(id),
            sigv4: sigv4(id),
        })
        .collect()
}
