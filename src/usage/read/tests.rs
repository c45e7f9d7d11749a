//! Real wire samples of each dialect through [`Reader`]: whole, split at every byte, and
//! compressed.

use super::*;
use std::io::Write;

pub(super) fn tokens(
    input: u64,
    output: u64,
    cache_read: u64,
    cache_write: u64,
    reasoning: u64,
) -> Tokens {
    Tokens {
        input,
        output,
        cache_read,
        cache_write,
        reasoning,
    }
}

fn headers(content_type: &str, encoding: Option<&str>) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(header::CONTENT_TYPE, content_type.parse().unwrap());
    if let Some(e) = encoding {
        h.insert(header::CONTENT_ENCODING, e.parse().unwrap());
    }
    h
}

fn read(h: &HeaderMap, chunks: &[&[u8]]) -> Found {
    let mut r = Reader::for_answer(h).expect("a reader");
    chunks.iter().for_each(|c| r.feed(c));
    r.finish()
}

/// `body` whole, then split in two at every byte, then byte by byte: all read the same.
fn read_every_way(content_type: &str, body: &[u8]) -> Found {
    let h = headers(content_type, None);
    let whole = read(&h, &[body]);
    for at in 0..=body.len() {
        let (a, b) = body.split_at(at);
        assert_eq!(read(&h, &[a, b]), whole, "split at {at}");
    }
    let bytes: Vec<&[u8]> = body.chunks(1).collect();
    assert_eq!(read(&h, &bytes), whole, "byte by byte");
    whole
}

fn found(model: &str, t: Tokens) -> Found {
    Found {
        model: Some(model.to_string()),
        tokens: Some(t),
    }
}

pub(super) const CHAT_JSON: &str = r#"{"id":"chatcmpl-B9","object":"chat.completion","created":1741570283,"model":"gpt-4o-2024-08-06","choices":[{"index":0,"message":{"role":"assistant","content":"Hi","refusal":null},"finish_reason":"stop"}],"usage":{"prompt_tokens":1117,"completion_tokens":46,"total_tokens":1163,"prompt_tokens_details":{"cached_tokens":1024,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}},"service_tier":"default","system_fingerprint":"fp_fc9f1d7035"}"#;

const CHAT_SSE: &str = "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"model\":\"o4-mini-2025-04-16\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"finish_reason\":null}],\"usage\":null}\n\n\
data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"model\":\"o4-mini-2025-04-16\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi about usage\"},\"finish_reason\":null}],\"usage\":null}\n\n\
data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"model\":\"o4-mini-2025-04-16\",\"choices\":[],\"usage\":{\"prompt_tokens\":20,\"completion_tokens\":210,\"total_tokens\":230,\"prompt_tokens_details\":{\"cached_tokens\":0},\"completion_tokens_details\":{\"reasoning_tokens\":192}}}\n\n\
data: [DONE]\n\n";

pub(super) const RESPONSES_JSON: &str = r#"{"id":"resp_1","object":"response","created_at":1741476542,"status":"completed","model":"gpt-5-codex","output":[{"type":"message","id":"msg_1","status":"completed","role":"assistant","content":[{"type":"output_text","text":"Hi","annotations":[]}]}],"usage":{"input_tokens":3000,"input_tokens_details":{"cached_tokens":2048},"output_tokens":400,"output_tokens_details":{"reasoning_tokens":320},"total_tokens":3400}}"#;

const RESPONSES_SSE: &str = "event: response.created\ndata: {\"type\":\"response.created\",\"sequence_number\":0,\"response\":{\"id\":\"resp_1\",\"status\":\"in_progress\",\"model\":\"gpt-5-codex\",\"output\":[],\"usage\":null}}\n\n\
event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\",\"sequence_number\":1,\"item_id\":\"msg_1\",\"output_index\":0,\"content_index\":0,\"delta\":\"Hi\"}\n\n\
event: response.completed\ndata: {\"type\":\"response.completed\",\"sequence_number\":2,\"response\":{\"id\":\"resp_1\",\"status\":\"completed\",\"model\":\"gpt-5-codex\",\"output\":[],\"usage\":{\"input_tokens\":3000,\"input_tokens_details\":{\"cached_tokens\":2048},\"output_tokens\":400,\"output_tokens_details\":{\"reasoning_tokens\":320},\"total_tokens\":3400}}}\n\n";

pub(super) const ANTHROPIC_JSON: &str = r#"{"id":"msg_01","type":"message","role":"assistant","model":"claude-sonnet-4-5-20250929","content":[{"type":"text","text":"Hi"}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":12,"cache_creation_input_tokens":1500,"cache_read_input_tokens":9000,"output_tokens":80,"service_tier":"standard"}}"#;

const ANTHROPIC_SSE: &str = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_01\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-opus-4-1-20250805\",\"content\":[],\"stop_reason\":null,\"usage\":{\"input_tokens\":12,\"cache_creation_input_tokens\":1500,\"cache_read_input_tokens\":9000,\"output_tokens\":1}}}\n\n\
event: ping\ndata: {\"type\": \"ping\"}\n\n\
event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hi\"}}\n\n\
event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":15}}\n\n\
event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"input_tokens\":12,\"cache_read_input_tokens\":9000,\"output_tokens\":80}}\n\n\
event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";

pub(super) const GEMINI_JSON: &str = r#"{"candidates":[{"content":{"parts":[{"text":"Hi"}],"role":"model"},"finishReason":"STOP","index":0}],"usageMetadata":{"promptTokenCount":5000,"candidatesTokenCount":60,"totalTokenCount":5460,"cachedContentTokenCount":4000,"thoughtsTokenCount":400,"promptTokensDetails":[{"modality":"TEXT","tokenCount":5000}]},"modelVersion":"gemini-2.5-pro","responseId":"abc"}"#;

const GEMINI_SSE: &str = "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"Hi\"}],\"role\":\"model\"},\"index\":0}],\"usageMetadata\":{\"promptTokenCount\":5000,\"totalTokenCount\":5000},\"modelVersion\":\"gemini-2.5-flash\"}\r\n\r\n\
data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\" there\"}],\"role\":\"model\"},\"finishReason\":\"STOP\",\"index\":0}],\"usageMetadata\":{\"promptTokenCount\":5000,\"candidatesTokenCount\":60,\"totalTokenCount\":5460,\"cachedContentTokenCount\":4000,\"thoughtsTokenCount\":400},\"modelVersion\":\"gemini-2.5-flash\"}\r\n\r\n";

pub(super) const DEEPSEEK_JSON: &str = r#"{"id":"d","object":"chat.completion","model":"deepseek-chat","choices":[],"usage":{"prompt_tokens":100,"completion_tokens":7,"total_tokens":107,"prompt_tokens_details":{"cached_tokens":64},"prompt_cache_hit_tokens":64,"prompt_cache_miss_tokens":36}}"#;

#[test]
fn openai_chat_json_and_stream() {
    let f = read_every_way("application/json", CHAT_JSON.as_bytes());
    assert_eq!(f, found("gpt-4o-2024-08-06", tokens(93, 46, 1024, 0, 0)));
    let f = read_every_way("text/event-stream; charset=utf-8", CHAT_SSE.as_bytes());
    assert_eq!(f, found("o4-mini-2025-04-16", tokens(20, 210, 0, 0, 192)));
}

#[test]
fn responses_json_and_stream() {
    let want = found("gpt-5-codex", tokens(952, 400, 2048, 0, 320));
    assert_eq!(
        read_every_way("application/json", RESPONSES_JSON.as_bytes()),
        want
    );
    assert_eq!(
        read_every_way("text/event-stream", RESPONSES_SSE.as_bytes()),
        want
    );
}

#[test]
fn anthropic_json_and_stream() {
    let f = read_every_way("application/json", ANTHROPIC_JSON.as_bytes());
    assert_eq!(
        f,
        found("claude-sonnet-4-5-20250929", tokens(12, 80, 9000, 1500, 0))
    );
    // The last message_delta's cumulative output wins; the cache write of message_start
    // stays though the delta does not restate it.
    let f = read_every_way("text/event-stream", ANTHROPIC_SSE.as_bytes());
    assert_eq!(
        f,
        found("claude-opus-4-1-20250805", tokens(12, 80, 9000, 1500, 0))
    );
}

#[test]
fn gemini_json_array_code_assist_and_stream() {
    let want = |m: &str| found(m, tokens(1000, 460, 4000, 0, 400));
    assert_eq!(
        read_every_way("application/json; charset=UTF-8", GEMINI_JSON.as_bytes()),
        want("gemini-2.5-pro")
    );
    let array = format!(
        "[{},{}]",
        GEMINI_JSON.replace("\"candidatesTokenCount\":60,", ""),
        GEMINI_JSON
    );
    assert_eq!(
        read_every_way("application/json", array.as_bytes()),
        want("gemini-2.5-pro")
    );
    let wrapped = format!("{{\"response\":{GEMINI_JSON},\"traceId\":\"t\"}}");
    assert_eq!(
        read_every_way("application/json", wrapped.as_bytes()),
        want("gemini-2.5-pro")
    );
    assert_eq!(
        read_every_way("text/event-stream", GEMINI_SSE.as_bytes()),
        want("gemini-2.5-flash")
    );
    let wrapped_sse = GEMINI_SSE
        .replace("data: {", "data: {\"response\":{")
        .replace("}\r\n", "}}\r\n");
    assert_eq!(
        read_every_way("text/event-stream", wrapped_sse.as_bytes()),
        want("gemini-2.5-flash")
    );
}

#[test]
fn openai_compatible_shapes() {
    let f = read_every_way("application/json", DEEPSEEK_JSON.as_bytes());
    assert_eq!(f, found("deepseek-chat", tokens(36, 7, 64, 0, 0)));
    let only_deepseek =
        DEEPSEEK_JSON.replace("\"prompt_tokens_details\":{\"cached_tokens\":64},", "");
    assert_eq!(
        read_every_way("application/json", only_deepseek.as_bytes()),
        f
    );
    // xAI counts reasoning beside completion_tokens: total = prompt + completion + reasoning.
    let xai = r#"{"model":"grok-4-0709","usage":{"prompt_tokens":30,"completion_tokens":10,"total_tokens":140,"prompt_tokens_details":{"cached_tokens":6},"completion_tokens_details":{"reasoning_tokens":100}}}"#;
    assert_eq!(
        read_every_way("application/json", xai.as_bytes()),
        found("grok-4-0709", tokens(24, 110, 6, 0, 100))
    );
    // Groq's older streams: usage under x_groq in the last chunk.
    let groq = "data: {\"model\":\"llama-3.3-70b-versatile\",\"choices\":[],\"x_groq\":{\"id\":\"r\",\"usage\":{\"prompt_tokens\":40,\"completion_tokens\":9,\"total_tokens\":49}}}\n\ndata: [DONE]\n\n";
    assert_eq!(
        read_every_way("text/event-stream", groq.as_bytes()),
        found("llama-3.3-70b-versatile", tokens(40, 9, 0, 0, 0))
    );
}

fn gzip(body: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(body).unwrap();
    e.finish().unwrap()
}

fn compressed(encoding: &str, body: &[u8]) -> Vec<u8> {
    match encoding {
        "gzip" => gzip(body),
        "deflate" => {
            let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(body).unwrap();
            e.finish().unwrap()
        }
        "raw-deflate" => {
            let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(body).unwrap();
            e.finish().unwrap()
        }
        _ => panic!("{encoding}"),
    }
}

#[test]
fn compressed_answers_are_inflated_as_a_copy() {
    for (encoding, header_value) in [
        ("gzip", "gzip"),
        ("deflate", "deflate"),
        ("raw-deflate", "deflate"),
    ] {
        for (ct, body, want) in [
            (
                "application/json",
                CHAT_JSON,
                found("gpt-4o-2024-08-06", tokens(93, 46, 1024, 0, 0)),
            ),
            (
                "text/event-stream",
                ANTHROPIC_SSE,
                found("claude-opus-4-1-20250805", tokens(12, 80, 9000, 1500, 0)),
            ),
        ] {
            let bytes = compressed(encoding, body.as_bytes());
            let h = headers(ct, Some(header_value));
            for at in 0..=bytes.len() {
                let (a, b) = bytes.split_at(at);
                assert_eq!(read(&h, &[a, b]), want, "{encoding} split at {at}");
            }
            let reader = Reader::for_answer(&h).unwrap();
            assert_eq!(reader.is_stream(), ct == "text/event-stream");
        }
    }
}

#[test]
fn brotli_answers_are_inflated() {
    let mut out = Vec::new();
    {
        let mut w = brotli_compressed_writer(&mut out);
        w.write_all(RESPONSES_SSE.as_bytes()).unwrap();
    }
    let h = headers("text/event-stream", Some("br"));
    let want = found("gpt-5-codex", tokens(952, 400, 2048, 0, 320));
    for at in (0..=out.len()).step_by(7) {
        let (a, b) = out.split_at(at);
        assert_eq!(read(&h, &[a, b]), want, "split at {at}");
    }
}

/// A brotli stream of stored (uncompressed) meta-blocks: enough to test the reader
/// without a brotli encoder in the dependencies.
fn brotli_compressed_writer(out: &mut Vec<u8>) -> impl Write + '_ {
    struct Stored<'a>(&'a mut Vec<u8>, Vec<u8>);
    impl Write for Stored<'_> {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.1.extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    impl Drop for Stored<'_> {
        fn drop(&mut self) {
            *self.0 = brotli_stored(&self.1);
        }
    }
    Stored(out, Vec::new())
}

/// RFC 7932: WBITS=16 (one 0 bit), then per ≤65536-byte chunk an uncompressed
/// meta-block (ISLAST=0, MNIBBLES=4, MLEN-1, ISUNCOMPRESSED=1, byte-aligned data), then an
/// empty last meta-block (ISLAST=1, ISLASTEMPTY=1).
fn brotli_stored(data: &[u8]) -> Vec<u8> {
    let mut bits = BitWriter::default();
    bits.put(0, 1);
    for chunk in data.chunks(65536) {
        bits.put(0, 1);
        bits.put(0, 2);
        bits.put((chunk.len() - 1) as u64, 16);
        bits.put(1, 1);
        bits.align();
        bits.bytes.extend_from_slice(chunk);
    }
    bits.put(1, 1);
    bits.put(1, 1);
    bits.align();
    bits.bytes
}

#[derive(Default)]
struct BitWriter {
    bytes: Vec<u8>,
    used: u8,
}

impl BitWriter {
    fn put(&mut self, value: u64, n: u8) {
        for i in 0..n {
            if self.used == 0 {
                self.bytes.push(0);
            }
            let bit = ((value >> i) & 1) as u8;
            *self.bytes.last_mut().unwrap() |= bit << self.used;
            self.used = (self.used + 1) % 8;
        }
    }

    fn align(&mut self) {
        self.used = 0;
    }
}

#[test]
fn other_content_types_and_encodings_get_no_reader() {
    assert!(Reader::for_answer(&headers("text/plain", None)).is_none());
    assert!(Reader::for_answer(&headers("application/octet-stream", None)).is_none());
    assert!(Reader::for_answer(&headers("application/json", Some("zstd"))).is_none());
    assert!(Reader::for_answer(&headers("application/json", Some("gzip, br"))).is_none());
    assert!(Reader::for_answer(&HeaderMap::new()).is_none());
    assert!(Reader::for_answer(&headers("application/problem+json", Some("identity"))).is_some());
}

#[test]
fn hostile_numbers_are_ignored_not_trusted() {
    let body = r#"{"model":"gpt-4o","usage":{"prompt_tokens":-5,"completion_tokens":1.5,"total_tokens":"7","prompt_tokens_details":{"cached_tokens":99999999999999999999}}}"#;
    let f = read_every_way("application/json", body.as_bytes());
    assert_eq!(f.tokens, None);
    let absurd =
        r#"{"model":"gpt-4o","usage":{"prompt_tokens":10,"completion_tokens":5000000000000}}"#;
    let f = read_every_way("application/json", absurd.as_bytes());
    assert_eq!(f.tokens, Some(tokens(10, 0, 0, 0, 0)));
    // More cached than prompted: input saturates at zero.
    let more_cached = r#"{"usage":{"prompt_tokens":10,"completion_tokens":1,"prompt_tokens_details":{"cached_tokens":50}}}"#;
    let f = read_every_way("application/json", more_cached.as_bytes());
    assert_eq!(f.tokens, Some(tokens(0, 1, 50, 0, 0)));
    // A model id with control characters or of absurd length is not kept.
    let bad_model = format!(
        r#"{{"model":"{}","usage":{{"input_tokens":1,"output_tokens":1}}}}"#,
        "x".repeat(300)
    );
    assert_eq!(
        read_every_way("application/json", bad_model.as_bytes()).model,
        None
    );
}

#[test]
fn fields_of_the_wrong_shape_say_nothing_and_spoil_nothing_else() {
    // Each wrong piece is skipped; what is well-formed beside it still counts.
    let body = r#"{"model":{"id":"x"},"modelVersion":7,"usage":{"prompt_tokens":{"n":1},"completion_tokens":[2],"prompt_tokens_details":[1,2],"completion_tokens_details":"none","total_tokens":null},"usageMetadata":"no"}"#;
    let f = read_every_way("application/json", body.as_bytes());
    assert_eq!((f.tokens, f.model), (None, None));
    let body = r#"{"usage":null,"response":{"model":"gpt-5","usage":{"input_tokens":4,"output_tokens":2,"input_tokens_details":null}},"message":[1]}"#;
    let f = read_every_way("application/json", body.as_bytes());
    assert_eq!(f.tokens, Some(tokens(4, 2, 0, 0, 0)));
    assert_eq!(f.model.as_deref(), Some("gpt-5"));
    // A chat usage whose prompt count is null still reads as the chat shape.
    let body = r#"{"usage":{"prompt_tokens":null,"completion_tokens":3,"input_tokens":9}}"#;
    let f = read_every_way("application/json", body.as_bytes());
    assert_eq!(f.tokens, Some(tokens(0, 3, 0, 0, 0)));
}

#[test]
fn the_usage_at_the_end_of_a_huge_answer_is_found() {
    let mut r = Reader::for_answer(&headers("application/json", None)).unwrap();
    r.feed(&vec![b' '; 5 << 20]);
    r.feed(CHAT_JSON.as_bytes());
    assert_eq!(
        r.finish(),
        found("gpt-4o-2024-08-06", tokens(93, 46, 1024, 0, 0))
    );
}

#[test]
fn broken_and_oversized_bodies_say_nothing() {
    let h = headers("application/json", None);
    assert_eq!(
        read(&h, &[b"{\"usage\":{\"prompt_tokens\":"]),
        Found::default()
    );
    let mut r = Reader::for_answer(&h).unwrap();
    let filler = vec![b' '; 1 << 20];
    r.feed(b"{\"pad\":\"");
    for _ in 0..5 {
        r.feed(&filler);
    }
    r.feed(b"\"}");
    // Only the end of an answer this large is kept: no usage in it, none counted.
    assert_eq!(r.finish(), Found::default());
    // A corrupt gzip stream is read up to the corruption, and nothing panics.
    let mut bytes = gzip(CHAT_JSON.as_bytes());
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    let _ = read(&headers("application/json", Some("gzip")), &[&bytes]);
}

#[test]
fn inflating_stops_at_the_cap() {
    let usage =
        b"data: {\"model\":\"gpt-4o\",\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":2}}\n\n";
    let h = headers("text/event-stream", Some("gzip"));
    let stream_of = |comment_bytes: usize| {
        let comments = b": keep-alive\n".repeat(comment_bytes / 13);
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        e.write_all(&comments).unwrap();
        e.write_all(usage).unwrap();
        e.finish().unwrap()
    };
    let under = stream_of(1 << 20);
    assert_eq!(read(&h, &[&under]), found("gpt-4o", tokens(1, 2, 0, 0, 0)));
    // 64 MiB inflated from a few hundred KiB: read up to 8 MiB, the usage after it is not.
    let bomb = stream_of(64 << 20);
    assert!(bomb.len() < 1 << 20);
    assert_eq!(read(&h, &[&bomb]), Found::default());
}

#[test]
fn arbitrary_bytes_never_panic() {
    use proptest::prelude::*;
    let mut runner = proptest::test_runner::TestRunner::default();
    let cases = [
        ("application/json", None),
        ("text/event-stream", None),
        ("text/event-stream", Some("gzip")),
        ("application/json", Some("deflate")),
        ("application/json", Some("br")),
    ];
    runner
        .run(
            &(
                proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..64), 0..16),
                0..cases.len(),
            ),
            |(chunks, case)| {
                let (ct, enc) = cases[case];
                let chunks: Vec<&[u8]> = chunks.iter().map(Vec::as_slice).collect();
                let _ = read(&headers(ct, enc), &chunks);
                Ok(())
            },
        )
        .unwrap();
}
