// keypool's dashboard: polls /_keypool/dashboard every 2 s and updates the page in place.
// Every name and model comes from config or the wire, so text goes in with textContent,
// never as markup. Countdowns tick each second from keypool's clock, not the browser's.
"use strict";

(function () {
  const DATA = "/_keypool/dashboard";
  const POLL_MS = 2000;
  const TIMEOUT_MS = 1800;
  const SVG = "http://www.w3.org/2000/svg";

  // keypool's `now` minus the browser's when the last answer came: countdowns use it.
  let skew = 0;
  let inFlight = false;

  const $ = (id) => document.getElementById(id);
  const serverNow = () => Date.now() / 1000 + skew;

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function setText(e, text) {
    if (e.textContent !== text) e.textContent = text;
  }

  function duration(secs) {
    secs = Math.max(0, Math.floor(secs));
    const d = Math.floor(secs / 86400);
    const h = Math.floor((secs % 86400) / 3600);
    const m = Math.floor((secs % 3600) / 60);
    const s = secs % 60;
    const two = (n) => String(n).padStart(2, "0");
    if (d > 0) return d + "d " + h + "h";
    if (h > 0) return h + "h " + two(m) + "m";
    if (m > 0) return m + "m " + two(s) + "s";
    return s + "s";
  }

  function count(n) {
    n = Number(n) || 0;
    if (n >= 1e9) return (n / 1e9).toFixed(1) + "G";
    if (n >= 1e6) return (n / 1e6).toFixed(1) + "M";
    if (n >= 1e4) return (n / 1e3).toFixed(0) + "k";
    if (n >= 1e3) return (n / 1e3).toFixed(1) + "k";
    return String(n);
  }

  function usd(c) {
    if (c === null || c === undefined) return "—";
    c = Number(c) || 0;
    if (c === 0) return "$0";
    return "$" + (c < 0.01 ? c.toFixed(4) : c.toFixed(2));
  }

  function latency(ms) {
    ms = Number(ms) || 0;
    return ms < 1000 ? ms + " ms" : (ms / 1000).toFixed(1) + " s";
  }

  function sumsText(s) {
    s = s || {};
    return [count(s.requests) + " req", count(s.tokens) + " tok", usd(s.cost_usd)].join(" · ");
  }

  // --- header and totals -------------------------------------------------------------

  function header(d) {
    setText($("version"), d.keypool);
    setText($("listen"), d.listen);
    setText($("ca"), d.ca);
    $("ca").title = d.ca;
    for (const [id, s] of [["total-today", d.usage.today], ["total-week", d.usage.week]]) {
      const box = $(id);
      setText(box.querySelector(".requests"), count(s.requests));
      setText(box.querySelector(".tokens"), count(s.tokens));
      setText(box.querySelector(".cost"), usd(s.cost_usd));
    }
    const err = $("usage-error");
    err.hidden = !d.usage.error;
    setText(err, d.usage.error || "");
  }

  // --- pools and accounts --------------------------------------------------------------

  function poolCard(p) {
    const card = el("article", "pool");
    card.dataset.pool = p.name;
    const head = el("div", "pool-head");
    head.append(el("h3", "pool-name"), el("span", "muted pool-info"));
    card.append(head, el("div", "accounts"));
    return card;
  }

  function accountRow(name) {
    const row = el("div", "account");
    row.dataset.account = name;
    const who = el("div", "who");
    who.append(el("span", "name"), el("span", "kind"));
    const state = el("div", "health");
    state.append(el("span", "state"), el("span", "countdown"), el("span", "detail"));
    const windows = el("div", "windows");
    const usage = el("dl", "usage");
    for (const k of ["today", "week"]) {
      const dd = el("dd");
      dd.dataset.period = k;
      usage.append(el("dt", "", k === "today" ? "today" : "7 d"), dd);
    }
    row.append(who, state, windows, usage);
    return row;
  }

  // Keeps one child per key in `parent`, in `items` order, made by `make` and filled by
  // `fill`; children whose key went away are removed.
  function reconcile(parent, items, key, attr, make, fill) {
    const old = new Map();
    for (const c of parent.children) old.set(c.dataset[attr], c);
    let prev = null;
    for (const item of items) {
      const k = key(item);
      let node = old.get(k);
      if (node) old.delete(k);
      else node = make(item);
      fill(node, item);
      const want = prev ? prev.nextSibling : parent.firstChild;
      if (want !== node) parent.insertBefore(node, want);
      prev = node;
    }
    for (const gone of old.values()) gone.remove();
  }

  function windowRow(w) {
    const row = el("div", "window");
    row.dataset.window = w.name;
    const bar = el("div", "bar");
    bar.append(el("div", "fill"));
    row.append(el("span", "label"), bar, el("span", "reset"), el("span", "source"));
    return row;
  }

  function fillWindow(row, w) {
    // A scope the name already says (a probe's `7d-sonnet`) is not said twice.
    const label = w.scope && !w.name.includes(w.scope) ? w.name + " (" + w.scope + ")" : w.name;
    const label_el = row.querySelector(".label");
    setText(label_el, label);
    let title = label;
    if (w.limit !== null && w.limit !== undefined && w.remaining !== null && w.remaining !== undefined) {
      title += ": " + w.remaining + " of " + w.limit + " left";
    }
    label_el.title = title;
    // Where the numbers came from (a quota probe or an answer's headers) and when: the
    // tick keeps the age current.
    row.dataset.source = w.source || "";
    const learned = typeof w.age_secs === "number" ? serverNow() - w.age_secs : null;
    row.dataset.learnedAt = learned === null ? "" : String(learned);
    const u = typeof w.utilization === "number" ? w.utilization : null;
    const pct = u === null ? 0 : Math.min(100, Math.max(0, u * 100));
    row.querySelector(".fill").style.width = pct.toFixed(1) + "%";
    row.dataset.level = u === null ? "unknown" : u >= 1 ? "full" : u >= 0.8 ? "high" : "low";
    row.dataset.utilization = u === null ? "" : u.toFixed(3);
    row.dataset.resetsAt = w.resets_at === null || w.resets_at === undefined ? "" : String(w.resets_at);
  }

  function fillAccount(row, a, usage) {
    row.dataset.state = a.state;
    row.dataset.until = a.state === "cooling" && a.until ? String(a.until) : "";
    setText(row.querySelector(".name"), a.name);
    row.querySelector(".name").title = a.name;
    setText(row.querySelector(".kind"), a.kind === "oauth" ? "subscription" : "api key");
    setText(row.querySelector(".state"), a.state);
    const why = a.state === "cooling" && a.cause ? a.cause.replace(/_/g, " ") + ": " + a.detail : a.detail;
    const detail = row.querySelector(".detail");
    setText(detail, why || "");
    detail.title = why || "";
    const wins = row.querySelector(".windows");
    reconcile(wins, a.windows || [], (w) => w.name + "\u0000" + (w.scope || ""), "key",
      (w) => { const r = windowRow(w); r.dataset.key = w.name + "\u0000" + (w.scope || ""); return r; },
      fillWindow);
    row.classList.toggle("no-windows", !(a.windows || []).length);
    for (const k of ["today", "week"]) {
      const list = k === "today" ? usage.accounts_today : usage.accounts_week;
      const s = (list || []).find((x) => x.key === a.name);
      setText(row.querySelector('.usage dd[data-period="' + k + '"]'), sumsText(s));
    }
  }

  function pools(d) {
    const box = $("pools");
    $("no-pools").hidden = d.pools.length > 0;
    reconcile(box, d.pools, (p) => p.name, "pool", poolCard, (card, p) => {
      setText(card.querySelector(".pool-name"), p.name);
      setText(card.querySelector(".pool-info"), p.provider + " · " + p.strategy);
      reconcile(card.querySelector(".accounts"), p.accounts, (a) => a.name, "account",
        (a) => accountRow(a.name), (row, a) => fillAccount(row, a, d.usage));
    });
  }

  // --- the ticking parts ---------------------------------------------------------------

  function tick() {
    const now = serverNow();
    for (const row of document.querySelectorAll(".account")) {
      const until = Number(row.dataset.until);
      const cd = row.querySelector(".countdown");
      setText(cd, until ? (until > now ? "for " + duration(until - now) : "ending…") : "");
    }
    for (const w of document.querySelectorAll(".window")) {
      const at = Number(w.dataset.resetsAt);
      setText(w.querySelector(".reset"), at ? (at > now ? "in " + duration(at - now) : "now") : "");
      const learned = Number(w.dataset.learnedAt);
      const from = w.dataset.source;
      const age = w.dataset.learnedAt !== "" ? " " + duration(now - learned) + " ago" : "";
      setText(w.querySelector(".source"), from ? from + age : "");
    }
  }

  // --- chart and recent rows -----------------------------------------------------------

  function svg(tag, attrs, text) {
    const e = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function chart(slices) {
    const box = $("chart");
    // As wide as the box, so bars and labels keep their proportions.
    const W = Math.max(320, Math.round(box.clientWidth || 720)), H = 140, top = 16, bottom = 20, left = 4;
    box.setAttribute("viewBox", "0 0 " + W + " " + H);
    const max = Math.max(1, ...slices.map((s) => Number(s.tokens) || 0));
    const step = (W - left) / Math.max(1, slices.length);
    const parts = [svg("line", { class: "axis", x1: left, x2: W, y1: H - bottom, y2: H - bottom })];
    parts.push(svg("text", { x: left, y: 11 }, "max " + count(max) + " tokens/h"));
    slices.forEach((s, i) => {
      const t = Number(s.tokens) || 0;
      const h = Math.round(((H - top - bottom) * t) / max);
      const r = svg("rect", {
        class: "slice", x: (left + i * step + 2).toFixed(1), y: H - bottom - h,
        width: Math.max(1, step - 4).toFixed(1), height: h,
      });
      r.dataset.tokens = String(t);
      const hour = new Date(s.start_ms);
      r.append(svg("title", {}, hour.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", hour12: false }) +
        ": " + count(t) + " tokens, " + count(s.requests) + " requests, " + usd(s.cost_usd)));
      parts.push(r);
      if (i % 6 === 0 || i === slices.length - 1) {
        parts.push(svg("text", { x: (left + i * step + 2).toFixed(1), y: H - 5 },
          hour.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", hour12: false })));
      }
    });
    box.replaceChildren(...parts);
  }

  function recent(rows) {
    const body = $("recent").querySelector("tbody");
    $("no-recent").hidden = rows.length > 0;
    const out = rows.map((r) => {
      const tr = el("tr");
      const t = new Date(r.at_ms);
      const cells = [
        ["", t.toLocaleTimeString([], { hour12: false })],
        ["", r.account || "keypool"],
        ["mono", r.model || "—"],
        [r.status >= 400 ? "num bad" : "num", String(r.status)],
        ["num", String(r.attempts)],
        ["num", count(r.tokens_in) + " / " + count(r.tokens_out)],
        ["num", latency(r.total_ms)],
        ["num", usd(r.cost_usd)],
      ];
      for (const [cls, text] of cells) {
        const td = el("td", cls, text);
        td.title = text;
        tr.append(td);
      }
      tr.title = t.toISOString() + (r.stream ? " · stream" : "");
      return tr;
    });
    body.replaceChildren(...out);
  }

  // --- polling -------------------------------------------------------------------------

  function connection(state, text) {
    const c = $("conn");
    c.dataset.state = state;
    setText(c, text);
    document.body.dataset.conn = state;
  }

  async function poll() {
    if (inFlight) return;
    inFlight = true;
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), TIMEOUT_MS);
    try {
      const r = await fetch(DATA, { cache: "no-store", signal: abort.signal,
        headers: { accept: "application/json" } });
      if (!r.ok) throw new Error("HTTP " + r.status);
      const d = await r.json();
      skew = Number(d.now) - Date.now() / 1000;
      header(d);
      pools(d);
      chart(d.usage.hourly || []);
      recent(d.usage.recent || []);
      tick();
      connection("live", "live · " + new Date().toLocaleTimeString([], { hour12: false }));
    } catch (e) {
      connection("down", "keypool not answering");
    } finally {
      clearTimeout(timer);
      inFlight = false;
    }
  }

  poll();
  setInterval(poll, POLL_MS);
  setInterval(tick, 1000);
})();
