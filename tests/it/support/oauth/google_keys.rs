//! Google's token endpoint for the credential files of Vertex AI accounts:
//! service-account keys (an RS256 JWT-bearer assertion, RFC 7523) and
//! application-default logins (`authorized_user`: a refresh grant with the file's own
//! client). The assertion is checked as Google checks it: signature against the key's
//! public half, `kid`, `iss`, `aud`, `scope`, and an `iat`/`exp` window of at most one
//! hour around the fake's clock. Answers and errors in Google's shapes.
//!
//! Keys are made fresh by `openssl genpkey` (ring signs with RSA but cannot make RSA
//! keys); nothing is committed.

use std::collections::HashMap;
use std::time::SystemTime;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use keypool::clock::{Clock, ManualClock};
use ring::signature::{KeyPair, RsaKeyPair, UnparsedPublicKey, RSA_PKCS1_2048_8192_SHA256};
use serde_json::{json, Value};

use crate::support::fake::{Behaviour, Owner, Service};
use crate::support::https::random_token;

pub const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
pub const CLOUD_PLATFORM: &str = "https://www.googleapis.com/auth/cloud-platform";
pub const TOKEN_URI: &str = "https://oauth2.googleapis.com/token";
/// gcloud's own client, which `gcloud auth application-default login` files name.
pub const GCLOUD_CLIENT_ID: &str =
    "764086051850-6qr4p6gpi6hn506pt8ejuq83di341hur.apps.googleusercontent.com";

/// A service account and its key, as the test holds them.
#[derive(Clone, Debug)]
pub struct ServiceAccount {
    pub email: String,
    pub project: String,
    pub key_id: String,
    /// PKCS#8 PEM, as a key file's `private_key`.
    pub private_pem: String,
    /// The RSA public key (PKCS#1 DER), which the fake verifies with.
    pub public_der: Vec<u8>,
}

impl ServiceAccount {
    /// A new account `name` in `project` with a fresh 2048-bit key.
    pub fn generate(name: &str, project: &str) -> ServiceAccount {
        let private_pem = rsa_pem();
        let der = pem::parse(&private_pem).expect("PEM").into_contents();
        let pair = RsaKeyPair::from_pkcs8(&der).expect("an RSA PKCS#8 key");
        ServiceAccount {
            email: format!("{name}@{project}.iam.gserviceaccount.com"),
            project: project.to_string(),
            key_id: crate::support::https::random_hex(40),
            private_pem,
            public_der: pair.public_key().as_ref().to_vec(),
        }
    }

    /// The key file `gcloud iam service-accounts keys create` writes.
    pub fn key_file(&self) -> Value {
        json!({
            "type": "service_account",
            "project_id": self.project,
            "private_key_id": self.key_id,
            "private_key": self.private_pem,
            "client_email": self.email,
            "client_id": "104729865391846274381",
            "auth_uri": "https://accounts.google.com/o/oauth2/auth",
            "token_uri": TOKEN_URI,
            "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
            "client_x509_cert_url": format!("https://www.googleapis.com/robot/v1/metadata/x509/{}", self.email),
            "universe_domain": "googleapis.com",
        })
    }
}

/// A fresh 2048-bit RSA key in PKCS#8 PEM.
pub fn rsa_pem() -> String {
    let out = std::process::Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
        ])
        .output()
        .expect("openssl runs");
    assert!(out.status.success(), "openssl genpkey failed");
    String::from_utf8(out.stdout).expect("PEM is text")
}

/// An application-default login's file, and what the fake knows of it.
#[derive(Clone, Debug)]
pub struct AdcLogin {
    pub client_secret: String,
    pub refresh_token: String,
    pub project: String,
}

impl AdcLogin {
    pub fn file(&self) -> Value {
        json!({
            "account": "",
            "client_id": GCLOUD_CLIENT_ID,
            "client_secret": self.client_secret,
            "quota_project_id": self.project,
            "refresh_token": self.refresh_token,
            "type": "authorized_user",
            "universe_domain": "googleapis.com",
        })
    }
}

/// What the fake knows and counts.
#[derive(Default)]
pub struct GoogleKeys {
    accounts: HashMap<String, ServiceAccount>,
    logins: HashMap<String, AdcLogin>,
    /// JWT-bearer grants received, accepted or not.
    pub assertions: usize,
    /// authorized_user refresh grants received, accepted or not.
    pub adc_refreshes: usize,
    /// Why each refused grant was refused, in order.
    pub refusals: Vec<String>,
    expires_in: Option<u64>,
    clock: Option<ManualClock>,
    /// What Vertex answers the tokens of a service account (by email) or a login (by
    /// project); `Behaviour::Ok` for the rest.
    pub behaviours: HashMap<String, Behaviour>,
}

/// The answer of the token endpoint: status and body.
pub type Answer = (u16, Value);

impl GoogleKeys {
    pub fn add_account(&mut self, sa: &ServiceAccount) {
        self.accounts.insert(sa.email.clone(), sa.clone());
    }

    pub fn add_login(&mut self, project: &str) -> AdcLogin {
        let login = AdcLogin {
            client_secret: format!("d-FL95Q{}", random_token(12)),
            refresh_token: format!("1//0g{}", random_token(40)),
            project: project.to_string(),
        };
        self.logins
            .insert(login.refresh_token.clone(), login.clone());
        login
    }

    pub fn set_clock(&mut self, clock: ManualClock) {
        self.clock = Some(clock);
    }

    pub fn set_expires_in(&mut self, secs: u64) {
        self.expires_in = Some(secs);
    }

    fn now(&self) -> u64 {
        let now = self
            .clock
            .as_ref()
            .map_or_else(SystemTime::now, |c| c.now());
        keypool::bounds::to_epoch_secs(now)
    }

    /// Whether `client_id` is the client of a login the fake knows.
    pub fn knows_client(&self, client_id: &str) -> bool {
        client_id == GCLOUD_CLIENT_ID && !self.logins.is_empty()
    }

    /// A JWT-bearer grant; on success the token and who it is for.
    pub fn assertion(&mut self, assertion: &str) -> Result<(Value, Owner), Answer> {
        self.assertions += 1;
        let verdict = self.check(assertion);
        let sa = verdict.inspect_err(|why| self.refusals.push(why.clone()));
        let sa = sa.map_err(|why| {
            (
                400,
                json!({"error": "invalid_grant", "error_description": why}),
            )
        })?;
        Ok(self.issue(Some(&sa.email), &sa.project))
    }

    /// What the fake provider does with a token issued for `owner`.
    pub fn behaviour(&self, owner: &Owner) -> Behaviour {
        let by = owner.email.as_ref().or(owner.project.as_ref());
        by.and_then(|k| self.behaviours.get(k))
            .cloned()
            .unwrap_or(Behaviour::Ok)
    }

    fn check(&self, assertion: &str) -> Result<ServiceAccount, String> {
        let parts: Vec<&str> = assertion.split('.').collect();
        let [header, claims, signature] = parts[..] else {
            return Err("Invalid JWT: not three parts".into());
        };
        let decode = |p: &str| -> Option<Value> {
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(p).ok()?).ok()
        };
        let (Some(h), Some(c)) = (decode(header), decode(claims)) else {
            return Err("Invalid JWT: not base64url JSON".into());
        };
        let iss = c["iss"].as_str().unwrap_or_default();
        let sa = (self.accounts.get(iss)).ok_or("Invalid grant: account not found")?;
        if h["alg"] != "RS256" || h["kid"] != sa.key_id.as_str() {
            return Err("Invalid JWT: alg or kid".into());
        }
        let sig = URL_SAFE_NO_PAD
            .decode(signature)
            .map_err(|_| "Invalid JWT Signature.")?;
        let key = UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, &sa.public_der);
        let signed = format!("{header}.{claims}");
        key.verify(signed.as_bytes(), &sig)
            .map_err(|_| "Invalid JWT Signature.")?;
        if c["aud"] != TOKEN_URI {
            return Err("Invalid JWT: aud".into());
        }
        if c["scope"] != CLOUD_PLATFORM {
            return Err("Invalid JWT: scope".into());
        }
        let (iat, exp) = (c["iat"].as_u64(), c["exp"].as_u64());
        let now = self.now();
        let window = match (iat, exp) {
            (Some(iat), Some(exp)) => {
                exp > iat && exp - iat <= 3600 && iat <= now + 60 && exp > now
            }
            _ => false,
        };
        if !window {
            return Err(
                "Invalid JWT: Token must be a short-lived token (60 minutes) and in a \
                        reasonable timeframe. Check your iat and exp values in the JWT claim."
                    .into(),
            );
        }
        Ok(sa.clone())
    }

    /// An authorized_user refresh grant.
    pub fn adc_refresh(
        &mut self,
        client_secret: &str,
        refresh_token: &str,
    ) -> Result<(Value, Owner), Answer> {
        self.adc_refreshes += 1;
        let login = self.logins.get(refresh_token).cloned();
        let Some(login) = login.filter(|l| l.client_secret == client_secret) else {
            let why = "Token has been expired or revoked.";
            self.refusals.push(why.into());
            return Err((
                400,
                json!({"error": "invalid_grant", "error_description": why}),
            ));
        };
        Ok(self.issue(None, &login.project))
    }

    fn issue(&self, email: Option<&str>, project: &str) -> (Value, Owner) {
        let token = format!("ya29.c.{}", random_token(48));
        let body = json!({
            "access_token": token,
            "expires_in": self.expires_in.unwrap_or(3599),
            "token_type": "Bearer",
        });
        let owner = Owner {
            service: Some(Service::Vertex),
            email: email.map(str::to_string),
            project: Some(project.to_string()),
            ..Owner::default()
        };
        (body, owner)
    }
}

/// The access token of an answer.
pub fn token_of(body: &Value) -> &str {
    body["access_token"].as_str().unwrap_or_default()
}

/// Registers an issued token with the fake provider.
pub fn register(
    registrar: Option<&crate::support::fake::Registrar>,
    body: &Value,
    owner: Owner,
    behaviour: Behaviour,
) {
    if let Some(r) = registrar {
        r.set(token_of(body), behaviour);
        r.set_owner(token_of(body), owner);
    }
}
