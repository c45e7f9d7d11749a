//! What differs between the subscription flavors, as one [`Spec`] per flavor (the table is
//! in `flavor/specs.rs`): token endpoint, client id, how a refresh is asked for, who the
//! grant says logged in, the login's form, the vendor's own login command and the named
//! steps. Adding a subscription provider is one spec entry plus any steps it needs; the
//! code that refreshes, logs in or explains a dead login reads the spec instead of
//! matching on the flavor.

mod specs;

use super::steps::Steps;
use super::Identity;
use crate::providers::Flavor;
use secrecy::SecretString;
use serde_json::Value;

/// How the token endpoint wants its body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Json,
    Form,
}

/// Where a flavor's refresh tokens (and authorization codes) are redeemed.
pub enum TokenUrl {
    Fixed(&'static str),
    /// This path on the login's GitHub domain (github.com unless it is an Enterprise one).
    GitHub(&'static str),
}

/// Everything keypool knows about one flavor of subscription login.
pub struct Spec {
    pub token_url: TokenUrl,
    pub client_id: &'static str,
    /// Sent with a refresh after the client id: an installed app's secret, which its
    /// vendor documents as not secret.
    pub client_secret: Option<&'static str>,
    /// Body encoding of a refresh request, as the vendor's own CLI sends it.
    pub refresh_encoding: Encoding,
    /// Whether a refresh hands out a new refresh token and burns the old one. Those
    /// accounts must never be refreshed by two parties at once.
    pub rotates: bool,
    /// Who a successful token answer (and its access token) says logged in.
    pub identity: fn(&Value, &SecretString) -> Identity,
    /// How `keypool login` gets a new login of this flavor.
    pub login: LoginForm,
    /// The vendor CLI's own login, for accounts linked to its file.
    pub native_login: &'static str,
    /// The start of a new account's name (`claude` → `claude-me`).
    pub default_name: &'static str,
    /// Whether keypool may keep this flavor's logins in `credentials.json`
    /// (`oauth = "stored"`). Not a key file's: keypool never copies a key.
    pub stores: bool,
    /// Its logins name a device of their own (Kimi's `X-Msh-Device-Id`), made once per
    /// account and kept with its identity.
    pub device_id: bool,
    /// How its token endpoint is asked and answers.
    pub wire: TokenWire,
    /// Put before the access token in `Authorization: Bearer …` (Cline's `workos:`).
    pub bearer_prefix: &'static str,
    /// Its accounts may name an organization (`organization_id` in the config) that their
    /// requests are billed to.
    pub organization: bool,
    pub steps: Steps,
}

/// The shape of a flavor's token calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenWire {
    /// RFC 6749: `grant_type`, `refresh_token`, `client_id`; `{access_token, expires_in}`.
    Rfc6749,
    /// Cline's: `{refreshToken, grantType}` in JSON; `{success, data: {accessToken,
    /// refreshToken, expiresAt (RFC 3339), userInfo}}`.
    Cline,
}

/// How `keypool login` runs for a flavor.
pub enum LoginForm {
    /// PKCE in a browser, redirected to a loopback port or pasted back (`--no-browser`).
    Browser(Browser),
    /// GitHub's device flow on the login's domain.
    GitHubDevice,
    /// A device flow at fixed endpoints, redeemed at the spec's token URL.
    Device(Device),
    /// A browser login whose vendor redirects to keypool's loopback listener with a code
    /// it exchanges at `exchange` (Cline's: no PKCE, no state echoed).
    AppCallback(AppCallback),
    /// keypool runs no login of this flavor; `why` tells the user what to do instead.
    Elsewhere { why: &'static str },
}

/// A browser login's authorization request and code exchange, as the vendor's CLI
/// sends them (the endpoints check the client's redirect and parameters).
pub struct Browser {
    pub authorize: &'static str,
    pub redirect_port: u16,
    pub redirect_path: &'static str,
    pub scope: &'static str,
    /// Authorization-URL parameters before the standard ones, in the CLI's order.
    pub params_before: &'static [(&'static str, &'static str)],
    /// Authorization-URL parameters after the standard ones, in the CLI's order.
    pub params_after: &'static [(&'static str, &'static str)],
    pub paste: Paste,
    /// Body encoding of the code exchange.
    pub code_encoding: Encoding,
    /// Whether the code exchange repeats the authorization request's `state`.
    pub code_sends_state: bool,
}

/// A device login's first request (RFC 8628 §3.1).
pub struct Device {
    /// Where the device code is asked for.
    pub authorize: &'static str,
    /// Sent with the client id, when the vendor's CLI sends one.
    pub scope: Option<&'static str>,
    pub wire: DeviceWire,
}

/// How a device login's server speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceWire {
    /// RFC 8628: forms, `device_code`/`user_code`, polls answered with OAuth error codes.
    Rfc8628,
    /// Kilo's: `POST` for `{code, verificationUrl, expiresIn}`, then `GET …/{code}`
    /// answered by status (202 pending, 403 denied, 410 expired, 429 slow down) until
    /// `{status: "approved", token}`.
    KiloCodes,
}

/// A vendor's own browser login (Cline's).
pub struct AppCallback {
    /// Where the browser starts; it gets `client_type`, `callback_url`, `redirect_uri`.
    pub authorize: &'static str,
    /// The loopback path the vendor redirects to.
    pub path: &'static str,
    /// Where the code is exchanged for tokens.
    pub exchange: &'static str,
}

/// What the user pastes back when no loopback redirect is possible.
pub enum Paste {
    /// The vendor's page at `redirect` shows `CODE#STATE`.
    CodePage { redirect: &'static str },
    /// The full address of the loopback page the browser lands on (which may not load).
    Address,
}

impl Flavor {
    /// Where refresh tokens are redeemed, on GitHub `domain` for Copilot. Renewal of the
    /// Copilot token itself is its `exchange` step.
    pub fn token_url(self, domain: Option<&str>) -> String {
        match self.spec().token_url {
            TokenUrl::Fixed(url) => url.into(),
            TokenUrl::GitHub(path) => format!("https://{}{path}", domain.unwrap_or("github.com")),
        }
    }

    pub fn client_id(self) -> &'static str {
        self.spec().client_id
    }

    /// See [`Spec::refresh_encoding`].
    pub fn refresh_encoding(self) -> Encoding {
        self.spec().refresh_encoding
    }

    /// See [`Spec::rotates`].
    pub fn rotates(self) -> bool {
        self.spec().rotates
    }

    /// The steps of this flavor's logins.
    pub fn steps(self) -> &'static Steps {
        &self.spec().steps
    }

    /// The command that gives an account of this flavor fresh tokens through keypool.
    pub fn login_command(self, account: &str) -> String {
        format!("keypool login {} --name {account}", self.login_name())
    }

    /// See [`Spec::stores`].
    pub fn stores(self) -> bool {
        self.spec().stores
    }

    /// See [`Spec::native_login`].
    pub fn native_login(self) -> &'static str {
        self.spec().native_login
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_copilot_redeems_on_the_login_s_domain() {
        assert_eq!(
            Flavor::Copilot.token_url(Some("ghe.example.com")),
            "https://ghe.example.com/login/oauth/access_token"
        );
        assert_eq!(
            Flavor::Copilot.token_url(None),
            "https://github.com/login/oauth/access_token"
        );
        assert_eq!(
            Flavor::Codex.token_url(Some("ghe.example.com")),
            "https://auth.openai.com/oauth/token"
        );
    }
}
