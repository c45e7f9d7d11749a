//! An account's place in a `scheduled` pool, as the config names it.

use serde::Deserialize;

/// An account's place in a `scheduled` pool.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// Used first while its schedule is on (always, without a schedule).
    Preferred,
    /// Used when no preferred account can serve.
    #[default]
    Default,
    /// Used only when neither a preferred nor a default account can serve.
    Overflow,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Preferred => "preferred",
            Role::Default => "default",
            Role::Overflow => "overflow",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_role_is_shown_as_the_config_spells_it() {
        for (role, text) in [
            (Role::Preferred, "preferred"),
            (Role::Default, "default"),
            (Role::Overflow, "overflow"),
        ] {
            assert_eq!(role.as_str(), text);
            let read: Role = serde_json::from_value(serde_json::json!(text)).unwrap();
            assert_eq!(read, role);
        }
    }
}
