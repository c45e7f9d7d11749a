//! The real binary started under a low soft open-file limit raises it to the hard limit,
//! logs the figure at debug, and then holds more idle client connections than the old
//! soft limit allowed while still serving a real request through an intercepted tunnel.

use crate::support;

use std::time::Duration;

use support::fault::process::{client_via, idle_connections, serve_limited};
use support::keypool::openai_chat;

const GUARD: Duration = Duration::from_secs(30);

/// The soft and hard "Max open files" of `pid`, from /proc.
fn limits_of(pid: u32) -> (u64, u64) {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .expect("a Max open files line");
    let nums: Vec<u64> = line
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    (nums[0], nums[1])
}

#[tokio::test(flavor = "multi_thread")]
async fn a_low_soft_limit_is_raised_and_more_connections_than_it_allowed_are_served() {
    let (mut p, fault, home) = serve_limited(256, 4096).await;
    assert_eq!(limits_of(p.pid()), (4096, 4096));
    let line = p.wait_line("open-file limit raised");
    assert!(line.contains("from 256 to 4096"), "{line}");

    let held = idle_connections(p.addr, 300).await;
    let open_fds = std::fs::read_dir(format!("/proc/{}/fd", p.pid()))
        .unwrap()
        .count();
    assert!(open_fds > 300, "keypool holds {open_fds} descriptors");
    let r = tokio::time::timeout(GUARD, openai_chat(&client_via(p.addr, home.path())))
        .await
        .expect("a request with 300 idle connections open");
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-keypool-account"], "fd");
    assert_eq!(fault.credentials_seen(), vec!["sk-fd"]);
    drop(held);
    let (code, _) = tokio::task::spawn_blocking(move || p.stop()).await.unwrap();
    assert_eq!(code, Some(0));
}
