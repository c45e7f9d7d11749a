use super::*;
use ring::signature::{KeyPair, UnparsedPublicKey, RSA_PKCS1_2048_8192_SHA256};

/// A fresh 2048-bit RSA key in PKCS#8 PEM, as Google writes `private_key` (ring cannot
/// make RSA keys; openssl is on every machine the suite runs on).
fn pem_key() -> String {
    let out = std::process::Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
        ])
        .output()
        .expect("openssl runs");
    assert!(out.status.success(), "openssl genpkey failed");
    String::from_utf8(out.stdout).unwrap()
}

fn service_account(pem: &str) -> Value {
    json!({
        "type": "service_account",
        "project_id": "proj-1",
        "private_key_id": "kid-123",
        "private_key": pem,
        "client_email": "sa@proj-1.iam.gserviceaccount.com",
        "client_id": "1234",
        "token_uri": "https://oauth2.googleapis.com/token",
    })
}

fn b64json(part: &str) -> Value {
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

#[test]
fn the_assertion_is_an_rs256_jwt_the_public_key_verifies() {
    let pem = pem_key();
    let GoogleKey::ServiceAccount(sa) = GoogleKey::parse(&service_account(&pem)).unwrap() else {
        panic!("a service account");
    };
    let jwt = sa.assertion(1_800_000_000).unwrap();
    let parts: Vec<&str> = jwt.split('.').collect();
    assert_eq!(parts.len(), 3);
    let header = b64json(parts[0]);
    assert_eq!(
        header,
        json!({"alg": "RS256", "typ": "JWT", "kid": "kid-123"})
    );
    let claims = b64json(parts[1]);
    assert_eq!(claims["iss"], "sa@proj-1.iam.gserviceaccount.com");
    assert_eq!(claims["scope"], SCOPE);
    assert_eq!(claims["aud"], "https://oauth2.googleapis.com/token");
    assert_eq!(claims["iat"], 1_800_000_000_u64);
    assert_eq!(claims["exp"], 1_800_003_600_u64);
    let public = UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, sa.key.public_key().as_ref());
    let sig = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
    let signed = format!("{}.{}", parts[0], parts[1]);
    public
        .verify(signed.as_bytes(), &sig)
        .expect("a valid signature");
    assert!(public.verify(b"something else", &sig).is_err());
}

#[test]
fn a_bad_file_names_the_field_and_never_the_key() {
    let pem = pem_key();
    let body = pem.lines().nth(1).unwrap().to_string();
    let err = |v: Value| match GoogleKey::parse(&v) {
        Ok(_) => panic!("accepted {v}"),
        Err(e) => {
            assert!(!e.contains(&body), "the error quotes the key: {e}");
            e
        }
    };
    for field in ["client_email", "private_key", "private_key_id"] {
        let mut v = service_account(&pem);
        v.as_object_mut().unwrap().remove(field);
        let e = err(v);
        assert!(e.contains(&format!("field {field} is missing")), "{e}");
    }
    let mut v = service_account(&pem);
    v["private_key"] = json!(body.clone());
    assert!(err(v).contains("field private_key is not a PEM private key"));
    let mut v = service_account(&pem);
    let cert_like = pem.replace("PRIVATE KEY", "CERTIFICATE");
    v["private_key"] = json!(cert_like);
    assert!(err(v).contains("field private_key is not a PEM private key"));
    let mut v = service_account(&pem);
    // The generated key's own armour around a body that is no key ("ABC").
    let lines: Vec<&str> = pem.trim().lines().collect();
    let mangled = format!("{}\nQUJD\n{}\n", lines[0], lines[lines.len() - 1]);
    v["private_key"] = json!(mangled);
    assert!(err(v).contains("field private_key is not an RSA private key"));
    let mut v = service_account(&pem);
    v["type"] = json!("external_account");
    let e = err(v);
    assert!(e.contains("field type is \"external_account\""), "{e}");
    let mut v = service_account(&pem);
    v["type"] = json!("sk-secret-looking-type");
    let e = err(v);
    assert!(
        e.contains("field type is neither") && !e.contains("sk-secret"),
        "{e}"
    );
    let mut v = service_account(&pem);
    v.as_object_mut().unwrap().remove("type");
    assert!(err(v).contains("field type is missing"));
}

#[test]
fn token_uri_must_be_https_on_a_google_token_host() {
    for good in [
        "https://oauth2.googleapis.com/token",
        "https://accounts.google.com/o/oauth2/token",
        "https://OAuth2.googleapis.com:443/token",
    ] {
        assert_eq!(google_token_uri(good).as_deref(), Ok(good), "{good}");
    }
    for bad in [
        "http://oauth2.googleapis.com/token",
        "https://evil.example/token",
        "https://oauth2.googleapis.com.evil.example/token",
        "https://oauth2.googleapis.com:8443/token",
        "https://user@oauth2.googleapis.com/token",
        "oauth2.googleapis.com/token",
        "",
    ] {
        let e = google_token_uri(bad).unwrap_err();
        assert!(e.contains("field token_uri"), "{bad}: {e}");
    }
}

#[test]
fn an_authorized_user_file_needs_its_client_and_refresh_token() {
    let v = json!({
        "type": "authorized_user",
        "client_id": "764086051850-x.apps.googleusercontent.com",
        "client_secret": "d-secret",
        "refresh_token": "1//refresh-secret",
        "quota_project_id": "proj-q",
    });
    let key = GoogleKey::parse(&v).unwrap();
    assert_eq!(key.project(), Some("proj-q"));
    assert_eq!(key.email(), None);
    for field in ["client_id", "client_secret", "refresh_token"] {
        let mut bad = v.clone();
        bad.as_object_mut().unwrap().remove(field);
        let e = GoogleKey::parse(&bad).err().unwrap();
        assert!(e.contains(&format!("field {field} is missing")), "{e}");
        assert!(!e.contains("secret") || e.contains("client_secret"), "{e}");
        assert!(
            !e.contains("1//refresh-secret") && !e.contains("d-secret"),
            "{e}"
        );
    }
    let mut bad = v.clone();
    bad["token_uri"] = json!("https://collector.example/token");
    assert!(GoogleKey::parse(&bad)
        .err()
        .unwrap()
        .contains("field token_uri"));
}

#[test]
fn detects_google_files_of_any_type_and_nothing_else() {
    assert!(GoogleKey::detect(&json!({"type": "service_account"})));
    assert!(GoogleKey::detect(
        &json!({"type": "authorized_user", "refresh_token": "r"})
    ));
    assert!(GoogleKey::detect(&json!({"type": "external_account"})));
    assert!(GoogleKey::detect(
        &json!({"type": "x", "client_email": "e"})
    ));
    assert!(!GoogleKey::detect(
        &json!({"access_token": "a", "refresh_token": "r"})
    ));
    assert!(!GoogleKey::detect(&json!({"anthropic": {"type": "oauth"}})));
}
