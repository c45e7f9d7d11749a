//! What differs between the subscription providers: token endpoints, client ids, how a
//! refresh is asked for, and which command gives a dead account new tokens.

pub use crate::providers::Flavor;

/// How the token endpoint wants its body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Json,
    Form,
}

pub const ANTHROPIC_CLIENT_ID: &str = "9d1c250a-e61b-44d9-88ed-5944d1962f5e";
pub const CODEX_CLIENT_ID: &str = "app_EMoamEEZ73f0CkXaXp7hrann";
pub const COPILOT_CLIENT_ID: &str = "Iv1.b507a08c87ecfe98";
pub const GEMINI_CLIENT_ID: &str =
    "681255809395-oo8ft2oprdrnp9e3aqf6av3hmdib135j.apps.googleusercontent.com";
/// Embedded in gemini-cli's source; Google documents installed-app secrets as not secret.
pub const GEMINI_CLIENT_SECRET: &str = "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";

impl Flavor {
    /// Where refresh tokens are redeemed. For Copilot this is GitHub's device-flow token
    /// endpoint; renewal of the Copilot token itself goes to [`Flavor::copilot_token_url`].
    pub fn token_url(self, domain: Option<&str>) -> String {
        match self {
            Flavor::Anthropic => "https://platform.claude.com/v1/oauth/token".into(),
            Flavor::Codex => "https://auth.openai.com/oauth/token".into(),
            Flavor::GeminiCli => "https://oauth2.googleapis.com/token".into(),
            Flavor::Copilot => format!(
                "https://{}/login/oauth/access_token",
                domain.unwrap_or("github.com")
            ),
        }
    }

    /// GitHub's endpoint that trades a GitHub token for a Copilot token.
    pub fn copilot_token_url(domain: Option<&str>) -> String {
        format!(
            "https://api.{}/copilot_internal/v2/token",
            domain.unwrap_or("github.com")
        )
    }

    pub fn client_id(self) -> &'static str {
        match self {
            Flavor::Anthropic => ANTHROPIC_CLIENT_ID,
            Flavor::Codex => CODEX_CLIENT_ID,
            Flavor::Copilot => COPILOT_CLIENT_ID,
            Flavor::GeminiCli => GEMINI_CLIENT_ID,
        }
    }

    /// Body encoding of a refresh request, as each vendor's own CLI sends it.
    pub fn refresh_encoding(self) -> Encoding {
        match self {
            Flavor::Anthropic | Flavor::Codex => Encoding::Json,
            Flavor::Copilot | Flavor::GeminiCli => Encoding::Form,
        }
    }

    /// Whether a refresh hands out a new refresh token and burns the old one. Those
    /// accounts must never be refreshed by two parties at once.
    pub fn rotates(self) -> bool {
        matches!(self, Flavor::Anthropic | Flavor::Codex)
    }

    /// The command that gives an account of this flavor fresh tokens through keypool.
    pub fn login_command(self, account: &str) -> String {
        format!("keypool login {} --name {account}", self.login_name())
    }

    /// The vendor CLI's own login, for accounts linked to its file.
    pub fn native_login(self) -> &'static str {
        match self {
            Flavor::Anthropic => "claude /login",
            Flavor::Codex => "codex login",
            Flavor::Copilot => "the Copilot sign-in of your editor",
            Flavor::GeminiCli => "gemini (then /auth)",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copilot_token_url_names_the_enterprise_domain() {
        assert_eq!(
            Flavor::copilot_token_url(Some("ghe.example.com")),
            "https://api.ghe.example.com/copilot_internal/v2/token"
        );
    }
}
