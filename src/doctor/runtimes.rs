//! The runtimes and clients `keypool doctor` looks for, and for each the one-line script
//! that fetches keypool's reserved path, the variables it reads, and the fixes. Facts
//! from the providers reference (PART 2: clients, proxy variables and extra CA trust).

/// A runtime checked live: it fetches `{url}` through keypool.
pub struct Runtime {
    /// The check's name in the report: `node`, `python3+httpx`, …
    pub name: &'static str,
    pub program: &'static str,
    pub version_args: &'static [&'static str],
    /// Must exit 0 for the runtime to count as found (a Python library importable).
    pub requires: &'static [&'static str],
    /// The live check; `{url}` is the reserved URL.
    pub check: &'static [&'static str],
    /// Extra environment for the check (git's trace of the headers it received).
    pub check_env: &'static [(&'static str, &'static str)],
    /// The variables it may take its proxy from, and its extra CA from: left out one at
    /// a time to find which did it.
    pub proxy_vars: &'static [&'static str],
    pub ca_vars: &'static [&'static str],
    /// When it does not trust keypool's CA; `{ca}` / `{bundle}` are the files.
    pub ca_fix: &'static str,
    /// When it ignores the proxy (node's depends on its version: see `node_proxy_fix`).
    pub proxy_fix: &'static str,
}

/// Node's and Bun's `fetch`, printing the body or the error and its cause's code.
const JS_FETCH: &str = "fetch(process.argv[1]).then(r=>r.text()).then(t=>console.log(t),\
e=>{console.error(String(e),String(e&&e.cause&&(e.cause.code||e.cause)));process.exit(1)})";

const PY_HTTPX: &str = "import sys,httpx\ntry:\n print(httpx.get(sys.argv[1],timeout=10).text)\n\
except Exception as e:\n print(type(e).__name__,e,file=sys.stderr);sys.exit(1)";

const PY_REQUESTS: &str = "import sys,requests\ntry:\n print(requests.get(sys.argv[1],\
timeout=10).text)\nexcept Exception as e:\n print(type(e).__name__,e,file=sys.stderr);sys.exit(1)";

pub const RUNTIMES: &[Runtime] = &[
    Runtime {
        name: "node",
        program: "node",
        version_args: &["--version"],
        requires: &[],
        check: &["-e", JS_FETCH, "{url}"],
        check_env: &[],
        proxy_vars: &["NODE_USE_ENV_PROXY", "https_proxy", "HTTPS_PROXY"],
        ca_vars: &["NODE_EXTRA_CA_CERTS"],
        ca_fix: "export NODE_EXTRA_CA_CERTS={ca} before node starts (it is read only at launch)",
        proxy_fix: "",
    },
    Runtime {
        name: "bun",
        program: "bun",
        version_args: &["--version"],
        requires: &[],
        check: &["-e", JS_FETCH, "{url}"],
        check_env: &[],
        proxy_vars: &["https_proxy", "HTTPS_PROXY"],
        ca_vars: &["NODE_EXTRA_CA_CERTS"],
        ca_fix:
            "export NODE_EXTRA_CA_CERTS={ca} before bun starts (Bun caches its CA store at boot)",
        proxy_fix: "export HTTPS_PROXY (Bun's fetch reads HTTPS_PROXY and HTTP_PROXY)",
    },
    Runtime {
        name: "python3+httpx",
        program: "python3",
        version_args: &["-c", "import httpx;print(httpx.__version__)"],
        requires: &["-c", "import httpx"],
        check: &["-c", PY_HTTPX, "{url}"],
        check_env: &[],
        proxy_vars: &["https_proxy", "HTTPS_PROXY"],
        ca_vars: &["SSL_CERT_FILE"],
        ca_fix: "export SSL_CERT_FILE={bundle} (httpx replaces certifi with it; it does not read \
            REQUESTS_CA_BUNDLE)",
        proxy_fix: "export HTTPS_PROXY, and do not build the client with trust_env=False or an \
            explicit proxy",
    },
    Runtime {
        name: "python3+requests",
        program: "python3",
        version_args: &["-c", "import requests;print(requests.__version__)"],
        requires: &["-c", "import requests"],
        check: &["-c", PY_REQUESTS, "{url}"],
        check_env: &[],
        proxy_vars: &["https_proxy", "HTTPS_PROXY"],
        ca_vars: &["REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"],
        ca_fix: "export REQUESTS_CA_BUNDLE={bundle}",
        proxy_fix: "export HTTPS_PROXY, and do not set session.trust_env = False",
    },
    Runtime {
        name: "curl",
        program: "curl",
        version_args: &["--version"],
        requires: &[],
        check: &["-sS", "--max-time", "10", "{url}"],
        check_env: &[],
        proxy_vars: &["https_proxy", "HTTPS_PROXY"],
        ca_vars: &["CURL_CA_BUNDLE", "SSL_CERT_FILE"],
        ca_fix: "export CURL_CA_BUNDLE={bundle} (or pass --cacert {bundle})",
        proxy_fix: "export https_proxy (curl reads http_proxy only in lower case), or pass \
            --proxy; check ~/.curlrc for noproxy",
    },
    // git's own HTTPS (libcurl): `ls-remote` of the reserved URL with the headers it
    // received traced, so keypool's answer is seen even though it is no repository.
    Runtime {
        name: "git",
        program: "git",
        version_args: &["--version"],
        requires: &[],
        check: &["-c", "http.sslVerify=true", "ls-remote", "{url}"],
        check_env: &[
            ("GIT_TRACE_CURL", "1"),
            ("GIT_TRACE_CURL_NO_DATA", "1"),
            ("GIT_TERMINAL_PROMPT", "0"),
        ],
        proxy_vars: &["https_proxy", "HTTPS_PROXY"],
        ca_vars: &["GIT_SSL_CAINFO"],
        ca_fix: "export GIT_SSL_CAINFO={bundle} (or git config http.sslCAInfo {bundle})",
        proxy_fix: "export https_proxy, or git config --global http.proxy <keypool's URL>; \
            check http.proxy is not set to something else",
    },
];

/// An agent CLI: found, its version, what it rides on and what it needs. No live check:
/// the cheap ones would send a prompt.
pub struct Agent {
    pub name: &'static str,
    pub needs: &'static str,
}

pub const AGENTS: &[Agent] = &[
    Agent {
        name: "claude",
        needs: "HTTPS_PROXY and NODE_EXTRA_CA_CERTS in its environment at launch (the native \
            build is Bun, which caches its CA store at boot); `keypool run -- claude` sets both",
    },
    Agent {
        name: "codex",
        needs: "HTTPS_PROXY with an explicit http:// scheme and CODEX_CA_CERTIFICATE (else \
            SSL_CERT_FILE); its WebSocket transport goes through keypool too",
    },
    Agent {
        name: "gemini",
        needs: "HTTPS_PROXY (it installs its own proxy agent, so any Node version works) and \
            NODE_EXTRA_CA_CERTS; headless runs need --skip-trust",
    },
    Agent {
        name: "opencode",
        needs: "HTTPS_PROXY, NO_PROXY with localhost,127.0.0.1 (its TUI talks to a local \
            server) and NODE_EXTRA_CA_CERTS",
    },
    Agent {
        name: "pi",
        needs: "https_proxy or HTTPS_PROXY (lower case wins; it installs undici's \
            EnvHttpProxyAgent, so any Node version works) and NODE_EXTRA_CA_CERTS",
    },
];

/// `vMAJOR.MINOR.PATCH` as Node prints it.
pub fn node_version(text: &str) -> Option<(u32, u32)> {
    let mut parts = text.trim().trim_start_matches('v').split('.');
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor))
}

/// Whether this Node's `fetch` reads the proxy variables (with NODE_USE_ENV_PROXY=1,
/// added in v24.0.0 and v22.21.0).
pub fn node_fetch_honours_proxy(version: (u32, u32)) -> bool {
    version.0 >= 24 || (version.0 == 22 && version.1 >= 21)
}

/// What to do when Node's fetch went around keypool.
pub fn node_proxy_fix(version: Option<(u32, u32)>) -> String {
    match version {
        Some(v) if node_fetch_honours_proxy(v) => concat!(
            "this Node reads the proxy variables only with NODE_USE_ENV_PROXY=1 (or ",
            "--use-env-proxy): check that it reaches node and that NO_PROXY does not name the host"
        )
        .to_string(),
        _ => concat!(
            "Node's fetch ignores HTTPS_PROXY before v22.21 / v24: upgrade Node to 22.21 or ",
            "newer, or preload a proxy agent: `node --require ./keypool-proxy.cjs …` with ",
            "keypool-proxy.cjs holding `const u = require('undici'); ",
            "u.setGlobalDispatcher(new u.EnvHttpProxyAgent());` (npm install undici)"
        )
        .to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_honours_the_proxy_from_22_21_and_24() {
        for (v, honours) in [
            ("v20.20.2", false),
            ("v22.20.0", false),
            ("v22.21.0", true),
            ("v23.11.0", false),
            ("v24.0.0", true),
            ("v25.1.0", true),
        ] {
            let parsed = node_version(v).unwrap();
            assert_eq!(node_fetch_honours_proxy(parsed), honours, "{v}");
        }
        assert_eq!(node_version("garbage"), None);
        assert!(node_proxy_fix(node_version("v20.1.0")).contains("upgrade Node"));
        assert!(node_proxy_fix(None).contains("EnvHttpProxyAgent"));
        assert!(node_proxy_fix(node_version("v24.1.0")).contains("NODE_USE_ENV_PROXY"));
    }
}
