use super::*;
use http::HeaderValue;
use serde_json::json;

fn no_headers() -> HeaderMap {
    HeaderMap::new()
}

fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        h.insert(*k, HeaderValue::from_static(v));
    }
    h
}

fn key(dialect: Dialect, h: &HeaderMap, body: &serde_json::Value) -> Option<ConversationKey> {
    conversation_key(dialect, h, body.to_string().as_bytes())
}

const SESSION: &str = "4b1e7c2a-9d3f-4e8a-b6c5-0f1e2d3c4b5a";

/// What Claude Code sends: a big system prompt in blocks, tool schemas, the user's
/// turn with `cache_control`, and `metadata.user_id` holding JSON.
fn claude_code_body(turns: &[serde_json::Value], session: &str) -> serde_json::Value {
    let user_id = json!({
        "device_id": "d3adb33f",
        "account_uuid": "11111111-1111-4111-8111-111111111111",
        "session_id": session,
    })
    .to_string();
    let tools: Vec<_> = (0..40)
        .map(|i| {
            json!({"name": format!("Tool{i}"), "description": "x".repeat(1500),
            "input_schema": {"type": "object", "properties": {"path": {"type": "string"}}}})
        })
        .collect();
    json!({
        "model": "claude-sonnet-4-5",
        "max_tokens": 32000,
        "stream": true,
        "system": [
            {"type": "text", "text": "You are Claude Code, Anthropic's official CLI for Claude.",
             "cache_control": {"type": "ephemeral"}},
            {"type": "text", "text": "You are an interactive CLI tool...\n\"quoted\" and\ttabbed"},
        ],
        "tools": tools,
        "messages": turns,
        "metadata": {"user_id": user_id},
    })
}

#[test]
fn claude_code_header_first_then_metadata_session() {
    let turns = [
        json!({"role": "user", "content": [{"type": "text", "text": "fix the bug",
        "cache_control": {"type": "ephemeral"}}]}),
    ];
    let body = claude_code_body(&turns, SESSION);
    assert!(body.to_string().len() > 60_000, "a realistic size");
    let from_header = key(
        Dialect::Anthropic,
        &headers(&[(CLAUDE_CODE_SESSION, SESSION)]),
        &body,
    )
    .unwrap();
    let from_metadata = key(Dialect::Anthropic, &no_headers(), &body).unwrap();
    assert_eq!(from_header.source(), KeySource::ClaudeCode);
    // Same session, same key, whichever carried it.
    assert_eq!(from_header, from_metadata);
    assert_eq!(
        from_header,
        ConversationKey::from_session(KeySource::ClaudeCode, SESSION)
    );
    // The header wins over a body of another session.
    let other = claude_code_body(&turns, "another-session");
    assert_eq!(
        key(
            Dialect::Anthropic,
            &headers(&[(CLAUDE_CODE_SESSION, SESSION)]),
            &other
        ),
        Some(from_header)
    );
    assert_ne!(
        key(Dialect::Anthropic, &no_headers(), &other),
        Some(from_header)
    );
    // The header needs no body at all.
    assert_eq!(
        conversation_key(
            Dialect::Anthropic,
            &headers(&[(CLAUDE_CODE_SESSION, SESSION)]),
            b""
        ),
        Some(from_header)
    );
}

#[test]
fn older_claude_code_user_id_format() {
    let body = json!({"model": "claude-x", "messages": [{"role": "user", "content": "hi"}],
        "metadata": {"user_id": format!("user_abc123_account_{}_session_{SESSION}",
            "11111111-1111-4111-8111-111111111111")}});
    assert_eq!(
        key(Dialect::Anthropic, &no_headers(), &body),
        Some(ConversationKey::from_session(
            KeySource::ClaudeCode,
            SESSION
        ))
    );
}

#[test]
fn anthropic_content_hash_ignores_cache_control_and_later_turns() {
    // An Anthropic client without a session: the system prompt and first user turn.
    let mut body = claude_code_body(
        &[
            json!({"role": "user", "content": [{"type": "text", "text": "fix the bug",
            "cache_control": {"type": "ephemeral"}}]}),
        ],
        SESSION,
    );
    body.as_object_mut().unwrap().remove("metadata");
    let first = key(Dialect::Anthropic, &no_headers(), &body).unwrap();
    assert_eq!(first.source(), KeySource::Content);
    // Turn two: the first message lost its marker (and became a string), the new
    // one has it, thinking and tool use came between.
    body["messages"] = json!([
        {"role": "user", "content": "fix the bug"},
        {"role": "assistant", "content": [
            {"type": "thinking", "thinking": "hmm", "signature": "EqQB..."},
            {"type": "text", "text": "Done."}]},
        {"role": "user", "content": [{"type": "text", "text": "thanks, now the tests",
            "cache_control": {"type": "ephemeral"}}]},
    ]);
    assert_eq!(key(Dialect::Anthropic, &no_headers(), &body), Some(first));
    // Another first message is another conversation.
    body["messages"] = json!([{"role": "user", "content": "write a poem"}]);
    assert_ne!(key(Dialect::Anthropic, &no_headers(), &body), Some(first));
}

#[test]
fn codex_session_header_then_prompt_cache_key() {
    let body = json!({
        "model": "gpt-5-codex",
        "instructions": "You are Codex, based on GPT-5. You are running as a coding agent...",
        "input": [
            {"type": "message", "role": "developer", "content": [{"type": "input_text",
                "text": "<permissions instructions>workspace-write</permissions instructions>"}]},
            {"type": "message", "role": "user", "content": [{"type": "input_text",
                "text": "<environment_context><cwd>/src</cwd></environment_context>"}]},
            {"type": "message", "role": "user", "content": [{"type": "input_text",
                "text": "add a test"}]},
        ],
        "tools": [{"type": "function", "name": "shell", "parameters": {"type": "object"}}],
        "tool_choice": "auto",
        "parallel_tool_calls": false,
        "reasoning": {"effort": "medium", "summary": "auto"},
        "store": false,
        "stream": true,
        "include": ["reasoning.encrypted_content"],
        "prompt_cache_key": SESSION,
    });
    let codex = ConversationKey::from_session(KeySource::Codex, SESSION);
    assert_eq!(
        key(Dialect::Openai, &headers(&[("session_id", SESSION)]), &body),
        Some(codex)
    );
    assert_eq!(key(Dialect::Openai, &no_headers(), &body), Some(codex));
    // A WebSocket upgrade carries the header and no body.
    assert_eq!(
        conversation_key(Dialect::Openai, &headers(&[("session_id", SESSION)]), b""),
        Some(codex)
    );
    // No session at all: the Responses content (instructions + first user item).
    let mut plain = body.clone();
    plain.as_object_mut().unwrap().remove("prompt_cache_key");
    let content = key(Dialect::Openai, &no_headers(), &plain).unwrap();
    assert_eq!(content.source(), KeySource::Content);
    plain["input"]
        .as_array_mut()
        .unwrap()
        .push(json!({"type": "message", "role": "assistant", "content": [
            {"type": "output_text", "text": "Added."}]}));
    assert_eq!(key(Dialect::Openai, &no_headers(), &plain), Some(content));
}

#[test]
fn responses_string_input_and_empty_values() {
    let a = json!({"model": "gpt-5", "instructions": "be brief", "input": "hello"});
    let b = json!({"model": "gpt-5", "instructions": "be brief",
        "input": [{"role": "user", "content": "hello"}]});
    let ka = key(Dialect::Openai, &no_headers(), &a).unwrap();
    assert_eq!(key(Dialect::Openai, &no_headers(), &b), Some(ka));
    // Blank session values fall through to the content.
    let blank = json!({"instructions": "be brief", "input": "hello", "prompt_cache_key": " "});
    assert_eq!(
        key(Dialect::Openai, &headers(&[("session_id", " ")]), &blank),
        Some(ka)
    );
}

#[test]
fn openai_chat_second_turn_repeats_the_first() {
    let turn1 = json!({
        "model": "gpt-4.1",
        "messages": [
            {"role": "system", "content": "You are a helpful assistant."},
            {"role": "user", "content": "What is a monad?"},
        ],
    });
    let turn2 = json!({
        "model": "gpt-4.1",
        "messages": [
            {"role": "system", "content": "You are a helpful assistant."},
            {"role": "user", "content": "What is a monad?"},
            {"role": "assistant", "content": "A monoid in the category of endofunctors."},
            {"role": "user", "content": [{"type": "text", "text": "Simpler, please."}]},
        ],
        "stream": true,
    });
    let k1 = key(Dialect::Openai, &no_headers(), &turn1).unwrap();
    assert_eq!(k1.source(), KeySource::Content);
    assert_eq!(key(Dialect::Openrouter, &no_headers(), &turn2), Some(k1));
    // The system prompt is part of the key.
    let mut other = turn1.clone();
    other["messages"][0]["content"] = json!("You are a pirate.");
    assert_ne!(key(Dialect::Openai, &no_headers(), &other), Some(k1));
    // A developer message counts as the system prompt.
    let mut dev = turn1.clone();
    dev["messages"][0]["role"] = json!("developer");
    assert_eq!(key(Dialect::Openai, &no_headers(), &dev), Some(k1));
}

#[test]
fn gemini_contents_and_code_assist_session() {
    let turn1 = json!({
        "systemInstruction": {"parts": [{"text": "You are a concise assistant."}]},
        "contents": [{"role": "user", "parts": [{"text": "Name three rivers."}]}],
        "generationConfig": {"temperature": 0.2},
    });
    let turn2 = json!({
        "system_instruction": {"parts": [{"text": "You are a concise assistant."}]},
        "contents": [
            {"parts": [{"text": "Name three rivers."}]},
            {"role": "model", "parts": [{"text": "Nile, Amazon, Danube."}]},
            {"role": "user", "parts": [{"text": "Longest?"}]},
        ],
    });
    let k = key(Dialect::Google, &no_headers(), &turn1).unwrap();
    assert_eq!(k.source(), KeySource::Content);
    assert_eq!(key(Dialect::Google, &no_headers(), &turn2), Some(k));
    // Code Assist wraps the same request and names its session.
    let wrapped = json!({"model": "gemini-2.5-pro", "project": "proj-1",
        "user_prompt_id": "p1", "request": turn1});
    assert_eq!(key(Dialect::Google, &no_headers(), &wrapped), Some(k));
    let mut with_session = wrapped.clone();
    with_session["request"]["session_id"] = json!(SESSION);
    assert_eq!(
        key(Dialect::Google, &no_headers(), &with_session),
        Some(ConversationKey::from_session(KeySource::GeminiCli, SESSION))
    );
}

#[test]
fn nothing_to_go_by() {
    for body in [
        &b""[..],
        b"not json",
        b"[1,2]",
        b"{}",
        br#"{"model":"text-embedding-3-small","input":[1,2,3]}"#,
        br#"{"messages":[{"role":"assistant","content":"only me"}]}"#,
    ] {
        assert_eq!(conversation_key(Dialect::Openai, &no_headers(), body), None);
    }
}

#[test]
fn display_round_trips_and_keeps_no_text() {
    let k = key(
        Dialect::Openai,
        &no_headers(),
        &json!({"messages": [{"role": "user", "content": "my secret plan"}]}),
    )
    .unwrap();
    let shown = k.to_string();
    assert!(shown.starts_with("content:") && shown.len() == "content:".len() + 32);
    assert!(!shown.contains("secret"));
    // `{:?}` in a log line shows the same digest, never more.
    assert_eq!(format!("{k:?}"), shown);
    assert_eq!(shown.parse::<ConversationKey>().unwrap(), k);
    let json = serde_json::to_string(&k).unwrap();
    assert_eq!(serde_json::from_str::<ConversationKey>(&json).unwrap(), k);
    assert!("content:xyz".parse::<ConversationKey>().is_err());
    assert!("nope:00112233445566778899aabbccddeeff"
        .parse::<ConversationKey>()
        .is_err());
}

#[test]
fn a_system_prompt_is_not_confused_with_the_same_words_sent_as_the_user() {
    let with_system = key(
        Dialect::Anthropic,
        &no_headers(),
        &json!({"system": "You are terse.", "messages": [
            {"role": "user", "content": [{"type": "text", "text": "hello"}]}]}),
    );
    let as_user = key(
        Dialect::Anthropic,
        &no_headers(),
        &json!({"messages": [{"role": "user", "content": [
            {"type": "text", "text": "You are terse."}, {"type": "text", "text": "hello"}]}]}),
    );
    assert!(with_system.is_some() && as_user.is_some());
    assert_ne!(with_system, as_user, "two conversations, two keys");
}

#[test]
fn items_without_text_do_not_hide_the_first_user_message() {
    let plain = key(
        Dialect::Openai,
        &no_headers(),
        &json!({"input": [{"role": "user", "content": "hello"}]}),
    );
    assert!(plain.is_some());
    // A Responses item with no role (a reference to an earlier item) comes first.
    let after_reference = key(
        Dialect::Openai,
        &no_headers(),
        &json!({"input": [{"type": "item_reference", "id": "msg_1"},
            {"role": "user", "content": "hello"}]}),
    );
    assert_eq!(after_reference, plain);
    // A user turn with no content comes first.
    let after_empty_turn = key(
        Dialect::Openai,
        &no_headers(),
        &json!({"messages": [{"role": "user", "content": null},
            {"role": "user", "content": "hello"}]}),
    );
    let chat = key(
        Dialect::Openai,
        &no_headers(),
        &json!({"messages": [{"role": "user", "content": "hello"}]}),
    );
    assert!(chat.is_some());
    assert_eq!(after_empty_turn, chat);
}

#[test]
fn gemini_system_instructions_tell_conversations_apart() {
    let with = |system: &str| {
        key(
            Dialect::Google,
            &no_headers(),
            &json!({"systemInstruction": {"parts": [{"text": system}]},
                "contents": [{"role": "user", "parts": [{"text": "Name three rivers."}]}]}),
        )
    };
    assert!(with("You are a geographer.").is_some());
    assert_ne!(with("You are a geographer."), with("You are a poet."));
}

#[test]
fn only_texts_a_few_levels_down_are_hashed() {
    // What a client nests deeper than blocks in parts in a message does not name a
    // conversation, and keypool does not walk it.
    let user = |deep: serde_json::Value| {
        key(
            Dialect::Openai,
            &no_headers(),
            &json!({"messages": [{"role": "user", "content": ["hello", deep]}]}),
        )
        .unwrap()
    };
    // Arrays: a string four levels down is a text, one five levels down is not.
    assert_ne!(user(json!([[["a"]]])), user(json!([[["b"]]])));
    assert_eq!(user(json!([[[["a"]]]])), user(json!([[[["b"]]]])));
    // Objects: `parts` within `parts` the same.
    let parts = |t: &str, levels: usize| {
        let mut v = json!({"text": t});
        for _ in 0..levels {
            v = json!({ "parts": v });
        }
        v
    };
    assert_ne!(user(parts("a", 2)), user(parts("b", 2)));
    assert_eq!(user(parts("a", 3)), user(parts("b", 3)));
    // A `text` that is not a string is not a text.
    assert_eq!(
        user(json!({"type": "x", "text": {"n": 1}})),
        user(json!({"type": "x", "text": {"n": 2}}))
    );
}
