//! Adding accounts to the config file as text. The file is the user's: every byte and
//! comment already there stays, new `[[accounts]]` blocks go at the end, values are
//! rendered by the `toml` crate so any name, key or path is escaped correctly, and the
//! file is replaced atomically at 0600 (it may now hold a key).
//!
//! Reading is lenient on purpose: it looks only at `[[accounts]]` and `[[providers]]`
//! through a plain TOML parse, so a file the full config parser would reject for another
//! reason (or a newer field) does not stop an import.

use crate::file_lock as lock;
use crate::secret::SecretRef;
use secrecy::SecretString;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// An account to add.
#[derive(Debug, Clone)]
pub struct NewAccount {
    pub name: String,
    pub provider: String,
    pub credential: Credential,
    /// One line written above the block (`# …`), e.g. where the credential came from.
    pub comment: Option<String>,
}

/// How the account gets its credential.
#[derive(Clone)]
pub enum Credential {
    /// `api_key = "…"`: a literal key, `env:VAR` or `!command`.
    ApiKey(String),
    /// `api_key = "…"` and the account's place keys (`resource = "…"`, `region = "…"`),
    /// for a provider whose accounts each live somewhere of their own.
    PlacedKey(String, Vec<(&'static str, String)>),
    /// `access_key_id`, `secret_access_key` and optional `session_token` (each a literal,
    /// `env:VAR` or `!command`) and the place keys: AWS IAM credentials.
    Iam {
        access_key_id: String,
        secret_access_key: String,
        session_token: Option<String>,
        place: Vec<(&'static str, String)>,
    },
    /// `oauth = "stored"`: tokens in keypool's `credentials.json`.
    OAuthStored,
    /// `oauth = "link:PATH"`: tokens in a native CLI's file. PATH is written as given, so
    /// pass `~/…` for a file under the home directory.
    OAuthLinked(PathBuf),
}

/// Shows where a key comes from, never a literal key (a panic or a log may print this).
impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credential::ApiKey(k) => write!(f, "ApiKey({})", SecretRef::parse(k).describe()),
            Credential::PlacedKey(k, place) => {
                write!(
                    f,
                    "PlacedKey({}, {place:?})",
                    SecretRef::parse(k).describe()
                )
            }
            Credential::Iam {
                access_key_id,
                session_token,
                place,
                ..
            } => write!(
                f,
                "Iam({}, session_token: {}, {place:?})",
                SecretRef::parse(access_key_id).describe(),
                session_token.is_some()
            ),
            Credential::OAuthStored => f.write_str("OAuthStored"),
            Credential::OAuthLinked(p) => write!(f, "OAuthLinked({})", p.display()),
        }
    }
}

/// An account block already in the file, as far as a lenient read can tell.
#[derive(Debug, Clone)]
pub struct ExistingAccount {
    pub name: String,
    pub provider: String,
    /// The `api_key`, or an IAM account's `access_key_id`: what tells one key account
    /// from another.
    pub api_key: Option<SecretString>,
    /// The `oauth` value as written: `stored` or `link:PATH`.
    pub oauth: Option<String>,
}

/// What an import needs to know about the file before adding to it.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub accounts: Vec<ExistingAccount>,
    /// Ids of `[[providers]]` declared in the file.
    pub provider_ids: Vec<String>,
}

/// Problems with the file, worded for the person who has to fix them. Never a value
/// from the file: a line may be an `api_key` line.
#[derive(Debug, thiserror::Error)]
pub enum EditError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}:{line}: {message}\nfix: correct that line; keypool reads the existing accounts before adding one")]
    Syntax {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Invalid(String),
}

const LOCK_WAIT: Duration = Duration::from_secs(10);

/// Appends one `[[accounts]]` block to the config at `path`, creating the file from the
/// commented example when it does not exist.
pub fn append_account(path: &Path, account: &NewAccount) -> Result<(), EditError> {
    let block = render(account)?;
    let write_err = |source| EditError::Write {
        path: path.to_path_buf(),
        source,
    };
    // Two imports (or an import and `keypool login`) at once must not lose a block.
    let _guard = lock::acquire(path, LOCK_WAIT).map_err(write_err)?;
    let mut text = match read_text(path)? {
        Some(t) => t,
        None => super::EXAMPLE.to_string(),
    };
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    if !text.is_empty() {
        text.push('\n');
    }
    text.push_str(&block);
    let target = crate::atomic_file::real_target(path);
    crate::atomic_file::write(&target, text.as_bytes(), 0o600).map_err(write_err)
}

/// The names of the accounts in the file; none when it does not exist.
pub fn account_names(path: &Path) -> Result<Vec<String>, EditError> {
    Ok(read(path)?.accounts.into_iter().map(|a| a.name).collect())
}

/// The accounts and custom provider ids in the file; empty when it does not exist.
pub fn read(path: &Path) -> Result<Snapshot, EditError> {
    let Some(text) = read_text(path)? else {
        return Ok(Snapshot::default());
    };
    let table: toml::Table = toml::from_str(&text).map_err(|e| {
        // The message only: toml's Display quotes the offending line.
        let at = e.span().map_or(0, |s| s.start).min(text.len());
        EditError::Syntax {
            path: path.to_path_buf(),
            line: text[..at].matches('\n').count() + 1,
            message: e.message().trim_end().to_string(),
        }
    })?;
    let str_of = |t: &toml::Table, k: &str| t.get(k).and_then(|v| v.as_str()).map(str::to_string);
    let tables = |key: &str| {
        table
            .get(key)
            .and_then(|v| v.as_array())
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_table())
            .collect::<Vec<_>>()
    };
    let accounts = tables("accounts")
        .into_iter()
        .filter_map(|t| {
            Some(ExistingAccount {
                name: str_of(t, "name")?,
                provider: str_of(t, "provider").unwrap_or_default(),
                api_key: str_of(t, "api_key")
                    .or_else(|| str_of(t, "access_key_id"))
                    .map(SecretString::from),
                oauth: str_of(t, "oauth"),
            })
        })
        .collect();
    let provider_ids = tables("providers")
        .into_iter()
        .filter_map(|t| str_of(t, "id"))
        .collect();
    Ok(Snapshot {
        accounts,
        provider_ids,
    })
}

/// The text of one block, ending in a newline.
pub fn render(account: &NewAccount) -> Result<String, EditError> {
    let text_ok = |s: &str| !s.trim().is_empty() && !s.chars().any(char::is_control);
    if !text_ok(&account.name) {
        return Err(EditError::Invalid(
            "an account name must be non-empty text on one line".into(),
        ));
    }
    if !text_ok(&account.provider) {
        return Err(EditError::Invalid(format!(
            "account '{}' has no provider",
            account.name
        )));
    }
    let (key, value) = match &account.credential {
        Credential::ApiKey(k) | Credential::PlacedKey(k, _) => ("api_key", k.clone()),
        Credential::Iam { access_key_id, .. } => ("access_key_id", access_key_id.clone()),
        Credential::OAuthStored => ("oauth", "stored".to_string()),
        Credential::OAuthLinked(p) => {
            let p = p.to_str().ok_or_else(|| {
                EditError::Invalid(format!(
                    "the path {} is not UTF-8, which TOML cannot hold",
                    p.display()
                ))
            })?;
            ("oauth", format!("link:{p}"))
        }
    };
    let quote = |s: &str| toml::Value::String(s.to_string()).to_string();
    let mut block = String::new();
    if let Some(c) = &account.comment {
        let one_line: String = c
            .chars()
            .map(|ch| if ch.is_control() { ' ' } else { ch })
            .collect();
        block.push_str(&format!("# {one_line}\n"));
    }
    block.push_str("[[accounts]]\n");
    block.push_str(&format!("name = {}\n", quote(&account.name)));
    block.push_str(&format!("provider = {}\n", quote(&account.provider)));
    block.push_str(&format!("{key} = {}\n", quote(&value)));
    let mut more: Vec<(&str, &str)> = Vec::new();
    if let Credential::Iam {
        secret_access_key,
        session_token,
        ..
    } = &account.credential
    {
        more.push(("secret_access_key", secret_access_key));
        more.extend(session_token.as_deref().map(|t| ("session_token", t)));
    }
    if let Credential::PlacedKey(_, place) | Credential::Iam { place, .. } = &account.credential {
        more.extend(place.iter().map(|(k, v)| (*k, v.as_str())));
    }
    for (k, v) in more {
        block.push_str(&format!("{k} = {}\n", quote(v)));
    }
    Ok(block)
}

fn read_text(path: &Path) -> Result<Option<String>, EditError> {
    match std::fs::read_to_string(path) {
        Ok(t) => Ok(Some(t)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(EditError::Read {
            path: path.to_path_buf(),
            source,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    fn key(name: &str, value: &str) -> NewAccount {
        NewAccount {
            name: name.into(),
            provider: "openai".into(),
            credential: Credential::ApiKey(value.into()),
            comment: None,
        }
    }

    /// An account being added may be formatted by a panic or a debug log: a literal key
    /// shows as `literal`, a reference as what it names.
    #[test]
    fn debug_of_a_new_account_never_shows_a_literal_key() {
        let literal = key("work", "sk-live-dbg-literal-1234");
        for (what, shown) in [
            ("{:?}", format!("{literal:?}")),
            ("{:#?}", format!("{literal:#?}")),
            ("the credential's {:?}", format!("{:?}", literal.credential)),
        ] {
            // The failure names the print, not its text: that would hold the key.
            assert!(
                !shown.contains("dbg-literal"),
                "a key in the debug print {what}"
            );
        }
        for (raw, described) in [
            ("sk-live-dbg-literal-1234", "ApiKey(literal)"),
            ("env:OPENAI_API_KEY", "ApiKey(env:OPENAI_API_KEY)"),
        ] {
            let account = key("work", raw);
            for shown in [format!("{account:?}"), format!("{account:#?}")] {
                assert!(
                    shown.contains("work") && shown.contains("openai"),
                    "{shown}"
                );
                assert!(shown.contains(described), "{shown}");
            }
        }
    }

    #[test]
    fn creates_from_the_example_at_0600() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        append_account(&path, &key("a", "env:OPENAI_API_KEY")).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with(super::super::EXAMPLE), "{text}");
        let c = super::super::Config::load(&path).unwrap();
        assert_eq!(c.accounts.len(), 1);
        assert_eq!(c.accounts[0].name, "a");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert!(!dir.path().join("config.toml.lock").exists());
    }

    #[test]
    fn keeps_every_byte_and_escapes_values() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        let before = "# my notes\nlisten = \"127.0.0.1:9000\"  # trailing comment\n\n[[accounts]]\nname = \"old\"\nprovider = \"groq\"\napi_key = \"gsk-1\"";
        std::fs::write(&path, before).unwrap();
        let tricky = NewAccount {
            comment: Some("imported from pi\n(second line)".into()),
            ..key("we\"ird \\ name", "!pass show 'openai/x' \"y\"")
        };
        append_account(&path, &tricky).unwrap();
        append_account(
            &path,
            &NewAccount {
                name: "max".into(),
                provider: "anthropic".into(),
                credential: Credential::OAuthLinked("~/.claude/.credentials.json".into()),
                comment: None,
            },
        )
        .unwrap();
        append_account(
            &path,
            &NewAccount {
                credential: Credential::OAuthStored,
                ..key("codex", "")
            },
        )
        .unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with(before), "{text}");
        assert!(text.contains("# imported from pi (second line)\n[[accounts]]\n"));

        let snap = read(&path).unwrap();
        let names: Vec<_> = snap.accounts.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(names, ["old", "we\"ird \\ name", "max", "codex"]);
        assert_eq!(
            snap.accounts[1].api_key.as_ref().unwrap().expose_secret(),
            "!pass show 'openai/x' \"y\""
        );
        assert_eq!(
            snap.accounts[2].oauth.as_deref(),
            Some("link:~/.claude/.credentials.json")
        );
        assert_eq!(snap.accounts[3].oauth.as_deref(), Some("stored"));
        assert_eq!(account_names(&path).unwrap().len(), 4);
    }

    #[test]
    fn lenient_read_and_errors_without_values() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        assert!(
            read(&path).unwrap().accounts.is_empty(),
            "no file, no accounts"
        );
        std::fs::write(
            &path,
            "[[providers]]\nid = \"my-vllm\"\nhosts = [\"h\"]\nauth = \"bearer\"\n[[accounts]]\nname = \"x\"\nprovider = \"my-vllm\"\noauth = \"stored\"\nfuture_field = 1\n",
        )
        .unwrap();
        let snap = read(&path).unwrap();
        assert_eq!(snap.provider_ids, ["my-vllm"]);
        assert_eq!(snap.accounts[0].oauth.as_deref(), Some("stored"));

        std::fs::write(
            &path,
            "[[accounts]]\nname = \"x\"\napi_key = \"sk-live-9\" oops\n",
        )
        .unwrap();
        let e = read(&path).unwrap_err().to_string();
        assert!(e.contains("config.toml:3:"), "{e}");
        assert!(!e.contains("sk-live-9"), "{e}");

        let e = render(&key("", "k")).unwrap_err().to_string();
        assert!(e.contains("non-empty"), "{e}");
        let shown = format!("{:?}", key("a", "sk-live-9"));
        assert!(
            !shown.contains("sk-live-9") && shown.contains("ApiKey(literal)"),
            "{shown}"
        );
    }
}
