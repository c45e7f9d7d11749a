//! GitHub Copilot: `apps.json` and `hosts.json` of the editors' sign-in. One account per
//! distinct GitHub token, wherever it appears first.

use super::named;
use crate::import::found::{Found, Linkable, Origin, Scan, What};
use crate::import::{Machine, Source};
use crate::oauth::link::copilot::logins_in;
use crate::providers::Flavor;
use secrecy::ExposeSecret;
use std::collections::HashSet;

pub(super) fn scan(m: &Machine) -> Scan {
    let mut scan = Scan::new(Source::Copilot);
    let mut seen = HashSet::new();
    for path in m.copilot_files() {
        scan.looked.push(m.display(&path));
        if !path.exists() {
            continue;
        }
        let logins = match logins_in(&path) {
            Ok(l) => l,
            Err(e) => {
                scan.problem(&path, &e);
                continue;
            }
        };
        if logins.is_empty() {
            scan.problems
                .push((path.clone(), "no entry has an oauth_token".into()));
        }
        for (i, login) in logins.iter().enumerate() {
            if !seen.insert(login.github_token.expose_secret().to_string()) {
                continue;
            }
            // A link reads the first login of its file; the others can only be stored.
            let link = if i == 0 {
                Linkable::Yes
            } else {
                Linkable::No(format!(
                    "a link to {} follows its first login only; import without --link to store \
                    this one",
                    m.display(&path)
                ))
            };
            scan.found.push(Found {
                source: Source::Copilot,
                provider: Flavor::Copilot.provider_id().into(),
                default_name: named("copilot", login.user.as_deref()),
                what: What::OAuth {
                    tokens: login.tokens(),
                    link,
                },
                origin: Origin::File(path.clone()),
            });
        }
    }
    scan
}
