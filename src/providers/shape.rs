//! Errors keypool itself answers with, in the provider's own JSON shape, so a client's
//! SDK parses them like any other error from that provider.

use super::Dialect;
use serde_json::json;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    RateLimit,
    Auth,
    BadGateway,
    /// The upstream said nothing for the read timeout: a 504.
    GatewayTimeout,
    /// The request is larger than keypool can send this way: a 413.
    TooLarge,
}

pub fn error_response_body(dialect: Dialect, kind: ErrorKind, message: &str) -> Vec<u8> {
    let status = match kind {
        ErrorKind::RateLimit => 429,
        ErrorKind::Auth => 401,
        ErrorKind::BadGateway => 502,
        ErrorKind::GatewayTimeout => 504,
        ErrorKind::TooLarge => 413,
    };
    let v = match dialect {
        Dialect::Openai => {
            let (ty, code) = match kind {
                ErrorKind::RateLimit => ("requests", "rate_limit_exceeded"),
                ErrorKind::Auth => ("invalid_request_error", "invalid_api_key"),
                ErrorKind::BadGateway => ("server_error", "upstream_unreachable"),
                ErrorKind::GatewayTimeout => ("server_error", "upstream_timeout"),
                ErrorKind::TooLarge => ("invalid_request_error", "request_too_large"),
            };
            json!({"error": {"message": message, "type": ty, "param": null, "code": code}})
        }
        Dialect::Anthropic => {
            let ty = match kind {
                ErrorKind::RateLimit => "rate_limit_error",
                ErrorKind::Auth => "authentication_error",
                ErrorKind::BadGateway => "api_error",
                ErrorKind::GatewayTimeout => "timeout_error",
                ErrorKind::TooLarge => "request_too_large",
            };
            json!({"type": "error", "error": {"type": ty, "message": message}})
        }
        Dialect::Google => {
            let st = match kind {
                ErrorKind::RateLimit => "RESOURCE_EXHAUSTED",
                ErrorKind::Auth => "UNAUTHENTICATED",
                ErrorKind::BadGateway => "UNAVAILABLE",
                ErrorKind::GatewayTimeout => "DEADLINE_EXCEEDED",
                ErrorKind::TooLarge => "INVALID_ARGUMENT",
            };
            json!({"error": {"code": status, "message": message, "status": st}})
        }
        Dialect::Openrouter => json!({"error": {"code": status, "message": message}}),
        // As Bedrock sends it: the message alone, the exception named in a header.
        Dialect::Bedrock => json!({ "message": message }),
    };
    serde_json::to_vec(&v).expect("a json! value serialises")
}

/// The header that names the error beside the body, in a dialect that has one: Bedrock's
/// `x-amzn-errortype`, which AWS's SDKs read before the body.
pub fn error_type_header(
    dialect: Dialect,
    kind: ErrorKind,
) -> Option<(&'static str, &'static str)> {
    let exception = match (dialect, kind) {
        (Dialect::Bedrock, ErrorKind::RateLimit) => "ThrottlingException",
        (Dialect::Bedrock, ErrorKind::Auth) => "AccessDeniedException",
        (Dialect::Bedrock, ErrorKind::BadGateway | ErrorKind::GatewayTimeout) => {
            "ServiceUnavailableException"
        }
        (Dialect::Bedrock, ErrorKind::TooLarge) => "ValidationException",
        _ => return None,
    };
    Some((super::aws_error::ERROR_TYPE_HEADER, exception))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::{classify, Verdict};
    use http::{HeaderMap, StatusCode};
    use std::time::SystemTime;

    /// keypool's own errors read, by the provider's rules, as what they stand for: an SDK
    /// that parses the provider's errors parses keypool's the same way.
    #[test]
    fn each_dialect_reads_back_as_the_error_it_stands_for() {
        let dialects = [
            Dialect::Openai,
            Dialect::Anthropic,
            Dialect::Google,
            Dialect::Openrouter,
            Dialect::Bedrock,
        ];
        let headers = |d, kind| {
            let mut h = HeaderMap::new();
            if let Some((name, value)) = error_type_header(d, kind) {
                h.insert(name, value.parse().unwrap());
            }
            h
        };
        for d in dialects {
            let body = error_response_body(d, ErrorKind::RateLimit, "keypool: wait");
            let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
            let message = v.pointer("/error/message").unwrap_or(&v["message"]);
            assert_eq!(message, "keypool: wait", "{d:?}");
            let o = classify(
                d,
                StatusCode::TOO_MANY_REQUESTS,
                &headers(d, ErrorKind::RateLimit),
                &body,
                SystemTime::now(),
            );
            assert_eq!(o.verdict, Verdict::RateLimited, "{d:?}");
            let body = error_response_body(d, ErrorKind::Auth, "keypool: log in");
            let o = classify(
                d,
                StatusCode::UNAUTHORIZED,
                &headers(d, ErrorKind::Auth),
                &body,
                SystemTime::now(),
            );
            assert_eq!(o.verdict, Verdict::AuthFailed, "{d:?}");
        }
        let gateway = error_response_body(Dialect::Anthropic, ErrorKind::GatewayTimeout, "m");
        let v: serde_json::Value = serde_json::from_slice(&gateway).unwrap();
        assert_eq!(v["type"], "error");
        assert_eq!(v["error"]["type"], "timeout_error");
        let google = error_response_body(Dialect::Google, ErrorKind::BadGateway, "m");
        let v: serde_json::Value = serde_json::from_slice(&google).unwrap();
        assert_eq!(
            (v["error"]["code"].as_u64(), v["error"]["status"].as_str()),
            (Some(502), Some("UNAVAILABLE"))
        );
    }

    /// Bedrock's own errors are `{"message"}` and nothing else, the exception in the
    /// header: keypool's look the same, so an AWS SDK raises the matching exception.
    #[test]
    fn bedrock_answers_look_like_bedrocks() {
        let body = error_response_body(Dialect::Bedrock, ErrorKind::RateLimit, "keypool: wait");
        assert_eq!(body, br#"{"message":"keypool: wait"}"#);
        assert_eq!(
            error_type_header(Dialect::Bedrock, ErrorKind::RateLimit),
            Some(("x-amzn-errortype", "ThrottlingException"))
        );
        assert_eq!(
            error_type_header(Dialect::Bedrock, ErrorKind::GatewayTimeout),
            Some(("x-amzn-errortype", "ServiceUnavailableException"))
        );
        assert_eq!(
            error_type_header(Dialect::Openai, ErrorKind::RateLimit),
            None
        );
    }
}
