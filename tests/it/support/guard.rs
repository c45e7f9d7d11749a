//! A bound on every network wait in the tests: a regression that makes keypool hold a
//! byte back (buffered SSE, a lost wake-up, a connection never closed) fails the test
//! that waited, naming what it waited for, instead of hanging the whole run.

use std::future::{Future, IntoFuture};
use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Long enough for a loaded 2-core CI machine, short enough that a hang fails well
/// inside nextest's per-test limit.
pub const WAIT: Duration = Duration::from_secs(20);

/// `.within("the first SSE event")` on anything awaited over the network.
pub trait Within: IntoFuture + Sized {
    /// Awaits `self` for at most [`WAIT`]; panics naming `what` when it takes longer.
    #[track_caller]
    fn within(self, what: &str) -> impl Future<Output = Self::Output> {
        self.within_for(WAIT, what)
    }

    /// Like [`Within::within`] with a bound of the caller's choosing.
    #[track_caller]
    fn within_for(self, bound: Duration, what: &str) -> impl Future<Output = Self::Output> {
        let what = what.to_owned();
        // The panic comes from inside this future; the caller's line says which wait.
        let at = std::panic::Location::caller();
        async move {
            match tokio::time::timeout(bound, self.into_future()).await {
                Ok(out) => out,
                Err(_) => panic!("waited {bound:?} for {what}; it never came ({at})"),
            }
        }
    }
}

impl<F: IntoFuture> Within for F {}

/// Test clients give up on their own after this, so a request not wrapped in
/// [`Within`] still fails rather than hangs.
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(30);

/// The blocking counterpart of [`Within`] for a `std::process::Child`: waits at most
/// `bound` for it to exit; past that, kills it (a hung keypool must not outlive the
/// test) and panics naming `what`.
pub fn wait_child(child: &mut Child, bound: Duration, what: &str) -> ExitStatus {
    let deadline = Instant::now() + bound;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait on a child") {
            return status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("waited {bound:?} for {what}; it never came");
        }
        // Polling only paces the check; the deadline alone decides.
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// `cmd.output()` bounded by `bound`: stdin is /dev/null (as `output()` gives by
/// default), stdout and stderr are collected; a process still running at the bound is
/// killed and the test panics naming `what`.
pub fn output_within(cmd: &mut Command, bound: Duration, what: &str) -> Output {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the command");
    let stdout = drain(child.stdout.take().expect("piped stdout"));
    let stderr = drain(child.stderr.take().expect("piped stderr"));
    let status = wait_child(&mut child, bound, what);
    Output {
        status,
        stdout: stdout.join().expect("stdout reader"),
        stderr: stderr.join().expect("stderr reader"),
    }
}

/// Reads `pipe` to its end on a thread, so a full pipe never blocks the child.
fn drain(mut pipe: impl Read + Send + 'static) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut out = Vec::new();
        let _ = pipe.read_to_end(&mut out);
        out
    })
}

/// `cmd.output()` with [`WAIT`], for the short-lived commands tests run: the panic names
/// the command line, e.g. "`keypool --config … accounts list` to exit". Arguments that
/// are not plain words or flags (paths, keys) show as `…`, so no secret reaches it.
pub trait OutputWithin {
    fn output_within(&mut self) -> Output;
}

impl OutputWithin for Command {
    fn output_within(&mut self) -> Output {
        let what = format!("`{}` to exit", command_line(self));
        output_within(self, WAIT, &what)
    }
}

fn command_line(cmd: &Command) -> String {
    let program = std::path::Path::new(cmd.get_program())
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let plain = |a: &str| {
        !a.is_empty()
            && a.chars()
                .all(|c| c.is_ascii_lowercase() || c == '-' || c == '.')
    };
    let args = cmd.get_args().map(|a| match a.to_str() {
        Some(a) if plain(a) => a.to_owned(),
        _ => "…".to_owned(),
    });
    std::iter::once(program)
        .chain(args)
        .collect::<Vec<_>>()
        .join(" ")
}

/// The lines of a child's pipe, read on a thread, so a test waits for one with a bound
/// instead of blocking on the pipe.
pub struct LinesWithin {
    lines: mpsc::Receiver<String>,
}

impl LinesWithin {
    pub fn of(pipe: impl Read + Send + 'static) -> LinesWithin {
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        LinesWithin { lines }
    }

    /// The next line, or `None` once the pipe closed; panics naming `what` when none
    /// comes within [`WAIT`].
    pub fn next_within(&self, what: &str) -> Option<String> {
        match self.lines.recv_timeout(WAIT) {
            Ok(line) => Some(line),
            Err(mpsc::RecvTimeoutError::Disconnected) => None,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                panic!("waited {WAIT:?} for {what}; it never came")
            }
        }
    }
}
