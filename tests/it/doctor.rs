//! `keypool doctor` against the runtimes of this machine and a deliberately broken
//! environment, and the reserved path it relies on, answered by keypool without upstream.

use crate::support;

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Output;
use support::binary::keypool;
use support::guard::{OutputWithin, Within};
use support::keypool::write;
use support::raw_client::{basic, exchange};
use support::scenario::Scenario;

/// `keypool doctor --json` on a fresh home with no keypool running, `path_front`
/// (if any) ahead of PATH.
fn doctor(home: &Path, path_front: Option<&Path>) -> (Output, Value) {
    let cfg = write(home, "config.toml", "listen = \"127.0.0.1:0\"\n");
    let mut cmd = keypool(home);
    cmd.arg("--config").arg(&cfg).args(["doctor", "--json"]);
    if let Some(front) = path_front {
        let path = std::env::var("PATH").unwrap_or_default();
        cmd.env("PATH", format!("{}:{path}", front.display()));
    }
    let out = cmd.output_within();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let report = serde_json::from_str(&text).unwrap_or_else(|e| {
        panic!(
            "doctor --json is not JSON ({e}):\n{text}\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out, report)
}

fn line<'a>(report: &'a Value, check: &str) -> &'a Value {
    report["lines"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["check"] == check)
        .unwrap_or_else(|| panic!("no {check} line in {report:#}"))
}

/// `name` on the test's PATH.
fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

fn node_major_minor() -> Option<(u32, u32)> {
    let out = std::process::Command::new(which("node")?)
        .arg("--version")
        .output_within();
    let v = String::from_utf8_lossy(&out.stdout);
    let mut parts = v.trim().trim_start_matches('v').split('.');
    Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
}

#[test]
fn doctor_checks_the_runtimes_of_this_machine() {
    let home = tempfile::tempdir().unwrap();
    let (out, report) = doctor(home.path(), None);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        line(&report, "listen")["detail"]
            .as_str()
            .unwrap()
            .contains("doctor started its own proxy"),
        "{report:#}"
    );
    assert_eq!(line(&report, "ca")["verdict"], "ok", "{report:#}");
    assert_eq!(line(&report, "ca constraints")["verdict"], "ok");
    // curl is on every machine the suite runs on: through keypool, and the variables
    // that did it found by leaving each out.
    let curl = line(&report, "curl");
    assert_eq!(curl["verdict"], "ok", "{report:#}\n{stderr}");
    assert_eq!(curl["class"], "passed");
    assert!(curl["needs"]
        .as_array()
        .unwrap()
        .iter()
        .any(|v| v == "CURL_CA_BUNDLE"));
    let python = line(&report, "python3+requests");
    if which("python3").is_some() && python["verdict"] != "note" {
        assert_eq!(python["verdict"], "ok", "{report:#}");
    }
    let node_fails = match node_major_minor() {
        Some((major, minor)) if major < 22 || (major == 22 && minor < 21) || major == 23 => {
            let node = line(&report, "node");
            assert_eq!(node["verdict"], "fail", "{report:#}");
            assert_eq!(node["class"], "proxy_ignored");
            let fix = node["fix"].as_str().unwrap();
            assert!(fix.contains("upgrade Node to 22.21"), "{fix}");
            assert!(fix.contains("EnvHttpProxyAgent"), "{fix}");
            true
        }
        Some(_) => line(&report, "node")["verdict"] == "fail",
        None => {
            println!("SKIPPED node's assertions: node is not on PATH");
            false
        }
    };
    assert_eq!(report["ok"], !node_fails);
    assert_eq!(out.status.code(), Some(if node_fails { 1 } else { 0 }));
    // doctor's own proxy keeps to a scratch home: the user's state is not touched.
    assert!(!home.path().join("state.json").exists());
    let log = std::fs::read_to_string(home.path().join("keypool.log")).unwrap();
    assert!(log.contains("/_keypool/doctor/"), "{log}");
    assert!(!stderr.contains("/_keypool/doctor/"), "{stderr}");
}

#[test]
fn a_broken_environment_is_diagnosed_with_the_right_class_and_fix() {
    let Some(real_curl) = which("curl") else {
        println!("SKIPPED: curl is not on PATH");
        return;
    };
    let home = tempfile::tempdir().unwrap();
    let bin = tempfile::tempdir().unwrap();
    // A curl that trusts another CA than keypool's, and a node that never reaches the
    // proxy (as a Node without proxy support, offline, fails).
    let other = support::TestCa::new().write_pem(bin.path());
    let script = |name: &str, body: String| {
        let p = bin.path().join(name);
        std::fs::write(&p, body).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
    };
    script(
        "curl",
        format!(
            "#!/bin/sh\nexec {} --cacert {} \"$@\"\n",
            real_curl.display(),
            other.display()
        ),
    );
    script(
        "node",
        concat!(
            "#!/bin/sh\n",
            "if [ \"$1\" = --version ]; then echo v24.1.0; exit 0; fi\n",
            "echo 'TypeError: fetch failed ECONNREFUSED' >&2\nexit 1\n"
        )
        .to_string(),
    );
    let (out, report) = doctor(home.path(), Some(bin.path()));
    assert_eq!(out.status.code(), Some(1), "{report:#}");
    assert_eq!(report["ok"], false);
    let curl = line(&report, "curl");
    assert_eq!(curl["verdict"], "fail", "{report:#}");
    assert_eq!(curl["class"], "ca_not_trusted");
    let bundle = home.path().join("certs/bundle.pem");
    assert_eq!(
        curl["fix"].as_str().unwrap(),
        format!(
            "export CURL_CA_BUNDLE={0} (or pass --cacert {0})",
            bundle.display()
        )
    );
    let node = line(&report, "node");
    assert_eq!(node["verdict"], "fail");
    assert_eq!(node["class"], "proxy_ignored");
    assert_eq!(node["version"], "v24.1.0");
    // A Node that has proxy support is told to check NODE_USE_ENV_PROXY, not to upgrade.
    let fix = node["fix"].as_str().unwrap();
    assert!(fix.contains("NODE_USE_ENV_PROXY=1"), "{fix}");
    assert!(!fix.contains("upgrade"), "{fix}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_reserved_path_is_answered_without_any_upstream() {
    let mut s = Scenario::new()
        .provider(&["api.anthropic.com"])
        .await
        .ok(&["sk-ant-doctor"])
        .keys("anthropic", &[("a", "sk-ant-doctor")])
        .config("[clients.work]\npools = [\"anthropic\"]\n");
    let kp = s.start().await;
    let r = kp
        .client()
        .get("https://api.anthropic.com/_keypool/doctor/n-1.x")
        .send()
        .within("keypool's doctor answer over the interception")
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/json");
    assert_eq!(r.headers()["x-keypool-doctor"], "n-1.x");
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["doctor"], "n-1.x");
    assert_eq!(v["intercepted"], true);
    assert_eq!(v["keypool"], env!("CARGO_PKG_VERSION"));
    assert_eq!(v["client"], Value::Null);

    // Plain HTTP through the proxy (absolute form), naming a client: answered the same,
    // not intercepted, and the plain-HTTP refusal does not apply.
    let req = format!(
        concat!(
            "GET http://api.anthropic.com/_keypool/doctor/plain42/info/refs HTTP/1.1\r\n",
            "Host: api.anthropic.com\r\nProxy-Authorization: {}\r\nConnection: close\r\n\r\n"
        ),
        basic("work:")
    );
    let a = exchange(kp.addr(), req.as_bytes()).await;
    assert_eq!(a.status, 200, "{}", a.body);
    let v: Value = serde_json::from_str(&a.body).unwrap();
    assert_eq!(v["doctor"], "plain42");
    assert_eq!(v["intercepted"], false);
    assert_eq!(v["client"], "work");

    // Only a GET with a well-formed nonce: anything else goes its usual way.
    let post = kp
        .client()
        .post("https://api.anthropic.com/_keypool/doctor/n2")
        .send()
        .within("a POST to the reserved path")
        .await
        .unwrap();
    assert!(post.headers().get("x-keypool-doctor").is_none());
    let long = format!(
        "https://api.anthropic.com/_keypool/doctor/{}",
        "a".repeat(65)
    );
    let r = kp
        .client()
        .get(long)
        .send()
        .within("a long nonce")
        .await
        .unwrap();
    assert!(r.headers().get("x-keypool-doctor").is_none());
    // The doctor answers reached no upstream; the two others did.
    let seen: Vec<String> = s.fake().seen().iter().map(|r| r.path.clone()).collect();
    assert!(
        seen.iter()
            .all(|p| !p.contains("n-1.x") && !p.contains("plain42")),
        "{seen:?}"
    );
}
