//! `keypool ca`: create, locate, rotate and (un)trust keypool's local CA.

use super::commands::{load_config, runtime};
use super::{CaCommand, InitArgs};
use crate::ca::CertAuthority;
use crate::config::Config;
use crate::failure::Failure;
use crate::home::Home;
use crate::{envvars, trust};
use std::path::Path;
use std::process::ExitCode;

pub(super) fn ca(
    home: &Home,
    config_path: Option<&Path>,
    cmd: CaCommand,
) -> Result<ExitCode, Failure> {
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
                    concat!(
                        "It can sign only for the {} provider hosts configured now (and their ",
                        "subdomains); after adding a [[providers]] host, run `keypool ca rotate`.",
                    ),
                    ca.scope().dns_names().len()
                );
            } else {
                println!("keypool's CA already exists: {}", path.display());
            }
            println!(concat!(
                "Trust it with `keypool ca install`, or let `keypool run` / `keypool env` point ",
                "each tool at it.",
            ));
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
    println!(concat!(
        "  - tools started with `keypool run` or `eval \"$(keypool env)\"`: restart them (they ",
        "read the CA when they start)",
    ));
    let platform = trust::detect();
    let steps = trust::retrust_commands(platform, &path, r.old_cert.as_deref());
    match trust::installed_copy(platform) {
        Some(copy) => println!(
            "  - the system trust store holds the old CA ({}); run:",
            copy.display()
        ),
        None if steps.is_empty() => println!(concat!(
            "  - if you added the old CA to the system trust store, replace it there by hand ",
            "(certs/README.md lists the steps)",
        )),
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
