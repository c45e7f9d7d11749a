//! Reload: the config file read again and put in force for new requests, and a CA
//! rotated on disk taken up. Below the listener and the admin API, which both reload.

use crate::ca::{CertAuthority, Minting};
use crate::config::Config;
use crate::home::Home;
use crate::pool::Pools;
use crate::state::{Live, State};

/// Reads the config file again and puts it in force for new requests: pools, accounts
/// and providers. A config with an error is refused and the running one kept. Requests
/// in flight finish with the accounts they started with; connections stay open.
pub fn reload(state: &State) -> Result<String, String> {
    let path = state
        .config_path
        .as_ref()
        .ok_or("keypool was started without a config file to read again")?;
    let config = Config::load(path).map_err(|e| {
        format!(
            "{}
the running config is kept",
            e.0
        )
    })?;
    let old = state.live();
    let pools = Pools::rebuild(&config, &state.store, &old.pools);
    let mut message = format!(
        "reloaded {}: {} account{} in {} pool{} {}",
        path.display(),
        config.accounts.len(),
        if config.accounts.len() == 1 { "" } else { "s" },
        pools.all.len(),
        if pools.all.len() == 1 { "" } else { "s" },
        "([upstream], [limits] and listen change on restart)",
    );
    let kept: std::collections::HashSet<(String, String)> = pools
        .all
        .iter()
        .flat_map(|p| p.members.iter().map(|a| (p.name.clone(), a.name.clone())))
        .collect();
    state
        .affinity
        .retain(|pool, account| kept.contains(&(pool.to_string(), account.to_string())));
    let notes = reload_ca(state, &pools);
    state
        .upstream
        .egress()
        .set_named_hosts(config.registry.hosts());
    state.replace(Live {
        clients: crate::clients::Clients::build(&config),
        registry: config.registry,
        pools,
        prices: crate::usage::prices::Prices::new(&config.prices),
    });
    for n in notes {
        message.push_str(&format!("\n{n}"));
    }
    Ok(message)
}

/// Puts a CA rotated since the start (`keypool ca rotate`) in force: new connections get
/// leaves from it (the leaf cache goes with the old CA), open ones keep theirs. Returns
/// what to tell the user, warnings included (also logged).
fn reload_ca(state: &State, pools: &Pools) -> Vec<String> {
    let path = state.home.ca_cert();
    let mut notes = Vec::new();
    match state.minting().ca.reloaded(&state.home) {
        Ok(None) => {}
        Ok(Some(ca)) => {
            notes.push(format!(
                "now signing with the new CA at {}; {}",
                path.display(),
                "restart tools that were started trusting the old one"
            ));
            state.set_minting(Minting::new(ca));
        }
        Err(e) => {
            let w = format!(
                "the CA on disk changed but cannot be used, {}: {e}",
                "so keypool keeps signing with the previous one"
            );
            tracing::warn!("{w}");
            notes.push(format!("warning: {w}"));
        }
    }
    for w in ca_warnings(&state.minting().ca, pools, &state.home) {
        tracing::warn!("{w}");
        notes.push(format!("warning: {w}"));
    }
    notes
}

/// The CA's warnings for the hosts keypool would intercept: those of providers with a pool.
pub fn ca_warnings(ca: &CertAuthority, pools: &Pools, home: &Home) -> Vec<String> {
    let hosts = pools
        .all
        .iter()
        .flat_map(|p| p.provider.hosts.iter().map(String::as_str));
    ca.warnings(hosts, &home.ca_cert())
}
