//! GitHub's device flow and the Copilot token exchange.

use crate::support::guard::Within;
use serde_json::json;

use super::{json_of, post_form, start};
use crate::support::oauth::GITHUB_CLIENT_ID;
use crate::support::{DeviceAnswer, Flavor};

const COPILOT_EXCHANGE: &str = "https://api.github.com/copilot_internal/v2/token";

#[tokio::test]
async fn device_flow_follows_the_script_in_order() {
    let (_ca, _fake, oauth) = start().await;
    oauth.device_script(vec![
        DeviceAnswer::Pending,
        DeviceAnswer::Pending,
        DeviceAnswer::SlowDown { interval: 1 },
        DeviceAnswer::Pending,
        DeviceAnswer::Grant,
    ]);
    let start = [("client_id", GITHUB_CLIENT_ID), ("scope", "read:user")];
    let resp = post_form(&oauth, "https://github.com/login/device/code", &start).await;
    assert_eq!(resp.status(), 200);
    let code = json_of(resp).await;
    assert_eq!(code["user_code"], "ABCD-1234");
    assert_eq!(code["verification_uri"], "https://github.com/login/device");
    assert_eq!(code["interval"], 0);
    assert_eq!(code["expires_in"], 900);
    let device_code = code["device_code"].as_str().unwrap().to_string();

    let poll = |device_code: String| {
        let oauth = &oauth;
        async move {
            let form = [
                ("client_id", GITHUB_CLIENT_ID),
                ("device_code", device_code.as_str()),
                ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
            ];
            let url = "https://github.com/login/oauth/access_token";
            let resp = post_form(oauth, url, &form).await;
            assert_eq!(resp.status(), 200, "GitHub answers polls with 200");
            json_of(resp).await
        }
    };
    let mut answers = Vec::new();
    for _ in 0..5 {
        answers.push(poll(device_code.clone()).await);
    }
    let errors: Vec<&str> = answers[..4]
        .iter()
        .map(|a| a["error"].as_str().unwrap())
        .collect();
    assert_eq!(
        errors,
        [
            "authorization_pending",
            "authorization_pending",
            "slow_down",
            "authorization_pending"
        ]
    );
    assert_eq!(answers[2]["interval"], 1);
    assert!(answers[4]["access_token"]
        .as_str()
        .unwrap()
        .starts_with("gho_"));
    assert_eq!(answers[4]["token_type"], "bearer");
    assert_eq!(answers[4]["scope"], "read:user");

    assert_eq!(poll(device_code).await["error"], "expired_token");
    assert_eq!(poll("nope".into()).await["error"], "incorrect_device_code");
    let polls = oauth.device_polls();
    assert_eq!(polls.len(), 7);
    assert!(polls.windows(2).all(|w| w[0] <= w[1]));

    // Without `Accept: application/json` GitHub answers with a form.
    let resp = oauth
        .direct_client()
        .post("https://github.com/login/device/code")
        .body(format!("client_id={GITHUB_CLIENT_ID}&scope=read%3Auser"))
        .send()
        .within("the fake GitHub device-code answer")
        .await
        .unwrap();
    assert!(resp.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/x-www-form-urlencoded"));
    assert!(resp
        .text()
        .within("the fake GitHub device-code body")
        .await
        .unwrap()
        .contains("user_code=ABCD-1234"));
}

#[tokio::test]
async fn copilot_exchange_issues_fresh_tokens_for_known_github_tokens() {
    let (_ca, fake, oauth) = start().await;
    let hana = oauth.identity(Flavor::GitHub, "hana");
    let gh = oauth.grant(&hana).refresh;
    assert!(gh.starts_with("gho_"));
    let exchange = |auth: String, url: &'static str| {
        let client = oauth.direct_client();
        async move {
            let resp = client
                .get(url)
                .header("authorization", auth)
                .send()
                .within(&format!("the fake's Copilot token exchange at {url}"))
                .await
                .unwrap();
            (resp.status().as_u16(), json_of(resp).await)
        }
    };

    let (status, first) = exchange(format!("token {gh}"), COPILOT_EXCHANGE).await;
    assert_eq!(status, 200);
    let token = first["token"].as_str().unwrap();
    assert!(token.starts_with("tid="));
    assert!(token.contains(";proxy-ep=proxy.individual.githubcopilot.com;"));
    assert_eq!(first["refresh_in"], 1500);
    assert_eq!(
        first["endpoints"]["api"],
        "https://api.individual.githubcopilot.com"
    );
    assert_eq!(first["individual"], true);
    assert!(first["expires_at"].as_u64().unwrap() > crate::support::https::unix_now());
    let (_, second) = exchange(format!("Bearer {gh}"), COPILOT_EXCHANGE).await;
    assert_ne!(second["token"], first["token"], "a fresh token each time");
    assert_eq!(oauth.copilot_exchanges(), 2);

    // The Copilot token works at the Copilot API.
    let resp = fake
        .direct_client()
        .get("https://api.individual.githubcopilot.com/models")
        .bearer_auth(second["token"].as_str().unwrap())
        .send()
        .within("the fake Copilot models list with the exchanged token")
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);

    oauth.set_copilot_api(&gh, "https://api.business.githubcopilot.com");
    oauth.set_copilot_refresh_in(60);
    let (_, business) = exchange(format!("token {gh}"), COPILOT_EXCHANGE).await;
    assert_eq!(
        business["endpoints"]["api"],
        "https://api.business.githubcopilot.com"
    );
    assert!(business["token"]
        .as_str()
        .unwrap()
        .contains("proxy-ep=proxy.business.githubcopilot.com"));
    assert_eq!(business["refresh_in"], 60);
    assert_eq!(business["individual"], false);

    let (status, body) = exchange("token gho_unknown".into(), COPILOT_EXCHANGE).await;
    assert_eq!(status, 401);
    assert_eq!(
        body,
        json!({"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest"})
    );
    // A github.com token means nothing to a GHE server, and vice versa.
    let ghe_url = "https://api.ghe.example.com/copilot_internal/v2/token";
    assert_eq!(exchange(format!("token {gh}"), ghe_url).await.0, 401);
    let ivy = oauth.github_identity("ivy", "ghe.example.com");
    let ghe_token = oauth.grant(&ivy).refresh;
    assert_eq!(exchange(format!("token {ghe_token}"), ghe_url).await.0, 200);
    assert_eq!(oauth.copilot_exchanges(), 4);
}

#[tokio::test]
async fn device_flow_on_ghe_grants_a_token_for_that_server() {
    let (_ca, _fake, oauth) = start().await;
    // The same label on github.com is another account.
    let dotcom = oauth.identity(Flavor::GitHub, "device");
    let ghe = oauth.github_identity("device", "ghe.example.com");
    assert_ne!(dotcom.account_id, ghe.account_id);
    assert_eq!(ghe.domain, "ghe.example.com");

    let start = [("client_id", GITHUB_CLIENT_ID), ("scope", "read:user")];
    let code =
        json_of(post_form(&oauth, "https://ghe.example.com/login/device/code", &start).await).await;
    assert_eq!(
        code["verification_uri"],
        "https://ghe.example.com/login/device"
    );
    let form = [
        ("client_id", GITHUB_CLIENT_ID),
        ("device_code", code["device_code"].as_str().unwrap()),
        ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
    ];
    // A device code belongs to the server that issued it.
    let url = "https://github.com/login/oauth/access_token";
    let wrong = json_of(post_form(&oauth, url, &form).await).await;
    assert_eq!(wrong["error"], "incorrect_device_code");
    let url = "https://ghe.example.com/login/oauth/access_token";
    let granted = json_of(post_form(&oauth, url, &form).await).await;
    let gh = granted["access_token"].as_str().unwrap();

    let resp = oauth
        .direct_client()
        .get("https://api.ghe.example.com/copilot_internal/v2/token")
        .header("authorization", format!("token {gh}"))
        .send()
        .within("the fake GHE Copilot token exchange")
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body = json_of(resp).await;
    assert_eq!(
        body["endpoints"]["api"],
        "https://api.enterprise.githubcopilot.com"
    );
}
