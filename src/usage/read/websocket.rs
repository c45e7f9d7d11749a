//! The server's side of a WebSocket (Codex's Responses API), read frame by frame as the
//! bytes pass: RFC 6455 frames split anywhere, fragmented messages, interleaved control
//! frames, and permessage-deflate (RFC 7692) inflated as a copy.
//!
//! Not counted: a message inflated past [`MAX_MESSAGE`] (it is still inflated, so the
//! shared compression context stays right for the next one), and, once a compressed
//! message fails to inflate with context takeover, every later compressed message (the
//! context is lost with it).

use super::json::doc_in_bytes;
use super::Found;
use flate2::{Decompress, FlushDecompress, Status};
use memchr::memmem;

/// A longer message is skipped: `response.completed` restates the answer, never near this.
const MAX_MESSAGE: usize = 4 << 20;
/// What one inflate step writes before its output is moved on.
const SCRATCH: usize = 16 << 10;
/// RFC 7692 §7.2.2: each message's deflate data ends without these four bytes.
const TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// Reads the server's side of a WebSocket: one [`Found`] per `response.completed` (or
/// `response.done` / `response.incomplete`).
pub struct WsReader {
    head: [u8; 14],
    head_len: usize,
    frame: Option<Frame>,
    message: Option<Message>,
    deflate: Option<Deflate>,
    closed: bool,
}

struct Frame {
    remaining: u64,
    mask: Option<[u8; 4]>,
    /// Payload bytes already unmasked (for the mask's rotation).
    offset: u64,
    fin: bool,
    /// Control frames and frames outside a message are passed over.
    data: bool,
}

struct Message {
    text: bool,
    compressed: bool,
    buf: Vec<u8>,
    oversized: bool,
}

impl Message {
    fn push(&mut self, bytes: &[u8]) {
        if self.oversized || self.buf.len().saturating_add(bytes.len()) > MAX_MESSAGE {
            self.oversized = true;
            self.buf = Vec::new();
        } else {
            self.buf.extend_from_slice(bytes);
        }
    }
}

struct Deflate {
    inflater: Decompress,
    takeover: bool,
    /// An inflate error with context takeover: later messages cannot be inflated.
    lost: bool,
    scratch: Vec<u8>,
}

impl Deflate {
    /// `extensions` is the 101's `sec-websocket-extensions`; `None` without
    /// permessage-deflate.
    fn negotiated(extensions: Option<&str>) -> Option<Deflate> {
        let agreed = extensions?.split(',').find_map(|ext| {
            let mut params = ext.split(';').map(str::trim);
            (params.next()?.eq_ignore_ascii_case("permessage-deflate")).then_some(params)
        })?;
        let mut takeover = true;
        for param in agreed {
            let name = param.split('=').next().unwrap_or("").trim();
            if name.eq_ignore_ascii_case("server_no_context_takeover") {
                takeover = false;
            }
        }
        // A window smaller than 15 bits (server_max_window_bits) inflates with a 15-bit one.
        Some(Deflate {
            inflater: Decompress::new(false),
            takeover,
            lost: false,
            scratch: Vec::new(),
        })
    }

    /// Inflates `input` into `message`; every byte is inflated even once the message is
    /// too big, to keep the shared context.
    fn inflate(&mut self, mut input: &[u8], message: &mut Message) {
        if self.lost {
            return;
        }
        self.scratch.resize(SCRATCH, 0);
        loop {
            let (before_in, before_out) = (self.inflater.total_in(), self.inflater.total_out());
            let status = self
                .inflater
                .decompress(input, &mut self.scratch, FlushDecompress::None);
            let consumed =
                usize::try_from(self.inflater.total_in() - before_in).unwrap_or(usize::MAX);
            let produced = usize::try_from(self.inflater.total_out() - before_out).unwrap_or(0);
            message.push(&self.scratch[..produced.min(SCRATCH)]);
            input = input.get(consumed..).unwrap_or_default();
            match status {
                Err(_) => {
                    self.fail(message);
                    return;
                }
                _ if consumed == 0 && produced == 0 => return,
                // A final block ends the deflate stream: what follows starts afresh.
                Ok(Status::StreamEnd) => self.inflater.reset(false),
                // A full scratch may hold more back.
                Ok(_) if produced == SCRATCH => {}
                Ok(_) if input.is_empty() => return,
                Ok(_) => {}
            }
        }
    }

    fn fail(&mut self, message: &mut Message) {
        message.oversized = true;
        message.buf = Vec::new();
        if self.takeover {
            self.lost = true;
        } else {
            self.inflater.reset(false);
        }
    }

    fn end_message(&mut self, message: &mut Message) {
        self.inflate(&TAIL, message);
        if !self.takeover {
            self.inflater.reset(false);
        }
        if self.lost {
            message.oversized = true;
        }
    }
}

impl WsReader {
    /// `extensions`: the `sec-websocket-extensions` the server's `101` agreed.
    pub fn new(extensions: Option<&str>) -> WsReader {
        WsReader {
            head: [0; 14],
            head_len: 0,
            frame: None,
            message: None,
            deflate: Deflate::negotiated(extensions),
            closed: false,
        }
    }

    /// Bytes the server sent, as they went to the client; what completed in them.
    pub fn feed(&mut self, mut bytes: &[u8]) -> Vec<Found> {
        let mut found = Vec::new();
        while !bytes.is_empty() && !self.closed {
            let taken = match self.frame {
                None => self.read_head(bytes),
                Some(_) => self.read_payload(bytes, &mut found),
            };
            bytes = &bytes[taken..];
            // A frame without payload ends as soon as its head is read.
            if self.frame.as_ref().is_some_and(|f| f.remaining == 0) {
                self.end_frame(&mut found);
            }
        }
        found
    }

    /// Takes header bytes; returns how many of `bytes` it used.
    fn read_head(&mut self, bytes: &[u8]) -> usize {
        let mut used = 0;
        while used < bytes.len() {
            let need = head_len(&self.head[..self.head_len]);
            if self.head_len >= need {
                break;
            }
            self.head[self.head_len] = bytes[used];
            self.head_len += 1;
            used += 1;
        }
        let need = head_len(&self.head[..self.head_len]);
        if self.head_len >= 2 && self.head_len >= need {
            self.start_frame();
        }
        used
    }

    fn start_frame(&mut self) {
        let h = &self.head[..self.head_len];
        let (fin, rsv1, opcode) = (h[0] & 0x80 != 0, h[0] & 0x40 != 0, h[0] & 0x0f);
        let masked = h[1] & 0x80 != 0;
        let (len, at) = match h[1] & 0x7f {
            126 => (u64::from(u16::from_be_bytes([h[2], h[3]])), 4),
            127 => (
                u64::from_be_bytes(h[2..10].try_into().unwrap_or_default()),
                10,
            ),
            n => (u64::from(n), 2),
        };
        let mask = masked.then(|| [h[at], h[at + 1], h[at + 2], h[at + 3]]);
        self.head_len = 0;
        let data = match opcode {
            0x1 | 0x2 => {
                // A new message while one is open breaks the protocol; the old one is dropped.
                let compressed = rsv1 && self.deflate.is_some();
                self.message = Some(Message {
                    text: opcode == 0x1,
                    compressed,
                    buf: Vec::new(),
                    oversized: false,
                });
                true
            }
            0x0 => self.message.is_some(),
            0x8 => {
                self.closed = true;
                false
            }
            _ => false,
        };
        self.frame = Some(Frame {
            remaining: len,
            mask,
            offset: 0,
            fin,
            data,
        });
    }

    fn read_payload(&mut self, bytes: &[u8], found: &mut Vec<Found>) -> usize {
        let Some(frame) = self.frame.as_mut() else {
            return 0;
        };
        let n = usize::try_from(frame.remaining).map_or(bytes.len(), |r| r.min(bytes.len()));
        frame.remaining -= n as u64;
        if frame.data {
            let payload = &bytes[..n];
            let unmasked;
            let payload = match frame.mask {
                // Servers do not mask (RFC 6455 §5.1); a copy is made only if one does.
                Some(key) => {
                    let start = frame.offset;
                    unmasked = (payload.iter().enumerate())
                        .map(|(i, b)| b ^ key[((start + i as u64) % 4) as usize])
                        .collect::<Vec<u8>>();
                    &unmasked[..]
                }
                None => payload,
            };
            frame.offset = frame.offset.wrapping_add(n as u64);
            if let Some(message) = self.message.as_mut() {
                match (&mut self.deflate, message.compressed) {
                    (Some(deflate), true) => deflate.inflate(payload, message),
                    _ => message.push(payload),
                }
            }
        }
        if frame.remaining == 0 {
            self.end_frame(found);
        }
        n
    }

    fn end_frame(&mut self, found: &mut Vec<Found>) {
        let Some(frame) = self.frame.take() else {
            return;
        };
        if !(frame.data && frame.fin) {
            return;
        }
        let Some(mut message) = self.message.take() else {
            return;
        };
        if let (Some(deflate), true) = (&mut self.deflate, message.compressed) {
            deflate.end_message(&mut message);
        }
        if message.text && !message.oversized {
            found.extend(completed(&message.buf));
        }
    }
}

/// Bytes a frame's head takes, as far as `head` tells (2 until the length byte is in).
fn head_len(head: &[u8]) -> usize {
    let Some(&b) = head.get(1) else {
        return 2;
    };
    let len = match b & 0x7f {
        126 => 2,
        127 => 8,
        _ => 0,
    };
    2 + len + if b & 0x80 != 0 { 4 } else { 0 }
}

/// The usage of a `response.completed` (or `.done` / `.incomplete`) event.
fn completed(text: &[u8]) -> Option<Found> {
    memmem::find(text, b"\"response.")?;
    let (kind, seen) = doc_in_bytes(text)?;
    matches!(
        kind.as_deref()?,
        "response.completed" | "response.done" | "response.incomplete"
    )
    .then(|| seen.into())
}

#[cfg(test)]
#[path = "websocket_tests.rs"]
mod tests;
