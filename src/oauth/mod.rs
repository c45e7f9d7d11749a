//! Subscription (OAuth) accounts: their tokens, where those tokens live (keypool's own
//! `credentials.json` or a native CLI's file), and how keypool keeps them fresh.

pub mod account;
mod cline_grant;
pub mod edit;
mod editor_headers;
pub mod endpoint;
pub mod flavor;
pub mod google_key;
mod identity;
pub mod jwt;
pub mod link;
pub mod msh;
pub mod pending;
pub mod refresh_tally;
pub mod steps;
pub mod store;
pub mod tokens;

pub use tokens::{Identity, Tokens};
