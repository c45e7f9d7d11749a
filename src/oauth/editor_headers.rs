//! The attribution headers the Kilo and Cline gateways expect from their editors
//! (PROVIDERS.md §10; Kilo-Org/kilocode `headers.ts`, cline/cline's API handler). A
//! client that sent its own (Kilo Code, Cline) keeps them; for any other client keypool
//! names itself honestly rather than posing as the vendor's editor. The organization a
//! Kilo request is billed to belongs to the account, so the client's never stays.

use super::Identity;
use http::header::{HeaderMap, HeaderName, HeaderValue};

pub const KILO_VERSION: HeaderName = HeaderName::from_static("x-kilocode-version");
pub const KILO_EDITOR: HeaderName = HeaderName::from_static("x-kilocode-editorname");
pub const KILO_ORGANIZATION: HeaderName = HeaderName::from_static("x-kilocode-organizationid");
/// Only meaningful inside an organization: it goes with the client's organization.
pub const KILO_PROJECT: HeaderName = HeaderName::from_static("x-kilocode-projectid");
pub const REFERER: HeaderName = HeaderName::from_static("http-referer");
pub const TITLE: HeaderName = HeaderName::from_static("x-title");

const OUR_VERSION: &str = env!("CARGO_PKG_VERSION");
const OUR_EDITOR: &str = "keypool";

/// Kilo: the editor headers where the client sent none, and the account's organization.
pub fn kilo(headers: &mut HeaderMap, identity: &Identity) {
    let defaults = [
        (KILO_VERSION, OUR_VERSION),
        (KILO_EDITOR, OUR_EDITOR),
        (REFERER, "https://kilocode.ai"),
        (TITLE, "Kilo Code"),
    ];
    fill(headers, defaults);
    let client_org = headers.remove(KILO_ORGANIZATION);
    let ours = identity
        .organization_id
        .as_deref()
        .and_then(|id| HeaderValue::from_str(id).ok());
    match ours {
        Some(id) => {
            if client_org.as_ref() != Some(&id) {
                headers.remove(KILO_PROJECT);
            }
            headers.insert(KILO_ORGANIZATION, id);
        }
        None => {
            headers.remove(KILO_PROJECT);
        }
    }
}

/// Cline: its referer and title where the client sent none.
pub fn cline(headers: &mut HeaderMap, _: &Identity) {
    fill(headers, [(REFERER, "https://cline.bot"), (TITLE, "Cline")]);
}

fn fill<const N: usize>(headers: &mut HeaderMap, defaults: [(HeaderName, &'static str); N]) {
    for (name, value) in defaults {
        if !headers.contains_key(&name) {
            headers.insert(name, HeaderValue::from_static(value));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn org(id: Option<&str>) -> Identity {
        Identity {
            organization_id: id.map(str::to_string),
            ..Identity::default()
        }
    }

    #[test]
    fn kilo_fills_what_the_client_left_out_and_keeps_what_it_sent() {
        let mut bare = HeaderMap::new();
        kilo(&mut bare, &org(None));
        assert_eq!(bare[KILO_EDITOR], "keypool");
        assert_eq!(bare[KILO_VERSION], OUR_VERSION);
        assert_eq!(bare[REFERER], "https://kilocode.ai");
        assert_eq!(bare[TITLE], "Kilo Code");
        assert!(!bare.contains_key(KILO_ORGANIZATION));

        let mut sent = HeaderMap::new();
        sent.insert(KILO_EDITOR, HeaderValue::from_static("Kilo CLI"));
        sent.insert(KILO_VERSION, HeaderValue::from_static("7.1.0"));
        kilo(&mut sent, &org(None));
        assert_eq!(sent[KILO_EDITOR], "Kilo CLI");
        assert_eq!(sent[KILO_VERSION], "7.1.0");
        assert_eq!(sent.get_all(KILO_EDITOR).iter().count(), 1);
    }

    #[test]
    fn the_organization_is_the_accounts_never_the_clients() {
        let mut h = HeaderMap::new();
        h.insert(KILO_ORGANIZATION, HeaderValue::from_static("client-org"));
        h.insert(KILO_PROJECT, HeaderValue::from_static("client-project"));
        kilo(&mut h, &org(Some("acct-org")));
        assert_eq!(h[KILO_ORGANIZATION], "acct-org");
        assert!(
            !h.contains_key(KILO_PROJECT),
            "the project was the client org's"
        );

        let mut same = HeaderMap::new();
        same.insert(KILO_ORGANIZATION, HeaderValue::from_static("acct-org"));
        same.insert(KILO_PROJECT, HeaderValue::from_static("p"));
        kilo(&mut same, &org(Some("acct-org")));
        assert_eq!(
            same[KILO_PROJECT], "p",
            "same organization: the project stays"
        );

        let mut personal = HeaderMap::new();
        personal.insert(KILO_ORGANIZATION, HeaderValue::from_static("client-org"));
        kilo(&mut personal, &org(None));
        assert!(!personal.contains_key(KILO_ORGANIZATION));
    }

    #[test]
    fn cline_names_itself_where_the_client_did_not() {
        let mut h = HeaderMap::new();
        cline(&mut h, &Identity::default());
        assert_eq!(h[REFERER], "https://cline.bot");
        assert_eq!(h[TITLE], "Cline");
        let mut sent = HeaderMap::new();
        sent.insert(TITLE, HeaderValue::from_static("Cline CLI"));
        cline(&mut sent, &Identity::default());
        assert_eq!(sent[TITLE], "Cline CLI");
    }
}
