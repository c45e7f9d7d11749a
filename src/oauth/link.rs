//! Native CLI credential files an account can be linked to (`oauth = "link:PATH"`):
//! Claude Code's `.credentials.json`, Codex's `auth.json`, pi's `auth.json`, gemini-cli's
//! `oauth_creds.json`, Copilot's `apps.json` / `hosts.json`, and a Google credential file
//! (Vertex AI). keypool reads its tokens from there and writes refreshed ones back,
//! keeping every field it does not own (a Google key file is only read).
//!
//! Each format lives in its own file and works on a `serde_json::Value`: the file is
//! edited in place, never re-serialised from a struct, so fields a newer CLI added survive
//! keypool's write-back. This file holds what the formats share: recognising a file,
//! reading it without quoting it in errors, and writing it back atomically with its mode.

mod claude_code;
mod codex;
pub mod copilot;
mod gemini_cli;
mod google_key;
mod kimi_cli;
mod pi;

use super::Tokens;
use crate::providers::Flavor;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How long keypool waits for a native CLI that holds its file's lock.
pub const LOCK_WAIT: Duration = Duration::from_secs(15);

/// The shape of a linked file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkFormat {
    ClaudeCode,
    Codex,
    Pi,
    GeminiCli,
    Copilot,
    GoogleKey,
    KimiCli,
}

/// A linked credential file for an account of `flavor`.
#[derive(Debug, Clone)]
pub struct Linked {
    pub path: PathBuf,
    pub format: LinkFormat,
    pub flavor: Flavor,
}

/// What went wrong with a linked file, never quoting its content. The message starts
/// with the file's path.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct LinkError(pub String);

/// Why a write-back did not land: the file itself (gone, no longer a login), or the
/// disk refusing the write. The io error is kept so the caller can tell a full disk.
#[derive(Debug, thiserror::Error)]
pub enum WriteBackError {
    #[error(transparent)]
    File(#[from] LinkError),
    #[error("{}: cannot write it: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl LinkError {
    fn at(path: &Path, problem: impl std::fmt::Display) -> LinkError {
        LinkError(format!("{}: {problem}", path.display()))
    }

    /// The problem alone, for a caller that already shows `path` next to it.
    pub fn problem<'a>(&'a self, path: &Path) -> &'a str {
        let prefix = format!("{}: ", path.display());
        self.0.strip_prefix(&prefix).unwrap_or(&self.0)
    }
}

impl LinkFormat {
    /// The file as its owner calls it, for messages.
    pub fn describe(self) -> &'static str {
        match self {
            LinkFormat::ClaudeCode => "Claude Code's .credentials.json",
            LinkFormat::Codex => "Codex's auth.json",
            LinkFormat::Pi => "pi's auth.json",
            LinkFormat::GeminiCli => "gemini-cli's oauth_creds.json",
            LinkFormat::Copilot => "Copilot's apps.json/hosts.json",
            LinkFormat::GoogleKey => "a Google credential file",
            LinkFormat::KimiCli => "kimi-cli's kimi-code.json",
        }
    }

    /// Recognises a file by the fields only its owner writes. pi's file is a map of
    /// provider ids, so it is recognised last, by the shape of its entries.
    fn detect(v: &Value) -> Option<LinkFormat> {
        // Before gemini-cli's: an application-default login holds a refresh_token too.
        if google_key::detect(v) {
            Some(LinkFormat::GoogleKey)
        } else if claude_code::detect(v) {
            Some(LinkFormat::ClaudeCode)
        } else if codex::detect(v) {
            Some(LinkFormat::Codex)
        } else if kimi_cli::detect(v) {
            Some(LinkFormat::KimiCli)
        } else if gemini_cli::detect(v) {
            Some(LinkFormat::GeminiCli)
        } else if copilot::detect(v) {
            Some(LinkFormat::Copilot)
        } else if pi::detect(v) {
            Some(LinkFormat::Pi)
        } else {
            None
        }
    }

    /// Where the format keeps the access token's expiry, for messages.
    fn expiry_field(self) -> &'static str {
        match self {
            LinkFormat::ClaudeCode => "claudeAiOauth.expiresAt",
            LinkFormat::Codex => "the access token's exp claim",
            LinkFormat::Pi => "the login's expires",
            LinkFormat::GeminiCli => "expiry_date",
            LinkFormat::Copilot => "the token's expiry",
            LinkFormat::GoogleKey => "the token's expiry",
            LinkFormat::KimiCli => "expires_at",
        }
    }

    /// Whether a file of this format can hold a login of `flavor`.
    fn holds(self, flavor: Flavor) -> bool {
        match self {
            LinkFormat::ClaudeCode => flavor == Flavor::Anthropic,
            LinkFormat::Codex => flavor == Flavor::Codex,
            LinkFormat::GeminiCli => flavor == Flavor::GeminiCli,
            LinkFormat::Copilot => flavor == Flavor::Copilot,
            LinkFormat::GoogleKey => flavor == Flavor::Vertex,
            LinkFormat::KimiCli => flavor == Flavor::Kimi,
            LinkFormat::Pi => flavor != Flavor::Vertex,
        }
    }
}

impl Linked {
    /// Recognises the format of `path` from its content, for an account of `flavor`.
    pub fn open(path: &Path, flavor: Flavor) -> Result<Linked, LinkError> {
        let (v, _) = load(path, flavor)?;
        let format = LinkFormat::detect(&v).ok_or_else(|| {
            LinkError::at(
                path,
                "not a credential file keypool knows (Claude Code .credentials.json, Codex \
                 auth.json, pi auth.json, gemini-cli oauth_creds.json, kimi-cli \
                 kimi-code.json, Copilot apps.json or hosts.json, a Google service-account key \
                 or application-default login)",
            )
        })?;
        if !format.holds(flavor) {
            return Err(LinkError::at(
                path,
                format!(
                    "this is {}, which holds no {} login",
                    format.describe(),
                    flavor.provider_id()
                ),
            ));
        }
        Ok(Linked {
            path: path.to_path_buf(),
            format,
            flavor,
        })
    }

    /// The tokens the file holds now.
    pub fn read(&self) -> Result<Tokens, LinkError> {
        let (v, _) = load(&self.path, self.flavor)?;
        let read = match self.format {
            LinkFormat::ClaudeCode => claude_code::read(&v),
            LinkFormat::Codex => codex::read(&v),
            LinkFormat::Pi => pi::read(&v, self.flavor),
            LinkFormat::GeminiCli => gemini_cli::read(&v),
            LinkFormat::Copilot => copilot::read(&v),
            LinkFormat::GoogleKey => google_key::read(&v),
            LinkFormat::KimiCli => kimi_cli::read(&v),
        };
        let mut tokens = read.map_err(|problem| self.missing(problem))?;
        if self.format == LinkFormat::KimiCli {
            tokens.identity.device_id = kimi_cli::device_id(&self.path);
        }
        if super::tokens::drop_absurd_expiry(&mut tokens, std::time::SystemTime::now()) {
            tracing::warn!(
                concat!(
                    "{}: {} lies more than 5 years ahead; ignored it ",
                    "(the token is refreshed when the provider refuses it)"
                ),
                self.path.display(),
                self.format.expiry_field()
            );
        }
        Ok(tokens)
    }

    /// Writes `tokens` into the file atomically, keeping its mode and every field keypool
    /// does not own. The caller holds the lock on [`Linked::lock_target`], and the file is
    /// read again here so what the CLI wrote meanwhile is kept.
    pub fn write_back(&self, tokens: &Tokens) -> Result<(), WriteBackError> {
        if matches!(self.format, LinkFormat::Copilot | LinkFormat::GoogleKey) {
            // The file holds the long-lived credential only (a GitHub token, a Google
            // key); the short-lived token keypool gets from it is never the file's
            // business.
            return Ok(());
        }
        let (mut v, style) = load(&self.path, self.flavor)?;
        let before = v.clone();
        let edited = match self.format {
            LinkFormat::ClaudeCode => claude_code::write(&mut v, tokens),
            LinkFormat::Codex => codex::write(&mut v, tokens),
            LinkFormat::Pi => pi::write(&mut v, tokens, self.flavor),
            LinkFormat::GeminiCli => gemini_cli::write(&mut v, tokens),
            LinkFormat::KimiCli => kimi_cli::write(&mut v, tokens),
            LinkFormat::Copilot | LinkFormat::GoogleKey => Ok(()),
        };
        edited.map_err(|problem| self.missing(problem))?;
        if v == before {
            // Nothing of the CLI's login changed: its file stays exactly as it wrote it.
            return Ok(());
        }
        save(&self.path, &v, style)
    }

    /// What the native CLI locks before it refreshes (see `lock`). Claude Code locks its
    /// config directory (`~/.claude.lock`); the others lock the file itself.
    pub fn lock_target(&self) -> PathBuf {
        match (self.format, self.path.parent()) {
            (LinkFormat::ClaudeCode, Some(dir)) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
            _ => self.path.clone(),
        }
    }

    fn missing(&self, problem: String) -> LinkError {
        LinkError::at(
            &self.path,
            format!(
                "{problem}; log in again with {}",
                self.flavor.native_login()
            ),
        )
    }
}

/// The JSON object in `path`, for a caller that needs more of a CLI's file than its
/// login (Codex's API key, pi's other entries). Errors as for [`Linked::open`].
pub fn read_json(path: &Path, flavor: Flavor) -> Result<Value, LinkError> {
    load(path, flavor).map(|(v, _)| v)
}

/// How the file was laid out, so a write-back does not reformat it needlessly.
#[derive(Debug, Clone, Copy)]
struct Style {
    pretty: bool,
    trailing_newline: bool,
}

/// The file's JSON. Errors say which file and what is wrong, never what it holds: a
/// parser message can quote the input, so only its line is kept.
fn load(path: &Path, flavor: Flavor) -> Result<(Value, Style), LinkError> {
    let bytes = std::fs::read(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => LinkError::at(
            path,
            format!(
                "does not exist; log in with {} first, or fix the path",
                flavor.native_login()
            ),
        ),
        _ => LinkError::at(path, format!("cannot read it: {e}")),
    })?;
    let v: Value = serde_json::from_slice(&bytes)
        .map_err(|e| LinkError::at(path, format!("not valid JSON (line {})", e.line())))?;
    if !v.is_object() {
        return Err(LinkError::at(path, "not a JSON object"));
    }
    let body = bytes.trim_ascii_end();
    let style = Style {
        pretty: body.contains(&b'\n'),
        trailing_newline: bytes.len() > body.len(),
    };
    Ok((v, style))
}

/// Writes `v` over `path` atomically with the file's own mode. A symlinked file (a
/// dotfiles repository) is written where the link points, so the link survives.
fn save(path: &Path, v: &Value, style: Style) -> Result<(), WriteBackError> {
    let target = crate::atomic_file::real_target(path);
    let mode = file_mode(&target);
    let mut bytes = if style.pretty {
        serde_json::to_vec_pretty(v)
    } else {
        serde_json::to_vec(v)
    }
    .expect("a JSON value serialises");
    if style.trailing_newline {
        bytes.push(b'\n');
    }
    crate::atomic_file::write(&target, &bytes, mode).map_err(|source| WriteBackError::Write {
        path: path.to_path_buf(),
        source,
    })
}

#[cfg(unix)]
fn file_mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).map_or(0o600, |m| m.permissions().mode() & 0o7777)
}

#[cfg(not(unix))]
fn file_mode(_path: &Path) -> u32 {
    0o600
}

/// A string field, `None` when absent, null, empty or not a string.
fn string(v: &Value, key: &str) -> Option<String> {
    v.get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// A number field holding epoch milliseconds (JavaScript writes them as plain numbers,
/// occasionally with a fraction).
fn epoch_ms(v: &Value, key: &str) -> Option<std::time::SystemTime> {
    let n = v.get(key)?;
    // `as` saturates (1e300 → i64::MAX) and NaN cannot be JSON; what is not an instant
    // is None, and one too far ahead is dropped by `Linked::read`.
    let ms = n.as_i64().or_else(|| n.as_f64().map(|f| f as i64))?;
    super::tokens::from_epoch_ms(ms)
}

fn secret(s: Option<String>) -> Option<secrecy::SecretString> {
    s.map(secrecy::SecretString::from)
}

fn expose(s: &Option<secrecy::SecretString>) -> Option<&str> {
    s.as_ref().map(secrecy::ExposeSecret::expose_secret)
}

#[cfg(test)]
pub(crate) mod testing {
    //! Shared by the per-format tests: files in a temp dir, the checks every format owes.

    use super::*;
    use crate::oauth::Identity;
    use secrecy::ExposeSecret;
    use std::time::{Duration, UNIX_EPOCH};

    /// Writes `content` as `name` (mode 0600) in a fresh temp dir.
    pub fn file(name: &str, content: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(name);
        std::fs::write(&path, content).unwrap();
        set_mode(&path, 0o600);
        (dir, path)
    }

    pub fn set_mode(path: &Path, mode: u32) {
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
        }
        let _ = (path, mode);
    }

    pub fn mode(path: &Path) -> u32 {
        file_mode(path) & 0o777
    }

    pub fn json(path: &Path) -> Value {
        serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
    }

    pub fn fresh(identity: Identity) -> Tokens {
        Tokens {
            access: Some("new-access".to_string().into()),
            refresh: Some("new-refresh".to_string().into()),
            expires_at: Some(UNIX_EPOCH + Duration::from_millis(1_800_000_000_000)),
            id_token: None,
            identity,
        }
    }

    pub fn reveal(s: &Option<secrecy::SecretString>) -> Option<&str> {
        s.as_ref().map(|s| s.expose_secret())
    }

    /// The error for a file without its token fields names the file and the problem,
    /// and quotes nothing from it.
    pub fn assert_clear_error(e: &LinkError, path: &Path, secrets: &[&str]) {
        let msg = e.to_string();
        assert!(msg.starts_with(&path.display().to_string()), "{msg}");
        assert!(msg.contains("log in"), "{msg}");
        for s in secrets {
            assert!(!msg.contains(s), "the error quotes the file: {msg}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::testing::*;
    use super::*;

    #[test]
    fn recognises_each_format_and_refuses_a_mismatch() {
        let cases = [
            (
                r#"{"claudeAiOauth":{"accessToken":"a"}}"#,
                Flavor::Anthropic,
                LinkFormat::ClaudeCode,
            ),
            (
                r#"{"OPENAI_API_KEY":null,"tokens":{"access_token":"a"}}"#,
                Flavor::Codex,
                LinkFormat::Codex,
            ),
            (
                r#"{"anthropic":{"type":"oauth","refresh":"r","access":"a","expires":1}}"#,
                Flavor::Anthropic,
                LinkFormat::Pi,
            ),
            (
                r#"{"access_token":"a","refresh_token":"r","expiry_date":1}"#,
                Flavor::GeminiCli,
                LinkFormat::GeminiCli,
            ),
            (
                r#"{"github.com":{"user":"u","oauth_token":"g"}}"#,
                Flavor::Copilot,
                LinkFormat::Copilot,
            ),
        ];
        for (content, flavor, format) in cases {
            let (_d, p) = file("f.json", content);
            assert_eq!(Linked::open(&p, flavor).unwrap().format, format);
        }
        let (_d, p) = file("f.json", r#"{"claudeAiOauth":{"accessToken":"sk-x"}}"#);
        let e = Linked::open(&p, Flavor::Codex).unwrap_err().to_string();
        assert!(
            e.contains("Claude Code") && e.contains("openai-codex"),
            "{e}"
        );
        let (_d, p) = file("f.json", r#"{"hello":"sk-x"}"#);
        let e = Linked::open(&p, Flavor::Codex).unwrap_err().to_string();
        assert!(
            e.contains("not a credential file") && !e.contains("sk-x"),
            "{e}"
        );
    }

    #[test]
    fn unreadable_files_are_named_not_quoted() {
        let (dir, p) = file("auth.json", "{\n\"tokens\": sk-secret-1}");
        let e = Linked::open(&p, Flavor::Codex).unwrap_err();
        assert!(e.0.contains("not valid JSON (line 2)"), "{e}");
        assert!(!e.0.contains("sk-secret"), "{e}");
        assert_eq!(e.problem(&p), "not valid JSON (line 2)");
        let e = Linked::open(&dir.path().join("nope.json"), Flavor::Codex).unwrap_err();
        assert!(
            e.0.contains("does not exist") && e.0.contains("codex login"),
            "{e}"
        );
    }

    #[test]
    fn lock_targets_follow_the_native_cli() {
        let (dir, p) = file(
            ".credentials.json",
            r#"{"claudeAiOauth":{"accessToken":"a"}}"#,
        );
        let l = Linked::open(&p, Flavor::Anthropic).unwrap();
        assert_eq!(l.lock_target(), dir.path());
        let (_d, p) = file("auth.json", r#"{"tokens":{"access_token":"a"}}"#);
        assert_eq!(Linked::open(&p, Flavor::Codex).unwrap().lock_target(), p);
    }

    #[cfg(unix)]
    #[test]
    fn write_back_keeps_mode_layout_and_symlinks() {
        let (dir, p) = file(
            "oauth_creds.json",
            "{\"access_token\":\"a\",\"refresh_token\":\"r\",\"expiry_date\":1}",
        );
        set_mode(&p, 0o640);
        let link = dir.path().join("linked.json");
        std::os::unix::fs::symlink(&p, &link).unwrap();
        let l = Linked::open(&link, Flavor::GeminiCli).unwrap();
        l.write_back(&fresh(Default::default())).unwrap();
        assert!(std::fs::symlink_metadata(&link).unwrap().is_symlink());
        assert_eq!(mode(&p), 0o640, "the file's own mode is kept");
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(!text.contains('\n'), "a compact file stays compact: {text}");
        assert_eq!(json(&p)["access_token"], "new-access");
    }
}
