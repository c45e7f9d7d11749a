//! One account's turn at a request: send (twice when a refused subscription token is
//! refreshed), then classify what came back (an error status, or a held stream's first
//! event), and say what the pipeline does next.

use super::*;
use crate::providers::Outcome;

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

/// What a turn works on; the same for every account of one request.
pub(super) struct Job<'a> {
    pub(super) parts: &'a Parts,
    pub(super) target: &'a Target,
    pub(super) provider: &'a Arc<Provider>,
    pub(super) state: &'a State,
    /// The pool the request started in, for the response pins a stream names.
    pub(super) first_pool: &'a str,
    pub(super) client_upgrade: &'a mut Option<OnUpgrade>,
}

impl Job<'_> {
    /// Sends on `account` with `cred`; `attempts` counts each send.
    pub(super) async fn turn(
        &mut self,
        account: &Account,
        mut cred: Cred,
        body: &mut RequestBody,
        attempts: &mut usize,
        now: std::time::SystemTime,
    ) -> Turn {
        let mut refreshed = false;
        loop {
            *attempts += 1;
            let edit = Edit {
                provider: self.provider,
                account,
                cred: &cred,
            };
            let req = upstream_request(
                self.parts,
                self.target,
                Some(edit),
                body.for_attempt(|b| cred.edit_body(b)),
            );
            account.stats.sent();
            let resp = match self.state.upstream.send(req).await {
                Ok(r) => r,
                // Unreachable: the same for every account, so no other is tried.
                Err(e) if e.is_connect() => {
                    let dialect = Some(self.provider.dialect);
                    return Turn::Answer(bad_gateway(dialect, self.target, &e));
                }
                Err(e) => return Turn::Broke(Broken::from_error(&e)),
            };
            account.learn(crate::quota::learn(
                self.provider.dialect,
                resp.headers(),
                now,
            ));
            if !needs_body(self.provider.dialect, resp.status()) {
                return self.success(resp, account, *attempts, now).await;
            }
            let (resp, outcome) = match self.error_status(resp, &cred, account, now).await {
                Ok(x) => x,
                Err(turn) => return turn,
            };
            // A refused subscription token: refresh once and send again on this account.
            if let (Verdict::AuthFailed, Cred::OAuth(used), Credential::OAuth(o)) =
                (outcome.verdict, &cred, &account.credential)
            {
                if !refreshed && body.replayable() {
                    refreshed = true;
                    match o.after_unauthorized(&ctx(self.state), &used.token).await {
                        Ok(fresh) => {
                            tracing::info!(account = %account.name, "{}: refreshed the token, sending again", outcome.detail);
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
                return Turn::Answer(decorate(resp, Some(&account.name), *attempts, false));
            }
            return Turn::Refused(resp, Some(outcome));
        }
    }

    /// A success status: streamed to the client at once, or (an event stream) held for
    /// its first event, which may still be a limit.
    async fn success(
        &mut self,
        resp: Response<Incoming>,
        account: &Account,
        attempts: usize,
        now: std::time::SystemTime,
    ) -> Turn {
        let state = self.state;
        let bound = state.limits.first_event_timeout;
        if !stream_peek::applies(&resp, bound) {
            let upgrade = self.client_upgrade.take();
            return Turn::Answer(finish(resp, Some(&account.name), attempts, upgrade, state));
        }
        let peeked = match stream_peek::first_event(resp, self.provider.dialect, bound, now).await {
            Ok(p) => p,
            Err(e) => return Turn::Broke(Broken::from_error(&*e)),
        };
        if peeked.outcome.verdict.rotates() {
            return Turn::Refused(peeked.response, Some(peeked.outcome));
        }
        // A Responses stream names the response it creates: continuing it later
        // (previous_response_id) must come back to this account.
        (state.affinity).answered(self.first_pool, &account.name, &peeked.head, now);
        Turn::Answer(decorate(
            peeked.response,
            Some(&account.name),
            attempts,
            false,
        ))
    }

    /// An error status: its (small) body read whole to tell a limit from any other error.
    async fn error_status(
        &self,
        resp: Response<Incoming>,
        cred: &Cred,
        account: &Account,
        now: std::time::SystemTime,
    ) -> Result<(Response<ProxyBody>, Outcome), Turn> {
        let dialect = self.provider.dialect;
        let status = resp.status();
        let (head, bytes) = match read_error_body(resp).await {
            Ok(x) => x,
            Err(e) if e.is::<http_body_util::LengthLimitError>() => {
                // Not a broken connection but an answer no provider sends; replaying it
                // elsewhere would only repeat it.
                return Err(Turn::Answer(oversized_error(dialect, self.target, status)));
            }
            Err(e) => return Err(Turn::Broke(Broken::from_error(&*e))),
        };
        account.learn(crate::quota::learn_error_body(dialect, &bytes, now));
        let mut outcome = classify(dialect, status, &head.headers, &bytes, now);
        if status == StatusCode::UNAUTHORIZED && matches!(cred, Cred::OAuth(_)) {
            // Subscription backends answer an expired token with bodies in no error
            // dialect (`{"detail":…}`, plain text); a 401 is enough.
            outcome.verdict = Verdict::AuthFailed;
            if outcome.detail == "401" {
                outcome.detail = "401 token refused".into();
            }
        }
        Ok((Response::from_parts(head, full(bytes)), outcome))
    }
}
