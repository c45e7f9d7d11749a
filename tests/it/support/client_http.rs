//! Which HTTP the suite's clients speak inside keypool's tunnels: HTTP/1.1, as most SDKs
//! do, unless `KEYPOOL_TEST_HTTP=2` forces HTTP/2 on every proxied client, so the same
//! tests run over both (`.ci/run` runs the suite once each way).

/// What the suite asks for this run.
pub fn forced_h2() -> bool {
    match std::env::var("KEYPOOL_TEST_HTTP").as_deref() {
        Ok("2") => true,
        Ok("1.1") | Ok("") | Err(_) => false,
        Ok(other) => panic!("KEYPOOL_TEST_HTTP={other}: use 2 or 1.1"),
    }
}

/// `builder` for a client whose requests go through keypool: HTTP/2 with prior
/// knowledge (the TLS handshake offers only `h2`), or HTTP/1.1 only.
pub fn through_keypool(builder: reqwest::ClientBuilder) -> reqwest::ClientBuilder {
    if forced_h2() {
        builder.http2_prior_knowledge()
    } else {
        builder.http1_only()
    }
}

/// The version every answer through keypool must carry this run.
pub fn expected_version() -> reqwest::Version {
    if forced_h2() {
        reqwest::Version::HTTP_2
    } else {
        reqwest::Version::HTTP_11
    }
}
