//! IAM accounts in `[[accounts]]`: access_key_id + secret_access_key (+ session_token) on
//! a provider that signs with SigV4, never beside api_key or oauth; every error names the
//! account and the key, and never the value.

use super::*;

fn parse(s: &str) -> Result<Config, ConfigError> {
    Config::parse(s, std::path::Path::new("config.toml"))
}

fn account(provider: &str, lines: &str) -> String {
    format!("[[accounts]]\nname = \"iam1\"\nprovider = \"{provider}\"\n{lines}\n")
}

fn error(provider: &str, lines: &str) -> String {
    match parse(&account(provider, lines)) {
        Ok(_) => panic!("{provider} with {lines:?} loaded"),
        Err(e) => e.0,
    }
}

const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

#[test]
fn an_iam_account_loads_with_references_or_literals() {
    let c = parse(&account(
        "amazon-bedrock",
        "region = \"us-east-1\"\naccess_key_id = \"env:AWS_ACCESS_KEY_ID\"\n\
         secret_access_key = \"env:AWS_SECRET_ACCESS_KEY\"\nsession_token = \"!aws-vault token\"",
    ))
    .unwrap();
    let a = &c.accounts[0];
    assert_eq!(a.kind(), crate::providers::Kind::ApiKey);
    assert_eq!(
        a.describe_source(),
        "iam env:AWS_ACCESS_KEY_ID, env:AWS_SECRET_ACCESS_KEY, !aws-vault token"
    );
    let CredentialConfig::Aws(keys) = &a.credential else {
        panic!("not IAM: {:?}", a.credential)
    };
    assert!(keys.session_token.is_some());
    let literal = format!(
        "region = \"eu-west-1\"\naccess_key_id = \"AKIDEXAMPLE\"\nsecret_access_key = \"{SECRET}\""
    );
    let c = parse(&account("amazon-bedrock", &literal)).unwrap();
    assert_eq!(c.accounts[0].describe_source(), "iam literal, literal");
}

#[test]
fn iam_errors_name_the_account_and_the_key_never_the_value() {
    let both = format!(
        "region = \"us-east-1\"\napi_key = \"br-key-SECRETVALUE\"\naccess_key_id = \"AKIDX\"\n\
         secret_access_key = \"{SECRET}\""
    );
    let cases: Vec<(&str, String, &[&str])> = vec![
        (
            "amazon-bedrock",
            both,
            &["'iam1' has both api_key and IAM credentials", "keep one"],
        ),
        (
            "amazon-bedrock",
            "region = \"us-east-1\"\naccess_key_id = \"AKIDX\"".into(),
            &["'iam1'", "without secret_access_key", "secret_access_key = \"env:"],
        ),
        (
            "amazon-bedrock",
            format!("region = \"us-east-1\"\nsecret_access_key = \"{SECRET}\"\nsession_token = \"t\""),
            &["without access_key_id", "AWS_ACCESS_KEY_ID"],
        ),
        (
            "amazon-bedrock",
            format!(
                "region = \"us-east-1\"\naccess_key_id = \"AKID-SECRETVALUE/x\"\n\
                 secret_access_key = \"{SECRET}\""
            ),
            &["'iam1': access_key_id", "letters and digits", "fix: copy it again"],
        ),
        (
            "amazon-bedrock",
            "region = \"us-east-1\"\naccess_key_id = \"AKIDX\"\nsecret_access_key = \"has SECRETVALUE space\"".into(),
            &["'iam1': secret_access_key", "40 characters"],
        ),
        (
            "amazon-bedrock",
            "region = \"us-east-1\"\naccess_key_id = \"AKIDX\"\nsecret_access_key = \"env:\"".into(),
            &["'iam1' has an empty secret_access_key"],
        ),
        (
            "openai",
            format!("access_key_id = \"AKIDX\"\nsecret_access_key = \"{SECRET}\""),
            &["provider 'openai' does not take IAM credentials", "use api_key"],
        ),
        (
            "amazon-bedrock",
            format!("access_key_id = \"AKIDX\"\nsecret_access_key = \"{SECRET}\""),
            &["needs region", "region = \"us-east-1\""],
        ),
    ];
    for (provider, lines, wanted) in cases {
        let e = error(provider, &lines);
        for w in wanted {
            assert!(e.contains(w), "{lines:?}: {e}");
        }
        assert!(e.contains("config.toml:"), "names the file and line: {e}");
        assert!(
            !e.contains("SECRETVALUE") && !e.contains(SECRET),
            "a value in: {e}"
        );
    }
    let neither = error("amazon-bedrock", "region = \"us-east-1\"");
    assert!(
        neither.contains("access_key_id = \"env:AWS_ACCESS_KEY_ID\""),
        "{neither}"
    );
}
