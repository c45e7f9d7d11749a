//! The open-file limit. Every client connection, upstream connection and tunnel holds a
//! file descriptor, and many systems start programs with a soft `RLIMIT_NOFILE` of 1024:
//! a few hundred idle keep-alive clients then starve new requests. As nginx
//! (`worker_rlimit_nofile`) and Go programs (since Go 1.19) do, keypool raises its soft
//! limit to the hard limit when it starts serving, and hands the original soft limit back
//! to the commands it runs (`keypool run`), since some programs still use `select(2)`,
//! which breaks on descriptors past 1024.

/// The soft limit keypool was started with, for the commands it runs.
#[cfg(unix)]
static ORIGINAL: std::sync::OnceLock<libc::rlimit> = std::sync::OnceLock::new();

/// What [`raise`] did, for the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Raised {
    pub from: u64,
    pub to: u64,
    pub hard: u64,
}

/// Raises the soft open-file limit as far as allowed: to the hard limit (on macOS at most
/// `OPEN_MAX`, above which `setrlimit` fails; on Linux at most `fs.nr_open` when the hard
/// limit is unlimited). Logs the figure at debug; a failure is logged and changes nothing.
pub fn raise() -> Option<Raised> {
    #[cfg(unix)]
    {
        let raised = raise_unix();
        match &raised {
            Ok(r) if r.from == r.to => {
                tracing::debug!("open-file limit: {} (the hard limit is {})", r.to, r.hard)
            }
            Ok(r) => tracing::debug!(
                "open-file limit raised from {} to {} (hard limit {})",
                r.from,
                r.to,
                r.hard
            ),
            Err(e) => tracing::debug!("open-file limit left as it was: {e}"),
        }
        raised.ok()
    }
    #[cfg(not(unix))]
    None
}

#[cfg(unix)]
#[allow(clippy::unnecessary_cast)] // rlim_t is u64 here, not on every unix
fn raise_unix() -> std::io::Result<Raised> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit(2) writes into the struct we pass.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let _ = ORIGINAL.set(lim);
    let from = lim.rlim_cur as u64;
    let hard = lim.rlim_max as u64;
    let to = ceiling(lim.rlim_max).max(lim.rlim_cur);
    let raised = Raised {
        from,
        to: to as u64,
        hard,
    };
    if to == lim.rlim_cur {
        return Ok(raised);
    }
    let new = libc::rlimit {
        rlim_cur: to,
        rlim_max: lim.rlim_max,
    };
    // SAFETY: setrlimit(2) reads the struct we pass.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &new) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(raised)
}

/// The highest soft limit the system accepts under `hard`.
#[cfg(unix)]
fn ceiling(hard: libc::rlim_t) -> libc::rlim_t {
    #[cfg(target_os = "macos")]
    {
        // setrlimit refuses more than OPEN_MAX (10240) for RLIMIT_NOFILE on macOS,
        // whatever kern.maxfilesperproc says.
        const OPEN_MAX: libc::rlim_t = 10240;
        hard.min(OPEN_MAX)
    }
    #[cfg(not(target_os = "macos"))]
    {
        if hard != libc::RLIM_INFINITY {
            return hard;
        }
        // An unlimited hard limit still stops at fs.nr_open on Linux.
        std::fs::read_to_string("/proc/sys/fs/nr_open")
            .ok()
            .and_then(|s| s.trim().parse::<libc::rlim_t>().ok())
            .unwrap_or(1 << 20)
    }
}

/// Gives a command keypool starts the soft limit keypool itself was started with.
pub fn restore_for_child(cmd: &mut tokio::process::Command) {
    #[cfg(unix)]
    if let Some(original) = ORIGINAL.get().copied() {
        // SAFETY: setrlimit(2) is async-signal-safe, and the closure touches nothing
        // else between fork and exec.
        unsafe {
            cmd.pre_exec(move || {
                libc::setrlimit(libc::RLIMIT_NOFILE, &original);
                Ok(())
            });
        }
    }
    #[cfg(not(unix))]
    let _ = cmd;
}
