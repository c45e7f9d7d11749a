//! The official OpenAI Python SDK, streaming through `keypool run`, against an upstream
//! that breaks: it must raise, never report a clean stream with fewer chunks.
//!
//! Ignored by a plain `cargo test` because it needs `pip install openai`; `.ci/run`
//! installs it and runs the ignored tests too.

use crate::support;
use support::scenario::Scenario;

use std::process::Stdio;
use std::time::Duration;

use support::fault::{wire, Script};
use support::guard::Within;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

const GUARD: Duration = Duration::from_secs(30);

/// Streams twice, waiting for a line on stdin before the second; prints what happened.
const SCRIPT: &str = r#"
import sys, openai
client = openai.OpenAI(api_key="sk-placeholder", max_retries=0)
def stream(label):
    n = 0
    try:
        for c in client.chat.completions.create(
                model="gpt-4o", messages=[{"role": "user", "content": "hi"}], stream=True):
            n += 1
            print(label, "chunk", n, flush=True)
    except Exception as e:
        print(label, "raised", type(e).__name__, flush=True)
        return
    print(label, "clean", n, flush=True)
stream("before")
sys.stdin.readline()
stream("after")
"#;

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the openai Python package (.ci/run installs it)"]
async fn the_openai_sdk_raises_for_a_stream_that_breaks_before_or_after_its_first_event() {
    let s = Scenario::new()
        .fault(&["api.openai.com"])
        .await
        .keys("openai", &[("py", "sk-py")])
        .upstream_toml("read_timeout = \"1s\"");
    let fault = s.fault_server();
    // Before any event: headers, then silence past the read timeout (a 504 from keypool).
    fault.set("sk-py", Script::new().send(wire::sse_head()).hold());
    // `keypool run` is the command under test, so the test runs it itself.
    let cfg = s.write_config();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_keypool"))
        .env("KEYPOOL_HOME", s.home())
        .env_remove("SSL_CERT_FILE")
        .arg("--config")
        .arg(&cfg)
        .args(["run", "--", "python3", "-c", SCRIPT])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut seen = Vec::new();
    let mut next = async || {
        let line = tokio::time::timeout(GUARD, lines.next_line())
            .await
            .expect("the script printed nothing in time")
            .unwrap()
            .expect("the script ended early");
        seen.push(line.clone());
        line
    };
    assert_eq!(next().await, "before raised InternalServerError");

    // After the first event: a reset once the SDK has the first chunk.
    fault.set(
        "sk-py",
        Script::new()
            .send(wire::sse_head())
            .send(wire::chunk(wire::openai_event("Hel").as_bytes()))
            .hold()
            .reset(),
    );
    stdin
        .write_all(b"go\n")
        .within("the SDK script taking \"go\"")
        .await
        .unwrap();
    assert_eq!(next().await, "after chunk 1");
    fault.release();
    let last = next().await;
    assert!(
        last.starts_with("after raised "),
        "the SDK must raise for a broken stream, got: {last}"
    );
    let status = tokio::time::timeout(GUARD, child.wait())
        .await
        .expect("keypool run exits")
        .unwrap();
    assert_eq!(status.code(), Some(0));
}
