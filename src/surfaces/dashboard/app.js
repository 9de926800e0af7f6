/*
 * pgsift dashboard: reads the JSON API every REFRESH_MS and draws the page.
 * Plain JavaScript, SVG charts drawn here; nothing is fetched from
 * anywhere but this pgsift. Every number comes from a view
 * (/api/v1/<view>), the same the console's SHOW shows.
 */
"use strict";

const REFRESH_MS = 2000;
const WINDOW_MS = 5 * 60 * 1000;	/* the charts' time span */
const TOP_QUERIES = 10;

const state = {
  prev: null,			/* the last refresh: time and cumulative counters */
  series: new Map(),		/* pool "db/user" -> [{t, xps, wait}] */
  seeded: false,
};

/* ---------------------------------------------------------------- helpers */

function api(view, params) {
  const q = params ? "?" + new URLSearchParams(params).toString() : "";
  return fetch("api/v1/" + view + q, { cache: "no-store" }).then((r) => {
    if (!r.ok) throw new Error(view + ": HTTP " + r.status);
    return r.json();
  }).then((j) => j.rows);
}

function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null) continue;
    if (k === "class") e.className = v;
    else if (k === "text") e.textContent = v;
    else e.setAttribute(k, v);
  }
  for (const k of kids) if (k !== null && k !== undefined) e.append(k);
  return e;
}

const SVG_NS = "http://www.w3.org/2000/svg";
function svg(tag, attrs, ...kids) {
  const e = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) if (v !== undefined && v !== null) e.setAttribute(k, v);
  for (const k of kids) if (k !== null && k !== undefined) e.append(k);
  return e;
}

function fmtNum(x) {
  if (x === null || x === undefined || !isFinite(x)) return "–";
  const a = Math.abs(x);
  if (a >= 1e9) return (x / 1e9).toFixed(1) + "G";
  if (a >= 1e6) return (x / 1e6).toFixed(1) + "M";
  if (a >= 1e4) return (x / 1e3).toFixed(1) + "k";
  if (a >= 100 || Number.isInteger(x)) return Math.round(x).toLocaleString("en-US");
  return x.toFixed(1);
}

function fmtMs(ms) {
  if (ms === null || ms === undefined || !isFinite(ms)) return "–";
  if (ms === 0) return "0 ms";
  if (ms >= 60000) return (ms / 60000).toFixed(1) + " min";
  if (ms >= 1000) return (ms / 1000).toFixed(2) + " s";
  if (ms >= 10) return ms.toFixed(1) + " ms";
  if (ms >= 1) return ms.toFixed(2) + " ms";
  return (ms * 1000).toFixed(0) + " µs";
}

function fmtAge(iso) {
  if (!iso) return "–";
  const s = Math.max(0, (Date.now() - Date.parse(iso)) / 1000);
  if (s < 90) return Math.round(s) + " s ago";
  if (s < 5400) return Math.round(s / 60) + " min ago";
  if (s < 129600) return Math.round(s / 3600) + " h ago";
  return Math.round(s / 86400) + " d ago";
}

const SQL_KW = /\b(select|from|where|and|or|not|in|is|null|insert|into|values|update|set|delete|join|left|right|inner|outer|on|group|by|order|limit|offset|having|as|with|returning|begin|commit|rollback|case|when|then|else|end|distinct|union|all|any|exists|like|between|desc|asc|create|table|temp|drop|alter|listen|prepare|declare|cursor|hold|for)\b/gi;

/* Normalized SQL with keywords, $n parameters and strings marked. */
function sqlNode(text, oneLine) {
  const out = el("span", { class: "sql" + (oneLine ? " one" : ""), title: text || "" });
  const re = new RegExp(SQL_KW.source + "|(\\$\\d+)|('(?:[^']|'')*')", "gi");
  let last = 0;
  let m;
  text = text || "";
  while ((m = re.exec(text)) !== null) {
    if (m.index > last) out.append(text.slice(last, m.index));
    const cls = m[2] ? "param" : m[3] ? "str" : "kw";
    out.append(el("span", { class: cls, text: m[0] }));
    last = m.index + m[0].length;
  }
  out.append(text.slice(last));
  return out;
}

function pkey(r) { return r.database + "/" + r.user; }

/* ------------------------------------------------------ histogram maths */

/* Cumulative buckets [{le, count}] (le null for +Inf) -> the q-quantile
 * in ms, interpolated inside its bucket as Prometheus' histogram_quantile. */
function quantile(buckets, q) {
  const total = buckets.length ? buckets[buckets.length - 1].count : 0;
  if (!total) return null;
  const rank = q * total;
  let prevLe = 0;
  let prevCount = 0;
  for (const b of buckets) {
    if (b.count >= rank) {
      if (b.le === null) return prevLe;
      const inside = b.count - prevCount;
      return prevLe + (b.le - prevLe) * (inside ? (rank - prevCount) / inside : 1);
    }
    prevLe = b.le === null ? prevLe : b.le;
    prevCount = b.count;
  }
  return prevLe;
}

/* Rows of pool_histogram or query_histogram grouped by key -> buckets. */
function groupBuckets(rows, keyOf) {
  const m = new Map();
  for (const r of rows) {
    const k = keyOf(r);
    if (!m.has(k)) m.set(k, { sum: 0, buckets: [] });
    const g = m.get(k);
    g.buckets.push({ le: r.le_ms, count: r.count });
    g.sum = r.sum_ms;
  }
  return m;
}

function deltaBuckets(now, before) {
  if (!before || before.buckets.length !== now.buckets.length) return null;
  return now.buckets.map((b, i) => ({ le: b.le, count: b.count - before.buckets[i].count }));
}

/* ------------------------------------------------------------- charts */

/* The span a chart covers: from its first point (at least a minute) up
 * to WINDOW_MS, ending now. */
function spanOf(points) {
  const first = points.length ? points[0].t : Date.now();
  return Math.min(WINDOW_MS, Math.max(60 * 1000, Date.now() - first));
}

function spanLabel(ms) {
  return ms >= 120000 ? "−" + Math.round(ms / 60000) + " min" : "−" + Math.round(ms / 1000) + " s";
}

/* A line chart of points [{t, v}] ending now: the SVG stretches to its
 * box (strokes keep their width), the axis labels are HTML so that they
 * never stretch with it. */
function lineChart(points, cls, fmt) {
  const W = 1000;
  const H = 100;
  const now = Date.now();
  const span = spanOf(points);
  const t0 = now - span;
  const pts = points.filter((p) => p.t >= t0 && p.v !== null && isFinite(p.v));
  const max = Math.max(1e-9, ...pts.map((p) => p.v)) * 1.15;
  const x = (t) => ((t - t0) / span) * W;
  const y = (v) => 2 + (1 - v / max) * (H - 4);
  const plot = svg("svg", { class: "chart " + cls, viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: "none",
    "data-points": String(pts.length), role: "img" });
  for (const f of [0, 0.5, 1])
    plot.append(svg("line", { class: "grid", x1: 0, x2: W, y1: y(max * f / 1.15), y2: y(max * f / 1.15),
      "vector-effect": "non-scaling-stroke" }));
  if (pts.length) {
    const d = pts.map((p, i) => (i ? "L" : "M") + x(p.t).toFixed(1) + "," + y(p.v).toFixed(1)).join("");
    const base = y(0).toFixed(1);
    plot.append(svg("path", { class: "area",
      d: d + "L" + x(pts[pts.length - 1].t).toFixed(1) + "," + base + "L" + x(pts[0].t).toFixed(1) + "," + base + "Z" }));
    plot.append(svg("path", { class: "line", d, "vector-effect": "non-scaling-stroke" }));
    const last = pts[pts.length - 1];
    plot.append(svg("path", { class: "dot", d: `M${x(last.t).toFixed(1)},${y(last.v).toFixed(1)}l0,0`,
      "vector-effect": "non-scaling-stroke" }));
  }
  const yaxis = el("div", { class: "yaxis" }, el("span", { text: fmt(max / 1.15) }), el("span", { text: fmt(max / 2.3) }),
    el("span", { text: fmt(0) }));
  return el("div", { class: "plot" }, yaxis, plot,
    el("div", { class: "xaxis" }, el("span", { text: spanLabel(span) }), el("span", { text: "now" })));
}

/* Bars of a shape's latency histogram (non-cumulative counts per bucket),
 * the bucket holding p95 highlighted. */
function histChart(buckets, p95) {
  const W = 200;
  const H = 38;
  const counts = buckets.map((b, i) => b.count - (i ? buckets[i - 1].count : 0));
  let lo = counts.findIndex((c) => c > 0);
  let hi = counts.length - 1 - [...counts].reverse().findIndex((c) => c > 0);
  if (lo < 0) { lo = 0; hi = 0; }
  while (hi - lo < 7) { if (lo > 0) lo--; if (hi - lo < 7 && hi < counts.length - 1) hi++; if (lo === 0 && hi === counts.length - 1) break; }
  const shown = counts.slice(lo, hi + 1);
  const max = Math.max(1, ...shown);
  const bw = (W - 2) / shown.length;
  const root = svg("svg", { class: "hist", viewBox: `0 0 ${W} ${H}`, "data-buckets": String(shown.filter((c) => c > 0).length) });
  shown.forEach((c, i) => {
    const b = buckets[lo + i];
    const prevLe = lo + i > 0 ? buckets[lo + i - 1].le : 0;
    const holdsP95 = p95 !== null && p95 > prevLe && (b.le === null || p95 <= b.le);
    const h = c ? Math.max(2, (c / max) * (H - 12)) : 0;
    root.append(svg("rect", { x: 1 + i * bw, y: H - 10 - h, width: Math.max(1, bw - 2), height: h,
      class: holdsP95 ? "p95" : null }, svg("title", {}, `≤ ${b.le === null ? "∞" : fmtMs(b.le)}: ${c}`)));
  });
  const leftLe = lo > 0 ? buckets[lo - 1].le : 0;
  const rightLe = buckets[hi].le;
  root.append(svg("text", { x: 1, y: H - 1 }, fmtMs(leftLe)));
  root.append(svg("text", { x: W - 1, y: H - 1, "text-anchor": "end" }, rightLe === null ? "∞" : fmtMs(rightLe)));
  return root;
}

/* ------------------------------------------------------------- sections */

function kpi(label, value, unit, sub, cls) {
  return el("div", { class: "kpi " + (cls || "") },
    el("div", { class: "label", text: label }),
    el("div", { class: "value" }, value, unit ? el("small", { text: unit }) : null),
    sub ? el("div", { class: "sub", text: sub }) : null);
}

function renderKpis(d, rates) {
  const pools = d.pools.filter((p) => p.database !== "pgsift" && p.database !== "pgbouncer");
  const sum = (f) => pools.reduce((a, p) => a + f(p), 0);
  const waiting = sum((p) => p.cl_waiting);
  document.getElementById("kpis").replaceChildren(
    kpi("Transactions / s", fmtNum(rates.xps), null, "all databases"),
    kpi("Queries / s", fmtNum(rates.qps), null, rates.qps !== null ? "mean " + fmtMs(rates.meanQueryMs) : null),
    kpi("Client wait p99", fmtMs(rates.waitP99), null, "for a server connection", rates.waitP99 > 10 ? "warn" : ""),
    kpi("Clients", fmtNum(sum((p) => p.cl_active)), "active", waiting + " waiting", waiting ? "warn" : ""),
    kpi("Servers", fmtNum(sum((p) => p.sv_active)), "busy", sum((p) => p.sv_idle + p.sv_used) + " idle"),
    kpi("N+1 patterns", fmtNum(d.nplusone.length), null, "repeated queries in loops", d.nplusone.length ? "bad" : ""),
    kpi("Slow statements", fmtNum(d.analyzer[0] ? d.analyzer[0].slow_statements : 0), null, "since start",
      d.slow.length ? "warn" : ""),
    kpi("Hazards", fmtNum(d.hazards.length), null, "under transaction pooling", d.hazards.length ? "warn" : ""));
}

function renderHighlights(d, rates) {
  const items = [];
  const q = d.queries;
  const total = q.reduce((a, r) => a + r.total_ms, 0) || 1;
  const allTotal = d.allTotalMs || total;
  if (rates.xps !== null) items.push([null, `<b>${fmtNum(rates.xps)}</b> transactions/s and <b>${fmtNum(rates.qps)}</b> queries/s right now, across ${d.pools.filter((p) => p.database !== "pgsift").length} pool(s).`]);
  if (q.length) items.push([null, `The costliest query takes <b>${Math.round(100 * q[0].total_ms / allTotal)}%</b> of the database time: <code>${escapeHtml(short(q[0].query, 90))}</code> (${fmtNum(q[0].calls)} calls, p95 ${fmtMs(q[0].p95_ms)}).`]);
  for (const f of d.nplusone.slice(0, 2)) items.push(["bad", `N+1: <code>${escapeHtml(short(f.query, 70))}</code> runs up to <b>${f.max_count}×</b> after <code>${escapeHtml(short(f.source_query, 50))}</code>, costing <b>${fmtMs(f.run_total_ms)}</b> so far.`]);
  for (const a of d.advice) {
    if (a.recommended_size !== null && a.recommended_size > a.pool_size) items.push(["warn", `Pool <b>${escapeHtml(pkey(a))}</b> is undersized: ${a.pool_size} servers, the advisor recommends <b>${a.recommended_size}</b> (predicted wait p99 ${fmtMs(a.predicted_wait_p99_ms)}).`]);
  }
  if (d.slow.length) items.push(["warn", `<b>${d.slow.length}</b> slow statement(s) kept; the slowest took <b>${fmtMs(Math.max(...d.slow.map((s) => s.duration_ms)))}</b>.`]);
  if (d.hazards.length) items.push(["warn", `<b>${d.hazards.length}</b> session feature(s) that break under transaction pooling, first: <b>${escapeHtml(d.hazards[0].kind)}</b>.`]);
  if (!items.length) items.push([null, "No traffic yet: connect through pgsift and this page fills in."]);
  document.getElementById("highlights").replaceChildren(...items.map(([cls, html]) => {
    const li = el("li", { class: cls });
    li.innerHTML = html; /* built from escaped values only */
    return li;
  }));
}

function escapeHtml(s) {
  return String(s === null || s === undefined ? "" : s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}

function short(s, n) { s = s || ""; return s.length > n ? s.slice(0, n - 1) + "…" : s; }

function renderPools(d) {
  const grid = document.getElementById("pool-grid");
  const advice = new Map(d.advice.map((a) => [pkey(a), a]));
  const cards = [];
  for (const p of d.pools) {
    if (p.database === "pgsift" || p.database === "pgbouncer") continue;
    const k = pkey(p);
    const pts = state.series.get(k) || [];
    const last = pts.length ? pts[pts.length - 1] : null;
    const a = advice.get(k);
    cards.push(el("div", { class: "pool", "data-pool": k },
      el("div", { class: "title" },
        el("span", { class: "name", text: k }),
        el("span", { class: "facts" },
          el("span", { text: `${p.cl_active} active · ${p.cl_waiting} waiting clients` }),
          el("span", { text: `${p.sv_active} busy · ${p.sv_idle + p.sv_used} idle servers` }),
          a ? el("span", { text: `size ${a.pool_size}` }) : null,
          el("span", { text: p.pool_mode }))),
      el("div", { class: "charts" },
        el("div", { class: "chart-box" },
          el("div", { class: "chart-label" }, "transactions / s", el("b", { text: last ? fmtNum(last.xps) : "–" })),
          lineChart(pts.map((x) => ({ t: x.t, v: x.xps })), "xacts", fmtNum)),
        el("div", { class: "chart-box" },
          el("div", { class: "chart-label" }, "client wait p99", el("b", { text: last ? fmtMs(last.wait) : "–" })),
          lineChart(pts.map((x) => ({ t: x.t, v: x.wait })), "wait", fmtMs)))));
  }
  grid.replaceChildren(...(cards.length ? cards : [el("div", { class: "empty", text: "No pool yet." })]));
}

function renderTopQueries(d) {
  const tbody = document.querySelector("#top-queries tbody");
  const hist = groupBuckets(d.qhist, (r) => r.fingerprint + "\0" + r.database + "\0" + r.user);
  const allTotal = d.allTotalMs || 1;
  const maxTotal = Math.max(1e-9, ...d.queries.map((q) => q.total_ms));
  const rows = d.queries.map((q, i) => {
    const h = hist.get(q.fingerprint + "\0" + q.database + "\0" + q.user);
    const share = (100 * q.total_ms) / allTotal;
    return el("tr", { "data-fingerprint": q.fingerprint },
      el("td", { class: "rank", text: String(i + 1) }),
      el("td", { class: "query" }, sqlNode(q.query, true),
        el("div", { class: "fp", text: `${q.fingerprint} · ${q.database}/${q.user}${q.application_name ? " · " + q.application_name : ""}` })),
      el("td", { class: "num calls", "data-value": String(q.calls), text: fmtNum(q.calls) }),
      el("td", { class: "num total", "data-value": String(q.total_ms), text: fmtMs(q.total_ms) }),
      el("td", { class: "num" }, el("div", { class: "share" }, shareBar(q.total_ms / maxTotal), el("span", { text: share.toFixed(0) + "%" }))),
      el("td", { class: "num", text: fmtMs(q.mean_ms) }),
      el("td", { class: "num", text: fmtMs(q.p50_ms) }),
      el("td", { class: "num p95", text: fmtMs(q.p95_ms) }),
      el("td", { class: "num", text: fmtMs(q.p99_ms) }),
      el("td", { class: "num" + (q.errors ? " errors" : ""), text: fmtNum(q.errors) }),
      el("td", { class: "hist" }, h ? histChart(h.buckets, q.p95_ms) : el("span", { class: "muted", text: "in “other”" })));
  });
  tbody.replaceChildren(...(rows.length ? rows : [el("tr", {}, el("td", { colspan: "11", class: "empty", text: "No statement seen yet." }))]));
}

function shareBar(f) {
  const b = el("span", { class: "bar" });
  b.style.width = Math.max(2, Math.round(60 * f)) + "px"; /* CSSOM, allowed by the page's CSP */
  return b;
}

function renderNplusone(d) {
  const list = document.querySelector("#nplusone .list");
  const cards = d.nplusone.map((f) => el("div", { class: "finding" + (f.kind === "duplicate" ? " warn" : ""), "data-kind": f.kind },
    el("div", { class: "row" },
      el("span", {}, el("span", { class: "badge" + (f.kind === "n+1" ? "" : " warn"), text: f.kind }), " ",
        el("span", { class: "muted", text: `${f.database} · ${f.application_name || "no application_name"}${f.tag ? " · " + f.tag : ""}` })),
      el("span", { class: "muted", text: "last " + fmtAge(f.last_seen) })),
    el("div", { class: "flow" },
      el("span", { class: "tag", text: "source" }), el("span", { class: "source" }, sqlNode(f.source_query, false)),
      el("span", { class: "arrow", text: `↓ then, in a loop, up to ${f.max_count}×` }),
      el("span", { class: "tag", text: "repeated" }), el("span", { class: "repeated" }, sqlNode(f.query, false))),
    el("div", { class: "stats" },
      el("span", {}, el("b", { text: fmtNum(f.occurrences) }), " occurrences"),
      el("span", {}, el("b", { text: fmtNum(f.repeated_calls) }), " repeated calls"),
      el("span", {}, "wasted ", el("b", { class: "wasted", text: fmtMs(f.run_total_ms) }), " (", fmtMs(f.run_mean_ms), " per occurrence)"),
      el("span", {}, "last loop ", el("b", { text: String(f.last_count) }), "×")),
    el("div", { class: "fix", text: f.suggestion })));
  list.replaceChildren(...(cards.length ? cards : [el("div", { class: "empty", text: "No N+1 pattern seen." })]));
}

function renderSlow(d) {
  const list = document.querySelector("#slow .list");
  const plans = new Map(d.plans.map((p) => [p.fingerprint + "\0" + p.database, p]));
  const rows = d.slow.slice(0, 6).map((s) => {
    const p = plans.get(s.fingerprint + "\0" + s.database);
    return el("tr", {},
      el("td", { class: "num" }, el("b", { class: "duration", text: fmtMs(s.duration_ms) })),
      el("td", { class: "query" }, sqlNode(s.query, true),
        el("div", { class: "fp", text: `${s.database}/${s.user} · ${s.application_name || "–"} · ${s.rows} rows${s.sqlstate ? " · error " + s.sqlstate : ""} · ${fmtAge(s.time)}` }),
        p && p.plan ? el("details", {}, el("summary", { text: "plan" }), el("pre", { class: "plan", text: p.plan }))
          : el("div", { class: "fp", text: "plan: " + s.plan_status })));
  });
  list.replaceChildren(rows.length
    ? el("table", { class: "grid slow" }, el("thead", {}, el("tr", {}, el("th", { class: "num", text: "Time" }),
      el("th", { text: "Statement" }))), el("tbody", {}, ...rows))
    : el("div", { class: "empty", text: "No statement over slow_query_ms." }));
}

function renderHazards(d) {
  const list = document.querySelector("#hazards .list");
  const cards = d.hazards.slice(0, 6).map((h) => el("div", { class: "finding warn" },
    el("div", { class: "row" },
      el("span", {}, el("span", { class: "badge warn", text: h.kind }), " ",
        el("span", { class: "muted", text: `${h.database} · ${h.application_name || "–"} · ${fmtNum(h.count)}×` })),
      el("span", { class: "muted", text: fmtAge(h.last_seen) })),
    el("div", {}, sqlNode(h.query, false)),
    el("div", { class: "fix", text: h.advice })));
  list.replaceChildren(...(cards.length ? cards : [el("div", { class: "empty", text: "No hazard seen." })]));
}

function renderAdvice(d) {
  const list = document.querySelector("#advice .list");
  const cards = d.advice.map((a) => {
    const rec = a.recommended_size;
    const top = Math.max(a.pool_size, rec || 0, 1) * 1.2;
    const cur = el("div", { class: "cur" });
    cur.style.width = (100 * a.pool_size / top).toFixed(1) + "%";
    const gauge = el("div", { class: "gauge" }, cur);
    if (rec !== null) {
      const mark = el("div", { class: "rec", title: "recommended" });
      mark.style.left = (100 * rec / top).toFixed(1) + "%";
      gauge.append(mark);
    }
    const under = rec !== null && rec > a.pool_size;
    const over = rec !== null && rec < a.pool_size;
    return el("div", { class: "finding " + (under ? "" : over ? "warn" : "ok"), "data-pool": pkey(a) },
      el("div", { class: "row" },
        el("span", {}, el("b", { text: pkey(a) }), " ",
          el("span", { class: "badge " + (under ? "" : over ? "warn" : rec === null ? "info" : "ok"),
            text: rec === null ? "too little data" : under ? "undersized" : over ? "oversized" : "right-sized" })),
        el("span", { class: "muted", text: `confidence ${a.confidence}` })),
      el("div", { class: "sizes" },
        el("span", { class: "n", text: `now ${a.pool_size}` }), gauge,
        el("span", { class: "n", text: rec === null ? "advice –" : `advised ${rec}` })),
      el("div", { class: "stats" },
        el("span", {}, "load ", el("b", { text: fmtNum(a.arrival_rate) }), "/s"),
        el("span", {}, "hold p95 ", el("b", { text: fmtMs(a.hold_p95_ms) })),
        el("span", {}, "wait p99 ", el("b", { text: fmtMs(a.wait_p99_ms) }), " measured, ",
          el("b", { text: fmtMs(a.predicted_wait_p99_ms) }), " predicted"),
        el("span", {}, "utilization ", el("b", { text: Math.round(100 * (a.utilization || 0)) + "%" }))),
      el("div", { class: "muted", text: a.reason }));
  });
  list.replaceChildren(...(cards.length ? cards : [el("div", { class: "empty", text: "No pool yet." })]));
}

/* ---------------------------------------------------------- the loop */

/* Rates since the previous refresh; pool series get one point each. */
function rates(d, now) {
  const prev = state.prev;
  const poolHist = groupBuckets(d.phist, (r) => pkey(r) + "\0" + r.histogram);
  const cur = { t: now, stats: d.stats, poolHist };
  state.prev = cur;
  const out = { xps: null, qps: null, meanQueryMs: null, waitP99: null };
  if (!prev) return out;
  const dt = (now - prev.t) / 1000;
  const before = new Map(prev.stats.map((s) => [s.database, s]));
  let x = 0;
  let qn = 0;
  let qt = 0;
  for (const s of d.stats) {
    const b = before.get(s.database);
    if (!b) continue;
    x += s.xact_count - b.xact_count;
    qn += s.query_count - b.query_count;
    qt += s.query_time - b.query_time;
  }
  out.xps = x / dt;
  out.qps = qn / dt;
  out.meanQueryMs = qn ? qt / qn / 1000 : null;
  const allWait = [];
  for (const p of d.pools) {
    const k = pkey(p);
    const w = deltaBuckets(poolHist.get(k + "\0wait"), prev.poolHist.get(k + "\0wait"));
    const t = deltaBuckets(poolHist.get(k + "\0transaction"), prev.poolHist.get(k + "\0transaction"));
    if (!w || !t) continue;
    allWait.push(w);
    const pt = { t: now, xps: t[t.length - 1].count / dt, wait: w[w.length - 1].count ? quantile(w, 0.99) : 0 };
    addPoint(k, pt);
  }
  if (allWait.length) {
    const merged = allWait[0].map((b, i) => ({ le: b.le, count: allWait.reduce((a, w) => a + w[i].count, 0) }));
    out.waitP99 = merged[merged.length - 1].count ? quantile(merged, 0.99) : 0;
  }
  return out;
}

function addPoint(k, pt) {
  if (!state.series.has(k)) state.series.set(k, []);
  const s = state.series.get(k);
  s.push(pt);
  while (s.length && s[0].t < pt.t - WINDOW_MS) s.shift();
}

/* The closed buckets of pool_history give the charts their past. */
async function seed() {
  state.seeded = true; /* once, even if it fails: the live points still come */
  const rows = await api("pool_history", { where: "in_progress=false", limit: "5000" });
  const t0 = Date.now() - WINDOW_MS;
  for (const r of rows.reverse()) {
    const t = Date.parse(r.bucket_start) + r.bucket_seconds * 1000;
    if (t < t0) continue;
    addPoint(pkey(r), { t, xps: r.xacts_per_s, wait: r.wait_p99_ms });
  }
  for (const s of state.series.values()) s.sort((a, b) => a.t - b.t);
}

async function load() {
  const [pools, stats, phist, queries, qhist, nplusone, slow, plans, hazards, advice, analyzer, proc, version] = await Promise.all([
    api("pools"), api("stats_totals"), api("pool_histogram"),
    api("queries", { order: "-total_ms", limit: String(TOP_QUERIES) }),
    api("query_histogram"), api("nplusone", { limit: "20" }), api("slow", { limit: "20" }),
    api("slow_plans"), api("hazards", { limit: "50" }), api("pool_advice"), api("analyzer"), api("process"),
    api("version")]);
  const allTotalMs = analyzer[0] ? analyzer[0].total_ms : 0;
  return { pools, stats, phist, queries, allTotalMs, qhist, nplusone, slow, plans, hazards, advice, analyzer, proc, version };
}

async function refresh() {
  const status = document.getElementById("status");
  try {
    if (!state.seeded) await seed().catch(() => {});
    const d = await load();
    const now = Date.now();
    const r = rates(d, now);
    renderKpis(d, r);
    renderHighlights(d, r);
    renderPools(d);
    renderTopQueries(d);
    renderNplusone(d);
    renderSlow(d);
    renderHazards(d);
    renderAdvice(d);
    document.getElementById("version").textContent = d.version[0] ? d.version[0].version : "";
    if (d.proc[0]) document.getElementById("uptime").textContent = "up since " + fmtAge(d.proc[0].start_time).replace(" ago", "");
    status.textContent = "live · " + new Date(now).toLocaleTimeString();
    status.className = "status live";
  } catch (e) {
    status.textContent = "cannot read pgsift: " + e.message;
    status.className = "status down";
  }
}

refresh();
setInterval(refresh, REFRESH_MS);
