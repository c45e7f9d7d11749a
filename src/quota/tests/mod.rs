//! Passive quota learning, one file per header family; the helpers they share.

use super::*;
use crate::providers::Dialect;
use http::{HeaderMap, HeaderName, HeaderValue};
use std::time::{Duration, SystemTime};

mod anthropic;
mod codex;
mod fuzz;
mod google_body;
mod tightest;
mod units;
mod x_ratelimit;

/// 2027-01-15T08:00:00Z.
const NOW_SECS: u64 = 1_800_000_000;

fn now() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(NOW_SECS)
}

fn at(epoch_secs: u64) -> Option<SystemTime> {
    Some(SystemTime::UNIX_EPOCH + Duration::from_secs(epoch_secs))
}

fn in_ms(ms: u64) -> Option<SystemTime> {
    Some(now() + Duration::from_millis(ms))
}

/// Header names as servers spell them (any case); `HeaderMap` lower-cases them.
fn h(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut m = HeaderMap::new();
    for (k, v) in pairs {
        m.append(
            HeaderName::from_bytes(k.as_bytes()).unwrap(),
            HeaderValue::from_str(v).unwrap(),
        );
    }
    m
}

fn learn_with(dialect: Dialect, pairs: &[(&str, &str)]) -> Vec<Window> {
    learn(dialect, &h(pairs), now())
}

fn get<'a>(ws: &'a [Window], name: &str) -> &'a Window {
    ws.iter()
        .find(|w| w.name == name)
        .unwrap_or_else(|| panic!("no window {name} in {ws:#?}"))
}

fn approx(a: Option<f64>, b: f64) {
    let a = a.expect("a utilization");
    assert!((a - b).abs() < 1e-9, "{a} != {b}");
}
