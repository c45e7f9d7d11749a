//! A keypool whose first openai pool a password guards, and requests sent inside a
//! CONNECT tunnel with exact bytes, for the access and hostile-client tests.

use super::guard::Within;
use super::keypool::{tls_connect, Keypool};
use super::raw_client::{read_answer, Answer};
use tokio::io::AsyncWriteExt;

/// Pool `work` (first for openai, guarded by client `ci` with password `ci-secret`) and
/// pool `shared`, which falls back to `work` when its account is limited.
pub const GUARDED_POOLS: &str = r#"
[[accounts]]
name = "work-key"
provider = "openai"
api_key = "sk-work"
[[accounts]]
name = "shared-key"
provider = "openai"
api_key = "sk-shared"
[[pools]]
name = "work"
provider = "openai"
accounts = ["work-key"]
[[pools]]
name = "shared"
provider = "openai"
accounts = ["shared-key"]
fallback = ["work"]
[clients.ci]
pools = ["work"]
password = "ci-secret"
"#;

/// A chat completion as raw bytes, for inside a tunnel to api.openai.com.
pub const CHAT: &[u8] = b"POST /v1/chat/completions HTTP/1.1\r\nHost: api.openai.com\r\nAuthorization: Bearer sk-placeholder\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}";

/// A tunnel to api.openai.com opened with `proxy_auth` (whole header lines, or nothing),
/// then `request` inside TLS: the CONNECT answer, and the inner answer if it opened.
pub async fn inside(kp: &Keypool, proxy_auth: &str, request: &[u8]) -> (Answer, Option<Answer>) {
    let mut tcp = tokio::net::TcpStream::connect(kp.addr())
        .within("keypool accepting a TCP connection")
        .await
        .unwrap();
    let head = format!(
        "CONNECT api.openai.com:443 HTTP/1.1\r\nHost: api.openai.com:443\r\n{proxy_auth}\r\n"
    );
    tcp.write_all(head.as_bytes())
        .within("keypool taking the CONNECT request")
        .await
        .unwrap();
    let connect = read_answer(&mut tcp).await;
    if connect.status != 200 {
        return (connect, None);
    }
    let mut tls = tls_connect(tcp, "api.openai.com", &kp.ca_pem()).await;
    tls.write_all(request)
        .within("keypool taking the request inside the tunnel")
        .await
        .unwrap();
    (connect, Some(read_answer(&mut tls).await))
}
