//! `keypool serve` handles SIGHUP from the moment its port answers: a reload sent by a
//! supervisor (or a test) right after start reloads instead of killing the process with
//! the default disposition (exit 129).

#![cfg(unix)]

use crate::support;

use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};
use support::binary::keypool_with;
use support::guard::{wait_child, LinesWithin};

/// Starts in a row; the race, when it was there, lost more than half of them under load.
const STARTS: usize = 25;
const PATIENCE: Duration = Duration::from_secs(20);

/// Kills the child when a failed assertion unwinds, so no proxy is left behind.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// Connects until `addr` accepts, failing the test if `child` exits first or the
/// patience runs out.
fn first_answer(child: &mut Child, addr: SocketAddr) {
    let deadline = Instant::now() + PATIENCE;
    loop {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return;
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("keypool serve exited ({status}) before its port answered");
        }
        assert!(Instant::now() < deadline, "{addr} never answered");
        std::thread::yield_now();
    }
}

fn signal(child: &Child, sig: libc::c_int) {
    // SAFETY: kill(2) on our own child's pid.
    unsafe { libc::kill(child.id() as i32, sig) };
}

#[test]
fn sighup_as_soon_as_the_port_answers_reloads_instead_of_killing() {
    let home = tempfile::tempdir().unwrap();
    let cfg = home.path().join("config.toml");
    for start in 0..STARTS {
        let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        std::fs::write(&cfg, format!("listen = \"{addr}\"\n")).unwrap();
        let mut guard = KillOnDrop(
            keypool_with(home.path(), &cfg)
                .arg("serve")
                .stderr(Stdio::piped())
                .spawn()
                .unwrap(),
        );
        let child = &mut guard.0;
        let lines = LinesWithin::of(child.stderr.take().unwrap());
        first_answer(child, addr);
        signal(child, libc::SIGHUP);

        let mut log = Vec::new();
        while !log
            .iter()
            .any(|l: &String| l.contains("keypool: reloaded "))
        {
            match lines.next_within("the reload SIGHUP asks for") {
                Some(line) => log.push(line),
                None => panic!(
                    "start {start}: keypool exited on SIGHUP ({:?}); stderr:\n{}",
                    child.try_wait().unwrap(),
                    log.join("\n")
                ),
            }
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "start {start}: keypool exited after the reload:\n{}",
            log.join("\n")
        );
        signal(child, libc::SIGTERM);
        assert_eq!(
            wait_child(child, PATIENCE, "keypool exiting on SIGTERM").code(),
            Some(0),
            "start {start}:\n{}",
            log.join("\n")
        );
    }
}
