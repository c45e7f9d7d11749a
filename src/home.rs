//! Where keypool keeps its files: `$KEYPOOL_HOME`, else `~/.keypool`, and whether others
//! can read them.

use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct Home {
    root: PathBuf,
}

impl Home {
    pub fn at(root: impl Into<PathBuf>) -> Self {
        Home { root: root.into() }
    }

    /// `$KEYPOOL_HOME`, else `$HOME/.keypool`.
    pub fn from_env() -> Result<Self, String> {
        if let Some(dir) = std::env::var_os("KEYPOOL_HOME").filter(|v| !v.is_empty()) {
            return Ok(Home::at(absolute(PathBuf::from(dir))));
        }
        match std::env::var_os("HOME").filter(|v| !v.is_empty()) {
            Some(home) => Ok(Home::at(PathBuf::from(home).join(".keypool"))),
            None => Err("neither KEYPOOL_HOME nor HOME is set; set KEYPOOL_HOME=/some/dir".into()),
        }
    }

    pub fn config_file(&self) -> PathBuf {
        self.root.join("config.toml")
    }

    /// Tokens of `oauth = "stored"` accounts and facts about linked ones (0600).
    pub fn credentials_file(&self) -> PathBuf {
        self.root.join("credentials.json")
    }

    /// Cooldowns and disabled flags that survive a restart (0600).
    pub fn state_file(&self) -> PathBuf {
        self.root.join("state.json")
    }

    /// The usage ledger (SQLite, 0600): one row per intercepted answer, never content.
    pub fn usage_db(&self) -> PathBuf {
        self.root.join("usage.db")
    }

    /// Where `keypool run` logs while its child owns the terminal.
    pub fn log_file(&self) -> PathBuf {
        self.root.join("keypool.log")
    }

    pub fn certs_dir(&self) -> PathBuf {
        self.root.join("certs")
    }

    pub fn ca_cert(&self) -> PathBuf {
        self.certs_dir().join("ca.pem")
    }

    pub fn ca_key(&self) -> PathBuf {
        self.certs_dir().join("ca-key.pem")
    }

    pub fn bundle(&self) -> PathBuf {
        self.certs_dir().join("bundle.pem")
    }

    /// The directories keypool made for its own files (the CA key, logins, config). Only
    /// these are checked and tightened: a linked CLI's directory (`~/.codex`) is that
    /// CLI's business.
    pub fn own_dirs(&self) -> [PathBuf; 2] {
        [self.root.clone(), self.certs_dir()]
    }

    /// Those of [`Home::own_dirs`] that exist with group or other permission bits set.
    pub fn loose_dirs(&self) -> Vec<LooseDir> {
        self.own_dirs()
            .into_iter()
            .filter_map(|path| {
                let mode = mode_of(&path)?;
                (mode & 0o077 != 0).then_some(LooseDir { path, mode })
            })
            .collect()
    }

    /// Sets every loose directory to 0700; returns the ones changed.
    pub fn tighten_dirs(&self) -> Result<Vec<PathBuf>, String> {
        let mut done = Vec::new();
        for d in self.loose_dirs() {
            set_private(&d.path)
                .map_err(|e| format!("cannot chmod 700 {}: {e}", d.path.display()))?;
            done.push(d.path);
        }
        Ok(done)
    }
}

/// A directory of keypool's that other users can read or enter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LooseDir {
    pub path: PathBuf,
    pub mode: u32,
}

impl std::fmt::Display for LooseDir {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let path = crate::trust::shell_word(&self.path.display().to_string());
        write!(
            f,
            "{} is mode {:04o}: other users can enter it and read any file there not kept 0600 \
            (keypool's config, logins and CA key live there)\nfix: chmod 700 {path}   (or run \
            `keypool ca init --fix-permissions`)",
            self.path.display(),
            self.mode
        )
    }
}

#[cfg(unix)]
fn mode_of(path: &Path) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(path).ok()?;
    meta.is_dir().then(|| meta.permissions().mode() & 0o7777)
}

#[cfg(not(unix))]
fn mode_of(_path: &Path) -> Option<u32> {
    None
}

#[cfg(unix)]
fn set_private(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700))
}

#[cfg(not(unix))]
fn set_private(_path: &Path) -> std::io::Result<()> {
    Ok(())
}

fn absolute(p: PathBuf) -> PathBuf {
    std::path::absolute(&p).unwrap_or(p)
}
