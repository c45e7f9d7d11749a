use super::*;

/// Bedrock's native APIs answer in AWS's shape, its OpenAI- and Anthropic-compatible
/// ones in theirs; only Bedrock signs with SigV4.
#[test]
fn bedrock_speaks_aws_on_its_native_paths_and_the_compatible_dialects_below_them() {
    let r = Registry::new(builtin());
    let b = r.by_id("amazon-bedrock").unwrap();
    assert_eq!(b.sigv4, Some("bedrock"));
    for (path, dialect) in [
        (
            "/model/anthropic.claude-3-haiku/converse-stream",
            Dialect::Bedrock,
        ),
        ("/model/x/invoke", Dialect::Bedrock),
        ("/openai/v1/chat/completions", Dialect::Openai),
        ("/v1/responses", Dialect::Openai),
        ("/anthropic/v1/messages", Dialect::Anthropic),
    ] {
        assert_eq!(b.dialect_for(path), dialect, "{path}");
    }
    let o = r.by_id("openai").unwrap();
    assert_eq!(o.dialect_for("/anthropic/v1/messages"), Dialect::Openai);
    assert!(r.ids().filter(|id| *id != "amazon-bedrock").all(|id| r
        .by_id(id)
        .unwrap()
        .sigv4
        .is_none()));
}

#[test]
fn builtin_hosts_resolve() {
    let r = Registry::new(builtin());
    assert_eq!(r.for_host("api.openai.com").unwrap().id, "openai");
    assert_eq!(r.for_host("API.Anthropic.com.").unwrap().id, "anthropic");
    assert_eq!(
        r.for_host("generativelanguage.googleapis.com").unwrap().id,
        "google"
    );
    assert!(r.for_host("example.com").is_none());
}

fn custom(id: &str, hosts: &[&str]) -> Provider {
    Provider {
        id: id.into(),
        hosts: hosts.iter().map(|h| h.to_string()).collect(),
        auth: AuthScheme::Bearer,
        dialect: Dialect::Openai,
        scope: Scope::All,
        oauth: None,
        placement: Placement::NONE,
        allow_http: false,
        path_dialects: &[],
        sigv4: None,
    }
}

#[test]
fn replacing_a_provider_drops_its_hosts_in_any_case() {
    let mut r = Registry::new([custom("x", &["API.Example.com"])]);
    assert_eq!(r.for_host("api.example.com").unwrap().id, "x");
    r.insert(custom("x", &["other.example.com"]));
    assert!(r.for_host("api.example.com").is_none());
    assert!(r.for_host("API.Example.com").is_none());
    assert_eq!(r.hosts().collect::<Vec<_>>(), ["other.example.com"]);
}

#[test]
fn replacing_a_provider_keeps_a_host_another_one_took() {
    let mut r = Registry::new([custom("x", &["shared.example.com"])]);
    r.insert(custom("y", &["Shared.Example.com"]));
    r.insert(custom("x", &["x.example.com"]));
    assert_eq!(r.for_host("shared.example.com").unwrap().id, "y");
}

#[test]
fn oauth_swaps_only_inference_paths() {
    let r = Registry::new(builtin());
    let a = r.by_id("anthropic").unwrap();
    assert!(a.covers("/v1/messages", Kind::OAuth));
    assert!(a.covers("/v1/messages/count_tokens", Kind::OAuth));
    assert!(!a.covers("/api/oauth/profile", Kind::OAuth));
    assert!(!a.covers("/v1/oauth/token", Kind::OAuth));
    assert!(a.covers("/v1/models", Kind::ApiKey));
    let c = r.for_host("chatgpt.com").unwrap();
    assert!(c.covers("/backend-api/codex/responses", Kind::OAuth));
    assert!(!c.covers("/backend-api/wham/accounts/check", Kind::OAuth));
    assert!(!c.covers("/backend-api/codex/responses", Kind::ApiKey));
    let mut h = http::HeaderMap::new();
    assert_eq!(a.client_kind(&h), None);
    h.insert("authorization", "Bearer sk-ant-oat01-x".parse().unwrap());
    assert_eq!(a.client_kind(&h), Some(Kind::OAuth));
    // anthropic-python 2.x sends keys (and placeholders) as bearer tokens too.
    h.insert(
        "authorization",
        "Bearer sk-ant-placeholder".parse().unwrap(),
    );
    assert_eq!(a.client_kind(&h), Some(Kind::ApiKey));
    h.remove("authorization");
    h.insert("x-api-key", "sk-ant-api03-x".parse().unwrap());
    assert_eq!(a.client_kind(&h), Some(Kind::ApiKey));
}

#[test]
fn api_keys_go_only_on_each_providers_api_surface() {
    let r = Registry::new(builtin());
    let key = |id: &str, path: &str| r.by_id(id).unwrap().covers(path, Kind::ApiKey);
    for (id, inside, outside) in [
        ("openai", "/v1/chat/completions", "/backend-api/me"),
        ("anthropic", "/v1/messages", "/api/event_logging/batch"),
        ("anthropic", "/v1/models", "/api/claude_code/settings"),
        (
            "anthropic",
            "/v1/messages/count_tokens",
            "/mcp-registry/v0/servers",
        ),
        (
            "google",
            "/v1beta/models/g:generateContent",
            "/$discovery/rest",
        ),
        ("google", "/upload/v1beta/files", "/v1betax/models"),
        (
            "openrouter",
            "/api/v1/chat/completions",
            "/api/frontend/stats",
        ),
        (
            "groq",
            "/openai/v1/chat/completions",
            "/v1/chat/completions",
        ),
        ("xai", "/v1/chat/completions", "/api/x"),
        ("mistral", "/v1/chat/completions", "/x"),
        ("deepseek", "/chat/completions", "/chat/completionsX"),
        ("deepseek", "/beta/completions", "/admin"),
        ("cerebras", "/v1/chat/completions", "/"),
        ("together", "/v1/chat/completions", "/api/x"),
        ("fireworks", "/inference/v1/chat/completions", "/account"),
        ("zai", "/api/paas/v4/chat/completions", "/api/monitor/usage"),
        ("zai", "/api/anthropic/v1/messages", "/"),
        ("moonshot", "/v1/chat/completions", "/api/x"),
        ("kimi-coding", "/coding/v1/messages", "/v1/messages"),
        ("vercel-ai-gateway", "/v1/chat/completions", "/"),
        ("vercel-ai-gateway", "/v1/messages", "/api/x"),
        ("opencode", "/zen/v1/chat/completions", "/zen/"),
        ("opencode", "/zen/go/v1/messages", "/auth"),
        ("opencode", "/zen/v1/models", "/zen/go/"),
        ("minimax", "/anthropic/v1/messages", "/anthropicX"),
        ("minimax", "/v1/chat/completions", "/"),
        ("minimax-cn", "/anthropic/v1/messages", "/x"),
        ("xiaomi", "/v1/chat/completions", "/console"),
        ("xiaomi-token-plan-cn", "/anthropic/v1/messages", "/"),
        ("xiaomi-token-plan-ams", "/v1/models", "/"),
        ("xiaomi-token-plan-sgp", "/v1/chat/completions", "/"),
        ("kilo", "/api/gateway/chat/completions", "/api/profile"),
        (
            "kilo",
            "/api/openrouter/chat/completions",
            "/api/device-auth/codes",
        ),
    ] {
        assert!(key(id, inside), "{id}: {inside} is its API");
        assert!(!key(id, outside), "{id}: {outside} is not");
    }
    // Dot segments and encoded separators could leave the prefix once the provider
    // normalises the path: never in scope.
    for p in [
        "/v1/../api/x",
        "/v1/./x",
        "/v1/%2e%2e/api",
        "/v1%2Fmessages",
        "/v1/\\x",
    ] {
        assert!(!key("anthropic", p), "{p}");
    }
    // Subscription-only providers take no keys anywhere.
    assert!(!key("openai-codex", "/backend-api/codex/responses"));
    assert!(!key("github-copilot", "/chat/completions"));
    assert!(key("huggingface", "/together/v1/chat/completions"));
    assert!(r.by_id("openai").is_some_and(|p| !p.allow_http));
}

#[test]
fn cloudflare_swaps_only_ai_paths_and_rewrites_the_account() {
    let r = Registry::new(builtin());
    let cf = r.by_id("cloudflare-workers-ai").unwrap();
    let p = "/client/v4/accounts/abc123/ai/v1/chat/completions";
    assert!(cf.covers(p, Kind::ApiKey));
    assert!(!cf.covers("/client/v4/accounts/abc123/workers/scripts", Kind::ApiKey));
    assert!(!cf.covers("/client/v4/zones", Kind::ApiKey));
    let mine = Place {
        values: [(PlaceKey::AccountId, "mine".to_string())].into(),
        deployments: None,
    };
    assert_eq!(
        cf.placement.repath(p, &mine).unwrap().unwrap(),
        "/client/v4/accounts/mine/ai/v1/chat/completions"
    );
}

/// Vertex's minted token goes on a project's model calls (Gemini and Claude, v1 and
/// v1beta1) and nowhere else on its hosts.
#[test]
fn vertex_tokens_go_only_on_model_calls() {
    let r = Registry::new(builtin());
    let v = r.for_host("us-east5-aiplatform.googleapis.com").unwrap();
    assert_eq!(v.id, "google-vertex");
    assert_eq!(
        r.for_host("aiplatform.googleapis.com").unwrap().id,
        "google-vertex"
    );
    let base = "/v1/projects/p-1/locations/us-east5/publishers";
    for inside in [
        format!("{base}/google/models/gemini-2.5-pro:generateContent"),
        format!("{base}/google/models/gemini-2.5-pro:streamGenerateContent"),
        format!("{base}/anthropic/models/claude-sonnet-4-5@20250929:rawPredict"),
        format!("{base}/anthropic/models/claude-opus-4-6:streamRawPredict"),
        "/v1beta1/projects/p/locations/global/publishers/google/models/g:generateContent"
            .to_string(),
    ] {
        assert!(v.covers(&inside, Kind::OAuth), "{inside}");
    }
    for outside in [
        format!("{base}/google/models/gemini-2.5-pro:countTokens"),
        format!("{base}/google/models/gemini-2.5-pro"),
        "/v1/projects/p/locations/l/endpoints/123:predict".to_string(),
        "/v1/projects/p/locations/l/operations/1".to_string(),
        "/v1/publishers/google/models/g:generateContent".to_string(),
        "/v1/projects/p/../x/models/g:generateContent".to_string(),
        "/v1/projects/p%2f..%2fx/models/g:generateContent".to_string(),
        "/v1/projects/p/models/g:rawPredict:x".to_string(),
        // No location segment: no place to rewrite, so the client's token stays.
        "/v1/projects/p/publishers/google/models/g:generateContent".to_string(),
        "/v1/projects/p/locations//publishers/google/models/g:generateContent".to_string(),
        "/v2/projects/p/locations/l/publishers/google/models/g:generateContent".to_string(),
        format!("{base}/google/models/../../../../x/models/g:generateContent"),
    ] {
        assert!(!v.covers(&outside, Kind::OAuth), "{outside}");
    }
    assert!(!v.covers(
        &format!("{base}/google/models/g:generateContent"),
        Kind::ApiKey
    ));
    assert_eq!(v.client_kind(&http::HeaderMap::new()), Some(Kind::OAuth));
    assert_eq!(v.dialect, Dialect::Google);
}

fn vertex_place(pairs: &[(PlaceKey, &str)]) -> Place {
    Place {
        values: pairs.iter().map(|(k, v)| (*k, v.to_string())).collect(),
        deployments: None,
    }
}

/// An account's project and location replace the client's in a model call's path,
/// and the host follows the location: `global` on the bare host, a region on its own.
#[test]
fn a_vertex_account_gets_its_project_location_and_host() {
    let r = Registry::new(builtin());
    let v = &r.by_id("google-vertex").unwrap().placement;
    let claude = "/v1/projects/client-proj/locations/us-east5/publishers/anthropic/models/\
                  claude-sonnet-4-5@20250929:rawPredict";
    let b = vertex_place(&[
        (PlaceKey::Project, "proj-b"),
        (PlaceKey::Location, "global"),
    ]);
    assert_eq!(
        v.repath(claude, &b).unwrap().unwrap(),
        "/v1/projects/proj-b/locations/global/publishers/anthropic/models/\
         claude-sonnet-4-5@20250929:rawPredict"
    );
    assert_eq!(
        v.rehost("us-east5-aiplatform.googleapis.com", &b)
            .as_deref(),
        Some("aiplatform.googleapis.com")
    );
    let a = vertex_place(&[
        (PlaceKey::Project, "proj-a"),
        (PlaceKey::Location, "europe-west4"),
    ]);
    let gemini =
        "/v1beta1/projects/c/locations/global/publishers/google/models/g:streamGenerateContent";
    assert_eq!(
        v.repath(gemini, &a).unwrap().unwrap(),
        "/v1beta1/projects/proj-a/locations/europe-west4/publishers/google/models/\
         g:streamGenerateContent"
    );
    assert_eq!(
        v.rehost("AIPlatform.googleapis.com.", &a).as_deref(),
        Some("europe-west4-aiplatform.googleapis.com")
    );
    // Without its own location the account keeps the client's, host and path alike;
    // without a project (and none from its key file), the client's project.
    let bare = Place::default();
    assert_eq!(v.repath(claude, &bare).unwrap().unwrap(), claude);
    assert_eq!(v.rehost("us-east5-aiplatform.googleapis.com", &bare), None);
    assert!(v.serves(claude, &bare));
    assert!(v.required().is_empty());
    assert_eq!(v.keys(), [PlaceKey::Project, PlaceKey::Location]);
    // Paths without the template go as sent.
    assert_eq!(
        v.repath("/v1/projects/p/models/g:generateContent", &b),
        Ok(None)
    );
    assert_eq!(
        v.hosts_for(&vertex_place(&[(PlaceKey::Location, "me-central9")])),
        ["me-central9-aiplatform.googleapis.com"]
    );
    assert_eq!(v.hosts_for(&b), ["aiplatform.googleapis.com"]);
}

/// The key file's project fills the place only where the config is silent, and only
/// when it is a project id (a crafted `project_id` leaves the client's).
#[test]
fn a_key_files_project_places_the_account_unless_the_config_does() {
    let r = Registry::new(builtin());
    let v = &r.by_id("google-vertex").unwrap().placement;
    let path =
        "/v1/projects/client-proj/locations/global/publishers/google/models/g:generateContent";
    let project = |place: &Place, from_file: Option<&str>| {
        let placed = v.fill_from_login(place, PlaceKey::Project, from_file);
        let p = v.repath(path, &placed).unwrap().unwrap();
        p.split('/').nth(3).unwrap().to_string()
    };
    let none = Place::default();
    assert_eq!(project(&none, Some("proj-from-file")), "proj-from-file");
    let set = vertex_place(&[(PlaceKey::Project, "proj-config")]);
    assert_eq!(project(&set, Some("proj-from-file")), "proj-config");
    for crafted in ["../../x", "proj/evil", "a.b:c", "P", ""] {
        assert_eq!(project(&none, Some(crafted)), "client-proj", "{crafted}");
    }
    assert_eq!(project(&none, None), "client-proj");
    let openai = &r.by_id("openai").unwrap().placement;
    let untouched = openai.fill_from_login(&none, PlaceKey::Project, Some("proj-x"));
    assert!(untouched.values.is_empty(), "a provider without the key");
}

/// Any `{region}-aiplatform.googleapis.com` is Vertex's; a host that only looks like
/// one, or another Google API, is not.
#[test]
fn vertex_regional_hosts_resolve_and_crafted_ones_do_not() {
    let r = Registry::new(builtin());
    let id = |h: &str| r.for_host(h).map(|p| p.id.as_str());
    for h in [
        "aiplatform.googleapis.com",
        "us-east5-aiplatform.googleapis.com",
        "northamerica-northeast1-aiplatform.googleapis.com",
        "me-central9-aiplatform.googleapis.com",
        "US-EAST5-aiplatform.googleapis.com.",
    ] {
        assert_eq!(id(h), Some("google-vertex"), "{h}");
    }
    for h in [
        "global-aiplatform.googleapis.com",
        "-aiplatform.googleapis.com",
        "us-aiplatform.googleapis.com",
        "us_east5-aiplatform.googleapis.com",
        "evil.us-east5-aiplatform.googleapis.com",
        "us-east5-aiplatform.googleapis.com.evil.com",
        "us-east5.aiplatform.googleapis.com",
        "x.aiplatform.googleapis.com",
        "us--east5-aiplatform.googleapis.com",
        "useast5-aiplatform.googleapis.com",
        "oauth2.googleapis.com",
        "googleapis.com",
    ] {
        assert_eq!(id(h), None, "{h}");
    }
    let v = r.by_id("google-vertex").unwrap();
    assert!(v.hosts.iter().all(|h| h == "aiplatform.googleapis.com"));
}

#[test]
fn kinds_name_themselves_as_the_config_does() {
    assert_eq!(Kind::ApiKey.as_str(), "api_key");
    assert_eq!(Kind::OAuth.as_str(), "oauth");
}

#[test]
fn a_subscription_only_provider_reads_every_request_as_oauth() {
    let r = Registry::new(builtin());
    let none = http::HeaderMap::new();
    let codex = r.by_id("openai-codex").unwrap();
    assert_eq!(codex.client_kind(&none), Some(Kind::OAuth));
    let openai = r.by_id("openai").unwrap();
    assert_eq!(openai.client_kind(&none), Some(Kind::ApiKey));
}

#[test]
fn each_placed_provider_names_the_keys_its_accounts_need() {
    let r = Registry::new(builtin());
    let needs = |id: &str| r.by_id(id).unwrap().placement.required();
    assert_eq!(needs("cloudflare-workers-ai"), [PlaceKey::AccountId]);
    assert_eq!(needs("azure-openai-responses"), [PlaceKey::Resource]);
    assert_eq!(needs("amazon-bedrock"), [PlaceKey::Region]);
    assert_eq!(
        needs("cloudflare-ai-gateway"),
        [PlaceKey::AccountId, PlaceKey::GatewayId]
    );
    assert!(needs("openai").is_empty());
    let openai = &r.by_id("openai").unwrap().placement;
    assert_eq!(openai.repath("/v1/models", &Place::default()), Ok(None));
    assert_eq!(openai.rehost("api.openai.com", &Place::default()), None);
}

/// A family owns every well-formed host it names and nothing that only looks like
/// one; exact hosts keep winning.
#[test]
fn host_families_resolve_without_letting_a_crafted_host_in() {
    let r = Registry::new(builtin());
    let id = |h: &str| r.for_host(h).map(|p| p.id.as_str());
    for h in [
        "res-a.openai.azure.com",
        "RES-A.OpenAI.Azure.com.",
        "res.cognitiveservices.azure.com",
        "res.services.ai.azure.com",
        "evil.com.openai.azure.com",
    ] {
        assert_eq!(id(h), Some("azure-openai-responses"), "{h}");
    }
    for h in [
        "bedrock-runtime.us-east-1.amazonaws.com",
        "bedrock-runtime.mx-central-1.amazonaws.com",
        "bedrock-mantle.eu-west-1.api.aws",
        "bedrock-runtime-fips.us-east-1.amazonaws.com",
    ] {
        assert_eq!(id(h), Some("amazon-bedrock"), "{h}");
    }
    assert_eq!(
        id("gateway.ai.cloudflare.com"),
        Some("cloudflare-ai-gateway")
    );
    for h in [
        "openai.azure.com",
        "openai.azure.com.evil.com",
        "res.openai.azure.com.evil.com",
        "evilopenai.azure.com",
        "a_b.openai.azure.com",
        "bedrock-runtime.a.b.amazonaws.com",
        "bedrock-runtime.us-east-1.amazonaws.com.evil.com",
        "s3.us-east-1.amazonaws.com",
        "ai.cloudflare.com",
    ] {
        assert_eq!(id(h), None, "{h}");
    }
    assert_eq!(id("api.openai.com"), Some("openai"));
}

#[test]
fn replacing_a_placed_provider_drops_its_family() {
    let mut r = Registry::new(builtin());
    r.insert(custom(
        "azure-openai-responses",
        &["azure.internal.example"],
    ));
    assert!(r.for_host("res.openai.azure.com").is_none());
    assert_eq!(
        r.for_host("azure.internal.example").unwrap().id,
        "azure-openai-responses"
    );
}

#[test]
fn an_encoded_backslash_is_no_plain_path() {
    let r = Registry::new(builtin());
    assert!(!r
        .by_id("anthropic")
        .unwrap()
        .covers("/v1%5c..%5capi/x", Kind::ApiKey));
}

#[test]
fn a_config_entry_replaces_a_builtin_id_and_its_hosts() {
    let mut r = Registry::new(builtin());
    let ids: Vec<&str> = r.ids().collect();
    assert_eq!(ids.first(), Some(&"openai"));
    assert_eq!(ids.len(), builtin().len());
    assert!(r.hosts().any(|h| h == "api.openai.com"));
    let mut mine = r.by_id("openai").unwrap().as_ref().clone();
    mine.hosts = vec!["OpenAI.Internal.Example".into()];
    r.insert(mine);
    assert_eq!(
        r.ids().filter(|i| *i == "openai").count(),
        1,
        "replaced, not added"
    );
    assert!(
        r.for_host("api.openai.com").is_none(),
        "the old host is gone"
    );
    assert_eq!(r.for_host("openai.internal.example").unwrap().id, "openai");
    assert!(r.hosts().any(|h| h == "openai.internal.example"));
    assert!(!r.hosts().any(|h| h == "api.openai.com"));
}

/// A Kilo login's token is a key of the gateway's own kind: either kind of account
/// serves a request, on the gateway's paths only. Cline takes its logins alone, with
/// the `workos:` prefix its spec names.
#[test]
fn kilo_serves_both_kinds_below_its_bases_and_cline_only_logins() {
    let r = Registry::new(builtin());
    let kilo = r.for_host("api.kilo.ai").unwrap();
    assert_eq!(kilo.id, "kilo");
    assert_eq!(r.for_host("kilocode.ai").unwrap().id, "kilo");
    let mut h = http::HeaderMap::new();
    h.insert("authorization", "Bearer client-kilo-key".parse().unwrap());
    assert_eq!(kilo.client_kind(&h), None, "either kind serves it");
    for k in [Kind::OAuth, Kind::ApiKey] {
        assert!(kilo.covers("/api/gateway/chat/completions", k), "{k:?}");
        assert!(kilo.covers("/api/openrouter/models", k), "{k:?}");
        assert!(!kilo.covers("/api/profile", k), "{k:?}");
        assert!(!kilo.covers("/api/gateway/../profile", k), "{k:?}");
    }
    let cline = r.for_host("api.cline.bot").unwrap();
    assert_eq!(cline.client_kind(&h), Some(Kind::OAuth));
    assert!(cline.covers("/api/v1/chat/completions", Kind::OAuth));
    assert!(!cline.covers("/api/v1/users/me", Kind::OAuth));
    assert!(!cline.covers("/api/v1/chat/completions", Kind::ApiKey));
}

/// Each table provider of issue 12 answers on its own host(s), and its key travels in
/// the form the table names.
#[test]
fn the_gateway_and_plan_providers_sit_on_their_hosts() {
    let r = Registry::new(builtin());
    for (host, id, auth) in [
        (
            "ai-gateway.vercel.sh",
            "vercel-ai-gateway",
            AuthScheme::BearerOrXApiKey,
        ),
        ("opencode.ai", "opencode", AuthScheme::Bearer),
        ("api.minimax.io", "minimax", AuthScheme::BearerOrXApiKey),
        (
            "api.minimaxi.com",
            "minimax-cn",
            AuthScheme::BearerOrXApiKey,
        ),
        ("api.xiaomimimo.com", "xiaomi", AuthScheme::Bearer),
        (
            "token-plan-cn.xiaomimimo.com",
            "xiaomi-token-plan-cn",
            AuthScheme::Bearer,
        ),
        (
            "token-plan-ams.xiaomimimo.com",
            "xiaomi-token-plan-ams",
            AuthScheme::Bearer,
        ),
        (
            "token-plan-sgp.xiaomimimo.com",
            "xiaomi-token-plan-sgp",
            AuthScheme::Bearer,
        ),
    ] {
        let p = r.for_host(host).unwrap_or_else(|| panic!("{host}"));
        assert_eq!((p.id.as_str(), &p.auth), (id, &auth), "{host}");
        assert!(p.oauth.is_none() && !p.allow_http, "{id}");
    }
    assert_eq!(canonical_id("opencode-go"), "opencode");
    assert_eq!(canonical_id("opencode"), "opencode");
    assert_eq!(canonical_id("groq"), "groq");
    assert!(r.by_id(canonical_id("opencode-go")).is_some());
}
