//! Reloading the config (SIGHUP, `keypool reload`, `POST /_keypool/reload`): new accounts
//! serve new requests, what was learned about kept accounts stays, open connections stay
//! open, and a config with an error is refused while the running one keeps serving.

use crate::support;

use serde_json::{json, Value};
use std::time::{Duration, Instant};
use support::binary::keypool_with;
use support::guard::{OutputWithin, Within, CLIENT_TIMEOUT};
use support::keypool::status_json;
use support::scenario::Scenario;

fn account(name: &str, key: &str) -> String {
    support::keypool::key_account(name, "openai", key)
}

fn admin() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(CLIENT_TIMEOUT)
        .build()
        .unwrap()
}

fn names(v: &Value) -> Vec<String> {
    v["pools"][0]["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn reload_takes_new_accounts_keeps_learned_state_and_refuses_a_bad_file() {
    let mut s = Scenario::new()
        .provider(&["api.openai.com"])
        .await
        .limited("sk-a", 3600)
        .ok(&["sk-b", "sk-c"])
        .accounts(&(account("a", "sk-a") + &account("b", "sk-b")))
        .reloadable();
    let mut kp = s.start().await;
    let fake = s.fake();
    let addr = kp.addr();
    let cfg = kp.config_path();

    // One TLS connection through keypool, kept open across the reload.
    let pem = kp.ca_pem();
    let client = crate::support::client_http::through_keypool(reqwest::Client::builder())
        .proxy(reqwest::Proxy::all(format!("http://{addr}")).unwrap())
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(pem.as_bytes()).unwrap())
        .pool_max_idle_per_host(1)
        .timeout(CLIENT_TIMEOUT)
        .build()
        .unwrap();
    let chat = || async {
        client
            .post("https://api.openai.com/v1/chat/completions")
            .bearer_auth("sk-placeholder")
            .json(&json!({"model": "gpt-4o", "messages": []}))
            .send()
            .within("the answer to a chat request on the kept connection")
            .await
            .unwrap()
    };
    for _ in 0..2 {
        assert_eq!(chat().await.status(), 200);
    }
    let before = status_json(addr).await;
    assert_eq!(names(&before), ["a", "b"]);
    assert_eq!(before["pools"][0]["accounts"][0]["state"], "cooling");

    // A third account; 'a' and 'b' unchanged.
    kp.rewrite_accounts(&(account("a", "sk-a") + &account("b", "sk-b") + &account("c", "sk-c")));
    let r = admin()
        .post(format!("http://{addr}/_keypool/reload"))
        .header("content-type", "application/json")
        .send()
        .within("keypool's answer to POST /_keypool/reload")
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let after = status_json(addr).await;
    assert_eq!(names(&after), ["a", "b", "c"]);
    let a = &after["pools"][0]["accounts"][0];
    assert_eq!(
        a["state"], "cooling",
        "a cooldown is not forgotten by a reload"
    );
    assert_eq!(a["requests"], before["pools"][0]["accounts"][0]["requests"]);
    for _ in 0..4 {
        assert_eq!(chat().await.status(), 200, "the same client keeps working");
    }
    assert!(fake.credentials_seen().contains(&"sk-c".to_string()));
    assert_eq!(
        fake.credentials_seen()
            .iter()
            .filter(|c| *c == "sk-a")
            .count(),
        1,
        "the cooling account is still skipped"
    );

    // A broken file: refused with the line and the fix; the running config keeps serving.
    std::fs::write(
        &cfg,
        "[[accounts]]\nname = \"x\"\nprovider = \"opnai\"\napi_key = \"k\"\n",
    )
    .unwrap();
    let r = admin()
        .post(format!("http://{addr}/_keypool/reload"))
        .header("content-type", "application/json")
        .send()
        .within("keypool's answer to POST /_keypool/reload of a broken file")
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let v: Value = r
        .json()
        .within("the body of the refused reload")
        .await
        .unwrap();
    let e = v["error"].as_str().unwrap();
    assert!(
        e.contains("config.toml:3: unknown provider 'opnai'")
            && e.contains("did you mean 'openai'"),
        "{e}"
    );
    assert!(e.contains("the running config is kept"), "{e}");
    assert_eq!(names(&status_json(addr).await), ["a", "b", "c"]);
    assert_eq!(chat().await.status(), 200);
    kp.kp
        .proxy
        .shutdown()
        .within("keypool's shutdown drain")
        .await;
}

#[cfg(unix)]
#[tokio::test]
async fn sighup_and_keypool_reload_read_the_file_again() {
    let mut spawned = Scenario::new()
        .accounts(&account("a", "sk-a"))
        .spawn()
        .await;
    let cfg = spawned.home.path().join("config.toml");
    let addr = spawned.addr();
    // The file from here on names the address the banner gave (`keypool reload` finds
    // the running keypool there).
    let listen = format!("listen = \"{addr}\"\n");
    let bin = |args: &[&str]| {
        let mut c = keypool_with(spawned.home.path(), &cfg);
        c.args(args);
        c
    };
    let wait_for = |want: Vec<&'static str>| async move {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(r) = admin()
                .get(format!("http://{addr}/_keypool/status"))
                .send()
                .within(&format!(
                    "keypool's status answer while waiting for {want:?}"
                ))
                .await
            {
                if let Ok(v) = r
                    .json::<Value>()
                    .within(&format!(
                        "the body of keypool's status answer while waiting for {want:?}"
                    ))
                    .await
                {
                    if names(&v) == want {
                        return;
                    }
                }
            }
            assert!(Instant::now() < deadline, "status never showed {want:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    wait_for(vec!["a"]).await;

    std::fs::write(
        &cfg,
        format!("{listen}{}{}", account("a", "sk-a"), account("b", "sk-b")),
    )
    .unwrap();
    let pid = spawned.served.pid() as i32;
    // SAFETY: sending a signal to our own child process.
    unsafe { libc::kill(pid, libc::SIGHUP) };
    wait_for(vec!["a", "b"]).await;

    // A broken file on SIGHUP: refused (said on stderr), the running config kept.
    std::fs::write(&cfg, format!("{listen}[[accounts]]\nname = \"a\"\n")).unwrap();
    unsafe { libc::kill(pid, libc::SIGHUP) };
    let refused = spawned.served.line_with("reload refused");
    assert!(refused.contains("missing field `provider`"), "{refused}");
    assert_eq!(names(&status_json(addr).await), ["a", "b"]);

    let out = bin(&["reload"]).output_within();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("reload refused") && err.contains("config.toml:2:1: missing field `provider`"),
        "{err}"
    );
    assert_eq!(names(&status_json(addr).await), ["a", "b"]);

    std::fs::write(&cfg, format!("{listen}{}", account("b", "sk-b"))).unwrap();
    let out = bin(&["reload"]).output_within();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("reloaded"));
    assert_eq!(names(&status_json(addr).await), ["b"]);
}
