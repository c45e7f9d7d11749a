//! Pools, in the order a request meets them: picking an account (pick.rs), what an
//! answer does to its health (health.rs), and what survives a reload or restart
//! (lifecycle.rs). The builders of test pools are here.

use super::*;

mod health;
mod lifecycle;
mod pick;
use crate::clock::{Clock, ManualClock};
use crate::config::Config;
use crate::oauth::store::Store;
use crate::persist::{self, AccountState, Persisted, SavedHealth};
use crate::quota::Window;
use crate::test_logs::logs_of;
use std::path::Path;

fn pool(keys: &[&str]) -> Arc<Pool> {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::at(dir.path().join("credentials.json"));
    Pools::build(&keys_config(keys), &store)
        .for_provider("openai")
        .unwrap()
        .clone()
}

fn limited(secs: u64) -> Outcome {
    Outcome {
        ending: None,
        verdict: Verdict::RateLimited,
        reset_in: Some(Duration::from_secs(secs)),
        detail: "429".into(),
    }
}

/// Anthropic pool: key account `k0` and subscription login `o1` (no tokens stored, so
/// disabled; eligibility does not look at health).
fn mixed(mix_kinds: bool) -> Arc<Pool> {
    let text = format!(
        "[[accounts]]\nname = \"k0\"\nprovider = \"anthropic\"\napi_key = \"k0\"\n\
         [[accounts]]\nname = \"o1\"\nprovider = \"anthropic\"\noauth = \"stored\"\n\
         [[pools]]\nname = \"p\"\nprovider = \"anthropic\"\naccounts = [\"k0\", \"o1\"]\n\
         mix_kinds = {mix_kinds}\n"
    );
    let c = Config::parse(&text, Path::new("t.toml")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = Store::at(dir.path().join("credentials.json"));
    Pools::build(&c, &store).by_name("p").unwrap().clone()
}

fn pools(text: &str) -> Pools {
    let c = Config::parse(text, Path::new("t.toml")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    Pools::build(&c, &Store::at(dir.path().join("credentials.json")))
}

fn keys_config(keys: &[&str]) -> Config {
    let mut text = String::new();
    for (i, k) in keys.iter().enumerate() {
        text +=
            &format!("[[accounts]]\nname = \"a{i}\"\nprovider = \"openai\"\napi_key = \"{k}\"\n");
    }
    Config::parse(&text, Path::new("t.toml")).unwrap()
}

fn window(name: &str, scope: Option<&str>, utilization: f64, resets_at: SystemTime) -> Window {
    Window {
        name: name.into(),
        scope: scope.map(Into::into),
        limit: None,
        remaining: None,
        utilization: Some(utilization),
        resets_at: Some(resets_at),
        status: None,
        minutes: None,
        ..Window::named(name)
    }
}
