use super::*;

const AZURE: HostFamily = HostFamily {
    key: PlaceKey::Resource,
    patterns: &[
        HostPattern::Suffix("openai.azure.com"),
        HostPattern::Suffix("cognitiveservices.azure.com"),
    ],
    known: &[],
    named: &[],
};
const BEDROCK: HostFamily = HostFamily {
    key: PlaceKey::Region,
    patterns: &[HostPattern::Template {
        before: "bedrock-runtime.",
        after: ".amazonaws.com",
    }],
    known: &["us-east-1", "eu-west-1"],
    named: &[],
};

fn place(pairs: &[(PlaceKey, &str)]) -> Place {
    Place {
        values: pairs.iter().map(|(k, v)| (*k, v.to_string())).collect(),
        deployments: None,
    }
}

#[test]
fn a_suffix_owns_the_names_below_it_and_nothing_that_merely_contains_it() {
    let p = HostPattern::Suffix("openai.azure.com");
    for h in [
        "res.openai.azure.com",
        "evil.com.openai.azure.com",
        "a-1.openai.azure.com",
    ] {
        assert!(p.matches(h), "{h}");
    }
    for h in [
        "openai.azure.com",
        "openai.azure.com.evil.com",
        "evilopenai.azure.com",
        ".openai.azure.com",
        "a..openai.azure.com",
        "-a.openai.azure.com",
        "a_b.openai.azure.com",
        "a b.openai.azure.com",
        "a%2e.openai.azure.com",
    ] {
        assert!(!p.matches(h), "{h}");
    }
    let long = format!("{}.openai.azure.com", "a".repeat(64));
    assert!(!p.matches(&long), "a label over 63");
}

#[test]
fn a_template_takes_exactly_one_label_in_its_slot() {
    let p = BEDROCK.patterns[0];
    assert!(p.matches("bedrock-runtime.us-east-1.amazonaws.com"));
    for h in [
        "bedrock-runtime.amazonaws.com",
        "bedrock-runtime..amazonaws.com",
        "bedrock-runtime.a.b.amazonaws.com",
        "bedrock-runtime.us-east-1.amazonaws.com.evil.com",
        "xbedrock-runtime.us-east-1.amazonaws.com",
        "s3.us-east-1.amazonaws.com",
    ] {
        assert!(!p.matches(h), "{h}");
    }
    assert_eq!(
        p.constraint_names(BEDROCK.known),
        [
            "bedrock-runtime.us-east-1.amazonaws.com",
            "bedrock-runtime.eu-west-1.amazonaws.com"
        ]
    );
    assert_eq!(
        HostPattern::Suffix("openai.azure.com").constraint_names(&[]),
        ["openai.azure.com"]
    );
}

#[test]
fn the_account_gets_its_own_host_in_the_clients_pattern() {
    let pl = Placement {
        host: Some(AZURE),
        ..Placement::NONE
    };
    let b = place(&[(PlaceKey::Resource, "res-b")]);
    assert_eq!(
        pl.rehost("res-a.openai.azure.com", &b).as_deref(),
        Some("res-b.openai.azure.com")
    );
    assert_eq!(
        pl.rehost("Res-A.CognitiveServices.azure.com.", &b)
            .as_deref(),
        Some("res-b.cognitiveservices.azure.com")
    );
    assert_eq!(pl.rehost("api.openai.com", &b), None);
    assert_eq!(pl.rehost("res-a.openai.azure.com", &Place::default()), None);
    assert_eq!(pl.required(), [PlaceKey::Resource]);
}

#[test]
fn path_keys_are_the_accounts_and_a_missing_deployment_skips_it() {
    let gateway = Placement {
        path: Some(PathTemplate(&[
            Seg::Lit("v1"),
            Seg::Key(PlaceKey::AccountId),
            Seg::Key(PlaceKey::GatewayId),
        ])),
        ..Placement::NONE
    };
    let mine = place(&[(PlaceKey::AccountId, "acct2"), (PlaceKey::GatewayId, "gw2")]);
    assert_eq!(
        gateway.repath("/v1/acct1/gw1/openai/chat/completions", &mine),
        Ok(Some("/v1/acct2/gw2/openai/chat/completions".into()))
    );
    assert_eq!(gateway.repath("/v1/acct1", &mine), Ok(None));
    assert_eq!(gateway.repath("/v2/a/g/x", &mine), Ok(None));
    assert_eq!(
        gateway.required(),
        [PlaceKey::AccountId, PlaceKey::GatewayId]
    );

    let azure = Placement {
        path: Some(PathTemplate(&[
            Seg::Lit("openai"),
            Seg::Lit("deployments"),
            Seg::Deployment,
        ])),
        ..Placement::NONE
    };
    let p = "/openai/deployments/gpt-4o/chat/completions";
    assert_eq!(
        azure.repath(p, &Place::default()),
        Ok(Some(p.into())),
        "no map: as sent"
    );
    let mapped = Place {
        deployments: Some([("gpt-4o".to_string(), "prod-4o".to_string())].into()),
        ..Place::default()
    };
    assert_eq!(
        azure.repath(p, &mapped),
        Ok(Some("/openai/deployments/prod-4o/chat/completions".into()))
    );
    assert!(!azure.serves("/openai/deployments/other/chat/completions", &mapped));
    assert!(
        azure.serves("/openai/v1/responses", &mapped),
        "not a deployment path"
    );
    assert!(azure.takes_deployments() && !gateway.takes_deployments());
}

#[test]
fn place_values_are_checked_for_what_a_host_or_segment_takes() {
    assert!(PlaceKey::Region.check("us-east-1").is_ok());
    assert!(PlaceKey::Region.check("us-gov-west-1").is_ok());
    assert!(PlaceKey::Region.check("europe-west4").is_ok());
    for bad in ["US-EAST-1", "us-east", "us.east-1", "", "us-east-1/x", "-1"] {
        assert!(PlaceKey::Region.check(bad).is_err(), "{bad}");
    }
    assert!(PlaceKey::Resource.check("my-res-01").is_ok());
    for bad in ["My.res", "a", "-a", "a-", "a_b", "res.evil.com"] {
        assert!(PlaceKey::Resource.check(bad).is_err(), "{bad}");
    }
    assert!(PlaceKey::AccountId.check("0123abcd").is_ok());
    assert!(PlaceKey::AccountId.check("../x").is_err());
    assert!(PlaceKey::GatewayId.check("my_gw-1").is_ok());
    assert!(PlaceKey::GatewayId.check("a/b").is_err());
    for good in ["my-project-123", "proj-a", "abcdef", &"a".repeat(30)] {
        assert!(PlaceKey::Project.check(good).is_ok(), "{good}");
    }
    for bad in [
        "proj",
        "1project",
        "My-Project",
        "proj_a-1",
        "proj-a-",
        "example.com:proj",
        "proj/../x",
        &"a".repeat(31),
    ] {
        assert!(PlaceKey::Project.check(bad).is_err(), "{bad}");
    }
    for good in [
        "global",
        "us-east5",
        "europe-west4",
        "northamerica-northeast1",
    ] {
        assert!(PlaceKey::Location.check(good).is_ok(), "{good}");
    }
    for bad in ["Global", "us", "us-east5.evil", "us-east5/x", "", "eu-"] {
        assert!(PlaceKey::Location.check(bad).is_err(), "{bad}");
    }
}
