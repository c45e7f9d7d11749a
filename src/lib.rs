//! keypool: a local forward proxy that makes several accounts of an LLM provider look
//! like one, rotating on rate limits. See README.md for the user's view, ARCHITECTURE.md
//! for the map of these modules, and DESIGN.md (in the project's shared docs) for the
//! contracts.
//!
//! The modules are grouped in layers, lowest first: a module imports from its own group
//! and the groups listed before it, never from a later one, and nothing imports the
//! command line. `../shared/tools/import-circles` checks that there is no circle.

// Building blocks: they import nothing of keypool's.
pub mod atomic_file; // a reader sees the old file or the new one, never half
pub mod body; // body types, the replayable request body, plain-text answers
pub mod bounds; // how far a number from outside may reach
pub mod clock; // wall-clock time behind a trait, for tests
pub mod echo; // client text repeated in a refusal, made safe
pub mod egress; // which addresses keypool may connect to
pub mod failure; // why a command failed, as its exit code tells it
pub mod headers; // hop-by-hop headers
pub mod logging; // log setup; secrets never reach a log
pub mod rewind; // a stream with sniffed bytes put back in front
pub mod secret; // `env:VAR`, `!command` and literal credentials
pub mod serde_message; // serde's error text without the values it quotes
pub mod sigv4; // AWS SigV4: a request re-signed for the account that sends it
pub mod splice; // two byte streams joined: blind tunnels, WebSockets
pub mod target; // where a proxied request goes
pub mod trim; // freed heap given back to the kernel after connections go idle
pub mod trust; // the CA in the operating system's trust store

// Providers as data, the config that names them, and what is learned about accounts.
pub mod config; // the config file: model, defaults, validation
pub mod file_lock; // the advisory lock native CLIs take around a refresh
pub mod home; // where keypool keeps its files
pub mod persist; // state.json: what outlives a restart
pub mod providers; // hosts, auth, error dialects, classification, login flavors
pub mod quota; // headroom learned from each answer's headers
pub mod sticky; // which account a conversation or response belongs with
pub mod usage; // tokens read off each answer, priced, kept in usage.db

// Accounts, their credentials, and what every connection shares.
pub mod ca; // the local CA and the leaves it mints
pub mod clients; // per-client pools named by the proxy URL's user
pub mod metrics; // the Prometheus families keypool counts into
pub mod oauth; // subscription logins: tokens, their files, refresh
pub mod pool; // accounts, pools, health, the pick
pub mod probes; // the free quota endpoints of subscriptions, asked in the background
pub mod state; // what every connection of a running proxy shares
pub mod upstream; // the pooled client towards providers

// The listener, read straight down: server → tunnel → intercept → forward.
pub mod admin; // keypool's own pages: `GET /`, status, reload
pub mod admin_access; // who may use keypool's own pages
pub mod client_conn; // one client connection served over HTTP/1.1
pub mod eventstream_peek; // the same for an AWS event stream's first message
pub mod fd_limit; // the open-file limit
pub mod forward; // the request pipeline: phases over one Exchange
pub mod intercept; // TLS termination for provider hosts
pub mod reload; // the config read again and put in force
pub mod server; // accepts connections and routes each request
pub mod status_report; // the JSON of keypool's own pages, shared with the CLI
pub mod stream_peek; // holds an event stream for its first event
pub mod tunnel; // CONNECT: intercept provider hosts, tunnel the rest blind

// The command line, at the top: nothing imports it.
pub mod accounts_view; // `keypool accounts list`
pub mod admin_client; // the CLI's side of keypool's own endpoints
pub mod cli; // the command tree and each command
pub mod doctor; // `keypool doctor`: does each runtime go through keypool, and why not
pub mod envvars; // the environment that points a client at keypool
pub mod import; // `keypool accounts import`
pub mod login; // `keypool login`
pub mod status_view; // `keypool status`
pub mod usage_view; // `keypool usage`

#[cfg(test)]
mod test_logs;

pub use config::Config;
pub use home::Home;
pub use server::{start, ProxyOptions, RunningProxy};
