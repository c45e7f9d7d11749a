#![allow(dead_code)]
//! Shared test support: a throwaway CA, a fake LLM provider upstream, a fake
//! OAuth server for the subscription providers, and keypool in-process.
//! Each test binary uses a subset, hence `dead_code` is allowed.

pub mod bedrock;
pub mod binary;
pub mod browser;
pub mod ca;
pub mod client_http;
pub mod config_files;
pub mod fake;
pub mod fault;
pub mod guard;
pub mod guarded;
pub mod https;
pub mod keypool;
pub mod kilo_cline;
pub mod login;
pub mod logs;
pub mod oauth;
pub mod raw_client;
pub mod scenario;
pub mod sigv4;
pub mod usage;
pub mod websocket;

#[allow(unused_imports)]
pub use ca::TestCa;
#[allow(unused_imports)]
pub use fake::{
    every_host, Behaviour, FakeProvider, Owner, Registrar, SeenRequest, Service, StreamFault,
    PROVIDER_HOSTS, RAW_SSE, SUBSCRIPTION_HOSTS,
};
#[allow(unused_imports)]
pub use oauth::{DeviceAnswer, FakeOAuth, Flavor, Grant, Identity, OAuthRequest, OAUTH_HOSTS};

/// The account keypool says answered (`x-keypool-account`).
pub fn account_of(r: &reqwest::Response) -> String {
    r.headers()["x-keypool-account"]
        .to_str()
        .expect("x-keypool-account is text")
        .to_string()
}
