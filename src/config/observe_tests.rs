//! `[usage]`, `[metrics]`, `[probes]` and `[[prices]]` as a user writes them.

use crate::config::{Config, PriceConfig};
use std::path::Path;
use std::time::Duration;

fn parse(text: &str) -> Result<Config, String> {
    Config::parse(text, Path::new("k.toml")).map_err(|e| e.0)
}

#[test]
fn defaults_keep_ninety_days_and_probe_every_five_minutes() {
    let c = parse("").expect("empty config");
    assert!(c.usage.ledger && c.metrics.enabled && c.probes.enabled);
    assert_eq!(c.usage.keep, Duration::from_secs(90 * 86_400));
    assert_eq!(c.probes.every, Duration::from_secs(300));
    assert!(c.prices.is_empty());
}

#[test]
fn sections_as_written() {
    let c = parse(concat!(
        "[usage]\nkeep = \"30d\"\nledger = false\n",
        "[metrics]\nenabled = false\n",
        "[probes]\nevery = \"10m\"\nenabled = false\n",
        "[[prices]]\nmodel = \"my-model\"\ninput = 1.5\noutput = 6\n",
        "[[prices]]\nprovider = \"openai\"\nmodel = \"gpt-5\"\ninput = 1\noutput = 8\ncache_read = 0.1\n",
    ))
    .expect("valid");
    assert_eq!(c.usage.keep, Duration::from_secs(30 * 86_400));
    assert!(!c.usage.ledger && !c.metrics.enabled && !c.probes.enabled);
    assert_eq!(c.probes.every, Duration::from_secs(600));
    assert_eq!(
        c.prices[1],
        PriceConfig {
            provider: Some("openai".into()),
            model: "gpt-5".into(),
            input: 1.0,
            output: 8.0,
            cache_read: Some(0.1),
            cache_write: None,
        }
    );
}

#[test]
fn numbers_out_of_range_name_the_line_and_the_fix() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "[usage]\nkeep = \"1h\"\n",
            "k.toml:1: [usage] keep",
            "from 1d to 3650d",
        ),
        (
            "[usage]\nqueue = 1\n",
            "k.toml:1: [usage] queue = 1",
            "from 16 to",
        ),
        (
            "\n[probes]\nevery = \"5s\"\n",
            "k.toml:2: [probes] every",
            "60s to 24h",
        ),
        (
            "[[prices]]\nmodel = \"m\"\ninput = -1\noutput = 1\n",
            "k.toml:1: [[prices]] input = -1",
            "USD per million",
        ),
        (
            "[[prices]]\nmodel = \"m\"\ninput = 1\noutput = 1e9\n",
            "[[prices]] output = 1000000000",
            "from 0 to",
        ),
        (
            "[[prices]]\nmodel = \"\"\ninput = 1\noutput = 1\n",
            "model is empty",
            "model = \"claude-sonnet-4\"",
        ),
        (
            "[[prices]]\nprovider = \"nope\"\nmodel = \"m\"\ninput = 1\noutput = 1\n",
            "provider \"nope\" is not a known provider",
            "leave provider out",
        ),
        ("[usage]\nkeep = \"forever\"\n", "k.toml:2:", "keep"),
        ("[probes]\nevry = \"5m\"\n", "k.toml:2:", "evry"),
    ];
    for (text, problem, fix) in cases {
        let e = parse(text).expect_err(text);
        assert!(e.contains(problem), "{text:?}: {e}");
        assert!(e.contains(fix), "{text:?}: {e}");
    }
}
