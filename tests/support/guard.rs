//! A bound on every network wait in the tests: a regression that makes keypool hold a
//! byte back (buffered SSE, a lost wake-up, a connection never closed) fails the test
//! that waited, naming what it waited for, instead of hanging the whole run.

use std::future::{Future, IntoFuture};
use std::io::Read;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
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
