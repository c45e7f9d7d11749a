//! What a scan finds: one entry per credential, and what a source reports besides.

use super::Source;
use crate::oauth::Tokens;
use secrecy::SecretString;
use std::path::PathBuf;

/// One credential found on the machine.
#[derive(Debug)]
pub struct Found {
    pub source: Source,
    pub provider: String,
    pub what: What,
    pub origin: Origin,
    /// The account name to use unless `--name` says otherwise (made unique later).
    pub default_name: String,
}

#[derive(Debug)]
// An import finds a handful of credentials once; boxing the tokens would buy nothing.
#[allow(clippy::large_enum_variant)]
pub enum What {
    /// A subscription login. `link` says whether `--link` can follow it in its file.
    OAuth { tokens: Tokens, link: Linkable },
    /// An API key, already in the config's form: a literal, `env:VAR` or `!command`.
    ApiKey(SecretString),
    /// An API key of a placed provider, with the place keys its account needs
    /// (`resource`, `region`, `account_id`, …) as they go into the config.
    PlacedKey {
        key: SecretString,
        place: Vec<(&'static str, String)>,
    },
    /// AWS IAM credentials (Bedrock), each already in the config's form, with the place
    /// keys the account needs.
    Iam {
        access_key_id: SecretString,
        secret_access_key: SecretString,
        session_token: Option<SecretString>,
        place: Vec<(&'static str, String)>,
    },
    /// Something keypool cannot use; `kind` is what it is ("oauth", "api key", …).
    Skipped { kind: &'static str, reason: String },
}

#[derive(Debug, Clone)]
pub enum Linkable {
    Yes,
    /// Always linked, with or without `--link`: the file is a key, which keypool never
    /// copies.
    Only,
    /// Why `--link` cannot follow this login.
    No(String),
}

/// Where a credential came from.
#[derive(Debug, Clone)]
pub enum Origin {
    File(PathBuf),
    Env(String),
}

impl Found {
    pub fn file(&self) -> Option<&std::path::Path> {
        match &self.origin {
            Origin::File(p) => Some(p),
            Origin::Env(_) => None,
        }
    }
}

/// What scanning one source gave.
#[derive(Debug)]
pub struct Scan {
    pub source: Source,
    /// Where the source looked (display form), for the "nothing found" line.
    pub looked: Vec<String>,
    pub found: Vec<Found>,
    /// Files that are there but could not be used, and why.
    pub problems: Vec<(PathBuf, String)>,
    /// Said once after the source's lines when it found something.
    pub notes: Vec<String>,
    /// Added to the "nothing found" line (e.g. macOS keeps Claude's login elsewhere).
    pub hint: Option<String>,
}

impl Scan {
    pub fn new(source: Source) -> Scan {
        Scan {
            source,
            looked: Vec::new(),
            found: Vec::new(),
            problems: Vec::new(),
            notes: Vec::new(),
            hint: None,
        }
    }

    /// Records that `path` is there but unusable.
    pub fn problem(&mut self, path: &std::path::Path, e: &crate::oauth::link::LinkError) {
        self.problems
            .push((path.to_path_buf(), e.problem(path).to_string()));
    }
}
