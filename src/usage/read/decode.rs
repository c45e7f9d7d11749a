//! A compressed answer is inflated as a copy while the original bytes go to the client
//! untouched. Not counted: answers whose inflated size passes [`MAX_INFLATED`] (the part
//! beyond it is not read, so usage at its end is missed), corrupt streams (read up to the
//! corruption), and encodings other than `gzip`, `deflate` and `br` (or stacked ones).

use super::body::Body;
use std::io::{self, Write};

/// Inflated bytes read per answer; a bomb stops here.
const MAX_INFLATED: u64 = 8 << 20;
/// Brotli's own output buffer.
const BROTLI_BUFFER: usize = 16 << 10;

/// Where inflated bytes go: straight into the body's reader, counted.
#[derive(Default)]
pub(super) struct Sink {
    pub body: Body,
    inflated: u64,
}

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.inflated = self.inflated.saturating_add(buf.len() as u64);
        if self.inflated > MAX_INFLATED {
            return Err(io::Error::other("inflated past the cap"));
        }
        self.body.feed(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The encodings keypool inflates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Encoding {
    Gzip,
    /// `deflate`: meant to be zlib, sent raw by some servers; told apart by the first bytes.
    Deflate,
    Brotli,
}

impl Encoding {
    /// `None` for `identity`/absent via `Ok(None)`; `Err` for what keypool cannot read.
    pub fn parse(value: Option<&str>) -> Result<Option<Encoding>, ()> {
        let Some(value) = value.map(str::trim).filter(|v| !v.is_empty()) else {
            return Ok(None);
        };
        match value.to_ascii_lowercase().as_str() {
            "identity" => Ok(None),
            "gzip" | "x-gzip" => Ok(Some(Encoding::Gzip)),
            "deflate" => Ok(Some(Encoding::Deflate)),
            "br" => Ok(Some(Encoding::Brotli)),
            _ => Err(()),
        }
    }
}

enum State {
    /// `deflate` before its first two bytes told zlib from raw.
    Undecided(Vec<u8>, Sink),
    Gzip(flate2::write::GzDecoder<Sink>),
    Zlib(flate2::write::ZlibDecoder<Sink>),
    Raw(flate2::write::DeflateDecoder<Sink>),
    Brotli(Box<brotli_decompressor::DecompressorWriter<Sink>>),
    /// Corrupt or past the cap: nothing more is read.
    Stopped(Sink),
}

pub(super) struct Inflate {
    state: State,
}

impl Inflate {
    pub fn new(encoding: Encoding, body: Body) -> Inflate {
        let sink = Sink { body, inflated: 0 };
        let state = match encoding {
            Encoding::Gzip => State::Gzip(flate2::write::GzDecoder::new(sink)),
            Encoding::Deflate => State::Undecided(Vec::new(), sink),
            Encoding::Brotli => State::Brotli(Box::new(
                brotli_decompressor::DecompressorWriter::new(sink, BROTLI_BUFFER),
            )),
        };
        Inflate { state }
    }

    pub fn body(&self) -> &Body {
        match &self.state {
            State::Undecided(_, s) | State::Stopped(s) => &s.body,
            State::Gzip(d) => &d.get_ref().body,
            State::Zlib(d) => &d.get_ref().body,
            State::Raw(d) => &d.get_ref().body,
            State::Brotli(d) => &d.get_ref().body,
        }
    }

    pub fn feed(&mut self, chunk: &[u8]) {
        if let State::Undecided(prefix, _) = &mut self.state {
            prefix.extend_from_slice(chunk);
            if prefix.len() < 2 {
                return;
            }
            let prefix = std::mem::take(prefix);
            let sink = self.take_sink();
            self.state = if is_zlib(&prefix) {
                State::Zlib(flate2::write::ZlibDecoder::new(sink))
            } else {
                State::Raw(flate2::write::DeflateDecoder::new(sink))
            };
            self.write(&prefix);
            return;
        }
        self.write(chunk);
    }

    fn write(&mut self, bytes: &[u8]) {
        let ok = match &mut self.state {
            State::Gzip(d) => d.write_all(bytes).is_ok(),
            State::Zlib(d) => d.write_all(bytes).is_ok(),
            State::Raw(d) => d.write_all(bytes).is_ok(),
            State::Brotli(d) => d.write_all(bytes).is_ok(),
            State::Undecided(..) | State::Stopped(_) => true,
        };
        if !ok {
            self.stop();
        }
    }

    fn stop(&mut self) {
        let sink = self.take_sink();
        self.state = State::Stopped(sink);
    }

    fn take_sink(&mut self) -> Sink {
        match &mut self.state {
            State::Gzip(d) => std::mem::take(d.get_mut()),
            State::Zlib(d) => std::mem::take(d.get_mut()),
            State::Raw(d) => std::mem::take(d.get_mut()),
            State::Brotli(d) => std::mem::take(d.get_mut()),
            State::Undecided(_, s) | State::Stopped(s) => std::mem::take(s),
        }
    }

    /// The body's reader with all that could be inflated fed to it.
    pub fn finish(mut self) -> Body {
        // A stream cut short stays read up to where it stopped: a failing end changes
        // nothing already fed.
        match &mut self.state {
            State::Gzip(d) => drop(d.try_finish()),
            State::Zlib(d) => drop(d.try_finish()),
            State::Raw(d) => drop(d.try_finish()),
            State::Brotli(d) => drop(d.close()),
            // Under two bytes is no deflate stream worth reading.
            State::Undecided(..) | State::Stopped(_) => {}
        }
        self.take_sink().body
    }
}

/// A zlib header: compression method 8 and a check over the two bytes.
fn is_zlib(b: &[u8]) -> bool {
    b.len() >= 2 && b[0] & 0x0f == 8 && (u16::from(b[0]) << 8 | u16::from(b[1])) % 31 == 0
}
