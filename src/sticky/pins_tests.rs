use super::*;
use crate::clock::{Clock, ManualClock};
use crate::sticky::key::KeySource;
use serde_json::json;
use std::time::UNIX_EPOCH;

const RESP: &str = "resp_68af4030592c81938ec0a5fbab4a3e9f05438e46b5f69a3b";

#[test]
fn debug_shows_digests_and_sizes_never_the_ids_or_accounts() {
    let key = PinKey::response(RESP);
    let shown = format!("{key:?}");
    assert!(shown.starts_with("response:"), "{shown}");
    assert_eq!(shown, key.to_string());
    assert_eq!(shown.parse::<PinKey>().unwrap(), key);
    assert!(!shown.contains(RESP), "{shown}");
    let pins = Pins::new(Duration::from_secs(60), 8);
    pins.pin_response("p", RESP, "acct-b", UNIX_EPOCH + Duration::from_secs(1_000));
    let shown = format!("{pins:?}");
    assert!(
        shown.contains("len: 1") && shown.contains("idle: 60s"),
        "{shown}"
    );
    assert!(
        !shown.contains(RESP) && !shown.contains("acct-b"),
        "{shown}"
    );
}

#[test]
fn previous_response_id_is_read_from_the_top_level_only() {
    let body = json!({"model": "gpt-5", "previous_response_id": RESP,
        "input": [{"role": "user", "content": "and then?"}], "store": true});
    assert_eq!(
        referenced_response(body.to_string().as_bytes()).as_deref(),
        Some(RESP)
    );
    // The same words inside a message are not a reference.
    let quoted = json!({"model": "gpt-5",
        "input": [{"role": "user", "content": "\"previous_response_id\": \"resp_1\""}]});
    assert_eq!(referenced_response(quoted.to_string().as_bytes()), None);
    for none in [
        json!({"previous_response_id": null}),
        json!({"previous_response_id": ""}),
        json!({"input": "hi"}),
    ] {
        assert_eq!(referenced_response(none.to_string().as_bytes()), None);
    }
    assert_eq!(referenced_response(b"{\"previous_response_id\":"), None);
}

#[test]
fn created_id_from_json_and_from_the_first_sse_event() {
    let answer = format!(
        r#"{{"id": "{RESP}", "object": "response", "created_at": 1756315696,
        "previous_response_id": "resp_older", "output": [{{"id": "msg_1", "type": "message"}}]}}"#
    );
    assert_eq!(
        created_response_id(answer.as_bytes()).as_deref(),
        Some(RESP)
    );
    let sse = format!(
        "event: response.created\ndata: {{\"type\":\"response.created\",\"sequence_number\":0,\
         \"response\":{{\"id\":\"{RESP}\",\"object\":\"response\",\"status\":\"in_progress\",\
         \"instructions\":\"say \\\"id\\\":\\\"resp_fake\\\"\"}}}}\n\n\
         event: response.in_progress\ndata: {{\"type\":\"response.in_progress\""
    );
    assert_eq!(created_response_id(sse.as_bytes()).as_deref(), Some(RESP));
    // A chunk cut inside the id, an error, or another API: nothing.
    assert_eq!(created_response_id(&sse.as_bytes()[..70]), None);
    assert_eq!(
        created_response_id(br#"{"error":{"message":"x","type":"invalid_request_error"}}"#),
        None
    );
    assert_eq!(
        created_response_id(br#"{"id":"msg_01XFDUDYJgAACzvnptvVoYEL","type":"message"}"#),
        None
    );
    assert_eq!(
        created_response_id(br#"{"id":"chatcmpl-123","object":"chat.completion"}"#),
        None
    );
    // Escaped quotes inside a string never pass for a key.
    assert_eq!(
        created_response_id(br#"{"note":"\"id\":\"resp_fake\"","id":"resp_real"}"#).as_deref(),
        Some("resp_real")
    );
}

#[test]
fn bound_state_in_codex_and_claude_bodies() {
    // Codex asks for encrypted reasoning in every request: that alone binds nothing.
    let first = json!({"model": "gpt-5-codex", "store": false,
        "include": ["reasoning.encrypted_content"],
        "input": [{"type": "message", "role": "user", "content": [
            {"type": "input_text", "text": "hi"}]}]});
    assert_eq!(
        bound_state(first.to_string().as_bytes()),
        BoundState::default()
    );
    let mut later = first.clone();
    later["input"].as_array_mut().unwrap().extend([
        json!({"type": "reasoning", "summary": [], "content": null,
            "encrypted_content": "gAAAAABoX1a2b3c4..."}),
        json!({"type": "message", "role": "assistant", "content": [
            {"type": "output_text", "text": "hello"}]}),
    ]);
    let b = bound_state(later.to_string().as_bytes());
    assert!(b.encrypted_content && !b.thinking_signature && b.any());
    // Compaction items carry it too.
    let compacted = json!({"input": [{"type": "compaction", "encrypted_content": "gAAA..."}]});
    assert!(bound_state(compacted.to_string().as_bytes()).encrypted_content);
    let empty = json!({"input": [{"type": "reasoning", "encrypted_content": null}]});
    assert!(!bound_state(empty.to_string().as_bytes()).any());
    let blank = json!({"input": [{"type": "reasoning", "encrypted_content": ""}]});
    assert!(!bound_state(blank.to_string().as_bytes()).any());
    let unsigned = json!({"messages": [{"role": "assistant", "content": [
        {"type": "thinking", "thinking": "…", "signature": ""}]}]});
    assert!(!bound_state(unsigned.to_string().as_bytes()).any());

    let claude = json!({"model": "claude-sonnet-4-5", "messages": [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": [
            {"type": "thinking", "thinking": "…", "signature": "EqQBCkgIARABGAIiQL..."},
            {"type": "text", "text": "hello"}]},
        {"role": "user", "content": "more"}],
        "tools": [{"name": "t", "input_schema": {"properties": {"signature": {"type": "string"}}}}]});
    let b = bound_state(claude.to_string().as_bytes());
    assert!(b.thinking_signature && !b.encrypted_content);
    let redacted = json!({"messages": [{"role": "assistant", "content": [
        {"type": "redacted_thinking", "data": "EmwKAhgBEgy3va3pzix/LafPsn4a"}]}]});
    assert!(bound_state(redacted.to_string().as_bytes()).thinking_signature);
    // A tool schema naming a "signature" property is not a signed block.
    let schema_only = json!({"messages": [{"role": "user", "content": "hi"}],
        "tools": [{"name": "t", "input_schema": {"properties": {"signature": {}}}}]});
    assert!(!bound_state(schema_only.to_string().as_bytes()).any());
    assert!(!bound_state(b"not json \"signature\"").any());
    // Only what the caller will pin is looked for, and so reported.
    assert!(!detect(later.to_string().as_bytes(), false, true).any());
    assert!(!detect(claude.to_string().as_bytes(), true, false).any());
}

#[test]
fn pins_expire_and_are_scoped_per_pool() {
    let clock = ManualClock::new(UNIX_EPOCH + Duration::from_secs(1_750_000_000));
    let pins = Pins::new(Duration::from_secs(24 * 3600), 100);
    pins.pin_response("p", RESP, "alice", clock.now());
    assert_eq!(
        pins.response("p", RESP, clock.now()).as_deref(),
        Some("alice")
    );
    assert_eq!(pins.response("q", RESP, clock.now()), None);
    assert_eq!(pins.response("p", "resp_other", clock.now()), None);
    clock.advance(Duration::from_secs(23 * 3600));
    assert!(
        pins.response("p", RESP, clock.now()).is_some(),
        "use refreshes"
    );
    clock.advance(Duration::from_secs(24 * 3600));
    assert_eq!(pins.response("p", RESP, clock.now()), None);

    let key = ConversationKey::from_session(KeySource::Codex, "s1");
    assert_eq!(pins.pin_conversation("p", &key, "bob", clock.now()), None);
    assert_eq!(
        pins.conversation("p", &key, clock.now()).as_deref(),
        Some("bob")
    );
    assert_eq!(
        pins.pin_conversation("p", &key, "carol", clock.now())
            .as_deref(),
        Some("bob")
    );
    assert_eq!(pins.counts(clock.now())["p"]["carol"], 1);
}

#[test]
fn a_default_pin_lasts_as_long_as_openai_keeps_the_response() {
    let clock = ManualClock::new(UNIX_EPOCH + Duration::from_secs(1_750_000_000));
    let pins = Pins::default();
    let day = Duration::from_secs(24 * 3600);
    pins.pin_response("p", RESP, "alice", clock.now());
    pins.pin_response("p", "resp_two", "bob", clock.now());
    clock.advance(29 * day);
    assert_eq!(
        pins.response("p", RESP, clock.now()).as_deref(),
        Some("alice"),
        "29 days unused"
    );
    clock.advance(day);
    assert_eq!(pins.response("p", "resp_two", clock.now()), None, "30 days");
}

#[test]
fn a_response_id_is_found_anywhere_in_the_first_64_kb() {
    let at = |pad: usize| {
        let mut chunk = format!("{{\"output_text\":\"{}\",", "x".repeat(pad));
        chunk += &format!("\"id\":\"{RESP}\"}}");
        created_response_id(chunk.as_bytes())
    };
    assert_eq!(at(10 * 1024).as_deref(), Some(RESP));
    assert_eq!(at(60 * 1024).as_deref(), Some(RESP));
    assert_eq!(at(70 * 1024), None, "not scanned past 64 KB");
}

#[test]
fn pins_snapshot_round_trip() {
    let clock = ManualClock::new(UNIX_EPOCH + Duration::from_secs(1_750_000_000));
    let pins = Pins::default();
    let key = ConversationKey::from_session(KeySource::Codex, "s1");
    pins.pin_response("p", RESP, "alice", clock.now());
    clock.advance(Duration::from_secs(5));
    pins.pin_conversation("p", &key, "bob", clock.now());
    let snap = pins.snapshot(clock.now());
    let json = serde_json::to_string(&snap).unwrap();
    assert!(!json.contains(RESP), "ids are kept as digests");
    assert!(json.contains("\"conversation:codex:"));
    let back: PinsSnapshot = serde_json::from_str(&json).unwrap();
    assert_eq!(back, snap);
    let restored = Pins::default();
    assert_eq!(restored.restore(back, clock.now()), 2);
    assert_eq!(
        restored.response("p", RESP, clock.now()).as_deref(),
        Some("alice")
    );
    assert_eq!(
        restored.conversation("p", &key, clock.now()).as_deref(),
        Some("bob")
    );
    assert!("response:zz".parse::<PinKey>().is_err());
    assert!("other:00112233445566778899aabbccddeeff"
        .parse::<PinKey>()
        .is_err());
}
