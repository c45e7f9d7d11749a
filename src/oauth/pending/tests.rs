use super::*;
use crate::oauth::account::{OAuthAccount, Source};
use crate::oauth::link::testing::{file, fresh, reveal};
use crate::providers::Flavor;
use std::path::Path;
use std::sync::Arc;
use std::time::UNIX_EPOCH;

const FULL: &str =
    "refreshed login not saved: No space left on device (os error 28); free disk space";

fn tokens(access: &str, refresh: &str) -> Tokens {
    Tokens {
        access: Some(access.to_string().into()),
        refresh: Some(refresh.to_string().into()),
        expires_at: Some(UNIX_EPOCH + Duration::from_secs(1_900_000_000)),
        id_token: None,
        identity: Identity::default(),
    }
}

/// A store holding `name` with tokens `a0`/`r0`, retries due at once.
fn store_with(name: &str) -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::at(dir.path().join("credentials.json"));
    store
        .put_tokens(name, "anthropic", &tokens("a0", "r0"))
        .unwrap();
    store.pace_retries(Duration::ZERO, Duration::ZERO);
    (dir, store)
}

fn saved_refresh(store: &Store, name: &str) -> String {
    let e = store.get(name).unwrap().unwrap();
    reveal(&e.tokens().refresh).unwrap().to_string()
}

fn nobody() -> FindAccount {
    Arc::new(|_: &str| None)
}

fn leftovers(dir: &Path) -> Vec<String> {
    let names = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name());
    names
        .map(|n| n.to_string_lossy().into_owned())
        .filter(|n| n != "credentials.json")
        .collect()
}

#[test]
fn backoff_doubles_from_one_second_to_a_minute_and_never_overflows() {
    let p = Pace::DEFAULT;
    let waits: Vec<u64> = (1..=8).map(|n| p.after(n).as_secs()).collect();
    assert_eq!(waits, [1, 2, 4, 8, 16, 32, 60, 60]);
    assert_eq!(p.after(u32::MAX), Duration::from_secs(60));
    let huge = Pace {
        first: Duration::MAX,
        cap: Duration::MAX,
    };
    let now = Instant::now();
    assert!(
        huge.deadline(now, huge.after(40)) > now,
        "saturates, never panics"
    );
}

#[test]
fn a_failed_write_keeps_the_old_file_byte_for_byte_and_stays_pending_until_it_lands() {
    let (dir, store) = store_with("max");
    let before = std::fs::read(store.path()).unwrap();
    store.fail_writes(true);
    store.save_tokens("max", "anthropic", &tokens("a1", "r1"), "run `x`");
    assert_eq!(
        std::fs::read(store.path()).unwrap(),
        before,
        "old file intact"
    );
    assert!(
        leftovers(dir.path()).is_empty(),
        "no temp file: {:?}",
        leftovers(dir.path())
    );
    assert_eq!(store.unsaved("max").as_deref(), Some(FULL));
    assert_eq!(*store.watch_unsaved().borrow(), 1);

    // Still failing: the retry keeps it (and the old file).
    store.retry_due(&nobody());
    assert_eq!(std::fs::read(store.path()).unwrap(), before);
    assert_eq!(store.unsaved("max").as_deref(), Some(FULL));

    store.fail_writes(false);
    store.retry_due(&nobody());
    assert_eq!(saved_refresh(&store, "max"), "r1");
    assert_eq!(store.unsaved("max"), None);
    assert_eq!(*store.watch_unsaved().borrow(), 0);
    assert_eq!(store.next_due(), None, "nothing left to retry");
}

#[test]
fn a_later_successful_save_supersedes_the_pending_one() {
    let (_dir, store) = store_with("max");
    store.fail_writes(true);
    store.save_tokens("max", "anthropic", &tokens("a1", "r1"), "run `x`");
    store.fail_writes(false);
    store.save_tokens("max", "anthropic", &tokens("a2", "r2"), "run `x`");
    assert_eq!(saved_refresh(&store, "max"), "r2");
    assert_eq!(store.unsaved("max"), None);
    store.flush_unsaved();
    assert_eq!(
        saved_refresh(&store, "max"),
        "r2",
        "the older r1 never lands after r2"
    );
}

#[test]
fn identity_learned_while_tokens_wait_is_written_with_them() {
    let (_dir, store) = store_with("g");
    store.fail_writes(true);
    store.save_tokens("g", "anthropic", &tokens("a1", "r1"), "run `x`");
    let id = Identity {
        project: Some("proj-1".into()),
        ..Identity::default()
    };
    store.save_identity("g", "anthropic", &id, "run `x`");
    store.fail_writes(false);
    store.flush_unsaved();
    let e = store.get("g").unwrap().unwrap();
    assert_eq!(e.identity.project.as_deref(), Some("proj-1"));
    assert_eq!(reveal(&e.tokens().refresh), Some("r1"));
}

#[test]
fn a_rebuild_gets_the_unsaved_tokens_not_the_spent_ones_on_disk() {
    let (_dir, store) = store_with("max");
    store.fail_writes(true);
    store.save_tokens("max", "anthropic", &tokens("a1", "r1"), "run `x`");
    let mut read_back = store.get("max").unwrap().unwrap().tokens();
    assert_eq!(reveal(&read_back.refresh), Some("r0"));
    store.overlay_unsaved("max", None, &mut read_back);
    assert_eq!(reveal(&read_back.refresh), Some("r1"));
    let mut other = tokens("b0", "s0");
    store.overlay_unsaved("other", None, &mut other);
    assert_eq!(
        reveal(&other.refresh),
        Some("s0"),
        "other accounts untouched"
    );
}

fn gemini_file(access: &str, refresh: &str) -> String {
    format!(
        r#"{{"access_token":"{access}","refresh_token":"{refresh}","expiry_date":1900000000000}}"#
    )
}

#[test]
fn a_pending_write_back_yields_to_what_the_cli_wrote_since() {
    let (_d, path) = file("oauth_creds.json", &gemini_file("a0", "r0"));
    let linked = Linked::open(&path, Flavor::GeminiCli).unwrap();
    let (_s, store) = store_with("gem");
    let on_disk = linked.read().unwrap();
    let ours = fresh(Identity::default());
    let source = Source::Linked(linked.clone());
    let live = OAuthAccount::new(
        "gem".into(),
        Flavor::GeminiCli,
        source,
        ours.clone(),
        Duration::ZERO,
    );
    let live = Arc::new(live);
    store.fail_writes(true);
    assert!(!store.save_write_back("gem", &linked, &ours, &on_disk, "x"));
    assert_eq!(store.unsaved("gem").as_deref(), Some(FULL));
    assert_eq!(
        store.unsaved_write_back_matches("gem", &linked, &on_disk),
        Some(true)
    );
    let mut rebuilt = linked.read().unwrap();
    store.overlay_unsaved("gem", Some(&linked), &mut rebuilt);
    assert_eq!(
        reveal(&rebuilt.access),
        Some("new-access"),
        "the file is behind"
    );

    // The CLI logs in again meanwhile: its tokens win and keypool's are dropped.
    std::fs::write(&path, gemini_file("cli-a", "cli-r")).unwrap();
    let mut rebuilt = linked.read().unwrap();
    store.overlay_unsaved("gem", Some(&linked), &mut rebuilt);
    assert_eq!(
        reveal(&rebuilt.access),
        Some("cli-a"),
        "the CLI's tokens are newer"
    );
    store.fail_writes(false);
    let found = live.clone();
    store.retry_due(&(Arc::new(move |n: &str| (n == "gem").then(|| found.clone())) as FindAccount));
    assert_eq!(
        reveal(&live.tokens().access),
        Some("cli-a"),
        "the account took them"
    );
    assert_eq!(store.unsaved("gem"), None);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(
        text.contains("cli-r") && !text.contains("new-refresh"),
        "{text}"
    );
}

#[test]
fn a_pending_write_back_lands_when_the_file_is_unchanged() {
    let (_d, path) = file("oauth_creds.json", &gemini_file("a0", "r0"));
    let linked = Linked::open(&path, Flavor::GeminiCli).unwrap();
    let (_s, store) = store_with("gem");
    store.fail_writes(true);
    store.save_write_back(
        "gem",
        &linked,
        &fresh(Identity::default()),
        &linked.read().unwrap(),
        "x",
    );
    store.fail_writes(false);
    store.retry_due(&nobody());
    assert_eq!(reveal(&linked.read().unwrap().refresh), Some("new-refresh"));
    assert_eq!(store.unsaved("gem"), None);
}

#[test]
fn the_fix_follows_the_error() {
    let p = Path::new("/home/u/.keypool/credentials.json");
    let wrapped = io::Error::new(io::ErrorKind::StorageFull, Wrapped(no_space()));
    assert_eq!(
        Failure::io(p, &wrapped).message,
        FULL,
        "the system's words, not a wrapper's"
    );
    let full = Failure::io(p, &io::Error::from_raw_os_error(libc::EDQUOT));
    assert!(
        full.message.ends_with("; free disk space"),
        "{}",
        full.message
    );
    let denied = Failure::io(p, &io::Error::from_raw_os_error(libc::EACCES));
    assert_eq!(
        denied.message,
        "refreshed login not saved: Permission denied (os error 13); make /home/u/.keypool writable"
    );
    let locked = Failure::io(
        p,
        &io::Error::new(io::ErrorKind::WouldBlock, "x.lock is held"),
    );
    assert!(
        locked.message.ends_with("keypool retries once it is free"),
        "{}",
        locked.message
    );
}

#[test]
fn nothing_about_a_pending_write_prints_a_token() {
    let (_dir, store) = store_with("max");
    store.fail_writes(true);
    store.save_tokens(
        "max",
        "anthropic",
        &tokens("sk-ant-oat-secret", "sk-ant-ort-secret"),
        "x",
    );
    let shown = format!("{store:?} {:?}", store.unsaved("max"));
    assert!(!shown.contains("secret"), "{shown}");
}

/// An error wrapper like `tempfile`'s, which appends the temp file's name.
#[derive(Debug)]
struct Wrapped(io::Error);

impl std::fmt::Display for Wrapped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} at path \"/tmp/.keypool-x.tmp\"", self.0)
    }
}

impl std::error::Error for Wrapped {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

/// How long a refused write may take: far below the lock waits (10 s and 15 s) a write
/// that tried the lock first would sit out behind a holder.
const PROMPTLY: Duration = Duration::from_secs(5);

/// A write that cannot land takes no lock: a retry in flight never shows one next to the
/// file (the flake of `a_failed_write_back_is_pending_survives_a_reload_and_lands`, which
/// found `auth.json.lock` while a retry held it), and a holder does not delay the failure.
#[test]
fn a_refused_write_back_retry_never_takes_the_cli_s_lock() {
    let (_d, path) = file("oauth_creds.json", &gemini_file("a0", "r0"));
    let linked = Linked::open(&path, Flavor::GeminiCli).unwrap();
    let (_s, store) = store_with("gem");
    store.fail_writes(true);
    let on_disk = linked.read().unwrap();
    let ours = fresh(Identity::default());
    assert!(!store.save_write_back("gem", &linked, &ours, &on_disk, "x"));
    let held = crate::file_lock::acquire(&linked.lock_target(), Duration::ZERO).unwrap();
    let started = Instant::now();
    store.retry_due(&nobody());
    assert!(started.elapsed() < PROMPTLY, "{:?}", started.elapsed());
    assert_eq!(store.unsaved("gem").as_deref(), Some(FULL));
    drop(held);
    store.fail_writes(false);
    store.retry_due(&nobody());
    assert_eq!(store.unsaved("gem"), None);
}

#[test]
fn a_refused_store_write_never_takes_the_store_s_lock() {
    let (_d, store) = store_with("max");
    store.fail_writes(true);
    let held = crate::file_lock::acquire(store.path(), Duration::ZERO).unwrap();
    let started = Instant::now();
    store.save_tokens("max", "anthropic", &tokens("a1", "r1"), "run `x`");
    store.retry_due(&nobody());
    assert!(started.elapsed() < PROMPTLY, "{:?}", started.elapsed());
    assert_eq!(store.unsaved("max").as_deref(), Some(FULL));
    drop(held);
    store.fail_writes(false);
    store.retry_due(&nobody());
    assert_eq!(saved_refresh(&store, "max"), "r1");
}
