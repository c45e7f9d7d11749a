//! The environment that points a client at keypool: proxy variables and CA trust for
//! every runtime the supported tools use.

use crate::home::Home;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// The syntax [`render`] prints in. A value of `keypool env --shell`, as import's
/// `Source` is a value of `keypool accounts import`.
#[derive(Clone, Copy, Debug, clap::ValueEnum, PartialEq, Eq)]
pub enum Shell {
    Sh,
    Bash,
    Zsh,
    Fish,
    Powershell,
}

/// Writes `certs/bundle.pem`: the system's roots plus keypool's CA. Variables like
/// `SSL_CERT_FILE` *replace* a client's roots, so they must point at this, never at the CA
/// alone, or every other HTTPS site would stop working for that client.
pub fn write_bundle(home: &Home, ca_pem: &str) -> std::io::Result<PathBuf> {
    let ours = pem::parse(ca_pem)
        .map(|p| p.into_contents())
        .unwrap_or_default();
    let mut out = String::new();
    for cert in rustls_native_certs::load_native_certs().certs {
        if cert.as_ref() == ours.as_slice() {
            continue;
        }
        out.push_str(&pem::encode(&pem::Pem::new(
            "CERTIFICATE",
            cert.as_ref().to_vec(),
        )));
    }
    out.push_str("# keypool local CA\n");
    out.push_str(ca_pem);
    let path = home.bundle();
    crate::atomic_file::write(&path, out.as_bytes(), 0o644)?;
    Ok(path)
}

/// The variables, in print order.
pub fn variables(proxy: SocketAddr, ca: &Path, bundle: &Path) -> Vec<(&'static str, String)> {
    let host = if proxy.ip().is_unspecified() {
        "127.0.0.1".to_string()
    } else {
        match proxy {
            SocketAddr::V4(a) => a.ip().to_string(),
            SocketAddr::V6(a) => format!("[{}]", a.ip()),
        }
    };
    // An explicit http:// scheme: Codex's WebSocket transport misbehaves without it.
    let url = format!("http://{host}:{}", proxy.port());
    let ca = ca.display().to_string();
    let bundle = bundle.display().to_string();
    let no_proxy = "localhost,127.0.0.1,::1".to_string();
    vec![
        ("HTTPS_PROXY", url.clone()),
        ("https_proxy", url),
        ("NO_PROXY", no_proxy.clone()),
        ("no_proxy", no_proxy),
        ("NODE_EXTRA_CA_CERTS", ca.clone()),
        ("NODE_USE_ENV_PROXY", "1".into()),
        ("SSL_CERT_FILE", bundle.clone()),
        ("REQUESTS_CA_BUNDLE", bundle.clone()),
        ("CURL_CA_BUNDLE", bundle.clone()),
        ("CODEX_CA_CERTIFICATE", ca),
        ("GIT_SSL_CAINFO", bundle.clone()),
        ("PIP_CERT", bundle),
    ]
}

pub fn render(shell: Shell, vars: &[(&'static str, String)]) -> String {
    let mut out = String::from("# keypool: route this shell's tools through keypool\n");
    for (k, v) in vars {
        let line = match shell {
            Shell::Sh | Shell::Bash | Shell::Zsh => format!("export {k}={}\n", sh_quote(v)),
            Shell::Fish => format!("set -gx {k} {};\n", sh_quote(v)),
            Shell::Powershell => format!("$env:{k} = '{}'\n", v.replace('\'', "''")),
        };
        out.push_str(&line);
    }
    out
}

fn sh_quote(v: &str) -> String {
    format!("'{}'", v.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_each_shell() {
        let vars = variables(
            "127.0.0.1:8787".parse().unwrap(),
            Path::new("/h/ca.pem"),
            Path::new("/h/it's.pem"),
        );
        let sh = render(Shell::Bash, &vars);
        assert!(sh.contains("export HTTPS_PROXY='http://127.0.0.1:8787'\n"));
        assert!(sh.contains("export SSL_CERT_FILE='/h/it'\\''s.pem'\n"));
        assert!(render(Shell::Fish, &vars).contains("set -gx NODE_EXTRA_CA_CERTS '/h/ca.pem';"));
        assert!(render(Shell::Powershell, &vars).contains("$env:PIP_CERT = '/h/it''s.pem'"));
        let any = variables("0.0.0.0:9".parse().unwrap(), Path::new("a"), Path::new("b"));
        assert_eq!(any[0].1, "http://127.0.0.1:9");
    }
}
