/**
 * The dashboard page: static HTML and a small script (no framework, no build step). It holds no
 * data: everything comes from the API with the bearer token the user gives (kept in this tab's
 * sessionStorage; `#token=…` in the URL sets it).
 */
export const DASHBOARD_HTML = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>kiln farm</title>
<style>
body{font:14px system-ui,sans-serif;margin:1.5em;color:#222}h1{font-size:1.3em}h2{font-size:1.05em;margin:1.2em 0 .4em}
table{border-collapse:collapse}td,th{padding:.2em .7em;border-bottom:1px solid #ddd;text-align:left}
tr.job{cursor:pointer}tr.job:hover{background:#f4f4f4}.running{color:#06c}.succeeded{color:#080}.failed,.killed,.timed_out{color:#b00}
#log{background:#111;color:#ddd;padding:.6em;min-height:6em;max-height:20em;overflow:auto;white-space:pre-wrap;font:12px monospace}
#err{color:#b00}.row{display:flex;gap:3em;flex-wrap:wrap}
</style></head><body>
<h1>kiln farm</h1>
<form id="auth"><label>token <input id="token" type="password" size="40"></label> <button>use</button> <span id="err"></span></form>
<div class="row"><div><h2>Builders</h2><table id="builders"><thead><tr><th>builder</th><th>platform</th><th>slots</th><th>load</th><th>warm</th><th>draining</th></tr></thead><tbody></tbody></table></div>
<div><h2>Queue</h2><div id="queue">–</div><h2>Cache hit ratio</h2><svg id="cache" width="320" height="80" viewBox="0 0 320 80"></svg><div id="cache-now"></div></div></div>
<h2>Recent and running jobs</h2><table id="jobs"><thead><tr><th>job</th><th>state</th><th>command</th><th>builder</th><th>attempt</th><th>tenant</th><th>created</th></tr></thead><tbody></tbody></table>
<h2>Log <span id="log-job"></span></h2><div id="log"></div>
<script>
const $ = (id) => document.getElementById(id);
const m = /token=([^&]+)/.exec(location.hash);
if (m) { sessionStorage.setItem('kiln-token', decodeURIComponent(m[1])); history.replaceState(null, '', location.pathname); }
let token = sessionStorage.getItem('kiln-token') || '';
$('auth').onsubmit = (e) => { e.preventDefault(); token = $('token').value; sessionStorage.setItem('kiln-token', token); refresh(); };
const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]);
let following = null, followCtl = null, userPicked = false;
async function follow(id) {
  if (following === id) return;
  followCtl?.abort(); following = id; followCtl = new AbortController();
  $('log-job').textContent = id; $('log').textContent = '';
  try {
    const res = await fetch('/api/v1/jobs/' + encodeURIComponent(id) + '/logs?follow=1', { headers: { Authorization: 'Bearer ' + token }, signal: followCtl.signal });
    const reader = res.body.getReader(); const dec = new TextDecoder(); let buf = '';
    for (;;) {
      const { done, value } = await reader.read(); if (done) break;
      buf += dec.decode(value, { stream: true }); let nl;
      while ((nl = buf.indexOf('\\n')) >= 0) {
        const line = JSON.parse(buf.slice(0, nl)); buf = buf.slice(nl + 1);
        if (line.stream) $('log').textContent += new TextDecoder().decode(Uint8Array.from(atob(line.data), (c) => c.charCodeAt(0)));
        else if (line.restart) $('log').textContent += '\\n[restarted: attempt ' + line.restart + ']\\n';
        else if (line.end) $('log').textContent += '\\n[' + line.state + ', exit ' + line.exitCode + ']\\n';
        $('log').scrollTop = $('log').scrollHeight;
      }
    }
  } catch (e) { if (e.name !== 'AbortError') $('err').textContent = String(e); }
}
function drawCache(points) {
  const d = []; for (let i = 1; i < points.length; i++) {
    const h = points[i].hits - points[0].hits, n = h + points[i].misses - points[0].misses;
    d.push([i, n ? h / n : 0]);
  }
  const w = 320, hgt = 80, step = w / Math.max(1, points.length - 1);
  $('cache').innerHTML = '<rect width="320" height="80" fill="#f7f7f7"/>' + (d.length ? '<polyline fill="none" stroke="#06c" stroke-width="2" points="' + d.map(([i, r]) => (i * step).toFixed(1) + ',' + (hgt - r * (hgt - 4) - 2).toFixed(1)).join(' ') + '"/>' : '');
  const last = points.at(-1); const n = last ? last.hits + last.misses : 0;
  $('cache-now').textContent = n ? 'overall ' + Math.round((100 * last.hits) / n) + '% of ' + n + ' lookups' : 'no cache lookups yet';
}
async function refresh() {
  if (!token) { $('err').textContent = 'give a token'; return; }
  const res = await fetch('/api/v1/dashboard', { headers: { Authorization: 'Bearer ' + token } });
  const body = await res.json();
  if (!res.ok) { $('err').textContent = body.error ? body.error.message + ' (' + body.error.code + ')' : 'HTTP ' + res.status; return; }
  $('err').textContent = '';
  $('builders').tBodies[0].innerHTML = body.builders.map((b) => '<tr><td>' + esc(b.id) + '</td><td>' + esc(b.platform) + '</td><td>' + b.slots + '</td><td>' + b.load + '</td><td>' + b.warm + '</td><td>' + (b.draining ? 'yes' : '') + '</td></tr>').join('');
  const q = body.queue;
  $('queue').textContent = q.queued + ' queued, ' + q.running + ' running, ' + q.toPlaceAgain + ' to place again' + (body.admin ? ' (all tenants)' : '');
  $('jobs').tBodies[0].innerHTML = body.jobs.map((j) => '<tr class="job" data-id="' + esc(j.id) + '"><td>' + esc(j.id.slice(0, 8)) + '</td><td class="' + esc(j.state) + '">' + esc(j.state) + '</td><td>' + esc(j.argv.join(' ').slice(0, 60)) + '</td><td>' + esc(j.builder || '') + '</td><td>' + j.attempt + '</td><td>' + esc(j.tenant) + '</td><td>' + esc(j.createdAt) + '</td></tr>').join('');
  for (const tr of document.querySelectorAll('tr.job')) tr.onclick = () => { userPicked = true; follow(tr.dataset.id); };
  const running = body.jobs.find((j) => j.state === 'running');
  if (!userPicked && running) follow(running.id);
  drawCache(body.cache);
}
refresh(); setInterval(refresh, 2000);
</script></body></html>
`;
