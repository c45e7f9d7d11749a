//! Subscription (OAuth) accounts: their tokens, where those tokens live (keypool's own
//! `credentials.json` or a native CLI's file), and how keypool keeps them fresh.

pub mod account;
pub mod edit;
pub mod endpoint;
pub mod flavor;
mod identity;
pub mod jwt;
pub mod link;
pub mod pending;
pub mod steps;
pub mod store;
pub mod tokens;

/// The lock native CLIs take, re-exported where the credential files are handled.
pub use crate::file_lock as lock;
pub use flavor::Flavor;
pub use tokens::{Identity, Tokens};
