//! serde's error text without the values it quotes.
//!
//! serde (and so toml and serde_json) words a type error with the offending value in it:
//! `invalid type: integer `12345`, expected a string`, `invalid value: string "sk-…",
//! expected …`, `unknown variant `sk-…`, expected one of …`. In a config, state or
//! credentials file that value may be a password or a key, and the message lands in a
//! log or on a terminal. [`redact`] keeps what the message says about the *kind* of value
//! and what was expected, and drops the value itself; the caller adds the field and the
//! line. A leaf module: it imports nothing from the crate.

/// Messages whose unexpected part (between the prefix and `, expected`) describes a value.
const VALUE_PREFIXES: [&str; 2] = ["invalid type: ", "invalid value: "];

/// Messages that quote a field or key name (never a value): kept as they are.
const NAME_PREFIXES: [&str; 4] = [
    "unknown field ",
    "missing field ",
    "duplicate field ",
    "duplicate key ",
];

/// `msg` with every value serde put in it removed. Holds for every message shape serde's
/// `de::Error` produces (`invalid type`, `invalid value`, `invalid length`, `unknown
/// variant`, `unknown field`, `missing field`, `duplicate field`) and, for any other
/// (custom) message, removes every quoted run (`"…"` and `` `…` ``), where a value
/// could be.
pub fn redact(msg: &str) -> String {
    let msg = msg.trim_end();
    for prefix in VALUE_PREFIXES {
        if let Some(rest) = msg.strip_prefix(prefix) {
            // The value may itself contain ", expected ": the last one is serde's.
            return match rest.rfind(", expected ") {
                Some(i) => format!("{prefix}{}{}", kind(&rest[..i]), &rest[i..]),
                None => format!("{prefix}{}", kind(rest)),
            };
        }
    }
    if let Some(rest) = msg.strip_prefix("unknown variant ") {
        let tail = [", expected ", ", there are no variants"]
            .iter()
            .filter_map(|t| rest.rfind(t))
            .max()
            .map_or("", |i| &rest[i..]);
        return format!("unknown variant{tail}");
    }
    if msg.starts_with("invalid length ") && msg.contains(", expected ") {
        // `invalid length 3, expected …`: a count, not a value.
        return msg.to_string();
    }
    if NAME_PREFIXES.iter().any(|p| msg.starts_with(p)) && !msg.contains('"') {
        return msg.to_string();
    }
    scrub_quoted(msg)
}

/// What serde's `Unexpected` text says about the value's kind: `string "sk-…"` → `a
/// string`, `integer `5`` → `an integer`. Kinds that carry no value (`sequence`, `map`,
/// `unit value`) are kept as written.
fn kind(unexpected: &str) -> &str {
    const WITH_VALUE: [(&str, &str); 6] = [
        ("string", "a string"),
        ("integer", "an integer"),
        ("floating point", "a floating point number"),
        ("boolean", "a boolean"),
        ("character", "a character"),
        ("byte array", "a byte array"),
    ];
    let u = unexpected.trim();
    if let Some((_, word)) = WITH_VALUE.iter().find(|(k, _)| u.starts_with(k)) {
        return word;
    }
    let plain = u.len() <= 32 && u.chars().all(|c| c.is_ascii_alphabetic() || c == ' ');
    if plain && !u.is_empty() {
        u
    } else {
        "a value"
    }
}

/// A serde_json error as `line L, column C: message`, the message [`redact`]ed; with
/// `field` (a path such as `accounts.work.expires_at`) when known.
pub fn json(e: &serde_json::Error, field: Option<&str>) -> String {
    let text = e.to_string();
    // serde_json appends " at line L column C"; the place is said first instead.
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    let msg = redact(text.strip_suffix(&suffix).unwrap_or(&text));
    match field.filter(|f| !f.is_empty() && *f != ".") {
        Some(f) => format!("line {}, column {}, {f}: {msg}", e.line(), e.column()),
        None => format!("line {}, column {}: {msg}", e.line(), e.column()),
    }
}

/// `msg` without its quoted runs: `"…"` (with `\"` escapes) and `` `…` ``, each
/// replaced by `…`. An unterminated quote runs to the end.
pub fn scrub_quoted(msg: &str) -> String {
    let mut out = String::with_capacity(msg.len());
    let mut chars = msg.chars();
    while let Some(c) = chars.next() {
        if c != '"' && c != '`' {
            out.push(c);
            continue;
        }
        let mut escaped = false;
        for d in chars.by_ref() {
            if c == '"' && !escaped && d == '\\' {
                escaped = true;
                continue;
            }
            if d == c && !escaped {
                break;
            }
            escaped = false;
        }
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::de::{Error as _, Unexpected};

    const SECRET: &str = "sk-live-S3CRET";

    fn e(f: impl FnOnce() -> serde::de::value::Error) -> String {
        f().to_string()
    }

    /// Every message shape `serde::de::Error` builds, with a secret in every place a
    /// value can go.
    #[test]
    fn every_serde_message_shape_loses_its_value() {
        type E = serde::de::value::Error;
        let secret_f = 31_337.25_f64;
        let cases: Vec<(String, &str)> = vec![
            (
                e(|| E::invalid_type(Unexpected::Str(SECRET), &"a duration")),
                "invalid type: a string, expected a duration",
            ),
            (
                e(|| E::invalid_value(Unexpected::Str(SECRET), &"a duration")),
                "invalid value: a string, expected a duration",
            ),
            (
                e(|| E::invalid_type(Unexpected::Unsigned(31337), &"a string")),
                "invalid type: an integer, expected a string",
            ),
            (
                e(|| E::invalid_type(Unexpected::Signed(-31337), &"a string")),
                "invalid type: an integer, expected a string",
            ),
            (
                e(|| E::invalid_type(Unexpected::Float(secret_f), &"a string")),
                "invalid type: a floating point number, expected a string",
            ),
            (
                e(|| E::invalid_type(Unexpected::Bool(true), &"a string")),
                "invalid type: a boolean, expected a string",
            ),
            (
                e(|| E::invalid_type(Unexpected::Char('\u{2603}'), &"a string")),
                "invalid type: a character, expected a string",
            ),
            (
                e(|| E::invalid_type(Unexpected::Bytes(SECRET.as_bytes()), &"a string")),
                "invalid type: a byte array, expected a string",
            ),
            (
                e(|| E::invalid_type(Unexpected::Seq, &"a string")),
                "invalid type: sequence, expected a string",
            ),
            (
                e(|| E::invalid_type(Unexpected::Map, &"a string")),
                "invalid type: map, expected a string",
            ),
            (
                e(|| E::invalid_type(Unexpected::Other(SECRET), &"a string")),
                "invalid type: a value, expected a string",
            ),
            (
                e(|| E::invalid_length(3, &"2 elements")),
                "invalid length 3, expected 2 elements",
            ),
            (
                e(|| E::unknown_variant(SECRET, &["round-robin", "headroom"])),
                "unknown variant, expected `round-robin` or `headroom`",
            ),
            (
                e(|| E::unknown_variant(SECRET, &[])),
                "unknown variant, there are no variants",
            ),
            (
                e(|| E::unknown_field("colour", &["name"])),
                "unknown field `colour`, expected `name`",
            ),
            (e(|| E::missing_field("name")), "missing field `name`"),
            (e(|| E::duplicate_field("name")), "duplicate field `name`"),
            (
                e(|| {
                    E::custom(format!(
                        "unknown time unit \"{SECRET}\", supported units: ns"
                    ))
                }),
                "unknown time unit …, supported units: ns",
            ),
        ];
        for (raw, want) in cases {
            let got = redact(&raw);
            assert_eq!(got, want, "from {raw:?}");
            assert!(!got.contains(SECRET) && !got.contains("31337"), "{got}");
        }
    }

    #[test]
    fn a_value_that_mimics_the_message_is_removed_too() {
        type E = serde::de::value::Error;
        let tricky = format!("{SECRET}\", expected nothing, expected `{SECRET}`");
        let raw = E::invalid_type(Unexpected::Str(&tricky), &"a string").to_string();
        let got = redact(&raw);
        assert_eq!(got, "invalid type: a string, expected a string");
        let raw = E::unknown_variant(&format!("{SECRET}, expected x"), &["a"]).to_string();
        assert_eq!(redact(&raw), "unknown variant, expected `a`");
    }

    #[test]
    fn real_parsers_messages() {
        let json = serde_json::from_str::<u64>(&format!("\"{SECRET}\"")).unwrap_err();
        let got = redact(&json.to_string());
        assert!(
            got.starts_with("invalid type: a string, expected u64 at line 1"),
            "{got}"
        );
        let json = serde_json::from_str::<String>("12345678").unwrap_err();
        assert!(!redact(&json.to_string()).contains("12345678"));
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct T {
            password: String,
        }
        for v in [
            "12345678",
            "1234.5678",
            "true",
            "[\"sk-live-S3CRET\"]",
            "{a = \"sk-live-S3CRET\"}",
        ] {
            let err = toml::from_str::<T>(&format!("password = {v}\n")).unwrap_err();
            let got = redact(err.message());
            assert!(
                !got.contains(SECRET) && !got.contains("12345678") && !got.contains("5678"),
                "{v}: {got}"
            );
            assert!(got.contains("expected"), "{v}: {got}");
        }
    }

    #[test]
    fn scrubbing_handles_escapes_and_unterminated_quotes() {
        assert_eq!(scrub_quoted(r#"a "b\"c" d"#), "a … d");
        assert_eq!(scrub_quoted("a `b` c `d"), "a … c …");
        assert_eq!(scrub_quoted("plain"), "plain");
    }
}
