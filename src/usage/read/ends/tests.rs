use super::super::json::seen_in_bytes;
use super::super::tests::{ANTHROPIC_JSON, CHAT_JSON, DEEPSEEK_JSON, GEMINI_JSON, RESPONSES_JSON};
use super::*;

fn ends(doc: &str) -> Option<Seen> {
    seen_at_ends(doc.as_bytes())
}

fn whole(doc: &str) -> Seen {
    seen_in_bytes(doc.as_bytes()).expect("the sample is JSON")
}

#[test]
fn every_provider_answer_reads_the_same_from_its_ends_as_whole() {
    let pretty = |doc: &str| {
        let v: serde_json::Value = serde_json::from_str(doc).unwrap();
        serde_json::to_string_pretty(&v).unwrap()
    };
    let groq = r#"{"id":"c","object":"chat.completion","model":"llama-3.3-70b-versatile","choices":[],"usage":{"prompt_tokens":40,"completion_tokens":9,"total_tokens":49},"x_groq":{"id":"req_1"}}"#;
    for doc in [
        CHAT_JSON,
        RESPONSES_JSON,
        ANTHROPIC_JSON,
        GEMINI_JSON,
        DEEPSEEK_JSON,
        groq,
    ] {
        let seen = ends(doc).unwrap_or_else(|| panic!("read from its ends: {doc}"));
        assert!(seen.has_tokens() && seen.model.is_some(), "{doc}");
        assert_eq!(seen, whole(doc), "{doc}");
        assert_eq!(ends(&pretty(doc)), Some(whole(doc)), "pretty-printed {doc}");
    }
}

#[test]
fn a_usage_key_inside_the_content_is_not_the_answers() {
    // Anthropic's tool_use input is JSON, not a string: a key in it is real JSON.
    let tool = ANTHROPIC_JSON.replace(
        r#"{"type":"text","text":"Hi"}"#,
        r#"{"type":"tool_use","id":"t","name":"f","input":{"usage":{"input_tokens":999},"model":"x"}}"#,
    );
    assert_eq!(ends(&tool), Some(whole(ANTHROPIC_JSON)));
    // In a string every quote is escaped, so a key spelled there is never found.
    let quoted = CHAT_JSON.replace(
        r#""service_tier":"default""#,
        r#""note":"\"usage\": {\"prompt_tokens\": 9}, \"model\": \"y\"""#,
    );
    assert_eq!(ends(&quoted), Some(whole(CHAT_JSON)));
    // A model list's `"object":"model"` is a value, not the key.
    let valued = CHAT_JSON.replace(r#""object":"chat.completion""#, r#""object":"model""#);
    assert_eq!(ends(&valued), Some(whole(CHAT_JSON)));
}

#[test]
fn ends_that_do_not_show_the_top_level_leave_it_to_the_whole_parse() {
    let nested_last = r#"{"model":"m","data":{"usage":{"prompt_tokens":1}}}"#;
    let nested_model_first =
        r#"{"meta":{"model":"inner"},"model":"outer","usage":{"prompt_tokens":1}}"#;
    let wrapped = format!(r#"{{"response":{GEMINI_JSON},"traceId":"t"}}"#);
    let array = format!("[{GEMINI_JSON}]");
    let wrapper_at_the_end = CHAT_JSON.replace(
        r#""service_tier":"default""#,
        r#""message":{"usage":{"prompt_tokens":5}}"#,
    );
    let twice = CHAT_JSON.replace(r#""service_tier":"default""#, r#""usage":null"#);
    let usage_null = r#"{"model":"m","usage":null}"#;
    let no_model = r#"{"id":"x","usage":{"prompt_tokens":1}}"#;
    let far_from_the_end = CHAT_JSON.replace(
        r#""service_tier":"default""#,
        &format!(r#""pad":"{}""#, "a".repeat(WINDOW)),
    );
    let broken_end = CHAT_JSON.replace(r#""system_fingerprint":"fp_fc9f1d7035"}"#, "}}");
    let trailing = format!("{CHAT_JSON} {{}}");
    for doc in [
        nested_last,
        nested_model_first,
        &wrapped,
        &array,
        &wrapper_at_the_end,
        &twice,
        usage_null,
        no_model,
        &far_from_the_end,
        &broken_end,
        &trailing,
    ] {
        assert_eq!(ends(doc), None, "{doc}");
    }
    assert_eq!(whole(nested_model_first).model.as_deref(), Some("outer"));
    assert!(whole(&far_from_the_end).has_tokens());
}

#[test]
fn gemini_takes_its_model_version_from_the_end() {
    let seen = ends(GEMINI_JSON).unwrap();
    assert_eq!(seen.model.as_deref(), Some("gemini-2.5-pro"));
    let both = GEMINI_JSON.replace(r#"{"candidates""#, r#"{"model":"ignored","candidates""#);
    assert_eq!(
        ends(&both).unwrap().model.as_deref(),
        Some("gemini-2.5-pro")
    );
}
