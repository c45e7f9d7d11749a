//! What each CLI command does: the dispatch, and the commands short enough to live
//! beside it. `main.rs` only parses and maps the result to an exit code.

use super::{AccountsCommand, Cli, Command, LoginArgs, LoginProvider, ServeArgs};
use crate::admin_client::Admin;
use crate::config::{Config, EXAMPLE};
use crate::failure::Failure;
use crate::home::Home;
use crate::providers::Flavor;
use crate::upstream::Upstream;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

pub async fn run(cli: Cli) -> Result<ExitCode, Failure> {
    let home = Home::from_env().map_err(Failure::Usage)?;
    let config = cli.config.as_deref();
    match cli.command.unwrap_or(Command::Serve(ServeArgs::default())) {
        Command::Serve(args) => super::serve::serve(&home, config, args).await,
        Command::Ca(cmd) => super::ca::ca(&home, config, cmd),
        Command::Env(args) => super::env::env(&home, config, args),
        Command::Run(args) => super::child::run_command(&home, config, args).await,
        Command::Login(args) => login(&home, config, args).await,
        Command::Reload => reload(&home, config).await,
        Command::Status { json } => status(&home, config, json).await,
        Command::Usage(args) => super::usage::usage(&home, args),
        Command::Doctor(args) => super::doctor::doctor(&home, config, args).await,
        Command::Accounts(AccountsCommand::List { check }) => {
            let (config, path) = load_config(&home, config, false)?;
            let live = Admin::new(config.listen, &path).index().await.ok();
            Ok(crate::accounts_view::list(
                &home,
                &config,
                &path,
                check,
                live.as_ref(),
            ))
        }
        Command::Accounts(AccountsCommand::Import(args)) => {
            crate::import::command(&home, config, args.into())
        }
    }
}

async fn reload(home: &Home, explicit: Option<&Path>) -> Result<ExitCode, Failure> {
    // The file may be the broken one being reloaded: only its address is needed
    // here, and the running proxy reports what is wrong with the rest.
    let path = explicit
        .map(Path::to_path_buf)
        .unwrap_or_else(|| home.config_file());
    let listen = listen_of(&path);
    match Admin::new(listen, &path)
        .post(crate::admin::RELOAD_PATH)
        .await
    {
        Err(e) => Err(Failure::Runtime(e)),
        Ok(v) if v["reloaded"] == true => {
            println!("{}", v["message"].as_str().unwrap_or("reloaded"));
            Ok(ExitCode::SUCCESS)
        }
        Ok(v) => Err(Failure::Usage(format!(
            "reload refused: {}",
            v["error"].as_str().unwrap_or("unknown error")
        ))),
    }
}

async fn status(home: &Home, explicit: Option<&Path>, json: bool) -> Result<ExitCode, Failure> {
    let (config, path) = load_config(home, explicit, false)?;
    let admin = Admin::new(config.listen, &path);
    let v = admin
        .get(crate::admin::STATUS_PATH)
        .await
        .map_err(Failure::Runtime)?;
    if json {
        println!("{v:#}");
    } else {
        crate::status_view::print(&v);
    }
    Ok(ExitCode::SUCCESS)
}

async fn login(home: &Home, explicit: Option<&Path>, args: LoginArgs) -> Result<ExitCode, Failure> {
    let (mut config, path) = load_config(home, explicit, false)?;
    let connect_to = args.upstream.apply(&mut config);
    let upstream = Upstream::new(&config.upstream, &connect_to).map_err(Failure::Usage)?;
    let flavor = match args.provider {
        LoginProvider::Anthropic => Flavor::Anthropic,
        LoginProvider::OpenaiCodex => Flavor::Codex,
        LoginProvider::GithubCopilot => Flavor::Copilot,
        LoginProvider::KimiCoding => Flavor::Kimi,
        LoginProvider::Kilo => Flavor::Kilo,
        LoginProvider::Cline => Flavor::Cline,
    };
    let opts = crate::login::Options {
        flavor,
        name: args.name,
        no_browser: args.no_browser,
        callback_port: args.callback_port,
        domain: args.domain,
    };
    match crate::login::run(home, &config, &path, &upstream, opts).await {
        Ok(msg) => {
            println!("{msg}");
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => Err(Failure::Runtime(format!("login failed: {e}"))),
    }
}

/// The `listen` address a config file names, read leniently (the rest may be broken).
fn listen_of(path: &Path) -> SocketAddr {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|t| t.parse::<toml::Table>().ok())
        .and_then(|t| t.get("listen")?.as_str()?.parse().ok())
        .unwrap_or_else(|| {
            crate::config::DEFAULT_LISTEN
                .parse()
                .expect("valid default")
        })
}

pub(super) fn runtime(e: impl std::fmt::Display) -> Failure {
    Failure::Runtime(e.to_string())
}

/// Loads the config. With no config file at the default path, `write_example` writes a
/// commented example there for the user to fill in, and keypool runs without accounts.
pub(super) fn load_config(
    home: &Home,
    explicit: Option<&Path>,
    write_example: bool,
) -> Result<(Config, PathBuf), Failure> {
    let path = explicit
        .map(Path::to_path_buf)
        .unwrap_or_else(|| home.config_file());
    if path.exists() {
        return Config::load(&path)
            .map(|c| (c, path))
            .map_err(|e| Failure::Usage(e.to_string()));
    }
    if explicit.is_some() {
        return Err(Failure::Usage(format!(
            concat!(
                "config file {} does not exist\n",
                "fix: check the path, or leave out --config to use {}",
            ),
            path.display(),
            home.config_file().display()
        )));
    }
    if write_example {
        // 0600: this file will hold API keys once the user fills it in.
        crate::atomic_file::write(&path, EXAMPLE.as_bytes(), 0o600).map_err(|e| {
            Failure::Runtime(format!(
                "cannot write an example config to {}: {e}",
                path.display()
            ))
        })?;
        eprintln!(
            concat!(
                "keypool: wrote an example config to {}.\n",
                "  Add one [[accounts]] block per API key (the file shows how), ",
                "then run `keypool reload` (or restart keypool).",
            ),
            path.display()
        );
    }
    Ok((Config::empty(), path))
}
