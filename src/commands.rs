//! What each CLI command does. `main.rs` only parses and maps the result to an exit code.

use crate::admin_client::Admin;
use crate::ca::CertAuthority;
use crate::cli::{
    AccountsCommand, CaCommand, Cli, Command, EnvArgs, InitArgs, LoginArgs, LoginProvider, RunArgs,
    ServeArgs,
};
use crate::config::{Config, EXAMPLE};
use crate::home::Home;
use crate::oauth::Flavor;
use crate::server::{start, ProxyOptions, RunningProxy};
use crate::upstream::ConnectTo;
use crate::upstream::Upstream;
use crate::{envvars, trust};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

/// A command failed; the variant picks the exit code.
#[derive(Debug)]
pub enum Failure {
    /// Bad config or arguments: exit 2.
    Usage(String),
    /// Something went wrong at run time: exit 1.
    Runtime(String),
}

impl Failure {
    pub fn exit_code(&self) -> ExitCode {
        match self {
            Failure::Usage(_) => ExitCode::from(2),
            Failure::Runtime(_) => ExitCode::from(1),
        }
    }

    pub fn message(&self) -> &str {
        match self {
            Failure::Usage(m) | Failure::Runtime(m) => m,
        }
    }
}

pub async fn run(cli: Cli) -> Result<ExitCode, Failure> {
    let home = Home::from_env().map_err(Failure::Usage)?;
    let config_path = cli.config.clone();
    match cli.command.unwrap_or(Command::Serve(ServeArgs::default())) {
        Command::Serve(args) => serve(&home, config_path.as_deref(), args).await,
        Command::Ca(cmd) => ca(&home, config_path.as_deref(), cmd),
        Command::Env(args) => env(&home, config_path.as_deref(), args),
        Command::Run(args) => run_command(&home, config_path.as_deref(), args).await,
        Command::Login(args) => login(&home, config_path.as_deref(), args).await,
        Command::Reload => {
            // The file may be the broken one being reloaded: only its address is needed
            // here, and the running proxy reports what is wrong with the rest.
            let path = config_path.clone().unwrap_or_else(|| home.config_file());
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
        Command::Status { json } => {
            let (config, path) = load_config(&home, config_path.as_deref(), false)?;
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
        Command::Accounts(AccountsCommand::List { check }) => {
            let (config, path) = load_config(&home, config_path.as_deref(), false)?;
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
            crate::import::command(&home, config_path.as_deref(), args)
        }
    }
}

async fn login(home: &Home, explicit: Option<&Path>, args: LoginArgs) -> Result<ExitCode, Failure> {
    let (mut config, path) = load_config(home, explicit, false)?;
    let connect_to = args.upstream.apply(&mut config);
    let upstream = Upstream::new(&config.upstream, &connect_to).map_err(Failure::Usage)?;
    let flavor = match args.provider {
        LoginProvider::Anthropic => Flavor::Anthropic,
        LoginProvider::OpenaiCodex => Flavor::Codex,
        LoginProvider::GithubCopilot => Flavor::Copilot,
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

/// Loads the config. With no config file at the default path, `write_example` writes a
/// commented example there for the user to fill in, and keypool runs without accounts.
fn load_config(
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
            "config file {} does not exist\nfix: check the path, or leave out --config to use {}",
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
            "keypool: wrote an example config to {}.\n  Add one [[accounts]] block per API key (the file shows how), then run `keypool reload` (or restart keypool).",
            path.display()
        );
    }
    Ok((Config::empty(), path))
}

fn apply_serve_args(config: &mut Config, args: &ServeArgs) -> Vec<ConnectTo> {
    if let Some(l) = args.listen {
        config.listen = l;
    }
    args.upstream.apply(config)
}

async fn start_proxy(
    home: &Home,
    config: Config,
    connect_to: Vec<ConnectTo>,
    config_path: &Path,
) -> Result<RunningProxy, Failure> {
    for d in home.loose_dirs() {
        tracing::warn!("{d}");
    }
    let mut opts = ProxyOptions::new(home.clone(), config);
    opts.connect_to = connect_to;
    opts.config_path = config_path.exists().then(|| config_path.to_path_buf());
    start(opts).await.map_err(|e| match e {
        crate::server::StartError::Upstream(m) => Failure::Usage(m),
        e @ crate::server::StartError::Exposed { .. } => Failure::Usage(e.to_string()),
        e => Failure::Runtime(e.to_string()),
    })
}

async fn serve(
    home: &Home,
    config_path: Option<&Path>,
    args: ServeArgs,
) -> Result<ExitCode, Failure> {
    let (mut config, path) = load_config(home, config_path, true)?;
    let connect_to = apply_serve_args(&mut config, &args);
    let no_accounts = config.accounts.is_empty();
    let signals = Signals::install()?;
    let proxy = start_proxy(home, config, connect_to, &path).await?;
    let state = proxy.state();
    eprintln!(
        "keypool {} listening on http://{}",
        env!("CARGO_PKG_VERSION"),
        proxy.addr()
    );
    for p in &state.live().pools.all {
        let n = p.members.len();
        eprintln!(
            "  pool {} ({}): {n} account{}",
            p.name,
            p.provider.id,
            if n == 1 { "" } else { "s" }
        );
    }
    if no_accounts {
        eprintln!(
            "  no accounts yet: add [[accounts]] blocks to {} and run `keypool reload`",
            path.display()
        );
        if let Some(hint) = crate::import::startup_hint() {
            eprint!("{hint}");
        }
    }
    eprintln!("  CA certificate: {}", home.ca_cert().display());
    eprintln!("  use it: eval \"$(keypool env)\"   or   keypool run -- <command>");

    signals.wait(state).await;
    eprintln!("keypool: shutting down; letting requests in flight finish");
    proxy.shutdown().await;
    Ok(ExitCode::SUCCESS)
}

/// The signals `serve` answers, registered before the banner says keypool is up: a
/// SIGTERM sent right after it must stop keypool gracefully, not kill it by default action.
struct Signals {
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
    #[cfg(unix)]
    int: tokio::signal::unix::Signal,
    #[cfg(unix)]
    hup: tokio::signal::unix::Signal,
}

impl Signals {
    fn install() -> Result<Signals, Failure> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            let on = |kind: SignalKind, name: &str| {
                signal(kind).map_err(|e| Failure::Runtime(format!("cannot handle {name}: {e}")))
            };
            Ok(Signals {
                term: on(SignalKind::terminate(), "SIGTERM")?,
                int: on(SignalKind::interrupt(), "SIGINT")?,
                hup: on(SignalKind::hangup(), "SIGHUP")?,
            })
        }
        #[cfg(not(unix))]
        Ok(Signals {})
    }

    /// Waits for SIGINT or SIGTERM; SIGHUP on the way reloads the config.
    async fn wait(mut self, state: &crate::state::State) {
        #[cfg(unix)]
        loop {
            tokio::select! {
                _ = self.int.recv() => return,
                _ = self.term.recv() => return,
                _ = self.hup.recv() => match crate::server::reload(state) {
                    Ok(m) => eprintln!("keypool: {m}"),
                    Err(e) => eprintln!("keypool: reload refused: {e}"),
                },
            }
        }
        #[cfg(not(unix))]
        {
            let _ = (state, &mut self);
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

fn ca(home: &Home, config_path: Option<&Path>, cmd: CaCommand) -> Result<ExitCode, Failure> {
    let (config, _) = load_config(home, config_path, false)?;
    let hosts = crate::ca::hosts_of(&config.registry);
    if let CaCommand::Rotate = cmd {
        return rotate(home, &hosts);
    }
    if let CaCommand::Init(InitArgs {
        fix_permissions: true,
    }) = cmd
    {
        // Before the CA is created, so its key lands in a private directory.
        for d in home.tighten_dirs().map_err(Failure::Runtime)? {
            println!("Set {} to 0700.", d.display());
        }
    }
    let (ca, created) = CertAuthority::load_or_create(home, &hosts).map_err(runtime)?;
    let path = home.ca_cert();
    match cmd {
        CaCommand::Init(_) => {
            if created {
                println!("Created keypool's CA: {}", path.display());
                println!(
                    "It can sign only for the {} provider hosts configured now (and their subdomains); after adding a [[providers]] host, run `keypool ca rotate`.",
                    ca.scope().dns_names().len()
                );
            } else {
                println!("keypool's CA already exists: {}", path.display());
            }
            println!("Trust it with `keypool ca install`, or let `keypool run` / `keypool env` point each tool at it.");
            for d in home.loose_dirs() {
                eprintln!("keypool: warning: {d}");
            }
            warn_about(home, &ca, &config);
        }
        CaCommand::Path => println!("{}", path.display()),
        CaCommand::Install(t) => {
            warn_about(home, &ca, &config);
            trust_change(&path, true, t.dry_run)?
        }
        CaCommand::Uninstall(t) => trust_change(&path, false, t.dry_run)?,
        CaCommand::Rotate => unreachable!("handled above"),
    }
    Ok(ExitCode::SUCCESS)
}

fn runtime(e: impl std::fmt::Display) -> Failure {
    Failure::Runtime(e.to_string())
}

/// The CA's warnings (unconstrained; hosts with accounts it cannot sign for), on stderr.
fn warn_about(home: &Home, ca: &CertAuthority, config: &Config) {
    let hosts = config
        .accounts
        .iter()
        .filter_map(|a| config.registry.by_id(&a.provider))
        .flat_map(|p| p.hosts.iter().map(String::as_str));
    for w in ca.warnings(hosts, &home.ca_cert()) {
        eprintln!("keypool: warning: {w}");
    }
}

fn rotate(home: &Home, hosts: &[String]) -> Result<ExitCode, Failure> {
    let r = crate::ca::rotate(home, hosts).map_err(runtime)?;
    let path = home.ca_cert();
    println!("Made a new CA: {}", path.display());
    println!(
        "  It can sign only for these hosts and their subdomains: {}",
        r.ca.scope().dns_names().join(", ")
    );
    if let (Some(cert), Some(key)) = (&r.old_cert, &r.old_key) {
        println!("Kept the old CA aside; delete both files once nothing trusts it any more:");
        println!("  {}\n  {}", cert.display(), key.display());
    }
    if home.bundle().exists() {
        let bundle = envvars::write_bundle(home, r.ca.ca_pem()).map_err(|e| {
            Failure::Runtime(format!("cannot write {}: {e}", home.bundle().display()))
        })?;
        println!("Rewrote {} with the new CA.", bundle.display());
    }
    println!("Re-trust the new CA:");
    println!("  - a running keypool: run `keypool reload` (or restart it) to sign with the new CA");
    println!("  - tools started with `keypool run` or `eval \"$(keypool env)\"`: restart them (they read the CA when they start)");
    let platform = trust::detect();
    let steps = trust::retrust_commands(platform, &path, r.old_cert.as_deref());
    match trust::installed_copy(platform) {
        Some(copy) => println!("  - the system trust store holds the old CA ({}); run:", copy.display()),
        None if steps.is_empty() => println!("  - if you added the old CA to the system trust store, replace it there by hand (certs/README.md lists the steps)"),
        None => println!("  - if you ran `sudo keypool ca install`, run:"),
    }
    for s in steps {
        println!("      {s}");
    }
    Ok(ExitCode::SUCCESS)
}

fn trust_change(ca: &Path, install: bool, dry_run: bool) -> Result<(), Failure> {
    let out = trust::apply(trust::detect(), ca, install, dry_run).map_err(Failure::Runtime)?;
    print!("{out}");
    Ok(())
}

fn env(home: &Home, config_path: Option<&Path>, args: EnvArgs) -> Result<ExitCode, Failure> {
    let (config, _) = load_config(home, config_path, false)?;
    let listen = args.listen.unwrap_or(config.listen);
    let vars = client_environment(home, listen, &crate::ca::hosts_of(&config.registry))?;
    print!("{}", envvars::render(args.shell, &vars));
    Ok(ExitCode::SUCCESS)
}

/// Makes sure the CA and the bundle exist and returns the variables for a client.
fn client_environment(
    home: &Home,
    proxy: SocketAddr,
    hosts: &[String],
) -> Result<Vec<(&'static str, String)>, Failure> {
    let (ca, _) = CertAuthority::load_or_create(home, hosts).map_err(runtime)?;
    let bundle = envvars::write_bundle(home, ca.ca_pem())
        .map_err(|e| Failure::Runtime(format!("cannot write {}: {e}", home.bundle().display())))?;
    Ok(envvars::variables(proxy, &home.ca_cert(), &bundle))
}

async fn run_command(
    home: &Home,
    config_path: Option<&Path>,
    args: RunArgs,
) -> Result<ExitCode, Failure> {
    let (mut config, path) = load_config(home, config_path, true)?;
    let connect_to = apply_serve_args(&mut config, &args.serve);
    let wanted = config.listen;
    let hosts = crate::ca::hosts_of(&config.registry);
    let mut proxy = None;
    let addr = if Admin::new(wanted, &path).is_keypool().await {
        wanted
    } else {
        // Nothing of ours there: run a proxy for the child's lifetime, on the configured
        // port if free, else on any free loopback port.
        if port_taken(wanted).await {
            config.listen = SocketAddr::new(std::net::Ipv4Addr::LOCALHOST.into(), 0);
        }
        let p = start_proxy(home, config, connect_to, &path).await?;
        let a = p.addr();
        proxy = Some(p);
        a
    };
    let vars = client_environment(home, addr, &hosts)?;
    let mut child = tokio::process::Command::new(&args.command[0]);
    child.args(&args.command[1..]).envs(vars);
    crate::fd_limit::restore_for_child(&mut child);
    let mut child = child
        .spawn()
        .map_err(|e| Failure::Runtime(format!("cannot run `{}`: {e}", args.command[0])))?;
    // Ctrl-C reaches the child through the terminal; keypool stays up until it exits.
    // SIGTERM is for keypool alone, so it is passed on rather than orphaning the child.
    #[cfg(unix)]
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|e| Failure::Runtime(format!("cannot handle SIGTERM: {e}")))?;
    let status = loop {
        #[cfg(unix)]
        let terminated = term.recv();
        #[cfg(not(unix))]
        let terminated = std::future::pending::<Option<()>>();
        tokio::select! {
            s = child.wait() => break s.map_err(|e| Failure::Runtime(e.to_string()))?,
            _ = tokio::signal::ctrl_c() => {}
            _ = terminated => {
                #[cfg(unix)]
                if let Some(pid) = child.id() {
                    // SAFETY: kill(2) on our own child's pid.
                    unsafe { libc::kill(pid as i32, libc::SIGTERM) };
                }
            }
        }
    };
    if let Some(p) = proxy {
        p.shutdown().await;
    }
    Ok(exit_code_of(status))
}

fn exit_code_of(status: std::process::ExitStatus) -> ExitCode {
    if let Some(c) = status.code() {
        return ExitCode::from(u8::try_from(c).unwrap_or(1));
    }
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(sig) = status.signal() {
            return ExitCode::from(u8::try_from(128 + sig).unwrap_or(1));
        }
    }
    ExitCode::from(1)
}

async fn port_taken(addr: SocketAddr) -> bool {
    tokio::time::timeout(Duration::from_secs(1), tokio::net::TcpStream::connect(addr))
        .await
        .is_ok_and(|r| r.is_ok())
}
