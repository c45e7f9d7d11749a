//! A WebSocket to the fake provider's Responses endpoint: the handshake over a stream
//! (through keypool's tunnel), and one round trip on it, a `response.create` frame out,
//! the fake's echo back, with the credential it saw on the handshake.

use crate::support::guard::Within;
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

/// The WebSocket handshake for `wss://api.openai.com/v1/responses` on `stream`, the
/// client sending `Bearer {key}`; the stream and the handshake's answer.
pub async fn responses_over<S>(
    stream: S,
    key: &str,
) -> (
    WebSocketStream<S>,
    tokio_tungstenite::tungstenite::handshake::client::Response,
)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut req = "wss://api.openai.com/v1/responses"
        .into_client_request()
        .unwrap();
    req.headers_mut()
        .insert("authorization", format!("Bearer {key}").parse().unwrap());
    tokio_tungstenite::client_async(req, stream)
        .within("the WebSocket handshake through keypool")
        .await
        .unwrap()
}

/// Sends `{"type":"response.create"}` and returns the fake's echo as JSON.
pub async fn echo_of_response_create<S>(ws: &mut WebSocketStream<S>) -> serde_json::Value
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    ws.send(Message::text(r#"{"type":"response.create"}"#))
        .within("the WebSocket frame to be taken")
        .await
        .unwrap();
    let reply = ws
        .next()
        .within("the echo of the WebSocket frame")
        .await
        .unwrap()
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(reply.to_text().unwrap()).unwrap();
    assert_eq!(v["type"], "echo", "{v}");
    assert_eq!(v["data"]["type"], "response.create", "{v}");
    v
}
