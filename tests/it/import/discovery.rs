//! When there is nothing to import: exit 1 naming where each source looked, exit 2 on
//! usage errors, a broken file named with its problem and never quoted; and `serve`
//! without accounts listing what it could import.

use super::Machine;
use std::process::{Command, Stdio};

#[test]
fn nothing_found_exits_1_and_usage_errors_exit_2() {
    let m = Machine::new();
    let r = m.run(&["accounts", "import", "codex"], &[]);
    assert_eq!(r.code, Some(1), "{}", r.stdout);
    assert!(
        r.stdout
            .contains("codex: nothing found (looked at ~/.codex/auth.json)"),
        "{}",
        r.stdout
    );
    let r = m.run(&["accounts", "import", "--all"], &[]);
    assert_eq!(r.code, Some(1), "{}", r.stdout);
    for s in ["claude-code", "codex", "pi", "gemini-cli", "copilot", "env"] {
        assert!(
            r.stdout
                .contains(&format!("{s}: nothing found (looked at ")),
            "{s}: {}",
            r.stdout
        );
    }
    assert!(r.stdout.contains("$ANTHROPIC_API_KEY"), "{}", r.stdout);
    assert!(
        !m.keypool_home().join("config.toml").exists(),
        "nothing written"
    );

    for args in [
        &["accounts", "import"][..],
        &["accounts", "import", "codex", "--all"][..],
        &["accounts", "import", "--all", "--name", "x"][..],
        &["accounts", "import", "nowhere"][..],
    ] {
        let r = m.run(args, &[]);
        assert_eq!(r.code, Some(2), "{args:?}: {}", r.stdout);
    }

    // A broken file is named with its problem, never quoted.
    std::fs::create_dir_all(m.home().join(".codex")).unwrap();
    std::fs::write(
        m.home().join(".codex/auth.json"),
        "{\"tokens\": sk-SECRET-broken",
    )
    .unwrap();
    let r = m.run(&["accounts", "import", "codex"], &[]);
    assert_eq!(r.code, Some(1), "{}", r.stdout);
    assert!(
        r.stdout
            .contains("codex: ~/.codex/auth.json: cannot import: not valid JSON (line 1)"),
        "{}",
        r.stdout
    );
}

#[test]
fn serve_without_accounts_lists_what_it_could_import() {
    use super::guard::{wait_child, LinesWithin, WAIT};
    let m = Machine::new();
    m.place("claude-code/.credentials.json", ".claude/.credentials.json");
    let mut child = Command::new(env!("CARGO_BIN_EXE_keypool"))
        .env_clear()
        .env("HOME", m.home())
        .env("KEYPOOL_HOME", m.keypool_home())
        .env("GROQ_API_KEY", "gsk-SECRET")
        .args(["serve", "--listen", "127.0.0.1:0"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut seen = Vec::new();
    let lines = LinesWithin::of(child.stderr.take().unwrap());
    while let Some(line) = lines.next_within("keypool serve listing what it could import") {
        let done = line.contains("CA certificate");
        seen.push(line);
        if done {
            break;
        }
    }
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    wait_child(&mut child, WAIT, "keypool serve to exit after SIGTERM");
    let text = seen.join("\n");
    assert!(
        text.contains("claude-code  ~/.claude/.credentials.json"),
        "{text}"
    );
    assert!(text.contains("env          $GROQ_API_KEY"), "{text}");
    assert!(text.contains("keypool accounts import --all"), "{text}");
    assert!(!text.contains("SECRET"), "{text}");
}
