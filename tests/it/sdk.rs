//! The official Python SDKs, unmodified, under `keypool run`: proxy variables, the CA
//! bundle and the credential swap as a real client experiences them.
//!
//! Ignored by a plain `cargo test` because they need `pip install openai anthropic`;
//! `.ci/run` installs both and runs the ignored tests too.

use crate::support;

use std::time::Duration;
use support::binary::keypool_with;
use support::guard::output_within;
use support::scenario::Scenario;

const SCRIPT: &str = r#"
import anthropic, openai
client = openai.OpenAI(api_key="sk-placeholder")
raw = client.chat.completions.with_raw_response.create(
    model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
print("openai", raw.headers["x-keypool-account"], raw.parse().choices[0].message.content)
stream = client.chat.completions.create(
    model="gpt-4o", messages=[{"role": "user", "content": "hi"}], stream=True)
print("stream", "".join(c.choices[0].delta.content or "" for c in stream if c.choices))
claude = anthropic.Anthropic(api_key="sk-ant-placeholder")
with claude.messages.stream(model="claude-sonnet-4-5", max_tokens=16,
                            messages=[{"role": "user", "content": "hi"}]) as s:
    print("anthropic", s.get_final_text())
"#;

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the openai and anthropic Python packages (.ci/run installs them)"]
async fn openai_and_anthropic_python_sdks_work_unmodified() {
    let s = Scenario::new()
        .provider(&["api.openai.com", "api.anthropic.com"])
        .await
        .limited("sk-py-limited", 30)
        .ok(&["sk-py-good", "sk-ant-py"])
        .keys(
            "openai",
            &[("limited", "sk-py-limited"), ("good", "sk-py-good")],
        )
        .keys("anthropic", &[("claude", "sk-ant-py")]);
    // The config's [upstream] sends :443 to the fake and trusts the scenario's CA.
    let mut cmd = keypool_with(s.home(), &s.write_config());
    cmd.env_remove("SSL_CERT_FILE")
        .args(["run", "--", "python3", "-c", SCRIPT]);
    // Python and two SDKs start slowly on a loaded machine: a longer bound than WAIT.
    let out = tokio::task::spawn_blocking(move || {
        output_within(
            &mut cmd,
            Duration::from_secs(60),
            "the SDK script run through keypool to exit",
        )
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(
        stdout.contains("openai good Hello from the fake provider."),
        "{stdout}"
    );
    assert!(
        stdout.contains("stream Hello from the fake provider."),
        "{stdout}"
    );
    assert!(
        stdout.contains("anthropic Hello from the fake provider."),
        "{stdout}"
    );
    let creds = s.fake().credentials_seen();
    assert_eq!(
        creds,
        vec!["sk-py-limited", "sk-py-good", "sk-py-good", "sk-ant-py"]
    );
}
