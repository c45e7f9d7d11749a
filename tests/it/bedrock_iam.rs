//! Amazon Bedrock IAM accounts through keypool over real TLS, against the fake Bedrock
//! (support/bedrock.rs) whose independent verifier checks every signature for the
//! account it names, the region of the host it reached and the date. The client signs
//! with its own keys (as an AWS SDK does); keypool drops that signature and signs the
//! whole request afresh for each account it tries.

use crate::support;

use bytes::Bytes;
use serde_json::Value;
use support::bedrock::{good_stream, host, Act, FakeBedrock, IamAccount, Seen, CONVERSE};
use support::guard::Within;
use support::keypool::status_json;
use support::scenario::Scenario;
use support::sigv4::Refusal;

const EAST: &str = "us-east-1";
const WEST: &str = "eu-west-1";

const A: IamAccount = IamAccount {
    id: "AKIDACCOUNTAEAST",
    secret: "secret/of+account-a-east",
    token: None,
};
const B: IamAccount = IamAccount {
    id: "ASIAACCOUNTBWEST",
    secret: "secret/of+account-b-west",
    token: Some("session-token-of-b"),
};

/// The client's own credentials, which must never reach Bedrock.
const CLIENT_ID: &str = "AKIDCLIENTOWN";
const CLIENT_TOKEN: &str = "client-own-session-token-77";

const MODEL_PATH: &str = "/model/anthropic.claude-3-haiku-20240307-v1%3A0";
const BODY: &str = r#"{"messages":[{"role":"user","content":[{"text":"hello"}]}]}"#;

fn iam(name: &str, region: &str, a: &IamAccount) -> String {
    let token = a
        .token
        .map(|t| format!("session_token = \"{t}\"\n"))
        .unwrap_or_default();
    format!(
        "[[accounts]]\nname = \"{name}\"\nprovider = \"amazon-bedrock\"\nregion = \"{region}\"\n\
         access_key_id = \"{}\"\nsecret_access_key = \"{}\"\n{token}",
        a.id, a.secret
    )
}

async fn rig(accounts: &str, limits: &[&str]) -> (FakeBedrock, Scenario) {
    let s = Scenario::new();
    let fake = FakeBedrock::start(&s.ca, &[EAST, WEST], &[A, B]).await;
    let mut s = s.upstream(fake.addr()).config(accounts);
    for l in limits {
        s = s.limits(l);
    }
    (fake, s)
}

/// A request signed the way an AWS SDK signs it, with the client's own keys.
fn client_signed(client: &reqwest::Client, op: &str, body: Bytes) -> reqwest::RequestBuilder {
    client
        .post(format!("https://{}{MODEL_PATH}/{op}", host(EAST)))
        .header("content-type", "application/json")
        .header("x-amz-date", "20000101T000000Z")
        .header("x-amz-security-token", CLIENT_TOKEN)
        .header(
            "x-amz-content-sha256",
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        )
        .header(
            "authorization",
            format!(
                "AWS4-HMAC-SHA256 Credential={CLIENT_ID}/20000101/{EAST}/bedrock/aws4_request, \
                 SignedHeaders=host;x-amz-date, Signature=00"
            ),
        )
        .body(body)
}

/// Nothing of the client's credentials in what Bedrock saw.
fn assert_no_client_credential(seen: &[Seen]) {
    for s in seen {
        for (name, value) in &s.headers {
            let v = String::from_utf8_lossy(value.as_bytes());
            assert!(
                !v.contains(CLIENT_ID) && !v.contains(CLIENT_TOKEN),
                "the client's credential in {name}"
            );
        }
    }
}

fn state<'a>(status: &'a Value, name: &str) -> &'a Value {
    status["pools"][0]["accounts"]
        .as_array()
        .and_then(|a| a.iter().find(|a| a["name"] == name))
        .unwrap_or_else(|| panic!("no account {name} in {status}"))
}

#[tokio::test]
async fn a_throttled_iam_account_is_replayed_re_signed_for_the_next_accounts_region() {
    let (fake, mut s) = rig(&(iam("east", EAST, &A) + &iam("west", WEST, &B)), &[]).await;
    fake.set(A.id, Act::Throttle);
    let kp = s.start().await;
    let r = client_signed(
        &kp.client(),
        "converse",
        Bytes::from_static(BODY.as_bytes()),
    )
    .send()
    .within("a Converse call through keypool")
    .await
    .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-keypool-account"], "west");
    assert_eq!(r.headers()["x-keypool-attempts"], "2");
    assert_eq!(r.text().await.unwrap(), CONVERSE);
    let seen = fake.seen();
    let [a, b] = &seen[..] else {
        panic!("two attempts, got {seen:?}")
    };
    // Each signature verified for its own account's secret, in its own region's host,
    // with a date within AWS's five minutes; B's carries B's session token.
    assert_eq!(
        (a.host.as_str(), &a.signed_by),
        (host(EAST).as_str(), &Ok(A.id.to_string()))
    );
    assert_eq!(
        (b.host.as_str(), &b.signed_by),
        (host(WEST).as_str(), &Ok(B.id.to_string()))
    );
    assert_eq!(b.headers["x-amz-security-token"], B.token.unwrap());
    assert!(!a.headers.contains_key("x-amz-security-token"));
    assert_eq!(b.path, format!("{MODEL_PATH}/converse"));
    assert_eq!(
        (&a.body[..], &b.body[..]),
        (BODY.as_bytes(), BODY.as_bytes())
    );
    assert_no_client_credential(&seen);
    let status = status_json(kp.addr()).await;
    assert_eq!(state(&status, "east")["state"], "cooling", "{status}");
    assert_eq!(state(&status, "west")["state"], "ok", "{status}");
}

#[tokio::test]
async fn a_converse_stream_whose_first_frame_is_a_throttling_exception_rotates() {
    let (fake, mut s) = rig(&(iam("east", EAST, &A) + &iam("west", WEST, &B)), &[]).await;
    fake.set(A.id, Act::ThrottleInStream);
    let kp = s.start().await;
    let r = client_signed(
        &kp.client(),
        "converse-stream",
        Bytes::from_static(BODY.as_bytes()),
    )
    .send()
    .within("a ConverseStream call through keypool")
    .await
    .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-keypool-account"], "west");
    assert_eq!(
        r.headers()["content-type"],
        "application/vnd.amazon.eventstream"
    );
    let bytes = r.bytes().within("the stream's end").await.unwrap();
    assert_eq!(bytes, good_stream(), "B's stream, byte for byte");
    let signed: Vec<_> = fake.seen().into_iter().map(|s| s.signed_by).collect();
    assert_eq!(signed, [Ok(A.id.to_string()), Ok(B.id.to_string())]);
    let status = status_json(kp.addr()).await;
    assert_eq!(state(&status, "east")["state"], "cooling", "{status}");
}

#[tokio::test]
async fn a_good_event_stream_passes_byte_for_byte() {
    let (fake, mut s) = rig(&iam("east", EAST, &A), &[]).await;
    let kp = s.start().await;
    let r = client_signed(
        &kp.client(),
        "converse-stream",
        Bytes::from_static(BODY.as_bytes()),
    )
    .send()
    .within("a ConverseStream call through keypool")
    .await
    .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-keypool-attempts"], "1");
    let bytes = r.bytes().within("the stream's end").await.unwrap();
    assert_eq!(bytes, good_stream());
    assert_no_client_credential(&fake.seen());
}

/// The fake checks: an account whose secret is not the one Bedrock holds is refused (a
/// signature keypool made, verified and found wrong), disabled, and the request goes
/// on to the next account; a stale date is refused too (signed directly, at a date six
/// minutes old).
#[tokio::test]
async fn a_wrong_secret_or_a_stale_date_is_refused_by_the_fake() {
    let wrong = IamAccount {
        secret: "not-the-secret-bedrock-holds",
        ..A
    };
    let (fake, mut s) = rig(&(iam("wrong", EAST, &wrong) + &iam("west", WEST, &B)), &[]).await;
    let kp = s.start().await;
    let r = client_signed(
        &kp.client(),
        "converse",
        Bytes::from_static(BODY.as_bytes()),
    )
    .send()
    .within("a Converse call through keypool")
    .await
    .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-keypool-account"], "west");
    let signed: Vec<_> = fake.seen().into_iter().map(|s| s.signed_by).collect();
    assert_eq!(signed, [Err(Refusal::Mismatch), Ok(B.id.to_string())]);
    let status = status_json(kp.addr()).await;
    let w = state(&status, "wrong");
    assert_eq!(w["state"], "disabled", "{status}");
    let reason = w.to_string();
    assert!(reason.contains("InvalidSignatureException"), "{reason}");
    assert!(!reason.contains(wrong.secret), "{reason}");

    // The same request signed six minutes ago, straight to the fake.
    let mut req = http::Request::post(format!("https://{}{MODEL_PATH}/converse", host(EAST)))
        .header("content-type", "application/json")
        .body(())
        .unwrap();
    let creds =
        keypool::sigv4::AwsCredentials::new(A.id, A.secret.to_string().into(), None).unwrap();
    let scope = keypool::sigv4::Scope {
        region: EAST,
        service: keypool::sigv4::BEDROCK,
    };
    let stale = std::time::SystemTime::now() - std::time::Duration::from_secs(6 * 60);
    keypool::sigv4::resign(&mut req, BODY.as_bytes(), &creds, scope, stale).unwrap();
    let direct = support::https::direct_client(&s.ca.cert_pem(), fake.addr(), &[&host(EAST)]);
    let mut call = direct.post(req.uri().to_string()).body(BODY);
    for (name, value) in req.headers() {
        if name != http::header::HOST {
            call = call.header(name, value);
        }
    }
    let r = call.send().within("a stale signature").await.unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(fake.seen().last().unwrap().signed_by, Err(Refusal::Skewed));
}

#[tokio::test]
async fn a_body_over_the_replay_limit_cannot_be_signed_and_says_which_limit() {
    let (fake, mut s) = rig(&iam("east", EAST, &A), &["replay_body_mib = 1"]).await;
    let kp = s.start().await;
    let big = format!(
        r#"{{"messages":[{{"role":"user","content":[{{"text":"{}"}}]}}]}}"#,
        "x".repeat(1 << 21)
    );
    let r = client_signed(&kp.client(), "converse", Bytes::from(big))
        .send()
        .within("a 2 MiB Converse call")
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    assert_eq!(r.headers()["x-amzn-errortype"], "ValidationException");
    let v: Value = r.json().await.unwrap();
    let message = v["message"].as_str().unwrap();
    assert!(message.contains("[limits] replay_body_mib"), "{message}");
    assert!(
        message.contains("'east'") && message.contains("1 MiB"),
        "{message}"
    );
    assert!(fake.seen().is_empty(), "nothing unsigned went upstream");
}

/// Every account throttled: keypool's own 429 is Bedrock's, `{"message"}` with the
/// exception in `x-amzn-errortype`, so an AWS SDK raises ThrottlingException and backs off.
#[tokio::test]
async fn every_account_throttled_is_answered_as_bedrock_throttles() {
    let (fake, mut s) = rig(&(iam("east", EAST, &A) + &iam("west", WEST, &B)), &[]).await;
    fake.set(A.id, Act::Throttle);
    fake.set(B.id, Act::Throttle);
    let kp = s.start().await;
    let r = client_signed(
        &kp.client(),
        "converse",
        Bytes::from_static(BODY.as_bytes()),
    )
    .send()
    .within("a Converse call through keypool")
    .await
    .unwrap();
    assert_eq!(r.status(), 429);
    assert_eq!(r.headers()["x-amzn-errortype"], "ThrottlingException");
    assert!(r.headers().contains_key("retry-after"));
    let v: Value = r.json().await.unwrap();
    let message = v["message"].as_str().unwrap();
    assert!(message.contains("every account in pool"), "{v}");
    assert_eq!(v.as_object().unwrap().len(), 1, "only the message: {v}");
    assert_eq!(fake.seen().len(), 2);
}
