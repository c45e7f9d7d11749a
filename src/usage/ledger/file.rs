//! `usage.db` and its `-wal` and `-shm` companions stay 0600 in a 0700 directory: the
//! rows say which accounts were used for what, and when.

use std::path::{Path, PathBuf};

/// Creates the directory (0700) and the database file (0600) before SQLite opens it, so
/// SQLite never creates it under the umask; an existing file keeps its bytes and loses
/// any group or other permission.
pub fn ready(path: &Path) -> Result<(), String> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        crate::atomic_file::create_private_dir(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    create_0600(path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    private(path)
}

/// The files SQLite keeps beside the database in WAL mode. It creates them with the
/// database's own mode; [`companions_private`] checks, as umasks and old files vary.
pub fn companions(path: &Path) -> [PathBuf; 2] {
    let with = |suffix: &str| {
        let mut p = path.as_os_str().to_owned();
        p.push(suffix);
        PathBuf::from(p)
    };
    [with("-wal"), with("-shm")]
}

/// Takes group and other permission from the `-wal` and `-shm` files that exist.
pub fn companions_private(path: &Path) -> Result<(), String> {
    for p in companions(path) {
        if p.exists() {
            private(&p)?;
        }
    }
    Ok(())
}

fn create_0600(path: &Path) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path).map(drop)
}

#[cfg(unix)]
fn private(path: &Path) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?
        .permissions()
        .mode();
    if mode & 0o077 == 0 {
        return Ok(());
    }
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(|e| {
        format!(
            "{} is mode {:04o} and cannot be made 0600 ({e})\nfix: chmod 600 {}",
            path.display(),
            mode & 0o7777,
            path.display()
        )
    })
}

#[cfg(not(unix))]
fn private(_path: &Path) -> Result<(), String> {
    Ok(())
}
