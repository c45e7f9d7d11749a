//! gemini-cli: `~/.gemini/oauth_creds.json`. The Code Assist project is not in the
//! file; it comes from the variables gemini-cli itself reads, else keypool discovers it
//! at first use.

use crate::import::found::{Found, Linkable, Origin, Scan, What};
use crate::import::{Machine, Source};
use crate::oauth::link::Linked;
use crate::providers::Flavor;

pub(super) fn scan(m: &Machine) -> Scan {
    let mut scan = Scan::new(Source::GeminiCli);
    let path = m.gemini_creds();
    scan.looked.push(m.display(&path));
    if !path.exists() {
        return scan;
    }
    match Linked::open(&path, Flavor::GeminiCli).and_then(|l| l.read()) {
        Ok(mut tokens) => {
            tokens.identity.project = m
                .var("GOOGLE_CLOUD_PROJECT")
                .or_else(|| m.var("GOOGLE_CLOUD_PROJECT_ID"))
                .map(str::to_string);
            scan.found.push(Found {
                source: Source::GeminiCli,
                provider: Flavor::GeminiCli.provider_id().into(),
                default_name: "gemini-cli".into(),
                what: What::OAuth {
                    tokens,
                    link: Linkable::Yes,
                },
                origin: Origin::File(path),
            });
            scan.notes.push(
                "Google ended consumer Gemini CLI logins for third-party clients on 2026-06-18: \
                 only a paid Code Assist (Standard/Enterprise) login works through keypool."
                    .into(),
            );
        }
        Err(e) => scan.problem(&path, &e),
    }
    scan
}
