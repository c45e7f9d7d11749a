//! The command line: the command tree (clap types, here) and what each command does
//! ([`commands`]). The top layer: nothing else in the crate imports it; it hands the
//! layers below their own types (an import `Request`, an `envvars::Shell`).
//! Every command's `--help` ends with an example.

mod ca;
mod child;
mod commands;
mod doctor;
mod env;
mod serve;
mod usage;

pub use commands::run;

use crate::config::ConnectTo;
use crate::envvars::Shell;
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "keypool",
    version,
    about = "Pool several LLM provider accounts behind one local proxy; rotate on rate limits",
    after_help = concat!(
        "Examples:\n",
        "  keypool                      # run the proxy on 127.0.0.1:8787\n",
        "  eval \"$(keypool env)\"        # point this shell's tools at it\n",
        "  keypool run -- claude        # or just one command\n",
        "\n",
        "Files live in $KEYPOOL_HOME (default ~/.keypool). Logs: KEYPOOL_LOG=debug.",
    )
)]
pub struct Cli {
    /// Config file (default: $KEYPOOL_HOME/config.toml)
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the proxy (the default command)
    #[command(after_help = "Example:\n  keypool serve --listen 127.0.0.1:8787")]
    Serve(ServeArgs),
    /// Create, locate, rotate, trust or untrust keypool's local CA
    #[command(subcommand)]
    Ca(CaCommand),
    /// Print the environment that points this shell's tools at keypool
    #[command(
        after_help = concat!(
            "Examples:\n",
            "  eval \"$(keypool env)\"                       # sh, bash, zsh\n",
            "  keypool env --shell fish | source\n",
            "  keypool env --shell powershell | Invoke-Expression",
        )
    )]
    Env(EnvArgs),
    /// Run one command with its traffic going through keypool
    #[command(
        after_help = concat!(
            "Examples:\n",
            "  keypool run -- claude\n",
            "  keypool run -- python my_openai_script.py\n",
            "\n",
            "Starts a proxy for the command's lifetime if none is running, and exits with the ",
            "command's exit code.",
        )
    )]
    Run(RunArgs),
    /// Show or import accounts
    #[command(subcommand)]
    Accounts(AccountsCommand),
    /// Log in to a subscription (Claude Pro/Max, ChatGPT, GitHub Copilot, Kimi, Kilo, Cline) and add it as an account
    #[command(
        after_help = concat!(
            "Examples:\n",
            "  keypool login anthropic --name max-personal\n",
            "  keypool login openai-codex --no-browser      # over SSH: paste the code\n",
            "  keypool login github-copilot\n",
            "  keypool login kimi-coding\n",
            "  keypool login kilo\n",
            "  keypool login cline\n",
            "\n",
            "The tokens go to $KEYPOOL_HOME/credentials.json (0600) and the account to the ",
            "config.\n",
            "For an account linked to a CLI's file, the new tokens are written into that file.",
        )
    )]
    Login(LoginArgs),
    /// Make the running proxy read its config file again (as SIGHUP does)
    #[command(
        after_help = concat!(
            "Example:\n",
            "  keypool reload\n",
            "\n",
            "A config with an error is refused (exit 2, with the line and the fix) and the ",
            "running one kept.\n",
            "Accounts and pools change for new requests; connections stay open.",
        )
    )]
    Reload,
    /// Show what the running proxy is doing: pools, accounts, state, requests, last error
    #[command(
        after_help = concat!(
            "Examples:\n",
            "  keypool status\n",
            "  keypool status --json     # the same data as GET ",
            "http://127.0.0.1:8787/_keypool/status",
        )
    )]
    Status {
        /// Print the JSON the proxy serves instead of a table
        #[arg(long)]
        json: bool,
    },
    /// Show requests, tokens and cost per account, model, day or pool from the usage ledger
    #[command(
        after_help = concat!(
            "Examples:\n",
            "  keypool usage                      # the last 7 days, one line per account\n",
            "  keypool usage --since 24h --by model\n",
            "  keypool usage --since 2026-11-01 --by day --json\n",
            "\n",
            "Reads $KEYPOOL_HOME/usage.db, whether or not keypool runs. Days are UTC.",
        )
    )]
    Usage(usage::UsageArgs),
    /// Check that each runtime and tool on PATH goes through keypool, and why not
    #[command(
        after_help = concat!(
            "Examples:\n",
            "  keypool doctor\n",
            "  keypool doctor --json     # for scripts\n",
            "\n",
            "Each runtime found (node, bun, python3 with httpx and requests, curl, git) fetches\n",
            "https://<provider host>/_keypool/doctor/<nonce>, which keypool answers itself (no\n",
            "upstream, no credential), with the environment `keypool env` prints. Exits 0 when\n",
            "every runtime found passes, 1 when one does not, 2 on a config error.",
        )
    )]
    Doctor(DoctorArgs),
}

#[derive(Args, Debug)]
pub struct DoctorArgs {
    /// Print the report as JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum LoginProvider {
    /// Claude Pro/Max
    Anthropic,
    /// ChatGPT Plus/Pro/Business (Codex)
    OpenaiCodex,
    /// GitHub Copilot
    GithubCopilot,
    /// Kimi For Coding (Kimi membership)
    KimiCoding,
    /// Kilo Code's gateway (a Kilo account)
    Kilo,
    /// Cline (a Cline account)
    Cline,
}

/// The `keypool login` argument: a subscription keypool logs in to, or the reason it
/// refuses one (Qwen, Antigravity) as a usage error.
fn login_provider(s: &str) -> Result<LoginProvider, String> {
    if let Some(why) = crate::providers::refused::refused(s) {
        return Err(why.to_string());
    }
    <LoginProvider as ValueEnum>::from_str(s, true).map_err(|_| {
        let known: Vec<String> = LoginProvider::value_variants()
            .iter()
            .filter_map(|v| Some(v.to_possible_value()?.get_name().to_string()))
            .collect();
        format!("keypool logs in to {}", known.join(", "))
    })
}

#[derive(Args, Debug)]
pub struct LoginArgs {
    /// Which subscription: anthropic, openai-codex, github-copilot, kimi-coding, kilo, cline
    #[arg(value_parser = login_provider)]
    pub provider: LoginProvider,
    /// Account name (default: from the login's email); an existing account gets new tokens
    #[arg(long)]
    pub name: Option<String>,
    /// Do not open a browser or wait for a redirect: print the URL and paste the code
    #[arg(long)]
    pub no_browser: bool,
    /// Port of the loopback redirect (default: the one the vendor registered, 53692 or 1455)
    #[arg(long, value_name = "PORT")]
    pub callback_port: Option<u16>,
    /// GitHub Enterprise domain for Copilot (default github.com)
    #[arg(long, value_name = "DOMAIN")]
    pub domain: Option<String>,
    #[command(flatten)]
    pub upstream: UpstreamArgs,
}

#[derive(Args, Debug, Default, Clone)]
pub struct ServeArgs {
    /// Address to listen on (overrides `listen` in the config)
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
    #[command(flatten)]
    pub upstream: UpstreamArgs,
}

/// How keypool reaches providers and their token endpoints (also test hooks).
#[derive(Args, Debug, Default, Clone)]
pub struct UpstreamArgs {
    /// Connect to CONNECT_HOST:CONNECT_PORT when forwarding to HOST:PORT, keeping SNI and
    /// Host as HOST (as curl's --connect-to); repeatable
    #[arg(
        long = "connect-to",
        value_name = "HOST:PORT:CONNECT_HOST:CONNECT_PORT",
        value_parser = ConnectTo::parse
    )]
    pub connect_to: Vec<ConnectTo>,
    /// Extra root certificates (PEM) trusted for upstream TLS, on top of the system's; repeatable
    #[arg(long = "upstream-ca", value_name = "FILE")]
    pub upstream_ca: Vec<PathBuf>,
}

impl UpstreamArgs {
    /// Adds the extra roots to `config`; returns the `--connect-to` rules.
    pub fn apply(&self, config: &mut crate::config::Config) -> Vec<ConnectTo> {
        config
            .upstream
            .extra_ca
            .extend(self.upstream_ca.iter().cloned());
        self.connect_to.clone()
    }
}

#[derive(Subcommand, Debug)]
pub enum CaCommand {
    /// Create the CA if it does not exist yet, and check keypool's directories
    #[command(
        after_help = concat!(
            "Examples:\n",
            "  keypool ca init\n",
            "  keypool ca init --fix-permissions   # make keypool's own directories 0700\n",
            "\n",
            "The CA can sign only for the provider hosts in the config when it is made\n",
            "(built-in providers and [[providers]] hosts); after adding a provider, run `keypool ",
            "ca rotate`.",
        )
    )]
    Init(InitArgs),
    /// Replace the CA with a new one covering the hosts configured now (keeps the old one aside)
    #[command(
        after_help = concat!(
            "Example:\n",
            "  keypool ca rotate\n",
            "\n",
            "The old ca.pem and ca-key.pem stay in the certs directory as *.old-<time> until you ",
            "delete them.\n",
            "bundle.pem is rewritten. It prints what to re-trust: restart tools started with ",
            "`keypool run` or\n",
            "`keypool env`, run `sudo keypool ca install` again if you installed the CA, and ",
            "`keypool reload`.",
        )
    )]
    Rotate,
    /// Print the absolute path of the CA certificate (ca.pem)
    #[command(after_help = "Example:\n  export NODE_EXTRA_CA_CERTS=\"$(keypool ca path)\"")]
    Path,
    /// Add the CA to the operating system's trust store
    #[command(
        after_help = concat!(
            "Example:\n",
            "  sudo keypool ca install\n",
            "  keypool ca install --dry-run   # only print the commands",
        )
    )]
    Install(TrustArgs),
    /// Remove the CA from the operating system's trust store
    #[command(after_help = "Example:\n  sudo keypool ca uninstall")]
    Uninstall(TrustArgs),
}

#[derive(Args, Debug)]
pub struct InitArgs {
    /// Set keypool's own directories (the home and certs/) to 0700 when others can read them
    #[arg(long)]
    pub fix_permissions: bool,
}

#[derive(Args, Debug)]
pub struct TrustArgs {
    /// Print the commands instead of running them
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Args, Debug)]
pub struct EnvArgs {
    /// Shell syntax to print
    #[arg(long, value_enum, default_value = "sh")]
    pub shell: Shell,
    /// Proxy address to point at (default: `listen` from the config)
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
}

#[derive(Args, Debug)]
pub struct RunArgs {
    #[command(flatten)]
    pub serve: ServeArgs,
    /// The command and its arguments
    #[arg(
        required = true,
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "CMD"
    )]
    pub command: Vec<String>,
}

#[derive(Subcommand, Debug)]
pub enum AccountsCommand {
    /// List accounts, their pools and where their keys come from
    #[command(after_help = "Example:\n  keypool accounts list --check")]
    List {
        /// Also resolve each key (runs `!command` keys) and report problems
        #[arg(long)]
        check: bool,
    },
    /// Add the logins and keys other tools already have on this machine
    #[command(
        override_usage = concat!(
            "keypool accounts import <SOURCE> [--name NAME] [--link]\n",
            "       keypool accounts import --all [--link]",
        ),
        after_help = concat!(
            "Examples:\n",
            "  keypool accounts import --all                  # everything found, tokens copied\n",
            "  keypool accounts import claude-code --link     # follow Claude Code's own file\n",
            "  keypool accounts import codex --name work      # name the account\n",
            "  keypool accounts import env                    # env:VAR references to provider ",
            "keys\n",
            "\n",
            "Running it again adds nothing new: a credential already configured is reported as ",
            "such.\n",
            "Copied (stored) tokens go to $KEYPOOL_HOME/credentials.json; --link leaves them in ",
            "the\n",
            "tool's file and keypool refreshes them there, under the tool's own lock. Then run\n",
            "`keypool reload` (or restart keypool).",
        )
    )]
    Import(ImportArgs),
}

#[derive(Args, Debug)]
pub struct ImportArgs {
    /// Where to import from
    #[arg(value_enum, required_unless_present = "all", conflicts_with = "all")]
    pub source: Option<crate::import::Source>,
    /// Import from every source
    #[arg(long)]
    pub all: bool,
    /// Name of the new account (several found: NAME, NAME-2, …)
    #[arg(long, value_name = "NAME", conflicts_with = "all")]
    pub name: Option<String>,
    /// Link subscription logins to the tool's file instead of copying their tokens
    /// (API keys are unaffected)
    #[arg(long)]
    pub link: bool,
}

impl From<ImportArgs> for crate::import::Request {
    fn from(args: ImportArgs) -> Self {
        crate::import::Request {
            source: args.source,
            options: crate::import::Options {
                name: args.name,
                link: args.link,
            },
        }
    }
}
