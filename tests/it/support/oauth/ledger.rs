//! The fake OAuth server's bookkeeping, free of HTTP: identities, refresh
//! token families, PKCE authorizations, GitHub tokens and the device flow.
//! Every rule a real server enforces (rotation, reuse kills the family,
//! single-use codes) lives here so the routes only translate.

use std::collections::{HashMap, VecDeque};
use std::time::Instant;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sha2::{Digest, Sha256};

use super::tokens;
use super::{DeviceAnswer, Flavor, Grant, Identity};
use crate::support::https::{random_hex, random_token};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Status {
    Live,
    /// Rotated away: presenting it again is reuse.
    Used,
    Revoked,
}

struct RefreshToken {
    flavor: Flavor,
    label: String,
    status: Status,
}

/// Why a refresh was refused; each route renders it in its provider's shape.
#[derive(Debug, PartialEq, Eq)]
pub enum RefreshError {
    Unknown,
    /// A rotated-away token came back; the whole family is revoked now.
    Reused,
    Revoked,
}

struct Authorization {
    label: String,
    flavor: Flavor,
    challenge: String,
    redirect_uri: String,
    state: String,
    used: bool,
}

/// A code exchange as a client sends it.
pub struct CodeExchange<'a> {
    pub code: &'a str,
    pub verifier: &'a str,
    pub redirect_uri: &'a str,
    /// Only Anthropic sends it back.
    pub state: Option<&'a str>,
}

pub struct GitHubToken {
    pub label: String,
    pub domain: String,
    /// `endpoints.api` of the Copilot tokens it exchanges for.
    pub copilot_api: Option<String>,
}

struct DeviceCode {
    domain: String,
    done: bool,
}

/// What a device-flow poll gets.
pub enum Poll {
    Answer(DeviceAnswer),
    Granted(String),
    /// Kimi's device flow grants a token pair.
    Issued(Box<(Identity, Grant)>),
    UnknownCode,
    AlreadyUsed,
}

pub struct Ledger {
    identities: HashMap<(Flavor, String), Identity>,
    refresh: HashMap<String, RefreshToken>,
    codes: HashMap<String, Authorization>,
    pub github: HashMap<String, GitHubToken>,
    expires_in: HashMap<Flavor, u64>,
    pub copilot_refresh_in: u64,
    device_script: VecDeque<DeviceAnswer>,
    device_codes: HashMap<String, DeviceCode>,
    pub device_interval: u64,
    pub device_polls: Vec<Instant>,
    /// Who a device-flow grant signs in; defaults to label "device".
    pub device_label: Option<String>,
    pub refresh_calls: HashMap<Flavor, usize>,
    pub code_calls: HashMap<Flavor, usize>,
    pub copilot_exchanges: usize,
}

impl Default for Ledger {
    fn default() -> Self {
        Ledger {
            identities: HashMap::new(),
            refresh: HashMap::new(),
            codes: HashMap::new(),
            github: HashMap::new(),
            expires_in: HashMap::new(),
            copilot_refresh_in: 1500,
            device_script: VecDeque::new(),
            device_codes: HashMap::new(),
            device_interval: 0,
            device_polls: Vec::new(),
            device_label: None,
            refresh_calls: HashMap::new(),
            code_calls: HashMap::new(),
            copilot_exchanges: 0,
        }
    }
}

impl Ledger {
    /// The identity `label` of `flavor` (on `domain` for GitHub), created
    /// with stable, label-derived ids on first use.
    pub fn identity(&mut self, flavor: Flavor, label: &str, domain: Option<&str>) -> Identity {
        let domain = domain.unwrap_or("github.com");
        self.identities
            .entry(identity_key(flavor, label, domain))
            .or_insert_with(|| Identity::new(flavor, label, Some(domain)))
            .clone()
    }

    pub fn update_identity(&mut self, identity: &Identity) {
        let key = identity_key(identity.flavor, &identity.label, &identity.domain);
        self.identities.insert(key, identity.clone());
    }

    pub fn set_expires_in(&mut self, flavor: Flavor, secs: u64) {
        self.expires_in.insert(flavor, secs);
    }

    pub fn expires_in(&self, flavor: Flavor) -> u64 {
        let default = match flavor {
            Flavor::Anthropic => 28800,
            Flavor::Codex => 3600,
            Flavor::Google => 3599,
            Flavor::GitHub => self.copilot_refresh_in + 300,
            Flavor::Kimi => 900,
        };
        *self.expires_in.get(&flavor).unwrap_or(&default)
    }

    /// A fresh token pair for `identity`, as a sign-in would give. The new
    /// refresh token joins the identity's family.
    pub fn issue(&mut self, identity: &Identity) -> Grant {
        let expires_in = self.expires_in(identity.flavor);
        let refresh = tokens::refresh_token(identity.flavor);
        self.refresh.insert(
            refresh.clone(),
            RefreshToken {
                flavor: identity.flavor,
                label: identity.label.clone(),
                status: Status::Live,
            },
        );
        tokens::grant(identity, refresh, expires_in)
    }

    /// One refresh grant. Anthropic and Codex rotate (the presented token
    /// becomes used); Google keeps it. Reuse revokes the whole family, as
    /// the real servers do to contain a leaked token.
    pub fn refresh(
        &mut self,
        flavor: Flavor,
        token: &str,
    ) -> Result<(Identity, Grant), RefreshError> {
        let Some(entry) = self.refresh.get_mut(token).filter(|t| t.flavor == flavor) else {
            return Err(RefreshError::Unknown);
        };
        let label = entry.label.clone();
        match entry.status {
            Status::Revoked => return Err(RefreshError::Revoked),
            Status::Used => {
                self.revoke_family(flavor, &label);
                return Err(RefreshError::Reused);
            }
            Status::Live => {}
        }
        let identity = self.identity(flavor, &label, None);
        if flavor == Flavor::Google {
            let expires_in = self.expires_in(flavor);
            let grant = tokens::grant(&identity, token.to_string(), expires_in);
            return Ok((identity, grant));
        }
        self.refresh.get_mut(token).expect("just seen").status = Status::Used;
        let grant = self.issue(&identity);
        Ok((identity, grant))
    }

    /// Revokes every refresh token of the family `token` belongs to.
    pub fn revoke(&mut self, flavor: Flavor, token: &str) {
        if let Some(label) = self.refresh.get(token).map(|t| t.label.clone()) {
            self.revoke_family(flavor, &label);
        }
    }

    fn revoke_family(&mut self, flavor: Flavor, label: &str) {
        for t in self.refresh.values_mut() {
            if t.flavor == flavor && t.label == label {
                t.status = Status::Revoked;
            }
        }
    }

    /// Registers a consent, as the browser half of the flow would.
    pub fn authorize(
        &mut self,
        identity: &Identity,
        challenge: &str,
        redirect_uri: &str,
        state: &str,
    ) -> String {
        let code = match identity.flavor {
            Flavor::Codex => format!("ac_{}", random_token(43)),
            Flavor::Google => format!("4/0{}", random_token(70)),
            _ => random_token(40),
        };
        self.codes.insert(
            code.clone(),
            Authorization {
                label: identity.label.clone(),
                flavor: identity.flavor,
                challenge: challenge.to_string(),
                redirect_uri: redirect_uri.to_string(),
                state: state.to_string(),
                used: false,
            },
        );
        code
    }

    /// Checks a code exchange like the real servers: known, unused, same
    /// redirect URI (and state, where sent), and S256 of the verifier equal
    /// to the challenge. A code is spent by any attempt, right or wrong.
    pub fn exchange(
        &mut self,
        flavor: Flavor,
        x: &CodeExchange,
    ) -> Result<(Identity, Grant), String> {
        let auth = (self.codes.get_mut(x.code))
            .filter(|a| a.flavor == flavor)
            .ok_or("Invalid authorization code")?;
        if std::mem::replace(&mut auth.used, true) {
            return Err("Authorization code has already been used".into());
        }
        if auth.redirect_uri != x.redirect_uri {
            return Err("Redirect URI mismatch".into());
        }
        if x.state.is_some_and(|s| s != auth.state) {
            return Err("Invalid state".into());
        }
        if pkce_challenge(x.verifier) != auth.challenge {
            return Err("Invalid code verifier".into());
        }
        let label = auth.label.clone();
        let identity = self.identity(flavor, &label, None);
        let grant = self.issue(&identity);
        Ok((identity, grant))
    }

    /// A new `gho_` token for `identity`, as the device flow grants.
    pub fn github_token(&mut self, identity: &Identity) -> String {
        let token = format!("gho_{}", random_alnum(36));
        self.github.insert(
            token.clone(),
            GitHubToken {
                label: identity.label.clone(),
                domain: identity.domain.clone(),
                copilot_api: None,
            },
        );
        token
    }

    pub fn device_script(&mut self, answers: Vec<DeviceAnswer>) {
        self.device_script = answers.into();
    }

    pub fn device_code(&mut self, domain: &str) -> String {
        let code = random_hex(40);
        let entry = DeviceCode {
            domain: domain.to_string(),
            done: false,
        };
        self.device_codes.insert(code.clone(), entry);
        code
    }

    /// One poll: the next scripted answer, and a token once the script says
    /// `Grant` or runs out.
    pub fn poll(&mut self, domain: &str, device_code: &str) -> Poll {
        let Some(code) = (self.device_codes.get_mut(device_code)).filter(|c| c.domain == domain)
        else {
            return Poll::UnknownCode;
        };
        if code.done {
            return Poll::AlreadyUsed;
        }
        let answer = (self.device_script.pop_front()).unwrap_or(DeviceAnswer::Grant);
        match answer {
            DeviceAnswer::Grant => {}
            DeviceAnswer::Denied | DeviceAnswer::Expired | DeviceAnswer::Invalid => {
                code.done = true;
                return Poll::Answer(answer);
            }
            _ => return Poll::Answer(answer),
        }
        code.done = true;
        let label = self.device_label.clone().unwrap_or_else(|| "device".into());
        if domain == "auth.kimi.com" {
            let identity = self.identity(Flavor::Kimi, &label, None);
            let grant = self.issue(&identity);
            return Poll::Issued(Box::new((identity, grant)));
        }
        let identity = self.identity(Flavor::GitHub, &label, Some(domain));
        Poll::Granted(self.github_token(&identity))
    }
}

/// GitHub accounts live on one server each: `ivy` on github.com and `ivy`
/// on a GHE host are different people.
fn identity_key(flavor: Flavor, label: &str, domain: &str) -> (Flavor, String) {
    match flavor {
        Flavor::GitHub => (flavor, format!("{label}@{domain}")),
        _ => (flavor, label.to_string()),
    }
}

/// `BASE64URL-NOPAD(SHA256(verifier))`, the S256 PKCE method.
pub fn pkce_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

fn random_alnum(len: usize) -> String {
    random_token(len * 2)
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .chain(std::iter::repeat('x'))
        .take(len)
        .collect()
}
