//! Giving freed heap back to the kernel after connections park. glibc's allocator keeps
//! memory a burst of connections freed, so a process that served 2,000 connections at
//! once would hold their buffers' worth of pages after they all went idle. `malloc_trim`
//! returns the free pages; it walks the heap, so it runs at most once a second, off the
//! async threads, and once more a second after the last park of a burst.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

/// The least time between two trims.
const EVERY: Duration = Duration::from_secs(1);

/// Milliseconds since [`epoch`] at the last trim (0: never).
static LAST: AtomicU64 = AtomicU64::new(0);
/// A trim is scheduled for when [`EVERY`] has passed since the last one.
static PENDING: AtomicBool = AtomicBool::new(false);

/// A connection has just released its buffers: trim now, or once the last trim is
/// [`EVERY`] old. Must be called within a tokio runtime.
pub fn after_release() {
    if !cfg!(all(target_os = "linux", target_env = "gnu")) {
        return;
    }
    let now = since_epoch();
    let last = LAST.load(Ordering::Relaxed);
    let every = EVERY.as_millis() as u64;
    if now.saturating_sub(last) >= every
        && LAST
            .compare_exchange(last, now.max(1), Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
    {
        tokio::task::spawn_blocking(trim);
        return;
    }
    if PENDING.swap(true, Ordering::Relaxed) {
        return; // one is scheduled already
    }
    let wait = Duration::from_millis(every.saturating_sub(now.saturating_sub(last)));
    tokio::spawn(async move {
        tokio::time::sleep(wait).await;
        PENDING.store(false, Ordering::Relaxed);
        LAST.store(since_epoch().max(1), Ordering::Relaxed);
        let _ = tokio::task::spawn_blocking(trim).await;
    });
}

fn trim() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim takes no pointers; it only returns free pages of the heap.
    unsafe {
        libc::malloc_trim(0);
    }
}

fn epoch() -> &'static std::time::Instant {
    static EPOCH: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    EPOCH.get_or_init(std::time::Instant::now)
}

fn since_epoch() -> u64 {
    u64::try_from(epoch().elapsed().as_millis()).unwrap_or(u64::MAX)
}
