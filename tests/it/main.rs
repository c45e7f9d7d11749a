//! The integration tests: one binary, so the suite links once. Each module is one
//! area of behaviour; `support` holds the fakes, the test CA and keypool harnesses.

mod support;

mod access;
mod admin_access;
mod bypass_attempts;
mod ca_constraints;
mod ca_rotation;
mod cli;
mod clients;
mod connection_reuse;
mod credential_swap;
mod dir_modes;
mod error_body_faults;
mod fake_smoke;
mod fallback;
mod faults;
mod fd_limit;
mod fuzz_parsers;
mod hostile_clients;
mod hostile_numbers;
mod import;
mod login;
mod login_saving;
mod net_fuzz;
mod oauth;
mod oauth_fake_smoke;
mod persist;
mod plain_http;
mod proxy;
mod reload;
mod response_pins;
mod restore;
mod scope;
mod sdk;
mod secret_errors;
mod secret_logs;
mod shutdown_idle;
mod signal_race;
mod ssrf;
mod status;
mod sticky;
mod stream_breaks_sdk;
mod stream_errors;
mod subscription_refusals;
mod tls;
