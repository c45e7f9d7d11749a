//! Credential references in the config: a literal, `env:VAR`, or `!shell command`.

use secrecy::SecretString;
use std::process::Command;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretRef {
    Literal,
    Env(String),
    Command(String),
}

impl SecretRef {
    pub fn parse(raw: &str) -> SecretRef {
        if let Some(var) = raw.strip_prefix("env:") {
            SecretRef::Env(var.trim().to_string())
        } else if let Some(cmd) = raw.strip_prefix('!') {
            SecretRef::Command(cmd.trim().to_string())
        } else {
            SecretRef::Literal
        }
    }

    /// How the secret is obtained, safe to print (never the secret itself).
    pub fn describe(&self) -> String {
        match self {
            SecretRef::Literal => "literal".into(),
            SecretRef::Env(v) => format!("env:{v}"),
            SecretRef::Command(c) => format!("!{c}"),
        }
    }
}

/// Resolves `raw` to the secret it names. Errors name the source, never a secret.
pub fn resolve(raw: &str) -> Result<SecretString, String> {
    let value = match SecretRef::parse(raw) {
        SecretRef::Literal => raw.to_string(),
        SecretRef::Env(var) => std::env::var(&var).map_err(|_| {
            format!("environment variable {var} is not set (export it, or change api_key)")
        })?,
        SecretRef::Command(cmd) => run(&cmd)?,
    };
    let value = value.trim().to_string();
    if value.is_empty() {
        return Err("the key is empty".into());
    }
    if value.bytes().any(|b| b < 0x20 || b == 0x7f) {
        return Err("the key contains control characters, which HTTP headers cannot carry".into());
    }
    Ok(SecretString::from(value))
}

fn run(cmd: &str) -> Result<String, String> {
    let out = Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| format!("could not run `{cmd}`: {e}"))?;
    if !out.status.success() {
        // stderr is the command's own complaint; keep only its first line, as a key
        // manager may echo more than we want in a log.
        let err = String::from_utf8_lossy(&out.stderr);
        let first = err.lines().next().unwrap_or("").trim();
        return Err(format!("`{cmd}` failed ({}){}", out.status, suffix(first)));
    }
    String::from_utf8(out.stdout).map_err(|_| format!("`{cmd}` printed bytes that are not UTF-8"))
}

fn suffix(s: &str) -> String {
    if s.is_empty() {
        String::new()
    } else {
        format!(": {s}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    #[test]
    fn literal_env_and_command() {
        assert_eq!(resolve("sk-abc").unwrap().expose_secret(), "sk-abc");
        std::env::set_var("KEYPOOL_TEST_SECRET_X", "sk-env\n");
        assert_eq!(
            resolve("env:KEYPOOL_TEST_SECRET_X")
                .unwrap()
                .expose_secret(),
            "sk-env"
        );
        assert_eq!(
            resolve("!printf ' sk-cmd\\n'").unwrap().expose_secret(),
            "sk-cmd"
        );
    }

    #[test]
    fn failures_name_the_source() {
        let e = resolve("env:KEYPOOL_SURELY_UNSET_VAR").unwrap_err();
        assert!(e.contains("KEYPOOL_SURELY_UNSET_VAR"), "{e}");
        let e = resolve("!echo nope >&2; exit 3").unwrap_err();
        assert!(e.contains("failed") && e.contains("nope"), "{e}");
        assert!(resolve("!true").unwrap_err().contains("empty"));
    }
}
