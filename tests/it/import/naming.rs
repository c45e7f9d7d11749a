//! Account names and the existing config: `--name` taken by another account is a usage
//! error and writes nothing; two logins under one `--name` become `gh` and `gh-2`;
//! default names step around taken ones; the existing config is kept byte for byte,
//! the new blocks appended after it.

use super::Machine;

#[test]
fn names_are_unique_and_the_existing_config_is_kept_byte_for_byte() {
    let m = Machine::new();
    let cfg = m.keypool_home().join("config.toml");
    std::fs::create_dir_all(m.keypool_home()).unwrap();
    let mine = "# my keypool config\nlisten = \"127.0.0.1:8788\" # not the default\n\n[[accounts]]\nname = \"work\"\nprovider = \"groq\"\napi_key = \"env:GROQ_WORK\"   # keep this comment";
    std::fs::write(&cfg, mine).unwrap();
    m.place("copilot/apps.json", ".config/github-copilot/apps.json");

    // --name taken by another account: a usage error, nothing written.
    let r = m.run(&["accounts", "import", "copilot", "--name", "work"], &[]);
    assert_eq!(r.code, Some(2), "{}", r.stdout);
    assert!(r.stdout.contains("'work' is already in"), "{}", r.stdout);
    assert_eq!(std::fs::read_to_string(&cfg).unwrap(), mine);

    let r = m.run(&["accounts", "import", "copilot", "--name", "gh"], &[]);
    assert_eq!(r.code, Some(0), "{}", r.stdout);
    assert!(
        r.stdout.contains("added as 'gh' (stored)")
            && r.stdout.contains("added as 'gh-2' (stored)"),
        "{}",
        r.stdout
    );
    let text = std::fs::read_to_string(&cfg).unwrap();
    assert!(text.starts_with(mine), "{text}");
    assert!(
        text.contains("\n# imported from ~/.config/github-copilot/apps.json (copilot)\n[[accounts]]\nname = \"gh\"\n"),
        "{text}"
    );

    // Default names step around taken ones.
    let m = Machine::new();
    std::fs::create_dir_all(m.keypool_home()).unwrap();
    std::fs::write(
        m.keypool_home().join("config.toml"),
        "[[accounts]]\nname = \"env-openai\"\nprovider = \"openai\"\napi_key = \"sk-other\"\n",
    )
    .unwrap();
    let r = m.run(
        &["accounts", "import", "env"],
        &[("OPENAI_API_KEY", "sk-SECRET-2")],
    );
    assert!(r.stdout.contains("added as 'env-openai-2'"), "{}", r.stdout);
}
