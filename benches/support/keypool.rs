//! A keypool started in-process for a bench: two `openai` accounts, every `:443`
//! connection sent to the bench's upstream, which it trusts through the test CA.

use crate::ca::TestCa;
use std::net::SocketAddr;
use std::path::Path;

/// Whether a keypool keeps the usage ledger and the metrics.
#[derive(Clone, Copy, PartialEq)]
pub struct Observe {
    pub ledger: bool,
    pub metrics: bool,
}

impl Observe {
    pub const ON: Observe = Observe {
        ledger: true,
        metrics: true,
    };
    pub const OFF: Observe = Observe {
        ledger: false,
        metrics: false,
    };

    pub fn parse(s: &str) -> Option<Observe> {
        let (ledger, metrics) = match s {
            "none" => (false, false),
            "ledger" => (true, false),
            "metrics" => (false, true),
            "both" => (true, true),
            _ => return None,
        };
        Some(Observe { ledger, metrics })
    }
}

/// A keypool with two `openai` accounts whose `:443` connections all go to `upstream`
/// (which accepts their keys, `sk-bench-a` and `sk-bench-b`).
pub struct Keypool {
    pub proxy: keypool::RunningProxy,
    /// The CA keypool signs its leaves with, for the client to trust.
    pub ca_pem: String,
    _home: tempfile::TempDir,
}

impl Keypool {
    /// `upstream_lines` go into its `[upstream]` table.
    pub fn start(
        rt: &tokio::runtime::Runtime,
        ca: &TestCa,
        upstream: SocketAddr,
        observe: Observe,
        upstream_lines: &str,
    ) -> Keypool {
        let home = tempfile::tempdir().expect("keypool home");
        let ca_file = ca.write_pem(home.path());
        let text = format!(
            r#"listen = "127.0.0.1:0"
[[accounts]]
name = "a"
provider = "openai"
api_key = "sk-bench-a"
[[accounts]]
name = "b"
provider = "openai"
api_key = "sk-bench-b"
[upstream]
connect_to = [":443:127.0.0.1:{port}"]
extra_ca = [{ca_file:?}]
{upstream_lines}
[usage]
ledger = {ledger}
[metrics]
enabled = {metrics}
"#,
            port = upstream.port(),
            ca_file = ca_file.display().to_string(),
            ledger = observe.ledger,
            metrics = observe.metrics,
        );
        let config = keypool::Config::parse(&text, Path::new("bench.toml")).expect("bench config");
        let options = keypool::ProxyOptions::new(keypool::Home::at(home.path()), config);
        let proxy = rt.block_on(keypool::start(options)).expect("start keypool");
        let ca_pem =
            std::fs::read_to_string(home.path().join("certs/ca.pem")).expect("keypool CA pem");
        Keypool {
            proxy,
            ca_pem,
            _home: home,
        }
    }
}
