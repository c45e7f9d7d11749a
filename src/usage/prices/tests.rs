use super::*;

fn tokens(input: u64, output: u64, cache_read: u64, cache_write: u64) -> Tokens {
    Tokens {
        input,
        output,
        cache_read,
        cache_write,
        reasoning: 0,
    }
}

fn close(a: Option<f64>, b: f64) -> bool {
    a.is_some_and(|a| (a - b).abs() < 1e-9)
}

fn config(provider: Option<&str>, model: &str, input: f64, output: f64) -> PriceConfig {
    PriceConfig {
        provider: provider.map(str::to_string),
        model: model.to_string(),
        input,
        output,
        cache_read: None,
        cache_write: None,
    }
}

#[test]
fn built_in_prices_every_token_kind() {
    let p = Prices::new(&[]);
    // 1M uncached in at $3, 1M out at $15, 1M read at $0.30, 1M written at $3.75.
    let t = tokens(1_000_000, 1_000_000, 1_000_000, 1_000_000);
    assert!(close(
        p.cost("anthropic", "claude-sonnet-4-5-20250929", &t),
        22.05
    ));
    let t = tokens(2_000, 500, 8_000, 0);
    let gpt5 = (2_000.0 * 1.25 + 500.0 * 10.0 + 8_000.0 * 0.125) / 1e6;
    assert!(close(p.cost("openai", "gpt-5-2025-08-07", &t), gpt5));
}

#[test]
fn subscriptions_and_routers_price_by_model() {
    let p = Prices::new(&[]);
    // Under Gemini Pro's long-prompt tier: USD per million / 10.
    let t = tokens(100_000, 0, 0, 0);
    for (provider, model, usd) in [
        ("claude-code", "claude-opus-4-5-20251101", 5.0),
        ("openai-codex", "gpt-5-codex", 1.25),
        ("google-gemini-cli", "gemini-2.5-pro", 1.25),
        ("github-copilot", "claude-sonnet-4.5", 3.0),
        ("github-copilot", "gpt-4.1", 2.0),
        ("openrouter", "anthropic/claude-3.7-sonnet", 3.0),
        ("google", "models/gemini-2.5-flash", 0.3),
        ("google", "GEMINI-2.5-FLASH-LITE", 0.1),
        ("groq", "meta-llama/llama-3.3-70b-versatile", 0.59),
    ] {
        assert!(
            close(p.cost(provider, model, &t), usd / 10.0),
            "{provider} {model}: {:?}",
            p.cost(provider, model, &t)
        );
    }
}

#[test]
fn the_longest_prefix_wins() {
    let p = Prices::new(&[]);
    let t = tokens(1_000_000, 0, 0, 0);
    assert!(close(p.cost("openai", "gpt-5-mini-2025-08-07", &t), 0.25));
    assert!(close(p.cost("openai", "gpt-5-nano", &t), 0.05));
    assert!(close(p.cost("openai", "gpt-4o-mini", &t), 0.15));
    assert!(close(p.cost("openai", "gpt-4o-2024-08-06", &t), 2.5));
    assert!(close(
        p.cost("anthropic", "claude-opus-4-1-20250805", &t),
        15.0
    ));
    assert!(close(
        p.cost("anthropic", "claude-opus-4-20250514", &t),
        15.0
    ));
}

#[test]
fn gemini_pro_prices_long_prompts_higher() {
    let p = Prices::new(&[]);
    assert!(close(
        p.cost("google", "gemini-2.5-pro", &tokens(200_000, 0, 0, 0)),
        0.25
    ));
    assert!(close(
        p.cost("google", "gemini-2.5-pro", &tokens(300_000, 0, 0, 0)),
        0.75
    ));
}

#[test]
fn configured_entries_override_and_extend() {
    let mut cheap = config(None, "claude-sonnet-4", 1.0, 2.0);
    cheap.cache_read = Some(0.5);
    let p = Prices::new(&[
        cheap,
        config(None, "my-local-model", 0.1, 0.2),
        config(Some("together"), "my-local", 9.0, 9.0),
    ]);
    let t = tokens(1_000_000, 1_000_000, 1_000_000, 1_000_000);
    // A configured entry wins even over a longer built-in one; cache_write falls back to
    // the input price.
    assert!(close(
        p.cost("anthropic", "claude-sonnet-4-5", &t),
        1.0 + 2.0 + 0.5 + 1.0
    ));
    assert!(close(
        p.cost("ollama", "my-local-model-7b", &t),
        0.1 + 0.2 + 0.1 + 0.1
    ));
    // Longer beats provider-specific.
    assert!(close(
        p.cost("together", "my-local-model-7b", &t),
        0.1 + 0.2 + 0.1 + 0.1
    ));
    assert!(close(p.cost("together", "my-local-x", &t), 36.0));
}

#[test]
fn a_provider_entry_beats_an_any_provider_one_of_the_same_length() {
    let p = Prices::new(&[
        config(None, "llama-3", 1.0, 1.0),
        config(Some("cerebras"), "llama-3", 2.0, 2.0),
    ]);
    let t = tokens(1_000_000, 0, 0, 0);
    assert!(close(p.cost("cerebras", "llama-3.1-8b", &t), 2.0));
    assert!(close(p.cost("together", "llama-3.1-8b", &t), 1.0));
}

#[test]
fn unknown_models_have_no_price() {
    let p = Prices::new(&[]);
    let t = tokens(10, 10, 0, 0);
    assert_eq!(p.cost("openai", "some-new-model", &t), None);
    assert_eq!(p.cost("openai", "", &t), None);
    assert_eq!(p.cost("openai", "/", &t), None);
    // Groq's rows are Groq's: another host's llama has no built-in price.
    assert_eq!(p.cost("together", "llama-3.3-70b-versatile", &t), None);
}

#[test]
fn huge_counts_stay_finite() {
    let p = Prices::new(&[]);
    let t = tokens(u64::MAX, u64::MAX, u64::MAX, u64::MAX);
    let usd = p.cost("anthropic", "claude-opus-4", &t).expect("priced");
    assert!(usd.is_finite() && usd > 0.0);
}

#[test]
fn every_built_in_row_is_sane() {
    for row in ROWS {
        assert!(row.input > 0.0 && row.output >= row.input, "{row:?}");
        assert_eq!(normalise(row.model).len(), row.model.len(), "{row:?}");
    }
    assert_eq!(PRICES_CHECKED, "2026-12");
}

#[test]
fn a_remembered_pair_prices_as_the_search_did_and_past_the_cap_prices_still() {
    let p = Prices::new(&[config(Some("openai"), "gpt-5", 2.0, 4.0)]);
    let t = tokens(1_000_000, 1_000_000, 0, 0);
    let first = p.cost("openai", "gpt-5-mini", &t);
    assert!(close(first, 6.0));
    assert_eq!(p.cost("openai", "gpt-5-mini", &t), first);
    // The same model through another provider finds the built-in entry, not openai's.
    let other = p.cost("openrouter", "openai/gpt-5-mini", &t);
    assert!(other.is_some() && other != first, "{other:?}");
    assert_eq!(p.cost("openai", "no-such-model", &t), None);
    for i in 0..MAX_REMEMBERED + 10 {
        p.cost("openai", &format!("unknown-{i}"), &t);
    }
    assert_eq!(p.remembered.read().len, MAX_REMEMBERED);
    assert!(close(p.cost("openai", "gpt-5-nano", &t), 6.0));
    assert_eq!(p.cost("openai", "", &t), None);
}
