//! Minting: identities, token strings in each provider's format, JWTs with the
//! claims clients read, and the token endpoints' success bodies.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::{Flavor, Grant, Identity, CODEX_CLIENT_ID, GOOGLE_CLIENT_ID};
use crate::support::https::{random_hex, random_token, unix_now};

pub const ANTHROPIC_SCOPE: &str =
    "user:inference user:profile user:sessions:claude_code user:mcp_servers user:file_upload";
pub const GOOGLE_SCOPE: &str = "https://www.googleapis.com/auth/cloud-platform https://www.googleapis.com/auth/userinfo.email https://www.googleapis.com/auth/userinfo.profile openid";
const CODEX_AUTH_CLAIM: &str = "https://api.openai.com/auth";
const CODEX_PROFILE_CLAIM: &str = "https://api.openai.com/profile";

/// 32 hex digits of SHA-256 over `seed`, so ids are stable per label.
fn stable_hex(seed: &str) -> String {
    Sha256::digest(seed.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<String>()[..32]
        .to_string()
}

fn stable_uuid(seed: &str) -> String {
    let h = stable_hex(seed);
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

impl Identity {
    pub(super) fn new(flavor: Flavor, label: &str, domain: Option<&str>) -> Identity {
        // GitHub accounts are per server, so the server is part of the seed.
        let who = match (flavor, domain) {
            (Flavor::GitHub, Some(d)) if d != "github.com" => format!("{label}@{d}"),
            _ => label.to_string(),
        };
        let seed = |what: &str| format!("{flavor:?}/{who}/{what}");
        let (plan, project, domain) = match flavor {
            Flavor::Anthropic => ("max", None, "claude.ai"),
            Flavor::Codex => ("pro", None, "chatgpt.com"),
            Flavor::Google => (
                "standard-tier",
                Some(format!(
                    "fake-{label}-{}",
                    &stable_hex(&seed("project"))[..6]
                )),
                "google.com",
            ),
            Flavor::GitHub => ("individual", None, domain.unwrap_or("github.com")),
            Flavor::Kimi => ("membership", None, "kimi.com"),
        };
        let user_id = match flavor {
            Flavor::GitHub => {
                let n = u32::from_str_radix(&stable_hex(&seed("user"))[..7], 16).unwrap();
                (n % 90_000_000 + 1_000_000).to_string()
            }
            Flavor::Google => {
                let n = u64::from_str_radix(&stable_hex(&seed("user"))[..15], 16).unwrap();
                format!("1{n:020}")
            }
            _ => format!("user-{}", &stable_hex(&seed("user"))[..24]),
        };
        Identity {
            flavor,
            label: label.to_string(),
            account_id: stable_uuid(&seed("account")),
            user_id,
            email: format!("{label}@example.com"),
            plan: plan.to_string(),
            org_uuid: stable_uuid(&seed("org")),
            org_name: format!("{label}'s Organization"),
            project,
            domain: domain.to_string(),
        }
    }
}

pub fn refresh_token(flavor: Flavor) -> String {
    match flavor {
        Flavor::Anthropic => format!("sk-ant-ort01-{}-{}AA", random_token(80), random_token(6)),
        Flavor::Codex => format!("rt_{}", random_token(43)),
        Flavor::Google => format!("1//0{}", random_token(98)),
        Flavor::Kimi => format!("kimi-rt-{}", random_token(40)),
        Flavor::GitHub => unreachable!("GitHub tokens come from the device flow"),
    }
}

/// A fresh access token (and ID token where the provider sends one) next to
/// `refresh`, valid for `expires_in` seconds from now.
pub fn grant(identity: &Identity, refresh: String, expires_in: u64) -> Grant {
    let issued_at = unix_now();
    let (access, id_token) = match identity.flavor {
        Flavor::Anthropic => (
            format!("sk-ant-oat01-{}-{}AA", random_token(80), random_token(6)),
            None,
        ),
        Flavor::Codex => (
            codex_access_jwt(identity, issued_at, expires_in),
            Some(codex_id_jwt(identity, issued_at, expires_in)),
        ),
        Flavor::Google => (
            format!("ya29.a0{}", random_token(150)),
            Some(google_id_jwt(identity, issued_at, expires_in)),
        ),
        Flavor::Kimi => (format!("kimi-at-{}", random_token(60)), None),
        Flavor::GitHub => unreachable!("GitHub grants pair a gho_ token with a Copilot token"),
    };
    Grant {
        access,
        refresh,
        expires_in,
        id_token,
        issued_at,
    }
}

/// `header.payload.signature`, base64url without padding. The signature is
/// arbitrary bytes: clients decode the claims without verifying them.
pub fn jwt(payload: &Value) -> String {
    let header = json!({"alg": "RS256", "typ": "JWT", "kid": "fake-oauth-key"});
    let part = |v: &Value| URL_SAFE_NO_PAD.encode(v.to_string());
    format!("{}.{}.{}", part(&header), part(payload), random_token(342))
}

fn codex_auth_claim(identity: &Identity) -> Value {
    json!({
        "chatgpt_account_id": identity.account_id,
        "chatgpt_plan_type": identity.plan,
        "chatgpt_user_id": identity.user_id,
        "user_id": identity.user_id,
    })
}

fn codex_access_jwt(identity: &Identity, iat: u64, expires_in: u64) -> String {
    jwt(&json!({
        "aud": ["https://api.openai.com/v1"],
        "client_id": CODEX_CLIENT_ID,
        "exp": iat + expires_in,
        "iat": iat,
        "nbf": iat,
        "iss": "https://auth.openai.com",
        "jti": random_token(22),
        "scp": ["openid", "profile", "email", "offline_access"],
        "session_id": format!("authsess_{}", random_token(24)),
        "sub": format!("auth0|{}", identity.user_id),
        CODEX_AUTH_CLAIM: codex_auth_claim(identity),
        CODEX_PROFILE_CLAIM: {"email": identity.email, "email_verified": true},
    }))
}

fn codex_id_jwt(identity: &Identity, iat: u64, expires_in: u64) -> String {
    let mut auth = codex_auth_claim(identity);
    auth["organizations"] = json!([{
        "id": format!("org-{}", &identity.org_uuid[..8]),
        "is_default": true,
        "role": "owner",
        "title": "Personal",
    }]);
    jwt(&json!({
        "aud": [CODEX_CLIENT_ID],
        "auth_time": iat,
        "email": identity.email,
        "email_verified": true,
        "exp": iat + expires_in,
        "iat": iat,
        "iss": "https://auth.openai.com",
        "jti": random_token(22),
        "sub": format!("auth0|{}", identity.user_id),
        CODEX_AUTH_CLAIM: auth,
    }))
}

fn google_id_jwt(identity: &Identity, iat: u64, expires_in: u64) -> String {
    jwt(&json!({
        "iss": "https://accounts.google.com",
        "azp": GOOGLE_CLIENT_ID,
        "aud": GOOGLE_CLIENT_ID,
        "sub": identity.user_id,
        "email": identity.email,
        "email_verified": true,
        "at_hash": random_token(22),
        "iat": iat,
        "exp": iat + expires_in,
    }))
}

pub fn anthropic_body(identity: &Identity, grant: &Grant) -> Value {
    json!({
        "token_type": "Bearer",
        "access_token": grant.access,
        "refresh_token": grant.refresh,
        "expires_in": grant.expires_in,
        "scope": ANTHROPIC_SCOPE,
        "account": {"uuid": identity.account_id, "email_address": identity.email},
        "organization": {"uuid": identity.org_uuid, "name": identity.org_name},
    })
}

pub fn codex_body(grant: &Grant) -> Value {
    json!({
        "id_token": grant.id_token,
        "access_token": grant.access,
        "refresh_token": grant.refresh,
        "expires_in": grant.expires_in,
    })
}

/// Google leaves `refresh_token` out of refresh responses: the old one stays.
pub fn google_body(grant: &Grant, with_refresh: bool) -> Value {
    let mut body = json!({
        "access_token": grant.access,
        "expires_in": grant.expires_in,
        "scope": GOOGLE_SCOPE,
        "token_type": "Bearer",
        "id_token": grant.id_token,
    });
    if with_refresh {
        body["refresh_token"] = json!(grant.refresh);
    }
    body
}

/// A Copilot token and the exchange's response body. `api` is the
/// `endpoints.api` base URL; the token's `proxy-ep` is derived from it.
pub fn copilot(api: &str, refresh_in: u64) -> (String, u64, Value) {
    let host = api.trim_start_matches("https://").trim_end_matches('/');
    let tier = host
        .strip_prefix("api.")
        .and_then(|h| h.strip_suffix(".githubcopilot.com"))
        .unwrap_or("individual");
    let proxy = format!("proxy.{}", host.strip_prefix("api.").unwrap_or(host));
    let sku = match tier {
        "business" => "copilot_for_business_seat",
        "enterprise" => "copilot_enterprise_seat",
        _ => "copilot_for_individuals_subscriber",
    };
    let expires_at = unix_now() + refresh_in + 300;
    let token = format!(
        "tid={};exp={expires_at};sku={sku};proxy-ep={proxy};st=dotcom;chat=1;cit=1;malfil=1;8kp=1:{}",
        random_hex(32),
        random_hex(64),
    );
    let origin = |svc: &str| {
        format!(
            "https://{svc}.{}",
            host.strip_prefix("api.").unwrap_or(host)
        )
    };
    let body = json!({
        "token": token,
        "expires_at": expires_at,
        "refresh_in": refresh_in,
        "endpoints": {
            "api": format!("https://{host}"),
            "origin-tracker": origin("origin-tracker"),
            "proxy": format!("https://{proxy}"),
            "telemetry": origin("telemetry"),
        },
        "sku": sku,
        "individual": tier == "individual",
        "chat_enabled": true,
        "chat_jetbrains_enabled": true,
        "code_quote_enabled": true,
        "codesearch": false,
        "copilotignore_enabled": false,
        "public_suggestions": "disabled",
        "telemetry": "disabled",
        "tracking_id": random_hex(32),
        "limited_user_quotas": null,
        "limited_user_reset_date": null,
    });
    (token, expires_at, body)
}
