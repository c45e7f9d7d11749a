//! `keypool doctor`: why a tool is not going through keypool. Each runtime found on PATH
//! fetches keypool's reserved path (`/_keypool/doctor/<nonce>`, answered by keypool
//! itself) with the environment `keypool env` sets; the outcome says whether it honoured
//! the proxy and trusted the CA, and leaving each variable out in turn says which it
//! read. Also the CA's validity and constraints and the accounts disabled. `cli/doctor.rs`
//! finds or starts the proxy; this module checks and reports.

mod checks;
mod facts;
pub mod live;
pub mod report;
pub mod runtimes;

pub use checks::{agents, runtimes};
pub use facts::{ca_lines, disabled_from_state, disabled_from_status};
pub use report::{Class, Line, Report, Verdict};

use std::path::{Path, PathBuf};

/// What every check is run against.
pub struct Setup {
    /// The variables `keypool env` prints for the proxy in use.
    pub env: Vec<(&'static str, String)>,
    /// The intercepted host the runtimes fetch the reserved path from.
    pub host: String,
    pub ca: PathBuf,
    pub bundle: PathBuf,
}

impl Setup {
    /// The reserved URL for `nonce`; `https` is the intercepted one, `http` the plain one.
    pub fn url(&self, scheme: &str, nonce: &str) -> String {
        format!("{scheme}://{}/_keypool/doctor/{nonce}", self.host)
    }

    /// The proxy URL the runtimes were given.
    pub fn proxy(&self) -> &str {
        self.env
            .iter()
            .find(|(k, _)| *k == "HTTPS_PROXY")
            .map_or("", |(_, v)| v.as_str())
    }
}

/// A fresh nonce per check: the answer proves this run went through keypool, not an
/// earlier one or a cache.
pub fn nonce() -> String {
    let mut bytes = [0u8; 12];
    let _ = ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `name` on PATH, as a shell would find it.
pub fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| is_executable(p))
}

#[cfg(unix)]
fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(not(unix))]
fn is_executable(p: &Path) -> bool {
    p.is_file()
}
