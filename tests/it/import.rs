//! `keypool accounts import`, driving the real binary against CLI files laid out in a
//! temp home (fixtures in tests/fixtures/import), with a cleared environment.
//! This file holds the shared harness; the tests, by source, are in tests/import/.

mod claude_code;
mod codex_pi;
use crate::support::config_files;
mod discovery;
mod env;
mod gemini_copilot;
mod kimi;
use crate::support::guard;
mod naming;

use guard::OutputWithin;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

pub(crate) const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/import");

/// A machine: a home directory with CLI files in it, and keypool's own directory.
pub(crate) struct Machine {
    pub(crate) dir: tempfile::TempDir,
}

pub(crate) struct Run {
    pub(crate) code: Option<i32>,
    pub(crate) stdout: String,
}

impl Machine {
    pub(crate) fn new() -> Machine {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("home")).unwrap();
        Machine { dir }
    }

    pub(crate) fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    pub(crate) fn keypool_home(&self) -> PathBuf {
        self.dir.path().join("keypool")
    }

    /// Copies fixture `name` to `dest` (relative to the home directory) at 0600.
    pub(crate) fn place(&self, name: &str, dest: &str) -> PathBuf {
        let to = self.home().join(dest);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(Path::new(FIXTURES).join(name), &to).unwrap();
        set_mode(&to, 0o600);
        to
    }

    /// Runs keypool with only HOME, KEYPOOL_HOME and `env` set, and checks that no
    /// secret of any fixture reached its output.
    pub(crate) fn run(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let out = Command::new(env!("CARGO_BIN_EXE_keypool"))
            .env_clear()
            .env("HOME", self.home())
            .env("KEYPOOL_HOME", self.keypool_home())
            .envs(env.iter().copied())
            .args(args)
            .output_within();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        for text in [&stdout, &stderr] {
            // The name of AWS's secret variable is no secret, and it has the marker in it.
            let text = &text.replace("AWS_SECRET_ACCESS_KEY", "AWS_..._ACCESS_KEY");
            for secret in secrets() {
                assert!(
                    !text.contains(&secret),
                    "a secret reached the output of {args:?}:\n{text}"
                );
            }
        }
        assert!(
            stderr.is_empty() || out.status.code() != Some(0),
            "{stderr}"
        );
        Run {
            code: out.status.code(),
            stdout: stdout + &stderr,
        }
    }

    pub(crate) fn config(&self) -> String {
        std::fs::read_to_string(self.keypool_home().join("config.toml")).unwrap_or_default()
    }

    /// `credentials.json`'s accounts, after checking its mode.
    pub(crate) fn credentials(&self) -> Value {
        let path = self.keypool_home().join("credentials.json");
        assert_eq!(mode(&path), 0o600, "credentials.json must be private");
        let v: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
        v["accounts"].clone()
    }
}

/// Every token and key in the fixtures: the marked ones and the JWTs.
fn secrets() -> Vec<String> {
    let mut s = vec!["SECRET".to_string()];
    let codex: Value = serde_json::from_slice(
        &std::fs::read(Path::new(FIXTURES).join("codex/auth.json")).unwrap(),
    )
    .unwrap();
    for k in ["access_token", "id_token"] {
        s.push(codex["tokens"][k].as_str().unwrap().to_string());
    }
    s
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

pub(crate) use config_files::{blocks, mode};
