//! Kimi's device headers (`X-Msh-*`, PROVIDERS.md §10): every call of a Kimi login, to
//! its token endpoint and to the API, names the device it was made from. The device id
//! belongs to the account (made once at login, kept with its identity), so a request
//! swapped onto the account carries the account's, never the client's. Which values the
//! server checks is [UNVERIFIED]: keypool sends the headers kimi-cli sends, with a stable
//! description of the machine and nothing that names the user.

use super::Identity;
use http::header::{HeaderMap, HeaderName, HeaderValue};

pub const PLATFORM: HeaderName = HeaderName::from_static("x-msh-platform");
pub const VERSION: HeaderName = HeaderName::from_static("x-msh-version");
pub const DEVICE_ID: HeaderName = HeaderName::from_static("x-msh-device-id");
pub const DEVICE_NAME: HeaderName = HeaderName::from_static("x-msh-device-name");
pub const DEVICE_MODEL: HeaderName = HeaderName::from_static("x-msh-device-model");
pub const OS_VERSION: HeaderName = HeaderName::from_static("x-msh-os-version");

/// What keypool says when the client said nothing: kimi-cli's platform (the login is
/// kimi-cli's OAuth client) and a version of it.
const OUR_PLATFORM: &str = "kimi_cli";
const OUR_VERSION: &str = "1.0.0";

/// A new device id: 32 hex digits, as kimi-cli makes them.
pub fn new_device_id() -> String {
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; 16];
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .expect("the system's random source works");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Puts the account's device headers in: the device-bound ones always replace the
/// client's; platform and version are the client's when it sent them (a kimi-cli), else
/// keypool's. Without a device id (a login from before keypool kept one) only the
/// client's device headers are removed.
pub fn edit(headers: &mut HeaderMap, identity: &Identity) {
    for name in [DEVICE_ID, DEVICE_NAME, DEVICE_MODEL, OS_VERSION] {
        headers.remove(name);
    }
    let Some(id) = identity
        .device_id
        .as_deref()
        .and_then(|id| HeaderValue::from_str(id).ok())
    else {
        return;
    };
    headers.insert(DEVICE_ID, id);
    headers.insert(DEVICE_NAME, HeaderValue::from_static("keypool"));
    if let Ok(model) = HeaderValue::from_str(&device_model()) {
        headers.insert(DEVICE_MODEL, model);
    }
    headers.insert(OS_VERSION, HeaderValue::from_static(std::env::consts::OS));
    if !headers.contains_key(PLATFORM) {
        headers.insert(PLATFORM, HeaderValue::from_static(OUR_PLATFORM));
    }
    if !headers.contains_key(VERSION) {
        headers.insert(VERSION, HeaderValue::from_static(OUR_VERSION));
    }
}

/// `linux x86_64`: the kind of machine, not which one.
fn device_model() -> String {
    format!("{} {}", std::env::consts::OS, std::env::consts::ARCH)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_accounts_device_replaces_the_clients() {
        let me = Identity {
            device_id: Some(new_device_id()),
            ..Identity::default()
        };
        let mut h = HeaderMap::new();
        h.insert(DEVICE_ID, HeaderValue::from_static("client-device"));
        h.insert(DEVICE_NAME, HeaderValue::from_static("laptop-of-carol"));
        h.insert(PLATFORM, HeaderValue::from_static("kimi_cli"));
        h.insert(VERSION, HeaderValue::from_static("0.9.1"));
        edit(&mut h, &me);
        assert_eq!(h[DEVICE_ID], me.device_id.as_deref().unwrap());
        assert_eq!(h[DEVICE_NAME], "keypool");
        assert_eq!(h[VERSION], "0.9.1", "the client's own version stays");
        assert_eq!(h.get_all(DEVICE_ID).iter().count(), 1);
        let mut bare = HeaderMap::new();
        edit(&mut bare, &me);
        assert_eq!(bare[PLATFORM], "kimi_cli");
        assert!(bare.contains_key(DEVICE_MODEL) && bare.contains_key(OS_VERSION));
        let mut none = HeaderMap::new();
        none.insert(DEVICE_ID, HeaderValue::from_static("client-device"));
        edit(&mut none, &Identity::default());
        assert!(none.get(DEVICE_ID).is_none(), "never the client's device");
    }

    #[test]
    fn device_ids_are_hex_and_new_each_time() {
        let (a, b) = (new_device_id(), new_device_id());
        assert_eq!(a.len(), 32);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }
}
