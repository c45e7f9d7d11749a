//! Where keypool keeps its files: `$KEYPOOL_HOME`, else `~/.keypool`.

use std::path::PathBuf;

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
}

fn absolute(p: PathBuf) -> PathBuf {
    std::path::absolute(&p).unwrap_or(p)
}
