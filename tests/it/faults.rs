//! An upstream that misbehaves below HTTP (tests/it/support/fault), through keypool over
//! real TLS. While nothing has reached the client, keypool answers for a broken upstream:
//! the next account, else a 502/504 in the provider's shape naming what happened and the
//! fix. Once bytes have gone out, a broken upstream reaches the client as a broken
//! stream (reqwest's body read fails, curl exits 18 or 56), never as a clean end. After
//! every fault keypool still serves, no account sits out for a connection's failure, and
//! no connection or task is left behind.

use crate::support;

use std::process::Stdio;

use bytes::Bytes;
use serde_json::{json, Value};
use support::fault::proxy::{self, Settings};
use support::fault::{wire, Accept, FaultServer, Script};
use support::guard::Within;
use support::keypool::{status_json, Keypool};
use support::scenario::Scenario;
use tokio::io::{AsyncBufReadExt, BufReader};

const HOSTS: &[&str] = &["api.openai.com", "api.anthropic.com"];

struct Rig {
    fault: FaultServer,
    kp: Keypool,
    keys: Vec<&'static str>,
}

/// keypool with one `provider` account per key (named after the key) in front of a
/// fault server; the settings (short timeouts) are the test's.
async fn rig(provider: &str, keys: &[&'static str], settings: Settings) -> Rig {
    let named: Vec<(&str, &str)> = keys.iter().map(|k| (*k, *k)).collect();
    let s = Scenario::new().fault(HOSTS).await;
    let s = s.keys(provider, &named).settings(&settings);
    let (fault, kp) = s.start_fault_parts().await;
    Rig {
        fault,
        kp,
        keys: keys.to_vec(),
    }
}

fn short_read_timeout() -> Settings {
    Settings::default().upstream("read_timeout = \"1s\"")
}

impl Rig {
    fn all(&self, script: Script) {
        for k in &self.keys {
            self.fault.set(k, script.clone());
        }
    }

    async fn openai(&self, stream: bool) -> reqwest::Response {
        let body = json!({"model": "gpt-4o", "stream": stream, "messages": [{"role": "user", "content": "hi"}]});
        let send = self
            .kp
            .client()
            .post("https://api.openai.com/v1/chat/completions")
            .bearer_auth("sk-client")
            .json(&body)
            .send();
        guard("the answer", send).await.expect("an answer")
    }

    async fn anthropic(&self) -> reqwest::Response {
        let body = json!({"model": "claude-sonnet-4-5", "max_tokens": 16, "stream": true,
                          "messages": [{"role": "user", "content": "hi"}]});
        let send = self
            .kp
            .client()
            .post("https://api.anthropic.com/v1/messages")
            .header("x-api-key", "sk-ant-client")
            .header("anthropic-version", "2023-06-01")
            .json(&body)
            .send();
        guard("the answer", send).await.expect("an answer")
    }

    /// The status of every account: none may sit out for a connection's failure.
    async fn assert_none_cooled(&self) {
        let v = status_json(self.kp.addr()).await;
        for a in v["pools"][0]["accounts"].as_array().unwrap() {
            assert_eq!(
                a["state"], "ok",
                "a broken connection cooled an account: {a}"
            );
        }
    }

    /// After the fault: a normal request is served, nothing sits out, and once the
    /// client is gone keypool holds no connection task and at most one pooled upstream
    /// connection (the healthy one just used).
    async fn assert_recovers(&self) {
        self.all(Script::ok_json());
        let r = self.openai(false).await;
        assert_eq!(r.status(), 200, "keypool no longer serves after the fault");
        let v: Value = r
            .json()
            .within("the body of the answer after the fault")
            .await
            .unwrap();
        assert_eq!(
            v["choices"][0]["message"]["content"],
            "Hello from the fault server."
        );
        self.assert_none_cooled().await;
        // reqwest clients are dropped by now; their connections close.
        proxy::settled(&self.kp).await;
        self.fault.wait_open_at_most(1).await;
    }
}

/// Not an `async fn`, so the panic names the caller's line rather than this one.
#[track_caller]
fn guard<F: std::future::IntoFuture>(
    what: &str,
    f: F,
) -> impl std::future::Future<Output = F::Output> + use<'_, F> {
    f.within(what)
}

fn sse_event() -> Bytes {
    wire::chunk(wire::openai_event("Hel").as_bytes())
}

/// A stream whose first event goes out, then (once released) a TCP reset.
fn reset_after_first_event() -> Script {
    Script::new()
        .send(wire::sse_head())
        .send(sse_event())
        .hold()
        .reset()
}

/// A 502/504 keypool answered itself, in OpenAI's shape; returns its message.
async fn openai_gateway_error(r: reqwest::Response, status: u16, code: &str) -> String {
    assert_eq!(r.status(), status);
    assert!(r.headers().get("x-keypool-account").is_none());
    assert!(r.headers().contains_key("x-keypool-attempts"));
    let v: Value = r
        .json()
        .within("the body of keypool's gateway error")
        .await
        .unwrap();
    assert_eq!(v["error"]["code"], code, "{v}");
    assert_eq!(v["error"]["type"], "server_error", "{v}");
    let m = v["error"]["message"].as_str().unwrap().to_string();
    assert!(m.starts_with("keypool: "), "{m}");
    assert!(m.contains("fix: "), "{m}");
    m
}

#[tokio::test]
async fn headers_then_silence_tries_every_account_then_504_naming_read_timeout() {
    let rig = rig("openai", &["sk-a", "sk-b"], short_read_timeout()).await;
    rig.all(Script::new().send(wire::sse_head()).hold());
    let r = rig.openai(true).await;
    let m = openai_gateway_error(r, 504, "upstream_timeout").await;
    assert!(m.contains("sent nothing for 1s"), "{m}");
    assert!(m.contains("raise [upstream] read_timeout"), "{m}");
    assert!(
        m.contains("tried accounts sk-a, sk-b") || m.contains("tried accounts sk-b, sk-a"),
        "{m}"
    );
    assert_eq!(rig.fault.seen().len(), 2, "each account tried once");
    rig.assert_recovers().await;
}

#[tokio::test]
async fn half_an_event_then_a_reset_replays_on_the_next_account_unseen() {
    let rig = rig("openai", &["sk-a", "sk-b"], Settings::default()).await;
    let broken = Script::new()
        .send(wire::sse_head())
        .send(wire::chunk(b"data: {\"choices\":[{\"delta\":{\"con"))
        .reset();
    // Whichever account keypool picks first breaks; the other answers.
    rig.fault.set("sk-a", broken.clone());
    rig.fault.set("sk-b", broken);
    let r = rig.openai(true).await;
    assert_eq!(r.status(), 502);
    // Over HTTP/2 a response not read to its end keeps the client's connection open.
    drop(r);
    let first = rig.fault.credentials_seen();
    assert_eq!(first.len(), 2);

    // Now the second account tried answers: the client sees its stream only.
    let (bad, good) = (first[0].clone(), first[1].clone());
    rig.fault.set(&good, Script::ok_sse(&["Hel", "lo"]));
    let r = rig.openai(true).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-keypool-attempts"], "2");
    assert_eq!(r.headers()["x-keypool-account"], good.as_str());
    let text = r
        .text()
        .within("the whole stream from the account that answered")
        .await
        .unwrap();
    assert!(!text.contains("\"con\n"), "{text}");
    assert!(text.ends_with("data: [DONE]\n\n"), "{text}");
    assert_eq!(text.matches("data: ").count(), 3, "{text}");
    // The broken account is not cooled, but its last error says what happened.
    let v = status_json(rig.kp.addr()).await;
    let accounts = v["pools"][0]["accounts"].as_array().unwrap();
    let entry = accounts.iter().find(|a| a["name"] == bad.as_str()).unwrap();
    assert_eq!(entry["state"], "ok");
    let detail = entry["last_error"]["detail"].as_str().unwrap();
    assert!(
        detail.contains("upstream failed before answering"),
        "{detail}"
    );
    rig.assert_recovers().await;
}

#[tokio::test]
async fn a_reset_before_any_head_is_a_502_after_every_account() {
    let rig = rig("openai", &["sk-a", "sk-b"], Settings::default()).await;
    rig.all(Script::new().reset());
    let m = openai_gateway_error(rig.openai(true).await, 502, "upstream_unreachable").await;
    assert!(
        m.contains("broke the connection before its answer began"),
        "{m}"
    );
    assert!(m.contains("check the network"), "{m}");
    rig.assert_recovers().await;
}

#[tokio::test]
async fn silence_before_any_head_is_a_504() {
    let rig = rig("openai", &["sk-a"], short_read_timeout()).await;
    rig.all(Script::new().hold());
    let m = openai_gateway_error(rig.openai(false).await, 504, "upstream_timeout").await;
    assert!(m.contains("tried account sk-a;"), "{m}");
    rig.assert_recovers().await;
}

#[tokio::test]
async fn anthropic_gets_its_own_error_shape_for_a_504_and_a_502() {
    let rig = rig("anthropic", &["sk-ant-a"], short_read_timeout()).await;
    rig.all(Script::new().send(wire::sse_head()).hold());
    let r = rig.anthropic().await;
    assert_eq!(r.status(), 504);
    let v: Value = r
        .json()
        .within("the body of the Anthropic 504")
        .await
        .unwrap();
    assert_eq!(v["type"], "error");
    assert_eq!(v["error"]["type"], "timeout_error");
    rig.all(Script::new().send(wire::sse_head()).reset());
    let r = rig.anthropic().await;
    assert_eq!(r.status(), 502);
    let v: Value = r
        .json()
        .within("the body of the Anthropic 502")
        .await
        .unwrap();
    assert_eq!(v["error"]["type"], "api_error");
    assert!(v["error"]["message"].as_str().unwrap().contains("fix: "));
}

#[tokio::test]
async fn invalid_chunking_before_the_first_event_replays_and_after_it_breaks_the_stream() {
    for bad in [
        &b"zz\r\ndata\r\n"[..],               // not hex
        b"5\r\ndata: nope",                   // no CRLF after the chunk
        b"ffffffffffffffffff\r\ndata: x\r\n", // chunk size overflows u64
    ] {
        let rig = rig("openai", &["sk-a"], Settings::default()).await;
        rig.all(
            Script::new()
                .send(wire::sse_head())
                .send(Bytes::from_static(bad))
                .close(),
        );
        let r = rig.openai(true).await;
        openai_gateway_error(r, 502, "upstream_unreachable").await;

        // After a first event has gone out, the same garbage breaks the stream.
        let script = Script::new()
            .send(wire::sse_head())
            .send(sse_event())
            .hold()
            .send(Bytes::from_static(bad))
            .close();
        rig.all(script);
        let r = rig.openai(true).await;
        assert_eq!(r.status(), 200);
        assert_breaks_after_first_bytes(r, &rig.fault).await;
        rig.assert_recovers().await;
    }
}

/// Reads the first piece of `r`, lets the fault server go on breaking, and expects the
/// rest of the body to fail rather than end.
async fn assert_breaks_after_first_bytes(r: reqwest::Response, fault: &FaultServer) {
    let mut r = r;
    let first = guard("a first chunk", r.chunk()).await.unwrap();
    assert!(first.is_some_and(|c| !c.is_empty()));
    fault.release();
    let rest = guard("the rest of the body", async {
        loop {
            match r.chunk().await {
                Ok(Some(_)) => continue,
                Ok(None) => return Ok(()),
                Err(e) => return Err(e),
            }
        }
    })
    .await;
    let e = rest.expect_err("a broken upstream must reach the client as a broken body");
    assert!(e.is_body() || e.is_decode(), "{e:?}");
}

#[tokio::test]
async fn a_stream_reset_after_its_first_event_is_broken_for_the_client() {
    let rig = rig("openai", &["sk-a"], Settings::default()).await;
    rig.all(reset_after_first_event());
    let r = rig.openai(true).await;
    assert_eq!(r.status(), 200);
    assert_breaks_after_first_bytes(r, &rig.fault).await;
    rig.assert_recovers().await;
}

#[tokio::test]
async fn a_stream_silent_after_its_first_event_breaks_at_the_read_timeout() {
    let rig = rig("openai", &["sk-a"], short_read_timeout()).await;
    // Never released: the read timeout ends it.
    rig.all(
        Script::new()
            .send(wire::sse_head())
            .send(sse_event())
            .hold(),
    );
    let mut r = rig.openai(true).await;
    assert_eq!(r.status(), 200);
    let first = r
        .chunk()
        .within("the first chunk before the upstream goes silent")
        .await
        .unwrap()
        .unwrap();
    assert!(String::from_utf8_lossy(&first).contains("Hel"));
    let rest = guard("the end of the body", r.chunk()).await;
    assert!(
        rest.is_err(),
        "a stream that timed out must not end cleanly: {rest:?}"
    );
    // Over HTTP/2 only the stream broke: the client's connection lives until it goes.
    drop(r);
    rig.assert_recovers().await;
}

#[tokio::test]
async fn a_json_answer_cut_short_is_broken_whatever_the_framing() {
    let rig = rig("openai", &["sk-a"], Settings::default()).await;
    let json_head = |framing: (&'static str, &'static str)| {
        wire::head(200, &[("content-type", "application/json"), framing])
    };
    let cut = [
        // Content-Length not reached, then FIN.
        Script::new()
            .send(json_head(("content-length", "400")))
            .send(Bytes::from_static(b"{\"id\":\"chatcmpl-x\","))
            .hold()
            .close(),
        // Content-Length not reached, then RST.
        Script::new()
            .send(json_head(("content-length", "400")))
            .send(Bytes::from_static(b"{\"id\":\"chatcmpl-x\","))
            .hold()
            .reset(),
        // Chunked without the last chunk.
        Script::new()
            .send(json_head(("transfer-encoding", "chunked")))
            .send(wire::chunk(b"{\"id\":\"chatcmpl-x\","))
            .hold()
            .close(),
    ];
    for script in cut {
        rig.fault.rearm();
        rig.all(script);
        let r = rig.openai(false).await;
        assert_eq!(r.status(), 200);
        assert_breaks_after_first_bytes(r, &rig.fault).await;
    }
    rig.assert_recovers().await;
}

/// curl through keypool; returns curl's exit code and what it printed.
async fn curl_stream(rig: &Rig, release_after: &str) -> (Option<i32>, String) {
    let ca = rig.kp.home.path().join("certs/ca.pem");
    let mut child = tokio::process::Command::new("curl")
        .args(["-sS", "-N", "--max-time", "20", "-x"])
        .arg(format!("http://{}", rig.kp.addr()))
        .arg("--cacert")
        .arg(&ca)
        .args([
            "-H",
            "authorization: Bearer sk-client",
            "-H",
            "content-type: application/json",
        ])
        .args(["-d", r#"{"model":"gpt-4o","stream":true,"messages":[]}"#])
        .arg("https://api.openai.com/v1/chat/completions")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("curl is installed");
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut printed = String::new();
    guard("curl's first event", async {
        while !printed.contains(release_after) {
            let mut line = String::new();
            if out.read_line(&mut line).await.unwrap() == 0 {
                break;
            }
            printed.push_str(&line);
        }
    })
    .await;
    rig.fault.release();
    let mut rest = String::new();
    guard(
        "curl's end",
        tokio::io::AsyncReadExt::read_to_string(&mut out, &mut rest),
    )
    .await
    .unwrap();
    printed.push_str(&rest);
    let status = guard("curl to exit", child.wait()).await.unwrap();
    (status.code(), printed)
}

#[tokio::test]
async fn curl_sees_a_broken_stream_as_a_partial_transfer() {
    let rig = rig("openai", &["sk-a"], Settings::default()).await;
    rig.all(reset_after_first_event());
    let (code, out) = curl_stream(&rig, "Hel").await;
    assert!(out.contains("\"Hel\""), "{out}");
    // 18, 56 over HTTP/1.1; over HTTP/2 the stream's reset is 92 (CURLE_HTTP2_STREAM).
    assert!(
        matches!(code, Some(18 | 56 | 92)),
        "curl must fail with 18 (partial file), 56 (receive error) or 92 (HTTP/2 stream \
         error), got {code:?}"
    );
    // The same stream ending properly is a success for curl: the check above is the
    // break, not curl's view of keypool.
    rig.all(Script::ok_sse(&["Hel", "lo"]).hold());
    let (code, out) = curl_stream(&rig, "Hel").await;
    assert_eq!(code, Some(0), "{out}");
    assert!(out.ends_with("data: [DONE]\n\n"), "{out}");
    rig.assert_recovers().await;
}

#[tokio::test]
async fn garbage_malformed_and_oversized_answers_are_502s_in_the_providers_shape() {
    let rig = rig("openai", &["sk-a"], Settings::default()).await;
    let huge_header = format!("x-junk: {}", "a".repeat(1 << 20));
    let answers: Vec<(&str, Script)> = vec![
        (
            "garbage",
            Script::new()
                .send(Bytes::from_static(b"\x00\x01SSH-2.0-nope\r\n\r\n"))
                .close(),
        ),
        (
            "a status line only",
            Script::new()
                .send(Bytes::from_static(b"HTTP/1.1 2OO OK\r\n\r\n"))
                .close(),
        ),
        (
            "a 1 MiB header",
            Script::new()
                .send(Bytes::from(format!(
                    "HTTP/1.1 200 OK\r\n{huge_header}\r\ncontent-length: 2\r\n\r\n{{}}"
                )))
                .close(),
        ),
    ];
    for (what, script) in answers {
        rig.all(script);
        let r = rig.openai(false).await;
        assert_eq!(r.status(), 502, "{what}");
        let v: Value = r
            .json()
            .within(&format!("the body of the 502 for {what}"))
            .await
            .unwrap();
        assert_eq!(v["error"]["code"], "upstream_unreachable", "{what}: {v}");
    }
    // A 10 MiB error body: keypool does not read past 1 MiB of it, and says so.
    let body = vec![b'x'; 10 << 20];
    rig.all(Script::respond(
        429,
        &[("content-type", "application/json")],
        &body,
    ));
    let r = rig.openai(false).await;
    assert_eq!(r.status(), 502);
    let v: Value = r
        .json()
        .within("the body of the 502 for the oversized error body")
        .await
        .unwrap();
    let m = v["error"]["message"].as_str().unwrap();
    assert!(m.contains("answered 429 with a body over 1024 KiB"), "{m}");
    rig.assert_recovers().await;
}

#[tokio::test]
async fn connection_faults_before_tls_are_502_or_504_naming_the_fix() {
    let rig = rig("openai", &["sk-a", "sk-b"], short_read_timeout()).await;
    for (accept, status, names) in [
        (Accept::Close, 502, "cannot reach api.openai.com:443"),
        (Accept::Reset, 502, "cannot reach api.openai.com:443"),
        (Accept::Untrusted, 502, "extra_ca"),
        (Accept::Hold, 504, "connect_timeout or read_timeout"),
    ] {
        rig.fault.on_accept(accept);
        let accepted = rig.fault.accepted();
        let r = rig.openai(false).await;
        assert_eq!(r.status(), status, "{accept:?}");
        let v: Value = r
            .json()
            .within(&format!("the body of the answer for {accept:?}"))
            .await
            .unwrap();
        let m = v["error"]["message"].as_str().unwrap();
        assert!(m.contains(names) && m.contains("fix: "), "{accept:?}: {m}");
        // Unreachable is the same for every account: only one was tried.
        assert_eq!(rig.fault.accepted(), accepted + 1, "{accept:?}");
        assert!(rig.fault.seen().is_empty());
    }
    rig.fault.on_accept(Accept::Serve);
    rig.assert_recovers().await;
}

#[tokio::test]
async fn an_answer_trickled_one_byte_at_a_time_arrives_whole() {
    let rig = rig("openai", &["sk-a"], Settings::default()).await;
    let whole = Script::ok_sse(&["Hel", "lo"]);
    let bytes: Vec<u8> = whole
        .0
        .iter()
        .flat_map(|s| match s {
            support::fault::Step::Send(b) => b.to_vec(),
            _ => Vec::new(),
        })
        .collect();
    rig.all(Script::new().trickle(Bytes::from(bytes)));
    let r = rig.openai(true).await;
    assert_eq!(r.status(), 200);
    let text = r.text().within("the whole trickled stream").await.unwrap();
    assert_eq!(text.matches("data: ").count(), 3, "{text}");
    assert!(text.ends_with("data: [DONE]\n\n"), "{text}");
    rig.assert_recovers().await;
}

#[tokio::test]
async fn an_http_1_0_client_on_the_plain_listener_gets_a_reset_not_a_clean_close() {
    // HTTP/1.0 has no chunked framing: a close-delimited answer that broke off would end
    // in a FIN that looks like the end. keypool resets the connection instead.
    let rig = rig("openai", &["sk-a"], Settings::default()).await;
    rig.all(reset_after_first_event());
    let body = r#"{"model":"gpt-4o","stream":true,"messages":[]}"#;
    let mut s = tokio::net::TcpStream::connect(rig.kp.addr())
        .within("keypool accepting a TCP connection")
        .await
        .unwrap();
    let head = format!(
        "POST https://api.openai.com/v1/chat/completions HTTP/1.0\r\nHost: api.openai.com\r\nAuthorization: Bearer sk-client\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    tokio::io::AsyncWriteExt::write_all(&mut s, head.as_bytes())
        .within("keypool taking the HTTP/1.0 request")
        .await
        .unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&got).contains("\"Hel\"") {
        let n = guard(
            "the first event",
            tokio::io::AsyncReadExt::read(&mut s, &mut buf),
        )
        .await
        .unwrap();
        assert!(
            n > 0,
            "closed before the first event: {}",
            String::from_utf8_lossy(&got)
        );
        got.extend_from_slice(&buf[..n]);
    }
    assert!(String::from_utf8_lossy(&got).starts_with("HTTP/1.0 200"));
    rig.fault.release();
    let end = guard("the end", async {
        loop {
            match tokio::io::AsyncReadExt::read(&mut s, &mut buf).await {
                Ok(0) => return Ok(()),
                Ok(_) => continue,
                Err(e) => return Err(e),
            }
        }
    })
    .await;
    let e = end.expect_err("a clean close would pass a broken answer off as whole");
    assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset);
    rig.assert_recovers().await;
}
