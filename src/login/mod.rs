//! `keypool login`: a browser login (PKCE with a loopback redirect, or paste-the-code
//! for SSH sessions) for Claude and ChatGPT, GitHub's device flow for Copilot. The
//! tokens go to `credentials.json` (or back into the linked file of an account that is
//! linked), and the config gains the account if it is new.

mod callback;
mod device;
pub mod pkce;

use crate::config::edit::{self, Credential as NewCredential, NewAccount};
use crate::config::{Config, CredentialConfig, OAuthSource};
use crate::home::Home;
use crate::oauth::endpoint::{self, Granted};
use crate::oauth::flavor::{AppCallback, Browser, Device, LoginForm, Paste};
use crate::oauth::link::Linked;
use crate::oauth::store::Store;
use crate::oauth::{Identity, Tokens};
use crate::providers::Flavor;
use crate::upstream::Upstream;
use callback::{parse_redirect, Callback, Reply};
use pkce::Pkce;
use std::io::BufRead;
use std::path::Path;
use std::time::SystemTime;

/// How one login went; the message is for the user.
pub type Outcome = Result<String, String>;

pub struct Options {
    pub flavor: Flavor,
    pub name: Option<String>,
    pub no_browser: bool,
    pub callback_port: Option<u16>,
    /// GitHub Enterprise domain for Copilot.
    pub domain: Option<String>,
}

pub async fn run(
    home: &Home,
    config: &Config,
    config_path: &Path,
    upstream: &Upstream,
    opts: Options,
) -> Outcome {
    let flavor = opts.flavor;
    // Refuse an unusable --name now, not after the user went through the browser.
    if let Some(name) = opts.name.as_deref() {
        check_name(config, flavor, name)?;
    }
    let save_as = |tokens| {
        save(
            home,
            config,
            config_path,
            flavor,
            opts.name.as_deref(),
            tokens,
        )
    };
    let tokens = match &flavor.spec().login {
        LoginForm::GitHubDevice => copilot_tokens(upstream, &opts).await?,
        LoginForm::Device(d) => {
            let device_id = known_device_id(home, config, flavor, opts.name.as_deref());
            device_tokens(upstream, flavor, d, device_id, &opts).await?
        }
        LoginForm::Browser(browser) => {
            let (code, reply) = browser_code(flavor, browser, &opts).await?;
            let outcome = async {
                let granted = endpoint::exchange_code(
                    upstream,
                    flavor,
                    &code.code,
                    &code.verifier,
                    &code.redirect,
                    &code.state,
                )
                .await
                .map_err(|e| format!("the code exchange failed: {e}"))?;
                let tokens = tokens_from(granted, SystemTime::now());
                save_as(tokens)
            }
            .await;
            // The browser learns how it ended, not just that the redirect arrived.
            if let Some(reply) = reply {
                reply.finish(&outcome).await;
            }
            return outcome;
        }
        LoginForm::AppCallback(app) => {
            let (code, redirect, reply) = app_code(flavor, app, &opts).await?;
            let outcome = async {
                let (code, provider) = code;
                let granted = endpoint::exchange_app_code(
                    upstream,
                    flavor,
                    &code,
                    &redirect,
                    provider.as_deref(),
                )
                .await
                .map_err(|e| format!("the code exchange failed: {e}"))?;
                save_as(tokens_from(granted, SystemTime::now()))
            }
            .await;
            reply.finish(&outcome).await;
            return outcome;
        }
        LoginForm::Elsewhere { why } => return Err(why.to_string()),
    };
    save_as(tokens)
}

/// A vendor's own browser login (Cline's): the loopback listener on the port asked for
/// (else one the system picks), the browser sent to the vendor with it as the callback,
/// and the code the vendor redirects back with.
async fn app_code(
    flavor: Flavor,
    app: &AppCallback,
    opts: &Options,
) -> Result<((String, Option<String>), String, Reply), String> {
    if opts.no_browser {
        return Err(format!(
            "{} logins need the browser to come back to this machine; run it where a \
            browser can reach 127.0.0.1 (or forward the port with `ssh -L`)",
            flavor.login_name()
        ));
    }
    let cb = Callback::bind(opts.callback_port.unwrap_or(0), app.path)
        .await
        .map_err(|e| e.to_string())?;
    let port = cb.port().map_err(|e| e.to_string())?;
    let callback = format!("http://127.0.0.1:{port}{}", app.path);
    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair("client_type", "extension")
        .append_pair("callback_url", &callback)
        .append_pair("redirect_uri", &callback)
        .finish();
    let url = format!("{}?{query}", app.authorize);
    println!(
        "Open this URL in a browser to log in (keypool waits for the redirect on \
        127.0.0.1:{port}):\n\n  {url}\n"
    );
    open_browser(&url, false);
    let (code, reply) = cb.app_code().await.map_err(|e| e.to_string())?;
    Ok((code, callback, reply))
}

/// An authorization code, with what its exchange needs.
struct Code {
    code: String,
    verifier: String,
    redirect: String,
    state: String,
}

/// Runs the browser half of a login: the code, and the waiting browser's connection
/// when the code came through the loopback redirect.
async fn browser_code(
    flavor: Flavor,
    b: &Browser,
    opts: &Options,
) -> Result<(Code, Option<Reply>), String> {
    let pkce = Pkce::new();
    let state = pkce::random_token(24);
    let port = opts.callback_port.unwrap_or(b.redirect_port);
    let loopback = format!("http://localhost:{port}{}", b.redirect_path);
    let redirect = match &b.paste {
        Paste::CodePage { redirect } if opts.no_browser => redirect.to_string(),
        _ => loopback,
    };
    let mut params = b.params_before.to_vec();
    params.extend([
        ("response_type", "code"),
        ("client_id", flavor.client_id()),
        ("redirect_uri", redirect.as_str()),
        ("scope", b.scope),
        ("code_challenge", pkce.challenge.as_str()),
        ("code_challenge_method", "S256"),
        ("state", state.as_str()),
    ]);
    params.extend_from_slice(b.params_after);
    let query = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(&params)
        .finish();
    let url = format!("{}?{query}", b.authorize);

    let (code, reply) = if opts.no_browser {
        (
            pasted_code(&b.paste, &url, b.redirect_path, &state).await?,
            None,
        )
    } else {
        let cb = Callback::bind(port, b.redirect_path)
            .await
            .map_err(|e| e.to_string())?;
        println!(
            "Open this URL in a browser to log in (keypool waits for the redirect on \
            127.0.0.1:{port}):\n\n  {url}\n"
        );
        open_browser(&url, false);
        let (code, reply) = cb.code(&state).await.map_err(|e| e.to_string())?;
        (code, Some(reply))
    };
    let code = Code {
        code,
        verifier: pkce.verifier,
        redirect,
        state,
    };
    Ok((code, reply))
}

/// `--no-browser`: the user opens `url` anywhere and pastes what the login ends with.
async fn pasted_code(
    paste: &Paste,
    url: &str,
    redirect_path: &str,
    state: &str,
) -> Result<String, String> {
    println!("Open this URL in a browser (on any machine) and log in:\n\n  {url}\n");
    let prompt = match paste {
        Paste::CodePage { .. } => "Paste the code the page shows",
        Paste::Address => {
            "After the login, the browser lands on a localhost page that may not load; \
            paste that page's full address"
        }
    };
    println!("{prompt}:");
    let line = tokio::task::spawn_blocking(|| {
        let mut l = String::new();
        std::io::stdin().lock().read_line(&mut l).map(|_| l)
    })
    .await
    .map_err(|e| e.to_string())?
    .map_err(|e| format!("cannot read the code: {e}"))?;
    let line = line.trim();
    match paste {
        // The page shows `CODE#STATE`.
        Paste::CodePage { .. } => {
            let (code, got) = line.split_once('#').unwrap_or((line, state));
            if got != state {
                return Err("the pasted code belongs to another login attempt; start again".into());
            }
            Ok(code.to_string())
        }
        Paste::Address => parse_redirect(line, redirect_path, state),
    }
}

/// GitHub's device flow, then the Copilot seat and the user name behind the token.
async fn copilot_tokens(upstream: &Upstream, opts: &Options) -> Result<Tokens, String> {
    let domain = opts.domain.clone().unwrap_or_else(|| "github.com".into());
    let gh = device::github(upstream, &domain, |uri, code| {
        println!("Open {uri} in a browser and enter the code {code}");
        open_browser(uri, opts.no_browser);
        println!("Waiting for GitHub…");
    })
    .await?;
    // Check the seat now rather than at the first request.
    let domain = opts.domain.clone();
    endpoint::copilot_token(upstream, &gh, domain.as_deref())
        .await
        .map_err(|e| format!("logged in to GitHub, but {e}"))?;
    // The GitHub user names the account and tells a second login of it apart.
    let user = endpoint::github_user(upstream, &gh, domain.as_deref()).await;
    Ok(Tokens {
        access: None,
        refresh: Some(gh),
        expires_at: None,
        id_token: None,
        identity: Identity {
            email: user,
            domain: opts.domain.clone().filter(|d| d != "github.com"),
            ..Identity::default()
        },
    })
}

/// A device login at the flavor's own endpoints (Kimi's), with the account's device
/// headers on every call.
async fn device_tokens(
    upstream: &Upstream,
    flavor: Flavor,
    d: &Device,
    device_id: Option<String>,
    opts: &Options,
) -> Result<Tokens, String> {
    let spec = flavor.spec();
    let identity = Identity {
        device_id: device_id.or_else(|| spec.device_id.then(crate::oauth::msh::new_device_id)),
        ..Identity::default()
    };
    let mut headers = http::HeaderMap::new();
    (spec.steps.edit_auth_headers)(&mut headers, &identity);
    let flow = device::Flow {
        code_url: d.authorize.to_string(),
        token_url: flavor.token_url(None),
        client_id: spec.client_id,
        scope: d.scope,
        headers,
        vendor: d
            .authorize
            .split('/')
            .nth(2)
            .unwrap_or(d.authorize)
            .to_string(),
        wire: d.wire,
    };
    let v = device::run(upstream, &flow, |uri, code| {
        println!("Open {uri} in a browser and enter the code {code}");
        open_browser(uri, opts.no_browser);
        println!("Waiting for the login…");
    })
    .await?;
    let body = serde_json::to_vec(&v).unwrap_or_default();
    let granted = endpoint::granted(flavor, http::StatusCode::OK, &body)
        .map_err(|e| format!("the login ended without usable tokens: {e}"))?;
    let mut tokens = tokens_from(granted, SystemTime::now());
    tokens.identity.merge(&identity);
    Ok(tokens)
}

/// The device id the account `name` already has, so a new login of it stays the same
/// device; `None` for a new account.
fn known_device_id(
    home: &Home,
    config: &Config,
    flavor: Flavor,
    name: Option<&str>,
) -> Option<String> {
    let name = name?;
    let a = config.accounts.iter().find(|a| a.name == name)?;
    if a.provider != flavor.provider_id() {
        return None;
    }
    let stored = Store::at(home.credentials_file()).get(name).ok()??;
    stored.identity.device_id
}

fn tokens_from(g: Granted, now: SystemTime) -> Tokens {
    Tokens {
        access: Some(g.access),
        refresh: g.refresh,
        expires_at: g.expires_in.map(|d| crate::bounds::after(now, d)),
        id_token: g.id_token,
        identity: g.identity,
    }
}

/// Opens `url` with `$BROWSER`, else the desktop's opener; silently does nothing when
/// there is none (the URL is printed anyway).
fn open_browser(url: &str, skip: bool) {
    if skip {
        return;
    }
    let opener = std::env::var("BROWSER")
        .ok()
        .filter(|b| !b.is_empty())
        .or_else(|| {
            if cfg!(target_os = "macos") {
                Some("open".into())
            } else if std::env::var_os("DISPLAY").is_some()
                || std::env::var_os("WAYLAND_DISPLAY").is_some()
            {
                Some("xdg-open".into())
            } else {
                None
            }
        });
    if let Some(cmd) = opener {
        let _ = std::process::Command::new(cmd)
            .arg(url)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn();
    }
}

/// Stores the tokens under the chosen account and adds the account to the config.
fn save(
    home: &Home,
    config: &Config,
    config_path: &Path,
    flavor: Flavor,
    name: Option<&str>,
    tokens: Tokens,
) -> Outcome {
    let store = Store::at(home.credentials_file());
    let provider = flavor.provider_id();
    let who = tokens
        .identity
        .email
        .clone()
        .or_else(|| tokens.identity.account_id.clone())
        .unwrap_or_else(|| "this login".into());
    let existing = match name {
        Some(n) => config.accounts.iter().find(|a| a.name == n),
        None => same_login(config, &store, provider, &tokens.identity),
    };
    if let Some(a) = existing {
        if let Some(why) = unfit(a, provider) {
            return Err(why);
        }
        return match &a.credential {
            CredentialConfig::OAuth(OAuthSource::Linked(p)) => {
                let linked = Linked::open(p, flavor).map_err(|e| e.to_string())?;
                linked.write_back(&tokens).map_err(|e| e.to_string())?;
                let _ = store.put_identity(&a.name, provider, &tokens.identity);
                Ok(format!(
                    "Logged in as {who}; wrote the new tokens to {} (account '{}'). Run \
                    `keypool reload` (or restart keypool) to use them.",
                    p.display(),
                    a.name
                ))
            }
            CredentialConfig::OAuth(OAuthSource::Stored) => {
                store
                    .put_tokens(&a.name, provider, &tokens)
                    .map_err(|e| e.to_string())?;
                Ok(format!(
                    "Logged in as {who}; new tokens for account '{}' are in {}. Run \
                    `keypool reload` (or restart keypool) to use them.",
                    a.name,
                    store.path().display()
                ))
            }
            CredentialConfig::ApiKey { .. } | CredentialConfig::Aws(_) => Err(uses_api_key(a)),
        };
    }
    let taken: Vec<String> = config.accounts.iter().map(|a| a.name.clone()).collect();
    let name = match name {
        Some(n) => n.to_string(),
        None => unique_name(&default_name(flavor, &tokens.identity), &taken),
    };
    store
        .put_tokens(&name, provider, &tokens)
        .map_err(|e| e.to_string())?;
    edit::append_account(
        config_path,
        &NewAccount {
            name: name.clone(),
            provider: provider.to_string(),
            credential: NewCredential::OAuthStored,
            comment: Some(format!(
                "logged in with `keypool login {}`",
                flavor.login_name()
            )),
        },
    )
    .map_err(|e| e.to_string())?;
    Ok(format!(
        "Logged in as {who}; added account '{name}' ({provider}, tokens in {}) to {}. Run `keypool \
        reload` (or restart keypool) to use it.",
        store.path().display(),
        config_path.display()
    ))
}

/// Whether `name` can take this login: an existing account must be an OAuth account of
/// the same provider, a new name must be one the config can hold.
fn check_name(config: &Config, flavor: Flavor, name: &str) -> Result<(), String> {
    let provider = flavor.provider_id();
    if let Some(a) = config.accounts.iter().find(|a| a.name == name) {
        return unfit(a, provider).map_or(Ok(()), Err);
    }
    let probe = NewAccount {
        name: name.to_string(),
        provider: provider.to_string(),
        credential: NewCredential::OAuthStored,
        comment: None,
    };
    edit::render(&probe).map(drop).map_err(|e| e.to_string())
}

/// Why the tokens of a `provider` login cannot go to account `a`, if they cannot.
fn unfit(a: &crate::config::AccountConfig, provider: &str) -> Option<String> {
    if a.provider != provider {
        return Some(format!(
            "account '{}' is a '{}' account; pick another --name",
            a.name, a.provider
        ));
    }
    matches!(
        a.credential,
        CredentialConfig::ApiKey { .. } | CredentialConfig::Aws(_)
    )
    .then(|| uses_api_key(a))
}

fn uses_api_key(a: &crate::config::AccountConfig) -> String {
    format!("account '{}' uses an API key; pick another --name", a.name)
}

/// The configured account of `provider` that is this same login, if any.
fn same_login<'c>(
    config: &'c Config,
    store: &Store,
    provider: &str,
    id: &Identity,
) -> Option<&'c crate::config::AccountConfig> {
    let stored = store.load().ok()?;
    config.accounts.iter().find(|a| {
        a.provider == provider
            && matches!(a.credential, CredentialConfig::OAuth(_))
            && stored.get(&a.name).is_some_and(|e| {
                let same = |x: &Option<String>, y: &Option<String>| x.is_some() && x == y;
                same(&e.identity.account_id, &id.account_id) || same(&e.identity.email, &id.email)
            })
    })
}

fn default_name(flavor: Flavor, id: &Identity) -> String {
    let base = flavor.spec().default_name;
    match id
        .email
        .as_deref()
        .and_then(|e| e.split('@').next())
        .filter(|u| !u.is_empty())
    {
        Some(user) => format!("{base}-{user}"),
        None => base.to_string(),
    }
}

fn unique_name(base: &str, taken: &[String]) -> String {
    if !taken.iter().any(|t| t == base) {
        return base.to_string();
    }
    (2..)
        .map(|i| format!("{base}-{i}"))
        .find(|n| !taken.contains(n))
        .expect("some suffix is free")
}
