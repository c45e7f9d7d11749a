//! What survives a reload or a restart, and what pools resolve when built.

use super::*;

#[test]
fn saved_state_applies_only_to_the_same_credential() {
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
    let before = pool(&["k0", "k1"]);
    before.mark(0, &limited(600), now);
    before.mark(
        1,
        &Outcome {
            ending: None,
            verdict: Verdict::AuthFailed,
            reset_in: None,
            detail: "401 invalid_api_key".into(),
        },
        now,
    );
    let dir = tempfile::tempdir().unwrap();
    let store = Store::at(dir.path().join("credentials.json"));
    let build = |keys: &[&str]| {
        let mut text = String::new();
        for (i, k) in keys.iter().enumerate() {
            text += &format!(
                "[[accounts]]\nname = \"a{i}\"\nprovider = \"openai\"\napi_key = \"{k}\"\n"
            );
        }
        Pools::build(&Config::parse(&text, Path::new("t.toml")).unwrap(), &store)
    };
    let mut snapshot = Persisted::default();
    for (i, a) in before.members.iter().enumerate() {
        let credential = a.fingerprint().unwrap();
        let health = match a.health(now) {
            Health::Cooling { until, .. } => SavedHealth::Cooling {
                until: persist::epoch_secs(until),
                cause: Cause::Provider {
                    verdict: Verdict::RateLimited,
                    detail: "429".into(),
                },
            },
            Health::Disabled { reason } => SavedHealth::Disabled {
                reason,
                terminal: None,
            },
            Health::Ok | Health::Ended { .. } => unreachable!(),
        };
        snapshot.accounts.insert(
            format!("a{i}"),
            AccountState {
                credential,
                health: Some(health),
                quota: Vec::new(),
            },
        );
    }

    let same = build(&["k0", "k1"]);
    same.restore(&snapshot, now);
    let p = same.for_provider("openai").unwrap();
    assert!(matches!(p.members[0].health(now), Health::Cooling { .. }));
    assert!(matches!(p.members[1].health(now), Health::Disabled { .. }));
    assert_eq!(same.snapshot(now).accounts.len(), 2);

    // A fixed key (a1) starts clean; an ended cooldown is not restored.
    let fixed = build(&["k0", "k1-new"]);
    fixed.restore(&snapshot, now + Duration::from_secs(601));
    let p = fixed.for_provider("openai").unwrap();
    assert_eq!(p.members[0].health(now), Health::Ok);
    assert_eq!(p.members[1].health(now), Health::Ok);
}

#[test]
fn a_reload_keeps_what_was_learned_with_the_same_credential_and_counts_always() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::at(dir.path().join("credentials.json"));
    // `rebuild` reads the wall clock: cooldowns here must outlast the test.
    let now = SystemTime::now();
    let old = Pools::build(&keys_config(&["k0", "k1"]), &store);
    let p = old.for_provider("openai").unwrap();
    let mut h = http::HeaderMap::new();
    h.insert("x-ratelimit-limit-requests", "100".parse().unwrap());
    h.insert("x-ratelimit-remaining-requests", "40".parse().unwrap());
    h.insert("x-ratelimit-reset-requests", "1h".parse().unwrap());
    for a in &p.members {
        a.stats.sent();
        a.stats.sent();
        a.learn(crate::quota::learn(
            crate::providers::Dialect::Openai,
            &h,
            now,
        ));
    }
    p.mark(0, &limited(600), now);
    p.mark(1, &limited(600), now);
    let generation = old.generation();

    // a0 keeps its key, a1's key changed, a2 is new.
    let new = Pools::rebuild(&keys_config(&["k0", "k1-new", "k2"]), &store, &old);
    let q = new.for_provider("openai").unwrap();
    assert!(matches!(q.members[0].health(now), Health::Cooling { .. }));
    assert_eq!(q.members[0].quota(now).len(), 1, "learned quota kept");
    assert_eq!(
        q.members[1].health(now),
        Health::Ok,
        "a new key starts clean"
    );
    assert!(q.members[1].quota(now).is_empty());
    for (i, want) in [(0, 2), (1, 2), (2, 0)] {
        assert_eq!(q.members[i].stats.requests(), want, "a{i}'s request count");
    }
    assert_eq!(
        q.members[1].stats.last_error().map(|e| e.1),
        Some("429".into())
    );
    assert_eq!(q.members[2].stats.last_error(), None);
    q.mark(2, &limited(5), now);
    assert!(
        new.generation() > generation,
        "the change count goes on from the old pools'"
    );
}

#[test]
fn a_restart_keeps_why_each_account_is_cooling() {
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
    let dir = tempfile::tempdir().unwrap();
    let store = Store::at(dir.path().join("credentials.json"));
    let config = keys_config(&["k0", "k1", "k2", "k3"]);
    let before = Pools::build(&config, &store);
    let p = before.for_provider("openai").unwrap();
    let verdicts = [
        Verdict::Exhausted,
        Verdict::Overloaded,
        Verdict::RateLimited,
    ];
    for (i, verdict) in verdicts.into_iter().enumerate() {
        let outcome = Outcome {
            ending: None,
            verdict,
            reset_in: Some(Duration::from_secs(600)),
            detail: format!("said {i}"),
        };
        p.mark(i, &outcome, now);
    }
    // a3 is not cooling but learned a window; a window that reset is not kept.
    let later = now + Duration::from_secs(3600);
    p.members[3].learn(vec![window("5h", None, 0.4, later)]);
    p.members[3].learn(vec![window("1m", None, 0.9, now)]);
    let saved = before.snapshot(now);
    assert_eq!(saved.accounts.len(), 4);

    let after = Pools::build(&config, &store);
    after.restore(&saved, now + Duration::from_secs(1));
    let q = after.for_provider("openai").unwrap();
    for (i, verdict) in verdicts.into_iter().enumerate() {
        assert_eq!(q.members[i].health(now), p.members[i].health(now), "a{i}");
        assert!(
            matches!(
                q.members[i].health(now),
                Health::Cooling { cause: Cause::Provider { verdict: v, .. }, .. } if v == verdict
            ),
            "a{i}"
        );
    }
    assert_eq!(q.members[3].health(now), Health::Ok);
    let kept: Vec<(String, Option<f64>)> = q.members[3]
        .quota(now)
        .into_iter()
        .map(|w| (w.name, w.utilization))
        .collect();
    assert_eq!(kept, [("5h".to_string(), Some(0.4))]);
    // Nothing cooling and nothing learned: nothing saved.
    let fresh = Pools::build(&config, &store);
    assert!(fresh.snapshot(now).accounts.is_empty());
}

/// A token endpoint's outage is told apart from a provider's verdict: the client's
/// summary says so, and a restart brings the same cause back.
#[test]
fn a_token_endpoint_outage_is_named_as_such_and_kept_across_a_restart() {
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
    let dir = tempfile::tempdir().unwrap();
    let store = Store::at(dir.path().join("credentials.json"));
    let config = keys_config(&["k0", "k1"]);
    let before = Pools::build(&config, &store);
    let p = before.for_provider("openai").unwrap();
    p.members[0].cool(
        Duration::from_secs(30),
        now,
        "token URL answered 503".into(),
    );
    let overloaded = Outcome {
        ending: None,
        verdict: Verdict::Overloaded,
        reset_in: Some(Duration::from_secs(20)),
        detail: "529".into(),
    };
    p.mark(1, &overloaded, now);
    let u = p
        .pick(&[], now, None, "/v1/chat/completions", None)
        .unwrap_err();
    assert_eq!(
        u.summary,
        "a0 (token endpoint unavailable (token URL answered 503), frees in 30s), \
         a1 (overloaded, frees in 20s)"
    );
    let token_endpoint = Health::Cooling {
        until: now + Duration::from_secs(30),
        cause: Cause::TokenEndpoint {
            reason: "token URL answered 503".into(),
        },
    };
    assert_eq!(p.members[0].health(now), token_endpoint);

    let saved = before.snapshot(now);
    let text = serde_json::to_string(&saved).unwrap();
    let after = Pools::build(&config, &store);
    after.restore(&serde_json::from_str(&text).unwrap(), now);
    let q = after.for_provider("openai").unwrap();
    assert_eq!(q.members[0].health(now), token_endpoint);
    assert_eq!(q.members[1].health(now), p.members[1].health(now));
}

/// Fallbacks are resolved to the pools' places in `Pools::all` once, when the pools are
/// built, in the order the config names them.
#[test]
fn fallbacks_are_indices_into_the_pools_in_config_order() {
    let mut text = String::new();
    for a in ["a", "b", "c"] {
        text +=
            &format!("[[accounts]]\nname = \"{a}\"\nprovider = \"openai\"\napi_key = \"k{a}\"\n");
    }
    for (name, acct, fallback) in [
        ("work", "a", "\"spare\", \"personal\""),
        ("personal", "b", "\"spare\""),
        ("spare", "c", ""),
    ] {
        text += &format!(
            "[[pools]]\nname = \"{name}\"\nprovider = \"openai\"\naccounts = [\"{acct}\"]\n\
             fallback = [{fallback}]\n"
        );
    }
    let ps = pools(&text);
    let names: Vec<&str> = ps.all.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["work", "personal", "spare"]);
    let fallback = |name: &str| ps.by_name(name).unwrap().fallback.clone();
    assert_eq!(fallback("work"), [2, 1]);
    assert_eq!(fallback("personal"), [2]);
    assert!(fallback("spare").is_empty());
}
