//! A Google credential file, as `GOOGLE_APPLICATION_CREDENTIALS` names one: a service
//! account's key (`"type": "service_account"`) or a user's application-default login
//! (`"type": "authorized_user"`, from `gcloud auth application-default login`). keypool
//! reads it where it lies and never copies it; the access tokens it gets with it live in
//! memory only (the `exchange` step of the `google-vertex` flavor).
//!
//! A key file is outside input: its `token_uri` decides where a signed assertion goes,
//! so it must be https on one of Google's token hosts. Errors name the field and never
//! quote a value.

use super::endpoint::{self, ApiToken, TokenError};
use super::flavor::Encoding;
use crate::providers::Flavor;
use crate::upstream::Upstream;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ring::rand::SystemRandom;
use ring::signature::{RsaKeyPair, RSA_PKCS1_SHA256};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{json, Value};
use std::time::SystemTime;

/// The scope of every token keypool gets with a key: Vertex AI's.
pub const SCOPE: &str = "https://www.googleapis.com/auth/cloud-platform";
/// RFC 7523's grant type, as Google's token endpoint takes a service-account assertion.
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
/// Where an authorized_user login is refreshed (and a key's default `token_uri`).
pub const GOOGLE_TOKEN_URL: &str = "https://oauth2.googleapis.com/token";
/// The hosts a key file's `token_uri` may name: Google's token endpoint, and the older
/// ones still found in key files made years ago.
const TOKEN_HOSTS: [&str; 3] = [
    "oauth2.googleapis.com",
    "accounts.google.com",
    "www.googleapis.com",
];
/// The longest lifetime Google grants an assertion (`exp` ≤ `iat` + 1 h).
const ASSERTION_LIFETIME: u64 = 3600;

/// The credential types Google's libraries write, named in the error for the ones keypool
/// does not take.
const OTHER_TYPES: [&str; 4] = [
    "external_account",
    "external_account_authorized_user",
    "impersonated_service_account",
    "gdch_service_account",
];

/// A parsed credential file.
pub enum GoogleKey {
    ServiceAccount(ServiceAccount),
    AuthorizedUser(AuthorizedUser),
}

pub struct ServiceAccount {
    pub client_email: String,
    pub project_id: Option<String>,
    key_id: String,
    token_uri: String,
    /// Boxed: a key pair is large beside the other variant.
    key: Box<RsaKeyPair>,
}

pub struct AuthorizedUser {
    client_id: String,
    client_secret: SecretString,
    refresh_token: SecretString,
    token_uri: String,
    pub quota_project_id: Option<String>,
}

impl GoogleKey {
    /// Whether `v` looks like one of Google's credential files (of any type), so that a
    /// wrong type is reported as such rather than as an unknown file.
    pub fn detect(v: &Value) -> bool {
        let Some(kind) = v.get("type").and_then(Value::as_str) else {
            return false;
        };
        ["service_account", "authorized_user"].contains(&kind)
            || OTHER_TYPES.contains(&kind)
            || v.get("client_email").is_some()
            || v.get("private_key").is_some()
    }

    /// The file's credential; the error names the field that is wrong.
    pub fn parse(v: &Value) -> Result<GoogleKey, String> {
        match v.get("type").and_then(Value::as_str) {
            Some("service_account") => ServiceAccount::parse(v).map(GoogleKey::ServiceAccount),
            Some("authorized_user") => AuthorizedUser::parse(v).map(GoogleKey::AuthorizedUser),
            Some(t) if OTHER_TYPES.contains(&t) => Err(format!(
                "field type is \"{t}\", which keypool does not take; use a service_account \
                 key file or an authorized_user file (gcloud auth application-default login)"
            )),
            Some(_) => {
                Err("field type is neither \"service_account\" nor \"authorized_user\"".to_string())
            }
            None => {
                Err("field type is missing (\"service_account\" or \"authorized_user\")".into())
            }
        }
    }

    /// [`GoogleKey::parse`] of a file's text.
    pub fn from_text(text: &str) -> Result<GoogleKey, String> {
        let v: Value = serde_json::from_str(text)
            .map_err(|e| format!("not valid JSON (line {})", e.line()))?;
        GoogleKey::parse(&v)
    }

    /// Who the tokens act as: the service account's email.
    pub fn email(&self) -> Option<&str> {
        match self {
            GoogleKey::ServiceAccount(sa) => Some(&sa.client_email),
            GoogleKey::AuthorizedUser(_) => None,
        }
    }

    /// The Cloud project the file names: a key's `project_id`, a login's
    /// `quota_project_id`.
    pub fn project(&self) -> Option<&str> {
        match self {
            GoogleKey::ServiceAccount(sa) => sa.project_id.as_deref(),
            GoogleKey::AuthorizedUser(u) => u.quota_project_id.as_deref(),
        }
    }

    /// A fresh access token: a signed assertion for a key, a refresh for a login. `now`
    /// is keypool's clock; the token's expiry counts from it.
    pub async fn access_token(
        &self,
        upstream: &Upstream,
        now: SystemTime,
    ) -> Result<ApiToken, TokenError> {
        let (url, fields) = match self {
            GoogleKey::ServiceAccount(sa) => {
                let assertion = sa.assertion(crate::bounds::to_epoch_secs(now))?;
                let fields = vec![
                    ("grant_type", JWT_BEARER.to_string()),
                    ("assertion", assertion),
                ];
                (&sa.token_uri, fields)
            }
            GoogleKey::AuthorizedUser(u) => {
                let fields = vec![
                    ("grant_type", "refresh_token".to_string()),
                    ("client_id", u.client_id.clone()),
                    ("client_secret", u.client_secret.expose_secret().to_string()),
                    ("refresh_token", u.refresh_token.expose_secret().to_string()),
                ];
                (&u.token_uri, fields)
            }
        };
        let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let (status, body) = endpoint::post(upstream, url, Encoding::Form, &fields).await?;
        let granted = endpoint::granted(Flavor::Vertex, status, &body)?;
        let expires_at = granted.expires_in.map(|d| {
            let at = crate::bounds::to_epoch_secs(crate::bounds::after(now, d));
            i64::try_from(at).unwrap_or(i64::MAX)
        });
        Ok(ApiToken {
            token: granted.access,
            refresh_in: None,
            expires_at,
            api: None,
        })
    }
}

impl ServiceAccount {
    fn parse(v: &Value) -> Result<ServiceAccount, String> {
        const FIELDS: &str = "a service_account key file has client_email, private_key, \
                              private_key_id and token_uri";
        let field =
            |name: &str| text(v, name).ok_or_else(|| format!("field {name} is missing ({FIELDS})"));
        let client_email = field("client_email")?;
        let key_id = field("private_key_id")?;
        let key = rsa_key(&field("private_key")?)?;
        let token_uri = match text(v, "token_uri") {
            Some(uri) => google_token_uri(&uri)?,
            None => GOOGLE_TOKEN_URL.to_string(),
        };
        Ok(ServiceAccount {
            client_email,
            project_id: text(v, "project_id"),
            key_id,
            token_uri,
            key,
        })
    }

    /// The RS256 JWT Google's token endpoint trades for an access token.
    fn assertion(&self, iat: u64) -> Result<String, TokenError> {
        let header = json!({"alg": "RS256", "typ": "JWT", "kid": self.key_id});
        let claims = json!({
            "iss": self.client_email,
            "scope": SCOPE,
            "aud": self.token_uri,
            "iat": iat,
            "exp": iat.saturating_add(ASSERTION_LIFETIME),
        });
        let signed = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let mut signature = vec![0; self.key.public().modulus_len()];
        (self.key)
            .sign(
                &RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                signed.as_bytes(),
                &mut signature,
            )
            .map_err(|_| TokenError::Transient("could not sign the assertion".into()))?;
        Ok(format!("{signed}.{}", URL_SAFE_NO_PAD.encode(signature)))
    }
}

impl AuthorizedUser {
    fn parse(v: &Value) -> Result<AuthorizedUser, String> {
        const FIELDS: &str =
            "an authorized_user file has client_id, client_secret and refresh_token";
        let field =
            |name: &str| text(v, name).ok_or_else(|| format!("field {name} is missing ({FIELDS})"));
        let token_uri = match text(v, "token_uri") {
            Some(uri) => google_token_uri(&uri)?,
            None => GOOGLE_TOKEN_URL.to_string(),
        };
        Ok(AuthorizedUser {
            client_id: field("client_id")?,
            client_secret: SecretString::from(field("client_secret")?),
            refresh_token: SecretString::from(field("refresh_token")?),
            token_uri,
            quota_project_id: text(v, "quota_project_id"),
        })
    }
}

/// A non-empty string field.
fn text(v: &Value, key: &str) -> Option<String> {
    v.get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.trim().is_empty())
        .map(str::to_string)
}

/// The key of `private_key`: PKCS#8 (`BEGIN PRIVATE KEY`, as Google writes it) or PKCS#1
/// (`BEGIN RSA PRIVATE KEY`), RSA. Nothing of the key reaches the error.
fn rsa_key(text: &str) -> Result<Box<RsaKeyPair>, String> {
    const NOT_PEM: &str = "field private_key is not a PEM private key (a BEGIN PRIVATE KEY \
        block, as Google writes it)";
    let pem = pem::parse(text.trim()).map_err(|_| NOT_PEM.to_string())?;
    let key = match pem.tag() {
        "PRIVATE KEY" => RsaKeyPair::from_pkcs8(pem.contents()),
        "RSA PRIVATE KEY" => RsaKeyPair::from_der(pem.contents()),
        _ => return Err(NOT_PEM.to_string()),
    };
    key.map(Box::new).map_err(|_| {
        "field private_key is not an RSA private key of 2048 bits or more that keypool can \
         sign with"
            .to_string()
    })
}

/// `uri` when it is https on one of [`TOKEN_HOSTS`] (default port): the signed assertion
/// and a login's refresh token go nowhere else.
fn google_token_uri(uri: &str) -> Result<String, String> {
    let fail = || {
        format!(
            "field token_uri is not an https address on a Google token host ({}): keypool \
             sends the key's assertion to Google only",
            TOKEN_HOSTS.join(", ")
        )
    };
    let parsed: http::Uri = uri.parse().map_err(|_| fail())?;
    let https = parsed.scheme_str() == Some("https");
    let host = parsed.host().map(str::to_ascii_lowercase);
    let port_ok = parsed.port_u16().is_none_or(|p| p == 443);
    let no_user = parsed
        .authority()
        .is_some_and(|a| !a.as_str().contains('@'));
    match host {
        Some(h) if https && port_ok && no_user && TOKEN_HOSTS.contains(&h.as_str()) => {
            Ok(uri.to_string())
        }
        _ => Err(fail()),
    }
}

#[cfg(test)]
mod tests;
