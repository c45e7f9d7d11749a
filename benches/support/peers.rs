//! Other MITM proxies run for comparison, each as a process of its own, when present on
//! the machine: mitmproxy (`mitmdump`) and the npm package `http-mitm-proxy` on Node.
//! Each is a forward proxy on loopback that sends every intercepted request to the
//! bench's fake upstream, keeping `Host` and SNI `api.openai.com`, and verifies the fake's
//! leaf against the bench's test CA. Their launch scripts are written here at run time.
//! See bench/README.md, "Peers".

use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a peer may take to listen and write its CA (the Node peer makes an RSA CA
/// in JavaScript at start).
const READY_WITHIN: Duration = Duration::from_secs(30);

/// The upstream host the peers intercept; the client asks for it, the fake has its leaf.
const HOST: &str = "api.openai.com";

/// mitmproxy's addon: every request goes to the fake, its `Host` kept. Setting the
/// request's host and port (rather than the server's address in `server_connect`) keeps
/// the upstream connection reusable: mitmproxy reuses one whose address matches the
/// request's. The SNI, which mitmproxy takes from that address, is set back to the host.
const MITM_ADDON: &str = r#"
UPSTREAM = ("127.0.0.1", {port})
HOST = "{host}"

def request(flow):
    flow.request.host, flow.request.port = UPSTREAM
    flow.request.host_header = HOST

def server_connect(data):
    data.server.sni = HOST
"#;

/// The Node peer: http-mitm-proxy with keep-alive on both sides and an https agent that
/// keeps upstream connections alive and trusts the test CA. Its arguments: the directory
/// holding `node_modules`, the port, the CA directory, the fake's port, the test CA file.
const NODE_PEER: &str = r#"
const fs = require("fs");
const https = require("https");
const [, , modules, port, caDir, upstreamPort, upstreamCa] = process.argv;
const { Proxy } = require(require.resolve("http-mitm-proxy", { paths: [modules] }));
console.debug = console.info = () => {};
const proxy = new Proxy();
proxy.onError((ctx, err, kind) => console.error(`${kind}: ${err && err.message}`));
proxy.onRequest((ctx, callback) => {
  const options = ctx.proxyToServerRequestOptions;
  options.host = "127.0.0.1";
  options.port = Number(upstreamPort);
  options.servername = "{host}";
  callback();
});
const httpsAgent = new https.Agent({ keepAlive: true, ca: fs.readFileSync(upstreamCa) });
proxy.listen(
  { host: "127.0.0.1", port: Number(port), sslCaDir: caDir, keepAlive: true, httpsAgent },
  (err) => {
    if (err) {
      console.error(err);
      process.exit(1);
    }
  },
);
"#;

#[derive(Clone, Copy, PartialEq)]
pub enum Kind {
    Mitmproxy,
    NodeMitm,
}

impl Kind {
    pub const ALL: [Kind; 2] = [Kind::Mitmproxy, Kind::NodeMitm];

    /// The scenario's name in the bench's table.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Mitmproxy => "mitmproxy",
            Kind::NodeMitm => "node-mitm",
        }
    }
}

/// A peer found on the machine, not yet started.
pub struct Found {
    kind: Kind,
    /// `mitmdump`, or `node`.
    program: PathBuf,
    /// The directory whose `node_modules` holds http-mitm-proxy (Node peer only).
    modules: PathBuf,
    /// What was found, for the bench's header.
    pub describe: String,
}

/// Where the peer is, or why it is skipped.
pub fn find(kind: Kind) -> Result<Found, String> {
    match kind {
        Kind::Mitmproxy => find_mitmdump(),
        Kind::NodeMitm => find_node_mitm(),
    }
}

fn find_mitmdump() -> Result<Found, String> {
    let program = match std::env::var_os("KEYPOOL_BENCH_MITMDUMP") {
        Some(p) if Path::new(&p).is_file() => PathBuf::from(p),
        Some(p) => {
            return Err(format!(
                "KEYPOOL_BENCH_MITMDUMP={}: no such file",
                Path::new(&p).display()
            ))
        }
        None => on_path("mitmdump").ok_or(
            "mitmdump not found; set KEYPOOL_BENCH_MITMDUMP or put it on PATH".to_string(),
        )?,
    };
    // "Mitmproxy: 11.0.2" is the first line.
    let version = output_of(Command::new(&program).arg("--version"))
        .and_then(|out| {
            let first = out.lines().next()?.to_string();
            Some(first.trim_start_matches("Mitmproxy:").trim().to_string())
        })
        .ok_or(format!("{} --version failed", program.display()))?;
    Ok(Found {
        kind: Kind::Mitmproxy,
        describe: format!("mitmproxy {version} ({})", program.display()),
        program,
        modules: PathBuf::new(),
    })
}

fn find_node_mitm() -> Result<Found, String> {
    let modules = std::env::var_os("KEYPOOL_BENCH_NODE_MITM")
        .map(PathBuf::from)
        .ok_or(
            "KEYPOOL_BENCH_NODE_MITM not set; set it to a directory whose node_modules holds \
         http-mitm-proxy"
                .to_string(),
        )?;
    let package = modules.join("node_modules/http-mitm-proxy/package.json");
    let version = std::fs::read_to_string(&package)
        .ok()
        .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
        .and_then(|json| json["version"].as_str().map(str::to_string))
        .ok_or(format!("{}: not found or unreadable", package.display()))?;
    let program = on_path("node").ok_or("node not found on PATH".to_string())?;
    let node = output_of(Command::new(&program).arg("--version"))
        .map_or("unknown".into(), |v| v.trim().to_string());
    Ok(Found {
        kind: Kind::NodeMitm,
        describe: format!(
            "node-mitm: http-mitm-proxy {version} ({}) on node {node}",
            modules.display()
        ),
        program,
        modules,
    })
}

fn on_path(name: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| {
            p.metadata()
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

fn output_of(cmd: &mut Command) -> Option<String> {
    let out = cmd
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// A running peer. Dropping it kills the process (and the kernel kills it if the bench
/// dies first).
pub struct Peer {
    pub kind: Kind,
    /// Where it listens as a forward proxy.
    pub addr: SocketAddr,
    /// The CA it signs its leaves with, for the client to trust.
    pub ca_pem: String,
    child: Child,
    _dir: tempfile::TempDir,
}

impl Peer {
    /// Starts the peer in front of `upstream` (the fake), trusting `upstream_ca` (PEM),
    /// and waits until it accepts connections and its CA file is written.
    pub fn start(found: &Found, upstream: SocketAddr, upstream_ca: &Path) -> Result<Peer, String> {
        let dir = tempfile::tempdir().map_err(|e| format!("temp dir: {e}"))?;
        let port = free_port()?;
        let (mut cmd, ca_file) = match found.kind {
            Kind::Mitmproxy => mitmdump_command(found, dir.path(), port, upstream, upstream_ca)?,
            Kind::NodeMitm => node_command(found, dir.path(), port, upstream, upstream_ca)?,
        };
        let log_path = dir.path().join("peer.log");
        let log = std::fs::File::create(&log_path).map_err(|e| format!("peer.log: {e}"))?;
        let log2 = log.try_clone().map_err(|e| format!("peer.log: {e}"))?;
        cmd.stdin(Stdio::null()).stdout(log).stderr(log2);
        // SAFETY: prctl is async-signal-safe and touches only the child being set up.
        unsafe {
            cmd.pre_exec(|| {
                // The peer dies with the bench, even if the bench is killed outright.
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let child = cmd
            .spawn()
            .map_err(|e| format!("{}: {e}", found.program.display()))?;
        let mut peer = Peer {
            kind: found.kind,
            addr: SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
            ca_pem: String::new(),
            child,
            _dir: dir,
        };
        peer.ca_pem = peer.wait_ready(&ca_file).map_err(|e| {
            let log = std::fs::read_to_string(&log_path).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(5).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            format!("did not start: {e}; its log ends: {}", tail.join(" | "))
        })?;
        Ok(peer)
    }

    /// Polls until the port accepts and the CA is a whole PEM certificate, or the process
    /// exits, or `READY_WITHIN` passes.
    fn wait_ready(&mut self, ca_file: &Path) -> Result<String, String> {
        let started = Instant::now();
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("exited with {status}"));
            }
            let listening =
                TcpStream::connect_timeout(&self.addr, Duration::from_millis(200)).is_ok();
            let ca = std::fs::read_to_string(ca_file).unwrap_or_default();
            if listening && ca.contains("-----END CERTIFICATE-----") {
                return Ok(ca);
            }
            if started.elapsed() > READY_WITHIN {
                return Err(format!(
                    "not ready within {}s (listening: {listening}, CA {}: {})",
                    READY_WITHIN.as_secs(),
                    ca_file.display(),
                    if ca.is_empty() { "absent" } else { "partial" },
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The process id, whose CPU time the bench adds to its own for the peer's rows.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port free on loopback now; the peer binds it a moment later.
fn free_port() -> Result<u16, String> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).map_err(|e| format!("bind: {e}"))?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| format!("local addr: {e}"))
}

/// `mitmdump` as a quiet forward proxy with a fresh confdir (it makes its CA there) and the
/// addon above; it verifies the fake against the test CA.
fn mitmdump_command(
    found: &Found,
    dir: &Path,
    port: u16,
    upstream: SocketAddr,
    upstream_ca: &Path,
) -> Result<(Command, PathBuf), String> {
    let addon = dir.join("addon.py");
    let text = MITM_ADDON
        .replace("{port}", &upstream.port().to_string())
        .replace("{host}", HOST);
    std::fs::write(&addon, text).map_err(|e| format!("addon.py: {e}"))?;
    let confdir = dir.join("conf");
    let set = |k: &str, v: &str| ["--set".to_string(), format!("{k}={v}")];
    let mut cmd = Command::new(&found.program);
    cmd.args(["-q", "--listen-host", "127.0.0.1", "--listen-port"])
        .arg(port.to_string())
        .args(set("confdir", &confdir.display().to_string()))
        .args(set("flow_detail", "0"))
        .args(set("connection_strategy", "lazy"))
        .args(set(
            "ssl_verify_upstream_trusted_ca",
            &upstream_ca.display().to_string(),
        ))
        .arg("-s")
        .arg(&addon);
    Ok((cmd, confdir.join("mitmproxy-ca-cert.pem")))
}

/// `node` running the script above; http-mitm-proxy makes its CA under `ca/certs/ca.pem`.
fn node_command(
    found: &Found,
    dir: &Path,
    port: u16,
    upstream: SocketAddr,
    upstream_ca: &Path,
) -> Result<(Command, PathBuf), String> {
    let script = dir.join("peer.js");
    std::fs::write(&script, NODE_PEER.replace("{host}", HOST))
        .map_err(|e| format!("peer.js: {e}"))?;
    let ca_dir = dir.join("ca");
    let mut cmd = Command::new(&found.program);
    cmd.arg(&script)
        .arg(&found.modules)
        .arg(port.to_string())
        .arg(&ca_dir)
        .arg(upstream.port().to_string())
        .arg(upstream_ca);
    Ok((cmd, ca_dir.join("certs/ca.pem")))
}

/// User plus system CPU time of process `pid` (all its threads) so far, from
/// `/proc/<pid>/stat`.
pub fn cpu_of(pid: u32) -> Duration {
    // SAFETY: sysconf reads a constant.
    let tick = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // After the `(comm)` field: state, then utime and stime as the 12th and 13th.
    let fields: Vec<u64> = stat.rsplit_once(')').map_or(vec![], |(_, rest)| {
        rest.split_whitespace()
            .map(|f| f.parse().unwrap_or(0))
            .collect()
    });
    let ticks = fields.get(11).unwrap_or(&0) + fields.get(12).unwrap_or(&0);
    Duration::from_secs_f64(ticks as f64 / tick)
}

/// The peers that started, and a line for each peer saying what runs or why it is skipped.
pub struct Peers {
    pub running: Vec<Peer>,
    pub notes: Vec<String>,
    /// Holds the test CA's PEM file, which the peers read when they connect upstream.
    _dir: Option<tempfile::TempDir>,
}

/// Starts every peer found on the machine in front of `upstream`, trusting `upstream_ca_pem`.
pub fn start_all(upstream: SocketAddr, upstream_ca_pem: &str) -> Peers {
    let mut peers = Peers {
        running: Vec::new(),
        notes: Vec::new(),
        _dir: None,
    };
    let dir = match tempfile::tempdir() {
        Ok(dir) => dir,
        Err(e) => {
            peers
                .notes
                .push(format!("peers: all skipped (temp dir: {e})"));
            return peers;
        }
    };
    let ca_file = dir.path().join("test-ca.pem");
    if let Err(e) = std::fs::write(&ca_file, upstream_ca_pem) {
        peers
            .notes
            .push(format!("peers: all skipped (test-ca.pem: {e})"));
        return peers;
    }
    for kind in Kind::ALL {
        let started = find(kind).and_then(|found| {
            let peer = Peer::start(&found, upstream, &ca_file)?;
            Ok((found, peer))
        });
        match started {
            Ok((found, peer)) => {
                peers.notes.push(format!(
                    "peers: {}, listening on {}",
                    found.describe, peer.addr
                ));
                peers.running.push(peer);
            }
            Err(e) => peers
                .notes
                .push(format!("peers: {} skipped ({e})", kind.name())),
        }
    }
    peers._dir = Some(dir);
    peers
}
