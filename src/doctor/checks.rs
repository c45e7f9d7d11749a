//! The runtime checks: found? which version? does the live check pass, and if it does,
//! which variables did it; if not, why and the fix. The agent CLIs: found, version, what
//! they ride on and need.

use super::live::{self, Env, CHECK_TIMEOUT, VERSION_TIMEOUT};
use super::report::{Class, Line, Verdict};
use super::runtimes::{self, Runtime, AGENTS, RUNTIMES};
use super::{nonce, on_path, Setup};
use std::path::Path;

/// One line per runtime of the table; a runtime not on PATH is a note.
pub async fn runtimes(setup: &Setup) -> Vec<Line> {
    let mut lines = Vec::new();
    for rt in RUNTIMES {
        lines.push(runtime(setup, rt).await);
    }
    lines
}

async fn runtime(setup: &Setup, rt: &Runtime) -> Line {
    let Some(program) = on_path(rt.program) else {
        return Line::new(
            rt.name,
            Verdict::Note,
            format!("{} not found on PATH", rt.program),
        );
    };
    let env = Env {
        set: &setup.env,
        extra: &[],
        without: &[],
    };
    if !rt.requires.is_empty() {
        let args: Vec<String> = rt.requires.iter().map(|a| a.to_string()).collect();
        let found = live::run(&program, &args, &env, VERSION_TIMEOUT).await;
        if !found.is_some_and(|r| r.success) {
            return Line::new(rt.name, Verdict::Note, "not importable: not checked");
        }
    }
    let version = version_of(&program, rt.version_args, &env).await;
    let first = check(setup, rt, &program, &[]).await;
    let mut line = match first.0 {
        Class::Passed => passed(setup, rt, &program).await,
        Class::CaNotTrusted => {
            let fix = rt
                .ca_fix
                .replace("{ca}", &setup.ca.display().to_string())
                .replace("{bundle}", &setup.bundle.display().to_string());
            Line::new(
                rt.name,
                Verdict::Fail,
                format!(
                    "came through keypool but does not trust its CA ({})",
                    first.1
                ),
            )
            .fix(fix)
        }
        Class::ProxyIgnored => ignored(setup, rt, &program, version.as_deref(), &first.1).await,
    };
    line.class = Some(first.0);
    line.version = version;
    line
}

/// The check's class and an excerpt of what the runtime printed.
async fn check(setup: &Setup, rt: &Runtime, program: &Path, without: &[&str]) -> (Class, String) {
    check_url(setup, rt, program, without, "https", &[]).await
}

async fn check_url(
    setup: &Setup,
    rt: &Runtime,
    program: &Path,
    without: &[&str],
    scheme: &str,
    more: &[(&'static str, String)],
) -> (Class, String) {
    let nonce = nonce();
    let url = setup.url(scheme, &nonce);
    let args: Vec<String> = rt.check.iter().map(|a| a.replace("{url}", &url)).collect();
    let mut set = setup.env.clone();
    set.extend(more.iter().cloned());
    let env = Env {
        set: &set,
        extra: rt.check_env,
        without,
    };
    match live::run(program, &args, &env, CHECK_TIMEOUT).await {
        Some(ran) => (
            live::classify(&ran.output, &nonce),
            live::excerpt(&ran.output),
        ),
        None => (
            Class::ProxyIgnored,
            format!("cannot run {}", program.display()),
        ),
    }
}

/// A pass, and which variables did it: each group (proxy, CA) is left out whole, then
/// one variable at a time. A few runs per runtime, never more than the table names.
async fn passed(setup: &Setup, rt: &Runtime, program: &Path) -> Line {
    let mut needs = Vec::new();
    let mut said = Vec::new();
    for (what, group) in [("proxy", rt.proxy_vars), ("CA", rt.ca_vars)] {
        if check(setup, rt, program, group).await.0 == Class::Passed {
            said.push(format!(
                "{what}: works without {} (another variable or a default store)",
                group.join(", ")
            ));
            continue;
        }
        let mut one = Vec::new();
        for var in group {
            if check(setup, rt, program, &[var]).await.0 != Class::Passed {
                one.push(var.to_string());
            }
        }
        if one.is_empty() {
            said.push(format!("{what}: from any of {}", group.join(", ")));
        } else {
            said.push(format!("{what}: from {}", one.join(" + ")));
        }
        needs.extend(one);
    }
    let mut line = Line::new(
        rt.name,
        Verdict::Ok,
        format!(
            "through keypool, CA trusted ({}; found by leaving each variable out)",
            said.join("; ")
        ),
    );
    line.needs = needs;
    line
}

/// It went around keypool; whether it takes `http_proxy` for plain http:// says if it
/// reads proxy variables at all.
async fn ignored(
    setup: &Setup,
    rt: &Runtime,
    program: &Path,
    version: Option<&str>,
    excerpt: &str,
) -> Line {
    let plain = [
        ("http_proxy", setup.proxy().to_string()),
        ("HTTP_PROXY", setup.proxy().to_string()),
    ];
    let over_http = check_url(setup, rt, program, &[], "http", &plain).await.0 == Class::Passed;
    let fix = match rt.name {
        "node" => runtimes::node_proxy_fix(version.and_then(runtimes::node_version)),
        _ => rt.proxy_fix.to_string(),
    };
    let also = match over_http {
        true => "; it does use http_proxy for plain http:// URLs",
        false => "",
    };
    Line::new(
        rt.name,
        Verdict::Fail,
        format!("does not go through keypool: {excerpt}{also}"),
    )
    .fix(fix)
}

async fn version_of(program: &Path, args: &[&str], env: &Env<'_>) -> Option<String> {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let ran = live::run(program, &args, env, VERSION_TIMEOUT).await?;
    let first = ran.output.lines().next()?.trim();
    (ran.success && !first.is_empty()).then(|| crate::echo::printable(first, 80))
}

/// One note per agent CLI found: version, runtime (from its `#!` line), what it needs.
pub async fn agents(setup: &Setup) -> Vec<Line> {
    let env = Env {
        set: &setup.env,
        extra: &[],
        without: &[],
    };
    let mut lines = Vec::new();
    for a in AGENTS {
        let Some(program) = on_path(a.name) else {
            continue;
        };
        let version = version_of(&program, &["--version"], &env).await;
        let rides = rides_on(&program);
        let mut line = Line::new(
            a.name,
            Verdict::Note,
            format!(
                "found ({}), runs on {rides}; needs {}; no live check (it would send a prompt)",
                version.as_deref().unwrap_or("version unknown"),
                a.needs
            ),
        );
        line.version = version;
        lines.push(line);
    }
    lines
}

/// What a CLI runs on, from its first bytes: a `#!` script names its interpreter.
fn rides_on(program: &Path) -> String {
    let resolved = std::fs::canonicalize(program).unwrap_or_else(|_| program.to_path_buf());
    let mut head = [0u8; 128];
    let n = std::fs::File::open(&resolved)
        .and_then(|mut f| std::io::Read::read(&mut f, &mut head))
        .unwrap_or(0);
    let head = String::from_utf8_lossy(&head[..n]);
    match head.strip_prefix("#!").and_then(|l| l.lines().next()) {
        Some(l) if l.contains("node") => "node (a script)".into(),
        Some(l) if l.contains("bun") => "bun (a script)".into(),
        Some(l) => format!("{} (a script)", crate::echo::printable(l.trim(), 60)),
        None => "its own binary (Bun-compiled or native)".into(),
    }
}
