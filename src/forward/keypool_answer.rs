//! keypool's own answers, as one type: every account limited or disabled, the upstream
//! unreachable or broken before answering, an error body too large to pass on, a request
//! body that could not be read, the requests refused before anything is looked up, and
//! the one success keypool answers itself: `keypool doctor`'s reserved path.

use super::*;

/// An answer keypool makes itself instead of passing on an upstream's. Each variant
/// carries the facts; [`KeypoolAnswer::into_response`] writes it in the provider's error
/// dialect (so the client's SDK reports it like the provider's own), or as plain text
/// where the host is no provider's, with its status and headers.
#[derive(Debug)]
pub(super) enum KeypoolAnswer {
    /// Every account of the pool is cooling (429 and when the first frees) or disabled
    /// (401). `attempts`: the sends this request made before finding so.
    AllLimited {
        dialect: Dialect,
        pool: String,
        why: Unavailable,
        attempts: usize,
    },
    /// The request continues state only one account holds, and that account is limited:
    /// the client gets its limit rather than a confusing error from another account.
    PinnedLimited {
        dialect: Dialect,
        pool: String,
        why: Unavailable,
        attempts: usize,
    },
    /// The upstream could not be reached: a 502, or a 504 when it was a timeout.
    Unreachable {
        dialect: Option<Dialect>,
        host: String,
        port: u16,
        reason: String,
        timed_out: bool,
    },
    /// The destination is one keypool must not connect to (itself, a private address).
    EgressRefused {
        host: String,
        port: u16,
        refused: crate::egress::Refused,
    },
    /// Every account tried broke the same way before its answer began: a 504 when the
    /// last was a timeout, else a 502.
    Broke {
        dialect: Dialect,
        host: String,
        port: u16,
        tried: Vec<(String, Broken)>,
        read_timeout: Duration,
        attempts: usize,
    },
    /// An error answer larger than keypool reads: no provider sends one, and replaying it
    /// elsewhere would only repeat it.
    ErrorTooLarge {
        dialect: Dialect,
        host: String,
        port: u16,
        status: StatusCode,
    },
    /// The client's request body could not be read: 408 when it went silent, else 400.
    BodyUnreadable { stalled: bool, reason: String },
    /// A body over the replay limit, for an IAM account: SigV4 signs the whole body, which
    /// keypool did not hold. A 413 naming the limit.
    TooLargeToSign {
        dialect: Dialect,
        account: String,
        limit_mib: u64,
    },
    /// The request could not be signed for the account (a header that is not text, a
    /// region that is none): a 502 naming the part, never a secret.
    SignFailed {
        dialect: Dialect,
        account: String,
        reason: String,
    },
    /// Plain HTTP to a provider: a pooled key would travel in cleartext.
    PlainHttp {
        host: String,
        authority: String,
        path: String,
    },
    /// CONNECT sent inside a tunnel rather than to keypool.
    ConnectInTunnel,
    /// A request target that is no path (`path` is printable already).
    NoPath { path: String, host: String },
    /// The request names another destination than its connection's: nothing was sent.
    Misdirected {
        host: String,
        port: u16,
        named: String,
    },
    /// `GET /_keypool/doctor/<nonce>`: proof for `keypool doctor` that the client came
    /// through keypool (and, `intercepted`, trusted its CA). A 200, never an error.
    Doctor {
        nonce: String,
        intercepted: bool,
        /// The proxy-auth client the request named, if any.
        client: Option<String>,
    },
}

impl KeypoolAnswer {
    /// The upstream was not reached on a request no pool serves: a refused destination
    /// names the rule and its fix, anything else is a 502 (504).
    pub(super) fn not_sent(
        dialect: Option<Dialect>,
        target: &Target,
        e: &(dyn std::error::Error + 'static),
    ) -> KeypoolAnswer {
        match crate::egress::Refused::find(e) {
            Some(refused) => KeypoolAnswer::EgressRefused {
                host: target.host.clone(),
                port: target.port,
                refused: refused.clone(),
            },
            None => KeypoolAnswer::unreachable(dialect, target, e),
        }
    }

    pub(super) fn unreachable(
        dialect: Option<Dialect>,
        target: &Target,
        e: &(dyn std::error::Error + 'static),
    ) -> KeypoolAnswer {
        KeypoolAnswer::Unreachable {
            dialect,
            host: target.host.clone(),
            port: target.port,
            reason: describe_error(e),
            timed_out: crate::upstream::is_timeout(e),
        }
    }

    /// The answer for the client: logged where it says something about the upstream,
    /// then rendered with its status, content type, `retry-after` and `x-keypool-*`.
    pub(super) fn into_response(self) -> Response<ProxyBody> {
        if let KeypoolAnswer::Doctor {
            nonce,
            intercepted,
            client,
        } = self
        {
            return doctor_answer(&nonce, intercepted, client.as_deref());
        }
        self.log();
        let status = self.status();
        let message = self.message();
        let mut resp = match self.dialect() {
            Some(d) => {
                let body = error_response_body(d, self.error_kind(), &message);
                let mut r = Response::new(full(body));
                r.headers_mut()
                    .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
                if let Some((name, value)) = error_type_header(d, self.error_kind()) {
                    r.headers_mut()
                        .insert(name, HeaderValue::from_static(value));
                }
                r
            }
            None => text(status, format!("{message}\n")),
        };
        *resp.status_mut() = status;
        if let Some(wait) = self.retry_after() {
            resp.headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from(ceil_secs(wait).max(1)));
        }
        if let KeypoolAnswer::Misdirected { .. } = self {
            let close = HeaderValue::from_static("close");
            resp.headers_mut().insert(http::header::CONNECTION, close);
        }
        match self.attempts() {
            Some(attempts) => decorate(resp, None, attempts, false),
            None => resp,
        }
    }

    fn status(&self) -> StatusCode {
        use KeypoolAnswer::*;
        match self {
            AllLimited { why, .. } | PinnedLimited { why, .. } => match why.first_free_in {
                Some(_) => StatusCode::TOO_MANY_REQUESTS,
                None => StatusCode::UNAUTHORIZED,
            },
            Unreachable { timed_out, .. } => gateway_status(*timed_out),
            Broke { tried, .. } => gateway_status(tried.last().is_some_and(|(_, b)| b.timed_out)),
            ErrorTooLarge { .. } | SignFailed { .. } => StatusCode::BAD_GATEWAY,
            TooLargeToSign { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            EgressRefused { refused, .. } => refused.status(),
            BodyUnreadable { stalled: true, .. } => StatusCode::REQUEST_TIMEOUT,
            BodyUnreadable { stalled: false, .. } => StatusCode::BAD_REQUEST,
            PlainHttp { .. } | ConnectInTunnel | NoPath { .. } => StatusCode::BAD_REQUEST,
            Misdirected { .. } => StatusCode::MISDIRECTED_REQUEST,
            Doctor { .. } => StatusCode::OK,
        }
    }

    /// The provider whose error shape the answer takes; `None`: plain text.
    fn dialect(&self) -> Option<Dialect> {
        use KeypoolAnswer::*;
        match self {
            AllLimited { dialect, .. } | PinnedLimited { dialect, .. } => Some(*dialect),
            Broke { dialect, .. } | ErrorTooLarge { dialect, .. } => Some(*dialect),
            TooLargeToSign { dialect, .. } | SignFailed { dialect, .. } => Some(*dialect),
            Unreachable { dialect, .. } => *dialect,
            _ => None,
        }
    }

    fn error_kind(&self) -> ErrorKind {
        match self.status() {
            StatusCode::TOO_MANY_REQUESTS => ErrorKind::RateLimit,
            StatusCode::UNAUTHORIZED => ErrorKind::Auth,
            StatusCode::GATEWAY_TIMEOUT => ErrorKind::GatewayTimeout,
            StatusCode::PAYLOAD_TOO_LARGE => ErrorKind::TooLarge,
            _ => ErrorKind::BadGateway,
        }
    }

    /// When to come back: when the first account frees.
    fn retry_after(&self) -> Option<Duration> {
        match self {
            KeypoolAnswer::AllLimited { why, .. } | KeypoolAnswer::PinnedLimited { why, .. } => {
                why.first_free_in
            }
            _ => None,
        }
    }

    /// The sends made, for `x-keypool-attempts`, on the answers given after trying.
    fn attempts(&self) -> Option<usize> {
        use KeypoolAnswer::*;
        match self {
            AllLimited { attempts, .. } | PinnedLimited { attempts, .. } => Some(*attempts),
            Broke { attempts, .. } => Some(*attempts),
            _ => None,
        }
    }

    fn log(&self) {
        match self {
            KeypoolAnswer::Unreachable { host, reason, .. } => {
                tracing::warn!(host = %host, "upstream request failed: {reason}");
            }
            KeypoolAnswer::Broke { host, .. } | KeypoolAnswer::ErrorTooLarge { host, .. } => {
                tracing::warn!(host = %host, "{}", self.message());
            }
            KeypoolAnswer::TooLargeToSign { account, .. }
            | KeypoolAnswer::SignFailed { account, .. } => {
                tracing::warn!(account = %account, "{}", self.message());
            }
            KeypoolAnswer::EgressRefused {
                host,
                port,
                refused,
            } => tracing::info!(host = %host, port = *port, "{refused}"),
            _ => {}
        }
    }
}

/// The doctor's answer. `x-keypool-doctor` repeats the nonce for clients that show
/// headers but not bodies (git's trace).
fn doctor_answer(nonce: &str, intercepted: bool, client: Option<&str>) -> Response<ProxyBody> {
    let body = serde_json::json!({
        "keypool": env!("CARGO_PKG_VERSION"),
        "doctor": nonce,
        "intercepted": intercepted,
        "client": client,
    });
    let mut r = Response::new(full(body.to_string()));
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    if let Ok(v) = HeaderValue::from_str(nonce) {
        r.headers_mut().insert("x-keypool-doctor", v);
    }
    r
}

fn gateway_status(timed_out: bool) -> StatusCode {
    match timed_out {
        true => StatusCode::GATEWAY_TIMEOUT,
        false => StatusCode::BAD_GATEWAY,
    }
}

impl KeypoolAnswer {
    /// What happened and what to do, in the words the tests and the users know.
    fn message(&self) -> String {
        use KeypoolAnswer::*;
        match self {
            AllLimited { pool, why, .. } | PinnedLimited { pool, why, .. } => limited(pool, why),
            Unreachable {
                host,
                port,
                reason,
                timed_out,
                ..
            } => {
                let fix = match timed_out {
                    true => concat!(
                        "check the network; if the provider is only slow, ",
                        "raise [upstream] connect_timeout or read_timeout"
                    ),
                    false => concat!(
                        "check the network, a firewall or a corporate proxy ",
                        "(its CA goes in [upstream] extra_ca)"
                    ),
                };
                format!("keypool: cannot reach {host}:{port}: {reason}; fix: {fix}")
            }
            EgressRefused { refused, .. } => refused.to_string(),
            Broke {
                host,
                port,
                tried,
                read_timeout,
                ..
            } => broke(host, *port, tried, *read_timeout),
            ErrorTooLarge {
                host, port, status, ..
            } => format!(
                concat!(
                    "keypool: {}:{} answered {} with a body over {} KiB, which keypool does ",
                    "not pass on; fix: retry later, and report it to the provider if it persists"
                ),
                host,
                port,
                status.as_u16(),
                ERROR_BODY_CAP / 1024,
            ),
            BodyUnreadable { reason, .. } => {
                format!("keypool: could not read the request body: {reason}")
            }
            TooLargeToSign { .. } | SignFailed { .. } => self.unsigned(),
            PlainHttp {
                host,
                authority,
                path,
            } => format!(
                concat!(
                    "keypool: refused to send a request to {} over plain HTTP: API keys would ",
                    "travel unencrypted; fix: use https://{}{} (set the client's base URL to https)"
                ),
                host, authority, path
            ),
            ConnectInTunnel => concat!(
                "keypool: CONNECT inside a tunnel is refused; fix: send CONNECT to keypool ",
                "itself, on a connection of its own"
            )
            .to_string(),
            NoPath { path, host } => format!(
                "keypool: a request for '{path}' names no path on {host}; {}",
                "fix: send requests for a path such as /v1/…"
            ),
            Misdirected { host, port, named } => format!(
                concat!(
                    "keypool: this connection goes to {}:{}, and the request names another ",
                    "destination ('{}'); nothing was sent; fix: open a connection (CONNECT) ",
                    "to that host for it"
                ),
                host, port, named
            ),
            Doctor { nonce, .. } => format!("keypool: doctor check {nonce}"),
        }
    }
}

impl KeypoolAnswer {
    /// Why a request for an IAM account was not signed.
    fn unsigned(&self) -> String {
        match self {
            KeypoolAnswer::TooLargeToSign {
                account, limit_mib, ..
            } => format!(
                concat!(
                    "keypool: the request body is over {} MiB, which keypool does not hold, ",
                    "and account '{}' signs requests (SigV4), which covers the whole body; ",
                    "fix: raise [limits] replay_body_mib above the body's size, or use an ",
                    "account with a Bedrock API key (api_key)"
                ),
                limit_mib, account
            ),
            KeypoolAnswer::SignFailed {
                account, reason, ..
            } => format!("keypool: cannot sign the request for account '{account}': {reason}"),
            _ => String::new(),
        }
    }
}

fn limited(pool: &str, why: &Unavailable) -> String {
    match why.first_free_in {
        Some(wait) => format!(
            "keypool: every account in pool '{pool}' is limited: {}. The first frees in {}s.",
            why.summary,
            ceil_secs(wait).max(1)
        ),
        None => format!(
            concat!(
                "keypool: no usable account in pool '{}': {}. Do what each reason says ",
                "(fix the key, or log in again), then `keypool reload`."
            ),
            pool, why.summary
        ),
    }
}

fn broke(host: &str, port: u16, tried: &[(String, Broken)], read_timeout: Duration) -> String {
    let Some((_, last)) = tried.last() else {
        unreachable!("a Broke answer follows a failed attempt");
    };
    let accounts: Vec<&str> = tried.iter().map(|(a, _)| a.as_str()).collect();
    let (what, fix) = if last.timed_out {
        (
            format!("sent nothing for {}s", read_timeout.as_secs()),
            "if the provider is only slow, raise [upstream] read_timeout; else check the network",
        )
    } else {
        (
            "broke the connection".to_string(),
            "check the network and the provider's status, then retry",
        )
    };
    format!(
        concat!(
            "keypool: {}:{} {} before its answer began ({}); tried account{} {}; ",
            "fix: {}"
        ),
        host,
        port,
        what,
        last.reason,
        if accounts.len() == 1 { "" } else { "s" },
        accounts.join(", "),
        fix,
    )
}
