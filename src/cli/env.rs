//! `keypool env`, and the CA and bundle every client started through keypool needs.

use super::commands::{load_config, runtime};
use super::EnvArgs;
use crate::ca::CertAuthority;
use crate::envvars;
use crate::failure::Failure;
use crate::home::Home;
use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;

pub(super) fn env(
    home: &Home,
    config_path: Option<&Path>,
    args: EnvArgs,
) -> Result<ExitCode, Failure> {
    let (config, _) = load_config(home, config_path, false)?;
    let listen = args.listen.unwrap_or(config.listen);
    let vars = client_environment(home, listen, &crate::ca::hosts_of(&config.registry))?;
    print!("{}", envvars::render(args.shell, &vars));
    Ok(ExitCode::SUCCESS)
}

/// Makes sure the CA and the bundle exist and returns the variables for a client.
pub(super) fn client_environment(
    home: &Home,
    proxy: SocketAddr,
    hosts: &[String],
) -> Result<Vec<(&'static str, String)>, Failure> {
    let (ca, _) = CertAuthority::load_or_create(home, hosts).map_err(runtime)?;
    let bundle = envvars::write_bundle(home, ca.ca_pem())
        .map_err(|e| Failure::Runtime(format!("cannot write {}: {e}", home.bundle().display())))?;
    Ok(envvars::variables(proxy, &home.ca_cert(), &bundle))
}
