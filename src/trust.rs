//! Adding keypool's CA to the operating system's trust store, and removing it.

use std::path::Path;
use std::process::Command;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Platform {
    Debian,
    Fedora,
    MacOs,
    Unknown,
}

pub fn detect() -> Platform {
    if cfg!(target_os = "macos") {
        Platform::MacOs
    } else if Path::new("/usr/sbin/update-ca-certificates").exists() {
        Platform::Debian
    } else if Path::new("/usr/bin/update-ca-trust").exists() {
        Platform::Fedora
    } else {
        Platform::Unknown
    }
}

const DEBIAN_DEST: &str = "/usr/local/share/ca-certificates/keypool.crt";
const FEDORA_DEST: &str = "/etc/pki/ca-trust/source/anchors/keypool.pem";
const MAC_KEYCHAIN: &str = "/Library/Keychains/System.keychain";

/// The shell commands that trust (`install`) or untrust the CA at `ca` on `platform`.
pub fn commands(platform: Platform, ca: &Path, install: bool) -> Vec<Vec<String>> {
    let ca = ca.display().to_string();
    let v = |parts: &[&str]| parts.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    match (platform, install) {
        (Platform::Debian, true) => {
            vec![v(&["cp", &ca, DEBIAN_DEST]), v(&["update-ca-certificates"])]
        }
        (Platform::Debian, false) => vec![
            v(&["rm", "-f", DEBIAN_DEST]),
            v(&["update-ca-certificates", "--fresh"]),
        ],
        (Platform::Fedora, true) => vec![
            v(&["cp", &ca, FEDORA_DEST]),
            v(&["update-ca-trust", "extract"]),
        ],
        (Platform::Fedora, false) => vec![
            v(&["rm", "-f", FEDORA_DEST]),
            v(&["update-ca-trust", "extract"]),
        ],
        (Platform::MacOs, true) => vec![v(&[
            "security",
            "add-trusted-cert",
            "-d",
            "-r",
            "trustRoot",
            "-k",
            MAC_KEYCHAIN,
            &ca,
        ])],
        (Platform::MacOs, false) => vec![v(&["security", "remove-trusted-cert", "-d", &ca])],
        (Platform::Unknown, _) => Vec::new(),
    }
}

/// The copy `install` left in the system store, if this platform keeps one where keypool
/// can see it (macOS keeps it in a keychain: unknown).
pub fn installed_copy(platform: Platform) -> Option<&'static Path> {
    let dest = match platform {
        Platform::Debian => DEBIAN_DEST,
        Platform::Fedora => FEDORA_DEST,
        Platform::MacOs | Platform::Unknown => return None,
    };
    Some(Path::new(dest)).filter(|p| p.exists())
}

/// What makes the system store trust `new` instead of `old` after a rotation. Installing
/// again overwrites keypool's one file on Linux; a macOS keychain would keep both.
pub fn retrust_commands(platform: Platform, new: &Path, old: Option<&Path>) -> Vec<String> {
    let mut cmds = Vec::new();
    if let (Platform::MacOs, Some(old)) = (platform, old) {
        cmds.extend(commands(platform, old, false));
    }
    cmds.extend(commands(platform, new, true));
    cmds.iter()
        .map(|c| format!("sudo {}", printable(c)))
        .collect()
}

fn printable(c: &[String]) -> String {
    c.iter()
        .map(|a| shell_word(a))
        .collect::<Vec<_>>()
        .join(" ")
}

pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Runs the commands, or prints them when `dry_run` or when not running as root.
/// Returns the text to show the user, or an error naming the failed command.
pub fn apply(
    platform: Platform,
    ca: &Path,
    install: bool,
    dry_run: bool,
) -> Result<String, String> {
    let cmds = commands(platform, ca, install);
    let verb = if install { "trust" } else { "untrust" };
    if cmds.is_empty() {
        return Err(format!(
            "keypool does not know this system's trust store. To {verb} the CA by hand, add or \
            remove {} in the system's CA directory; certs/README.md in keypool's repository lists \
            the steps per platform, and `keypool run` works without it",
            ca.display()
        ));
    }
    if dry_run || !is_root() {
        let mut out = if dry_run {
            format!("To {verb} keypool's CA, run:\n")
        } else {
            format!("Changing the system trust store needs root. To {verb} keypool's CA, run:\n")
        };
        for c in &cmds {
            out.push_str(&format!("  sudo {}\n", printable(c)));
        }
        return Ok(out);
    }
    for c in &cmds {
        let status = Command::new(&c[0])
            .args(&c[1..])
            .status()
            .map_err(|e| format!("cannot run `{}`: {e}", printable(c)))?;
        if !status.success() {
            return Err(format!("`{}` failed ({status})", printable(c)));
        }
    }
    Ok(format!(
        "{} keypool's CA ({}).\n",
        if install { "Trusted" } else { "Removed" },
        ca.display()
    ))
}

pub(crate) fn shell_word(s: &str) -> String {
    if s.chars()
        .all(|c| c.is_ascii_alphanumeric() || "/-_.=:".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_per_platform() {
        let ca = Path::new("/home/me/.keypool/certs/ca.pem");
        assert_eq!(commands(Platform::Debian, ca, true)[0][2], DEBIAN_DEST);
        assert_eq!(
            commands(Platform::Fedora, ca, false)[1],
            vec!["update-ca-trust", "extract"]
        );
        assert!(commands(Platform::MacOs, ca, true)[0].contains(&"trustRoot".to_string()));
        let out = apply(Platform::Debian, ca, true, true).unwrap();
        assert!(out.contains("sudo cp /home/me/.keypool/certs/ca.pem /usr/local/share/ca-certificates/keypool.crt"), "{out}");
        assert!(apply(Platform::Unknown, ca, true, true).is_err());
        let old = Path::new("/home/me/.keypool/certs/ca.pem.old-1");
        let linux = retrust_commands(Platform::Debian, ca, Some(old));
        assert_eq!(
            linux.len(),
            2,
            "installing again replaces keypool.crt: {linux:?}"
        );
        assert!(linux[0].starts_with("sudo cp /home/me/.keypool/certs/ca.pem "));
        let mac = retrust_commands(Platform::MacOs, ca, Some(old));
        assert!(
            mac[0].contains("remove-trusted-cert") && mac[0].ends_with("ca.pem.old-1"),
            "{mac:?}"
        );
        assert!(mac[1].contains("add-trusted-cert"), "{mac:?}");
    }
}
