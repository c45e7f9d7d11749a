use clap::Parser;
use keypool::cli::{Cli, Command};
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = Cli::parse(); // usage errors exit 2 here
    if prints_only(&cli) {
        // `keypool accounts list | head` should end quietly, as other CLIs do, not panic
        // on a closed pipe. Commands that run the proxy keep Rust's SIGPIPE-ignored default.
        #[cfg(unix)]
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        }
    }
    // One crypto provider for the whole process: rustls refuses to guess between two.
    let _ = rustls::crypto::ring::default_provider().install_default();
    keypool::logging::init();
    if !prints_only(&cli) {
        // Account schedules are read in local time; find the offset once, before the
        // runtime's threads exist.
        keypool::config::schedule::local_offset();
        // Every connection holds a descriptor; the default soft limit (often 1024) would
        // cap keypool at a few hundred idle clients.
        keypool::fd_limit::raise();
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("keypool: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(keypool::cli::run(cli)) {
        Ok(code) => code,
        Err(f) => {
            eprintln!("keypool: {}", f.message());
            f.exit_code()
        }
    }
}

fn prints_only(cli: &Cli) -> bool {
    matches!(
        cli.command,
        Some(
            Command::Accounts(_)
                | Command::Env(_)
                | Command::Ca(_)
                | Command::Status { .. }
                | Command::Reload
        )
    )
}
