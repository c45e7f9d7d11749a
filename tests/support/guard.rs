//! A bound on every network wait in the tests: a regression that makes keypool hold a
//! byte back (buffered SSE, a lost wake-up, a connection never closed) fails the test
//! that waited, naming what it waited for, instead of hanging the whole run.

use std::future::{Future, IntoFuture};
use std::time::Duration;

/// Long enough for a loaded 2-core CI machine, short enough that a hang fails well
/// inside nextest's per-test limit.
pub const WAIT: Duration = Duration::from_secs(20);

/// `.within("the first SSE event")` on anything awaited over the network.
pub trait Within: IntoFuture + Sized {
    /// Awaits `self` for at most [`WAIT`]; panics naming `what` when it takes longer.
    fn within(self, what: &str) -> impl Future<Output = Self::Output> {
        self.within_for(WAIT, what)
    }

    /// Like [`Within::within`] with a bound of the caller's choosing.
    fn within_for(self, bound: Duration, what: &str) -> impl Future<Output = Self::Output> {
        let what = what.to_owned();
        async move {
            match tokio::time::timeout(bound, self.into_future()).await {
                Ok(out) => out,
                Err(_) => panic!("waited {bound:?} for {what}; it never came"),
            }
        }
    }
}

impl<F: IntoFuture> Within for F {}

/// Test clients give up on their own after this, so a request not wrapped in
/// [`Within`] still fails rather than hangs.
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(30);
