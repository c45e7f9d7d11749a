#![allow(dead_code)]
//! Shared test support: a throwaway CA and a fake LLM provider upstream.
//! Each test binary uses a subset, hence `dead_code` is allowed.

pub mod ca;
pub mod fake;
pub mod https;
pub mod keypool;

#[allow(unused_imports)]
pub use ca::TestCa;
#[allow(unused_imports)]
pub use fake::{
    every_host, Behaviour, FakeProvider, Owner, Registrar, SeenRequest, Service, PROVIDER_HOSTS,
    SUBSCRIPTION_HOSTS,
};
