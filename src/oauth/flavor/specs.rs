//! The spec of each subscription flavor: the one place that says how its logins are
//! refreshed, obtained and edited into requests.

use super::{
    AppCallback, Browser, Device, DeviceWire, Encoding, Flavor, LoginForm, Paste, Spec, TokenUrl,
    TokenWire,
};
use crate::oauth::steps::{self, ExchangeStep, Steps};
use crate::oauth::{edit, identity};

const ANTHROPIC: Spec = Spec {
    token_url: TokenUrl::Fixed("https://platform.claude.com/v1/oauth/token"),
    client_id: "9d1c250a-e61b-44d9-88ed-5944d1962f5e",
    client_secret: None,
    refresh_encoding: Encoding::Json,
    rotates: true,
    identity: identity::from_account_field,
    login: LoginForm::Browser(Browser {
        authorize: "https://claude.ai/oauth/authorize",
        redirect_port: 53692,
        redirect_path: "/callback",
        scope: "org:create_api_key user:profile user:inference user:sessions:claude_code \
            user:mcp_servers user:file_upload",
        params_before: &[("code", "true")],
        params_after: &[],
        paste: Paste::CodePage {
            redirect: "https://platform.claude.com/oauth/code/callback",
        },
        code_encoding: Encoding::Json,
        code_sends_state: true,
    }),
    native_login: "claude /login",
    default_name: "claude",
    stores: true,
    device_id: false,
    wire: TokenWire::Rfc6749,
    bearer_prefix: "",
    organization: false,
    steps: Steps {
        exchange: None,
        discover_project: None,
        edit_headers: edit::anthropic_headers,
        edit_auth_headers: edit::no_header_edit,
        edit_body: edit::anthropic_body,
    },
};

const CODEX: Spec = Spec {
    token_url: TokenUrl::Fixed("https://auth.openai.com/oauth/token"),
    client_id: "app_EMoamEEZ73f0CkXaXp7hrann",
    client_secret: None,
    refresh_encoding: Encoding::Json,
    rotates: true,
    identity: identity::from_chatgpt_claims,
    login: LoginForm::Browser(Browser {
        authorize: "https://auth.openai.com/oauth/authorize",
        redirect_port: 1455,
        redirect_path: "/auth/callback",
        scope: "openid profile email offline_access",
        params_before: &[],
        params_after: &[
            ("id_token_add_organizations", "true"),
            ("codex_cli_simplified_flow", "true"),
            ("originator", "codex_cli_rs"),
        ],
        paste: Paste::Address,
        code_encoding: Encoding::Form,
        code_sends_state: false,
    }),
    native_login: "codex login",
    default_name: "chatgpt",
    stores: true,
    device_id: false,
    wire: TokenWire::Rfc6749,
    bearer_prefix: "",
    organization: false,
    steps: Steps {
        exchange: None,
        discover_project: None,
        edit_headers: edit::codex_headers,
        edit_auth_headers: edit::no_header_edit,
        edit_body: edit::no_body_edit,
    },
};

const COPILOT: Spec = Spec {
    token_url: TokenUrl::GitHub("/login/oauth/access_token"),
    client_id: "Iv1.b507a08c87ecfe98",
    client_secret: None,
    refresh_encoding: Encoding::Form,
    rotates: false,
    identity: identity::none,
    login: LoginForm::GitHubDevice,
    native_login: "the Copilot sign-in of your editor",
    default_name: "copilot",
    stores: true,
    device_id: false,
    wire: TokenWire::Rfc6749,
    bearer_prefix: "",
    organization: false,
    steps: Steps {
        exchange: Some(ExchangeStep {
            run: steps::copilot_exchange,
            holds: "GitHub token",
            done: "exchanged the GitHub token for a Copilot token",
        }),
        discover_project: None,
        edit_headers: edit::no_header_edit,
        edit_auth_headers: edit::no_header_edit,
        edit_body: edit::no_body_edit,
    },
};

const GEMINI_CLI: Spec = Spec {
    token_url: TokenUrl::Fixed("https://oauth2.googleapis.com/token"),
    client_id: "681255809395-oo8ft2oprdrnp9e3aqf6av3hmdib135j.apps.googleusercontent.com",
    // Embedded in gemini-cli's source; Google documents installed-app secrets as not secret.
    client_secret: Some("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"),
    refresh_encoding: Encoding::Form,
    rotates: false,
    identity: identity::from_id_token,
    login: LoginForm::Elsewhere {
        why: concat!(
            "keypool does not run the Gemini CLI login; log in with `gemini`, ",
            "then `keypool accounts import gemini-cli`",
        ),
    },
    native_login: "gemini (then /auth)",
    default_name: "gemini-cli",
    stores: true,
    device_id: false,
    wire: TokenWire::Rfc6749,
    bearer_prefix: "",
    organization: false,
    steps: Steps {
        exchange: None,
        discover_project: Some(steps::code_assist_project),
        edit_headers: edit::no_header_edit,
        edit_auth_headers: edit::no_header_edit,
        edit_body: edit::gemini_body,
    },
};

/// Vertex AI accounts are Google credential files keypool reads where they lie; it asks
/// for their access tokens itself and keeps them in memory.
const VERTEX: Spec = Spec {
    token_url: TokenUrl::Fixed(crate::oauth::google_key::GOOGLE_TOKEN_URL),
    // Each file names its own client (an authorized_user file) or needs none (a key).
    client_id: "",
    client_secret: None,
    refresh_encoding: Encoding::Form,
    rotates: false,
    identity: identity::none,
    login: LoginForm::Elsewhere {
        why: concat!(
            "keypool gets Vertex AI tokens from a Google credential file: point the account ",
            "at a service-account key (or the file of `gcloud auth application-default ",
            "login`) with oauth = \"link:PATH\", or set GOOGLE_APPLICATION_CREDENTIALS and ",
            "run `keypool accounts import env`",
        ),
    },
    native_login: concat!(
        "a new key file (`gcloud iam service-accounts keys create`) ",
        "or `gcloud auth application-default login`",
    ),
    default_name: "vertex",
    stores: false,
    device_id: false,
    wire: TokenWire::Rfc6749,
    bearer_prefix: "",
    organization: false,
    steps: Steps {
        exchange: Some(ExchangeStep {
            run: steps::google_key_exchange,
            holds: "Google credential file",
            done: "got a Google access token with the account's credential file",
        }),
        discover_project: None,
        edit_headers: edit::no_header_edit,
        edit_auth_headers: edit::no_header_edit,
        edit_body: edit::no_body_edit,
    },
};

/// kimi-cli's login (PROVIDERS.md §10): a device flow at auth.kimi.com, forms both ways,
/// access tokens of about 15 minutes, the `X-Msh-*` device headers on every call. Whether
/// a refresh rotates is [UNVERIFIED]: kimi-cli keeps the refresh token of every answer, so
/// keypool treats it as single-use.
const KIMI: Spec = Spec {
    token_url: TokenUrl::Fixed("https://auth.kimi.com/api/oauth/token"),
    client_id: "17e5f671-d194-4dfb-9706-5516cb48c098",
    client_secret: None,
    refresh_encoding: Encoding::Form,
    rotates: true,
    identity: identity::none,
    login: LoginForm::Device(Device {
        authorize: "https://auth.kimi.com/api/oauth/device_authorization",
        scope: None,
        wire: DeviceWire::Rfc8628,
    }),
    native_login: "kimi login",
    default_name: "kimi",
    device_id: true,
    stores: true,
    wire: TokenWire::Rfc6749,
    bearer_prefix: "",
    organization: false,
    steps: Steps {
        exchange: None,
        discover_project: None,
        edit_headers: edit::kimi_headers,
        edit_auth_headers: edit::kimi_headers,
        edit_body: edit::no_body_edit,
    },
};

/// Kilo Code's device login (Kilo-Org/kilocode `device-auth`; PROVIDERS.md §10): the
/// token it hands out is a long-lived API key (Kilo's own CLI treats it as good for a
/// year and never refreshes it), used as `Authorization: Bearer`. The codes URL is both
/// where a login starts and where it is polled (`…/codes/{code}`).
const KILO: Spec = Spec {
    token_url: TokenUrl::Fixed("https://api.kilo.ai/api/device-auth/codes"),
    client_id: "",
    client_secret: None,
    refresh_encoding: Encoding::Json,
    rotates: false,
    identity: identity::from_email_field,
    login: LoginForm::Device(Device {
        authorize: "https://api.kilo.ai/api/device-auth/codes",
        scope: None,
        wire: DeviceWire::KiloCodes,
    }),
    native_login: "kilo auth login",
    default_name: "kilo",
    stores: true,
    device_id: false,
    wire: TokenWire::Rfc6749,
    bearer_prefix: "",
    organization: true,
    steps: Steps {
        exchange: None,
        discover_project: None,
        edit_headers: edit::kilo_headers,
        edit_auth_headers: edit::no_header_edit,
        edit_body: edit::no_body_edit,
    },
};

/// Cline's account login (cline/cline `ClineAuthProvider`): the browser starts at
/// api.cline.bot's authorize endpoint and lands on keypool's loopback `/auth?code=…`; the
/// code is exchanged, tokens are refreshed (WorkOS access tokens of minutes, a rotating
/// refresh token), and requests carry `Bearer workos:<token>`.
const CLINE: Spec = Spec {
    token_url: TokenUrl::Fixed("https://api.cline.bot/api/v1/auth/refresh"),
    client_id: "",
    client_secret: None,
    refresh_encoding: Encoding::Json,
    rotates: true,
    identity: identity::from_cline_user,
    login: LoginForm::AppCallback(AppCallback {
        authorize: "https://api.cline.bot/api/v1/auth/authorize",
        path: "/auth",
        exchange: "https://api.cline.bot/api/v1/auth/token",
    }),
    native_login: "Cline's sign-in",
    default_name: "cline",
    stores: true,
    device_id: false,
    wire: TokenWire::Cline,
    bearer_prefix: "workos:",
    organization: false,
    steps: Steps {
        exchange: None,
        discover_project: None,
        edit_headers: edit::cline_headers,
        edit_auth_headers: edit::no_header_edit,
        edit_body: edit::no_body_edit,
    },
};

impl Flavor {
    /// This flavor's spec.
    pub fn spec(self) -> &'static Spec {
        match self {
            Flavor::Anthropic => &ANTHROPIC,
            Flavor::Codex => &CODEX,
            Flavor::Copilot => &COPILOT,
            Flavor::GeminiCli => &GEMINI_CLI,
            Flavor::Vertex => &VERTEX,
            Flavor::Kimi => &KIMI,
            Flavor::Kilo => &KILO,
            Flavor::Cline => &CLINE,
        }
    }
}
