// `injector dashboard`: a local web page with live charts and the alarm state,
// fed over a WebSocket (HOST-1). Listens on 127.0.0.1 only and accepts
// WebSocket connections only from pages served by localhost. The page keeps
// the last minute of samples; when the injector (or the dashboard server)
// goes away it says so and carries on when it comes back.
import { IncomingMessage, Server, createServer } from "node:http"
import { AddressInfo } from "node:net"
import { WebSocket, WebSocketServer } from "ws"
import { LinkEvent, LinkStatus, LinkTelemetry } from "./link"
import type { TelemetrySource } from "./mqtt-source"
import { CHART_JS, PAGE_CSS, esc, scriptSafe, uplot } from "./assets"
import { levelName, reasonName, stateName } from "./spec"

const HISTORY_MS = 60000

export interface DashboardOptions {
    port: number
    host?: string
}

function isLoopback(addr: string | undefined) {
    return !!addr && (addr === "::1" || addr.startsWith("127.") || addr.startsWith("::ffff:127."))
}

function originAllowed(origin: string | undefined) {
    if (!origin) return true // not a browser page (a script or test tool on this machine)
    try {
        const u = new URL(origin)
        return u.hostname === "localhost" || u.hostname === "127.0.0.1" || u.hostname === "[::1]"
    } catch {
        return false
    }
}

export class Dashboard {
    server: Server
    wss: WebSocketServer
    port = 0
    private history: any[] = []
    private events: any[] = []
    private status: { status: LinkStatus; detail: string; device?: string } = { status: "connecting", detail: "" }

    constructor(readonly link: TelemetrySource, readonly opts: DashboardOptions) {
        const page = dashboardHtml()
        this.server = createServer((req, res) => {
            if (!isLoopback(req.socket.remoteAddress)) {
                res.writeHead(403).end("localhost only")
                return
            }
            const url = (req.url || "/").split("?")[0]
            if (url === "/" || url === "/index.html") {
                res.writeHead(200, { "content-type": "text/html; charset=utf-8", "cache-control": "no-store" })
                res.end(page)
            } else if (url === "/favicon.ico") {
                res.writeHead(204).end()
            } else if (url === "/status.json") {
                res.writeHead(200, { "content-type": "application/json" })
                res.end(JSON.stringify({ ...this.status, samples: this.history.length }))
            } else res.writeHead(404).end("not found")
        })
        this.wss = new WebSocketServer({
            server: this.server,
            path: "/ws",
            verifyClient: (info: { origin: string; req: IncomingMessage }) =>
                isLoopback(info.req.socket.remoteAddress) && originAllowed(info.origin),
        })
        this.wss.on("connection", ws => {
            ws.send(JSON.stringify({ type: "hello", ...this.status, history: this.history, events: this.events }))
        })
        link.on("status", (s: LinkStatus, d: string) => {
            this.status = { ...this.status, status: s, detail: d }
            this.broadcast({ type: "status", status: s, detail: d, device: this.status.device })
        })
        link.on("device", (id: string) => (this.status.device = id))
        link.on("telemetry", (t: LinkTelemetry) => this.onTelemetry(t))
        link.on("event", (e: LinkEvent) => {
            const m = { type: "event", t: e.rx, ...e.data }
            this.events.push(m)
            if (this.events.length > 200) this.events.shift()
            this.broadcast(m)
        })
    }

    private onTelemetry(t: LinkTelemetry) {
        const h = t.batch.header
        const n = t.batch.samples.length
        const rows = t.batch.samples.map((s, i) => ({
            t: Math.round(t.rx - (n - 1 - i) * h.period),
            t_dev: h.time + i * h.period,
            state: stateName(h.state),
            reason: reasonName(h.reason),
            level: levelName(h.level),
            cap: h.cap,
            fill_fraction: h.fill_fraction,
            cement_age: h.cement_age,
            pauses: h.pauses,
            leaks: h.leaks,
            flags: h.flags,
            pending: h.pending,
            ...s,
        }))
        for (const r of rows) this.history.push(r)
        const cut = t.rx - HISTORY_MS
        let k = 0
        while (k < this.history.length && this.history[k].t < cut) k++
        if (k) this.history.splice(0, k)
        this.broadcast({ type: "samples", rows })
    }

    private broadcast(m: unknown) {
        const text = JSON.stringify(m)
        for (const c of this.wss.clients) if (c.readyState === WebSocket.OPEN) c.send(text)
    }

    listen(): Promise<number> {
        return new Promise((resolve, reject) => {
            this.server.once("error", reject)
            this.server.listen(this.opts.port, this.opts.host ?? "127.0.0.1", () => {
                this.port = (this.server.address() as AddressInfo).port
                resolve(this.port)
            })
        })
    }

    close(): Promise<void> {
        for (const c of this.wss.clients) c.terminate()
        this.wss.close()
        const done = new Promise<void>(r => this.server.close(() => r()))
        this.server.closeAllConnections()
        return done
    }
}

export function dashboardHtml() {
    const u = uplot()
    return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Cement Injector - live</title>
<style>${u.css}</style><style>${PAGE_CSS}
.top { display: flex; align-items: center; gap: 16px; flex-wrap: wrap; }
.badge { padding: 3px 10px; border-radius: 12px; font-weight: 600; color: #fff; background: #888; }
.badge.connected { background: #1a7f37; } .badge.lost, .badge.offline { background: #b42318; } .badge.connecting, .badge.searching { background: #b7791f; }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(170px, 1fr)); gap: 10px; margin: 12px 0; }
.tile { border: 1px solid var(--line); border-radius: 6px; padding: 8px 10px; }
.tile .k { color: var(--muted); font-size: 12px; } .tile .v { font-size: 22px; font-weight: 600; font-variant-numeric: tabular-nums; }
.stale .v { color: #9aa3ab; }
#alarm { margin: 8px 0; padding: 10px 12px; border-radius: 6px; font-weight: 600; background: #eef6f0; color: #1a7f37; }
#alarm.warn { background: #fff4e5; color: #8a5300; } #alarm.on { background: #b42318; color: #fff; }
#alarms li, #events li { font-size: 13px; }
</style></head><body>
<div class="top"><h1>Cement Injector</h1><span id="conn" class="badge connecting">connecting</span><span id="detail" class="muted"></span></div>
<div id="alarm" data-alarm="">no alarm</div>
<div id="tiles" class="grid">
<div class="tile"><div class="k">state</div><div class="v" id="state">-</div></div>
<div class="tile"><div class="k">level</div><div class="v" id="level">-</div></div>
<div class="tile"><div class="k">volume / cap (mL)</div><div class="v"><span id="volume">-</span> / <span id="cap">-</span></div></div>
<div class="tile"><div class="k">fill fraction</div><div class="v" id="fill">-</div></div>
<div class="tile"><div class="k">pressure (MPa)</div><div class="v" id="pressure">-</div></div>
<div class="tile"><div class="k">flow (mL/min)</div><div class="v" id="flow">-</div></div>
<div class="tile"><div class="k">cement age</div><div class="v" id="age">-</div></div>
<div class="tile"><div class="k">pauses (leaks)</div><div class="v" id="pauses">-</div></div>
</div>
<div id="pending" class="warn" style="display:none"></div>
<div class="legend" id="legend"></div>
<div id="c-pressure" class="chart"></div><div id="c-volume" class="chart"></div><div id="c-flow" class="chart"></div>
<h2>Alarms</h2><ul id="alarms"></ul>
<h2>Events</h2><ul id="events"></ul>
<p class="muted">Last ${HISTORY_MS / 1000} s · served from this machine only · uPlot ${esc(u.version)} inlined</p>
<script>${scriptSafe(u.js)}</script>
<script>${scriptSafe(CHART_JS)}
(function () {
  var KEEP = ${HISTORY_MS};
  var rows = [], markers = [], last = null, alarms = [], openPause = null, status = "connecting", dirty = true;
  var $ = function (id) { return document.getElementById(id); };
  $("legend").innerHTML = legendHtml();
  function f(v, d) { return v == null ? "n/a" : (+v).toFixed(d); }
  function age(s) { if (s == null || s < 0) return "not mixed"; var m = Math.floor(s / 60), r = Math.floor(s % 60); return m + ":" + (r < 10 ? "0" : "") + r; }
  var width = Math.max(500, document.body.clientWidth - 50);
  var sync = uPlot.sync("live");
  function mk(id, title, series, yl) {
    return new uPlot({ title: title, width: width, height: 180, scales: { x: { time: true } }, cursor: { sync: { key: sync.key } },
      axes: [{ label: "time" }, { label: yl }], series: [{ label: "time", value: function (u, v) { return v == null ? "" : new Date(v * 1000).toLocaleTimeString(); } }].concat(series),
      plugins: [markersPlugin(function () { return markers; })] }, [[], [], []].slice(0, series.length + 1), $(id));
  }
  var cp = mk("c-pressure", "Pressure", [{ label: "pressure (MPa)", stroke: "#1f77b4", width: 1.5 }], "MPa");
  var cv = mk("c-volume", "Delivered volume", [{ label: "volume (mL)", stroke: "#2ca02c", width: 1.5 }, { label: "cap (mL)", stroke: "#999", dash: [6, 4] }], "mL");
  var cf = mk("c-flow", "Flow", [{ label: "flow (mL/min)", stroke: "#ff7f0e", width: 1.5 }], "mL/min");
  function rel(t) { return t / 1000; }
  function setStatus(s, detail) {
    status = s; var b = $("conn");
    b.className = "badge " + s;
    b.textContent = s === "connected" ? "connected" : s === "lost" ? "disconnected" : s === "offline" ? "dashboard offline" : s;
    $("detail").textContent = detail || "";
    $("tiles").classList.toggle("stale", s !== "connected");
    if (s !== "connected" && rows.length) { rows.push({ t: rows[rows.length - 1].t + 1, gap: true }); markers.push({ kind: "gap", t: rel(Date.now()), t_end: null, label: "disconnected", open: true }); }
    if (s === "connected") markers.forEach(function (m) { if (m.open) { m.t_end = rel(Date.now()); m.open = false; } });
    dirty = true;
  }
  function showAlarm() {
    var a = alarms[alarms.length - 1], el = $("alarm"), st = last ? last.state : "";
    var active = a && (a.action !== "warn" ? !(st === "injecting" && Date.now() - a.t > 2000) : Date.now() - a.t < 10000);
    if (a && active) { el.className = a.action === "warn" ? "warn" : "on"; el.textContent = "ALARM: " + a.reason + " (" + a.action + ")"; el.dataset.alarm = a.reason; }
    else { el.className = ""; el.textContent = "no alarm"; el.dataset.alarm = ""; }
  }
  function onSamples(rs) {
    for (var i = 0; i < rs.length; i++) rows.push(rs[i]);
    last = rs[rs.length - 1];
    var cut = Date.now() - KEEP; while (rows.length && rows[0].t < cut) rows.shift();
    dirty = true;
  }
  function addEvent(e) {
    var li = document.createElement("li"), t = new Date(e.t).toLocaleTimeString(), text;
    if (e.event === "transition") text = e.from + " \\u2192 " + e.to + " (" + e.reason + ")";
    else if (e.event === "alarm") text = "alarm " + e.reason + " (" + e.action + ")";
    else if (e.event === "rejected") text = e.command + " rejected: " + e.reject;
    else if (e.event === "confirm_required") text = e.command + ": press confirm on the device";
    else if (e.event === "level_record") text = "level " + e.level + " ended " + e.end_state + " (" + e.end_reason + "): " + e.volume + " mL of " + e.cap + " mL";
    else text = e.event + " " + (e.reason || "") + " " + (e.value != null ? e.value : "");
    li.textContent = t + "  " + text; var ul = $("events"); ul.insertBefore(li, ul.firstChild); while (ul.children.length > 30) ul.removeChild(ul.lastChild);
    var x = rel(e.t);
    if (e.event === "alarm") {
      alarms.push({ t: e.t, reason: e.reason, action: e.action });
      var la = document.createElement("li"); la.textContent = t + "  " + e.reason + " (" + e.action + ")"; $("alarms").insertBefore(la, $("alarms").firstChild);
      if (e.reason !== "leak_seen" && e.reason !== "leak_suspected") markers.push({ kind: "alarm", t: x, label: e.reason });
    }
    if (e.event === "transition" && e.to === "paused") { if (openPause) openPause.t_end = x; openPause = { kind: "pause", t: x, t_end: null, label: e.reason }; markers.push(openPause);
      if (e.reason === "leak_seen" || e.reason === "leak_suspected") markers.push({ kind: "leak", t: x, label: "leak" }); }
    if (e.event === "transition" && e.from === "paused" && openPause) { openPause.t_end = x; openPause = null; }
    if (e.event === "level_record") markers.push({ kind: "level", t: x, label: e.level + " " + e.end_state });
    dirty = true;
  }
  function render() {
    if (!dirty) return; dirty = false;
    var T = [], P = [], V = [], C = [], F = [];
    for (var i = 0; i < rows.length; i++) { var r = rows[i]; T.push(rel(r.t));
      if (r.gap) { P.push(null); V.push(null); C.push(null); F.push(null); continue; }
      P.push(r.pressure == null ? null : r.pressure / 1e6); V.push(r.volume); C.push(r.cap); F.push(r.flow); }
    var xmax = rel(Date.now()), xmin = xmax - KEEP / 1000;
    markers = markers.filter(function (m) { return (m.t_end == null ? m.t : m.t_end) > xmin || m.open || m === openPause; });
    [[cp, [T, P]], [cv, [T, V, C]], [cf, [T, F]]].forEach(function (p) { p[0].setData(p[1], false); p[0].setScale("x", { min: xmin, max: xmax }); });
    if (last) {
      $("state").textContent = last.state.toUpperCase() + (last.reason && last.reason !== "none" ? " (" + last.reason + ")" : "");
      $("level").textContent = last.level; $("volume").textContent = f(last.volume, 3); $("cap").textContent = f(last.cap, 2);
      $("fill").textContent = last.fill_fraction == null ? "n/a" : (last.fill_fraction * 100).toFixed(1) + " %";
      $("pressure").textContent = last.pressure == null ? "n/a" : (last.pressure / 1e6).toFixed(3);
      $("flow").textContent = f(last.flow, 2); $("age").textContent = age(last.cement_age); $("pauses").textContent = last.pauses + " (" + last.leaks + ")";
      var pe = $("pending"); if (last.pending) { pe.style.display = ""; pe.textContent = "Waiting for the local confirm button on the device (command 0x" + last.pending.toString(16) + ")"; } else pe.style.display = "none";
    }
    showAlarm();
  }
  setInterval(render, 100); setInterval(function () { dirty = true; }, 1000);
  function connect() {
    var ws = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws");
    ws.onmessage = function (m) {
      var d = JSON.parse(m.data);
      if (d.type === "hello") { rows = []; markers = []; alarms = []; openPause = null; $("events").innerHTML = ""; $("alarms").innerHTML = "";
        if (d.history.length) onSamples(d.history); d.events.forEach(addEvent); setStatus(d.status, d.detail); }
      else if (d.type === "status") setStatus(d.status, d.detail);
      else if (d.type === "samples") onSamples(d.rows);
      else if (d.type === "event") addEvent(d);
    };
    ws.onclose = function () { setStatus("offline", "the dashboard server is not reachable; retrying"); setTimeout(connect, 1000); };
  }
  connect();
  window.__dashboard = { rows: function () { return rows.length; }, status: function () { return status; } };
})();
</script>
</body></html>
`
}
