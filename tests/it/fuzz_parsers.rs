//! Seeded, bounded fuzzing of the parsers that read files and streams from outside
//! (issue 8 §9): the config, `state.json`, `credentials.json`, the five linked CLI file
//! formats, and SSE framing. Each never panics; the file readers never echo a planted
//! secret; saved times come back within their bounds; SSE events do not depend on where
//! the bytes were split. (Reset formats, quota headers, refusals and JWT claims are
//! fuzzed beside their parsers, in `src/`.) Deterministic: a fixed seed, no failure files.

use keypool::bounds::{MAX_COOLDOWN, MAX_HORIZON};
use keypool::oauth::link::Linked;
use keypool::oauth::store::Store;
use keypool::persist::{SavedHealth, StateFile};
use keypool::providers::Flavor;
use keypool::stream_peek::EventParser;
use keypool::Config;
use proptest::prelude::*;
use proptest::test_runner::{Config as Runner, RngAlgorithm, RngSeed};
use std::path::Path;
use std::time::{Duration, SystemTime};

const SECRET: &str = "sk-FUZZ-SECRET-4242";

fn runner(cases: u32) -> Runner {
    Runner {
        cases,
        rng_algorithm: RngAlgorithm::ChaCha,
        rng_seed: RngSeed::Fixed(0x6675_7a7a_2d6b_7038),
        failure_persistence: None,
        max_shrink_iters: 256,
        ..Runner::default()
    }
}

/// Numbers a hostile file holds, as JSON or TOML text.
fn number() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "18446744073709551615",
            "18446744073709551616",
            "9223372036854775807",
            "-9223372036854775808",
            "-1",
            "0",
            "1e308",
            "-1e308",
            "1.5",
            "99999999999999999999",
        ])
        .prop_map(str::to_string),
        any::<i64>().prop_map(|n| n.to_string()),
        any::<u64>().prop_map(|n| n.to_string()),
        any::<f64>()
            .prop_filter("JSON numbers are finite", |f| f.is_finite())
            .prop_map(|f| format!("{f:e}")),
    ]
}

/// A JSON value where a value goes: a number, the secret in some shape, or null.
fn json_value() -> impl Strategy<Value = String> {
    prop_oneof![
        number(),
        Just(format!("\"{SECRET}\"")),
        Just(format!("[\"{SECRET}\"]")),
        Just(format!("{{\"k\":\"{SECRET}\"}}")),
        Just("null".to_string()),
        Just("true".to_string()),
    ]
}

/// Byte edits that stay clear of `keep` (the planted secret's span), so the secret is
/// always a value and never becomes, say, a key name.
fn mutate(text: &str, edits: &[(usize, u8, bool)], keep: std::ops::Range<usize>) -> String {
    let mut b = text.as_bytes().to_vec();
    let mut keep = keep;
    for &(at, byte, insert) in edits {
        let at = at % (b.len() + 1);
        if at >= keep.start && at <= keep.end {
            continue;
        }
        if insert {
            b.insert(at, byte);
            if at < keep.start {
                keep = keep.start + 1..keep.end + 1;
            }
        } else if at < b.len() {
            b.remove(at);
            if at < keep.start {
                keep = keep.start - 1..keep.end - 1;
            }
        }
    }
    String::from_utf8_lossy(&b).into_owned()
}

fn edits() -> impl Strategy<Value = Vec<(usize, u8, bool)>> {
    let byte = prop::sample::select(b"=[]{}\"'\n #.,:0123456789aez-_\\\t".to_vec());
    prop::collection::vec((any::<usize>(), byte, any::<bool>()), 1..4)
}

const CONFIG: &str = "listen = \"127.0.0.1:8787\"\n\n[[accounts]]\nname = \"a\"\nprovider = \"openai\"\napi_key = {V}\n\n[[pools]]\nname = \"p\"\nprovider = \"openai\"\naccounts = [\"a\"]\nhold_max = \"30s\"\n{X}\n[clients.ci]\npools = [\"p\"]\npassword = {W}\n\n[limits]\nsticky_idle = \"1h\"\n";

/// Pool fields that take no free text, so a secret there is always an error. (Fields
/// holding names, like `fallback`, are echoed by design: a name is not a secret.)
const NOT_STRINGS: [&str; 4] = ["strategy", "soft_threshold", "mix_kinds", "hold_max"];

proptest! {
    #![proptest_config(runner(160))]

    /// Random TOML-ish text: no panic.
    #[test]
    fn config_parse_never_panics(text in "[\\[\\]{}=\"'\\n #.,a-z0-9_:-]{0,200}") {
        let _ = Config::parse(&text, Path::new("config.toml"));
    }

    /// A valid config with the secret as a value of some type, then edited: no panic,
    /// and an error never repeats the secret.
    #[test]
    fn mutated_configs_never_echo_a_planted_secret(
        v in json_value(),
        w in json_value(),
        e in prop_oneof![Just(Vec::new()), edits()],
        slot in 0usize..3,
        field in prop::sample::select(NOT_STRINGS.to_vec()),
    ) {
        let k = "\"k\"".to_string();
        let (v, w, x) = match slot {
            0 => (v, w, k),
            1 => (k, v, w),
            _ => (k.clone(), k, v),
        };
        let text = CONFIG
            .replace("{V}", &v)
            .replace("{W}", &w)
            .replace("{X}", &format!("{field} = {x}"));
        let keep = text.find(SECRET).map_or(0..0, |i| i.saturating_sub(1)..i + SECRET.len() + 1);
        let text = mutate(&text, &e, keep);
        if let Err(err) = Config::parse(&text, Path::new("config.toml")) {
            prop_assert!(!err.0.contains(SECRET), "{text}\n→ {}", err.0);
        }
    }
}

/// A `state.json` built from hostile pieces.
fn state_text() -> impl Strategy<Value = String> {
    let account = (json_value(), json_value(), number(), any::<bool>()).prop_map(
        |(until, resets, seen, cooling)| {
            let health = if cooling {
                format!(
                    r#","state":"cooling","until":{until},"verdict":"rate_limited","detail":"d""#
                )
            } else {
                String::new()
            };
            (
                format!(
                    r#"{{"credential":"f"{health},"quota":[{{"name":"w","resets_at":{resets}}}]}}"#
                ),
                seen,
            )
        },
    );
    prop::collection::vec(account, 0..5).prop_map(|accounts| {
        let mut a = Vec::new();
        let mut e = Vec::new();
        for (i, (text, seen)) in accounts.into_iter().enumerate() {
            a.push(format!("\"a{i}\":{text}"));
            e.push(format!(
                r#"{{"pool":"p","key":"codex:{}","account":"a{i}","seen":{seen}}}"#,
                "ab".repeat(16)
            ));
        }
        format!(
            r#"{{"version":1,"accounts":{{{}}},"affinity":{{"sticky":{{"entries":[{}]}}}}}}"#,
            a.join(","),
            e.join(",")
        )
    })
}

proptest! {
    #![proptest_config(runner(128))]

    /// Whatever the file holds: no panic, and what is kept is within bounds.
    #[test]
    fn state_file_loads_within_bounds(text in state_text(), e in edits()) {
        let dir = tempfile::tempdir().unwrap();
        let f = StateFile::at(dir.path().join("state.json"));
        let now = SystemTime::now();
        for text in [text.clone(), mutate(&text, &e, 0..0)] {
            std::fs::write(f.path(), &text).unwrap();
            let p = f.load_at(now);
            let secs = |s: u64| SystemTime::UNIX_EPOCH.checked_add(Duration::from_secs(s));
            for a in p.accounts.values() {
                if let Some(SavedHealth::Cooling { until, .. }) = &a.health {
                    let until = secs(*until).expect("a kept cooldown is an instant");
                    prop_assert!(until <= now + MAX_COOLDOWN, "{text}");
                }
                for w in &a.quota {
                    if let Some(r) = w.resets_at {
                        prop_assert!(secs(r).is_some_and(|r| r <= now + MAX_HORIZON), "{text}");
                    }
                }
            }
            for e in p.affinity.iter().flat_map(|a| &a.sticky.entries) {
                prop_assert!(secs(e.seen).is_some_and(|s| s <= now + MAX_HORIZON), "{text}");
            }
        }
    }

    /// `credentials.json`: no panic, an error never repeats a token.
    #[test]
    fn credentials_file_never_echoes_a_token(
        access in json_value(),
        expires in json_value(),
        provider in json_value(),
        e in edits(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("credentials.json");
        let text = format!(
            r#"{{"version":1,"accounts":{{"w":{{"provider":{provider},"access_token":{access},"refresh_token":"{SECRET}","expires_at":{expires}}}}}}}"#
        );
        let keep = text.rfind(SECRET).map_or(0..0, |i| i - 1..i + SECRET.len() + 1);
        for text in [text.clone(), mutate(&text, &e, keep.clone())] {
            std::fs::write(&path, &text).unwrap();
            match Store::at(&path).load() {
                Ok(all) => {
                    for entry in all.values() {
                        let _ = entry.tokens();
                    }
                }
                Err(err) => prop_assert!(!err.to_string().contains(SECRET), "{text}\n→ {err}"),
            }
        }
    }
}

/// The five linked formats, each with the secret and hostile numbers in its fields.
fn linked_file() -> impl Strategy<Value = (&'static str, Flavor, String)> {
    (0usize..6, json_value(), json_value(), json_value()).prop_map(|(which, a, b, n)| {
        let s = format!("\"{SECRET}\"");
        let (name, flavor, text) = match which {
            0 => (".credentials.json", Flavor::Anthropic, format!(r#"{{"claudeAiOauth":{{"accessToken":{a},"refreshToken":{s},"expiresAt":{n},"subscriptionType":{b}}}}}"#)),
            1 => ("auth.json", Flavor::Codex, format!(r#"{{"auth_mode":"chatgpt","tokens":{{"access_token":{a},"refresh_token":{s},"id_token":{b},"account_id":{n}}},"last_refresh":{n}}}"#)),
            2 => ("pi.json", Flavor::Anthropic, format!(r#"{{"anthropic":{{"type":"oauth","access":{a},"refresh":{s},"expires":{n}}},"openrouter":{{"type":"api_key","key":{b}}}}}"#)),
            3 => ("oauth_creds.json", Flavor::GeminiCli, format!(r#"{{"access_token":{a},"refresh_token":{s},"expiry_date":{n},"id_token":{b}}}"#)),
            4 => ("apps.json", Flavor::Copilot, format!(r#"{{"github.com:Iv1.b507a08c87ecfe98":{{"user":{b},"oauth_token":{s},"githubAppId":{n}}},"x":{a}}}"#)),
            _ => ("hosts.json", Flavor::Copilot, format!(r#"{{"github.com":{{"user":{b},"oauth_token":{a}}},"ghe.example.com":{{"oauth_token":{s}}}}}"#)),
        };
        (name, flavor, text)
    })
}

proptest! {
    #![proptest_config(runner(160))]

    #[test]
    fn linked_files_never_panic_nor_echo((name, flavor, text) in linked_file(), e in edits()) {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join(name);
        let keep = text.find(SECRET).map_or(0..0, |i| i - 1..i + SECRET.len() + 1);
        for text in [text.clone(), mutate(&text, &e, keep.clone())] {
            std::fs::write(&p, &text).unwrap();
            let read = Linked::open(&p, flavor).and_then(|l| l.read().map(|t| (l, t)));
            match read {
                Ok((l, t)) => {
                    // A write-back over the same file works on whatever it held.
                    let _ = l.write_back(&t);
                }
                Err(err) => prop_assert!(!err.to_string().contains(SECRET), "{text}\n→ {err}"),
            }
        }
    }
}

fn split_feed(bytes: &[u8], cuts: &[usize]) -> Vec<keypool::stream_peek::SseEvent> {
    let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
    cuts.sort_unstable();
    let mut p = EventParser::default();
    let mut out = Vec::new();
    let mut from = 0;
    for c in cuts.into_iter().chain([bytes.len()]) {
        out.extend(p.feed(&bytes[from..c]));
        from = c;
    }
    out
}

/// SSE-ish bytes: real field names, separators of every kind, and noise.
fn sse_bytes() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        prop::sample::select(vec![
            &b"data: "[..],
            b"data:",
            b"event: error",
            b"event:",
            b": comment",
            b"id: 1",
            b"retry: 10",
            b"\n",
            b"\r",
            b"\r\n",
            b"\n\n",
            b"\r\n\r\n",
            b"\xEF\xBB\xBF",
            b"{\"error\":{\"code\":429}}",
        ])
        .prop_map(|b| b.to_vec()),
        prop::collection::vec(any::<u8>(), 0..8),
    ];
    prop::collection::vec(piece, 0..40).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(runner(256))]

    /// The same bytes split anywhere give the same events; the events never hold more
    /// than was fed.
    #[test]
    fn sse_framing_does_not_depend_on_the_split(
        bytes in sse_bytes(),
        cuts in prop::collection::vec(any::<usize>(), 0..12),
    ) {
        let whole = split_feed(&bytes, &[]);
        let bytewise: Vec<usize> = (0..bytes.len()).collect();
        prop_assert_eq!(&split_feed(&bytes, &cuts), &whole);
        prop_assert_eq!(&split_feed(&bytes, &bytewise), &whole);
        let held: usize = whole.iter().map(|e| e.name.len() + e.data.len()).sum();
        // Lossy UTF-8 may turn one byte into a 3-byte replacement character.
        prop_assert!(held <= 3 * bytes.len() + 7 * whole.len(), "{held} from {}", bytes.len());
    }
}
