//! Subscriptions keypool does not pool, and why (PROVIDERS.md §10, §12). A login, a
//! config entry and an import that name one are refused with the reason, so nobody is
//! left guessing whether it is a missing feature.

/// One refused subscription under the names tools give it.
pub struct Refused {
    pub names: &'static [&'static str],
    pub reason: &'static str,
}

pub const REFUSED: &[Refused] = &[
    Refused {
        // `qwen-cli` is the id pi's Qwen login extension stores in auth.json.
        names: &["qwen", "qwen-code", "qwen-cli", "qwen-portal", "qwen-oauth"],
        reason: "keypool does not pool Qwen OAuth: its free tier ended on 2026-04-15 (the \
            login gives nothing to use); Alibaba Cloud's Coding Plan replaces it and takes \
            an API key",
    },
    Refused {
        names: &["google-antigravity", "antigravity"],
        reason: "keypool does not pool Google Antigravity: its terms forbid third-party \
            clients, and accounts used through them have been suspended since 2026-02",
    },
];

/// Why keypool refuses the provider or login named `name`, if it does (any case).
pub fn refused(name: &str) -> Option<&'static str> {
    REFUSED
        .iter()
        .find(|r| r.names.iter().any(|n| n.eq_ignore_ascii_case(name.trim())))
        .map(|r| r.reason)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_name_gives_its_reason_and_no_pooled_provider_is_refused() {
        for name in [
            "qwen",
            "Qwen-Code",
            "qwen-cli",
            "google-antigravity",
            "antigravity",
        ] {
            assert!(refused(name).is_some(), "{name}");
        }
        assert!(refused("qwen").unwrap().contains("2026-04-15"));
        assert!(refused("antigravity").unwrap().contains("terms forbid"));
        for p in crate::providers::builtin() {
            assert!(refused(&p.id).is_none(), "{}", p.id);
        }
    }
}
