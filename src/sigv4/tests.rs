use super::*;
use std::time::Duration;

const VECTORS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/sigv4");

/// One case of AWS's test suite: its context and request, signed by keypool.
struct Case {
    creds: AwsCredentials,
    region: String,
    service: String,
    time: SystemTime,
    request: Request<()>,
}

fn case(name: &str) -> Case {
    let dir = format!("{VECTORS}/{name}");
    let context: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(format!("{dir}/context.json")).unwrap())
            .unwrap();
    let c = &context["credentials"];
    let creds = AwsCredentials::new(
        c["access_key_id"].as_str().unwrap(),
        SecretString::from(c["secret_access_key"].as_str().unwrap()),
        c["token"].as_str().map(SecretString::from),
    )
    .unwrap();
    let stamp = context["timestamp"].as_str().unwrap();
    let at =
        time::OffsetDateTime::parse(stamp, &time::format_description::well_known::Rfc3339).unwrap();
    let time = SystemTime::UNIX_EPOCH + Duration::from_secs(at.unix_timestamp() as u64);
    let text = std::fs::read_to_string(format!("{dir}/request.txt")).unwrap();
    let mut lines = text.lines();
    let mut first = lines.next().unwrap().split(' ');
    let (method, path) = (first.next().unwrap(), first.next().unwrap());
    let mut request = Request::builder().method(method);
    let mut host = String::new();
    for line in lines.take_while(|l| !l.is_empty()) {
        let (name, value) = line.split_once(':').unwrap();
        if name.eq_ignore_ascii_case("host") {
            host = value.to_string();
        }
        request = request.header(name, value);
    }
    Case {
        creds,
        region: context["region"].as_str().unwrap().into(),
        service: context["service"].as_str().unwrap().into(),
        time,
        request: request
            .uri(format!("https://{host}{path}"))
            .body(())
            .unwrap(),
    }
}

fn expected(name: &str, file: &str) -> String {
    std::fs::read_to_string(format!("{VECTORS}/{name}/{file}"))
        .unwrap()
        .trim_end()
        .to_string()
}

fn header<'a>(req: &'a Request<()>, name: &str) -> &'a str {
    req.headers()
        .get(name)
        .unwrap_or_else(|| panic!("{name} is set"))
        .to_str()
        .unwrap()
}

#[test]
fn the_published_vanilla_cases_get_their_published_signatures() {
    for (name, signed) in [
        ("get-vanilla", "host;x-amz-date"),
        ("post-vanilla", "host;x-amz-date"),
        (
            "get-vanilla-with-session-token",
            "host;x-amz-date;x-amz-security-token",
        ),
    ] {
        let mut c = case(name);
        let scope = Scope {
            region: &c.region,
            service: &c.service,
        };
        resign(&mut c.request, b"", &c.creds, scope, c.time).unwrap();
        let signature = expected(name, "header-signature.txt");
        assert_eq!(
            header(&c.request, "authorization"),
            format!(
                "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, \
                 SignedHeaders={signed}, Signature={signature}"
            ),
            "{name}"
        );
        assert_eq!(header(&c.request, "x-amz-date"), "20150830T123600Z");
        assert_eq!(header(&c.request, "host"), "example.amazonaws.com");
        let token = c.request.headers().get("x-amz-security-token");
        assert_eq!(token.is_some(), name.contains("session-token"), "{name}");
        assert!(token.is_none_or(|t| t.is_sensitive()), "{name}");
    }
}

#[test]
fn the_clients_own_signature_never_survives() {
    let mut c = case("get-vanilla");
    let headers = c.request.headers_mut();
    headers.insert(
        "authorization",
        "AWS4-HMAC-SHA256 Credential=AKIDCLIENT/x".parse().unwrap(),
    );
    headers.insert("x-amz-date", "20990101T000000Z".parse().unwrap());
    headers.insert("x-amz-security-token", "client-token".parse().unwrap());
    headers.insert("x-amz-content-sha256", "UNSIGNED-PAYLOAD".parse().unwrap());
    // A client's Host for another endpoint: the signature binds the upstream host.
    headers.insert("host", "127.0.0.1:8787".parse().unwrap());
    let scope = Scope {
        region: "us-east-1",
        service: "service",
    };
    resign(&mut c.request, b"", &c.creds, scope, c.time).unwrap();
    // Exactly the published signature: nothing of the client's went into it.
    assert!(header(&c.request, "authorization")
        .ends_with(&expected("get-vanilla", "header-signature.txt")));
    assert_eq!(header(&c.request, "x-amz-date"), "20150830T123600Z");
    assert_eq!(header(&c.request, "host"), "example.amazonaws.com");
    for gone in ["x-amz-security-token", "x-amz-content-sha256"] {
        assert!(c.request.headers().get(gone).is_none(), "{gone}");
    }
}

#[test]
fn the_body_the_date_and_the_account_each_change_the_signature() {
    let sign = |creds: &AwsCredentials, body: &[u8], at: SystemTime| {
        let mut req =
            Request::post("https://bedrock-runtime.us-west-2.amazonaws.com/model/m/converse")
                .header("content-type", "application/json")
                .body(())
                .unwrap();
        let scope = Scope {
            region: "us-west-2",
            service: BEDROCK,
        };
        resign(&mut req, body, creds, scope, at).unwrap();
        header(&req, "authorization").to_string()
    };
    let a = AwsCredentials::new("AKIDAAAA", SecretString::from("secret-a"), None).unwrap();
    let b = AwsCredentials::new("AKIDBBBB", SecretString::from("secret-b"), None).unwrap();
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    let base = sign(&a, b"{}", now);
    assert!(base.contains("Credential=AKIDAAAA/20270115/us-west-2/bedrock/aws4_request"));
    assert!(base.contains("SignedHeaders=content-type;host;x-amz-date"));
    assert_ne!(base, sign(&a, b"{ }", now));
    assert_ne!(base, sign(&a, b"{}", now + Duration::from_secs(1)));
    assert_ne!(base, sign(&b, b"{}", now));
    assert_eq!(
        base,
        sign(&a, b"{}", now),
        "signing is a function of its inputs"
    );
}

#[test]
fn secrets_stay_out_of_debug_output_and_errors() {
    let creds = AwsCredentials::new(
        "ASIAEXAMPLE",
        SecretString::from("wJalrXUtnFEMI-SECRET"),
        Some(SecretString::from("TOKEN-SECRET-VALUE")),
    )
    .unwrap();
    let debug = format!("{creds:?}");
    assert!(debug.contains("ASIAEXAMPLE"), "{debug}");
    assert!(!debug.contains("SECRET"), "{debug}");
    let bad = [
        AwsCredentials::new("AKID 1", SecretString::from("s"), None).unwrap_err(),
        AwsCredentials::new("AKID", SecretString::from("has SECRET space"), None).unwrap_err(),
        AwsCredentials::new(
            "AKID",
            SecretString::from("s"),
            Some(SecretString::from("SECRET\n")),
        )
        .unwrap_err(),
        AwsCredentials::new("", SecretString::from("s"), None).unwrap_err(),
    ];
    assert_eq!(
        bad,
        [
            CredentialError::AccessKeyId,
            CredentialError::SecretKey,
            CredentialError::SessionToken,
            CredentialError::AccessKeyId,
        ]
    );
    for e in bad {
        let text = e.to_string();
        assert!(text.contains("fix:") && !text.contains("SECRET"), "{text}");
    }
}

#[test]
fn a_request_that_cannot_be_signed_says_why() {
    let creds = AwsCredentials::new("AKID", SecretString::from("s"), None).unwrap();
    let now = SystemTime::now();
    let scope = Scope {
        region: "us-east-1",
        service: BEDROCK,
    };
    let mut relative = Request::get("/model/m/invoke").body(()).unwrap();
    assert_eq!(
        resign(&mut relative, b"", &creds, scope, now),
        Err(SignError::NoHost)
    );
    let mut binary = Request::get("https://bedrock-runtime.us-east-1.amazonaws.com/")
        .header("x-odd", HeaderValue::from_bytes(b"caf\xe9").unwrap())
        .body(())
        .unwrap();
    let e = resign(&mut binary, b"", &creds, scope, now).unwrap_err();
    assert_eq!(e, SignError::HeaderNotText("x-odd".into()));
    let mut req = Request::get("https://bedrock-runtime.us-east-1.amazonaws.com/")
        .body(())
        .unwrap();
    let bad_region = Scope {
        region: "us-east-1/../x",
        service: BEDROCK,
    };
    let e = resign(&mut req, b"", &creds, bad_region, now).unwrap_err();
    assert!(e.to_string().contains("not a region name"), "{e}");
}
