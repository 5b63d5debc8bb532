"""The status page: one self-contained HTML document (no external assets) that polls /v1/status every second.

What it shows, from ``GET /v1/status``:

- the node: config and health generations, zones, DNS listeners, whether the first health round is in, the last
  reload error, report counters;
- the **health matrix**: one row per (monitor, region), the region's verdict, then one cell per vantage with that
  vantage's view of the region's endpoints and its smoothed RTT. A cell is ``up`` (every established view up),
  ``down`` (some view down), ``unknown`` (no view yet, or the vantage is silent) or ``sick`` (the vantage sees
  everything down while others do not: its votes are ignored);
- the endpoints, with each vantage's view (state, RTT, probe detail);
- the services and their healthy regions, the overrides, the last transitions.

Opened as ``/?token=TOKEN`` when the API needs a token: the page sends it as a bearer token to /v1/status.
Cells carry ``data-region``, ``data-monitor``, ``data-vantage`` and ``data-state`` for tests and scrapers.
"""
from __future__ import annotations

STATUS_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>gtm status</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
:root{--up:#1f7a35;--up-bg:#dcf3e1;--down:#a3161b;--down-bg:#fadadb;--unk:#555;--unk-bg:#ececec;
  --sick:#8a5300;--sick-bg:#fde8b8;--line:#d5d8dc;--muted:#5f6770}
*{box-sizing:border-box}
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;margin:0;
  color:#1d2126;background:#f6f7f9}
header{display:flex;flex-wrap:wrap;align-items:baseline;gap:.4em 1.2em;padding:.8em 1.5em;background:#1d2430;
  color:#fff}
header h1{font-size:1.25em;margin:0}
header .meta{color:#c9d1dc}
#live{margin-left:auto;display:flex;align-items:center;gap:.4em;color:#c9d1dc}
#live .dot{width:.7em;height:.7em;border-radius:50%;background:#888;display:inline-block}
#live.ok .dot{background:#3ecf62}#live.fail .dot{background:#ff5a5f}
main{padding:.5em 1.5em 2em;max-width:1400px}
section{background:#fff;border:1px solid var(--line);border-radius:6px;padding:.6em 1em 1em;margin:1em 0}
h2{font-size:1.05em;margin:.3em 0 .6em}
table{border-collapse:collapse;width:auto;min-width:50%}
th,td{border:1px solid var(--line);padding:.35em .7em;text-align:left;vertical-align:top}
thead th{background:#eef0f3;font-weight:600}
tbody th{font-weight:600;background:#fafbfc}
td.num{text-align:right;font-variant-numeric:tabular-nums}
.state{font-weight:700;text-transform:uppercase;letter-spacing:.03em;font-size:.85em}
.up{background:var(--up-bg)}.up .state,.up.state{color:var(--up)}
.down{background:var(--down-bg)}.down .state,.down.state{color:var(--down)}
.unknown{background:var(--unk-bg)}.unknown .state,.unknown.state{color:var(--unk)}
.sick{background:var(--sick-bg)}.sick .state,.sick.state{color:var(--sick)}
.sub{display:block;color:var(--muted);font-size:.85em;font-weight:400;white-space:nowrap}
small,.muted{color:var(--muted)}
#err{display:none;margin:1em 0;padding:.6em 1em;border-radius:6px;background:var(--down-bg);color:var(--down);
  border:1px solid #e9a9ab;font-weight:600}
#err.shown{display:block}
.legend{display:flex;gap:.5em;flex-wrap:wrap;margin:.6em 0 0}
.legend span{padding:.1em .6em;border-radius:4px;font-size:.85em}
dl.kv{display:grid;grid-template-columns:max-content auto;gap:.2em 1em;margin:0}
dl.kv dt{color:var(--muted)}dl.kv dd{margin:0}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(420px,1fr));gap:0 1em}
code{font:12px/1.4 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
</style></head><body>
<header><h1>gtm status</h1><span class="meta" id="meta">loading…</span>
<span id="live"><span class="dot"></span><span id="updated">connecting</span></span></header>
<main>
<div id="err" role="alert"></div>
<section><h2>Health: regions × vantages</h2>
<table id="matrix"><tbody><tr><td class="muted">waiting for /v1/status…</td></tr></tbody></table>
<div class="legend"><span class="up state">up</span><span class="down state">down</span>
<span class="unknown state">unknown</span><span class="sick state">sick</span>
<small>cells: a vantage's view of the region's endpoints, with its smoothed RTT</small></div>
</section>
<section><h2>Endpoints</h2><table id="endpoints"></table></section>
<div class="grid">
<section><h2>Services</h2><table id="services"></table></section>
<section><h2>Node</h2><dl class="kv" id="node"></dl></section>
</div>
<section><h2>Overrides</h2><div id="overrides">none</div></section>
<section id="hostnames-section" hidden><h2>Hostname endpoints</h2><table id="hostnames"></table></section>
<section><h2>Last transitions</h2><table id="transitions"></table></section>
</main>
<script>
"use strict";
const token = new URLSearchParams(location.search).get("token");
const $ = id => document.getElementById(id);
function esc(s){return String(s).replace(/[&<>"']/g,c=>({"&":"&amp;","<":"&lt;",">":"&gt;",'"':"&quot;","'":"&#39;"}[c]));}
const stateOf = v => v === true ? "up" : v === false ? "down" : "unknown";
function ms(x){return x == null ? "" : (x < 10 ? x.toFixed(2) : x < 100 ? x.toFixed(1) : x.toFixed(0)) + " ms";}
function clock(at){return new Date(at * 1000).toLocaleTimeString([], {hour12: false});}
function ago(s){return s == null ? "never" : s < 1 ? "just now" : s < 90 ? Math.round(s) + " s ago" :
  s < 5400 ? Math.round(s / 60) + " min ago" : Math.round(s / 3600) + " h ago";}
function stateCell(state, sub, attrs){
  return "<td class='cell " + state + "' data-state='" + state + "'" + (attrs || "") + "><span class='state'>" +
    state + "</span>" + (sub ? "<span class='sub'>" + esc(sub) + "</span>" : "") + "</td>";
}
function attr(name, value){return " data-" + name + "='" + esc(value) + "'";}

function renderMatrix(h){
  const vantages = h.vantages || [];
  const rows = [];
  const seen = new Set();
  for (const e of h.endpoints || []) {
    const k = e.monitor + "\\u0000" + e.region;
    if (!seen.has(k)) { seen.add(k); rows.push({monitor: e.monitor, region: e.region}); }
  }
  if (!rows.length) { $("matrix").innerHTML = "<tbody><tr><td class='muted'>no monitored endpoints</td></tr></tbody>"; return; }
  const rtt = new Map((h.rtt_ms || []).map(x => [x.vantage + "\\u0000" + x.region, x.ms]));
  let m = "<thead><tr><th>region</th><th>verdict</th>" + vantages.map(v => {
    const st = v.sick ? "sick" : v.fresh ? "" : "unknown";
    const note = v.sick ? "sick: votes ignored" : v.fresh ? "reported " + ago(v.last_report_age_s) :
      v.last_report_age_s == null ? "silent: no report yet" : "silent: last report " + ago(v.last_report_age_s);
    return "<th class='" + st + "'" + attr("vantage", v.name) + ">" + esc(v.name) + "<span class='sub'>" +
      esc(note) + "</span></th>";
  }).join("") + "</tr></thead><tbody>";
  const multi = new Set(rows.map(r => r.monitor)).size > 1;
  for (const r of rows) {
    const key = attr("region", r.region) + attr("monitor", r.monitor);
    const verdict = (h.regions || []).find(x => x.region === r.region && x.monitor === r.monitor);
    const eps = (h.endpoints || []).filter(e => e.region === r.region && e.monitor === r.monitor);
    const upCount = eps.filter(e => e.up === true).length;
    m += "<tr" + key + "><th>" + esc(r.region) + (multi ? " <small>" + esc(r.monitor) + "</small>" : "") + "</th>" +
      stateCell(stateOf(verdict ? verdict.up : null), upCount + " of " + eps.length + " endpoints up",
                key + attr("vantage", "")).replace("class='cell", "class='verdict cell");
    for (const v of vantages) {
      const view = (v.view || []).filter(x => x.region === r.region && x.monitor === r.monitor && x.up !== null);
      let state;
      if (v.sick) state = "sick";
      else if (!v.fresh || !view.length) state = "unknown";
      else state = view.some(x => x.up === false) ? "down" : "up";
      const downs = view.filter(x => x.up === false).length;
      const parts = [];
      if (state === "down" && downs < eps.length) parts.push(downs + " of " + eps.length + " down");
      const t = rtt.get(v.name + "\\u0000" + r.region);
      if (t != null) parts.push(ms(t));
      m += stateCell(state, parts.join(" · "), key + attr("vantage", v.name));
    }
    m += "</tr>";
  }
  $("matrix").innerHTML = m + "</tbody>";
}

function renderEndpoints(h){
  const vantages = h.vantages || [];
  const eps = h.endpoints || [];
  if (!eps.length) { $("endpoints").innerHTML = "<tbody><tr><td class='muted'>none</td></tr></tbody>"; return; }
  let t = "<thead><tr><th>monitor</th><th>region</th><th>address</th><th>verdict</th>" +
    vantages.map(v => "<th>" + esc(v.name) + "</th>").join("") + "</tr></thead><tbody>";
  for (const e of eps) {
    const key = attr("region", e.region) + attr("monitor", e.monitor) + attr("address", e.address);
    t += "<tr" + key + "><td>" + esc(e.monitor) + "</td><td>" + esc(e.region) + "</td><td><code>" + esc(e.address) +
      "</code></td>" + stateCell(stateOf(e.up), "", attr("vantage", ""));
    for (const v of vantages) {
      const view = (v.view || []).find(x => x.region === e.region && x.monitor === e.monitor && x.address === e.address);
      const state = v.sick ? "sick" : !v.fresh || !view ? "unknown" : stateOf(view.up);
      const sub = view ? [view.up === null ? "not established" : "", ms(view.rtt_ms), view.detail || ""]
        .filter(Boolean).join(" · ") : "";
      t += stateCell(state, sub, attr("vantage", v.name));
    }
    t += "</tr>";
  }
  $("endpoints").innerHTML = t + "</tbody>";
}

function renderServices(s){
  const svcs = s.services || [];
  $("services").innerHTML = svcs.length ? "<thead><tr><th>service</th><th>policy</th><th>names</th>" +
    "<th>healthy regions</th></tr></thead><tbody>" + svcs.map(x => {
      const ok = (x.healthy_regions || []).length > 0;
      return "<tr" + attr("service", x.name) + "><th>" + esc(x.name) + "</th><td>" + esc(x.policy) + "</td><td>" +
        (x.names || []).map(n => "<code>" + esc(n) + "</code>").join("<br>") + "</td><td class='" +
        (ok ? "up" : "down") + "'>" + (ok ? esc(x.healthy_regions.join(", ")) : "<span class='state'>none</span>") +
        "</td></tr>";
    }).join("") + "</tbody>" : "<tbody><tr><td class='muted'>none</td></tr></tbody>";
}

function renderNode(s){
  const h = s.health || {}, c = s.config || {}, d = s.dns || {}, rep = h.reports || {};
  const rejected = Object.entries(rep.rejected || {}).map(([k, n]) => esc(k) + " " + n).join(", ") || "none";
  const rows = [
    ["config generation", esc(c.generation)],
    ["zones", (c.zones || []).map(z => "<code>" + esc(z) + "</code>").join(" ") || "none"],
    ["DNS", (d.listen || []).map(l => "<code>" + esc(l) + "</code>").join(" ") + (d.serving ? "" : " (starting)")],
    ["health generation", esc(h.generation) + (h.ready ? "" : " <small>(waiting for the first full round)</small>")],
    ["reports", "accepted " + esc(rep.accepted || 0) + ", observations ignored " + esc(rep.ignored_observations || 0) +
      ", rejected: " + rejected],
  ];
  if (c.last_error) rows.push(["last reload error", "<span class='down state'>" + esc(c.last_error) + "</span>"]);
  $("node").innerHTML = rows.map(([k, v]) => "<dt>" + k + "</dt><dd>" + v + "</dd>").join("");
  $("meta").textContent = "config generation " + c.generation + " · health generation " + h.generation +
    (h.ready ? "" : " · waiting for the first health round");
}

function renderHostnames(s){
  const hs = s.hostnames || [];
  $("hostnames-section").hidden = !hs.length;
  if (!hs.length) return;
  const cls = st => st === "ok" ? "up" : st === "stale" ? "unknown" : "down";
  $("hostnames").innerHTML = "<thead><tr><th>hostname</th><th>state</th><th>addresses</th><th>last good answer</th>" +
    "<th>TTL kept</th><th>last error</th></tr></thead><tbody>" + hs.map(h => "<tr" + attr("hostname", h.hostname) +
      "><td><code>" + esc(h.hostname) + "</code></td>" + stateCell(cls(h.state), h.state === "ok" ? "" : h.state) +
      "<td>" + (h.addresses || []).map(a => "<code>" + esc(a) + "</code>").join(" ") + "</td><td>" + ago(h.age_s) +
      "</td><td>" + esc(h.ttl_s) + " s</td><td>" + esc(h.error || "") +
      (h.failures ? " <small>(" + esc(h.failures) + " failed)</small>" : "") + "</td></tr>").join("") + "</tbody>";
}

function renderOverrides(s){
  const st = s.overrides || {};
  const ov = st.in_force || [];
  const err = st.error ? "<p class='down state'>store: " + esc(st.error) + "</p>" : "";
  if (!ov.length) { $("overrides").innerHTML = err + "<span class='muted'>none</span>"; return; }
  const when = t => t == null ? "until cleared" : new Date(t * 1000).toISOString().replace(".000Z", "Z");
  $("overrides").innerHTML = err + "<table><thead><tr><th>action</th><th>target</th><th>service</th>" +
    "<th>by</th><th>reason</th><th>since</th><th>expires</th></tr></thead><tbody>" +
    ov.map(o => "<tr class='override'><td><span class='state " + (o.action === "up" ? "up" : "down") + "'>" +
      esc(o.action) + "</span></td><td>" + esc(o.target) + "</td><td>" + esc(o.service || "all") + "</td><td>" +
      esc(o.author || "") + "</td><td>" + esc(o.reason || "") + "</td><td>" + esc(when(o.created)) +
      "</td><td>" + esc(when(o.expires)) + "</td></tr>").join("") + "</tbody></table>";
}

function renderTransitions(h){
  const ts = (h.transitions || []).slice(0, 25);
  const now = Date.now() / 1000;
  $("transitions").innerHTML = ts.length ? "<thead><tr><th>when</th><th>what</th><th>state</th><th>cause</th>" +
    "</tr></thead><tbody>" + ts.map(t => {
      const st = t.state === "up" || t.state === "well" ? "up" : t.state === "sick" ? "sick" : "down";
      return "<tr" + attr("kind", t.kind) + attr("name", t.name) + "><td>" + clock(t.at) + " <small>" +
        ago(now - t.at) + "</small></td><td>" + esc(t.kind) + " <code>" + esc(t.name) + "</code></td><td class='" +
        st + "'><span class='state'>" + esc(t.state) + "</span></td><td>" + esc(t.cause) + "</td></tr>";
    }).join("") + "</tbody>" : "<tbody><tr><td class='muted'>none yet</td></tr></tbody>";
}

function render(s){
  const h = s.health || {};
  renderMatrix(h); renderEndpoints(h); renderServices(s); renderNode(s); renderOverrides(s); renderHostnames(s);
  renderTransitions(h);
}

let polls = 0;
async function poll(){
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(), 5000);
  try {
    const r = await fetch("/v1/status", {headers: token ? {"Authorization": "Bearer " + token} : {},
                                         cache: "no-store", signal: ctl.signal});
    if (r.status === 401) throw new Error("unauthorized: open this page as /?token=YOUR_TOKEN");
    if (!r.ok) throw new Error("HTTP " + r.status);
    render(await r.json());
    polls += 1;
    $("err").className = ""; $("err").textContent = "";
    $("live").className = "ok";
    $("updated").textContent = "live · updated " + new Date().toLocaleTimeString([], {hour12: false});
    document.body.dataset.polls = polls;
  } catch (e) {
    $("err").className = "shown";
    $("err").textContent = "cannot fetch /v1/status: " + (e.name === "AbortError" ? "timed out" : e.message) +
      " (showing the last data received)";
    $("live").className = "fail";
    $("updated").textContent = "offline";
  } finally {
    clearTimeout(timer);
    setTimeout(poll, 1000);
  }
}
poll();
</script></body></html>
"""
