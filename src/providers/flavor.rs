//! The subscription-login families. Which provider takes which is said once, by the
//! provider's entry in the built-in table (`OAuthSpec::flavor`); what differs between the
//! families (token endpoints, login forms, steps, request edits) is each flavor's spec in
//! `oauth::flavor`.

use super::builtin::TABLE;

/// The OAuth family of an account, named by its provider's built-in entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Flavor {
    /// Claude Pro/Max (Claude Code's login).
    Anthropic,
    /// ChatGPT Plus/Pro/Business through the Codex backend.
    Codex,
    /// GitHub Copilot: a GitHub token exchanged for short-lived Copilot tokens.
    Copilot,
    /// Gemini CLI's Google login for (paid) Code Assist.
    GeminiCli,
    /// Google Vertex AI: a service-account key or application-default login file, whose
    /// access tokens keypool gets itself.
    Vertex,
    /// Kimi For Coding (kimi-cli's device login).
    Kimi,
    /// Kilo Code's gateway: a device login that hands out a long-lived API key.
    Kilo,
    /// Cline's account: a browser login to app.cline.bot, WorkOS tokens.
    Cline,
}

impl Flavor {
    pub const ALL: [Flavor; 8] = [
        Flavor::Anthropic,
        Flavor::Codex,
        Flavor::Copilot,
        Flavor::GeminiCli,
        Flavor::Vertex,
        Flavor::Kimi,
        Flavor::Kilo,
        Flavor::Cline,
    ];

    /// The flavor of an OAuth account of provider `id`; `None` when the provider has no
    /// subscription login.
    pub fn for_provider(id: &str) -> Option<Flavor> {
        let (_, _, _, _, _, oauth) = TABLE.iter().find(|row| row.0 == id)?;
        oauth.as_ref().map(|o| o.flavor)
    }

    /// The built-in provider whose entry names this flavor.
    pub fn provider_id(self) -> &'static str {
        TABLE
            .iter()
            .find(|row| row.5.as_ref().is_some_and(|o| o.flavor == self))
            .map(|row| row.0)
            .expect("every flavor is named by one built-in provider")
    }

    /// The argument `keypool login` takes for this flavor: its provider's id.
    pub fn login_name(self) -> &'static str {
        self.provider_id()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_provider_ids() {
        for f in Flavor::ALL {
            assert_eq!(Flavor::for_provider(f.provider_id()), Some(f));
        }
        assert_eq!(Flavor::for_provider("openai"), None);
        let named = TABLE.iter().filter(|row| row.5.is_some()).count();
        assert_eq!(named, Flavor::ALL.len(), "one provider per flavor");
    }
}
