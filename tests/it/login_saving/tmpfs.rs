//! A real full disk: keypool's home on a 64 KiB tmpfs filled to the last page. The write
//! fails with the kernel's own ENOSPC in the middle of the atomic write (the temp file is
//! created, its bytes do not fit), which shows that the old file survives byte for byte
//! and the temp file is cleaned up. Mounting needs privileges a CI runner may not have:
//! then the test says "skipped: cannot mount tmpfs" and returns.

use super::{assert_intact, claude_message, first_account, guard, until_saved, world_on};
use super::{QUICK, UNSAVED};
use crate::support::Flavor;
use serde_json::Value;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A tmpfs mounted on a directory; unmounted on drop.
struct Mount(PathBuf);

impl Mount {
    fn tmpfs(dir: &Path, size: &str) -> Result<Mount, String> {
        let out = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(dir)
            .output()
            .map_err(|e| format!("cannot run mount: {e}"))?;
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).trim().to_string());
        }
        Ok(Mount(dir.to_path_buf()))
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        // Lazy: a file still open elsewhere must not leave the mount behind.
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
        // The home (owned by keypool's harness) may have gone first, its mount point
        // busy then: the directory is removed here once the mount is off it.
        let _ = std::fs::remove_dir(&self.0);
    }
}

/// Fills the file system holding `dir` to its last page; returns the filler.
fn fill(dir: &Path) -> PathBuf {
    let path = dir.join("filler");
    let mut f = std::fs::File::create(&path).unwrap();
    let page = [0u8; 4096];
    for _ in 0..10_000 {
        if let Err(e) = f.write_all(&page).and_then(|()| f.sync_all()) {
            assert_eq!(
                e.raw_os_error(),
                Some(libc::ENOSPC),
                "filling failed otherwise: {e}"
            );
            return path;
        }
    }
    panic!("a 64 KiB tmpfs took 40 MB without filling up");
}

#[tokio::test]
async fn a_full_tmpfs_home_keeps_the_old_file_and_the_refreshed_login() {
    let home = tempfile::tempdir().unwrap();
    let _mount = match Mount::tmpfs(home.path(), "64k") {
        Ok(m) => m,
        Err(why) => {
            eprintln!("skipped: cannot mount tmpfs ({why})");
            return;
        }
    };
    let mut w = world_on(home).await;
    let name = "tmpfs-max";
    let kp = w.start_stored(name, QUICK).await;
    let filler = fill(kp.proxy.home.path());
    let before = std::fs::read(&kp.creds).unwrap();

    assert_eq!(claude_message(&kp.client).await.status(), 200);
    assert_eq!(w.oauth_server().token_calls(Flavor::Anthropic), 1);
    let served = w.last_sent();
    assert_eq!(
        first_account(&kp.proxy).await["unsaved"],
        UNSAVED,
        "the kernel's ENOSPC"
    );
    assert_intact(&kp.creds, &before);

    std::fs::remove_file(&filler).unwrap();
    until_saved(&kp.proxy).await;
    let saved = kp.saved(name);
    assert!(saved["access_token"] == served.as_str());
    assert!(saved["refresh_token"] != kp.first.refresh.as_str());
    assert_eq!(first_account(&kp.proxy).await["unsaved"], Value::Null);
    guard("shutdown", kp.proxy.shutdown_keeping_home()).await;
}
