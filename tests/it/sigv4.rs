//! SigV4 re-signing against an independent verifier: AWS's published vectors rebuilt from
//! what keypool's signer sent, and a fake Bedrock over real TLS that checks every
//! signature for the account it names, throttles one account and serves the other.

use crate::support::https::{accept_loop, direct_client, full, Body};
use crate::support::sigv4::{Refusal, Verifier};
use crate::support::TestCa;
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use keypool::providers::{classify, Dialect, Verdict};
use keypool::sigv4::{resign, AwsCredentials, Scope, BEDROCK};
use secrecy::SecretString;
use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

const VECTORS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/sigv4");
const HOST: &str = "bedrock-runtime.us-east-1.amazonaws.com";
const REGION: &str = "us-east-1";

fn file(case: &str, name: &str) -> String {
    std::fs::read_to_string(format!("{VECTORS}/{case}/{name}")).unwrap()
}

/// The published cases, signed by keypool and rebuilt by the verifier: the same
/// canonical request and string to sign as AWS's files.
#[test]
fn the_verifier_rebuilds_the_published_canonical_request_and_string_to_sign() {
    let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_440_938_160); // 2015-08-30T12:36:00Z
    for (case, token) in [
        ("get-vanilla", None),
        ("post-vanilla", None),
        (
            "get-vanilla-with-session-token",
            Some("6e86291e8372ff2a2260956d9b8aae1d763fbf315fa00fa31553b73ebf194267"),
        ),
    ] {
        let method = file(case, "request.txt")[..4].trim().to_string();
        let mut req = Request::builder()
            .method(method.as_str())
            .uri("https://example.amazonaws.com/")
            .body(())
            .unwrap();
        let creds = AwsCredentials::new(
            "AKIDEXAMPLE",
            SecretString::from("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"),
            token.map(SecretString::from),
        )
        .unwrap();
        let scope = Scope {
            region: REGION,
            service: "service",
        };
        resign(&mut req, b"", &creds, scope, at).unwrap();
        let verifier = Verifier {
            accounts: HashMap::from([(
                "AKIDEXAMPLE".to_string(),
                (
                    "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".to_string(),
                    token.map(str::to_string),
                ),
            )]),
            region: REGION.into(),
            service: "service".into(),
        };
        let v = verifier
            .verify(req.method(), req.uri(), req.headers(), b"", at)
            .unwrap_or_else(|e| panic!("{case}: {e:?}"));
        assert_eq!(
            v.canonical_request,
            file(case, "header-canonical-request.txt"),
            "{case}"
        );
        assert_eq!(
            v.string_to_sign,
            file(case, "header-string-to-sign.txt"),
            "{case}"
        );
    }
}

struct Account {
    id: &'static str,
    secret: &'static str,
}

const A: Account = Account {
    id: "AKIDACCOUNTA",
    secret: "secret-of-account-a",
};
const B: Account = Account {
    id: "AKIDACCOUNTB",
    secret: "secret-of-account-b",
};

fn creds(a: &Account) -> AwsCredentials {
    AwsCredentials::new(a.id, SecretString::from(a.secret), None).unwrap()
}

/// What the fake saw: the account of each verified request, or the refusal.
type Seen = Arc<Mutex<Vec<Result<String, Refusal>>>>;

/// A fake Bedrock runtime: every request's signature is checked; account A is throttled
/// as Bedrock throttles, B gets a Converse answer.
async fn fake_bedrock(ca: &TestCa) -> (std::net::SocketAddr, Seen, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let acceptor = TlsAcceptor::from(ca.server_config(&[HOST]));
    let seen: Seen = Arc::default();
    let verifier = Arc::new(Verifier {
        accounts: HashMap::from([
            (A.id.to_string(), (A.secret.to_string(), None)),
            (B.id.to_string(), (B.secret.to_string(), None)),
        ]),
        region: REGION.into(),
        service: BEDROCK.into(),
    });
    let log = seen.clone();
    let handler = move |req: Request<Incoming>| {
        let (verifier, log) = (verifier.clone(), log.clone());
        async move { Ok::<_, Infallible>(answer(req, &verifier, &log).await) }
    };
    let task = tokio::spawn(accept_loop(listener, acceptor, |_| {}, handler));
    (addr, seen, task)
}

async fn answer(req: Request<Incoming>, verifier: &Verifier, log: &Seen) -> Response<Body> {
    let (parts, body) = req.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    // The fake is reached by its host name; the request line is origin-form.
    let uri: http::Uri = format!("https://{HOST}{}", parts.uri).parse().unwrap();
    let verified = verifier.verify(
        &parts.method,
        &uri,
        &parts.headers,
        &body,
        SystemTime::now(),
    );
    log.lock()
        .unwrap()
        .push(verified.clone().map(|v| v.access_key_id));
    let (status, exception, message) = match verified {
        Err(_) => (
            403,
            "InvalidSignatureException",
            "The request signature we calculated does not match the signature you provided.",
        ),
        Ok(v) if v.access_key_id == A.id => (
            429,
            "ThrottlingException",
            "Too many requests, please wait before trying again.",
        ),
        Ok(_) => {
            let converse = r#"{"output":{"message":{"role":"assistant","content":[{"text":"hi"}]}},"stopReason":"end_turn","usage":{"inputTokens":3,"outputTokens":1,"totalTokens":4}}"#;
            return Response::builder()
                .header("content-type", "application/json")
                .body(full(converse))
                .unwrap();
        }
    };
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .header(
            "x-amzn-errortype",
            format!("{exception}:http://internal.amazon.com/coral/com.amazon.bedrock/"),
        )
        .body(full(serde_json::json!({ "message": message }).to_string()))
        .unwrap()
}

const BODY: &str = r#"{"messages":[{"role":"user","content":[{"text":"hello"}]}]}"#;

/// The request as the client sent it, signed with its own (unknown) key.
fn client_request() -> Request<()> {
    Request::post(format!(
        "https://{HOST}/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse"
    ))
    .header("content-type", "application/json")
    .header("x-amz-date", "20000101T000000Z")
    .header(
        "authorization",
        "AWS4-HMAC-SHA256 Credential=AKIDCLIENT/20000101/us-east-1/bedrock/aws4_request, SignedHeaders=host, Signature=00",
    )
    .body(())
    .unwrap()
}

async fn send(client: &reqwest::Client, req: &Request<()>, body: &[u8]) -> reqwest::Response {
    let mut r = client
        .request(req.method().clone(), req.uri().to_string())
        .body(Bytes::copy_from_slice(body));
    for (name, value) in req.headers() {
        // reqwest derives Host from the URL, as hyper does upstream.
        if name != http::header::HOST {
            r = r.header(name, value);
        }
    }
    r.send().await.unwrap()
}

fn signed_for(account: &Account, at: SystemTime) -> Request<()> {
    let mut req = client_request();
    let scope = Scope {
        region: REGION,
        service: BEDROCK,
    };
    resign(&mut req, BODY.as_bytes(), &creds(account), scope, at).unwrap();
    req
}

#[tokio::test]
async fn a_throttled_request_is_re_signed_for_the_next_account_and_served() {
    let ca = TestCa::new();
    let (addr, seen, _task) = fake_bedrock(&ca).await;
    let client = direct_client(&ca.cert_pem(), addr, &[HOST]);
    let first = signed_for(&A, SystemTime::now());
    let resp = send(&client, &first, BODY.as_bytes()).await;
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = resp.bytes().await.unwrap();
    let outcome = classify(Dialect::Bedrock, status, &headers, &body, SystemTime::now());
    assert_eq!(outcome.verdict, Verdict::RateLimited);
    assert_eq!(outcome.detail, "429 ThrottlingException");
    // The replay: the same request, signed afresh for B.
    let replay_at = SystemTime::now() + Duration::from_secs(1);
    let second = signed_for(&B, replay_at);
    assert_ne!(
        first.headers()["x-amz-date"],
        second.headers()["x-amz-date"]
    );
    let resp = send(&client, &second, BODY.as_bytes()).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(resp
        .text()
        .await
        .unwrap()
        .contains("\"stopReason\":\"end_turn\""));
    assert_eq!(
        *seen.lock().unwrap(),
        vec![Ok(A.id.to_string()), Ok(B.id.to_string())]
    );
}

#[tokio::test]
async fn a_wrong_account_a_stale_date_or_a_changed_body_is_refused() {
    let ca = TestCa::new();
    let (addr, seen, _task) = fake_bedrock(&ca).await;
    let client = direct_client(&ca.cert_pem(), addr, &[HOST]);
    // Signed with B's secret but naming A: the signature is not A's.
    let impostor = Account {
        id: A.id,
        secret: B.secret,
    };
    let wrong = signed_for(&impostor, SystemTime::now());
    // Six minutes old: past the five AWS allows.
    let stale = signed_for(&B, SystemTime::now() - Duration::from_secs(6 * 60));
    let good = signed_for(&B, SystemTime::now());
    for (what, req, body) in [
        ("wrong account", &wrong, BODY.as_bytes()),
        ("stale date", &stale, BODY.as_bytes()),
        ("changed body", &good, br#"{"messages":[]}"#.as_slice()),
    ] {
        let resp = send(&client, req, body).await;
        assert_eq!(resp.status(), StatusCode::FORBIDDEN, "{what}");
        let headers = resp.headers().clone();
        let body = resp.bytes().await.unwrap();
        let o = classify(
            Dialect::Bedrock,
            StatusCode::FORBIDDEN,
            &headers,
            &body,
            SystemTime::now(),
        );
        assert_eq!(o.detail, "403 InvalidSignatureException", "{what}");
        assert_eq!(o.verdict, Verdict::AuthFailed, "{what}");
    }
    assert_eq!(
        *seen.lock().unwrap(),
        vec![
            Err(Refusal::Mismatch),
            Err(Refusal::Skewed),
            Err(Refusal::Mismatch)
        ]
    );
    // And the same request with its own body goes through.
    let resp = send(&client, &good, BODY.as_bytes()).await;
    assert_eq!(resp.status(), StatusCode::OK);
}
