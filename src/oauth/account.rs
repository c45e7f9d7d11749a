//! One OAuth account's token lifecycle: hand out a fresh access token, refresh it before
//! it expires or after the provider refused it, one refresh at a time, and persist every
//! rotated token before it is used (a write that fails waits in the store's pending
//! registry and is retried; see `pending.rs`).

use super::endpoint::{self, ApiToken, Granted, TokenError};
use super::link::{Linked, LOCK_WAIT};
use super::steps::{Discover, ExchangeStep};
use super::store::Store;
use super::{Identity, Tokens};
use crate::clock::Clock;
use crate::file_lock::{self, LockGuard};
use crate::providers::Flavor;
use crate::upstream::Upstream;
use bytes::Bytes;
use http::HeaderMap;
use parking_lot::Mutex;
use secrecy::{ExposeSecret, SecretString};
use std::time::{Duration, SystemTime};

/// Where an account's tokens live.
#[derive(Debug, Clone)]
pub enum Source {
    /// In keypool's `credentials.json`, owned by keypool alone.
    Stored,
    /// In a native CLI's file, shared with that CLI.
    Linked(Linked),
}

impl Source {
    /// Whether this is the source the config names.
    pub fn is(&self, configured: &crate::config::OAuthSource) -> bool {
        match (self, configured) {
            (Source::Stored, crate::config::OAuthSource::Stored) => true,
            (Source::Linked(l), crate::config::OAuthSource::Linked(p)) => &l.path == p,
            _ => false,
        }
    }
}

/// What a request needs from the account: the token, who it belongs to, and the
/// account-bound edits, which the request rewrite applies without knowing the vendor.
#[derive(Debug, Clone)]
pub struct Access {
    pub token: SecretString,
    pub identity: Identity,
    /// The API base the provider assigned this account (Copilot's `endpoints.api`).
    api_base: Option<String>,
    flavor: Flavor,
}

impl Access {
    pub(super) fn new(
        flavor: Flavor,
        token: SecretString,
        identity: Identity,
        api_base: Option<String>,
    ) -> Access {
        Access {
            token,
            identity,
            api_base,
            flavor,
        }
    }

    /// Puts the account-bound headers in (the token itself travels by the auth scheme).
    pub fn edit_headers(&self, headers: &mut HeaderMap) {
        (self.flavor.steps().edit_headers)(headers, &self.identity);
    }

    /// The body with its account-bound value replaced; `None` when nothing changes.
    pub fn edit_body(&self, body: &Bytes) -> Option<Bytes> {
        (self.flavor.steps().edit_body)(body, &self.identity)
    }

    /// What follows `Bearer ` on the wire: the token, after the flavor's prefix (Cline's
    /// `workos:`).
    pub fn bearer_token(&self) -> std::borrow::Cow<'_, str> {
        match self.flavor.spec().bearer_prefix {
            "" => self.token.expose_secret().into(),
            prefix => format!("{prefix}{}", self.token.expose_secret()).into(),
        }
    }

    /// The API host the account must be served on, when its token named one.
    pub fn api_base(&self) -> Option<&str> {
        self.api_base.as_deref()
    }
}

/// Why an account cannot serve now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccessError {
    /// Its login is dead; the message names the command that fixes it.
    NeedsLogin(String),
    /// The token endpoint failed for now; try another account.
    Unavailable(String),
    /// A call of the login's own got a terminal answer: the account's turn has ended.
    Ended(Box<crate::providers::Outcome>),
}

/// What every token call needs from the running proxy.
pub struct Ctx<'a> {
    pub upstream: &'a Upstream,
    pub clock: &'a dyn Clock,
    pub store: &'a Store,
}

#[derive(Debug)]
pub struct OAuthAccount {
    pub name: String,
    pub flavor: Flavor,
    pub source: Source,
    /// Refresh this long before the access token expires.
    pub margin: Duration,
    tokens: Mutex<Tokens>,
    /// The API token the `exchange` step got, and when to renew it.
    exchanged: Mutex<Option<(ApiToken, SystemTime)>>,
    /// Held for the whole of a refresh: concurrent requests wait and then reuse its result.
    refreshing: tokio::sync::Mutex<()>,
    /// The proxy's store, asked whether a write of this account has not landed.
    saves: Option<Store>,
}

impl OAuthAccount {
    pub fn new(
        name: String,
        flavor: Flavor,
        source: Source,
        tokens: Tokens,
        margin: Duration,
    ) -> OAuthAccount {
        OAuthAccount {
            name,
            flavor,
            source,
            margin,
            tokens: Mutex::new(tokens),
            exchanged: Mutex::new(None),
            refreshing: tokio::sync::Mutex::new(()),
            saves: None,
        }
    }

    /// This account as the running proxy keeps it: tokens whose write to `store` has not
    /// landed replace the older ones just read from the file (a rebuild on reload must
    /// not go back to a spent refresh token), and its status can tell they are unsaved.
    pub fn keeping_unsaved(mut self, store: &Store) -> OAuthAccount {
        let linked = match &self.source {
            Source::Linked(l) => Some(l),
            Source::Stored => None,
        };
        store.overlay_unsaved(&self.name, linked, self.tokens.get_mut());
        self.saves = Some(store.clone());
        self
    }

    /// The organization the config bills this account's requests to (Kilo's), which the
    /// config alone says: it replaces whatever the tokens' identity held.
    pub fn billed_to(mut self, organization: Option<String>) -> OAuthAccount {
        self.tokens.get_mut().identity.organization_id = organization;
        self
    }

    /// "refreshed login not saved: <reason>; <fix>" while a write of it has not landed.
    pub fn unsaved(&self) -> Option<String> {
        self.saves.as_ref()?.unsaved(&self.name)
    }

    /// Takes the tokens its linked CLI wrote while keypool's write-back was pending,
    /// unless the account has refreshed since (`ours` is no longer what it holds).
    pub fn adopt(&self, theirs: Tokens, ours: &Tokens) {
        let mut t = self.tokens.lock();
        if secret_str(&t.access) != secret_str(&ours.access) {
            return;
        }
        let mut adopted = theirs;
        adopted.identity.merge(&t.identity);
        *t = adopted;
    }

    /// Whether a reload may keep this account for a login of `flavor` from `source` with
    /// `margin`: the same login, so its token state and refresh lock must stay one.
    pub fn same_login(
        &self,
        flavor: Flavor,
        source: &crate::config::OAuthSource,
        margin: Duration,
    ) -> bool {
        self.flavor == flavor && self.source.is(source) && self.margin == margin
    }

    /// The refresh lock when no refresh is in flight, for a reload that reads the tokens
    /// again: holding it, no refresh can land between that read and [`Self::take_tokens`].
    pub fn idle(&self) -> Option<tokio::sync::MutexGuard<'_, ()>> {
        self.refreshing.try_lock().ok()
    }

    /// Takes the tokens a reload read for this login (`read`, built for the same login),
    /// when they differ from the ones it holds: a new login written to the file since.
    /// The caller holds [`Self::idle`]'s guard.
    pub fn take_tokens(&self, read: OAuthAccount) {
        let theirs = read.tokens.into_inner();
        let mut t = self.tokens.lock();
        t.identity
            .organization_id
            .clone_from(&theirs.identity.organization_id);
        let same = secret_str(&t.access) == secret_str(&theirs.access)
            && secret_str(&t.refresh) == secret_str(&theirs.refresh);
        if same {
            t.identity.merge(&theirs.identity);
            return;
        }
        *t = theirs;
        *self.exchanged.lock() = None;
    }

    /// A copy of the current tokens (for the accounts view).
    pub fn tokens(&self) -> Tokens {
        self.tokens.lock().clone()
    }

    /// What fixes a dead login of this account.
    pub fn fix(&self) -> String {
        match &self.source {
            Source::Stored => format!("run `{}`", self.flavor.login_command(&self.name)),
            Source::Linked(l) => format!(
                "log in again with {} (it rewrites {}), or run `{}`",
                self.flavor.native_login(),
                l.path.display(),
                self.flavor.login_command(&self.name)
            ),
        }
    }

    /// A usable access token, refreshed first when it expires within the margin.
    pub async fn access(&self, ctx: &Ctx<'_>) -> Result<Access, AccessError> {
        if let Some(a) = self.fresh(ctx.clock.now()) {
            return Ok(a);
        }
        let _one = self.refreshing.lock().await;
        // Whoever held the lock before may have refreshed already.
        if let Some(a) = self.fresh(ctx.clock.now()) {
            return Ok(a);
        }
        self.renew(ctx, None).await
    }

    /// The provider refused `used`: refresh once (unless another request already did)
    /// and hand out the new token.
    pub async fn after_unauthorized(
        &self,
        ctx: &Ctx<'_>,
        used: &SecretString,
    ) -> Result<Access, AccessError> {
        let _one = self.refreshing.lock().await;
        if let Some(a) = self.fresh(ctx.clock.now()) {
            if a.token.expose_secret() != used.expose_secret() {
                return Ok(a);
            }
        }
        self.renew(ctx, Some(used)).await
    }

    /// The current token when it is good for at least the margin.
    fn fresh(&self, now: SystemTime) -> Option<Access> {
        let steps = self.flavor.steps();
        let t = self.tokens.lock();
        if steps.exchange.is_some() {
            let c = self.exchanged.lock();
            let (tok, renew_at) = c.as_ref()?;
            return (now < *renew_at).then(|| self.access_with(tok, &t.identity));
        }
        if t.stale(now, self.margin) {
            return None;
        }
        if steps.discover_project.is_some() && t.identity.project.is_none() {
            return None; // discovered on the slow path
        }
        let token = t.access.clone()?;
        Some(Access::new(self.flavor, token, t.identity.clone(), None))
    }

    /// The access an exchanged token gives.
    fn access_with(&self, tok: &ApiToken, identity: &Identity) -> Access {
        let (token, api) = (tok.token.clone(), tok.api.clone());
        Access::new(self.flavor, token, identity.clone(), api)
    }

    /// Gets new tokens; the caller holds `refreshing`. `refused` is the token the provider
    /// just refused, if that is why.
    async fn renew(
        &self,
        ctx: &Ctx<'_>,
        refused: Option<&SecretString>,
    ) -> Result<Access, AccessError> {
        let steps = self.flavor.steps();
        if let Some(step) = &steps.exchange {
            return self.exchange(ctx, step).await;
        }
        let now = ctx.clock.now();
        let stale = self.tokens().stale(now, self.margin);
        if stale || refused.is_some() {
            match &self.source {
                Source::Stored => self.refresh_stored(ctx).await?,
                Source::Linked(l) => self.refresh_linked(ctx, l, refused).await?,
            }
        }
        if let Some(discover) = steps.discover_project {
            self.discover_project(ctx, discover).await?;
        }
        let t = self.tokens();
        let token = t.access.ok_or_else(|| self.dead("no access token"))?;
        Ok(Access::new(self.flavor, token, t.identity, None))
    }

    async fn refresh_stored(&self, ctx: &Ctx<'_>) -> Result<(), AccessError> {
        let old = self.tokens();
        let granted = self.call_refresh(ctx, &old).await?;
        let new = self.merge(&old, granted, ctx.clock.now());
        // Persist before use: the old refresh token is already burned. A write that fails
        // stays pending in the store and is retried; the new tokens serve meanwhile.
        let (name, provider, relogin) = (self.name.clone(), self.flavor.provider_id(), self.fix());
        let tokens = new.clone();
        blocking(ctx.store, move |s| {
            s.save_tokens(&name, provider, &tokens, &relogin)
        })
        .await;
        *self.tokens.lock() = new;
        tracing::info!(account = %self.name, "refreshed the access token");
        Ok(())
    }

    async fn refresh_linked(
        &self,
        ctx: &Ctx<'_>,
        linked: &Linked,
        refused: Option<&SecretString>,
    ) -> Result<(), AccessError> {
        let guard = lock_linked(linked).await?;
        // The CLI may have refreshed while we waited: its tokens are then the live ones.
        let on_disk = linked
            .read()
            .map_err(|e| AccessError::Unavailable(format!("{e}")))?;
        let now = ctx.clock.now();
        let ours = self.tokens();
        // With a write-back pending the file is behind us: it differs from our tokens
        // without the CLI having written, and its refresh token is the spent one.
        let behind = ctx
            .store
            .unsaved_write_back_matches(&self.name, linked, &on_disk);
        let cli_wrote = match behind {
            Some(unchanged) => !unchanged,
            None => secret_str(&on_disk.access) != secret_str(&ours.access),
        };
        let refused_on_disk =
            refused.is_some_and(|r| secret_str(&on_disk.access) == Some(r.expose_secret()));
        if cli_wrote && !on_disk.stale(now, self.margin) && !refused_on_disk {
            ctx.store.drop_unsaved_write_back(&self.name);
            let mut adopted = on_disk;
            adopted.identity.merge(&ours.identity);
            *self.tokens.lock() = adopted;
            let path = linked.path.display();
            tracing::info!(account = %self.name, "took the tokens the CLI refreshed in {path}");
            drop(guard);
            return Ok(());
        }
        let mut base = match behind {
            Some(true) => ours.clone(),
            _ => on_disk.clone(),
        };
        base.identity.merge(&ours.identity);
        let granted = self.call_refresh(ctx, &base).await?;
        let new = self.merge(&base, granted, ctx.clock.now());
        let landed = (ctx.store).save_write_back(&self.name, linked, &new, &on_disk, &self.fix());
        drop(guard);
        if new.identity != ours.identity {
            self.save_identity(ctx, &new.identity).await;
        }
        *self.tokens.lock() = new;
        let written = if landed {
            "written back to"
        } else {
            "not yet written back to"
        };
        let path = linked.path.display();
        tracing::info!(account = %self.name, "refreshed the access token ({written} {path})");
        Ok(())
    }

    /// Records what was learned of the account; pending like the tokens if it fails.
    async fn save_identity(&self, ctx: &Ctx<'_>, identity: &Identity) {
        let (name, provider, relogin) = (self.name.clone(), self.flavor.provider_id(), self.fix());
        let identity = identity.clone();
        blocking(ctx.store, move |s| {
            s.save_identity(&name, provider, &identity, &relogin)
        })
        .await;
    }

    async fn call_refresh(&self, ctx: &Ctx<'_>, tokens: &Tokens) -> Result<Granted, AccessError> {
        let refresh = tokens
            .refresh
            .as_ref()
            .ok_or_else(|| self.dead("the access token expired and there is no refresh token"))?;
        let r = endpoint::refresh(ctx.upstream, self.flavor, refresh, &tokens.identity).await;
        self.tally(r.as_ref().err());
        r.map_err(|e| self.token_error(e))
    }

    /// Counts one token-endpoint call for the metrics.
    fn tally(&self, error: Option<&TokenError>) {
        use super::refresh_tally::{count, Outcome};
        let outcome = match error {
            None => Outcome::Ok,
            Some(TokenError::Transient(_) | TokenError::Ended(_)) => Outcome::Failed,
            Some(TokenError::Permanent(_)) => Outcome::Refused,
        };
        count(self.flavor, outcome);
    }

    fn merge(&self, old: &Tokens, g: Granted, now: SystemTime) -> Tokens {
        let mut identity = g.identity;
        identity.merge(&old.identity);
        Tokens {
            access: Some(g.access),
            refresh: g.refresh.or_else(|| old.refresh.clone()),
            expires_at: g.expires_in.map(|d| crate::bounds::after(now, d)),
            id_token: g.id_token.or_else(|| old.id_token.clone()),
            identity,
        }
    }

    /// Trades the login's credential for an API token (the `exchange` step).
    async fn exchange(&self, ctx: &Ctx<'_>, step: &ExchangeStep) -> Result<Access, AccessError> {
        let t = self.tokens();
        let held = (t.refresh.as_ref()).ok_or_else(|| self.dead(&format!("no {}", step.holds)))?;
        let asked = ctx.clock.now();
        let tok = (step.run)(ctx.upstream, held, t.identity.domain.as_deref(), asked).await;
        self.tally(tok.as_ref().err());
        let tok = tok.map_err(|e| self.token_error(e))?;
        let now = ctx.clock.now();
        let renew_at = tok.renew_at(now, self.margin);
        let access = self.access_with(&tok, &t.identity);
        *self.exchanged.lock() = Some((tok, renew_at));
        tracing::info!(account = %self.name, "{}", step.done);
        Ok(access)
    }

    /// Learns the account's project once (the `discover_project` step).
    async fn discover_project(&self, ctx: &Ctx<'_>, discover: Discover) -> Result<(), AccessError> {
        let t = self.tokens();
        if t.identity.project.is_some() {
            return Ok(());
        }
        let access = t.access.ok_or_else(|| self.dead("no access token"))?;
        let project = discover(ctx.upstream, &access)
            .await
            .map_err(|e| self.token_error(e))?;
        let identity = {
            let mut t = self.tokens.lock();
            t.identity.project = Some(project);
            t.identity.clone()
        };
        self.save_identity(ctx, &identity).await;
        Ok(())
    }

    fn token_error(&self, e: TokenError) -> AccessError {
        match e {
            TokenError::Permanent(why) => self.dead(&why),
            TokenError::Transient(why) => AccessError::Unavailable(why),
            TokenError::Ended(outcome) => AccessError::Ended(outcome),
        }
    }

    fn dead(&self, why: &str) -> AccessError {
        AccessError::NeedsLogin(format!("needs login: {why}; {}", self.fix()))
    }
}

/// Takes the lock the native CLI takes before it refreshes `linked`.
async fn lock_linked(linked: &Linked) -> Result<LockGuard, AccessError> {
    let target = linked.lock_target();
    tokio::task::spawn_blocking(move || file_lock::acquire(&target, LOCK_WAIT))
        .await
        .map_err(|e| AccessError::Unavailable(format!("lock task failed: {e}")))?
        .map_err(|e| AccessError::Unavailable(format!("cannot lock the linked file: {e}")))
}

/// Runs a store write off the async threads: it waits for the file's lock.
async fn blocking(store: &Store, f: impl FnOnce(&Store) + Send + 'static) {
    let store = store.clone();
    if let Err(e) = tokio::task::spawn_blocking(move || f(&store)).await {
        tracing::error!("a credentials write task failed: {e}");
    }
}

fn secret_str(s: &Option<SecretString>) -> Option<&str> {
    s.as_ref().map(|s| s.expose_secret())
}
