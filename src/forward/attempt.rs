//! The attempt phase: one account's turn at a request. Send (twice when a refused
//! subscription token is refreshed), learn the quota the answer reports, classify what
//! came back (an error status, or a held stream's first event), and record it.

use super::*;
use crate::providers::{terminal, Outcome};

/// What one account's turn ended with.
pub(super) enum Turn {
    /// The answer for the client, decorated: a success, an error that is not about the
    /// account, or a stream already on its way.
    Answer(Response<ProxyBody>),
    /// The account refused or is limited (`Some`: mark it so), or its login gave out
    /// (`None`). `resp` is the client's answer when the request cannot be replayed.
    Refused(Response<ProxyBody>, Option<Outcome>),
    /// The connection failed before anything of the answer reached the client.
    Broke(Broken),
    /// keypool answers itself: the upstream is unreachable (the same for every account),
    /// or sent an error too large to pass on.
    Own(KeypoolAnswer),
}

/// An upstream connection that failed before the answer began: no status, or a held
/// stream that broke before its first event. Nothing about the account's quota.
#[derive(Debug, Clone)]
pub(super) struct Broken {
    /// The read (or connect) timeout ran out, rather than a reset or a framing error.
    pub(super) timed_out: bool,
    pub(super) reason: String,
}

impl Broken {
    pub(super) fn from_error(e: &(dyn std::error::Error + 'static)) -> Broken {
        Broken {
            timed_out: crate::upstream::is_timeout(e),
            reason: describe_error(e),
        }
    }
}

impl Exchange<'_> {
    /// Runs once per round, after the credential. Sends the request on `account` (twice
    /// when a refused subscription token is refreshed), classifies the answer, and records
    /// what it says of the account: a limit marks it in the pool, a broken connection is
    /// added to `broken`. `attempts` counts each send.
    pub(super) async fn attempt(
        &mut self,
        idx: usize,
        account: &Account,
        cred: Cred,
        now: SystemTime,
    ) -> Turn {
        let turn = self.send(account, cred, now).await;
        if matches!(&turn, Turn::Answer(r) if r.status().is_success()) {
            account.stats.served(now);
        }
        let result = turn_result(&turn);
        let m = &self.state.metrics;
        m.attempt(&self.provider.id, &self.pool.name, &account.name, result);
        match &turn {
            Turn::Refused(_, Some(outcome)) => {
                self.refusals.push(result);
                m.rotation(&self.provider.id, &self.pool.name, result);
                self.pool.mark(idx, outcome, now);
                tracing::info!(
                    provider = %self.provider.id,
                    account = %account.name,
                    "{}: account sits out {}s ({:?})",
                    outcome.detail,
                    ceil_secs(outcome.cooldown()),
                    outcome.verdict,
                );
            }
            Turn::Broke(broken) => {
                // Nothing about this account's quota: it is not marked.
                let why = format!("upstream failed before answering: {}", broken.reason);
                tracing::info!(account = %account.name, "{why}");
                self.refusals.push(result);
                m.rotation(&self.provider.id, &self.pool.name, result);
                account.stats.failed(now, &why);
                self.broken.push((account.name.clone(), broken.clone()));
            }
            Turn::Answer(_) | Turn::Own(_) | Turn::Refused(_, None) => {}
        }
        turn
    }

    /// Sends on `account` with `cred` until the answer says what to do: once, or again
    /// after refreshing a refused subscription token.
    async fn send(&mut self, account: &Account, mut cred: Cred, now: SystemTime) -> Turn {
        let mut refreshed = false;
        loop {
            let req = match self.request_for(account, &cred) {
                Ok(req) => req,
                Err(answer) => return Turn::Own(answer),
            };
            self.attempts += 1;
            account.stats.sent();
            let resp = match self.state.upstream.send(req).await {
                Ok(r) => r,
                // Unreachable: the same for every account, so no other is tried; unless
                // each account has a host of its own (another resource may answer).
                Err(e) if e.is_connect() && self.provider.placement.host.is_none() => {
                    let dialect = Some(self.dialect);
                    return Turn::Own(KeypoolAnswer::unreachable(dialect, self.target, &e));
                }
                Err(e) => return Turn::Broke(Broken::from_error(&e)),
            };
            let dialect = self.dialect;
            account.learn(crate::quota::learn(dialect, resp.headers(), now));
            if !needs_body(dialect, resp.status()) {
                return self.success(resp, account, now).await;
            }
            let (resp, outcome) = match self.error_status(resp, &cred, account, now).await {
                Ok(x) => x,
                Err(turn) => return turn,
            };
            // A refused subscription token: refresh once and send again on this account.
            if let (Verdict::AuthFailed, Cred::OAuth(used), Credential::OAuth(o)) =
                (outcome.verdict, &cred, &account.credential)
            {
                if !refreshed && self.body.replayable() {
                    refreshed = true;
                    match o.after_unauthorized(&ctx(self.state), &used.token).await {
                        Ok(fresh) => {
                            tracing::info!(
                                account = %account.name,
                                "{}: refreshed the token, sending again",
                                outcome.detail
                            );
                            cred = Cred::OAuth(fresh);
                            continue;
                        }
                        Err(e) => {
                            give_up(account, e, self.state);
                            return Turn::Refused(resp, None);
                        }
                    }
                }
            }
            if !outcome.verdict.rotates() {
                let attempts = self.attempts;
                return Turn::Answer(decorate(resp, Some(&account.name), attempts, false));
            }
            return Turn::Refused(resp, Some(outcome));
        }
    }

    /// The request as it goes to `account`: its credential in place, and for IAM
    /// credentials the whole request signed for the account's region right now, so a
    /// replay on another account carries that account's signature and a fresh date.
    fn request_for(
        &mut self,
        account: &Account,
        cred: &Cred,
    ) -> Result<Request<ProxyBody>, KeypoolAnswer> {
        let dialect = self.dialect;
        if matches!(cred, Cred::Aws(_)) && !self.body.replayable() {
            return Err(KeypoolAnswer::TooLargeToSign {
                dialect,
                account: account.name.clone(),
                limit_mib: self.state.limits.replay_body_mib,
            });
        }
        let edit = Edit {
            provider: &self.provider,
            account,
            cred,
        };
        let body = self.body.for_attempt(|b| cred.edit_body(b));
        let mut req = upstream_request(&self.parts, self.target, Some(edit), body);
        let Cred::Aws(creds) = cred else {
            return Ok(req);
        };
        let sign_failed = |reason: String| KeypoolAnswer::SignFailed {
            dialect,
            account: account.name.clone(),
            reason,
        };
        let region = account.place.get(crate::providers::PlaceKey::Region);
        let (Some(region), Some(service)) = (region, self.provider.sigv4) else {
            return Err(sign_failed("the account has no region to sign for".into()));
        };
        let scope = crate::sigv4::Scope { region, service };
        let now = self.state.clock.now();
        crate::sigv4::resign(&mut req, self.body.bytes(), creds, scope, now)
            .map_err(|e| sign_failed(e.to_string()))?;
        Ok(req)
    }

    /// A success status: streamed to the client at once, or (an event stream) held for
    /// its first event, which may still be a limit.
    async fn success(
        &mut self,
        resp: Response<Incoming>,
        account: &Account,
        now: SystemTime,
    ) -> Turn {
        let state = self.state;
        let attempts = self.attempts;
        let bound = state.limits.first_event_timeout;
        // Server-sent events, or AWS's binary event stream (Bedrock's ConverseStream and
        // InvokeModelWithResponseStream): either may carry a limit as its first message.
        let peeked = if stream_peek::applies(&resp, bound) {
            stream_peek::first_event(resp, self.dialect, bound, now).await
        } else if crate::eventstream_peek::applies(&resp, bound) {
            crate::eventstream_peek::first_message(resp, self.dialect, bound, now).await
        } else {
            let upgrade = self.client_upgrade.take();
            return Turn::Answer(finish(resp, Some(&account.name), attempts, upgrade));
        };
        let peeked = match peeked {
            Ok(p) => p,
            Err(e) => return Turn::Broke(Broken::from_error(&*e)),
        };
        if peeked.outcome.verdict.rotates() {
            return Turn::Refused(peeked.response, Some(peeked.outcome));
        }
        // A Responses stream names the response it creates: continuing it later
        // (previous_response_id) must come back to this account.
        let first_pool = &self.first_pool.name;
        (state.affinity).answered(first_pool, &account.name, &peeked.head, now);
        Turn::Answer(decorate(
            peeked.response,
            Some(&account.name),
            attempts,
            false,
        ))
    }

    /// An error status: its (small) body read whole to tell a limit from any other error.
    async fn error_status(
        &mut self,
        resp: Response<Incoming>,
        cred: &Cred,
        account: &Account,
        now: SystemTime,
    ) -> Result<(Response<ProxyBody>, Outcome), Turn> {
        let dialect = self.dialect;
        let status = resp.status();
        let (head, bytes) = match read_error_body(resp).await {
            Ok(x) => x,
            Err(e) if e.is::<http_body_util::LengthLimitError>() => {
                // Not a broken connection but an answer no provider sends; replaying it
                // elsewhere would only repeat it.
                return Err(Turn::Own(KeypoolAnswer::ErrorTooLarge {
                    dialect,
                    host: self.target.host.clone(),
                    port: self.target.port,
                    status,
                }));
            }
            Err(e) => return Err(Turn::Broke(Broken::from_error(&*e))),
        };
        account.learn(crate::quota::learn_error_body(dialect, &bytes, now));
        let served_ago = account.stats.served_ago(now);
        let terminal = terminal::judge(
            &self.provider.id,
            status.as_u16(),
            &head.headers,
            &bytes,
            served_ago,
        );
        let mut outcome =
            terminal.unwrap_or_else(|| classify(dialect, status, &head.headers, &bytes, now));
        let refused_token = status == StatusCode::UNAUTHORIZED && matches!(cred, Cred::OAuth(_));
        if refused_token && outcome.verdict != Verdict::AuthFailed {
            // Subscription backends answer an expired token with bodies in no error
            // dialect (`{"detail":…}`, plain text); a 401 on a token is enough.
            outcome.verdict = Verdict::AuthFailed;
            outcome.detail = "401 token refused".into();
        }
        Ok((Response::from_parts(head, full(bytes)), outcome))
    }
}

/// How a turn came back, as the metrics and the ledger name it.
fn turn_result(turn: &Turn) -> &'static str {
    match turn {
        Turn::Answer(r) if r.status().is_client_error() || r.status().is_server_error() => "error",
        Turn::Answer(_) => "ok",
        Turn::Refused(_, Some(o)) => match o.verdict {
            Verdict::RateLimited => "rate_limited",
            Verdict::Overloaded => "overloaded",
            Verdict::Exhausted => "exhausted",
            Verdict::AuthFailed => "auth_failed",
            Verdict::Terminal => "terminal",
            Verdict::Ok => "error",
        },
        Turn::Refused(_, None) => "auth_failed",
        Turn::Broke(_) => "broken",
        // Refused before sending: an IAM account's request keypool could not sign.
        Turn::Own(KeypoolAnswer::TooLargeToSign { .. } | KeypoolAnswer::SignFailed { .. }) => {
            "error"
        }
        Turn::Own(_) => "unreachable",
    }
}

/// Error bodies are small; a cap keeps a misbehaving upstream from filling memory.
pub(super) const ERROR_BODY_CAP: usize = 1 << 20;

pub(super) async fn read_error_body(
    resp: Response<Incoming>,
) -> Result<(http::response::Parts, bytes::Bytes), crate::body::BoxError> {
    let (mut head, body) = resp.into_parts();
    let bytes = http_body_util::Limited::new(body, ERROR_BODY_CAP)
        .collect()
        .await?
        .to_bytes();
    // The body is now whole; its length replaces any transfer framing.
    head.headers.remove(http::header::TRANSFER_ENCODING);
    head.headers
        .insert(CONTENT_LENGTH, HeaderValue::from(bytes.len()));
    Ok((head, bytes))
}
