//! The pipeline's pure parts: where a request goes, what goes upstream, which pool and
//! account come next, and the answers keypool writes itself.

use super::*;
use crate::config::Config;
use crate::oauth::store::Store;
use crate::pool::Pools;
use std::path::Path;

fn target(scheme: &'static str, host: &str, port: u16) -> Target {
    Target {
        scheme,
        host: host.to_string(),
        port,
        client: None,
    }
}

fn pools(text: &str) -> Pools {
    let c = Config::parse(text, Path::new("t.toml")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    Pools::build(&c, &Store::at(dir.path().join("credentials.json")))
}

fn accounts(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| {
            format!("[[accounts]]\nname = \"{n}\"\nprovider = \"openai\"\napi_key = \"sk-{n}\"\n")
        })
        .collect()
}

/// keypool's answers as the pipeline makes them, rendered.
fn all_limited(provider: &Provider, pool: &Pool, why: &Unavailable) -> Response<ProxyBody> {
    let (dialect, pool, why) = (provider.dialect, pool.name.clone(), why.clone());
    let answer = KeypoolAnswer::AllLimited {
        dialect,
        pool,
        why,
        attempts: 0,
    };
    answer.into_response()
}

fn bad_gateway(
    dialect: Option<Dialect>,
    target: &Target,
    e: &(dyn std::error::Error + 'static),
) -> Response<ProxyBody> {
    KeypoolAnswer::unreachable(dialect, target, e).into_response()
}

fn broke(
    dialect: Dialect,
    target: &Target,
    tried: &[(String, Broken)],
    read_timeout: Duration,
) -> Response<ProxyBody> {
    let answer = KeypoolAnswer::Broke {
        dialect,
        host: target.host.clone(),
        port: target.port,
        tried: tried.to_vec(),
        read_timeout,
        attempts: tried.len(),
    };
    answer.into_response()
}

fn oversized_error(dialect: Dialect, target: &Target, status: StatusCode) -> Response<ProxyBody> {
    let (host, port) = (target.host.clone(), target.port);
    let answer = KeypoolAnswer::ErrorTooLarge {
        dialect,
        host,
        port,
        status,
    };
    answer.into_response()
}

async fn body_text(resp: Response<ProxyBody>) -> String {
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8(bytes.to_vec()).unwrap()
}

#[test]
fn content_length_is_read_only_when_it_is_a_number() {
    let parts = |v: Option<&str>| {
        let mut b = Request::builder();
        if let Some(v) = v {
            b = b.header(CONTENT_LENGTH, v);
        }
        b.body(()).unwrap().into_parts().0
    };
    assert_eq!(content_length(&parts(Some("1234"))), Some(1234));
    assert_eq!(content_length(&parts(None)), None);
    assert_eq!(content_length(&parts(Some("lots"))), None);
}

#[tokio::test]
async fn decorate_names_the_account_and_attempts_and_drops_hop_by_hop() {
    let mut resp = Response::new(full("x"));
    resp.headers_mut()
        .insert("connection", HeaderValue::from_static("keep-alive"));
    resp.headers_mut()
        .insert("keep-alive", HeaderValue::from_static("timeout=5"));
    let resp = decorate(resp, Some("work"), 3, false);
    let h = resp.headers();
    assert_eq!(h["x-keypool-account"], "work");
    assert_eq!(h["x-keypool-attempts"], "3");
    assert!(!h.contains_key("keep-alive") && !h.contains_key("connection"));
    let upgraded = decorate(Response::new(full("")), None, 1, true);
    assert_eq!(upgraded.headers()["upgrade"], "websocket");
    assert!(!upgraded.headers().contains_key("x-keypool-account"));
    assert_eq!(body_text(resp).await, "x");
}

#[tokio::test]
async fn all_limited_says_when_the_first_account_frees() {
    let p = pools(&accounts(&["a"]));
    let pool = p.by_name("openai").unwrap();
    let cooling = Unavailable {
        first_free_in: Some(Duration::from_millis(1500)),
        summary: "a (rate-limited)".into(),
    };
    let resp = all_limited(&pool.provider, pool, &cooling);
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(resp.headers()[RETRY_AFTER], "2");
    assert_eq!(resp.headers()[CONTENT_TYPE], "application/json");
    assert_eq!(resp.headers()["x-keypool-attempts"], "0");
    let text = body_text(resp).await;
    assert!(text.contains("rate_limit_exceeded"), "{text}");
    assert!(
        text.contains("pool 'openai' is limited: a (rate-limited). The first frees in 2s"),
        "{text}"
    );

    let disabled = Unavailable {
        first_free_in: None,
        summary: "a (disabled)".into(),
    };
    let resp = all_limited(&pool.provider, pool, &disabled);
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert!(!resp.headers().contains_key(RETRY_AFTER));
    let text = body_text(resp).await;
    assert!(
        text.contains("invalid_api_key") && text.contains("no usable account"),
        "{text}"
    );
}

#[tokio::test]
async fn a_limited_answer_counts_the_attempts_made_before_it() {
    let p = pools(&accounts(&["a", "b"]));
    let pool = p.by_name("openai").unwrap();
    let why = Unavailable {
        first_free_in: Some(Duration::from_secs(30)),
        summary: "a (rate-limited), b (rate-limited)".into(),
    };
    for pinned in [false, true] {
        let (dialect, name, why) = (pool.provider.dialect, pool.name.clone(), why.clone());
        let answer = match pinned {
            false => KeypoolAnswer::AllLimited {
                dialect,
                pool: name,
                why,
                attempts: 2,
            },
            true => KeypoolAnswer::PinnedLimited {
                dialect,
                pool: name,
                why,
                attempts: 2,
            },
        };
        let resp = answer.into_response();
        assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(
            resp.headers()["x-keypool-attempts"],
            "2",
            "pinned: {pinned}"
        );
        assert!(!resp.headers().contains_key("x-keypool-account"));
    }
}

#[tokio::test]
async fn bad_gateway_tells_a_timeout_from_a_reset() {
    let t = target("https", "api.openai.com", 443);
    let reset = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset by peer");
    let resp = bad_gateway(Some(Dialect::Openai), &t, &reset);
    assert_eq!(resp.status(), StatusCode::BAD_GATEWAY);
    assert_eq!(resp.headers()[CONTENT_TYPE], "application/json");
    let text = body_text(resp).await;
    assert!(
        text.contains("cannot reach api.openai.com:443: reset by peer"),
        "{text}"
    );
    assert!(text.contains("a firewall or a corporate proxy"), "{text}");

    let slow = std::io::Error::new(std::io::ErrorKind::TimedOut, "timed out");
    let resp = bad_gateway(None, &t, &slow);
    assert_eq!(resp.status(), StatusCode::GATEWAY_TIMEOUT);
    assert!(resp.headers()[CONTENT_TYPE]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    let text = body_text(resp).await;
    assert!(
        text.contains("raise [upstream] connect_timeout or read_timeout"),
        "{text}"
    );
}

#[tokio::test]
async fn broke_names_every_account_tried_and_the_last_failure() {
    let t = target("https", "api.openai.com", 443);
    let reset = |reason: &str| Broken {
        timed_out: false,
        reason: reason.into(),
    };
    let silent = Broken {
        timed_out: true,
        reason: "read timed out".into(),
    };
    let one = [("a".to_string(), reset("connection reset"))];
    let resp = broke(Dialect::Anthropic, &t, &one, Duration::from_secs(30));
    assert_eq!(resp.status(), StatusCode::BAD_GATEWAY);
    let text = body_text(resp).await;
    assert!(text.contains("api_error"), "{text}");
    assert!(
        text.contains(concat!(
            "api.openai.com:443 broke the connection before its answer began ",
            "(connection reset); tried account a; fix: check the network"
        )),
        "{text}"
    );
    let two = [("a".to_string(), reset("x")), ("b".to_string(), silent)];
    let resp = broke(Dialect::Openai, &t, &two, Duration::from_secs(30));
    assert_eq!(resp.status(), StatusCode::GATEWAY_TIMEOUT);
    let text = body_text(resp).await;
    assert!(text.contains("upstream_timeout"), "{text}");
    assert!(
        text.contains(
            "sent nothing for 30s before its answer began (read timed out); tried accounts a, b"
        ),
        "{text}"
    );
}

#[tokio::test]
async fn an_oversized_error_is_a_502_naming_the_cap() {
    assert_eq!(attempt::ERROR_BODY_CAP, 1024 * 1024);
    let t = target("https", "api.openai.com", 443);
    let resp = oversized_error(Dialect::Openai, &t, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(resp.status(), StatusCode::BAD_GATEWAY);
    let text = body_text(resp).await;
    assert!(
        text.contains("answered 429 with a body over 1024 KiB"),
        "{text}"
    );
}

fn edit_parts(uri: &str, headers: &[(&str, &str)]) -> Parts {
    let mut b = Request::builder().method("POST").uri(uri);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    b.body(()).unwrap().into_parts().0
}

#[tokio::test]
async fn upstream_request_carries_the_accounts_key_and_nothing_hop_by_hop() {
    let p = pools(&accounts(&["a"]));
    let pool = p.by_name("openai").unwrap();
    let account = &pool.members[0];
    let parts = edit_parts(
        "/v1/chat/completions?x=1",
        &[
            ("authorization", "Bearer sk-client"),
            ("host", "api.openai.com"),
            ("expect", "100-continue"),
            ("keep-alive", "timeout=5"),
            ("content-length", "99"),
        ],
    );
    let t = target("https", "api.openai.com", 443);
    let cred = Cred::Key(SecretString::from("sk-account".to_string()));
    let edit = Edit {
        provider: &pool.provider,
        account,
        cred: &cred,
    };
    let req = upstream_request(&parts, &t, Some(edit), full("{}"));
    assert_eq!(req.uri(), "https://api.openai.com/v1/chat/completions?x=1");
    assert_eq!(req.method(), "POST");
    assert_eq!(req.version(), Version::HTTP_11);
    let h = req.headers();
    assert_eq!(h["authorization"], "Bearer sk-account");
    assert_eq!(h[HOST], "api.openai.com");
    assert_eq!(h[CONTENT_LENGTH], "2", "the length of the body that goes");
    assert!(!h.contains_key("expect") && !h.contains_key("keep-alive"));

    // Without an account the client's own credential goes, to the target's authority.
    let t = target("http", "localhost", 8080);
    let req = upstream_request(&parts, &t, None, full("{}"));
    assert_eq!(req.uri(), "http://localhost:8080/v1/chat/completions?x=1");
    assert_eq!(req.headers()["authorization"], "Bearer sk-client");
    assert_eq!(req.headers()[HOST], "localhost:8080");
}

fn chain() -> Pools {
    let pool = |name: &str, acct: &str, fallback: &str| {
        format!(
            "[[pools]]\nname = \"{name}\"\nprovider = \"openai\"\naccounts = [\"{acct}\"]\n{}",
            format_args!("fallback = [{fallback}]\n")
        )
    };
    pools(&format!(
        "{}{}{}{}",
        accounts(&["a", "b", "c"]),
        pool("work", "a", "\"personal\", \"spare\""),
        pool("personal", "b", "\"spare\""),
        pool("spare", "c", "")
    ))
}

#[test]
fn fallback_pools_go_in_order_skip_visited_and_guarded_ones() {
    let p = chain();
    let path = "/v1/chat/completions";
    let next = |visited: &[&str], may: &dyn Fn(&str) -> bool| {
        let index = |name: &&str| p.by_name(name).expect("a pool of the chain").index;
        let visited: Vec<usize> = visited.iter().map(index).collect();
        next_fallback(&p, &visited, None, path, may).map(|p| p.name.clone())
    };
    assert_eq!(next(&["work"], &|_| true).as_deref(), Some("personal"));
    assert_eq!(
        next(&["work", "personal"], &|_| true).as_deref(),
        Some("spare")
    );
    assert_eq!(next(&["work", "personal", "spare"], &|_| true), None);
    assert_eq!(
        next(&["work"], &|n| n != "personal").as_deref(),
        Some("spare")
    );
    assert_eq!(next(&["work"], &|_| false), None);
}

#[test]
fn a_request_is_held_only_while_the_wait_fits_in_hold_max() {
    let p = pools(&format!(
        "{}[[pools]]\nname = \"p\"\nprovider = \"openai\"\n{}",
        accounts(&["a"]),
        "accounts = [\"a\"]\nhold_max = \"30s\"\n",
    ));
    let pool = p.by_name("p").unwrap();
    let why = |secs: Option<u64>| Unavailable {
        first_free_in: secs.map(Duration::from_secs),
        summary: String::new(),
    };
    let s = Duration::from_secs;
    assert_eq!(hold_for(pool, &why(Some(10)), s(0), true), Some(s(10)));
    assert_eq!(
        hold_for(pool, &why(Some(10)), s(20), true),
        Some(s(10)),
        "exactly hold_max"
    );
    assert_eq!(hold_for(pool, &why(Some(10)), s(21), true), None);
    assert_eq!(
        hold_for(pool, &why(Some(10)), s(0), false),
        None,
        "a streamed body"
    );
    assert_eq!(
        hold_for(pool, &why(None), s(0), true),
        None,
        "every account disabled"
    );
    assert_eq!(
        hold_for(pool, &why(Some(0)), s(0), true),
        Some(Duration::from_millis(10)),
        "never a busy loop"
    );
    let p = pools(&accounts(&["a"]));
    let unheld = p.by_name("openai").unwrap();
    assert_eq!(hold_for(unheld, &why(Some(1)), s(0), true), None);
}

#[test]
fn a_pinned_request_gets_its_accounts_limit_not_another_account() {
    let p = pools(&accounts(&["a", "b"]));
    let pool = p.by_name("openai").unwrap();
    let now = std::time::SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
    let pinned_to = |name: &str| crate::sticky::Route {
        pinned: Some(crate::sticky::Pinned {
            account: name.into(),
            reason: crate::sticky::PinReason::PreviousResponse,
        }),
        ..Default::default()
    };
    let (a, b) = (&pool.members[0], &pool.members[1]);
    assert!(pinned_elsewhere(pool, &crate::sticky::Route::default(), b, now).is_none());
    assert!(
        pinned_elsewhere(pool, &pinned_to("a"), a, now).is_none(),
        "picked the pinned one"
    );
    assert!(
        pinned_elsewhere(pool, &pinned_to("gone"), b, now).is_none(),
        "no longer in the pool"
    );

    let busy = pinned_elsewhere(pool, &pinned_to("a"), b, now).unwrap();
    assert_eq!(busy.first_free_in, Some(Duration::from_secs(1)));
    assert!(busy.summary.ends_with("it is busy"), "{}", busy.summary);
    a.cool(Duration::from_secs(40), now, "429".into());
    let why = pinned_elsewhere(pool, &pinned_to("a"), b, now).unwrap();
    assert_eq!(why.first_free_in, Some(Duration::from_secs(40)));
    assert!(
        why.summary
            .contains("only account 'a' holds (PreviousResponse), and it is limited (429)"),
        "{}",
        why.summary
    );
    a.disable("key revoked".into());
    let why = pinned_elsewhere(pool, &pinned_to("a"), b, now).unwrap();
    assert_eq!(why.first_free_in, None);
    assert!(
        why.summary.ends_with("it is disabled: key revoked"),
        "{}",
        why.summary
    );
}

#[test]
fn a_key_credential_leaves_the_body_as_is() {
    let key = Cred::Key(SecretString::from("sk-a".to_string()));
    assert!(key.edit_body(&bytes::Bytes::from_static(b"{}")).is_none());
}
