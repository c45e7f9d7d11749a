//! What `keypool doctor` found: one line per check, for a person or (`--json`) a script.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Ok,
    Fail,
    /// A fact, or a check doctor could not make; never fails the run.
    Note,
}

/// How a runtime's live check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Class {
    /// keypool's own answer with the nonce: proxy honoured, CA trusted.
    Passed,
    /// A TLS or certificate error: it came through keypool but does not trust its CA.
    CaNotTrusted,
    /// Anything else: DNS failure, refused connection, a real upstream's answer.
    ProxyIgnored,
}

/// One check's line.
#[derive(Debug, Clone, Serialize)]
pub struct Line {
    /// What was checked: `node`, `python3+httpx`, `ca`, `listen`, …
    pub check: String,
    pub verdict: Verdict,
    /// What doctor found, in a sentence.
    pub detail: String,
    /// What to do; only when there is something to do.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
    /// The live check's outcome, for runtimes checked live.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub class: Option<Class>,
    /// The variables the runtime needed, found by leaving each out in turn.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub needs: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

impl Line {
    pub fn new(check: &str, verdict: Verdict, detail: impl Into<String>) -> Line {
        Line {
            check: check.to_string(),
            verdict,
            detail: detail.into(),
            fix: None,
            class: None,
            needs: Vec::new(),
            version: None,
        }
    }

    pub fn fix(mut self, fix: impl Into<String>) -> Line {
        self.fix = Some(fix.into());
        self
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub keypool: &'static str,
    /// Whether every runtime found passed its live check.
    pub ok: bool,
    pub lines: Vec<Line>,
}

impl Report {
    pub fn new(lines: Vec<Line>) -> Report {
        Report {
            keypool: env!("CARGO_PKG_VERSION"),
            ok: lines.iter().all(|l| l.verdict != Verdict::Fail),
            lines,
        }
    }

    /// The text a person reads: `ok`/`FAIL`/`note`, the check, what was found, the fix.
    pub fn text(&self) -> String {
        let mut out = String::new();
        for l in &self.lines {
            let tag = match l.verdict {
                Verdict::Ok => "ok  ",
                Verdict::Fail => "FAIL",
                Verdict::Note => "note",
            };
            out.push_str(&format!("{tag} {:<16} {}\n", l.check, l.detail));
            if let Some(fix) = &l.fix {
                out.push_str(&format!("     {:<16} fix: {fix}\n", ""));
            }
        }
        out.push_str(match self.ok {
            true => "every runtime found goes through keypool\n",
            false => "some runtimes do not go through keypool: see FAIL above\n",
        });
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_failure_fails_the_report_and_its_fix_is_printed_under_it() {
        let r = Report::new(vec![
            Line::new("curl", Verdict::Ok, "through keypool"),
            Line::new("node", Verdict::Fail, "fetch ignores the proxy").fix("upgrade"),
            Line::new("bun", Verdict::Note, "not found"),
        ]);
        assert!(!r.ok);
        let text = r.text();
        assert!(text.contains("FAIL node"), "{text}");
        assert!(text.contains("fix: upgrade"), "{text}");
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v["lines"][1]["verdict"], "fail");
        assert!(v["lines"][0].get("fix").is_none());
        let notes = Report::new(vec![Line::new("bun", Verdict::Note, "not found")]);
        assert!(notes.ok, "a note never fails the run");
    }
}
