//! Adding accounts to the config file as text, so every existing byte and comment stays.

use std::path::{Path, PathBuf};

pub struct NewAccount {
    pub name: String,
    pub provider: String,
    pub credential: NewCredential,
}

pub enum NewCredential {
    ApiKey(String),
    OAuthStored,
    OAuthLinked(PathBuf),
}

/// Appends an `[[accounts]]` block to `path` (created from the example when missing),
/// atomically, mode 0600.
pub fn append_account(path: &Path, a: &NewAccount) -> std::io::Result<()> {
    let mut text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => super::EXAMPLE.to_string(),
        Err(e) => return Err(e),
    };
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    let q = |s: &str| toml::Value::String(s.to_string()).to_string();
    text.push_str(&format!(
        "\n[[accounts]]\nname = {}\nprovider = {}\n",
        q(&a.name),
        q(&a.provider)
    ));
    match &a.credential {
        NewCredential::ApiKey(k) => text.push_str(&format!("api_key = {}\n", q(k))),
        NewCredential::OAuthStored => text.push_str("oauth = \"stored\"\n"),
        NewCredential::OAuthLinked(p) => text.push_str(&format!(
            "oauth = {}\n",
            q(&format!("link:{}", p.display()))
        )),
    }
    crate::atomic_file::write(path, text.as_bytes(), 0o600)
}
