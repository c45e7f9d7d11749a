use super::*;
use crate::config::Role;
use crate::providers::AuthScheme;

fn parse(s: &str) -> Result<Config, ConfigError> {
    Config::parse(s, Path::new("config.toml"))
}

#[test]
fn example_is_valid_and_empty() {
    let c = Config::empty();
    assert!(c.accounts.is_empty());
    assert_eq!(c.listen.to_string(), DEFAULT_LISTEN);
}

#[test]
fn default_pools_follow_file_order() {
    let c = parse(
        r#"
[[accounts]]
name = "a"
provider = "openai"
api_key = "sk-a"
[[accounts]]
name = "x"
provider = "anthropic"
api_key = "env:X"
[[accounts]]
name = "b"
provider = "openai"
api_key = "!echo sk-b"
"#,
    )
    .unwrap();
    assert_eq!(c.pools.len(), 2);
    assert_eq!(c.pools[0].name, "openai");
    assert_eq!(c.pools[0].accounts, vec!["a", "b"]);
    assert!(matches!(
        &c.accounts[1].credential,
        CredentialConfig::ApiKey { source: SecretRef::Env(v), .. } if v == "X"
    ));
}

#[test]
fn errors_name_line_and_fix() {
    let e = parse("listen = \"127.0.0.1:1\"\n\n[[accounts]]\nname = \"a\"\nprovider = \"opnai\"\napi_key = \"k\"\n").unwrap_err().0;
    assert!(
        e.starts_with("config.toml:5: unknown provider 'opnai'"),
        "{e}"
    );
    assert!(e.contains("did you mean 'openai'"), "{e}");

    let e = parse("[[accounts]]\nname = \"a\"\nprovider = \"openai\"\napi_key = \"k\"\n[[accounts]]\nname = \"a\"\nprovider = \"openai\"\napi_key = \"k2\"\n").unwrap_err().0;
    assert!(
        e.starts_with("config.toml:6: duplicate account name 'a'"),
        "{e}"
    );

    let e =
        parse("[[accounts]]\nname = \"a\"\nprovider = \"openai\"\napi_key = \"k\"\ncolour = 1\n")
            .unwrap_err()
            .0;
    assert!(
        e.starts_with("config.toml:5:1: unknown field `colour`"),
        "{e}"
    );

    let e = parse(
        "[[accounts]]\nname = \"a\"\nprovider = \"openai\"\napi_key = \"sk-live-123\" trailing\n",
    )
    .unwrap_err()
    .0;
    assert!(e.starts_with("config.toml:4:"), "{e}");
    assert!(
        !e.contains("sk-live-123"),
        "a syntax error never echoes the key: {e}"
    );

    let e = parse("[[pools]]\nname = \"p\"\nprovider = \"openai\"\naccounts = [\"nope\"]\n")
        .unwrap_err()
        .0;
    assert!(
        e.starts_with("config.toml:4:") && e.contains("'nope'"),
        "{e}"
    );

    let e = parse(
        "[[pools]]\nname = \"p\"\nprovider = \"openai\"\naccounts = []\nstrategy = \"random\"\n",
    )
    .unwrap_err()
    .0;
    assert!(
        e.starts_with("config.toml:5:12: strategy: unknown variant, expected one of `round-robin`"),
        "{e}"
    );
    assert!(!e.contains("random"), "the value is not repeated: {e}");

    let e = parse("listen = \"localhost\"\n").unwrap_err().0;
    assert!(e.starts_with("config.toml:1: listen"), "{e}");
}

/// Two openai accounts `a` and `b` (with `a_extra` appended to `a`'s block), and a pool
/// block when `pool` is not empty.
fn with_pool(a_extra: &str, pool: &str) -> Result<Config, ConfigError> {
    parse(&format!(
        "[[accounts]]\nname = \"a\"\nprovider = \"openai\"\napi_key = \"k\"\n{a_extra}\
         [[accounts]]\nname = \"b\"\nprovider = \"openai\"\napi_key = \"k2\"\n\
         {pool}"
    ))
}

const POOL: &str = "[[pools]]\nname = \"p\"\nprovider = \"openai\"\naccounts = [\"b\", \"a\"]\n";

#[test]
fn strategies_and_soft_threshold() {
    // No [[pools]]: the default pool uses headroom and the default threshold.
    let c = with_pool("", "").unwrap();
    assert_eq!(c.pools[0].strategy, Strategy::Headroom);
    assert_eq!(c.pools[0].soft_threshold, DEFAULT_SOFT_THRESHOLD);
    assert_eq!(c.pools[0].soft_threshold, 0.95);
    // A [[pools]] block without them: the same.
    let c = with_pool("", POOL).unwrap();
    assert_eq!(c.pools[0].strategy, Strategy::Headroom);
    assert_eq!(c.pools[0].soft_threshold, 0.95);
    for s in Strategy::ALL {
        let c = with_pool("", &format!("{POOL}strategy = \"{}\"\n", s.as_str())).unwrap();
        assert_eq!(c.pools[0].strategy, s);
    }
    // (soft_threshold as written, value)
    for (written, want) in [("0.8", 0.8), ("1", 1.0), ("1.0", 1.0), ("0.01", 0.01)] {
        let c = with_pool("", &format!("{POOL}soft_threshold = {written}\n")).unwrap();
        assert_eq!(c.pools[0].soft_threshold, want, "{written}");
    }
    // (soft_threshold as written, words the error must contain); the pool's 5th line.
    let table: &[(&str, &[&str])] = &[
        (
            "0",
            &[
                "config.toml:13: soft_threshold = 0 in pool 'p' is not between 0 and 1",
                "fix: use a fraction",
                "0.95",
            ],
        ),
        ("0.0", &[":13: soft_threshold = 0 ", "fix: use a fraction"]),
        ("-0.5", &[":13: soft_threshold = -0.5 "]),
        (
            "1.01",
            &[":13: soft_threshold = 1.01 ", "fix: use a fraction"],
        ),
        (
            "95",
            &[
                ":13: soft_threshold = 95 ",
                "fix: it is a fraction of the window, not a percentage: soft_threshold = 0.95",
            ],
        ),
        (
            "500",
            &[":13: soft_threshold = 500 ", "fix: use a fraction"],
        ),
        ("nan", &[":13: soft_threshold = NaN "]),
        ("inf", &[":13: soft_threshold = inf "]),
        ("\"95%\"", &["config.toml:13:", "invalid type"]),
    ];
    for (written, wanted) in table {
        let e = with_pool("", &format!("{POOL}soft_threshold = {written}\n"))
            .unwrap_err()
            .0;
        for w in *wanted {
            assert!(e.contains(w), "{written}: {e} (wanted {w:?})");
        }
    }
    let e = with_pool("", &format!("{POOL}strategy = \"fill_first\"\n"))
        .unwrap_err()
        .0;
    assert!(e.starts_with("config.toml:13:"), "{e}");
    assert!(
        e.contains("strategy: unknown variant")
            && e.contains("fill-first")
            && !e.contains("fill_first"),
        "{e}"
    );
}

#[test]
fn schedules_and_roles() {
    let scheduled = format!("{POOL}strategy = \"scheduled\"\n");
    let c = with_pool(
        "schedule = \"9-17 mon-fri, 22-6 sat,sun\"\nrole = \"preferred\"\n",
        &scheduled,
    )
    .unwrap();
    let a = &c.accounts[0];
    assert_eq!(
        a.schedule.as_ref().unwrap().as_str(),
        "9-17 mon-fri, 22-6 sat,sun"
    );
    assert_eq!(a.role, Role::Preferred);
    assert_eq!(
        (c.accounts[1].schedule.as_ref(), c.accounts[1].role),
        (None, Role::Default)
    );
    for (written, role) in [("default", Role::Default), ("overflow", Role::Overflow)] {
        let c = with_pool(&format!("role = \"{written}\"\n"), &scheduled).unwrap();
        assert_eq!(c.accounts[0].role, role);
    }

    // A bad schedule names its line, the bad part and the fix.
    // (schedule, words the error must contain)
    let table: &[(&str, &[&str])] = &[
        (
            "9-17 mon-fry",
            &[
                "config.toml:5: schedule = \"9-17 mon-fry\": 'fry' in 'mon-fry' is not a day",
                "\nfix: days are mon, tue",
            ],
        ),
        (
            "9-25 daily",
            &[
                "config.toml:5: ",
                "'25' in '9-25' is not a time of day",
                "\nfix: hours go from 0 to 23",
            ],
        ),
        (
            "mon-fri 9-17",
            &[
                "config.toml:5: ",
                "'9-17' comes after the days",
                "fix: write the hours first: \"9-17 mon-fri\"",
            ],
        ),
        (
            "",
            &[
                "config.toml:5: ",
                "the schedule is empty",
                "fix: write hours then days",
            ],
        ),
    ];
    for (written, wanted) in table {
        let e = with_pool(&format!("schedule = \"{written}\"\n"), &scheduled)
            .unwrap_err()
            .0;
        for w in *wanted {
            assert!(e.contains(w), "{written}: {e} (wanted {w:?})");
        }
    }
    let e = with_pool("role = \"backup\"\n", &scheduled).unwrap_err().0;
    assert!(e.starts_with("config.toml:5:"), "{e}");
    assert!(
        e.contains("role: unknown variant") && e.contains("overflow") && !e.contains("backup"),
        "{e}"
    );

    // A schedule or role where no scheduled pool reads it.
    let e = with_pool("schedule = \"9-17\"\n", POOL).unwrap_err().0;
    assert!(
        e.starts_with(
            "config.toml:5: account 'a' has a schedule, but its pool 'p' uses strategy 'headroom'"
        ),
        "{e}"
    );
    assert!(
        e.contains("fix: set strategy = \"scheduled\" in the [[pools]] block 'p'"),
        "{e}"
    );
    let e = with_pool("role = \"overflow\"\n", "").unwrap_err().0;
    assert!(
        e.starts_with(
            "config.toml:5: account 'a' has a role, but its pool 'openai' uses strategy 'headroom'"
        ),
        "{e}"
    );
    assert!(
        e.contains(
            "fix: add a [[pools]] block for provider 'openai' with strategy = \"scheduled\""
        ),
        "{e}"
    );
    // Held by a scheduled pool and another one: fine.
    let two =
        format!("{scheduled}[[pools]]\nname = \"q\"\nprovider = \"openai\"\naccounts = [\"a\"]\n");
    assert!(with_pool("schedule = \"9-17\"\n", &two).is_ok());
    // In no pool at all (the explicit pool leaves it out): nothing to say.
    let without_a = "[[pools]]\nname = \"p\"\nprovider = \"openai\"\naccounts = [\"b\"]\n";
    assert!(with_pool("schedule = \"9-17\"\n", without_a).is_ok());
}

/// The README's `scheduled` example and its schedule table are valid as written.
#[test]
fn readme_strategy_examples_are_valid() {
    let readme = include_str!("../../README.md");
    let section = &readme[readme.find("### Strategies").unwrap()..];
    let section = &section[..section.find("### Built-in providers").unwrap()];
    let blocks: Vec<&str> = section
        .split("```toml\n")
        .skip(1)
        .map(|b| &b[..b.find("```").unwrap()])
        .collect();
    assert_eq!(blocks.len(), 5, "one example per strategy");
    for b in &blocks {
        let pool: String = b
            .lines()
            .skip_while(|l| !l.starts_with("[[pools]]"))
            .map(|l| format!("{l}\n"))
            .collect();
        let names: Vec<String> = pool
            .lines()
            .find_map(|l| l.strip_prefix("accounts = "))
            .map(|l| l[..l.find(']').unwrap() + 1].to_string())
            .and_then(|l| toml::from_str::<toml::Value>(&format!("a = {l}")).ok())
            .unwrap()["a"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect();
        let provider = pool
            .lines()
            .find_map(|l| l.strip_prefix("provider = "))
            .unwrap()
            .trim_matches('"');
        // Accounts the block does not declare, as API keys.
        let mut text = b.to_string();
        for n in names {
            if !b.contains(&format!("name = \"{n}\"")) {
                text = format!(
                    "[[accounts]]\nname = \"{n}\"\nprovider = \"{provider}\"\napi_key = \"k\"\n{text}"
                );
            }
        }
        let c = parse(&text).unwrap_or_else(|e| panic!("{b}\n{e}"));
        assert!(!c.pools.is_empty());
    }
    let table = &section[section.find("| written | means |").unwrap()..];
    for row in table.lines().skip(2).take_while(|l| l.starts_with('|')) {
        let cell = row.split('|').nth(1).unwrap();
        for example in cell.split("`, `") {
            let example = example.trim().trim_matches('`');
            example
                .parse::<Schedule>()
                .unwrap_or_else(|e| panic!("{example}: {e}"));
        }
    }
    for ok in ["9-17 mon,sat", "9-17 mon, 0-24 sat", "sat, 9-17 mon"] {
        assert!(section.contains(ok), "{ok}");
        ok.parse::<Schedule>().unwrap();
    }
    for refused in ["9-17 mon, sat", "mon-fri 9-17"] {
        assert!(section.contains(refused), "{refused}");
        assert!(refused.parse::<Schedule>().is_err(), "{refused}");
    }
}

#[test]
fn custom_provider_and_cloudflare_account_id() {
    let c = parse(
        r#"
[[providers]]
id = "my-vllm"
hosts = ["LLM.internal.example"]
auth = "query:key"

[[accounts]]
name = "v"
provider = "my-vllm"
api_key = "k"
"#,
    )
    .unwrap();
    let p = c.registry.for_host("llm.internal.example").unwrap();
    assert_eq!(p.auth, AuthScheme::Query("key".into()));

    let e = parse(
        "[[accounts]]\nname = \"cf\"\nprovider = \"cloudflare-workers-ai\"\napi_key = \"k\"\n",
    )
    .unwrap_err()
    .0;
    assert!(e.contains("needs account_id"), "{e}");
    let e = parse("[[providers]]\nid = \"x\"\nhosts = [\"h\"]\nauth = \"basic\"\n")
        .unwrap_err()
        .0;
    assert!(
        e.starts_with("config.toml:4: unknown auth scheme 'basic'"),
        "{e}"
    );
}

/// A Vertex AI account points at its credential file; keypool never keeps a copy.
#[test]
fn a_vertex_account_links_its_credential_file_and_is_never_stored() {
    let block = |oauth: &str| {
        format!("[[accounts]]\nname = \"v\"\nprovider = \"google-vertex\"\noauth = \"{oauth}\"\n")
    };
    let c = parse(&block("link:/keys/sa.json")).unwrap();
    assert!(matches!(
        &c.accounts[0].credential,
        CredentialConfig::OAuth(OAuthSource::Linked(p)) if p == std::path::Path::new("/keys/sa.json")
    ));
    let e = parse(&block("stored")).unwrap_err().0;
    assert!(e.contains("config.toml:4:"), "{e}");
    assert!(
        e.contains("takes a credential file, which keypool never copies"),
        "{e}"
    );
    assert!(e.contains("oauth = \"link:PATH\""), "{e}");
    let e = parse("[[accounts]]\nname = \"v\"\nprovider = \"google-vertex\"\napi_key = \"k\"\n")
        .unwrap_err()
        .0;
    assert!(e.contains("takes subscription logins, not API keys"), "{e}");
}

#[test]
fn upstream_http2_and_large_body_read_and_their_mistakes_are_named() {
    let c = parse("[upstream]\nhttp2 = \"off\"\nlarge_body = \"1 MiB\"\n").unwrap();
    assert_eq!(c.upstream.http2, super::Http2::Off);
    assert_eq!(c.upstream.large_body.as_u64(), 1 << 20);
    let d = parse("").unwrap();
    assert_eq!(d.upstream.http2, super::Http2::Auto);
    assert_eq!(d.upstream.large_body.as_u64(), 256 << 10);
    let e = parse("[upstream]\nhttp2 = \"on\"\n").unwrap_err().0;
    assert!(e.contains("config.toml:2") && e.contains("`auto`"), "{e}");
    let e = parse("[upstream]\nlarge_body = \"lots\"\n").unwrap_err().0;
    assert!(
        e.contains("config.toml:2") && e.contains("large_body"),
        "{e}"
    );
}
