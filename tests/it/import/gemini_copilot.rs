//! Gemini CLI and GitHub Copilot: Gemini's login taking its project from the
//! environment, with the note about consumer Gemini CLI and no rotation warning;
//! Copilot's files giving one account per GitHub token, the enterprise one skipped by
//! `--link` and stored without it.

use super::{blocks, Machine, FIXTURES};
use std::path::Path;

#[test]
fn gemini_cli_gets_its_project_from_the_environment_and_a_note() {
    let m = Machine::new();
    m.place("gemini-cli/oauth_creds.json", ".gemini/oauth_creds.json");
    let r = m.run(
        &["accounts", "import", "gemini-cli"],
        &[("GOOGLE_CLOUD_PROJECT_ID", "my-proj-1")],
    );
    assert_eq!(r.code, Some(0), "{}", r.stdout);
    assert!(
        r.stdout.contains(
            "gemini-cli: google-gemini-cli oauth (gemini@example.com, my-proj-1) from ~/.gemini/oauth_creds.json: added as 'gemini-cli' (stored)"
        ),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("note: Google ended consumer Gemini CLI")
            && r.stdout.contains("paid Code Assist")
    );
    assert!(
        !r.stdout.contains("warning"),
        "Google does not rotate: {}",
        r.stdout
    );
    let e = &m.credentials()["gemini-cli"];
    assert_eq!(e["project"], "my-proj-1");
    assert_eq!(e["email"], "gemini@example.com");
    assert_eq!(e["refresh_token"], "1//SECRET-gemini-refresh");
}

#[test]
fn copilot_gives_one_account_per_github_token() {
    let m = Machine::new();
    let xdg = m.dir.path().join("xdg");
    for f in ["apps.json", "hosts.json"] {
        std::fs::create_dir_all(xdg.join("github-copilot")).unwrap();
        std::fs::copy(
            Path::new(FIXTURES).join("copilot").join(f),
            xdg.join("github-copilot").join(f),
        )
        .unwrap();
    }
    let env = [("XDG_CONFIG_HOME", xdg.to_str().unwrap())];
    let r = m.run(&["accounts", "import", "copilot", "--link"], &env);
    assert_eq!(r.code, Some(0), "{}", r.stdout);
    let apps = xdg.join("github-copilot/apps.json").display().to_string();
    assert!(
        r.stdout.contains(&format!(
            "copilot: github-copilot oauth (octocat) from {apps}: added as 'copilot-octocat' (linked)"
        )),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("copilot: github-copilot oauth (octo-corp, ghe.example.com)")
            && r.stdout.contains("skipped: a link to")
            && r.stdout.contains("import without --link to store this one"),
        "{}",
        r.stdout
    );
    assert_eq!(
        r.stdout.matches("copilot: github-copilot").count(),
        2,
        "hosts.json repeats a token: {}",
        r.stdout
    );

    let r = m.run(&["accounts", "import", "copilot"], &env);
    assert!(
        r.stdout.contains("already imported as 'copilot-octocat'"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("added as 'copilot-octo-corp' (stored)"),
        "{}",
        r.stdout
    );
    let c = m.credentials();
    assert_eq!(c["copilot-octo-corp"]["refresh_token"], "ghu_SECRETappsghe");
    assert_eq!(c["copilot-octo-corp"]["domain"], "ghe.example.com");
    assert!(c["copilot-octocat"].get("refresh_token").is_none());
    assert_eq!(blocks(&m.config()).len(), 2);
}
