//! Log setup: `KEYPOOL_LOG` (or `RUST_LOG`) filters, default `info`. Secrets never reach a
//! log because none is ever formatted: keys live in `SecretString` and sensitive headers.
//! The log goes to stderr; `keypool run` (and `doctor`) turn it to a size-rotated file,
//! since their child or their report owns the terminal.

use file_rotate::compression::Compression;
use file_rotate::suffix::AppendCount;
use file_rotate::{ContentLimit, FileRotate};
use std::io::IsTerminal;
use std::path::Path;
use std::sync::{Mutex, OnceLock};
use tracing_subscriber::fmt::writer::BoxMakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{fmt, reload, EnvFilter, Registry};

/// A log file is cut past this size…
pub const LOG_FILE_LIMIT: usize = 10 * 1024 * 1024;
/// …and this many cut files are kept beside it (`keypool.log.1`, `.2`): 30 MiB at most.
pub const LOG_FILES_KEPT: usize = 2;

type Base = tracing_subscriber::layer::Layered<EnvFilter, Registry>;
type Output = fmt::Layer<Base, fmt::format::DefaultFields, fmt::format::Format, BoxMakeWriter>;

/// Where the log goes can change after `init`: the handle to the output layer.
static OUTPUT: OnceLock<reload::Handle<Output, Base>> = OnceLock::new();

pub fn init() {
    let filter = EnvFilter::try_from_env("KEYPOOL_LOG")
        .or_else(|_| EnvFilter::try_from_default_env())
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let filter = without_signer_traces(filter);
    let output: Output = fmt::layer()
        .with_writer(BoxMakeWriter::new(std::io::stderr))
        .with_target(false)
        .with_ansi(std::io::stderr().is_terminal());
    let (output, handle) = reload::Layer::new(output);
    if tracing_subscriber::registry()
        .with(filter)
        .with(output)
        .try_init()
        .is_ok()
    {
        let _ = OUTPUT.set(handle);
    }
}

/// `aws-sigv4` traces the canonical request it signs, and with temporary credentials that
/// holds the session token: its events stay off whatever level was asked for.
fn without_signer_traces(filter: EnvFilter) -> EnvFilter {
    filter.add_directive("aws_sigv4=off".parse().expect("a valid directive"))
}

/// Sends the log from now on to `path` (0600, rotated by size) instead of stderr.
/// Without [`init`] (a test's own subscriber) there is nothing to redirect.
pub fn to_file(path: &Path) -> Result<(), String> {
    let file = rotating_file(path, LOG_FILE_LIMIT, LOG_FILES_KEPT)
        .map_err(|e| format!("cannot open the log file {}: {e}", path.display()))?;
    let Some(handle) = OUTPUT.get() else {
        return Ok(());
    };
    handle
        .modify(|layer| {
            *layer.writer_mut() = BoxMakeWriter::new(Mutex::new(file));
            layer.set_ansi(false);
        })
        .map_err(|e| format!("cannot send the log to {}: {e}", path.display()))
}

/// The writer behind [`to_file`]: `path` cut past `limit` bytes (after a whole log line,
/// which `tracing` writes in one call), keeping `kept` older files, each created 0600.
/// Its directory is made first (0700) so the crate never has to, as it would by panicking.
pub fn rotating_file(
    path: &Path,
    limit: usize,
    kept: usize,
) -> std::io::Result<FileRotate<AppendCount>> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)?;
    let mut open = std::fs::OpenOptions::new();
    open.read(true).create(true).append(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut open, 0o600);
    // Fail here, with the reason, rather than lose every line later.
    open.open(path)?;
    Ok(FileRotate::new(
        path,
        AppendCount::new(kept),
        ContentLimit::BytesSurpassed(limit.max(1)),
        Compression::None,
        Some(open),
    ))
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_trace_log_never_holds_the_session_token_a_signature_used() {
        use crate::sigv4::{resign, AwsCredentials, Scope, BEDROCK};
        use secrecy::SecretString;
        use std::sync::Arc;
        #[derive(Clone, Default)]
        struct Buf(Arc<parking_lot::Mutex<Vec<u8>>>);
        impl std::io::Write for Buf {
            fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                self.0.lock().extend_from_slice(b);
                Ok(b.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let buf = Buf::default();
        let sink = buf.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter(super::without_signer_traces(super::EnvFilter::new("trace")))
            .with_writer(move || sink.clone())
            .with_ansi(false)
            .finish();
        let creds = AwsCredentials::new(
            "ASIAEXAMPLE",
            SecretString::from("secret-key-value"),
            Some(SecretString::from("SESSIONTOKENVALUE")),
        )
        .unwrap();
        tracing::subscriber::with_default(subscriber, || {
            tracing::trace!("keypool's own trace still shows");
            let mut req = http::Request::post("https://bedrock-runtime.us-east-1.amazonaws.com/")
                .body(())
                .unwrap();
            let scope = Scope {
                region: "us-east-1",
                service: BEDROCK,
            };
            resign(&mut req, b"{}", &creds, scope, std::time::SystemTime::now()).unwrap();
        });
        let logs = String::from_utf8(buf.0.lock().clone()).unwrap();
        assert!(logs.contains("keypool's own trace still shows"), "{logs}");
        assert!(!logs.contains("SESSIONTOKENVALUE"), "{logs}");
        assert!(!logs.contains("secret-key-value"), "{logs}");
    }

    use super::*;
    use std::io::Write;

    #[test]
    fn the_file_is_cut_by_size_and_keeps_a_bounded_number_of_old_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("logs/keypool.log");
        let mut w = rotating_file(&path, 100, 2).unwrap();
        for i in 0..40 {
            w.write_all(format!("line {i:02} of the log, padded out a bit\n").as_bytes())
                .unwrap();
        }
        w.flush().unwrap();
        let names = |p: &str| dir.path().join("logs").join(p);
        for f in ["keypool.log", "keypool.log.1", "keypool.log.2"] {
            let len = std::fs::metadata(names(f)).unwrap().len();
            // BytesSurpassed: cut after the write that passed the limit, never mid-line.
            assert!(len > 0 && len < 100 + 64, "{f} is {len} bytes");
            assert!(std::fs::read_to_string(names(f)).unwrap().ends_with('\n'));
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                let mode = std::fs::metadata(names(f)).unwrap().permissions().mode();
                assert_eq!(mode & 0o777, 0o600, "{f}");
            }
        }
        assert!(!names("keypool.log.3").exists(), "only two old files kept");
        let newest = std::fs::read_to_string(&path).unwrap();
        assert!(newest.contains("line 39"), "{newest}");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("logs"))
                .unwrap()
                .permissions();
            assert_eq!(mode.mode() & 0o777, 0o700);
        }
    }
}
