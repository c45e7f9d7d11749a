//! Codex CLI: `auth.json` holds a ChatGPT login (`tokens`), an API key
//! (`OPENAI_API_KEY`), or both.

use super::named;
use crate::import::found::{Found, Linkable, Origin, Scan, What};
use crate::import::{Machine, Source};
use crate::oauth::link::{read_json, Linked};
use crate::providers::Flavor;

pub(super) fn scan(m: &Machine) -> Scan {
    let mut scan = Scan::new(Source::Codex);
    let path = m.codex_auth();
    scan.looked.push(m.display(&path));
    if !path.exists() {
        return scan;
    }
    let v = match read_json(&path, Flavor::Codex) {
        Ok(v) => v,
        Err(e) => {
            scan.problem(&path, &e);
            return scan;
        }
    };
    if v.get("tokens").is_some_and(|t| t.is_object()) {
        match Linked::open(&path, Flavor::Codex).and_then(|l| l.read()) {
            Ok(tokens) => scan.found.push(Found {
                source: Source::Codex,
                provider: Flavor::Codex.provider_id().into(),
                default_name: named("codex", tokens.identity.plan.as_deref()),
                what: What::OAuth {
                    tokens,
                    link: Linkable::Yes,
                },
                origin: Origin::File(path.clone()),
            }),
            Err(e) => scan.problem(&path, &e),
        }
    }
    if let Some(key) = v["OPENAI_API_KEY"]
        .as_str()
        .filter(|k| !k.trim().is_empty())
    {
        scan.found.push(Found {
            source: Source::Codex,
            provider: "openai".into(),
            default_name: "openai-codex-key".into(),
            what: What::ApiKey(key.trim().to_string().into()),
            origin: Origin::File(path.clone()),
        });
    }
    if scan.found.is_empty() && scan.problems.is_empty() {
        scan.problems.push((
            path.clone(),
            "holds neither a ChatGPT login nor an API key".into(),
        ));
    }
    scan
}
