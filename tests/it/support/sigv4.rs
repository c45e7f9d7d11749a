//! An independent SigV4 verifier, written from AWS's description of the algorithm with
//! `hmac` and `sha2` directly (it shares no code with keypool's signer): it rebuilds the
//! canonical request and string to sign from a request as it arrived and checks the
//! signature against the secret of the account the request names.

use hmac::{Hmac, Mac};
use http::{HeaderMap, Method, Uri};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::time::{Duration, SystemTime};

/// How far a request's date may be from the verifier's clock: AWS's own bound.
pub const MAX_SKEW: Duration = Duration::from_secs(5 * 60);

/// Why a request was refused, as the fake says it back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    Missing(&'static str),
    Malformed(&'static str),
    UnknownAccount(String),
    Skewed,
    WrongScope,
    Mismatch,
}

/// What the verifier rebuilt and what the request named.
#[derive(Debug, Clone)]
pub struct Verified {
    pub access_key_id: String,
    pub amz_date: String,
    pub canonical_request: String,
    pub string_to_sign: String,
}

pub struct Verifier {
    /// Access key id → (secret, session token it must carry).
    pub accounts: HashMap<String, (String, Option<String>)>,
    pub region: String,
    pub service: String,
}

impl Verifier {
    pub fn verify(
        &self,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        body: &[u8],
        now: SystemTime,
    ) -> Result<Verified, Refusal> {
        let auth = text(headers, "authorization").ok_or(Refusal::Missing("authorization"))?;
        let amz_date = text(headers, "x-amz-date").ok_or(Refusal::Missing("x-amz-date"))?;
        let fields = Authorization::parse(auth).ok_or(Refusal::Malformed("authorization"))?;
        let (secret, token) = self
            .accounts
            .get(&fields.access_key_id)
            .ok_or_else(|| Refusal::UnknownAccount(fields.access_key_id.clone()))?;
        let at = parse_amz_date(amz_date).ok_or(Refusal::Malformed("x-amz-date"))?;
        let skew = now
            .duration_since(at)
            .or_else(|e| Ok::<_, ()>(e.duration()));
        if skew.unwrap_or(Duration::MAX) > MAX_SKEW {
            return Err(Refusal::Skewed);
        }
        let scope = format!(
            "{}/{}/{}/aws4_request",
            &amz_date[..8],
            self.region,
            self.service
        );
        if fields.scope != scope {
            return Err(Refusal::WrongScope);
        }
        for needed in ["host", "x-amz-date"] {
            if !fields.signed_headers.iter().any(|h| h == needed) {
                return Err(Refusal::Missing(needed));
            }
        }
        if text(headers, "x-amz-security-token") != token.as_deref() {
            return Err(Refusal::Mismatch);
        }
        let canonical_request =
            canonical_request(method, uri, headers, &fields.signed_headers, body);
        let string_to_sign = format!(
            "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
            hex(&Sha256::digest(canonical_request.as_bytes()))
        );
        let key = signing_key(secret, &amz_date[..8], &self.region, &self.service);
        let expected = hex(&hmac(&key, string_to_sign.as_bytes()));
        if expected != fields.signature {
            return Err(Refusal::Mismatch);
        }
        Ok(Verified {
            access_key_id: fields.access_key_id,
            amz_date: amz_date.to_string(),
            canonical_request,
            string_to_sign,
        })
    }
}

struct Authorization {
    access_key_id: String,
    scope: String,
    signed_headers: Vec<String>,
    signature: String,
}

impl Authorization {
    /// `AWS4-HMAC-SHA256 Credential=AKID/scope, SignedHeaders=a;b, Signature=hex`.
    fn parse(value: &str) -> Option<Authorization> {
        let rest = value.strip_prefix("AWS4-HMAC-SHA256 ")?;
        let mut parts = HashMap::new();
        for part in rest.split(',') {
            let (k, v) = part.trim().split_once('=')?;
            parts.insert(k, v);
        }
        let (access_key_id, scope) = parts.get("Credential")?.split_once('/')?;
        Some(Authorization {
            access_key_id: access_key_id.to_string(),
            scope: scope.to_string(),
            signed_headers: parts
                .get("SignedHeaders")?
                .split(';')
                .map(str::to_string)
                .collect(),
            signature: parts.get("Signature")?.to_string(),
        })
    }
}

fn text<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// `20150830T123600Z`.
fn parse_amz_date(s: &str) -> Option<SystemTime> {
    let format =
        time::format_description::parse_borrowed::<2>("[year][month][day]T[hour][minute][second]Z")
            .ok()?;
    let at = time::PrimitiveDateTime::parse(s, &format)
        .ok()?
        .assume_utc();
    let secs = u64::try_from(at.unix_timestamp()).ok()?;
    Some(SystemTime::UNIX_EPOCH + Duration::from_secs(secs))
}

/// The canonical request of AWS's step 1, for a service other than S3: the path's
/// segments encoded once more, the query sorted, the signed headers' values trimmed.
pub fn canonical_request(
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    signed: &[String],
    body: &[u8],
) -> String {
    let path = uri
        .path()
        .split('/')
        .map(encode)
        .collect::<Vec<_>>()
        .join("/");
    let mut query: Vec<(String, String)> =
        form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
            .map(|(k, v)| (encode(&k), encode(&v)))
            .collect();
    query.sort();
    let query = query
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    let mut canonical_headers = String::new();
    for name in signed {
        let values = headers
            .get_all(name.as_str())
            .iter()
            .map(|v| collapse(v.to_str().unwrap_or("")))
            .collect::<Vec<_>>()
            .join(",");
        canonical_headers.push_str(&format!("{name}:{values}\n"));
    }
    format!(
        "{method}\n{path}\n{query}\n{canonical_headers}\n{}\n{}",
        signed.join(";"),
        hex(&Sha256::digest(body))
    )
}

/// Percent-encoding of everything but the unreserved characters, upper-case hex.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn collapse(v: &str) -> String {
    v.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

fn signing_key(secret: &str, date: &str, region: &str, service: &str) -> Vec<u8> {
    let k_date = hmac(format!("AWS4{secret}").as_bytes(), date.as_bytes());
    let k_region = hmac(&k_date, region.as_bytes());
    let k_service = hmac(&k_region, service.as_bytes());
    hmac(&k_service, b"aws4_request")
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
