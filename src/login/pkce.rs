//! PKCE (RFC 7636): a random verifier kept here, its S256 challenge sent in the URL.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ring::rand::{SecureRandom, SystemRandom};

pub struct Pkce {
    pub verifier: String,
    pub challenge: String,
}

/// `n` random bytes, base64url without padding.
pub fn random_token(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    SystemRandom::new()
        .fill(&mut bytes)
        .expect("the OS random source works");
    URL_SAFE_NO_PAD.encode(bytes)
}

pub fn challenge_of(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(ring::digest::digest(
        &ring::digest::SHA256,
        verifier.as_bytes(),
    ))
}

impl Pkce {
    #[allow(clippy::new_without_default)] // each call is a fresh secret, not a default value
    pub fn new() -> Pkce {
        // 32 bytes → a 43-character verifier, the shortest RFC 7636 allows.
        let verifier = random_token(32);
        let challenge = challenge_of(&verifier);
        Pkce {
            verifier,
            challenge,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s256_challenge_matches_python_hashlib() {
        assert_eq!(
            challenge_of("dBjftJeZ4CVP-mB92K27uhbUJU9p1r_wW1gFWFOEjXk"),
            // base64.urlsafe_b64encode(hashlib.sha256(v).digest()).rstrip(b"=")
            "ESvXuZCi8KjdUICqbhM2WaYnWmB_hiSzVC7RvpGAC5c"
        );
        let p = Pkce::new();
        assert_eq!(p.verifier.len(), 43);
        assert_ne!(p.verifier, Pkce::new().verifier);
    }
}
