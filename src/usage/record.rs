//! One row of the ledger: what one intercepted answer was and used. Never a prompt, an
//! answer's content or a credential.

use super::Tokens;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// When the request arrived, milliseconds since the Unix epoch.
    pub at_ms: i64,
    pub provider: String,
    pub pool: Option<String>,
    /// The account that served the answer (billed for it); `None` for keypool's own answers.
    pub account: Option<String>,
    /// `key` or `subscription`.
    pub kind: Option<String>,
    /// From the answer, else from the request.
    pub model: Option<String>,
    /// The status the client got (`101` for a WebSocket).
    pub status: u16,
    /// Sends upstream, refreshed-token resends included.
    pub attempts: u32,
    /// Accounts that refused (or broke) before the one that answered.
    pub rotations: u32,
    /// Why the first of them was passed over: `rate_limited`, `overloaded`, `exhausted`,
    /// `auth_failed` or `broken`.
    pub rotation: Option<String>,
    /// Request arrival to the first byte of the answer's body.
    pub ttfb_ms: Option<u64>,
    /// Request arrival to the end of the answer (or the client leaving).
    pub total_ms: u64,
    pub tokens: Tokens,
    /// USD at API prices (for a subscription, what it would have cost); `None`: no price
    /// for the model.
    pub cost_usd: Option<f64>,
    /// The answer was an event stream (or WebSocket messages).
    pub stream: bool,
}
