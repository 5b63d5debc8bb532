"""The status page: one self-contained HTML document (no external assets) that polls /v1/status."""
from __future__ import annotations

STATUS_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>gtm status</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left}
.up{background:#d9f2d9}.down{background:#f7d4d4}.unknown{background:#eee}.sick{background:#fde7b0}
#err{color:#a00}small{color:#666}
</style></head><body>
<h1>gtm status</h1>
<p id="meta">loading…</p><p id="err"></p>
<h2>Regions × vantages</h2><table id="matrix"></table>
<h2>Endpoints</h2><table id="endpoints"></table>
<h2>Round-trip times (ms)</h2><table id="rtt"></table>
<h2>Overrides</h2><p id="overrides">none</p>
<h2>Last transitions</h2><table id="transitions"></table>
<script>
const token = new URLSearchParams(location.search).get("token");
const cls = v => v === true ? "up" : v === false ? "down" : "unknown";
const word = v => v === true ? "up" : v === false ? "down" : "unknown";
function esc(s){return String(s).replace(/[&<>"]/g,c=>({"&":"&amp;","<":"&lt;",">":"&gt;",'"':"&quot;"}[c]));}
function render(s){
  const h = s.health;
  document.getElementById("meta").innerHTML = "config generation " + esc(s.config.generation) +
    ", health generation " + esc(h.generation) + (h.ready ? "" : " (waiting for the first round)") +
    " <small>updated " + new Date().toLocaleTimeString() + "</small>";
  const vantages = h.vantages.map(v => v.name);
  const regions = [...new Set(h.endpoints.map(e => e.region))];
  let m = "<tr><th>region</th><th>verdict</th>" + vantages.map(v => {
      const info = h.vantages.find(x => x.name === v);
      const c = info.sick ? "sick" : info.fresh ? "" : "unknown";
      return "<th class='" + c + "'>" + esc(v) + (info.sick ? " (sick)" : info.fresh ? "" : " (silent)") + "</th>";
    }).join("") + "</tr>";
  for (const r of regions) {
    const verdict = h.regions.filter(x => x.region === r).map(x => x.up);
    const up = verdict.length ? verdict.every(x => x) : null;
    m += "<tr data-region='" + esc(r) + "'><th>" + esc(r) + "</th><td class='" + cls(up) + "'>" + word(up) + "</td>";
    for (const v of vantages) {
      const view = h.vantages.find(x => x.name === v).view.filter(x => x.region === r);
      const ok = view.length ? view.every(x => x.up === true) : null;
      const anyDown = view.some(x => x.up === false);
      const cell = anyDown ? false : ok;
      m += "<td class='" + cls(cell) + "'>" + word(cell) + "</td>";
    }
    m += "</tr>";
  }
  document.getElementById("matrix").innerHTML = m;
  document.getElementById("endpoints").innerHTML = "<tr><th>monitor</th><th>region</th><th>address</th><th>verdict</th></tr>" +
    h.endpoints.map(e => "<tr><td>" + esc(e.monitor) + "</td><td>" + esc(e.region) + "</td><td>" + esc(e.address) +
      "</td><td class='" + cls(e.up) + "'>" + word(e.up) + "</td></tr>").join("");
  document.getElementById("rtt").innerHTML = "<tr><th>vantage</th><th>region</th><th>ms</th></tr>" +
    h.rtt_ms.map(x => "<tr><td>" + esc(x.vantage) + "</td><td>" + esc(x.region) + "</td><td>" + x.ms.toFixed(2) + "</td></tr>").join("");
  const ov = s.overrides || [];
  document.getElementById("overrides").textContent = ov.length ? JSON.stringify(ov) : "none";
  document.getElementById("transitions").innerHTML = "<tr><th>when</th><th>what</th><th>state</th><th>cause</th></tr>" +
    h.transitions.slice(0, 20).map(t => "<tr><td>" + new Date(t.at * 1000).toLocaleTimeString() + "</td><td>" +
      esc(t.kind + " " + t.name) + "</td><td class='" + (t.state === "up" || t.state === "well" ? "up" : "down") + "'>" +
      esc(t.state) + "</td><td>" + esc(t.cause) + "</td></tr>").join("");
}
async function poll(){
  try {
    const r = await fetch("/v1/status", {headers: token ? {"Authorization": "Bearer " + token} : {}});
    if (!r.ok) throw new Error("status " + r.status);
    render(await r.json());
    document.getElementById("err").textContent = "";
  } catch (e) { document.getElementById("err").textContent = "cannot fetch /v1/status: " + e.message; }
}
poll(); setInterval(poll, 1000);
</script></body></html>
"""
