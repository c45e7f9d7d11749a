//! `keypool ca rotate`: a new CA for the hosts configured now, with the old one kept
//! aside (tools and trust stores still hold it) until the user removes it.

use super::{io, CaError, CertAuthority};
use crate::atomic_file;
use crate::home::Home;
use std::path::{Path, PathBuf};

/// What a rotation did.
#[derive(Debug)]
pub struct Rotated {
    pub ca: CertAuthority,
    /// Where the old certificate and key were kept, if there were any.
    pub old_cert: Option<PathBuf>,
    pub old_key: Option<PathBuf>,
}

/// Keeps the current CA files as `<name>.old-<epoch>` (the key stays 0600), then writes a
/// new CA constrained to `hosts`. The old files are copies, not moves: until the new pair
/// is written, a keypool starting or reloading finds the old pair (or, between the two
/// writes, a key that does not match its certificate, which it refuses) — never nothing,
/// which would make it create a CA of its own.
pub fn rotate(home: &Home, hosts: &[String]) -> Result<Rotated, CaError> {
    let (cert, key) = (home.ca_cert(), home.ca_key());
    let suffix = free_suffix(&cert, &key);
    let old_cert = keep_aside(&cert, &suffix, 0o644)?;
    let old_key = keep_aside(&key, &suffix, 0o600)?;
    let ca = CertAuthority::create(home, hosts)?;
    Ok(Rotated {
        ca,
        old_cert,
        old_key,
    })
}

fn keep_aside(path: &Path, suffix: &str, mode: u32) -> Result<Option<PathBuf>, CaError> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io("read", path, e)),
    };
    let old = with_suffix(path, suffix);
    atomic_file::write(&old, &bytes, mode).map_err(|e| io("write", &old, e))?;
    Ok(Some(old))
}

/// `.old-<seconds since the epoch>`, with a counter when two rotations share a second.
fn free_suffix(cert: &Path, key: &Path) -> String {
    let epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    (1..100u32)
        .map(|n| match n {
            1 => format!(".old-{epoch}"),
            n => format!(".old-{epoch}-{n}"),
        })
        .find(|s| !with_suffix(cert, s).exists() && !with_suffix(key, s).exists())
        .unwrap_or_else(|| format!(".old-{epoch}-{}", std::process::id()))
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_old_pair_and_covers_the_new_hosts() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::at(dir.path());
        let (old, _) = CertAuthority::load_or_create(&home, &["api.openai.com".into()]).unwrap();
        assert!(!old.permits("llm.internal.example"));
        let old_key = std::fs::read(home.ca_key()).unwrap();
        let hosts = vec!["api.openai.com".to_string(), "llm.internal.example".into()];
        let r = rotate(&home, &hosts).unwrap();
        assert!(r.ca.permits("llm.internal.example"));
        assert_ne!(r.ca.ca_pem(), old.ca_pem());
        let kept_cert = r.old_cert.unwrap();
        let kept_key = r.old_key.unwrap();
        assert_eq!(std::fs::read_to_string(&kept_cert).unwrap(), old.ca_pem());
        assert_eq!(std::fs::read(&kept_key).unwrap(), old_key);
        assert!(kept_key.to_string_lossy().contains("ca-key.pem.old-"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&kept_key).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        // The loaded CA is the new one, and a second rotation in the same second keeps
        // the first one's files.
        assert_eq!(CertAuthority::load(&home).unwrap().ca_pem(), r.ca.ca_pem());
        let again = rotate(&home, &hosts).unwrap();
        assert_ne!(again.old_cert.unwrap(), kept_cert);
        assert!(kept_cert.exists());
    }

    #[test]
    fn rotating_without_a_ca_just_makes_one() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::at(dir.path());
        let r = rotate(&home, &["api.openai.com".into()]).unwrap();
        assert!(r.old_cert.is_none() && r.old_key.is_none());
        assert!(home.ca_cert().exists() && home.ca_key().exists());
    }
}
