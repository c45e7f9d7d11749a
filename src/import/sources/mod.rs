//! The places `keypool accounts import` looks, one file per source.

mod claude_code;
mod codex;
mod copilot;
mod env;
mod gemini_cli;
mod kimi_cli;
mod pi;
mod placed;

use super::found::Scan;
use super::Machine;
use std::collections::BTreeSet;
use std::path::PathBuf;

/// A place credentials can be imported from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Source {
    /// Claude Code's login (Claude Pro/Max)
    ClaudeCode,
    /// Codex CLI's ChatGPT login or API key
    Codex,
    /// Every login and key in pi's auth.json
    Pi,
    /// gemini-cli's Google login (paid Code Assist)
    GeminiCli,
    /// GitHub Copilot's editor sign-in
    Copilot,
    /// kimi-cli's Kimi For Coding login
    KimiCli,
    /// Provider API keys in environment variables
    Env,
}

/// What a scan may consult besides the machine.
pub struct Ctx<'a> {
    pub machine: &'a Machine,
    /// Providers an API key can be imported for: the built-in ones and the config's own.
    pub api_providers: &'a BTreeSet<String>,
}

impl Source {
    pub const ALL: [Source; 7] = [
        Source::ClaudeCode,
        Source::Codex,
        Source::Pi,
        Source::GeminiCli,
        Source::Copilot,
        Source::KimiCli,
        Source::Env,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Source::ClaudeCode => "claude-code",
            Source::Codex => "codex",
            Source::Pi => "pi",
            Source::GeminiCli => "gemini-cli",
            Source::Copilot => "copilot",
            Source::KimiCli => "kimi-cli",
            Source::Env => "env",
        }
    }

    /// The program whose login this is, for warnings about sharing it.
    pub fn program(self) -> &'static str {
        match self {
            Source::ClaudeCode => "Claude Code",
            Source::Codex => "Codex",
            Source::Pi => "pi",
            Source::GeminiCli => "gemini-cli",
            Source::Copilot => "your editor's Copilot",
            Source::KimiCli => "kimi-cli",
            Source::Env => "the environment",
        }
    }

    pub fn scan(self, ctx: &Ctx) -> Scan {
        match self {
            Source::ClaudeCode => claude_code::scan(ctx.machine),
            Source::Codex => codex::scan(ctx.machine),
            Source::Pi => pi::scan(ctx),
            Source::GeminiCli => gemini_cli::scan(ctx.machine),
            Source::Copilot => copilot::scan(ctx.machine),
            Source::KimiCli => kimi_cli::scan(ctx.machine),
            Source::Env => env::scan(ctx.machine),
        }
    }

    /// Where this source would find something, without reading any file: existing
    /// files and set variables, in display form.
    pub fn visible(self, m: &Machine) -> Vec<String> {
        let files: Vec<PathBuf> = match self {
            Source::ClaudeCode => vec![m.claude_credentials()],
            Source::Codex => vec![m.codex_auth()],
            Source::Pi => vec![m.pi_auth()],
            Source::GeminiCli => vec![m.gemini_creds()],
            Source::Copilot => m.copilot_files().to_vec(),
            Source::KimiCli => vec![m.kimi_credentials()],
            Source::Env => return env::set_vars(m).map(|v| format!("${v}")).collect(),
        };
        files
            .iter()
            .filter(|p| p.is_file())
            .map(|p| m.display(p))
            .collect()
    }
}

/// A name part made of lower-case letters, digits, `-`, `_` and `.`.
fn slug(s: &str) -> String {
    let s: String = s
        .to_lowercase()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '-'
            }
        })
        .collect();
    s.trim_matches('-').to_string()
}

/// `prefix-part`, or `prefix` alone when there is no part.
fn named(prefix: &str, part: Option<&str>) -> String {
    match part.map(slug).filter(|p| !p.is_empty()) {
        Some(p) => format!("{prefix}-{p}"),
        None => prefix.to_string(),
    }
}
