//! The real `keypool serve` binary as a child process: started (optionally under a
//! given open-file limit), its address read from its banner, its log collected, and
//! stopped with SIGTERM.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::proxy::{config_text, Settings};
use super::{FaultServer, Script};
use crate::support::ca::TestCa;
use crate::support::keypool::{key_account, write};

/// How long the binary may take to print its banner or a log line a test waits for.
const LINE_GUARD: Duration = Duration::from_secs(30);

pub struct Process {
    child: Child,
    pub addr: SocketAddr,
    lines: mpsc::Receiver<String>,
    log: Vec<String>,
}

impl Process {
    /// `keypool --config cfg serve` with `KEYPOOL_HOME=home` and `KEYPOOL_LOG=log`;
    /// `nofile` = `(soft, hard)` sets `RLIMIT_NOFILE` in the child before exec.
    pub fn serve(home: &Path, cfg: &Path, log: &str, nofile: Option<(u64, u64)>) -> Process {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_keypool"));
        cmd.env("KEYPOOL_HOME", home)
            .env("KEYPOOL_LOG", log)
            .env_remove("RUST_LOG")
            .arg("--config")
            .arg(cfg)
            .arg("serve")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
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
        let mut child = cmd.spawn().expect("spawn keypool");
        let (tx, lines) = mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut p = Process {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            lines,
            log: Vec::new(),
        };
        let banner = p.wait_line("listening on http://");
        let addr = banner.split("listening on http://").nth(1).unwrap().trim();
        p.addr = addr.parse().expect("banner address");
        p
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits for a log line containing `needle` and returns it; panics after the guard.
    pub fn wait_line(&mut self, needle: &str) -> String {
        if let Some(l) = self.log.iter().find(|l| l.contains(needle)) {
            return l.clone();
        }
        loop {
            match self.lines.recv_timeout(LINE_GUARD) {
                Ok(line) => {
                    self.log.push(line.clone());
                    if line.contains(needle) {
                        return line;
                    }
                }
                Err(_) => panic!(
                    "keypool logged no line with '{needle}' within {LINE_GUARD:?}; log:\n{}",
                    self.log.join("\n")
                ),
            }
        }
    }

    /// Whether the process is still running.
    pub fn alive(&mut self) -> bool {
        self.child.try_wait().expect("try_wait").is_none()
    }

    /// SIGTERM, then the exit code and the whole log. Blocks: call from
    /// `spawn_blocking` or a plain test.
    pub fn stop(mut self) -> (Option<i32>, String) {
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let status = self.child.wait().expect("wait for keypool");
        self.log.extend(self.lines.iter());
        (status.code(), self.log.join("\n"))
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        // A test that panicked must not leave keypool running.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `keypool serve` with `RLIMIT_NOFILE` = (soft, hard), one OpenAI account, every
/// :443 connection going to a fault server that answers normally.
pub async fn serve_limited(soft: u64, hard: u64) -> (Process, FaultServer, tempfile::TempDir) {
    let ca = TestCa::new();
    let fault = FaultServer::start(&ca, &["api.openai.com"]).await;
    fault.set("sk-fd", Script::ok_json());
    let home = tempfile::tempdir().unwrap();
    let ca_file = ca.write_pem(home.path());
    let text = config_text(
        &key_account("fd", "openai", "sk-fd"),
        fault.addr(),
        &ca_file,
        &Settings::default(),
        0,
    );
    let cfg = write(home.path(), "config.toml", &text);
    let p = Process::serve(home.path(), &cfg, "debug", Some((soft, hard)));
    (p, fault, home)
}

/// A reqwest client through `addr`, trusting the CA in `home`.
pub fn client_via(addr: std::net::SocketAddr, home: &std::path::Path) -> reqwest::Client {
    let ca = std::fs::read(home.join("certs/ca.pem")).unwrap();
    reqwest::Client::builder()
        .proxy(reqwest::Proxy::all(format!("http://{addr}")).unwrap())
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(&ca).unwrap())
        .build()
        .unwrap()
}

/// Opens `n` keep-alive connections to keypool, each answered once (`GET /`), so each
/// is an accepted, served and now idle connection keypool holds a descriptor for.
pub async fn idle_connections(addr: std::net::SocketAddr, n: usize) -> Vec<TcpStream> {
    let mut held = Vec::with_capacity(n);
    for i in 0..n {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(format!("GET / HTTP/1.1\r\nHost: {addr}\r\n\r\n").as_bytes())
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
