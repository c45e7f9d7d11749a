use super::*;
use crate::clock::{Clock, ManualClock};
use crate::sticky::key::KeySource;

fn start() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_750_000_000)
}

fn k(id: &str) -> ConversationKey {
    ConversationKey::from_session(KeySource::ClaudeCode, id)
}

#[test]
fn kept_across_requests_and_scoped_per_pool() {
    let clock = ManualClock::new(start());
    let s = Sticky::default();
    assert_eq!(s.get("work", &k("c1"), clock.now()), None);
    assert_eq!(s.assign("work", &k("c1"), "alice", clock.now()), None);
    for _ in 0..5 {
        clock.advance(Duration::from_secs(30 * 60));
        assert_eq!(
            s.get("work", &k("c1"), clock.now()).as_deref(),
            Some("alice")
        );
        assert_eq!(s.assign("work", &k("c1"), "alice", clock.now()), None);
    }
    // Another pool, another table.
    assert_eq!(s.get("home", &k("c1"), clock.now()), None);
    s.assign("home", &k("c1"), "bob", clock.now());
    assert_eq!(
        s.get("work", &k("c1"), clock.now()).as_deref(),
        Some("alice")
    );
    assert_eq!(s.get("home", &k("c1"), clock.now()).as_deref(), Some("bob"));
    assert_eq!(s.len(), 2);
}

#[test]
fn idle_expiry_with_a_manual_clock() {
    let clock = ManualClock::new(start());
    let s = Sticky::new(Duration::from_secs(3600), 10);
    s.assign("p", &k("c1"), "a", clock.now());
    clock.advance(Duration::from_secs(3599));
    // Seen again: the hour starts over.
    assert_eq!(s.get("p", &k("c1"), clock.now()).as_deref(), Some("a"));
    clock.advance(Duration::from_secs(3599));
    assert_eq!(s.peek("p", &k("c1"), clock.now()).as_deref(), Some("a"));
    clock.advance(Duration::from_secs(1));
    assert_eq!(s.peek("p", &k("c1"), clock.now()), None);
    assert_eq!(s.get("p", &k("c1"), clock.now()), None);
    assert!(s.is_empty(), "an expired entry is dropped when looked up");
    // An expired holder is no move: the conversation starts afresh.
    s.assign("p", &k("c2"), "a", clock.now());
    clock.advance(Duration::from_secs(7200));
    assert_eq!(s.assign("p", &k("c2"), "b", clock.now()), None);
    // A clock that steps back does not expire anything.
    let back = clock.now() - Duration::from_secs(86_400);
    assert_eq!(s.get("p", &k("c2"), back).as_deref(), Some("b"));
}

#[test]
fn prune_and_counts_skip_expired() {
    let clock = ManualClock::new(start());
    let s = Sticky::new(Duration::from_secs(60), 100);
    s.assign("p", &k("old"), "a", clock.now());
    clock.advance(Duration::from_secs(50));
    s.assign("p", &k("new1"), "a", clock.now());
    s.assign("p", &k("new2"), "b", clock.now());
    s.assign("q", &k("new1"), "a", clock.now());
    clock.advance(Duration::from_secs(20));
    let counts = s.counts(clock.now());
    assert_eq!(counts["p"]["a"], 1);
    assert_eq!(counts["p"]["b"], 1);
    assert_eq!(counts["q"]["a"], 1);
    assert_eq!(s.pool_count("p", clock.now()), 2);
    assert_eq!(s.pool_count("none", clock.now()), 0);
    assert_eq!(s.len(), 4);
    assert_eq!(s.prune(clock.now()), 1);
    assert_eq!(s.len(), 3);
    // Inserting drops expired entries too, without a full pass.
    clock.advance(Duration::from_secs(3600));
    s.assign("p", &k("fresh"), "a", clock.now());
    assert_eq!(s.len(), 1);
}

#[test]
fn an_insert_drops_at_most_eight_expired_entries() {
    // The insert path stays cheap however many entries expired; a full prune takes the rest.
    let clock = ManualClock::new(start());
    let s = Sticky::new(Duration::from_secs(60), 100);
    for i in 0..20 {
        s.assign("p", &k(&format!("old{i}")), "a", clock.now());
    }
    clock.advance(Duration::from_secs(61));
    s.assign("p", &k("fresh"), "a", clock.now());
    assert_eq!(s.len(), 20 - 8 + 1);
    assert_eq!(s.prune(clock.now()), 12);
    assert_eq!(s.len(), 1);
}

#[test]
fn bounded_by_evicting_the_least_recently_seen() {
    let clock = ManualClock::new(start());
    let s = Sticky::new(DEFAULT_IDLE, 3);
    for id in ["c1", "c2", "c3"] {
        s.assign("p", &k(id), "a", clock.now());
        clock.advance(Duration::from_secs(1));
    }
    // c1 is used again, so c2 is now the least recently seen.
    assert!(s.get("p", &k("c1"), clock.now()).is_some());
    s.assign("p", &k("c4"), "a", clock.now());
    assert_eq!(s.len(), 3);
    assert!(s.peek("p", &k("c2"), clock.now()).is_none());
    for id in ["c1", "c3", "c4"] {
        assert!(s.peek("p", &k(id), clock.now()).is_some(), "{id}");
    }
    // Shrinking on reload keeps the most recent.
    s.set_limits(DEFAULT_IDLE, 1);
    assert_eq!(s.len(), 1);
    assert!(s.peek("p", &k("c4"), clock.now()).is_some());
}

#[test]
fn many_entries_stay_within_the_bound() {
    let clock = ManualClock::new(start());
    let s = Sticky::new(DEFAULT_IDLE, 1000);
    for i in 0..5000 {
        s.assign("p", &k(&i.to_string()), "a", clock.now());
    }
    assert_eq!(s.len(), 1000);
    assert!(s.peek("p", &k("4999"), clock.now()).is_some());
    assert!(s.peek("p", &k("3999"), clock.now()).is_none());
}

#[test]
fn moves_are_reported() {
    let clock = ManualClock::new(start());
    let s = Sticky::default();
    s.assign("p", &k("c1"), "alice", clock.now());
    // Alice is limited; the pipeline served the turn from bob.
    let m = s.assign("p", &k("c1"), "bob", clock.now()).unwrap();
    assert_eq!((m.from.as_str(), m.to.as_str()), ("alice", "bob"));
    assert_eq!(m.pool, "p");
    assert_eq!(m.key, k("c1"));
    assert_eq!(s.get("p", &k("c1"), clock.now()).as_deref(), Some("bob"));
    let line = m.to_string();
    assert!(line.contains("from 'alice' to 'bob'") && line.contains("claude-code:"));
    // The explicit form, when the caller knows who was limited.
    let m = s.moved("p", &k("c1"), "bob", "carol", clock.now());
    assert_eq!((m.from.as_str(), m.to.as_str()), ("bob", "carol"));
    assert_eq!(s.get("p", &k("c1"), clock.now()).as_deref(), Some("carol"));
    assert_eq!(s.forget("p", &k("c1")).as_deref(), Some("carol"));
    assert_eq!(s.get("p", &k("c1"), clock.now()), None);
}

#[test]
fn retain_drops_removed_accounts() {
    let clock = ManualClock::new(start());
    let s = Sticky::default();
    s.assign("p", &k("c1"), "a", clock.now());
    s.assign("p", &k("c2"), "gone", clock.now());
    s.assign("q", &k("c3"), "a", clock.now());
    assert_eq!(s.retain(|pool, account| pool == "p" && account == "a"), 2);
    assert_eq!(s.len(), 1);
    assert!(s.peek("p", &k("c1"), clock.now()).is_some());
}

#[test]
fn snapshot_restore_round_trip() {
    let clock = ManualClock::new(start());
    let s = Sticky::new(Duration::from_secs(3600), 100);
    s.assign("p", &k("stale"), "a", clock.now());
    clock.advance(Duration::from_secs(1800));
    s.assign("p", &k("c1"), "a", clock.now());
    clock.advance(Duration::from_secs(10));
    s.assign("q", &k("c2"), "b", clock.now());
    clock.advance(Duration::from_secs(1800));
    // "stale" is past the hour and is not saved.
    let snap = s.snapshot(clock.now());
    assert_eq!(snap.entries.len(), 2);
    assert_eq!(snap.entries[0].key, k("c1"), "oldest first");
    let json = serde_json::to_string(&snap).unwrap();
    assert!(json.contains("\"claude-code:"));
    let back: StickySnapshot = serde_json::from_str(&json).unwrap();
    assert_eq!(back, snap);

    let restored = Sticky::new(Duration::from_secs(3600), 100);
    assert_eq!(restored.restore(back.clone(), clock.now()), 2);
    assert_eq!(restored.snapshot(clock.now()), snap);
    assert_eq!(
        restored.peek("p", &k("c1"), clock.now()).as_deref(),
        Some("a")
    );
    assert_eq!(
        restored.peek("q", &k("c2"), clock.now()).as_deref(),
        Some("b")
    );
    // Expiry still counts from the saved time.
    clock.advance(Duration::from_secs(1795));
    assert_eq!(restored.peek("p", &k("c1"), clock.now()), None);
    assert_eq!(
        restored.peek("q", &k("c2"), clock.now()).as_deref(),
        Some("b")
    );
    // A restore does not undo a newer assignment, and skips what has expired.
    restored.assign("q", &k("c2"), "c", clock.now());
    assert_eq!(restored.restore(back, clock.now()), 0);
    assert_eq!(
        restored.peek("q", &k("c2"), clock.now()).as_deref(),
        Some("c")
    );
    // An empty or missing list is fine; a bad key is an error for the caller.
    assert_eq!(
        serde_json::from_str::<StickySnapshot>("{}").unwrap(),
        StickySnapshot::default()
    );
    assert!(serde_json::from_str::<StickySnapshot>(
        r#"{"entries":[{"pool":"p","key":"x","account":"a","seen":1}]}"#
    )
    .is_err());
}

#[test]
fn a_saved_entry_without_a_pool_or_an_account_is_not_restored() {
    let clock = ManualClock::new(start());
    let s = Sticky::new(Duration::from_secs(3600), 100);
    s.assign("p", &k("c1"), "a", clock.now());
    let mut snap = s.snapshot(clock.now());
    let whole = snap.entries[0].clone();
    snap.entries = vec![
        SavedEntry {
            pool: String::new(),
            ..whole.clone()
        },
        SavedEntry {
            account: String::new(),
            ..whole
        },
    ];
    let restored = Sticky::new(Duration::from_secs(3600), 100);
    assert_eq!(restored.restore(snap, clock.now()), 0);
    assert!(restored.is_empty());
}

#[test]
fn debug_shows_the_size_and_idle_time_never_the_conversations() {
    let s = Sticky::new(Duration::from_secs(3600), 10);
    assert!(s.is_empty());
    s.assign("p", &k("session-secretive"), "acct-a", start());
    assert!(!s.is_empty());
    assert_eq!(s.idle(), Duration::from_secs(3600));
    let shown = format!("{s:?}");
    assert!(
        shown.contains("len: 1") && shown.contains("idle: 3600s"),
        "{shown}"
    );
    assert!(
        !shown.contains("secretive") && !shown.contains("acct-a"),
        "{shown}"
    );
}

#[test]
fn shared_between_threads() {
    let s = Arc::new(Sticky::default());
    let now = start();
    let handles: Vec<_> = (0..4)
        .map(|t| {
            let s = s.clone();
            std::thread::spawn(move || {
                for i in 0..500 {
                    let key = k(&format!("{t}-{i}"));
                    s.assign("p", &key, &format!("acct{t}"), now);
                    assert_eq!(s.get("p", &key, now), Some(format!("acct{t}")));
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    assert_eq!(s.len(), 2000);
    assert_eq!(s.counts(now)["p"]["acct3"], 500);
}
