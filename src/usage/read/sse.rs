//! An event stream's usage, read line by line as the bytes pass. Only `data:` lines are
//! kept, only until their event ends, and only events that can carry usage are parsed.

use super::json::{seen_in_bytes, Seen};
use memchr::memmem;

/// A longer line (or event) is skipped, not buffered: no provider's usage event is near it.
const MAX_LINE: usize = 1 << 20;

#[derive(Default)]
pub(super) struct Sse {
    /// The part of a line that the last chunk cut.
    line: Vec<u8>,
    /// The current line passed [`MAX_LINE`]: drop bytes until its end.
    skipping: bool,
    /// The last chunk ended on a `\r`; a `\n` opening the next one ends no second line.
    after_cr: bool,
    /// The current event's `data:` lines, joined by `\n`.
    data: Vec<u8>,
    /// The current event outgrew [`MAX_LINE`]: it is not parsed.
    oversized: bool,
    seen: Seen,
}

impl Sse {
    pub fn feed(&mut self, mut chunk: &[u8]) {
        if self.after_cr && chunk.first() == Some(&b'\n') {
            chunk = &chunk[1..];
        }
        self.after_cr = false;
        while let Some(end) = memchr::memchr2(b'\n', b'\r', chunk) {
            self.take_line_part(&chunk[..end]);
            let line = std::mem::take(&mut self.line);
            if !std::mem::take(&mut self.skipping) {
                self.on_line(&line);
            }
            // Keep the allocation for the next line.
            self.line = line;
            self.line.clear();
            let crlf = chunk[end] == b'\r' && chunk.get(end + 1) == Some(&b'\n');
            if chunk[end] == b'\r' && end + 1 == chunk.len() {
                self.after_cr = true;
            }
            chunk = &chunk[end + 1 + usize::from(crlf)..];
        }
        self.take_line_part(chunk);
    }

    fn take_line_part(&mut self, part: &[u8]) {
        if self.skipping {
            return;
        }
        if self.line.len().saturating_add(part.len()) > MAX_LINE {
            self.skipping = true;
            self.line.clear();
            // The event lost a line: what is left of it is not the event.
            self.oversized = true;
            return;
        }
        self.line.extend_from_slice(part);
    }

    fn on_line(&mut self, line: &[u8]) {
        if line.is_empty() {
            self.dispatch();
            return;
        }
        let Some(value) = line.strip_prefix(b"data:") else {
            // `event:`, `id:`, `retry:` and `: comments` say nothing about usage.
            return;
        };
        let value = value.strip_prefix(b" ").unwrap_or(value);
        if self.oversized || self.data.len().saturating_add(value.len()) >= MAX_LINE {
            self.oversized = true;
            self.data.clear();
            return;
        }
        if !self.data.is_empty() {
            self.data.push(b'\n');
        }
        self.data.extend_from_slice(value);
    }

    fn dispatch(&mut self) {
        let oversized = std::mem::take(&mut self.oversized);
        if !oversized && may_carry_usage(&self.data) {
            if let Some(seen) = seen_in_bytes(&self.data) {
                // A chat chunk's `usage: null` says nothing; its model does.
                self.seen.merge(seen);
            }
        }
        self.data.clear();
    }

    /// What the stream said; an event the stream's end cut off is read as if it ended.
    pub fn finish(mut self) -> Seen {
        if !self.skipping && !self.line.is_empty() {
            let line = std::mem::take(&mut self.line);
            self.on_line(&line);
        }
        self.dispatch();
        self.seen
    }
}

/// `usage` / `usageMetadata` appear in every event that carries counts; the rest (text
/// deltas) is skipped before serde sees it.
fn may_carry_usage(data: &[u8]) -> bool {
    let first = data.iter().find(|b| !b.is_ascii_whitespace());
    matches!(first, Some(b'{' | b'[')) && memmem::find(data, b"\"usage").is_some()
}

#[cfg(test)]
#[path = "sse_tests.rs"]
mod tests;
