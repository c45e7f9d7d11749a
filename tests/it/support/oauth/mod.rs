//! A fake OAuth side for the subscription providers: one HTTPS server that
//! answers, by Host, as Anthropic's and OpenAI's token endpoints, Google's,
//! GitHub's device flow and the Copilot token exchange. Tokens it issues can
//! be registered with a [`FakeProvider`] so requests carrying them succeed.
//!
//! Tests reach it by the real host names through keypool's `connect_to`
//! (see [`FakeOAuth::connect_to`]). Nothing here waits on a timer: the token
//! endpoint gate is a watch channel, arrivals are counted in another.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use bytes::Bytes;
use http::HeaderMap;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

use super::ca::TestCa;
use super::fake::{FakeProvider, Owner, Registrar, Service};
use super::guard::Within;
use super::https;
use ledger::{CodeExchange, Ledger, RefreshError};

#[allow(unused_imports)]
pub use files::codex_auth_json;
#[allow(unused_imports)]
pub use ledger::pkce_challenge;

mod files;
pub mod google_keys;
mod ledger;
mod routes;
mod tokens;
pub mod usage;

/// Every host the fake answers for; its leaf certificate covers them all.
pub const OAUTH_HOSTS: &[&str] = &[
    "platform.claude.com",
    "console.anthropic.com",
    "auth.openai.com",
    "oauth2.googleapis.com",
    "github.com",
    "api.github.com",
    "ghe.example.com",
    "api.ghe.example.com",
    "auth.kimi.com",
];

/// kimi-cli's OAuth client.
pub const KIMI_CLIENT_ID: &str = "17e5f671-d194-4dfb-9706-5516cb48c098";

/// The device headers every call of a Kimi login carries, to auth.kimi.com and to the
/// API (PROVIDERS.md §10); both fakes refuse a Kimi call without one of them.
pub const KIMI_DEVICE_HEADERS: [&str; 5] = [
    "x-msh-platform",
    "x-msh-version",
    "x-msh-device-name",
    "x-msh-device-model",
    "x-msh-device-id",
];

/// The first of [`KIMI_DEVICE_HEADERS`] missing (or empty) in `headers`.
pub fn missing_device_header(headers: &http::HeaderMap) -> Option<&'static str> {
    (KIMI_DEVICE_HEADERS.iter().copied())
        .find(|h| headers.get(*h).is_none_or(|v| v.as_bytes().is_empty()))
}

pub const ANTHROPIC_CLIENT_ID: &str = "9d1c250a-e61b-44d9-88ed-5944d1962f5e";
pub const CODEX_CLIENT_ID: &str = "app_EMoamEEZ73f0CkXaXp7hrann";
/// Gemini CLI's installed-app client. Google also checks a client secret;
/// the fake only requires one to be sent.
pub const GOOGLE_CLIENT_ID: &str =
    "681255809395-oo8ft2oprdrnp9e3aqf6av3hmdib135j.apps.googleusercontent.com";
/// The GitHub OAuth app Copilot clients sign in with.
pub const GITHUB_CLIENT_ID: &str = "Iv1.b507a08c87ecfe98";

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Flavor {
    Anthropic,
    Codex,
    Google,
    GitHub,
    Kimi,
}

/// A signed-in account. Ids derive from flavor and label, so the same label
/// gives the same account in every run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    pub flavor: Flavor,
    pub label: String,
    /// Anthropic account uuid; ChatGPT `chatgpt_account_id`; for Google and
    /// GitHub an opaque uuid.
    pub account_id: String,
    /// `chatgpt_user_id`, Google `sub`, GitHub numeric user id.
    pub user_id: String,
    pub email: String,
    /// Claude subscription type (`max`), ChatGPT plan (`pro`), Code Assist
    /// tier, or Copilot plan.
    pub plan: String,
    pub org_uuid: String,
    pub org_name: String,
    /// Google: the Cloud Code project (`cloudaicompanionProject`).
    pub project: Option<String>,
    /// GitHub: `github.com` or a GHE host. Others: the provider's domain.
    pub domain: String,
}

/// A token pair as a token endpoint returns it. For GitHub, `refresh` is the
/// long-lived `gho_` token and `access` a Copilot token, as pi stores them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grant {
    pub access: String,
    pub refresh: String,
    pub expires_in: u64,
    /// Codex and Google send one.
    pub id_token: Option<String>,
    /// Unix seconds (real time) when the fake issued it.
    pub issued_at: u64,
}

impl Grant {
    /// Expiry in epoch milliseconds, the unit Claude Code and gemini-cli store.
    pub fn expires_at_ms(&self) -> u64 {
        (self.issued_at + self.expires_in) * 1000
    }
}

/// One scripted answer to a device-flow poll.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DeviceAnswer {
    /// `authorization_pending`
    Pending,
    /// `slow_down` with the new minimum `interval` in seconds.
    SlowDown { interval: u64 },
    /// The access token. Also what every poll gets once the script is empty.
    Grant,
    /// `access_denied`; the device code is spent.
    Denied,
    /// `expired_token`; the device code is spent.
    Expired,
    /// `invalid_grant` (Kimi, with HTTP 400 as its pending answers); the code is spent.
    Invalid,
}

/// One request as the fake received it.
#[derive(Clone, Debug)]
pub struct OAuthRequest {
    pub method: String,
    /// The `Host` header without a port.
    pub host: String,
    pub path: String,
    pub query: Option<String>,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub at: Instant,
}

impl OAuthRequest {
    pub fn content_type(&self) -> Option<&str> {
        self.headers.get("content-type")?.to_str().ok()
    }

    /// Body fields, parsed as JSON when the body is a JSON object and as a
    /// form otherwise. JSON values that are not strings keep their JSON text.
    pub fn params(&self) -> BTreeMap<String, String> {
        if let Ok(serde_json::Value::Object(map)) = serde_json::from_slice(&self.body) {
            return (map.into_iter())
                .map(|(k, v)| match v {
                    serde_json::Value::String(s) => (k, s),
                    other => (k, other.to_string()),
                })
                .collect();
        }
        form_urlencoded::parse(&self.body).into_owned().collect()
    }
}

pub struct FakeOAuth {
    addr: SocketAddr,
    ca_pem: String,
    state: Arc<State>,
    accept_loop: JoinHandle<()>,
}

struct State {
    ledger: Mutex<Ledger>,
    google_keys: Mutex<google_keys::GoogleKeys>,
    registrar: Option<Registrar>,
    requests: Mutex<Vec<OAuthRequest>>,
    /// `true` while token endpoints hold their answers.
    held: watch::Sender<bool>,
    /// Requests that reached a gated endpoint, held or not.
    arrivals: watch::Sender<usize>,
}

impl State {
    /// Makes `access` work at the fake provider, bound to `identity`.
    fn register(&self, access: &str, identity: &Identity, service: Service) {
        let Some(registrar) = &self.registrar else {
            return;
        };
        registrar.set(access, super::fake::Behaviour::Ok);
        let owner = Owner {
            service: Some(service),
            account_id: Some(identity.account_id.clone()),
            email: Some(identity.email.clone()),
            plan: Some(identity.plan.clone()),
            project: identity.project.clone(),
            device_headers: identity.flavor == Flavor::Kimi,
        };
        registrar.set_owner(access, owner);
    }

    fn register_grant(&self, identity: &Identity, grant: &Grant) {
        let service = match identity.flavor {
            Flavor::Anthropic => Service::Anthropic,
            Flavor::Codex => Service::Codex,
            Flavor::Google => Service::CloudCode,
            Flavor::GitHub => Service::Copilot,
            // Kimi For Coding speaks Anthropic's Messages API.
            Flavor::Kimi => Service::Anthropic,
        };
        self.register(&grant.access, identity, service);
    }

    fn refresh(&self, flavor: Flavor, token: &str) -> Result<(Identity, Grant), RefreshError> {
        let result = self.ledger.lock().unwrap().refresh(flavor, token);
        if let Ok((identity, grant)) = &result {
            self.register_grant(identity, grant);
        }
        result
    }

    fn exchange(&self, flavor: Flavor, x: &CodeExchange) -> Result<(Identity, Grant), String> {
        let result = self.ledger.lock().unwrap().exchange(flavor, x);
        if let Ok((identity, grant)) = &result {
            self.register_grant(identity, grant);
        }
        result
    }

    /// A fresh Copilot token for `gh_token`, registered with the provider.
    fn copilot(&self, gh_token: &str, host: &str) -> Option<(String, serde_json::Value)> {
        let mut ledger = self.ledger.lock().unwrap();
        let domain = host.strip_prefix("api.").unwrap_or(host);
        let gh = (ledger.github.get(gh_token)).filter(|t| t.domain == domain)?;
        let api = gh.copilot_api.clone().unwrap_or_else(|| match domain {
            "github.com" => "https://api.individual.githubcopilot.com".into(),
            _ => "https://api.enterprise.githubcopilot.com".into(),
        });
        let label = gh.label.clone();
        let identity = ledger.identity(Flavor::GitHub, &label, Some(domain));
        let (token, _, body) = tokens::copilot(&api, ledger.copilot_refresh_in);
        drop(ledger);
        self.register(&token, &identity, Service::Copilot);
        Some((token, body))
    }

    /// GitHub's `GET /user` for a GitHub token: the account's login name.
    fn github_user(&self, gh_token: &str, host: &str) -> Option<serde_json::Value> {
        let mut ledger = self.ledger.lock().unwrap();
        let domain = host.strip_prefix("api.").unwrap_or(host);
        let gh = (ledger.github.get(gh_token)).filter(|t| t.domain == domain)?;
        let label = gh.label.clone();
        let identity = ledger.identity(Flavor::GitHub, &label, Some(domain));
        Some(
            serde_json::json!({"login": identity.label, "id": identity.user_id, "email": null, "type": "User"}),
        )
    }

    /// Counts the arrival, then waits while the gate is held.
    async fn pass_gate(&self) {
        self.arrivals.send_modify(|n| *n += 1);
        let mut held = self.held.subscribe();
        let _ = held.wait_for(|h| !*h).await;
    }
}

impl FakeOAuth {
    /// Listens on `127.0.0.1:0` with one leaf from `ca` for [`OAUTH_HOSTS`].
    /// With a `provider`, every access token and Copilot token issued is
    /// registered there as `Behaviour::Ok`, bound to its identity.
    pub async fn start(ca: &TestCa, provider: Option<&FakeProvider>) -> FakeOAuth {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind oauth");
        let addr = listener.local_addr().expect("oauth addr");
        let state = Arc::new(State {
            ledger: Mutex::default(),
            google_keys: Mutex::default(),
            registrar: provider.map(FakeProvider::registrar),
            requests: Mutex::default(),
            held: watch::channel(false).0,
            arrivals: watch::channel(0).0,
        });
        let acceptor = TlsAcceptor::from(ca.server_config(OAUTH_HOSTS));
        let handler_state = state.clone();
        let accept_loop = tokio::spawn(https::accept_loop(
            listener,
            acceptor,
            |_| {},
            move |req| routes::handle(handler_state.clone(), req),
        ));
        FakeOAuth {
            addr,
            ca_pem: ca.cert_pem(),
            state,
            accept_loop,
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn hosts(&self) -> &'static [&'static str] {
        OAUTH_HOSTS
    }

    /// `HOST:443:127.0.0.1:PORT` for every OAuth host. keypool takes the
    /// first match, so these go before a catch-all `:443:…` entry.
    pub fn connect_to(&self) -> Vec<String> {
        (OAUTH_HOSTS.iter())
            .map(|h| format!("{h}:443:127.0.0.1:{}", self.addr.port()))
            .collect()
    }

    /// reqwest straight to the fake: every OAuth host resolves to `addr()`,
    /// only the test CA is trusted, system proxies are ignored.
    pub fn direct_client(&self) -> reqwest::Client {
        crate::support::https::direct_client(&self.ca_pem, self.addr, OAUTH_HOSTS)
    }

    fn ledger(&self) -> std::sync::MutexGuard<'_, Ledger> {
        self.state.ledger.lock().unwrap()
    }

    /// The account `label` of `flavor` (GitHub: on github.com).
    pub fn identity(&self, flavor: Flavor, label: &str) -> Identity {
        self.ledger().identity(flavor, label, None)
    }

    /// A GitHub account on `domain` (`github.com` or `ghe.example.com`).
    pub fn github_identity(&self, label: &str, domain: &str) -> Identity {
        self.ledger().identity(Flavor::GitHub, label, Some(domain))
    }

    /// Replaces the stored identity (matched by flavor and label), e.g. to
    /// change its plan or project for tokens issued from now on.
    pub fn update_identity(&self, identity: &Identity) {
        self.ledger().update_identity(identity);
    }

    /// A fresh, valid token pair for `identity`, as a sign-in gives; for
    /// fixture credential files. Not counted as a token call.
    pub fn grant(&self, identity: &Identity) -> Grant {
        if identity.flavor == Flavor::GitHub {
            let gh = self.ledger().github_token(identity);
            let host = format!("api.{}", identity.domain);
            let issued_at = https::unix_now();
            let (access, body) = self.state.copilot(&gh, &host).expect("just issued");
            return Grant {
                access,
                refresh: gh,
                expires_in: body["expires_at"].as_u64().unwrap() - issued_at,
                id_token: None,
                issued_at,
            };
        }
        let grant = self.ledger().issue(identity);
        self.state.register_grant(identity, &grant);
        grant
    }

    /// Spends `refresh` as another client would, so a copy elsewhere goes
    /// stale (Anthropic, Codex) and presenting it is reuse. Google's stays
    /// valid. Not counted as a token call.
    pub fn use_refresh(&self, flavor: Flavor, refresh: &str) -> Result<Grant, String> {
        (self.state.refresh(flavor, refresh))
            .map(|(_, grant)| grant)
            .map_err(|e| format!("{e:?}"))
    }

    /// Revokes `refresh` and its whole family, as a sign-out would.
    pub fn revoke(&self, flavor: Flavor, refresh: &str) {
        self.ledger().revoke(flavor, refresh);
    }

    /// Access-token lifetime for grants issued from now on.
    pub fn set_expires_in(&self, flavor: Flavor, secs: u64) {
        self.ledger().set_expires_in(flavor, secs);
    }

    /// Refresh grants received at `flavor`'s token endpoint, counted on
    /// arrival (before the gate), accepted or not.
    pub fn token_calls(&self, flavor: Flavor) -> usize {
        *self.ledger().refresh_calls.get(&flavor).unwrap_or(&0)
    }

    /// Authorization-code grants received, counted like `token_calls`.
    pub fn code_exchanges(&self, flavor: Flavor) -> usize {
        *self.ledger().code_calls.get(&flavor).unwrap_or(&0)
    }

    /// Google's token endpoint takes assertions signed with `sa`'s key.
    pub fn add_service_account(&self, sa: &google_keys::ServiceAccount) {
        self.google_keys().add_account(sa);
    }

    /// A new application-default login of gcloud's client, in `project`.
    pub fn add_adc_login(&self, project: &str) -> google_keys::AdcLogin {
        self.google_keys().add_login(project)
    }

    /// Assertions are checked against `clock` (keypool's manual one) instead of real time.
    pub fn google_keys_clock(&self, clock: keypool::clock::ManualClock) {
        self.google_keys().set_clock(clock);
    }

    /// `expires_in` of tokens issued for Google credential files from now on.
    pub fn set_google_key_expires_in(&self, secs: u64) {
        self.google_keys().set_expires_in(secs);
    }

    /// What Vertex answers the tokens issued from now on for a service account (by
    /// email) or an application-default login (by project).
    pub fn set_vertex_behaviour(&self, owner: &str, b: crate::support::Behaviour) {
        self.google_keys().behaviours.insert(owner.to_string(), b);
    }

    /// JWT-bearer grants received, accepted or not.
    pub fn assertion_grants(&self) -> usize {
        self.google_keys().assertions
    }

    /// authorized_user refresh grants received, accepted or not.
    pub fn adc_refreshes(&self) -> usize {
        self.google_keys().adc_refreshes
    }

    /// Why the refused grants of credential files were refused.
    pub fn google_key_refusals(&self) -> Vec<String> {
        self.google_keys().refusals.clone()
    }

    fn google_keys(&self) -> std::sync::MutexGuard<'_, google_keys::GoogleKeys> {
        self.state.google_keys.lock().unwrap()
    }

    /// Copilot token exchanges answered with a token.
    pub fn copilot_exchanges(&self) -> usize {
        self.ledger().copilot_exchanges
    }

    pub fn requests(&self) -> Vec<OAuthRequest> {
        self.state.requests.lock().unwrap().clone()
    }

    /// Token endpoints (all refresh and code grants, and Copilot exchanges)
    /// keep their answers until `release_token_endpoint()`.
    pub fn hold_token_endpoint(&self) {
        self.state.held.send_replace(true);
    }

    pub fn release_token_endpoint(&self) {
        self.state.held.send_replace(false);
    }

    /// Requests that reached a gated endpoint so far.
    pub fn token_arrivals(&self) -> usize {
        *self.state.arrivals.borrow()
    }

    /// Resolves once a request reached a gated endpoint (even if held).
    pub async fn wait_token_call(&self) {
        self.wait_token_calls(1).await;
    }

    /// Resolves once `n` requests in total reached a gated endpoint.
    pub async fn wait_token_calls(&self, n: usize) {
        let mut arrivals = self.state.arrivals.subscribe();
        arrivals
            .wait_for(|a| *a >= n)
            .within(&format!(
                "{n} requests at the fake OAuth server's token endpoints"
            ))
            .await
            .expect("never closed");
    }

    /// Registers a browser consent by `identity` for a PKCE S256 `challenge`
    /// and returns the authorization code the redirect would carry.
    pub fn authorize(
        &self,
        identity: &Identity,
        code_challenge: &str,
        redirect_uri: &str,
        state: &str,
    ) -> String {
        (self.ledger()).authorize(identity, code_challenge, redirect_uri, state)
    }

    /// Answers for the coming device-flow polls, in order.
    pub fn device_script(&self, answers: Vec<DeviceAnswer>) {
        self.ledger().device_script(answers);
    }

    /// The `interval` the device-code response announces (default 0).
    pub fn set_device_interval(&self, secs: u64) {
        self.ledger().device_interval = secs;
    }

    /// Who a device-flow grant signs in (default label `device`).
    pub fn set_device_identity(&self, label: &str) {
        self.ledger().device_label = Some(label.to_string());
    }

    /// When each device-flow poll arrived.
    pub fn device_polls(&self) -> Vec<Instant> {
        self.ledger().device_polls.clone()
    }

    /// `refresh_in` of Copilot tokens issued from now on (default 1500);
    /// `expires_at` is 300 s later.
    pub fn set_copilot_refresh_in(&self, secs: u64) {
        self.ledger().copilot_refresh_in = secs;
    }

    /// The `endpoints.api` Copilot tokens exchanged for `gh_token` name,
    /// e.g. `https://api.business.githubcopilot.com`.
    pub fn set_copilot_api(&self, gh_token: &str, url: &str) {
        let mut ledger = self.ledger();
        let token = ledger
            .github
            .get_mut(gh_token)
            .expect("a GitHub token the fake issued");
        token.copilot_api = Some(url.to_string());
    }
}

impl Drop for FakeOAuth {
    fn drop(&mut self) {
        self.accept_loop.abort();
    }
}
