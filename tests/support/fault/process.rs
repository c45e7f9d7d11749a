//! The real `keypool serve` binary as a child process: started (optionally under a
//! given open-file limit), its address read from its banner, its log collected, and
//! stopped with SIGTERM.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

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
