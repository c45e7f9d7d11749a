//! Native CLI credential files an account can be linked to (`oauth = "link:PATH"`):
//! Claude Code's `.credentials.json`, Codex's `auth.json`, pi's `auth.json`, gemini-cli's
//! `oauth_creds.json`, and Copilot's `apps.json` / `hosts.json`. keypool reads its
//! tokens from there and writes refreshed ones back, keeping every field it does not own.

use super::{Flavor, Tokens};
use std::path::{Path, PathBuf};

/// The shape of a linked file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkFormat {
    ClaudeCode,
    Codex,
    Pi,
    GeminiCli,
    Copilot,
}

/// A linked credential file for an account of `flavor`.
#[derive(Debug, Clone)]
pub struct Linked {
    pub path: PathBuf,
    pub format: LinkFormat,
    pub flavor: Flavor,
}

/// What went wrong with a linked file, never quoting its content.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct LinkError(pub String);

impl Linked {
    /// Recognises the format of `path` from its content, for an account of `flavor`.
    pub fn open(path: &Path, flavor: Flavor) -> Result<Linked, LinkError> {
        let _ = (path, flavor);
        Err(LinkError("linked files are not supported yet".into()))
    }

    /// The tokens the file holds now.
    pub fn read(&self) -> Result<Tokens, LinkError> {
        Err(LinkError("linked files are not supported yet".into()))
    }

    /// Writes `tokens` into the file atomically, keeping its mode and every field keypool
    /// does not own.
    pub fn write_back(&self, tokens: &Tokens) -> Result<(), LinkError> {
        let _ = tokens;
        Err(LinkError("linked files are not supported yet".into()))
    }

    /// What the native CLI locks before it refreshes (see `lock`).
    pub fn lock_target(&self) -> PathBuf {
        self.path.clone()
    }
}
