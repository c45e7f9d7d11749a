//! Reading what keypool wrote: file modes and the `[[accounts]]` blocks of a config.
//! Standalone (no other support module), so tests that need nothing else can include it
//! with `#[path]`.

use std::path::Path;

pub fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// The lines of `[[accounts]]` blocks, comments and blank lines dropped, for exact
/// comparisons. (The example config mentions `[[accounts]]` in comments; a block header
/// starts a line.)
pub fn blocks(config: &str) -> Vec<String> {
    format!("\n{config}")
        .split("\n[[accounts]]\n")
        .skip(1)
        .map(|b| {
            b.lines()
                .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
                .collect::<Vec<_>>()
                .join("\n")
        })
        .collect()
}
