//! A real headless Chromium, driven over WebDriver (Debian's `chromium` and
//! `chromium-driver`, which .ci/run installs). Missing binaries fail the test that wanted
//! them, naming the packages: a browser test that skips would pass having shown nothing.
//!
//! Chromium is started with its background services off: on this closed network their
//! connections would hang or pollute what a test asserts about the page's own loads.

use std::net::{SocketAddr, TcpListener};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{json, Value};

use super::guard::{Within, WAIT};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const MISSING: &str =
    "install Debian's packages: apt-get install -y chromium chromium-driver (.ci/run does)";

/// How often a wait looks again; the bound is [`WAIT`].
const POLL: Duration = Duration::from_millis(100);

pub struct Browser {
    pub client: Client,
    driver: Child,
    /// The profile and the driver's log, removed after the browser.
    _dir: tempfile::TempDir,
}

impl Browser {
    /// chromedriver on a free port, and a Chromium session with a fresh profile.
    pub async fn start() -> Browser {
        for (bin, what) in [(CHROMIUM, "chromium"), (CHROMEDRIVER, "chromedriver")] {
            assert!(Path::new(bin).exists(), "{what} is not at {bin}: {MISSING}");
        }
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let log = dir.path().join("chromedriver.log");
        let mut driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .arg(format!("--log-path={}", log.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // Its own process group, so Drop ends it and the browsers it started together.
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("chromedriver did not start: {e}; {MISSING}"));
        wait_listening(&mut driver, SocketAddr::from(([127, 0, 0, 1], port)), &log).await;
        let caps = capabilities(&dir.path().join("profile"));
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{port}"))
            .within("chromedriver starting a Chromium session")
            .await
            .unwrap_or_else(|e| {
                let log = std::fs::read_to_string(&log).unwrap_or_default();
                panic!("Chromium did not start under chromedriver: {e}; {MISSING}\n{log}")
            });
        Browser {
            client,
            driver,
            _dir: dir,
        }
    }

    /// Runs `script` (a function body; `return` gives the value) in the page.
    pub async fn js(&self, script: &str) -> Value {
        self.client
            .execute(script, Vec::new())
            .within("a script in the page")
            .await
            .unwrap_or_else(|e| panic!("the script failed: {e}\n{script}"))
    }

    /// Runs `script` until it returns something other than `null` or `false`, and returns
    /// that; panics naming `what` (and the last value) after [`WAIT`].
    pub async fn wait_for(&self, what: &str, script: &str) -> Value {
        let start = Instant::now();
        loop {
            let v = self.js(script).await;
            if !v.is_null() && v != Value::Bool(false) {
                return v;
            }
            if start.elapsed() > WAIT {
                let page = self.js("return document.body.innerText").await;
                panic!("waited {WAIT:?} for {what}; last {v}; the page shows:\n{page}");
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Sizes the page's viewport to `width` × `height` CSS pixels: the window is sized,
    /// then grown by whatever its frame takes (none in headless mode, but that is
    /// Chromium's to decide).
    pub async fn viewport(&self, width: u32, height: u32) {
        let want = (i64::from(width), i64::from(height));
        let mut outer = want;
        let mut inner = Value::Null;
        for _ in 0..3 {
            let (w, h) = (clamp_px(outer.0), clamp_px(outer.1));
            self.client
                .set_window_size(w, h)
                .within("Chromium resizing its window")
                .await
                .unwrap_or_else(|e| panic!("Chromium did not take the size {w}x{h}: {e}"));
            inner = self
                .js("return [window.innerWidth, window.innerHeight];")
                .await;
            let got = (
                inner[0].as_i64().unwrap_or(0),
                inner[1].as_i64().unwrap_or(0),
            );
            if got == want {
                return;
            }
            outer = (outer.0 + want.0 - got.0, outer.1 + want.1 - got.1);
        }
        panic!("the viewport stayed {inner}, not {width}x{height}");
    }

    /// A PNG of what the viewport shows.
    pub async fn screenshot(&self) -> Vec<u8> {
        self.client
            .screenshot()
            .within("Chromium taking a screenshot")
            .await
            .unwrap_or_else(|e| panic!("Chromium took no screenshot: {e}"))
    }

    /// Ends the session (Chromium quits); Drop then ends chromedriver.
    pub async fn close(self) {
        let _ = self
            .client
            .clone()
            .close()
            .within("Chromium quitting")
            .await;
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // SAFETY: kill(2) on the process group this Browser started; no memory involved.
        unsafe {
            libc::kill(-(self.driver.id() as i32), libc::SIGKILL);
        }
        let _ = self.driver.wait();
    }
}

fn capabilities(profile: &Path) -> serde_json::Map<String, Value> {
    let args = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--no-proxy-server",
        // A screenshot shows the page, not the scrollbar beside it.
        "--hide-scrollbars",
        "--window-size=1280,900",
        &format!("--user-data-dir={}", profile.display()),
    ];
    let caps = json!({
        "browserName": "chrome",
        "goog:chromeOptions": {"binary": CHROMIUM, "args": args},
    });
    match caps {
        Value::Object(m) => m,
        _ => unreachable!("a JSON object"),
    }
}

/// A window edge in pixels, kept to what a screen could have.
fn clamp_px(px: i64) -> u32 {
    u32::try_from(px.clamp(100, 8000)).unwrap_or(100)
}

fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// Until chromedriver accepts connections; fails at once if it exited.
async fn wait_listening(driver: &mut Child, addr: SocketAddr, log: &Path) {
    let start = Instant::now();
    loop {
        if tokio::net::TcpStream::connect(addr).await.is_ok() {
            return;
        }
        if let Ok(Some(status)) = driver.try_wait() {
            let log = std::fs::read_to_string(log).unwrap_or_default();
            panic!("chromedriver exited ({status}) before listening on {addr}; {MISSING}\n{log}");
        }
        assert!(
            start.elapsed() < WAIT,
            "chromedriver did not listen on {addr} within {WAIT:?}; {MISSING}"
        );
        tokio::time::sleep(POLL).await;
    }
}
