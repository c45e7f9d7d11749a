//! `keypool serve`: run the proxy until a signal says stop.

use super::commands::load_config;
use super::ServeArgs;
use crate::config::Config;
use crate::config::ConnectTo;
use crate::failure::Failure;
use crate::home::Home;
use crate::server::{start, ProxyOptions, RunningProxy};
use std::path::Path;
use std::process::ExitCode;

pub(super) fn apply_serve_args(config: &mut Config, args: &ServeArgs) -> Vec<ConnectTo> {
    if let Some(l) = args.listen {
        config.listen = l;
    }
    args.upstream.apply(config)
}

pub(super) async fn start_proxy(
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

pub(super) async fn serve(
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
                _ = self.hup.recv() => match crate::reload::reload(state) {
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
