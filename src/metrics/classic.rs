//! The older Prometheus text format (0.0.4), derived from the OpenMetrics exposition for
//! a scraper that asks only for `text/plain`: prometheus-client encodes OpenMetrics alone.
//! The formats differ in the family names of counters and infos and in the `# UNIT` and
//! `# EOF` lines; samples are the same.

/// `openmetrics` (as keypool's encoder writes it) in the 0.0.4 text format.
pub fn classic_text(openmetrics: &str) -> String {
    let mut out = String::with_capacity(openmetrics.len());
    // HELP precedes TYPE, and only TYPE says whether the family's name changes.
    let mut help: Option<(&str, &str)> = None;
    for line in openmetrics.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        if let Some(rest) = line.strip_prefix("# HELP ") {
            help = Some(rest.split_once(' ').unwrap_or((rest, "")));
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap_or((rest, "untyped"));
            let (name, kind) = match kind {
                "counter" => (format!("{name}_total"), "counter"),
                "info" => (format!("{name}_info"), "gauge"),
                "unknown" => (name.to_string(), "untyped"),
                k => (name.to_string(), k),
            };
            if let Some((_, text)) = help.take() {
                out.push_str(&format!("# HELP {name} {text}\n"));
            }
            out.push_str(&format!("# TYPE {name} {kind}\n"));
            continue;
        }
        if let Some((name, text)) = help.take() {
            out.push_str(&format!("# HELP {name} {text}\n"));
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_and_infos_take_their_sample_names() {
        let om = concat!(
            "# HELP keypool_requests Answers.\n",
            "# TYPE keypool_requests counter\n",
            "keypool_requests_total{a=\"b\"} 2\n",
            "# HELP keypool_cooling_seconds Cooling.\n",
            "# TYPE keypool_cooling_seconds gauge\n",
            "# UNIT keypool_cooling_seconds seconds\n",
            "keypool_cooling_seconds 1.5\n",
            "# HELP keypool_build The running keypool.\n",
            "# TYPE keypool_build info\n",
            "keypool_build_info{version=\"1\"} 1\n",
            "# EOF\n",
        );
        assert_eq!(
            classic_text(om),
            concat!(
                "# HELP keypool_requests_total Answers.\n",
                "# TYPE keypool_requests_total counter\n",
                "keypool_requests_total{a=\"b\"} 2\n",
                "# HELP keypool_cooling_seconds Cooling.\n",
                "# TYPE keypool_cooling_seconds gauge\n",
                "keypool_cooling_seconds 1.5\n",
                "# HELP keypool_build_info The running keypool.\n",
                "# TYPE keypool_build_info gauge\n",
                "keypool_build_info{version=\"1\"} 1\n",
            )
        );
    }
}
