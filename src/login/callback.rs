//! The loopback redirect target of a browser login: waits for
//! `GET /callback?code=…&state=…` and hands the code over, keeping the browser waiting
//! until the login's outcome is known, then answers with a short page. Only the expected
//! path and state are accepted.

use std::io;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

/// How long a connection may take to send its request head. Browsers open spare
/// connections they may never use; those must not hold up the real redirect.
const HEAD_TIMEOUT: Duration = Duration::from_secs(30);

pub struct Callback {
    listener: TcpListener,
    path: &'static str,
}

impl Callback {
    /// Listens on `127.0.0.1:port` (the port the vendor registered for its CLI).
    pub async fn bind(port: u16, path: &'static str) -> io::Result<Callback> {
        let listener = TcpListener::bind(("127.0.0.1", port)).await.map_err(|e| {
            io::Error::new(
                e.kind(),
                format!(
                    "cannot listen on 127.0.0.1:{port} for the login redirect ({e}); close the \
                    program using it (another login in progress?) or use --no-browser"
                ),
            )
        })?;
        Ok(Callback { listener, path })
    }

    /// The port it listens on (the one asked for, or the one the system chose for 0).
    pub fn port(&self) -> io::Result<u16> {
        Ok(self.listener.local_addr()?.port())
    }

    /// The code from the first request to the callback path that carries `state`, and
    /// that request's connection, to tell the browser how the login ended.
    pub async fn code(&self, state: &str) -> io::Result<(String, Reply)> {
        let state = state.to_string();
        let parse = move |target: &str, path: &str| parse_redirect(target, path, &state);
        let ((code, _), reply) = self
            .first(move |t, p| parse(t, p).map(|c| (c, None)))
            .await?;
        Ok((code, reply))
    }

    /// The code (and the `provider` the vendor names) from the first request to the
    /// callback path, for a vendor that echoes no state (Cline): what stands in for it is
    /// the ephemeral port, known only to this login and the browser it sent.
    pub async fn app_code(&self) -> io::Result<((String, Option<String>), Reply)> {
        self.first(parse_app_redirect).await
    }

    /// Connections are served side by side, so an idle one does not block the others.
    async fn first<P>(&self, parse: P) -> io::Result<((String, Option<String>), Reply)>
    where
        P: Fn(&str, &str) -> Result<(String, Option<String>), String> + Clone + Send + 'static,
    {
        let mut conns = JoinSet::new();
        loop {
            tokio::select! {
                accepted = self.listener.accept() => {
                    let (s, _) = accepted?;
                    let (path, parse) = (self.path, parse.clone());
                    conns.spawn(async move { serve(s, path, parse).await });
                }
                Some(done) = conns.join_next() => {
                    if let Ok(Some(result)) = done {
                        return result;
                    }
                }
            }
        }
    }
}

/// The browser's request that carried the code, waiting for the login's outcome.
pub struct Reply {
    stream: TcpStream,
}

impl Reply {
    /// Answers the browser: done, or why not (the terminal has the same message).
    pub async fn finish<T>(mut self, outcome: &Result<T, String>) {
        match outcome {
            Ok(_) => {
                let text = "keypool: login complete. You can close this tab.";
                respond(&mut self.stream, "200 OK", text).await;
            }
            Err(e) => {
                let text = format!("keypool: login failed: {e}");
                respond(&mut self.stream, "500 Internal Server Error", &text).await;
            }
        }
    }
}

/// One connection: `None` when it did not carry the redirect (the browser got a 400
/// page, or it sent nothing in time).
async fn serve<T>(
    mut s: TcpStream,
    path: &str,
    parse: impl Fn(&str, &str) -> Result<T, String>,
) -> Option<io::Result<(T, Reply)>> {
    let head = tokio::time::timeout(HEAD_TIMEOUT, read_head(&mut s))
        .await
        .ok()?
        .ok()?;
    let target = head
        .lines()
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap_or("");
    match parse(target, path) {
        Ok(code) => Some(Ok((code, Reply { stream: s }))),
        Err(why) => {
            respond(&mut s, "400 Bad Request", &format!("keypool: {why}")).await;
            why.starts_with("the provider refused")
                .then(|| Err(io::Error::other(why)))
        }
    }
}

/// The request line and headers, up to the blank line (at most 16 KiB).
async fn read_head(s: &mut TcpStream) -> io::Result<String> {
    let mut buf = vec![0u8; 16 * 1024];
    let mut n = 0;
    while n < buf.len() {
        let got = s.read(&mut buf[n..]).await?;
        if got == 0 {
            break;
        }
        n += got;
        if buf[..n].windows(4).any(|w| w == b"\r\n\r\n") {
            break;
        }
    }
    Ok(String::from_utf8_lossy(&buf[..n]).into_owned())
}

async fn respond(s: &mut TcpStream, status: &str, text: &str) {
    let body = format!(
        "<!doctype html><meta charset=utf-8><title>keypool</title><p>{}</p>\n",
        html_escape(text)
    );
    let head = format!(
        "HTTP/1.1 {status}\r\ncontent-type: text/html; charset=utf-8\r\ncontent-length: \
        {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    let _ = s.write_all(head.as_bytes()).await;
    let _ = s.write_all(body.as_bytes()).await;
    let _ = s.shutdown().await;
}

/// `text` as HTML text: it may quote the request (the provider's error, the path).
fn html_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The code in a redirect target (`/callback?code=…&state=…`, or a whole URL pasted by
/// the user), checked against the expected path and state.
pub fn parse_redirect(target: &str, path: &str, state: &str) -> Result<String, String> {
    let rest = match target.find("://") {
        Some(i) => {
            let after = &target[i + 3..];
            &after[after.find('/').unwrap_or(after.len())..]
        }
        None => target,
    };
    let (p, query) = rest.split_once('?').unwrap_or((rest, ""));
    if p != path {
        return Err(format!("not the login callback ({p})"));
    }
    let mut code = None;
    let mut got_state = None;
    let mut error = None;
    for (k, v) in form_urlencoded::parse(query.as_bytes()) {
        match &*k {
            "code" => code = Some(v.into_owned()),
            "state" => got_state = Some(v.into_owned()),
            "error" => error = Some(v.into_owned()),
            _ => {}
        }
    }
    // The state first: a page that does not know it must not be able to end the login
    // with a made-up error.
    if got_state.as_deref() != Some(state) {
        return Err("the state does not match this login; start `keypool login` again".into());
    }
    if let Some(e) = error {
        return Err(format!("the provider refused the login: {e}"));
    }
    code.filter(|c| !c.is_empty())
        .ok_or_else(|| "the redirect carries no code".into())
}

/// The code and `provider` in a vendor's redirect without state (`/auth?code=…&provider=…`;
/// Cline also sends the code as `refreshToken` or `idToken` in older builds).
pub fn parse_app_redirect(target: &str, path: &str) -> Result<(String, Option<String>), String> {
    let (p, query) = target.split_once('?').unwrap_or((target, ""));
    if p != path {
        return Err(format!("not the login callback ({p})"));
    }
    let (mut code, mut provider, mut error) = (None, None, None);
    for (k, v) in form_urlencoded::parse(query.as_bytes()) {
        match &*k {
            "code" | "refreshToken" | "idToken" if code.is_none() => code = Some(v.into_owned()),
            "provider" => provider = Some(v.into_owned()),
            "error" => error = Some(v.into_owned()),
            _ => {}
        }
    }
    if let Some(e) = error {
        return Err(format!("the provider refused the login: {e}"));
    }
    let code = code
        .filter(|c| !c.is_empty())
        .ok_or_else(|| "the redirect carries no code".to_string())?;
    Ok((code, provider.filter(|p| !p.is_empty())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_redirects() {
        assert_eq!(
            parse_redirect("/auth/callback?code=abc&state=s1", "/auth/callback", "s1").unwrap(),
            "abc"
        );
        assert_eq!(
            parse_redirect(
                "http://localhost:1455/auth/callback?code=a%2Bb&state=s1&scope=x",
                "/auth/callback",
                "s1"
            )
            .unwrap(),
            "a+b"
        );
        assert!(parse_redirect(
            "/auth/callback?code=abc&state=other",
            "/auth/callback",
            "s1"
        )
        .unwrap_err()
        .contains("state"));
        assert!(parse_redirect("/favicon.ico", "/auth/callback", "s1").is_err());
        assert!(parse_redirect(
            "/auth/callback?error=access_denied&state=s1",
            "/auth/callback",
            "s1"
        )
        .unwrap_err()
        .contains("access_denied"));
        // An error without this login's state is just a stray request.
        assert!(parse_redirect(
            "/auth/callback?error=access_denied&state=other",
            "/auth/callback",
            "s1"
        )
        .unwrap_err()
        .contains("state"));
        assert_eq!(
            parse_app_redirect("/auth?code=c%2B1&provider=github", "/auth").unwrap(),
            ("c+1".to_string(), Some("github".to_string()))
        );
        assert!(parse_app_redirect("/auth?provider=github", "/auth").is_err());
        assert!(parse_app_redirect("/authx?code=c", "/auth").is_err());
        assert!(parse_app_redirect("/auth?error=denied", "/auth")
            .unwrap_err()
            .contains("refused"));
        assert_eq!(
            html_escape("<b a=\"x\">&'"),
            "&lt;b a=&quot;x&quot;&gt;&amp;&#39;"
        );
    }
}
