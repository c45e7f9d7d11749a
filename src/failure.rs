//! Why a command failed, as the exit code will tell it: a usage error (bad config or
//! arguments) is the user's to fix, a runtime error is not. Commands and the steps they
//! call (import, login) return it, so it sits below all of them.

use std::process::ExitCode;

/// A command failed; the variant picks the exit code.
#[derive(Debug)]
pub enum Failure {
    /// Bad config or arguments: exit 2.
    Usage(String),
    /// Something went wrong at run time: exit 1.
    Runtime(String),
}

impl Failure {
    pub fn exit_code(&self) -> ExitCode {
        match self {
            Failure::Usage(_) => ExitCode::from(2),
            Failure::Runtime(_) => ExitCode::from(1),
        }
    }

    pub fn message(&self) -> &str {
        match self {
            Failure::Usage(m) | Failure::Runtime(m) => m,
        }
    }
}
