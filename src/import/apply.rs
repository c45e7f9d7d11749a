//! Turning a found credential into an account: unless it is already configured, its
//! tokens (stored) or identity (linked) go to `credentials.json` first and its block to
//! the config second, so a config never names a stored account without tokens.

use super::existing::{newer, Existing, Kind, Known};
use super::found::{Found, Linkable, Origin, What};
use super::Machine;
use crate::config::edit::{self, Credential, NewAccount};
use crate::failure::Failure;
use crate::oauth::store::{Entry, Store};
use crate::oauth::Tokens;
use crate::providers::Flavor;
use secrecy::ExposeSecret;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Default)]
pub struct Options {
    /// `--name`: the first new account's name; later ones get `-2`, `-3`, ….
    pub name: Option<String>,
    /// `--link`: point OAuth accounts at the CLI's file instead of copying the tokens.
    pub link: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Added {
        name: String,
        how: How,
    },
    /// Already configured; `updated` when the stored tokens were replaced by newer ones.
    Already {
        name: String,
        updated: bool,
    },
    Skipped(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum How {
    Stored,
    Linked,
    Key,
}

pub struct Importer<'a> {
    machine: &'a Machine,
    config: PathBuf,
    store: Store,
    opts: Options,
    existing: Existing,
    names_given: usize,
    pub added: usize,
    pub updated: usize,
    /// Said after the lines: logins now shared with a CLI that rotates refresh tokens.
    pub warnings: Vec<String>,
}

impl<'a> Importer<'a> {
    pub fn new(
        machine: &'a Machine,
        config: PathBuf,
        store: Store,
        existing: Existing,
        opts: Options,
    ) -> Importer<'a> {
        Importer {
            machine,
            config,
            store,
            opts,
            existing,
            names_given: 0,
            added: 0,
            updated: 0,
            warnings: Vec::new(),
        }
    }

    pub fn import(&mut self, f: &Found) -> Result<Outcome, Failure> {
        match &f.what {
            What::Skipped { reason, .. } => Ok(Outcome::Skipped(reason.clone())),
            What::ApiKey(raw) => self.key(f, raw.expose_secret(), &[]),
            What::PlacedKey { key, place } => self.key(f, key.expose_secret(), place),
            What::Iam {
                access_key_id,
                secret_access_key,
                session_token,
                place,
            } => {
                let credential = Credential::Iam {
                    access_key_id: access_key_id.expose_secret().to_string(),
                    secret_access_key: secret_access_key.expose_secret().to_string(),
                    session_token: session_token
                        .as_ref()
                        .map(|t| t.expose_secret().to_string()),
                    place: place.clone(),
                };
                self.keyed(f, access_key_id.expose_secret(), credential)
            }
            What::OAuth { tokens, link } => self.login(f, tokens, link),
        }
    }

    fn key(
        &mut self,
        f: &Found,
        raw: &str,
        place: &[(&'static str, String)],
    ) -> Result<Outcome, Failure> {
        let credential = match place {
            [] => Credential::ApiKey(raw.to_string()),
            _ => Credential::PlacedKey(raw.to_string(), place.to_vec()),
        };
        self.keyed(f, raw, credential)
    }

    /// A key account (or an IAM one, told apart by its access key id `raw`) added as
    /// `credential`, unless the config has it already.
    fn keyed(&mut self, f: &Found, raw: &str, credential: Credential) -> Result<Outcome, Failure> {
        if let Some(k) = self.existing.find_key(&f.provider, raw, self.machine) {
            return Ok(already(k, false));
        }
        let name = self.fresh_name(&f.default_name)?;
        self.append(f, &name, credential)?;
        self.existing.add(Known {
            name: name.clone(),
            provider: f.provider.clone(),
            kind: Kind::ApiKey(raw.to_string().into()),
            entry: None,
        });
        self.added += 1;
        Ok(Outcome::Added {
            name,
            how: How::Key,
        })
    }

    fn login(&mut self, f: &Found, tokens: &Tokens, link: &Linkable) -> Result<Outcome, Failure> {
        let file = f.file();
        if let Some(k) = self.existing.find_login(&f.provider, tokens, file) {
            let refresh = matches!(k.kind, Kind::Stored) && newer(tokens, k.entry.as_ref());
            let k = k.clone();
            if refresh {
                self.store
                    .put_tokens(&k.name, &f.provider, tokens)
                    .map_err(runtime)?;
                self.updated += 1;
            }
            return Ok(already(&k, refresh));
        }
        let linked_file = match (self.opts.link, link, file) {
            (_, Linkable::Only, Some(p)) => Some(p),
            (_, Linkable::Only, None) => {
                return Ok(Outcome::Skipped("it is not in a file to link to".into()))
            }
            (false, _, _) => None,
            (true, Linkable::Yes, Some(p)) => Some(p),
            (true, Linkable::No(why), _) => return Ok(Outcome::Skipped(why.clone())),
            (true, Linkable::Yes, None) => {
                return Ok(Outcome::Skipped("it is not in a file to link to".into()))
            }
        };
        let name = self.fresh_name(&f.default_name)?;
        let (entry, kind, credential, how) = match linked_file {
            Some(p) => {
                self.store
                    .put_identity(&name, &f.provider, &tokens.identity)
                    .map_err(runtime)?;
                (
                    Entry::new(&f.provider, None, &tokens.identity),
                    Kind::Linked(p.to_path_buf()),
                    Credential::OAuthLinked(self.machine.tilde(p)),
                    How::Linked,
                )
            }
            None => {
                self.store
                    .put_tokens(&name, &f.provider, tokens)
                    .map_err(runtime)?;
                self.warn_if_shared(f, &name, tokens);
                (
                    Entry::new(&f.provider, Some(tokens), &tokens.identity),
                    Kind::Stored,
                    Credential::OAuthStored,
                    How::Stored,
                )
            }
        };
        self.append(f, &name, credential)?;
        self.existing.add(Known {
            name: name.clone(),
            provider: f.provider.clone(),
            kind,
            entry: Some(entry),
        });
        self.added += 1;
        Ok(Outcome::Added { name, how })
    }

    /// A copied login whose refresh token rotates works for one party only.
    fn warn_if_shared(&mut self, f: &Found, name: &str, tokens: &Tokens) {
        let rotates = Flavor::for_provider(&f.provider).is_some_and(Flavor::rotates);
        if !rotates || tokens.refresh.is_none() {
            return;
        }
        let program = f.source.program();
        self.warnings.push(format!(
            "'{name}' and {program} now share one login, and its refresh token works once: \
             the first refresh by either of them logs the other out. To keep both working, \
             link instead of copying: remove the '{name}' block from {} and run \
             `keypool accounts import {} --link`.",
            self.machine.display(&self.config),
            f.source.name()
        ));
    }

    fn append(&self, f: &Found, name: &str, credential: Credential) -> Result<(), Failure> {
        let from = match &f.origin {
            Origin::File(p) => self.machine.display(p),
            Origin::Env(v) => format!("${v}"),
        };
        let account = NewAccount {
            name: name.to_string(),
            provider: f.provider.clone(),
            credential,
            comment: Some(format!("imported from {from} ({})", f.source.name())),
        };
        edit::append_account(&self.config, &account).map_err(|e| runtime(e.to_string()))
    }

    /// `--name` for the first new account (it must be free), `NAME-2`, `NAME-3`, … for
    /// the next; otherwise the default name, made unique.
    fn fresh_name(&mut self, default: &str) -> Result<String, Failure> {
        self.names_given += 1;
        match &self.opts.name {
            Some(n) if self.names_given == 1 => {
                if self.existing.name_taken(n) {
                    return Err(Failure::Usage(format!(
                        "an account named '{n}' is already in {}; choose another --name",
                        self.config.display()
                    )));
                }
                Ok(n.clone())
            }
            Some(n) => Ok(self.unique(n, false)),
            None => Ok(self.unique(default, true)),
        }
    }

    fn unique(&self, base: &str, bare_first: bool) -> String {
        if bare_first && !self.existing.name_taken(base) {
            return base.to_string();
        }
        (2..)
            .map(|i| format!("{base}-{i}"))
            .find(|n| !self.existing.name_taken(n))
            .expect("some suffix is free")
    }

    pub fn config(&self) -> &Path {
        &self.config
    }
}

fn already(k: &Known, updated: bool) -> Outcome {
    Outcome::Already {
        name: k.name.clone(),
        updated,
    }
}

fn runtime(e: impl ToString) -> Failure {
    Failure::Runtime(e.to_string())
}
