//! Talks to the fake OAuth server and the fake provider's subscription routes
//! directly (no keypool in between), to prove the fakes speak the wire shapes
//! and keep the rules (rotation, reuse, PKCE, device script) the OAuth tests
//! rely on.

use crate::support;

mod github;
mod harness;
mod routes;

use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Value};
use support::guard::Within;
use support::oauth::{pkce_challenge, ANTHROPIC_CLIENT_ID, CODEX_CLIENT_ID, GOOGLE_CLIENT_ID};
use support::scenario::Scenario;
use support::{every_host, FakeOAuth, FakeProvider, Flavor, TestCa};

const ANTHROPIC_TOKEN: &str = "https://platform.claude.com/v1/oauth/token";
const CODEX_TOKEN: &str = "https://auth.openai.com/oauth/token";
const GOOGLE_TOKEN: &str = "https://oauth2.googleapis.com/token";
/// Only guards against hangs; results are never decided by time.
const HANG_GUARD: Duration = Duration::from_secs(10);

pub async fn json_of(resp: reqwest::Response) -> Value {
    serde_json::from_slice(
        &resp
            .bytes()
            .within("the fake OAuth server's answer body")
            .await
            .unwrap(),
    )
    .expect("JSON body")
}

/// `(event name, data)` of an SSE body framed with `\n\n`.
pub fn sse_events(body: &str) -> Vec<(String, Value)> {
    assert!(body.ends_with("\n\n"), "unterminated SSE body: {body:?}");
    (body.split("\n\n").filter(|e| !e.is_empty()))
        .map(|event| {
            let field = |name: &str| {
                (event.lines())
                    .find_map(|l| l.strip_prefix(name))
                    .unwrap_or_else(|| panic!("no {name} in {event:?}"))
            };
            let data = serde_json::from_str(field("data: ")).expect("JSON data");
            (field("event: ").to_string(), data)
        })
        .collect()
}

/// The CA and both fakes on every host, from a scenario that never starts keypool.
pub async fn start() -> (TestCa, FakeProvider, FakeOAuth) {
    let s = Scenario::new().provider(&every_host()).await;
    s.oauth().await.into_fakes()
}

async fn post_json(oauth: &FakeOAuth, url: &str, body: Value) -> reqwest::Response {
    (oauth.direct_client().post(url))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .within(&format!(
            "the fake OAuth server's answer to POST {url} (JSON)"
        ))
        .await
        .unwrap()
}

pub async fn post_form(oauth: &FakeOAuth, url: &str, fields: &[(&str, &str)]) -> reqwest::Response {
    let body = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(fields)
        .finish();
    (oauth.direct_client().post(url))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("accept", "application/json")
        .body(body)
        .send()
        .within(&format!(
            "the fake OAuth server's answer to POST {url} (form)"
        ))
        .await
        .unwrap()
}

fn anthropic_refresh(token: &str) -> Value {
    json!({"grant_type": "refresh_token", "client_id": ANTHROPIC_CLIENT_ID, "refresh_token": token})
}

fn codex_refresh(token: &str) -> Value {
    json!({"client_id": CODEX_CLIENT_ID, "grant_type": "refresh_token", "refresh_token": token})
}

fn jwt_claims(jwt: &str) -> Value {
    let parts: Vec<&str> = jwt.split('.').collect();
    assert_eq!(parts.len(), 3, "header.payload.signature: {jwt}");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap()
}

#[tokio::test]
async fn anthropic_refresh_rotates_and_reuse_revokes_the_family() {
    let (_ca, fake, oauth) = start().await;
    let alice = oauth.identity(Flavor::Anthropic, "alice");
    assert_eq!(alice, oauth.identity(Flavor::Anthropic, "alice"), "stable");
    let first = oauth.grant(&alice);

    let resp = post_json(&oauth, ANTHROPIC_TOKEN, anthropic_refresh(&first.refresh)).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["cache-control"], "no-store");
    let body = json_of(resp).await;
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 28800);
    assert_eq!(body["account"]["uuid"], alice.account_id.as_str());
    assert_eq!(body["organization"]["uuid"], alice.org_uuid.as_str());
    assert!(body["scope"].as_str().unwrap().contains("user:inference"));
    let access = body["access_token"].as_str().unwrap();
    let second = body["refresh_token"].as_str().unwrap();
    assert!(access.starts_with("sk-ant-oat01-"));
    assert!(second.starts_with("sk-ant-ort01-"));
    assert_ne!(second, first.refresh);

    // The refreshed access token works at the provider.
    let resp = fake
        .direct_client()
        .get("https://api.anthropic.com/api/oauth/profile")
        .bearer_auth(access)
        .header("anthropic-beta", "oauth-2025-04-20")
        .send()
        .within("the fake's profile answer")
        .await
        .unwrap();
    assert_eq!(
        json_of(resp).await["account"]["uuid"],
        alice.account_id.as_str()
    );

    // Reuse is refused, and takes the current token down with it.
    let resp = post_json(&oauth, ANTHROPIC_TOKEN, anthropic_refresh(&first.refresh)).await;
    assert_eq!(resp.status(), 400);
    assert_eq!(
        json_of(resp).await,
        json!({"error": "invalid_grant", "error_description": "Refresh token not found or invalid"})
    );
    let resp = post_json(&oauth, ANTHROPIC_TOKEN, anthropic_refresh(second)).await;
    assert_eq!(resp.status(), 400);

    let mut wrong_client = anthropic_refresh(second);
    wrong_client["client_id"] = json!("someone-else");
    let resp = post_json(&oauth, ANTHROPIC_TOKEN, wrong_client).await;
    assert_eq!(resp.status(), 400);
    assert_eq!(json_of(resp).await["error"], "invalid_client");

    assert_eq!(oauth.token_calls(Flavor::Anthropic), 4);
    let seen = oauth.requests();
    assert_eq!(seen[0].host, "platform.claude.com");
    assert_eq!(seen[0].content_type(), Some("application/json"));
    assert_eq!(seen[0].params()["client_id"], ANTHROPIC_CLIENT_ID);
}

#[tokio::test]
async fn anthropic_use_refresh_makes_another_copy_stale() {
    let (_ca, _fake, oauth) = start().await;
    let bob = oauth.identity(Flavor::Anthropic, "bob");
    let grant = oauth.grant(&bob);
    let rotated = oauth
        .use_refresh(Flavor::Anthropic, &grant.refresh)
        .unwrap();
    assert_ne!(rotated.refresh, grant.refresh);
    // console.anthropic.com, the older endpoint, answers the same.
    let url = "https://console.anthropic.com/v1/oauth/token";
    let resp = post_json(&oauth, url, anthropic_refresh(&grant.refresh)).await;
    assert_eq!(resp.status(), 400);
    assert!(oauth
        .use_refresh(Flavor::Anthropic, &rotated.refresh)
        .is_err());
    assert_eq!(
        oauth.token_calls(Flavor::Anthropic),
        1,
        "use_refresh is not counted"
    );
}

#[tokio::test]
async fn codex_refresh_takes_json_or_form_and_reports_reuse() {
    let (_ca, _fake, oauth) = start().await;
    let carol = oauth.identity(Flavor::Codex, "carol");
    let first = oauth.grant(&carol);

    let resp = post_json(&oauth, CODEX_TOKEN, codex_refresh(&first.refresh)).await;
    assert_eq!(resp.status(), 200);
    let body = json_of(resp).await;
    let second = body["refresh_token"].as_str().unwrap().to_string();
    assert!(second.starts_with("rt_"));
    assert_eq!(body["expires_in"], 3600);
    assert!(body["id_token"].is_string());

    let form = [
        ("grant_type", "refresh_token"),
        ("client_id", CODEX_CLIENT_ID),
        ("refresh_token", second.as_str()),
    ];
    let resp = post_form(&oauth, CODEX_TOKEN, &form).await;
    assert_eq!(resp.status(), 200);
    let third = json_of(resp).await["refresh_token"]
        .as_str()
        .unwrap()
        .to_string();

    let resp = post_json(&oauth, CODEX_TOKEN, codex_refresh(&first.refresh)).await;
    assert_eq!(resp.status(), 401);
    let error = json_of(resp).await["error"].clone();
    assert_eq!(error["code"], "refresh_token_reused");
    assert_eq!(error["type"], "invalid_request_error");
    assert!(error["message"]
        .as_str()
        .unwrap()
        .contains("already been used"));

    let resp = post_json(&oauth, CODEX_TOKEN, codex_refresh(&third)).await;
    assert_eq!(resp.status(), 401);
    assert_eq!(
        json_of(resp).await["error"]["code"],
        "refresh_token_invalidated"
    );
    let resp = post_json(&oauth, CODEX_TOKEN, codex_refresh("rt_unknown")).await;
    assert_eq!(
        json_of(resp).await["error"]["code"],
        "refresh_token_invalidated"
    );

    assert_eq!(oauth.token_calls(Flavor::Codex), 5);
    let seen = oauth.requests();
    assert_eq!(
        seen[1].content_type(),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(seen[1].params()["refresh_token"], second);
}

#[tokio::test]
async fn codex_jwts_carry_the_claims_clients_read() {
    let (_ca, fake, oauth) = start().await;
    let mut dave = oauth.identity(Flavor::Codex, "dave");
    dave.plan = "plus".into();
    oauth.update_identity(&dave);
    let grant = oauth.grant(&dave);

    let header: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(grant.access.split('.').next().unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(header["typ"], "JWT");
    let access = jwt_claims(&grant.access);
    assert_eq!(access["exp"], grant.issued_at + 3600);
    let auth = &access["https://api.openai.com/auth"];
    assert_eq!(auth["chatgpt_account_id"], dave.account_id.as_str());
    assert_eq!(auth["chatgpt_plan_type"], "plus");
    assert_eq!(auth["chatgpt_user_id"], dave.user_id.as_str());
    assert_eq!(
        access["https://api.openai.com/profile"]["email"],
        dave.email.as_str()
    );
    let id = jwt_claims(grant.id_token.as_deref().unwrap());
    assert_eq!(id["email"], dave.email.as_str());
    assert_eq!(
        id["https://api.openai.com/auth"]["chatgpt_account_id"],
        dave.account_id.as_str()
    );

    // Registered with the provider, bound to the account id in the claims.
    let codex = |account: &str| {
        fake.direct_client()
            .post("https://chatgpt.com/backend-api/codex/responses")
            .bearer_auth(&grant.access)
            .header("chatgpt-account-id", account)
            .body(json!({"model": "gpt-5-codex", "stream": true}).to_string())
            .send()
    };
    assert_eq!(
        codex(&dave.account_id)
            .within("the fake's answer to Codex with the right account id")
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        codex("someone-else")
            .within("the fake's answer to Codex with another account id")
            .await
            .unwrap()
            .status(),
        403
    );
}

#[tokio::test]
async fn google_does_not_rotate_until_revoked() {
    let (_ca, fake, oauth) = start().await;
    let erin = oauth.identity(Flavor::Google, "erin");
    let grant = oauth.grant(&erin);
    assert!(grant.refresh.starts_with("1//0"));
    let form = [
        ("client_id", GOOGLE_CLIENT_ID),
        ("client_secret", "fake-secret"),
        ("refresh_token", grant.refresh.as_str()),
        ("grant_type", "refresh_token"),
    ];

    let mut accesses = Vec::new();
    for _ in 0..2 {
        let resp = post_form(&oauth, GOOGLE_TOKEN, &form).await;
        assert_eq!(resp.status(), 200);
        let body = json_of(resp).await;
        assert!(
            body.get("refresh_token").is_none(),
            "Google does not rotate"
        );
        assert_eq!(body["expires_in"], 3599);
        assert_eq!(body["token_type"], "Bearer");
        assert_eq!(
            jwt_claims(body["id_token"].as_str().unwrap())["email"],
            erin.email.as_str()
        );
        accesses.push(body["access_token"].as_str().unwrap().to_string());
    }
    assert!(accesses[0].starts_with("ya29."));
    assert_ne!(accesses[0], accesses[1]);
    assert_eq!(oauth.token_calls(Flavor::Google), 2);

    // The access token reaches Cloud Code, which knows the identity's project.
    let load = fake
        .direct_client()
        .post("https://cloudcode-pa.googleapis.com/v1internal:loadCodeAssist")
        .bearer_auth(&accesses[1])
        .body("{}")
        .send()
        .within("the fake's loadCodeAssist answer")
        .await
        .unwrap();
    let load = json_of(load).await;
    assert_eq!(
        load["cloudaicompanionProject"],
        erin.project.clone().unwrap().as_str()
    );

    let no_secret: Vec<_> = form
        .iter()
        .filter(|(k, _)| *k != "client_secret")
        .copied()
        .collect();
    let resp = post_form(&oauth, GOOGLE_TOKEN, &no_secret).await;
    assert_eq!(resp.status(), 400);
    assert_eq!(json_of(resp).await["error"], "invalid_request");

    oauth.revoke(Flavor::Google, &grant.refresh);
    let resp = post_form(&oauth, GOOGLE_TOKEN, &form).await;
    assert_eq!(resp.status(), 400);
    assert_eq!(
        json_of(resp).await,
        json!({"error": "invalid_grant", "error_description": "Token has been expired or revoked."})
    );
}

#[tokio::test]
async fn pkce_code_exchange_checks_verifier_redirect_and_single_use() {
    let (_ca, _fake, oauth) = start().await;
    let frank = oauth.identity(Flavor::Anthropic, "frank");
    let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    // RFC 7636 appendix B's example pair.
    assert_eq!(
        pkce_challenge(verifier),
        "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    );
    let redirect = "http://localhost:53692/callback";
    let exchange = |code: &str, verifier: &str, redirect: &str| {
        json!({
            "grant_type": "authorization_code", "client_id": ANTHROPIC_CLIENT_ID,
            "code": code, "state": "st-1", "redirect_uri": redirect, "code_verifier": verifier,
        })
    };

    let code = oauth.authorize(&frank, &pkce_challenge(verifier), redirect, "st-1");
    let resp = post_json(
        &oauth,
        ANTHROPIC_TOKEN,
        exchange(&code, "wrong-verifier", redirect),
    )
    .await;
    assert_eq!(resp.status(), 400);
    assert_eq!(json_of(resp).await["error"], "invalid_grant");
    // The failed attempt spent the code.
    let resp = post_json(&oauth, ANTHROPIC_TOKEN, exchange(&code, verifier, redirect)).await;
    assert_eq!(resp.status(), 400);

    let code = oauth.authorize(&frank, &pkce_challenge(verifier), redirect, "st-1");
    let other_redirect = exchange(&code, verifier, "http://localhost:1/elsewhere");
    assert_eq!(
        post_json(&oauth, ANTHROPIC_TOKEN, other_redirect)
            .await
            .status(),
        400
    );

    let code = oauth.authorize(&frank, &pkce_challenge(verifier), redirect, "st-1");
    let resp = post_json(&oauth, ANTHROPIC_TOKEN, exchange(&code, verifier, redirect)).await;
    assert_eq!(resp.status(), 200);
    let body = json_of(resp).await;
    assert_eq!(body["account"]["uuid"], frank.account_id.as_str());
    assert!(body["refresh_token"]
        .as_str()
        .unwrap()
        .starts_with("sk-ant-ort01-"));
    let resp = post_json(&oauth, ANTHROPIC_TOKEN, exchange(&code, verifier, redirect)).await;
    assert_eq!(resp.status(), 400, "single use");
    assert_eq!(oauth.code_exchanges(Flavor::Anthropic), 5);

    // Codex: form-encoded, no state.
    let gina = oauth.identity(Flavor::Codex, "gina");
    let redirect = "http://localhost:1455/auth/callback";
    let code = oauth.authorize(&gina, &pkce_challenge(verifier), redirect, "ignored");
    let form = [
        ("grant_type", "authorization_code"),
        ("client_id", CODEX_CLIENT_ID),
        ("code", code.as_str()),
        ("code_verifier", verifier),
        ("redirect_uri", redirect),
    ];
    let resp = post_form(&oauth, CODEX_TOKEN, &form).await;
    assert_eq!(resp.status(), 200);
    let body = json_of(resp).await;
    let claims = jwt_claims(body["access_token"].as_str().unwrap());
    assert_eq!(
        claims["https://api.openai.com/auth"]["chatgpt_account_id"],
        gina.account_id.as_str()
    );
    assert_eq!(oauth.code_exchanges(Flavor::Codex), 1);
}

#[tokio::test]
async fn held_token_endpoint_answers_only_after_release() {
    let (_ca, _fake, oauth) = start().await;
    let jo = oauth.identity(Flavor::Codex, "jo");
    let grant = oauth.grant(&jo);
    oauth.hold_token_endpoint();

    let (client, body) = (oauth.direct_client(), codex_refresh(&grant.refresh));
    let refresh = tokio::spawn(async move {
        let resp = client
            .post(CODEX_TOKEN)
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        resp.status()
    });
    tokio::time::timeout(HANG_GUARD, oauth.wait_token_call())
        .await
        .expect("the refresh arrives");
    assert_eq!(oauth.token_arrivals(), 1);
    assert_eq!(oauth.token_calls(Flavor::Codex), 1, "counted on arrival");
    // Held: the answer cannot have been sent before the release below.
    assert!(!refresh.is_finished());

    oauth.release_token_endpoint();
    let status = tokio::time::timeout(HANG_GUARD, refresh)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status, 200);
}

#[test]
fn connect_to_names_every_host_before_any_catch_all() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let (_ca, oauth) = Scenario::new().oauth().await.into_oauth();
        let port = oauth.addr().port();
        let entries = oauth.connect_to();
        assert_eq!(entries.len(), oauth.hosts().len());
        assert!(entries.contains(&format!("auth.openai.com:443:127.0.0.1:{port}")));
        assert!(entries.iter().all(|e| !e.starts_with(':')));
    });
}
