//! `keypool accounts import`: finds the logins and keys other tools already have on this
//! machine (Claude Code, Codex, pi, gemini-cli, Copilot, provider environment variables)
//! and adds them as accounts, idempotently.
//!
//! The flow: scan each source ([`sources`]) into [`found::Found`] entries, compare each
//! with what is configured ([`existing`]), write the new ones ([`apply`]), and say what
//! happened, one line per credential ([`report`]).

mod apply;
mod existing;
mod found;
mod machine;
mod report;
mod sources;

pub use apply::{How, Options, Outcome};
pub use machine::Machine;
pub use sources::Source;

use crate::config::edit;
use crate::failure::Failure;
use crate::home::Home;
use crate::oauth::store::Store;
use std::collections::BTreeSet;
use std::path::Path;
use std::process::ExitCode;

/// What an import is asked to do: the command line's request in import's own terms.
#[derive(Debug, Clone, Default)]
pub struct Request {
    /// The one source to scan; `None` scans every source (`--all`).
    pub source: Option<Source>,
    /// How new accounts are named and whether logins are linked.
    pub options: Options,
}

/// Runs `keypool accounts import`. Exit 0 when something was found, 1 when nothing was.
pub fn command(home: &Home, config: Option<&Path>, request: Request) -> Result<ExitCode, Failure> {
    let machine = Machine::from_process().map_err(Failure::Usage)?;
    let config = config
        .map(Path::to_path_buf)
        .unwrap_or_else(|| home.config_file());
    if request
        .options
        .name
        .as_deref()
        .is_some_and(|n| n.trim().is_empty())
    {
        return Err(Failure::Usage("--name must not be empty".into()));
    }
    let snapshot = edit::read(&config).map_err(|e| Failure::Usage(e.to_string()))?;
    let store = Store::at(home.credentials_file());
    let entries = store.load().map_err(|e| Failure::Runtime(e.to_string()))?;
    let api_providers: BTreeSet<String> = crate::providers::builtin()
        .into_iter()
        .map(|p| p.id)
        .chain(snapshot.provider_ids.iter().cloned())
        .collect();
    let existing = existing::Existing::new(snapshot, entries, &machine);
    let mut importer = apply::Importer::new(&machine, config, store, existing, request.options);

    let chosen: Vec<Source> = match request.source {
        Some(s) => vec![s],
        None => Source::ALL.to_vec(),
    };
    let ctx = sources::Ctx {
        machine: &machine,
        api_providers: &api_providers,
    };
    let mut found_any = false;
    let mut notes = Vec::new();
    for source in chosen {
        let scan = source.scan(&ctx);
        for (path, problem) in &scan.problems {
            println!("{}", report::problem_line(&scan, path, problem, &machine));
        }
        if scan.found.is_empty() && scan.problems.is_empty() {
            println!("{}", report::nothing_line(&scan));
        }
        for f in &scan.found {
            found_any = true;
            let outcome = importer.import(f)?;
            println!("{}", report::found_line(f, &outcome, &machine));
        }
        if !scan.found.is_empty() {
            notes.extend(scan.notes);
        }
    }
    for w in &importer.warnings {
        println!("warning: {w}");
    }
    for n in &notes {
        println!("note: {n}");
    }
    println!(
        "{}",
        report::summary(
            found_any,
            importer.added,
            importer.updated,
            importer.config(),
            &machine
        )
    );
    Ok(if found_any {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// For `keypool serve` with no accounts: the sources a scan would find something in
/// (names and places only, no file is parsed) and the command that imports them.
pub fn startup_hint() -> Option<String> {
    let machine = Machine::from_process().ok()?;
    let rows: Vec<String> = Source::ALL
        .into_iter()
        .filter_map(|s| {
            let places = s.visible(&machine);
            (!places.is_empty()).then(|| format!("    {:<12} {}", s.name(), places.join(", ")))
        })
        .collect();
    if rows.is_empty() {
        return None;
    }
    Some(format!(
        concat!(
            "  found logins and keys keypool can import:\n{}\n",
            "  import them: keypool accounts import --all   (then keypool reload)\n",
        ),
        rows.join("\n")
    ))
}
