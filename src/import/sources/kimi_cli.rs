//! kimi-cli: `~/.kimi/credentials/kimi-code.json`, its Kimi For Coding login (kimi-cli
//! keeps it in the system keyring when it can, and in this file otherwise). The account
//! is linked to the file, so kimi-cli and keypool refresh one login, and it keeps
//! kimi-cli's device id (`~/.kimi/device_id`).

use crate::import::found::{Found, Linkable, Origin, Scan, What};
use crate::import::{Machine, Source};
use crate::oauth::link::Linked;
use crate::providers::Flavor;

pub(super) fn scan(m: &Machine) -> Scan {
    let mut scan = Scan::new(Source::KimiCli);
    let path = m.kimi_credentials();
    scan.looked.push(m.display(&path));
    if !path.exists() {
        return scan;
    }
    match Linked::open(&path, Flavor::Kimi).and_then(|l| l.read()) {
        Ok(tokens) => scan.found.push(Found {
            source: Source::KimiCli,
            provider: Flavor::Kimi.provider_id().into(),
            default_name: "kimi-cli".into(),
            what: What::OAuth {
                tokens,
                link: Linkable::Yes,
            },
            origin: Origin::File(path),
        }),
        Err(e) => scan.problem(&path, &e),
    }
    scan
}
