//! Running one check: a program with keypool's environment (some variables left out),
//! bounded in time and in what it may print, and what its output says.

use super::report::Class;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt};

/// How long a live check may take: runtimes are given 10 s for the fetch itself.
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(15);
/// How long `--version` may take.
pub const VERSION_TIMEOUT: Duration = Duration::from_secs(5);
/// What is kept of each output stream.
const OUTPUT_CAP: u64 = 64 * 1024;

/// What a program printed (stdout, then stderr) and whether it exited 0.
pub struct Ran {
    pub output: String,
    pub success: bool,
}

/// The environment of one run: keypool's variables over the inherited ones, minus some.
pub struct Env<'a> {
    pub set: &'a [(&'static str, String)],
    pub extra: &'a [(&'static str, &'static str)],
    pub without: &'a [&'a str],
}

/// Runs `program args` with `env`; `None` when it cannot be started. A run past
/// `timeout` is killed and reported with what it printed so far.
pub async fn run(program: &Path, args: &[String], env: &Env<'_>, timeout: Duration) -> Option<Ran> {
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    for (k, v) in env.set {
        cmd.env(k, v);
    }
    for (k, v) in env.extra {
        cmd.env(k, v);
    }
    for k in env.without {
        cmd.env_remove(k);
    }
    let mut child = cmd.spawn().ok()?;
    let out = read_capped(child.stdout.take());
    let err = read_capped(child.stderr.take());
    let waited = tokio::time::timeout(timeout, async {
        let (out, err, status) = tokio::join!(out, err, child.wait());
        (out, err, status)
    })
    .await;
    Some(match waited {
        Ok((out, err, status)) => Ran {
            output: format!("{out}{err}"),
            success: status.is_ok_and(|s| s.success()),
        },
        Err(_) => {
            let _ = child.kill().await;
            Ran {
                output: format!("timed out after {}s", timeout.as_secs()),
                success: false,
            }
        }
    })
}

async fn read_capped(stream: Option<impl AsyncRead + Unpin>) -> String {
    let mut buf = Vec::new();
    if let Some(s) = stream {
        let mut capped = s.take(OUTPUT_CAP);
        let _ = capped.read_to_end(&mut buf).await;
        // Drain the rest so a chatty program is not blocked on a full pipe.
        let mut rest = capped.into_inner();
        let _ = tokio::io::copy(&mut rest, &mut tokio::io::sink()).await;
    }
    String::from_utf8_lossy(&buf).into_owned()
}

/// What a check's output says: keypool's answer with this nonce (its JSON, or the header
/// in git's trace), a TLS failure, or anything else.
pub fn classify(output: &str, nonce: &str) -> Class {
    let lower = output.to_ascii_lowercase();
    if output.contains(&format!("\"doctor\":\"{nonce}\""))
        || lower.contains(&format!("x-keypool-doctor: {}", nonce.to_ascii_lowercase()))
    {
        return Class::Passed;
    }
    const TLS: &[&str] = &[
        "certificate",
        "cert_",
        "ssl",
        "tls",
        "self signed",
        "self-signed",
        "unable to verify",
        "issuer",
    ];
    if TLS.iter().any(|w| lower.contains(w)) {
        Class::CaNotTrusted
    } else {
        Class::ProxyIgnored
    }
}

/// The first meaningful line of an error, bounded and printable, for the report.
pub fn excerpt(output: &str) -> String {
    let line = output
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("(no output)");
    crate::echo::printable(line, 200)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_is_classified_by_the_nonce_then_by_tls_words() {
        let n = "abc123";
        let json = r#"{"keypool":"0.1.0","doctor":"abc123","intercepted":true}"#;
        assert_eq!(classify(json, n), Class::Passed);
        assert_eq!(
            classify("<= Recv header: X-Keypool-Doctor: abc123\r\n", n),
            Class::Passed
        );
        // An error that echoes the URL (and so the nonce) is no proof.
        let git = "fatal: unable to access 'https://h/_keypool/doctor/abc123/': \
            SSL certificate problem: unable to get local issuer certificate";
        assert_eq!(classify(git, n), Class::CaNotTrusted);
        let other = r#"{"doctor":"zzz"}"#;
        assert_eq!(classify(other, n), Class::ProxyIgnored);
        assert_eq!(
            classify("TypeError: fetch failed ENOTFOUND", n),
            Class::ProxyIgnored
        );
        assert_eq!(
            excerpt("\n  curl: (6) Could not resolve\nmore"),
            "curl: (6) Could not resolve"
        );
    }

    #[tokio::test]
    async fn a_run_is_bounded_in_time_and_output() {
        let env = Env {
            set: &[],
            extra: &[],
            without: &[],
        };
        let sh = Path::new("/bin/sh");
        let args = |s: &str| vec!["-c".to_string(), s.to_string()];
        let slow = run(sh, &args("sleep 30"), &env, Duration::from_millis(200))
            .await
            .unwrap();
        assert!(!slow.success && slow.output.contains("timed out"));
        let chatty = run(sh, &args("yes | head -c 1000000"), &env, CHECK_TIMEOUT)
            .await
            .unwrap();
        assert!(chatty.success);
        assert_eq!(chatty.output.len() as u64, OUTPUT_CAP);
        assert!(run(Path::new("/nonexistent/x"), &[], &env, CHECK_TIMEOUT)
            .await
            .is_none());
    }
}
