//! Exceptions inside an AWS event stream (`application/vnd.amazon.eventstream`: Bedrock's
//! ConverseStream and InvokeModelWithResponseStream), read as the HTTP answer they stand
//! for, so the answer table of [`classify`](super::classify) applies unchanged. A stream
//! exception is a message with `:message-type` `exception` and its name in
//! `:exception-type` (`throttlingException`, lower camel case); a protocol-level failure
//! is `:message-type` `error` with `:error-code`. The payload is the same `{"message"}`.

use super::aws_error::ERROR_TYPE_HEADER;
use super::classify::{judge, Outcome};
use super::Dialect;
use http::{HeaderMap, HeaderValue, StatusCode};
use serde_json::Value;
use std::time::SystemTime;

/// The status each stream exception has in Bedrock's API reference, so the stream's
/// exception means what the same exception means as an HTTP answer.
const EXCEPTION_STATUS: &[(&str, u16)] = &[
    ("ThrottlingException", 429),
    ("ModelNotReadyException", 429),
    ("ServiceQuotaExceededException", 400),
    ("ServiceUnavailableException", 503),
    ("InternalServerException", 500),
    ("ModelStreamErrorException", 424),
    ("ModelTimeoutException", 408),
    ("ValidationException", 400),
];

/// What a message of `message_type` naming `name` (its `:exception-type` or
/// `:error-code`) with `payload` says about the account that sent it.
pub fn classify_stream_exception(
    dialect: Dialect,
    message_type: &str,
    name: &str,
    payload: &[u8],
    now: SystemTime,
) -> Outcome {
    if !matches!(message_type, "exception" | "error") {
        return Outcome::ok();
    }
    let exception = upper_first(name);
    let Some(&(_, status)) = EXCEPTION_STATUS
        .iter()
        .find(|(known, _)| known.eq_ignore_ascii_case(&exception))
    else {
        return Outcome::ok();
    };
    let Ok(value) = HeaderValue::from_str(&exception) else {
        return Outcome::ok();
    };
    let mut headers = HeaderMap::new();
    headers.insert(ERROR_TYPE_HEADER, value);
    let json: Value = serde_json::from_slice(payload).unwrap_or(Value::Null);
    let status = StatusCode::from_u16(status).expect("a valid status");
    let mut outcome = judge(dialect, status, &headers, &json, now);
    if outcome.verdict.rotates() {
        outcome.detail = format!("in-stream {exception}");
    }
    outcome
}

/// `throttlingException` → `ThrottlingException`: the stream's names are the HTTP
/// exceptions' with a lower-case first letter.
fn upper_first(name: &str) -> String {
    let mut chars = name.chars();
    match chars.next() {
        Some(c) => c.to_ascii_uppercase().to_string() + chars.as_str(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::Verdict;

    fn c(message_type: &str, name: &str) -> Outcome {
        let payload = br#"{"message":"Too many requests, please wait before trying again."}"#;
        classify_stream_exception(
            Dialect::Bedrock,
            message_type,
            name,
            payload,
            SystemTime::now(),
        )
    }

    #[test]
    fn each_stream_exception_means_what_its_http_answer_means() {
        for (name, want) in [
            ("throttlingException", Verdict::RateLimited),
            ("modelNotReadyException", Verdict::Overloaded),
            ("serviceQuotaExceededException", Verdict::Exhausted),
            ("serviceUnavailableException", Verdict::Overloaded),
            ("internalServerException", Verdict::Ok),
            ("modelStreamErrorException", Verdict::Ok),
            ("modelTimeoutException", Verdict::Ok),
            ("validationException", Verdict::Ok),
            ("somethingNewException", Verdict::Ok),
            ("", Verdict::Ok),
        ] {
            assert_eq!(c("exception", name).verdict, want, "{name}");
        }
        let o = c("exception", "throttlingException");
        assert_eq!(o.detail, "in-stream ThrottlingException");
        // A protocol-level error names its code the same way.
        assert_eq!(
            c("error", "ThrottlingException").verdict,
            Verdict::RateLimited
        );
        // An event is never an error, whatever it is called.
        assert_eq!(c("event", "throttlingException").verdict, Verdict::Ok);
    }

    #[test]
    fn a_payload_that_is_no_json_still_classifies_by_the_name() {
        let o = classify_stream_exception(
            Dialect::Bedrock,
            "exception",
            "throttlingException",
            b"\xff\xfe not json",
            SystemTime::now(),
        );
        assert_eq!(o.verdict, Verdict::RateLimited);
    }
}
