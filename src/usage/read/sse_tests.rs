use super::*;
use crate::usage::read::tests::tokens;

const USAGE: &[u8] = b"{\"model\":\"m\",\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":4}}";

fn run(chunks: &[&[u8]]) -> Seen {
    let mut sse = Sse::default();
    chunks.iter().for_each(|c| sse.feed(c));
    sse.finish()
}

fn event(ending: &str) -> Vec<u8> {
    let mut e = b"event: x".to_vec();
    e.extend_from_slice(ending.as_bytes());
    e.extend_from_slice(b"data: ");
    e.extend_from_slice(USAGE);
    e.extend_from_slice(ending.repeat(2).as_bytes());
    e
}

#[test]
fn every_line_ending_ends_events() {
    for ending in ["\n", "\r\n", "\r"] {
        let bytes = event(ending);
        for at in 0..=bytes.len() {
            let (a, b) = bytes.split_at(at);
            let seen = run(&[a, b]);
            assert_eq!(
                seen.tokens(),
                Some(tokens(3, 4, 0, 0, 0)),
                "{ending:?} at {at}"
            );
            assert_eq!(seen.model.as_deref(), Some("m"));
        }
    }
}

#[test]
fn a_data_value_over_lines_is_joined() {
    let seen = run(&[b"data: {\"usage\":\ndata: {\"prompt_tokens\":3}}\n\n"]);
    assert_eq!(seen.tokens(), Some(tokens(3, 0, 0, 0, 0)));
}

#[test]
fn a_line_too_long_is_skipped_not_buffered() {
    let mut sse = Sse::default();
    sse.feed(b"data: {\"usage\":{\"prompt_tokens\":9},\"pad\":\"");
    let pad = vec![b'a'; 64 << 10];
    for _ in 0..32 {
        sse.feed(&pad);
        assert!(sse.line.len() <= MAX_LINE);
    }
    sse.feed(b"\"}\n\n");
    let mut good = b"data: ".to_vec();
    good.extend_from_slice(USAGE);
    good.extend_from_slice(b"\n\n");
    sse.feed(&good);
    let seen = sse.finish();
    // The long event said nothing; the one after it is read.
    assert_eq!(seen.tokens(), Some(tokens(3, 4, 0, 0, 0)));
}

#[test]
fn an_event_cut_by_the_end_of_the_stream_is_read() {
    let mut cut = b"data: ".to_vec();
    cut.extend_from_slice(USAGE);
    assert_eq!(run(&[&cut]).tokens(), Some(tokens(3, 4, 0, 0, 0)));
}

#[test]
fn events_without_usage_are_not_parsed() {
    assert!(!may_carry_usage(
        b"{\"type\":\"content_block_delta\",\"delta\":{\"text\":\"hi\"}}"
    ));
    assert!(!may_carry_usage(b"[DONE]"));
    assert!(may_carry_usage(b" {\"usageMetadata\":{}}"));
    let seen = run(&[b": comment\n\nid: 1\nretry: 10\ndata: [DONE]\n\n"]);
    assert_eq!(seen, Seen::default());
}
