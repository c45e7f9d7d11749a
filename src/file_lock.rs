//! The advisory lock native CLIs take before they refresh tokens, so keypool and they
//! never redeem the same rotating refresh token twice.
//!
//! Claude Code and pi use the npm package `proper-lockfile`: the lock on `TARGET` is the
//! directory `TARGET.lock`, created with `mkdir` (atomic), kept fresh by touching its
//! mtime, and taken over when its mtime is older than 10 s (its holder died). keypool
//! speaks the same protocol, so it excludes them and they exclude it.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant, SystemTime};

/// proper-lockfile's default `stale`: a lock untouched this long is abandoned.
const STALE: Duration = Duration::from_secs(10);
/// How often a held lock's mtime is refreshed (proper-lockfile uses stale / 2).
const TOUCH_EVERY: Duration = Duration::from_secs(5);
const POLL: Duration = Duration::from_millis(50);

/// A held lock; dropping it releases the lock.
#[derive(Debug)]
pub struct LockGuard {
    dir: PathBuf,
    stop: Option<mpsc::Sender<()>>,
    toucher: Option<thread::JoinHandle<()>>,
}

/// The lock directory that guards `target`.
pub fn lock_dir(target: &Path) -> PathBuf {
    let mut s = target.as_os_str().to_owned();
    s.push(".lock");
    PathBuf::from(s)
}

/// Takes the lock on `target`, waiting up to `wait` for another holder to finish.
/// Blocking: async callers run it on `spawn_blocking`.
pub fn acquire(target: &Path, wait: Duration) -> io::Result<LockGuard> {
    let dir = lock_dir(target);
    let deadline = Instant::now() + wait;
    loop {
        match std::fs::create_dir(&dir) {
            Ok(()) => return Ok(LockGuard::hold(dir)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                if is_stale(&dir) {
                    // Its holder died without releasing; take it over as proper-lockfile does.
                    let _ = std::fs::remove_dir(&dir);
                    continue;
                }
                if Instant::now() >= deadline {
                    return Err(io::Error::new(
                        io::ErrorKind::WouldBlock,
                        format!(
                            "{} is held by another program (a CLI refreshing its login?)",
                            dir.display()
                        ),
                    ));
                }
                thread::sleep(POLL);
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                // proper-lockfile locks a directory target too; make sure its parent exists.
                if let Some(parent) = dir.parent() {
                    crate::atomic_file::create_private_dir(parent)?;
                }
                continue;
            }
            Err(e) => return Err(e),
        }
    }
}

fn is_stale(dir: &Path) -> bool {
    std::fs::metadata(dir)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| SystemTime::now().duration_since(t).ok())
        .is_some_and(|age| age > STALE)
}

impl LockGuard {
    fn hold(dir: PathBuf) -> LockGuard {
        let (stop, stopped) = mpsc::channel::<()>();
        let touched = dir.clone();
        let toucher = thread::spawn(move || {
            while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(TOUCH_EVERY) {
                let _ =
                    std::fs::File::open(&touched).and_then(|f| f.set_modified(SystemTime::now()));
            }
        });
        LockGuard {
            dir,
            stop: Some(stop),
            toucher: Some(toucher),
        }
    }
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.toucher.take() {
            let _ = t.join();
        }
        let _ = std::fs::remove_dir(&self.dir);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excludes_until_released_and_takes_over_stale_locks() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("auth.json");
        let held = acquire(&target, Duration::ZERO).unwrap();
        assert!(dir.path().join("auth.json.lock").is_dir());
        let e = acquire(&target, Duration::from_millis(120)).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::WouldBlock);
        drop(held);
        assert!(!dir.path().join("auth.json.lock").exists());

        // A lock whose holder died long ago.
        let stale = lock_dir(&target);
        std::fs::create_dir(&stale).unwrap();
        std::fs::File::open(&stale)
            .unwrap()
            .set_modified(SystemTime::now() - Duration::from_secs(60))
            .unwrap();
        drop(acquire(&target, Duration::ZERO).unwrap());
    }
}
