use clap::Parser;
use keypool::cli::Cli;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = Cli::parse(); // usage errors exit 2 here
                            // One crypto provider for the whole process: rustls refuses to guess between two.
    let _ = rustls::crypto::ring::default_provider().install_default();
    keypool::logging::init();
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
    match runtime.block_on(keypool::commands::run(cli)) {
        Ok(code) => code,
        Err(f) => {
            eprintln!("keypool: {}", f.message());
            f.exit_code()
        }
    }
}
