use super::*;
use crate::usage::read::tests::tokens;
use flate2::{Compress, Compression, FlushCompress};

fn completed_event(n: u64) -> String {
    format!(
        r#"{{"type":"response.completed","sequence_number":9,"response":{{"id":"resp_{n}","status":"completed","model":"gpt-5-codex","output":[],"usage":{{"input_tokens":{},"input_tokens_details":{{"cached_tokens":100}},"output_tokens":50,"output_tokens_details":{{"reasoning_tokens":20}},"total_tokens":1}}}}}}"#,
        1000 + n
    )
}

fn want(n: u64) -> Found {
    Found {
        model: Some("gpt-5-codex".into()),
        tokens: Some(tokens(900 + n, 50, 100, 0, 20)),
    }
}

/// One frame as a server sends it (unmasked unless `mask`).
fn frame(fin: bool, rsv1: bool, opcode: u8, payload: &[u8], mask: Option<[u8; 4]>) -> Vec<u8> {
    let mut f = vec![(u8::from(fin) << 7) | (u8::from(rsv1) << 6) | opcode];
    let m = if mask.is_some() { 0x80 } else { 0 };
    match payload.len() {
        n if n < 126 => f.push(m | n as u8),
        n if n < 65536 => {
            f.push(m | 126);
            f.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            f.push(m | 127);
            f.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    match mask {
        Some(key) => {
            f.extend_from_slice(&key);
            f.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
        }
        None => f.extend_from_slice(payload),
    }
    f
}

/// permessage-deflate: sync-flushed raw deflate without its `00 00 ff ff` tail.
fn deflate(c: &mut Compress, text: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len() + 64);
    c.compress_vec(text, &mut out, FlushCompress::Sync).unwrap();
    while out.len() == out.capacity() {
        out.reserve(1024);
        c.compress_vec(&[], &mut out, FlushCompress::Sync).unwrap();
    }
    assert!(out.ends_with(&TAIL));
    out.truncate(out.len() - 4);
    out
}

fn feed_split(extensions: Option<&str>, bytes: &[u8]) {
    let whole = WsReader::new(extensions).feed(bytes);
    assert!(!whole.is_empty());
    for at in 0..=bytes.len() {
        let mut r = WsReader::new(extensions);
        let mut got = r.feed(&bytes[..at]);
        got.extend(r.feed(&bytes[at..]));
        assert_eq!(got, whole, "split at {at}");
    }
    let mut r = WsReader::new(extensions);
    let got: Vec<Found> = bytes
        .iter()
        .flat_map(|b| r.feed(std::slice::from_ref(b)))
        .collect();
    assert_eq!(got, whole, "byte by byte");
}

#[test]
fn plain_text_frames_fragmented_and_interleaved_with_control_frames() {
    let delta = br#"{"type":"response.output_text.delta","delta":"hi"}"#;
    let event = completed_event(1);
    let (a, b) = event.as_bytes().split_at(40);
    let mut bytes = frame(true, false, 0x1, delta, None);
    bytes.extend(frame(false, false, 0x1, a, None));
    bytes.extend(frame(true, false, 0x9, b"ping", None));
    bytes.extend(frame(true, false, 0x0, b, None));
    bytes.extend(frame(
        true,
        false,
        0x1,
        completed_event(2).as_bytes(),
        Some([1, 2, 3, 4]),
    ));
    bytes.extend(frame(true, false, 0x2, completed_event(3).as_bytes(), None));
    let got = WsReader::new(None).feed(&bytes);
    assert_eq!(got, vec![want(1), want(2)]);
    feed_split(None, &bytes);
}

#[test]
fn large_frames_use_the_longer_lengths() {
    let pad = "p".repeat(70_000);
    let event = completed_event(4).replacen(
        "\"output\":[]",
        &format!("\"output\":[],\"pad\":\"{pad}\""),
        1,
    );
    let bytes = frame(true, false, 0x1, event.as_bytes(), None);
    assert_eq!(bytes[1], 127);
    assert_eq!(WsReader::new(None).feed(&bytes), vec![want(4)]);
}

#[test]
fn permessage_deflate_keeps_its_context_across_messages() {
    let ext = "permessage-deflate; client_max_window_bits";
    let mut c = Compress::new(Compression::default(), false);
    let mut bytes = Vec::new();
    for n in 1..=3 {
        let d = deflate(&mut c, completed_event(n).as_bytes());
        // The second message in two fragments; only the first carries RSV1.
        if n == 2 {
            let (a, b) = d.split_at(d.len() / 2);
            bytes.extend(frame(false, true, 0x1, a, None));
            bytes.extend(frame(true, false, 0x0, b, None));
        } else {
            bytes.extend(frame(true, true, 0x1, &d, None));
        }
    }
    // An uncompressed message between compressed ones (RSV1 clear).
    bytes.extend(frame(true, false, 0x1, completed_event(4).as_bytes(), None));
    let got = WsReader::new(Some(ext)).feed(&bytes);
    assert_eq!(got, vec![want(1), want(2), want(3), want(4)]);
    feed_split(Some(ext), &bytes);
}

#[test]
fn permessage_deflate_without_context_takeover() {
    let ext = "permessage-deflate; server_no_context_takeover; client_no_context_takeover";
    let mut bytes = Vec::new();
    for n in 1..=2 {
        let mut c = Compress::new(Compression::default(), false);
        bytes.extend(frame(
            true,
            true,
            0x1,
            &deflate(&mut c, completed_event(n).as_bytes()),
            None,
        ));
    }
    assert_eq!(
        WsReader::new(Some(ext)).feed(&bytes),
        vec![want(1), want(2)]
    );
    feed_split(Some(ext), &bytes);
}

#[test]
fn an_oversized_message_is_skipped_but_inflated_for_the_context() {
    let ext = "permessage-deflate";
    let mut c = Compress::new(Compression::fast(), false);
    let huge = format!(
        r#"{{"type":"response.completed","pad":"{}","response":{{"usage":{{"input_tokens":1}}}}}}"#,
        "z".repeat(MAX_MESSAGE + 10)
    );
    let mut bytes = frame(true, true, 0x1, &deflate(&mut c, huge.as_bytes()), None);
    bytes.extend(frame(
        true,
        true,
        0x1,
        &deflate(&mut c, completed_event(5).as_bytes()),
        None,
    ));
    let mut r = WsReader::new(Some(ext));
    let got: Vec<Found> = bytes.chunks(4096).flat_map(|c| r.feed(c)).collect();
    assert_eq!(got, vec![want(5)]);
}

#[test]
fn garbage_never_panics_and_close_ends_reading() {
    let mut r = WsReader::new(Some("permessage-deflate"));
    r.feed(&frame(true, true, 0x1, b"\xff\xfe not deflate", None));
    // The context is lost: later compressed messages are not read, plain ones are.
    let mut c = Compress::new(Compression::default(), false);
    assert!(r
        .feed(&frame(
            true,
            true,
            0x1,
            &deflate(&mut c, completed_event(6).as_bytes()),
            None
        ))
        .is_empty());
    assert_eq!(
        r.feed(&frame(
            true,
            false,
            0x1,
            completed_event(7).as_bytes(),
            None
        )),
        vec![want(7)]
    );
    r.feed(&frame(true, false, 0x8, &[0x03, 0xe8], None));
    assert!(r
        .feed(&frame(
            true,
            false,
            0x1,
            completed_event(8).as_bytes(),
            None
        ))
        .is_empty());
    // A 2^63-byte frame head and random bytes cost nothing.
    let mut r = WsReader::new(None);
    r.feed(&[0x81, 0x7f, 0x80, 0, 0, 0, 0, 0, 0, 0, b'x']);
    let mut r = WsReader::new(Some("permessage-deflate"));
    let mut x: u32 = 7;
    let noise: Vec<u8> = (0..100_000)
        .map(|_| {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            (x >> 16) as u8
        })
        .collect();
    for c in noise.chunks(333) {
        r.feed(c);
    }
}

#[test]
fn extensions_are_read_from_the_101() {
    assert!(Deflate::negotiated(None).is_none());
    assert!(Deflate::negotiated(Some("x-webkit-deflate-frame")).is_none());
    let d =
        Deflate::negotiated(Some("foo, permessage-deflate; server_no_context_takeover")).unwrap();
    assert!(!d.takeover);
    assert!(
        Deflate::negotiated(Some("permessage-deflate; server_max_window_bits=10"))
            .unwrap()
            .takeover
    );
}
