//! `keypool run`: one command with its traffic going through keypool, and keypool
//! running for as long as the command does when no proxy is up yet.

use super::commands::load_config;
use super::env::client_environment;
use super::serve::{apply_serve_args, start_proxy};
use super::{RunArgs, ServeArgs};
use crate::admin_client::Admin;
use crate::failure::Failure;
use crate::home::Home;
use crate::server::RunningProxy;
use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

pub(super) async fn run_command(
    home: &Home,
    config_path: Option<&Path>,
    args: RunArgs,
) -> Result<ExitCode, Failure> {
    let (config, path) = load_config(home, config_path, true)?;
    let hosts = crate::ca::hosts_of(&config.registry);
    // The child owns the terminal from here: keypool's log lines would land on its screen.
    let log = home.log_file();
    crate::logging::to_file(&log).map_err(Failure::Runtime)?;
    let (addr, proxy) = proxy_for_child(home, config, &path, &args.serve).await?;
    let runs = match &proxy {
        Some(_) => format!("the proxy runs until {} exits", args.command[0]),
        None => format!("using the keypool already running at {addr}"),
    };
    eprintln!("keypool: logging to {} ({runs})", log.display());
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

/// The keypool the child talks to: the one running at `listen`, or one started for the
/// child's lifetime on the configured port if free, else on any free loopback port.
pub(super) async fn proxy_for_child(
    home: &Home,
    mut config: crate::config::Config,
    path: &Path,
    serve: &ServeArgs,
) -> Result<(SocketAddr, Option<RunningProxy>), Failure> {
    let connect_to = apply_serve_args(&mut config, serve);
    let wanted = config.listen;
    if Admin::new(wanted, path).is_keypool().await {
        return Ok((wanted, None));
    }
    if port_taken(wanted).await {
        config.listen = SocketAddr::new(std::net::Ipv4Addr::LOCALHOST.into(), 0);
    }
    let p = start_proxy(home, config, connect_to, path).await?;
    Ok((p.addr(), Some(p)))
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
