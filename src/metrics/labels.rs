//! Label values: bounded in length, in count (models), and in alphabet, because some of
//! them come from the wire and every distinct value is a new series kept forever.

use parking_lot::RwLock;
use std::collections::HashSet;

/// Longest label value kept; longer ones are cut (a model name is never this long).
pub const MAX_LABEL_CHARS: usize = 64;
/// Most distinct models given their own series; later ones count as [`OTHER`].
pub const MAX_MODELS: usize = 200;
/// The label value for a model past the cap, or none at all.
pub const OTHER: &str = "other";

/// `raw` with everything but printable ASCII (and the quote and backslash the format
/// escapes) dropped, cut to [`MAX_LABEL_CHARS`]: a control byte or a homoglyph in a
/// model name cannot pass for another series.
pub fn sanitize(raw: &str) -> String {
    let clean = |b: &u8| (b.is_ascii_graphic() || *b == b' ') && !matches!(b, b'"' | b'\\');
    // The usual case (a config name, a model id) is already clean: one copy, no scan by
    // characters.
    if raw.len() <= MAX_LABEL_CHARS && raw.as_bytes().iter().all(clean) {
        return raw.to_owned();
    }
    raw.chars()
        .filter(|c| (c.is_ascii_graphic() || *c == ' ') && !matches!(c, '"' | '\\'))
        .take(MAX_LABEL_CHARS)
        .collect()
}

/// The status class a client saw: `2xx`…`5xx`, `101` for a WebSocket, `other` for
/// anything outside 100–599.
pub fn status_class(status: u16) -> &'static str {
    match status {
        101 => "101",
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        500..=599 => "5xx",
        _ => OTHER,
    }
}

/// The models seen so far, up to [`MAX_MODELS`]. Read-locked on the hot path; written
/// once per new model.
#[derive(Default)]
pub struct Models {
    seen: RwLock<HashSet<String>>,
}

impl Models {
    /// The label for `model`: its sanitised name while the cap allows, else `other`.
    pub fn label(&self, model: Option<&str>) -> String {
        let Some(clean) = model.map(sanitize).filter(|m| !m.is_empty()) else {
            return OTHER.into();
        };
        if self.seen.read().contains(&clean) {
            return clean;
        }
        let mut seen = self.seen.write();
        if seen.contains(&clean) {
            return clean;
        }
        if seen.len() >= MAX_MODELS {
            return OTHER.into();
        }
        seen.insert(clean.clone());
        clean
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitize_drops_unprintable_and_caps_length() {
        assert_eq!(sanitize("gpt-4o\n\u{7}\"x\\\u{200b}é"), "gpt-4ox");
        assert_eq!(sanitize(&"m".repeat(500)).len(), MAX_LABEL_CHARS);
        assert_eq!(sanitize("claude 3"), "claude 3");
    }

    #[test]
    fn status_classes() {
        assert_eq!(status_class(101), "101");
        assert_eq!(status_class(200), "2xx");
        assert_eq!(status_class(429), "4xx");
        assert_eq!(status_class(503), "5xx");
        assert_eq!(status_class(0), OTHER);
        assert_eq!(status_class(999), OTHER);
    }

    #[test]
    fn models_past_the_cap_are_other() {
        let m = Models::default();
        for i in 0..MAX_MODELS {
            assert_eq!(m.label(Some(&format!("model-{i}"))), format!("model-{i}"));
        }
        assert_eq!(m.label(Some("one-too-many")), OTHER);
        // A model seen before the cap keeps its series.
        assert_eq!(m.label(Some("model-7")), "model-7");
        assert_eq!(m.label(None), OTHER);
        assert_eq!(m.label(Some("\n\t")), OTHER);
    }
}
