//! Requests addressed to keypool itself rather than proxied (`GET /`).

use crate::body::text;
use crate::body::{full, ProxyBody};
use crate::pool::{Account, Credential, Health};
use crate::reload::reload;
use crate::state::State;
use http::{Request, Response, StatusCode};
use serde_json::json;
use std::time::SystemTime;

/// One account's live state: `ok`, `cooling` (with `until`, epoch seconds) or `disabled`,
/// and why; `unsaved` while a refreshed login has not reached the disk. Never a credential.
fn account_json(a: &Account, now: SystemTime) -> serde_json::Value {
    let (state, detail, until) = match a.health(now) {
        Health::Ok => ("ok", String::new(), None),
        Health::Cooling { until, detail, .. } => (
            "cooling",
            detail,
            until
                .duration_since(SystemTime::UNIX_EPOCH)
                .ok()
                .map(|d| d.as_secs()),
        ),
        Health::Disabled { reason } => ("disabled", reason, None),
    };
    let last_error = a.stats.last_error().map(|(at, detail)| {
        json!({"at": at.duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0), "detail": detail})
    });
    let secs = |t: SystemTime| {
        t.duration_since(SystemTime::UNIX_EPOCH)
            .ok()
            .map(|d| d.as_secs())
    };
    let windows = a.quota(now);
    let unsaved = match &a.credential {
        Credential::OAuth(o) => o.unsaved(),
        Credential::Key(_) => None,
    };
    let window_json = |w: &crate::quota::Window| {
        json!({
            "name": w.name,
            "scope": w.scope,
            "utilization": w.pressure(),
            "remaining": w.remaining,
            "limit": w.limit,
            "resets_at": w.resets_at.and_then(secs),
        })
    };
    json!({
        "name": a.name,
        "kind": a.kind().as_str(),
        "state": state,
        "detail": detail,
        "until": until,
        "requests": a.stats.requests(),
        "last_error": last_error,
        "unsaved": unsaved,
        "tightest": crate::quota::tightest(&windows).map(window_json),
        "windows": windows.iter().map(window_json).collect::<Vec<_>>(),
    })
}

/// `GET /_keypool/status`: every pool and account as the pipeline sees them now.
fn status(state: &State) -> Response<ProxyBody> {
    let now = state.clock.now();
    let live = state.live();
    let sticky = state.affinity.sticky.counts(now);
    let pools: Vec<_> = live
        .pools
        .all
        .iter()
        .map(|p| {
            let accounts: Vec<_> = p
                .members
                .iter()
                .map(|a| {
                    let mut v = account_json(a, now);
                    let n = sticky.get(&p.name).and_then(|m| m.get(&a.name)).copied();
                    v["sticky_conversations"] = json!(n.unwrap_or(0));
                    v
                })
                .collect();
            json!({
                "name": p.name,
                "provider": p.provider.id,
                "strategy": p.strategy.as_str(),
                "mix_kinds": p.mix_kinds,
                "accounts": accounts,
            })
        })
        .collect();
    let body = json!({
        "keypool": env!("CARGO_PKG_VERSION"),
        "listen": state.listen.to_string(),
        "now": now.duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0),
        "pools": pools,
    });
    let mut r = Response::new(full(body.to_string()));
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    r
}

/// The path of the status JSON on the proxy's own address.
pub const STATUS_PATH: &str = "/_keypool/status";
/// `POST` here reads the config file again (what SIGHUP does).
pub const RELOAD_PATH: &str = "/_keypool/reload";

pub fn handle<B>(req: &Request<B>, state: &State) -> Response<ProxyBody> {
    if let Some(refused) = crate::admin_access::refusal(req.method(), req.headers(), state) {
        let mut r = text(refused.status, format!("{}\n", refused.message));
        if refused.ask_login {
            r.headers_mut().insert(
                http::header::WWW_AUTHENTICATE,
                http::HeaderValue::from_static("Basic realm=\"keypool\", charset=\"UTF-8\""),
            );
        }
        return r;
    }
    let path = req.uri().path();
    if path == STATUS_PATH && req.method() == http::Method::GET {
        return status(state);
    }
    if path == RELOAD_PATH && req.method() == http::Method::POST {
        let (code, body) = match reload(state) {
            Ok(m) => {
                tracing::info!("{m}");
                (StatusCode::OK, json!({"reloaded": true, "message": m}))
            }
            Err(e) => {
                tracing::warn!("reload refused: {e}");
                (
                    StatusCode::BAD_REQUEST,
                    json!({"reloaded": false, "error": e}),
                )
            }
        };
        let mut r = Response::new(full(body.to_string()));
        *r.status_mut() = code;
        r.headers_mut().insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/json"),
        );
        return r;
    }
    if path != "/" {
        return text(
            StatusCode::NOT_FOUND,
            format!(
                "keypool: no page at {}. keypool is a proxy: point clients at it with HTTPS_PROXY=http://{}\n",
                req.uri().path(),
                state.listen
            ),
        );
    }
    if req.method() != http::Method::GET && req.method() != http::Method::HEAD {
        return text(
            StatusCode::METHOD_NOT_ALLOWED,
            "keypool: only GET / is served here\n",
        );
    }
    index(req, state)
}

/// `GET /`: what is running, as a short page or (`Accept: application/json`) JSON.
fn index<B>(req: &Request<B>, state: &State) -> Response<ProxyBody> {
    let now = state.clock.now();
    let live = state.live();
    let pools: Vec<_> = live
        .pools
        .all
        .iter()
        .map(|p| {
            let members: Vec<_> = p.members.iter().map(|a| account_json(a, now)).collect();
            json!({"name": p.name, "provider": p.provider.id, "accounts": p.members.len(), "members": members})
        })
        .collect();
    let wants_json = req
        .headers()
        .get(http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/json"));
    if wants_json {
        let body = json!({
            "keypool": env!("CARGO_PKG_VERSION"),
            "status": "running",
            "listen": state.listen.to_string(),
            "ca": state.home.ca_cert().display().to_string(),
            "pools": pools,
        });
        let mut r = Response::new(full(body.to_string()));
        r.headers_mut().insert(
            http::header::CONTENT_TYPE,
            http::HeaderValue::from_static("application/json"),
        );
        return r;
    }
    let mut page = format!(
        "keypool {} is running on {}\nCA certificate: {}\n",
        env!("CARGO_PKG_VERSION"),
        state.listen,
        state.home.ca_cert().display()
    );
    if live.pools.all.is_empty() {
        page.push_str(
            "No accounts configured: add [[accounts]] to config.toml and run `keypool reload`.\n",
        );
    }
    for p in &live.pools.all {
        page.push_str(&format!(
            "pool {} ({}): {} account(s)\n",
            p.name,
            p.provider.id,
            p.members.len()
        ));
    }
    text(StatusCode::OK, page)
}
