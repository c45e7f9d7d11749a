//! Where each CLI keeps its login on this machine: the home directory plus the
//! environment variables that move those files. Held in a value rather than read from the
//! process, so tests describe a machine without touching the global environment.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct Machine {
    home: PathBuf,
    vars: BTreeMap<String, String>,
}

impl Machine {
    /// This process's `$HOME` and environment.
    pub fn from_process() -> Result<Machine, String> {
        let home = std::env::var_os("HOME")
            .filter(|h| !h.is_empty())
            .ok_or("HOME is not set; the CLIs keypool imports from keep their files under it")?;
        // Variables that are not UTF-8 cannot name a key keypool could use anyway.
        let vars = std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)));
        Ok(Machine::new(PathBuf::from(home), vars))
    }

    pub fn new<K: Into<String>, V: Into<String>>(
        home: impl Into<PathBuf>,
        vars: impl IntoIterator<Item = (K, V)>,
    ) -> Machine {
        Machine {
            home: absolute(home.into()),
            vars: vars
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        }
    }

    pub fn home(&self) -> &Path {
        &self.home
    }

    /// An environment variable that is set and not empty (an empty one means unset to
    /// every CLI here).
    pub fn var(&self, name: &str) -> Option<&str> {
        self.vars
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    fn dir_var(&self, name: &str) -> Option<PathBuf> {
        self.var(name).map(|d| absolute(PathBuf::from(d)))
    }

    /// Claude Code's config directory: `$CLAUDE_CONFIG_DIR`, else `~/.claude`.
    pub fn claude_credentials(&self) -> PathBuf {
        self.dir_var("CLAUDE_CONFIG_DIR")
            .unwrap_or_else(|| self.home.join(".claude"))
            .join(".credentials.json")
    }

    /// Claude Code's account metadata: `$CLAUDE_CONFIG_DIR/.claude.json`, else
    /// `~/.claude.json` (beside the directory, not in it).
    pub fn claude_json(&self) -> PathBuf {
        match self.dir_var("CLAUDE_CONFIG_DIR") {
            Some(d) => d.join(".claude.json"),
            None => self.home.join(".claude.json"),
        }
    }

    pub fn codex_auth(&self) -> PathBuf {
        self.dir_var("CODEX_HOME")
            .unwrap_or_else(|| self.home.join(".codex"))
            .join("auth.json")
    }

    pub fn pi_auth(&self) -> PathBuf {
        self.dir_var("PI_CODING_AGENT_DIR")
            .unwrap_or_else(|| self.home.join(".pi/agent"))
            .join("auth.json")
    }

    /// kimi-cli's file login: `$KIMI_SHARE_DIR`, else `~/.kimi`, then
    /// `credentials/kimi-code.json`.
    pub fn kimi_credentials(&self) -> PathBuf {
        self.dir_var("KIMI_SHARE_DIR")
            .unwrap_or_else(|| self.home.join(".kimi"))
            .join("credentials/kimi-code.json")
    }

    pub fn gemini_creds(&self) -> PathBuf {
        self.home.join(".gemini/oauth_creds.json")
    }

    /// `apps.json` (current) and `hosts.json` (older editors) in
    /// `$XDG_CONFIG_HOME/github-copilot`, else `~/.config/github-copilot`.
    pub fn copilot_files(&self) -> [PathBuf; 2] {
        let dir = self
            .dir_var("XDG_CONFIG_HOME")
            .unwrap_or_else(|| self.home.join(".config"))
            .join("github-copilot");
        [dir.join("apps.json"), dir.join("hosts.json")]
    }

    /// `path` with the home directory written as `~`, for the config and for messages.
    pub fn tilde(&self, path: &Path) -> PathBuf {
        match path.strip_prefix(&self.home) {
            Ok(rest) if !rest.as_os_str().is_empty() => Path::new("~").join(rest),
            _ => path.to_path_buf(),
        }
    }

    pub fn display(&self, path: &Path) -> String {
        self.tilde(path).display().to_string()
    }

    /// A path as the config writes it: `~/…` is under the home directory.
    pub fn expand(&self, path: &str) -> PathBuf {
        match path.strip_prefix("~/") {
            Some(rest) => self.home.join(rest),
            None => PathBuf::from(path),
        }
    }
}

/// Relative directories in the environment are relative to where the command runs.
fn absolute(p: PathBuf) -> PathBuf {
    std::path::absolute(&p).unwrap_or(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_moves_the_files_and_home_is_written_as_tilde() {
        let m = Machine::new("/h", [("CODEX_HOME", "/c"), ("CLAUDE_CONFIG_DIR", "")]);
        assert_eq!(m.codex_auth(), Path::new("/c/auth.json"));
        assert_eq!(
            m.claude_credentials(),
            Path::new("/h/.claude/.credentials.json")
        );
        assert_eq!(m.claude_json(), Path::new("/h/.claude.json"));
        assert_eq!(m.pi_auth(), Path::new("/h/.pi/agent/auth.json"));
        assert_eq!(
            m.copilot_files()[1],
            Path::new("/h/.config/github-copilot/hosts.json")
        );
        assert_eq!(m.display(&m.pi_auth()), "~/.pi/agent/auth.json");
        assert_eq!(m.display(Path::new("/c/auth.json")), "/c/auth.json");
        assert_eq!(
            m.expand("~/.codex/auth.json"),
            Path::new("/h/.codex/auth.json")
        );
        assert_eq!(m.var("CLAUDE_CONFIG_DIR"), None, "empty means unset");

        let m = Machine::new("/h", [("CLAUDE_CONFIG_DIR", "/cc")]);
        assert_eq!(m.claude_json(), Path::new("/cc/.claude.json"));
        assert_eq!(m.claude_credentials(), Path::new("/cc/.credentials.json"));
    }
}
