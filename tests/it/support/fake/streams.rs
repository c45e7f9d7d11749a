//! Test-controlled streams (held, endless) and the echoing WebSocket.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use http::{header, Response};
use http_body_util::{BodyExt, Empty};
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::{handshake::derive_accept_key, protocol::Role, Message};
use tokio_tungstenite::WebSocketStream;

use super::bodies::OpenAiStream;
use super::reply::Ctx;
use super::State;
use crate::support::https::{channel_body, Body};

/// First event now; the rest once `release_held()` was called.
pub(super) fn held(state: &State, model: &str) -> Body {
    let mut events = OpenAiStream::new(model).events(false);
    let first = events.remove(0);
    let mut released = state.released.subscribe();
    let (tx, body) = channel_body();
    tokio::spawn(async move {
        if tx.send(first).await.is_err() {
            return;
        }
        let go = tokio::select! {
            r = released.wait_for(|r| *r) => r.is_ok(),
            _ = tx.closed() => false,
        };
        if go {
            for event in events {
                if tx.send(event).await.is_err() {
                    return;
                }
            }
        }
    });
    body
}

/// One OpenAI chunk every 50 ms until the consumer disconnects, which is
/// recorded for `wait_disconnect()`.
pub(super) fn endless(state: &Arc<State>, model: &str) -> Body {
    let stream = OpenAiStream::new(model);
    let state = state.clone();
    let (tx, body) = channel_body();
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(Duration::from_millis(50));
        for n in 0u64.. {
            let delta = if n == 0 {
                json!({"role": "assistant", "content": ""})
            } else {
                json!({"content": format!(" tick{n}")})
            };
            let event = stream.event(delta, Value::Null);
            let sent = tokio::select! {
                _ = ticks.tick() => tx.send(event).await.is_ok(),
                _ = tx.closed() => false,
            };
            if !sent {
                break;
            }
        }
        state.disconnect_count.fetch_add(1, Ordering::SeqCst);
        state.disconnects.add_permits(1);
    });
    body
}

/// Responses-style WebSocket: 101, then echo each text frame back with the
/// credential seen on the handshake.
pub(super) fn echo_websocket(
    state: &State,
    ctx: &Ctx,
    parts: &mut http::request::Parts,
    credential: String,
) -> Response<Body> {
    websocket(state, ctx, parts, move |text| {
        // JSON text is embedded as JSON, anything else as a string.
        let data =
            serde_json::from_str::<Value>(text).unwrap_or_else(|_| Value::String(text.to_string()));
        vec![json!({"type": "echo", "credential": credential, "data": data}).to_string()]
    })
}

/// Accepts a WebSocket upgrade and answers each text frame with the frames
/// `on_text` returns, in order.
pub(super) fn websocket(
    state: &State,
    ctx: &Ctx,
    parts: &mut http::request::Parts,
    mut on_text: impl FnMut(&str) -> Vec<String> + Send + 'static,
) -> Response<Body> {
    let key = parts
        .headers
        .get("sec-websocket-key")
        .map(|k| k.as_bytes().to_vec());
    let on_upgrade = parts.extensions.remove::<OnUpgrade>();
    let (Some(key), Some(on_upgrade)) = (key, on_upgrade) else {
        return ctx.openai_error(
            400,
            "Invalid WebSocket handshake",
            "invalid_request_error",
            Value::Null,
        );
    };
    state.detached.lock().unwrap().spawn(async move {
        let Ok(upgraded) = on_upgrade.await else {
            return;
        };
        let mut ws =
            WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, None).await;
        // Keep reading after a Close so tungstenite can send its Close reply.
        while let Some(Ok(message)) = ws.next().await {
            if let Message::Text(text) = message {
                for reply in on_text(text.as_str()) {
                    if ws.send(Message::text(reply)).await.is_err() {
                        return;
                    }
                }
            }
        }
    });
    let mut response = ctx.respond(101, "text/plain", &[], Empty::new().boxed());
    let headers = response.headers_mut();
    headers.remove(header::CONTENT_TYPE);
    headers.insert(header::UPGRADE, "websocket".parse().unwrap());
    headers.insert(header::CONNECTION, "Upgrade".parse().unwrap());
    let accept = derive_accept_key(&key);
    headers.insert(header::SEC_WEBSOCKET_ACCEPT, accept.parse().unwrap());
    response
}
