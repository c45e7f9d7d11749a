//! Why a credential write did not land, worded for the user: the system's reason and
//! the fix, never a token.

use std::io;
use std::path::{Path, PathBuf};

use crate::oauth::link::WriteBackError;
use crate::oauth::store::StoreError;

/// Why a write did not land, worded for the user: the reason and the fix, never a token.
#[derive(Clone, Debug)]
pub(super) struct Failure {
    pub(super) message: String,
    pub(super) path: PathBuf,
}

impl Failure {
    pub(super) fn io(path: &Path, e: &io::Error) -> Failure {
        let fix = if is_full(e) {
            "free disk space".to_string()
        } else if e.kind() == io::ErrorKind::WouldBlock {
            "keypool retries once it is free".to_string()
        } else {
            let dir = path.parent().unwrap_or(path);
            format!("make {} writable", dir.display())
        };
        Failure {
            message: format!("refreshed login not saved: {}; {fix}", reason(e)),
            path: path.to_path_buf(),
        }
    }

    /// A problem with the file itself; its message names its own fix.
    pub(super) fn problem(path: &Path, problem: impl std::fmt::Display) -> Failure {
        Failure {
            message: format!("refreshed login not saved: {problem}"),
            path: path.to_path_buf(),
        }
    }

    pub(super) fn of_store(e: &StoreError, path: &Path) -> Failure {
        match e {
            StoreError::Write { source, .. } => Failure::io(path, source),
            other => Failure::problem(path, other),
        }
    }

    pub(super) fn of_write_back(e: &WriteBackError, path: &Path) -> Failure {
        match e {
            WriteBackError::Write { source, .. } => Failure::io(path, source),
            WriteBackError::File(l) => Failure::problem(path, l),
        }
    }
}

/// The system's words for `e`. The `tempfile` crate wraps the errors of an atomic write
/// to append ` at path "<random temp name>"`, which helps nobody, and hides the inner
/// error, so the suffix is cut from the text.
fn reason(e: &io::Error) -> String {
    let text = e.to_string();
    match (e.raw_os_error(), text.find(" at path \"")) {
        (None, Some(cut)) => text[..cut].to_string(),
        _ => text,
    }
}

fn is_full(e: &io::Error) -> bool {
    #[cfg(unix)]
    if e.raw_os_error() == Some(libc::EDQUOT) {
        return true;
    }
    e.kind() == io::ErrorKind::StorageFull
}

#[cfg(unix)]
pub(super) fn no_space() -> io::Error {
    io::Error::from_raw_os_error(libc::ENOSPC)
}

#[cfg(not(unix))]
pub(super) fn no_space() -> io::Error {
    io::Error::new(io::ErrorKind::StorageFull, "No space left on device")
}
