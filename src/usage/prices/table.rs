//! The built-in prices: USD per million tokens at each vendor's standard (not batch, not
//! priority) API rates. Keyed by model, not by provider, so a subscription (Claude Code,
//! Codex, Gemini CLI, Copilot) is priced as what the same tokens cost on the API.
//!
//! Checked against the vendors' pricing pages (and copies of them) in December 2026. Not
//! verified there, taken from the vendors' announcements as remembered: the Mistral rows,
//! grok-4-fast and grok-code-fast-1, the Groq-hosted rows, gpt-4.1-nano, o4-mini and the
//! Gemini 2.5 cache-read rates (context caching was repriced more than once).

/// When the table was last checked against the vendors' pages.
pub const PRICES_CHECKED: &str = "2026-12";

/// One row: the models whose (normalised) id starts with `model`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Row {
    /// `None`: whoever serves the model; else only that provider's answers.
    pub provider: Option<&'static str>,
    pub model: &'static str,
    pub input: f64,
    pub output: f64,
    pub cache_read: Option<f64>,
    pub cache_write: Option<f64>,
    /// Prompts over `.0` tokens are billed at the rates of `.1` (Gemini 2.5 Pro).
    pub long: Option<(u64, &'static Row)>,
}

const fn any(model: &'static str, input: f64, output: f64, read: f64, write: Option<f64>) -> Row {
    Row {
        provider: None,
        model,
        input,
        output,
        cache_read: Some(read),
        cache_write: write,
        long: None,
    }
}

const fn hosted(provider: &'static str, model: &'static str, input: f64, output: f64) -> Row {
    Row {
        provider: Some(provider),
        model,
        input,
        output,
        cache_read: None,
        cache_write: None,
        long: None,
    }
}

/// Anthropic: cache reads at 0.1× input, 5-minute cache writes at 1.25× (1-hour writes,
/// at 2×, are not told apart in `usage` and are counted as 5-minute ones).
const fn claude(model: &'static str, input: f64, output: f64) -> Row {
    any(model, input, output, input * 0.1, Some(input * 1.25))
}

/// OpenAI and most others: cached input at a discount, no charge to write the cache.
const fn cached(model: &'static str, input: f64, output: f64, read: f64) -> Row {
    any(model, input, output, read, None)
}

const GEMINI_25_PRO_LONG: Row = cached("gemini-2.5-pro", 2.5, 15.0, 0.25);

pub const ROWS: &[Row] = &[
    // Anthropic. Ids are normalised (`.` → `-`), so `claude-sonnet-4.5` (OpenRouter,
    // Copilot) meets `claude-sonnet-4-5-20250929`.
    claude("claude-opus-4-5", 5.0, 25.0),
    claude("claude-opus-4-1", 15.0, 75.0),
    claude("claude-opus-4", 15.0, 75.0),
    claude("claude-sonnet-4-5", 3.0, 15.0),
    claude("claude-sonnet-4", 3.0, 15.0),
    claude("claude-haiku-4-5", 1.0, 5.0),
    claude("claude-3-7-sonnet", 3.0, 15.0),
    claude("claude-3-5-sonnet", 3.0, 15.0),
    claude("claude-3-5-haiku", 0.8, 4.0),
    claude("claude-3-opus", 15.0, 75.0),
    claude("claude-3-haiku", 0.25, 1.25),
    // OpenAI.
    cached("gpt-5-codex-mini", 0.25, 2.0, 0.025),
    cached("gpt-5-codex", 1.25, 10.0, 0.125),
    cached("gpt-5-1-codex-mini", 0.25, 2.0, 0.025),
    cached("gpt-5-1", 1.25, 10.0, 0.125),
    cached("gpt-5-mini", 0.25, 2.0, 0.025),
    cached("gpt-5-nano", 0.05, 0.4, 0.005),
    cached("gpt-5", 1.25, 10.0, 0.125),
    cached("gpt-4-1-mini", 0.4, 1.6, 0.1),
    cached("gpt-4-1-nano", 0.1, 0.4, 0.025),
    cached("gpt-4-1", 2.0, 8.0, 0.5),
    cached("gpt-4o-mini", 0.15, 0.6, 0.075),
    cached("gpt-4o", 2.5, 10.0, 1.25),
    cached("o3-mini", 1.1, 4.4, 0.55),
    cached("o3", 2.0, 8.0, 0.5),
    cached("o4-mini", 1.1, 4.4, 0.275),
    // Google, prompts up to 200k tokens (Pro) and any size (Flash, Flash-Lite).
    Row {
        long: Some((200_000, &GEMINI_25_PRO_LONG)),
        ..cached("gemini-2.5-pro", 1.25, 10.0, 0.125)
    },
    cached("gemini-2-5-flash-lite", 0.1, 0.4, 0.01),
    cached("gemini-2-5-flash", 0.3, 2.5, 0.03),
    cached("gemini-2-0-flash-lite", 0.075, 0.3, 0.075),
    cached("gemini-2-0-flash", 0.1, 0.4, 0.025),
    // DeepSeek (V3.2 behind both names): cache hits are `cache_read`.
    cached("deepseek-chat", 0.28, 0.42, 0.028),
    cached("deepseek-reasoner", 0.28, 0.42, 0.028),
    // xAI.
    cached("grok-4-fast", 0.2, 0.5, 0.05),
    cached("grok-4", 3.0, 15.0, 0.75),
    cached("grok-code-fast-1", 0.2, 1.5, 0.02),
    cached("grok-3-mini", 0.3, 0.5, 0.075),
    cached("grok-3", 3.0, 15.0, 0.75),
    // Mistral.
    cached("mistral-large", 2.0, 6.0, 2.0),
    cached("mistral-medium", 0.4, 2.0, 0.4),
    cached("mistral-small", 0.1, 0.3, 0.1),
    cached("codestral", 0.3, 0.9, 0.3),
    cached("devstral-medium", 0.4, 2.0, 0.4),
    cached("devstral-small", 0.1, 0.3, 0.1),
    // Open models as Groq serves them (ids without their `org/` prefix).
    hosted("groq", "llama-3-3-70b-versatile", 0.59, 0.79),
    hosted("groq", "llama-3-1-8b-instant", 0.05, 0.08),
    hosted("groq", "gpt-oss-120b", 0.15, 0.75),
    hosted("groq", "gpt-oss-20b", 0.1, 0.5),
    hosted("groq", "kimi-k2-instruct", 1.0, 3.0),
];
