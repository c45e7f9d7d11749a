//! The real `keypool serve` binary as a child process: started (optionally under a
//! given open-file limit), its address read from its banner, its log collected, and
//! stopped with SIGTERM.

use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::{FaultServer, Script};
use crate::support::binary::Served;
use crate::support::guard::Within;
use crate::support::scenario::{Scenario, Spawned};

/// How long a test waits for an answer on a connection it holds.
const LINE_GUARD: Duration = Duration::from_secs(30);

/// `keypool serve` as [`Served`] runs it, with a log filter and optionally an open-file
/// limit of its own.
pub struct Process {
    served: Served,
    pub addr: SocketAddr,
}

impl Process {
    /// `keypool serve` on `scenario`'s config with `KEYPOOL_LOG=log`; `nofile` =
    /// `(soft, hard)` sets `RLIMIT_NOFILE` in the child before exec. The home it runs in
    /// comes back beside it, to read and to keep until the process is done.
    pub async fn spawn(
        scenario: &mut Scenario,
        log: &str,
        nofile: Option<(u64, u64)>,
    ) -> (Process, tempfile::TempDir) {
        let Spawned { served, home, .. } =
            scenario.spawn_with(|cmd, _| limit(cmd, log, nofile)).await;
        let addr = served.addr.parse().expect("banner address");
        (Process { served, addr }, home)
    }

    pub fn pid(&self) -> u32 {
        self.served.pid()
    }

    /// Waits for a log line containing `needle` and returns it; panics after the guard.
    pub fn wait_line(&mut self, needle: &str) -> String {
        self.served.line_with(needle)
    }

    /// Whether the process is still running.
    pub fn alive(&mut self) -> bool {
        self.served.alive()
    }

    /// SIGTERM, then the exit code and the whole log. Blocks: call from
    /// `spawn_blocking` or a plain test.
    pub fn stop(self) -> (Option<i32>, String) {
        self.served.stop()
    }
}

/// Starts `keypool serve` with `RLIMIT_NOFILE` = (soft, hard), one OpenAI account, every
/// :443 connection going to a fault server that answers normally.
pub async fn serve_limited(soft: u64, hard: u64) -> (Process, FaultServer, tempfile::TempDir) {
    let s = Scenario::new().fault(&["api.openai.com"]).await;
    s.fault_server().set("sk-fd", Script::ok_json());
    let mut s = s.keys("openai", &[("fd", "sk-fd")]);
    let (p, home) = Process::spawn(&mut s, "debug", Some((soft, hard))).await;
    (p, s.take_fault(), home)
}

/// `KEYPOOL_LOG=log`, no stdin or stdout, and the open-file limit if any.
fn limit(cmd: &mut Command, log: &str, nofile: Option<(u64, u64)>) {
    cmd.env("KEYPOOL_LOG", log)
        .stdin(Stdio::null())
        .stdout(Stdio::null());
    if let Some((soft, hard)) = nofile {
        use std::os::unix::process::CommandExt;
        // SAFETY: setrlimit(2) is async-signal-safe, and this closure touches
        // nothing else between fork and exec.
        unsafe {
            cmd.pre_exec(move || {
                let lim = libc::rlimit {
                    rlim_cur: soft as libc::rlim_t,
                    rlim_max: hard as libc::rlim_t,
                };
                if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
}

/// A reqwest client through `addr`, trusting the CA in `home`.
pub fn client_via(addr: std::net::SocketAddr, home: &std::path::Path) -> reqwest::Client {
    let ca = std::fs::read(home.join("certs/ca.pem")).unwrap();
    crate::support::client_http::through_keypool(reqwest::Client::builder())
        .proxy(reqwest::Proxy::all(format!("http://{addr}")).unwrap())
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(&ca).unwrap())
        .timeout(crate::support::guard::CLIENT_TIMEOUT)
        .build()
        .unwrap()
}

/// Opens `n` keep-alive connections to keypool, each answered once (`GET /`), so each
/// is an accepted, served and now idle connection keypool holds a descriptor for.
pub async fn idle_connections(addr: std::net::SocketAddr, n: usize) -> Vec<TcpStream> {
    let mut held = Vec::with_capacity(n);
    for i in 0..n {
        let mut s = TcpStream::connect(addr)
            .within(&format!("keypool accepting idle connection {i}"))
            .await
            .unwrap();
        s.write_all(format!("GET / HTTP/1.1\r\nHost: {addr}\r\n\r\n").as_bytes())
            .within(&format!("keypool taking GET / on connection {i}"))
            .await
            .unwrap();
        let mut buf = vec![0u8; 4096];
        let got = tokio::time::timeout(LINE_GUARD, s.read(&mut buf))
            .await
            .unwrap_or_else(|_| {
                panic!("connection {i} got no answer: keypool is out of descriptors")
            })
            .unwrap();
        assert!(
            buf[..got].starts_with(b"HTTP/1.1 200"),
            "connection {i}: {}",
            String::from_utf8_lossy(&buf[..got])
        );
        held.push(s);
    }
    held
}
