//! Client-supplied text repeated in a refusal: short, and without control characters, so
//! a hostile request cannot make keypool's answer or log long or break its lines.

/// At most `max` characters of `s`, control characters as `?`.
pub fn printable(s: &str, max: usize) -> String {
    s.chars()
        .take(max)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}
