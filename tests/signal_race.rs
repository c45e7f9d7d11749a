//! `keypool serve` handles SIGHUP from the moment its port answers: a reload sent by a
//! supervisor (or a test) right after start reloads instead of killing the process with
//! the default disposition (exit 129).

#![cfg(unix)]

mod support;

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use support::binary::keypool_with;

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

fn stderr_lines(child: &mut Child) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    let err = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(err).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// The exit code once `child` exits; fails the test if it outlives the patience.
fn exit_code(child: &mut Child) -> Option<i32> {
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status.code();
        }
        assert!(
            Instant::now() < deadline,
            "keypool did not exit after SIGTERM"
        );
        // Polling a pid has no event to wait on; the exit, not this pause, decides.
        std::thread::sleep(Duration::from_millis(10));
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
        let lines = stderr_lines(child);
        first_answer(child, addr);
        signal(child, libc::SIGHUP);

        let mut log = Vec::new();
        let deadline = Instant::now() + PATIENCE;
        while !log
            .iter()
            .any(|l: &String| l.contains("keypool: reloaded "))
        {
            let left = deadline.saturating_duration_since(Instant::now());
            match lines.recv_timeout(left) {
                Ok(line) => log.push(line),
                Err(_) => {
                    let status = child.try_wait().unwrap();
                    panic!(
                        "start {start}: no reload after SIGHUP (exit: {status:?}); stderr:\n{}",
                        log.join("\n")
                    );
                }
            }
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "start {start}: keypool exited after the reload:\n{}",
            log.join("\n")
        );
        signal(child, libc::SIGTERM);
        assert_eq!(
            exit_code(child),
            Some(0),
            "start {start}:\n{}",
            log.join("\n")
        );
    }
}
