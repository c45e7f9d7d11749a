//! keypool: a local forward proxy that makes several accounts of an LLM provider look
//! like one, rotating on rate limits. See README.md for the user's view and
//! DESIGN.md (in the project's shared docs) for the data flow.

pub mod accounts_view;
pub mod admin;
pub mod admin_access;
pub mod admin_client;
pub mod atomic_file;
pub mod body;
pub mod bounds;
pub mod ca;
pub mod cli;
pub mod client_conn;
pub mod clients;
pub mod clock;
pub mod config;
pub mod echo;
pub mod egress;
pub mod envvars;
pub mod failure;
pub mod fd_limit;
pub mod file_lock;
pub mod forward;
pub mod headers;
pub mod home;
pub mod import;
pub mod intercept;
pub mod logging;
pub mod login;
pub mod oauth;
pub mod persist;
pub mod pool;
pub mod providers;
pub mod quota;
pub mod reload;
pub mod rewind;
pub mod secret;
pub mod serde_message;
pub mod server;
pub mod splice;
pub mod state;
pub mod status_report;
pub mod status_view;
pub mod sticky;
pub mod stream_peek;
pub mod target;
#[cfg(test)]
mod test_logs;
pub mod trust;
pub mod tunnel;
pub mod upstream;

pub use config::Config;
pub use home::Home;
pub use server::{start, ProxyOptions, RunningProxy};
