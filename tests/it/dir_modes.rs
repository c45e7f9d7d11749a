//! keypool's own directories (the home and `certs/`) are private: created 0700 whatever
//! the umask, and an existing looser one is warned about, with the fix, and fixed on
//! request. Directories that are not keypool's are never touched.

use crate::support;

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;
use support::binary::{keypool, run_ok, Served};

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// `keypool` run under `umask 002`, the default of many desktop distributions.
fn keypool_umask_002(home: &Path) -> Command {
    let mut c = keypool(home);
    // SAFETY: umask(2) is async-signal-safe and cannot fail.
    unsafe {
        c.pre_exec(|| {
            libc::umask(0o002);
            Ok(())
        });
    }
    c
}

/// What `keypool serve` (default config path) logs from its start.
async fn serve_once(cmd: Command) -> String {
    tokio::task::spawn_blocking(move || Served::log_of_a_start(cmd))
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_fresh_home_is_created_0700_under_umask_002() {
    let base = tempfile::tempdir().unwrap();
    let home = base.path().join("fresh/keypool");
    run_ok(keypool_umask_002(&home).args(["ca", "init"]));
    run_ok(keypool_umask_002(&home).arg("env"));
    let log = serve_once(keypool_umask_002(&home)).await;
    assert!(!log.contains("chmod 700"), "nothing to warn about: {log}");
    for dir in [base.path().join("fresh"), home.clone(), home.join("certs")] {
        assert_eq!(mode(&dir), 0o700, "{}", dir.display());
    }
    for (file, want) in [
        ("certs/ca-key.pem", 0o600),
        ("config.toml", 0o600),
        ("certs/ca.pem", 0o644),
        ("certs/bundle.pem", 0o644),
    ] {
        assert_eq!(mode(&home.join(file)), want, "{file}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_loose_existing_home_is_warned_about_with_the_fix_and_fixed_on_request() {
    let base = tempfile::tempdir().unwrap();
    let home = base.path().join("keypool");
    run_ok(keypool(&home).args(["ca", "init"]));
    // Not keypool's: a directory of the user's inside the home, and a linked CLI's.
    let notes = home.join("notes");
    let codex = base.path().join(".codex");
    for d in [&notes, &codex] {
        std::fs::create_dir(d).unwrap();
        chmod(d, 0o755);
    }
    chmod(&home, 0o755);
    chmod(&home.join("certs"), 0o775);

    let log = serve_once(keypool(&home)).await;
    for (dir, was) in [(home.clone(), "0755"), (home.join("certs"), "0775")] {
        assert!(
            log.contains(&format!("{} is mode {was}", dir.display())),
            "{log}"
        );
        assert!(
            log.contains(&format!("fix: chmod 700 {}", dir.display())),
            "{log}"
        );
    }
    let out = run_ok(keypool(&home).args(["ca", "init"]));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("fix: chmod 700 {}", home.display())),
        "{err}"
    );
    assert_eq!(mode(&home), 0o755, "a warning changes nothing");

    let out = run_ok(keypool(&home).args(["ca", "init", "--fix-permissions"]));
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.contains(&format!("Set {} to 0700.", home.display())),
        "{said}"
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).is_empty(),
        "nothing left to warn about"
    );
    assert_eq!(mode(&home), 0o700);
    assert_eq!(mode(&home.join("certs")), 0o700);
    assert_eq!(mode(&notes), 0o755, "not keypool's directory");
    assert_eq!(mode(&codex), 0o755, "not keypool's directory");
    let log = serve_once(keypool(&home)).await;
    assert!(!log.contains("chmod 700"), "{log}");
}
