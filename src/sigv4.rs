//! AWS Signature Version 4 for a request about to go upstream: the client's own signature
//! comes off and the whole request (method, path, query, headers, body) is signed again
//! for the account that sends it. A signature binds the account, the region, the host,
//! the date and the body, so swapping accounts on Bedrock is a re-signing, done afresh on
//! every attempt (a replay on another account gets that account's key and a new date).
//!
//! The signing itself is `aws-sigv4`'s; this module only decides what goes in and
//! keeps the secrets in [`SecretString`]s until the moment of signing.

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{self, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use http::header::{HeaderName, HeaderValue, HOST};
use http::Request;
use secrecy::{ExposeSecret, SecretString};
use std::fmt;
use std::time::SystemTime;

/// The signing name of every Bedrock API (runtime, mantle, control plane).
pub const BEDROCK: &str = "bedrock";

/// The headers that carry a client's own SigV4 signature: never sent on for an account.
pub const CLIENT_SIGNATURE: [&str; 4] = [
    "authorization",
    "x-amz-date",
    "x-amz-security-token",
    "x-amz-content-sha256",
];

/// An account's IAM credentials. The access key id names the account (it travels in
/// clear in every signed request); the secret key and session token never leave here
/// except into the signature.
#[derive(Clone)]
pub struct AwsCredentials {
    access_key_id: String,
    secret_access_key: SecretString,
    session_token: Option<SecretString>,
}

/// Why a set of credentials was refused. Names the part, never its value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CredentialError {
    #[error(
        "the access key id must be letters and digits (AKIA… for a user's key, ASIA… for \
         temporary credentials); fix: copy it again from the IAM console or `aws configure`"
    )]
    AccessKeyId,
    #[error(
        "the secret access key is empty or holds characters a key never has; fix: copy it \
         again (40 characters, no spaces)"
    )]
    SecretKey,
    #[error(
        "the session token is empty or holds characters a token never has; fix: copy it \
         again, or leave it out for a long-term key"
    )]
    SessionToken,
}

impl AwsCredentials {
    pub fn new(
        access_key_id: &str,
        secret_access_key: SecretString,
        session_token: Option<SecretString>,
    ) -> Result<AwsCredentials, CredentialError> {
        check_access_key_id(access_key_id)?;
        check_secret_access_key(secret_access_key.expose_secret())?;
        if let Some(t) = &session_token {
            check_session_token(t.expose_secret())?;
        }
        Ok(AwsCredentials {
            access_key_id: access_key_id.to_string(),
            secret_access_key,
            session_token,
        })
    }

    pub fn access_key_id(&self) -> &str {
        &self.access_key_id
    }

    /// What identifies these credentials for a fingerprint (never stored or shown as
    /// is): the key id and the secret.
    pub fn fingerprint_input(&self) -> String {
        format!(
            "{}:{}",
            self.access_key_id,
            self.secret_access_key.expose_secret()
        )
    }
}

/// An access key id's form: letters and digits. Checked apart so the config can refuse
/// a literal at load, before any reference is resolved.
pub fn check_access_key_id(id: &str) -> Result<(), CredentialError> {
    let ok = !id.is_empty() && id.len() <= 128 && id.bytes().all(|b| b.is_ascii_alphanumeric());
    ok.then_some(()).ok_or(CredentialError::AccessKeyId)
}

pub fn check_secret_access_key(secret: &str) -> Result<(), CredentialError> {
    visible(secret)
        .then_some(())
        .ok_or(CredentialError::SecretKey)
}

pub fn check_session_token(token: &str) -> Result<(), CredentialError> {
    visible(token)
        .then_some(())
        .ok_or(CredentialError::SessionToken)
}

/// Printable ASCII without spaces, as keys and tokens are; anything else could not
/// travel in a header and would only fail later, further from the mistake.
fn visible(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_graphic())
}

impl fmt::Debug for AwsCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AwsCredentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .field(
                "session_token",
                &self.session_token.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

/// Where a signature is valid: the account's region and the service's signing name.
#[derive(Debug, Clone, Copy)]
pub struct Scope<'a> {
    pub region: &'a str,
    pub service: &'a str,
}

/// Why a request could not be signed. Never holds a secret or a header's value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignError {
    #[error("the request has no host to sign for (an absolute URI is needed)")]
    NoHost,
    #[error(
        "header `{0}` is not plain text, so it cannot be signed; fix: send it as ASCII, or \
         leave it out"
    )]
    HeaderNotText(String),
    #[error("the region `{0}` is not a region name (like us-east-1); fix: the account's region")]
    Region(String),
    #[error("SigV4 signing failed: {0}")]
    Signer(String),
}

/// Signs `req` for `creds` in `scope` at `now`, over `body`, the exact bytes that will
/// follow it upstream. The client's own signature headers go first; the `Host` header
/// becomes the URI's authority (the upstream host, as the signature binds it).
pub fn resign<B>(
    req: &mut Request<B>,
    body: &[u8],
    creds: &AwsCredentials,
    scope: Scope<'_>,
    now: SystemTime,
) -> Result<(), SignError> {
    if !region_name(scope.region) {
        return Err(SignError::Region(scope.region.to_string()));
    }
    let headers = req.headers_mut();
    for name in CLIENT_SIGNATURE {
        headers.remove(name);
    }
    let host = req.uri().authority().ok_or(SignError::NoHost)?.as_str();
    let host = HeaderValue::from_str(host).map_err(|_| SignError::NoHost)?;
    req.headers_mut().insert(HOST, host);
    let signed = signature_headers(req, body, creds, scope, now)?;
    for (name, mut value, sensitive) in signed {
        value.set_sensitive(sensitive);
        req.headers_mut().insert(name, value);
    }
    Ok(())
}

/// The headers `aws-sigv4` computes for `req`: `authorization`, `x-amz-date` and, with a
/// session token, `x-amz-security-token` (marked sensitive).
fn signature_headers<B>(
    req: &Request<B>,
    body: &[u8],
    creds: &AwsCredentials,
    scope: Scope<'_>,
    now: SystemTime,
) -> Result<Vec<(HeaderName, HeaderValue, bool)>, SignError> {
    let mut pairs = Vec::with_capacity(req.headers().len());
    for (name, value) in req.headers() {
        let text = value
            .to_str()
            .map_err(|_| SignError::HeaderNotText(name.as_str().to_string()))?;
        pairs.push((name.as_str(), text));
    }
    let uri = req.uri().to_string();
    let signable = SignableRequest::new(
        req.method().as_str(),
        uri,
        pairs.into_iter(),
        SignableBody::Bytes(body),
    )
    .map_err(|e| SignError::Signer(e.to_string()))?;
    let identity = Credentials::new(
        &creds.access_key_id,
        creds.secret_access_key.expose_secret(),
        creds
            .session_token
            .as_ref()
            .map(|t| t.expose_secret().to_string()),
        None,
        "keypool",
    )
    .into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(scope.region)
        .name(scope.service)
        .time(now)
        .settings(SigningSettings::default())
        .build()
        .map_err(|e| SignError::Signer(e.to_string()))?
        .into();
    let (instructions, _signature) = http_request::sign(signable, &params)
        .map_err(|e| SignError::Signer(e.to_string()))?
        .into_parts();
    let (headers, _query) = instructions.into_parts();
    headers
        .into_iter()
        .map(|h| {
            let name = HeaderName::from_static(h.name());
            // The values are the signer's own hex and dates, or the session token that
            // `AwsCredentials::new` checked to be visible ASCII.
            let value = HeaderValue::from_str(h.value())
                .map_err(|_| SignError::HeaderNotText(h.name().to_string()))?;
            Ok((name, value, h.sensitive()))
        })
        .collect()
}

/// `us-east-1`, `eu-central-2`, `us-gov-west-1`: lower-case letters, digits and dashes.
/// The region goes into the credential scope and the host; anything else is a mistake
/// in the config.
fn region_name(region: &str) -> bool {
    !region.is_empty()
        && region.len() <= 64
        && region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

#[cfg(test)]
mod tests;
