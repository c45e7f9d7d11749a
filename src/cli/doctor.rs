//! `keypool doctor`: finds the keypool to check against (the one at `listen`, else one
//! started for the checks, as `keypool run` does), gives the runtimes its environment,
//! and prints what `crate::doctor` found.

use super::commands::load_config;
use super::env::client_environment;
use super::serve::start_proxy;
use super::DoctorArgs;
use crate::admin_client::Admin;
use crate::config::Config;
use crate::doctor::{self, Line, Report, Setup, Verdict};
use crate::failure::Failure;
use crate::home::Home;
use crate::server::RunningProxy;
use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;

/// The provider the checks prefer: the example, and the host most tools use.
const PREFERRED: &str = "anthropic";

pub(super) async fn doctor(
    home: &Home,
    config_path: Option<&Path>,
    args: DoctorArgs,
) -> Result<ExitCode, Failure> {
    let (config, path) = load_config(home, config_path, false)?;
    // A proxy doctor starts logs to the file, not over the report.
    crate::logging::to_file(&home.log_file()).map_err(Failure::Runtime)?;
    let hosts = crate::ca::hosts_of(&config.registry);
    let admin = Admin::new(config.listen, &path);
    let status = admin.get(crate::admin::STATUS_PATH).await;
    let (addr, host, started, how) = proxy_for_checks(
        home,
        &config,
        &path,
        status.as_ref().map_err(String::as_str),
    )
    .await?;
    let found = match started {
        None => Verdict::Ok,
        Some(_) => Verdict::Note,
    };
    let mut lines = vec![Line::new("listen", found, how)];
    let vars = client_environment(home, addr, &hosts)?;
    let setup = Setup {
        env: vars,
        host,
        ca: home.ca_cert(),
        bundle: home.bundle(),
    };
    lines.extend(doctor::ca_lines(home));
    lines.extend(doctor::runtimes(&setup).await);
    lines.extend(doctor::agents(&setup).await);
    match &status {
        Ok(v) => lines.extend(doctor::disabled_from_status(v)),
        Err(_) => lines.extend(doctor::disabled_from_state(home)),
    }
    if let Some(s) = started {
        s.proxy.shutdown().await;
    }
    let report = Report::new(lines);
    match args.json {
        true => println!(
            "{}",
            serde_json::to_string_pretty(&report).map_err(super::commands::runtime)?
        ),
        false => print!("{}", report.text()),
    }
    Ok(match report.ok {
        true => ExitCode::SUCCESS,
        false => ExitCode::from(1),
    })
}

/// The proxy the runtimes go through, the host they fetch, the proxy doctor started (to
/// stop, with its scratch home), and a sentence saying which it is.
async fn proxy_for_checks(
    home: &Home,
    config: &Config,
    path: &Path,
    status: Result<&serde_json::Value, &str>,
) -> Result<(SocketAddr, String, Option<Started>, String), Failure> {
    let ca = crate::ca::CertAuthority::load_or_create(home, &crate::ca::hosts_of(&config.registry))
        .map_err(super::commands::runtime)?
        .0;
    if let Ok(v) = status {
        let providers = v["pools"]
            .as_array()
            .map_or(&[][..], Vec::as_slice)
            .iter()
            .filter_map(|p| p["provider"].as_str().map(str::to_string))
            .collect();
        if let Some(host) = intercepted_host(config, &ca, providers) {
            let how = format!(
                "keypool answers at {}; the checks go through it",
                config.listen
            );
            return Ok((Admin::new(config.listen, path).addr(), host, None, how));
        }
    }
    let started = Started::new(home).await?;
    let why = match status {
        Ok(_) => format!(
            "the keypool at {} intercepts no provider host",
            config.listen
        ),
        Err(e) => e.to_string(),
    };
    let how = format!(
        concat!(
            "{}; doctor started its own proxy on {} for the checks, as `keypool run` does ",
            "(same CA, a placeholder anthropic account, nothing sent upstream)"
        ),
        why,
        started.proxy.addr()
    );
    Ok((
        started.proxy.addr(),
        "api.anthropic.com".into(),
        Some(started),
        how,
    ))
}

/// doctor's own proxy. It runs on a scratch home holding a copy of the CA, so it never
/// touches the user's state.json or usage.db, and on a placeholder config, so no
/// `!command` key is run and no login refreshed for a check that needs none.
struct Started {
    proxy: RunningProxy,
    _scratch: tempfile::TempDir,
}

impl Started {
    async fn new(home: &Home) -> Result<Started, Failure> {
        let scratch = tempfile::tempdir().map_err(super::commands::runtime)?;
        let own = Home::at(scratch.path());
        for (from, to) in [
            (home.ca_cert(), own.ca_cert()),
            (home.ca_key(), own.ca_key()),
        ] {
            let bytes = std::fs::read(&from)
                .map_err(|e| Failure::Runtime(format!("cannot read {}: {e}", from.display())))?;
            crate::atomic_file::write(&to, &bytes, 0o600)
                .map_err(|e| Failure::Runtime(format!("cannot write {}: {e}", to.display())))?;
        }
        let config = placeholder_config(&own.config_file())?;
        let proxy = start_proxy(&own, config, Vec::new(), &own.config_file()).await?;
        Ok(Started {
            proxy,
            _scratch: scratch,
        })
    }
}

/// The first host of these providers (the preferred one first) the CA can sign for.
fn intercepted_host(
    config: &Config,
    ca: &crate::ca::CertAuthority,
    mut providers: Vec<String>,
) -> Option<String> {
    providers.sort_by_key(|p| p != PREFERRED);
    providers.iter().find_map(|id| {
        let p = config.registry.by_id(id)?;
        p.hosts
            .iter()
            .find(|h| crate::target::plausible_host(h) && ca.permits(h))
            .cloned()
    })
}

/// A config whose only account makes keypool intercept api.anthropic.com. Its key is no
/// secret and never sent: the reserved path is answered before any account is picked.
fn placeholder_config(path: &Path) -> Result<Config, Failure> {
    let text = concat!(
        "listen = \"127.0.0.1:0\"\n",
        "[[accounts]]\nname = \"doctor-placeholder\"\nprovider = \"anthropic\"\n",
        "api_key = \"doctor-placeholder\"\n",
    );
    Config::parse(text, path).map_err(|e| Failure::Runtime(e.to_string()))
}
