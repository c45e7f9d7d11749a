//! What each intercepted answer used: tokens read off the wire as the answer passes
//! ([`read`]), priced ([`prices`]), and written to `usage.db` off the request path
//! ([`ledger`]), then summed for `keypool usage` and the dashboard ([`query`]) over a
//! time `--since` names ([`since`]).

pub mod ledger;
pub mod prices;
pub mod query;
pub mod read;
pub mod record;
pub mod since;
pub mod tokens;

pub use record::Record;
pub use tokens::Tokens;
