// The procedure report as one self-contained HTML file (HOST-2): per-level
// table, plots of pressure, volume and flow against time with pauses, leaks,
// alarms and gaps marked, and the event list. uPlot is inlined: it opens
// offline. Numbers in the table are the recorded ones (decimal point moved
// for units, never rounded).
import { basename } from "node:path"
import { Analysis, LevelRow } from "./analysis"
import { CHART_JS, PAGE_CSS, esc, jsonForScript, scriptSafe, shiftDecimal, uplot } from "./assets"

function num(v: number | null | undefined, k = 0, unit = "") {
    if (v === null || v === undefined) return `<td class="num">n/a</td>`
    return `<td class="num" data-value="${esc(v)}">${esc(shiftDecimal(v, k))}${unit}</td>`
}

function iso(t: number | null) {
    return t === null ? "n/a" : new Date(t).toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC")
}

function checkCell(r: LevelRow) {
    const c = r.check
    if (r.source === "samples") return `<td><span class="bad">no level record</span><br><span class="muted">${esc(c.notes.join("; "))}</span></td>`
    const head = c.ok ? `<span class="ok">✓ matches ${c.samples} samples</span>` : `<span class="bad">✗ mismatch</span>`
    const notes = c.notes.length ? `<br><span class="muted">${esc(c.notes.join("; "))}</span>` : ""
    return `<td>${head}${notes}</td>`
}

function levelRowHtml(r: LevelRow, i: number) {
    const pauses = r.pauses === null ? "n/a" : `${r.pauses}${r.leak_pauses ? ` (${r.leak_pauses} leak)` : ""}`
    const reasons = r.pause_reasons.length ? r.pause_reasons.join(", ") : "none"
    const ovr = r.overrides === null ? "n/a" : `${r.overrides}${r.override_details.length ? ": " + r.override_details.join("; ") : ""}`
    const end = r.source === "samples" ? r.end_state : `${r.end_state} (${r.end_reason})`
    return `<tr data-level="${esc(r.level)}">
<td class="num">${i + 1}</td><td><b>${esc(r.level)}</b></td>${num(r.cap)}${num(r.delivered)}${num(r.fill_fraction, 2, " %")}${num(r.peak_pressure, -6)}
<td class="num" data-value="${esc(r.pauses)}">${esc(pauses)}</td><td>${esc(reasons)}</td><td data-value="${esc(r.overrides)}">${esc(ovr)}</td>${num(r.duration_ms, -3)}
<td>${esc(end)}</td>${checkCell(r)}</tr>`
}

export function reportHtml(a: Analysis): string {
    const u = uplot()
    const name = basename(a.file)
    const durS = a.t0 !== null && a.t1 !== null ? ((a.t1 - a.t0) / 1000).toFixed(1) : "0"
    const summary = {
        file: name,
        start: a.t0,
        end: a.t1,
        devices: a.devices,
        transport: a.transport,
        samples: a.samples,
        events: a.events,
        gaps: a.gaps,
        lost_batches: a.lost_batches,
        lines: a.stats.lines,
        skipped: a.issues.map(i => ({ line: i.line, kind: i.kind, message: i.message })),
        levels: a.levels.map(({ check, ...r }) => ({ ...r, check })),
    }
    const issues = a.issues.length
        ? `<p class="warn"><b>${a.issues.length} line(s) skipped</b> (the rest of the file is used):<br>${a.issues
              .slice(0, 20)
              .map(i => `line ${i.line}: ${esc(i.message)}`)
              .join("<br>")}${a.issues.length > 20 ? `<br>... and ${a.issues.length - 20} more` : ""}</p>`
        : ""
    const levels = a.levels.length
        ? `<table id="levels"><thead><tr><th>#</th><th>Level</th><th>Cap (mL)</th><th>Delivered (mL)</th><th>Fill fraction</th><th>Peak pressure (MPa)</th><th>Pauses</th><th>Pause reasons</th><th>Overrides</th><th>Duration (s)</th><th>End</th><th>Cross-check with samples</th></tr></thead><tbody>
${a.levels.map(levelRowHtml).join("\n")}</tbody></table>
<p class="muted">Cap, delivered volume, fill fraction, peak pressure, pause and override counts and the device times are the device's own per-level record (TEL-3), as recorded; pause reasons and override details come from the events of the same level. Fill fraction is n/a where no body volume is published for the level.</p>`
        : `<p>No level was recorded (no level_record events, and no injection in the samples).</p>`
    const eventRows = a.eventRows
        .map(e => `<tr><td class="num">${e.t.toFixed(3)}</td><td class="num">${e.line}</td><td>${esc(e.kind)}</td><td>${esc(e.text)}</td></tr>`)
        .join("\n")
    return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Injection report: ${esc(name)}</title>
<style>${u.css}</style><style>${PAGE_CSS}</style>
</head><body>
<h1>Cement injection report</h1>
<p class="muted">${esc(name)} · ${esc(iso(a.t0))} to ${esc(iso(a.t1))} (${durS} s) · device ${esc(a.devices.join(", ") || "n/a")} · ${esc(a.transport ?? "")}<br>
${a.samples} samples, ${a.events} events, ${a.gaps} gap line(s), ${a.lost_batches} telemetry batch(es) lost, ${a.stats.lines} lines read</p>
${issues}
<h2>Levels</h2>
${levels}
<h2>Pressure, volume and flow</h2>
<div class="legend" id="legend"></div>
<div id="c-pressure" class="chart"></div>
<div id="c-volume" class="chart"></div>
<div id="c-flow" class="chart"></div>
<p class="muted">Time axis: seconds since the recording's first line (host clock; each sample placed at its device time relative to its batch). Drag to zoom, double-click to reset.</p>
<h2>Events</h2>
<table id="events"><thead><tr><th>t (s)</th><th>line</th><th>kind</th><th>what</th></tr></thead><tbody>
${eventRows}
</tbody></table>
<p class="muted">Made by injector report with uPlot ${esc(u.version)} (inlined).</p>
<script type="application/json" id="report-data">${jsonForScript(summary)}</script>
<script type="application/json" id="series-data">${jsonForScript({ series: a.series, markers: a.markers })}</script>
<script>${scriptSafe(u.js)}</script>
<script>${scriptSafe(CHART_JS)}
(function () {
  var D = JSON.parse(document.getElementById("series-data").textContent);
  var S = D.series, M = D.markers;
  document.getElementById("legend").innerHTML = legendHtml();
  var mpa = S.pressure.map(function (v) { return v == null ? null : v / 1e6; });
  var width = Math.max(600, document.body.clientWidth - 50);
  var sync = uPlot.sync("report");
  function fmt(d) { return function (u, v) { return v == null ? "n/a" : (+v).toFixed(d); }; }
  function chart(id, title, series, data, yLabel) {
    var opts = { title: title, width: width, height: 220, scales: { x: { time: false } },
      cursor: { sync: { key: sync.key } },
      axes: [{ label: "time (s)" }, { label: yLabel }],
      series: [{ label: "t (s)", value: fmt(3) }].concat(series), plugins: [markersPlugin(function () { return M; })] };
    return new uPlot(opts, data, document.getElementById(id));
  }
  chart("c-pressure", "Pressure", [{ label: "pressure (MPa)", stroke: "#1f77b4", width: 1.5, value: fmt(4) }], [S.t, mpa], "MPa");
  chart("c-volume", "Delivered volume", [{ label: "volume (mL)", stroke: "#2ca02c", width: 1.5, value: fmt(4) },
      { label: "cap (mL)", stroke: "#999", dash: [6, 4], width: 1, value: fmt(3) }], [S.t, S.volume, S.cap], "mL");
  chart("c-flow", "Flow", [{ label: "flow (mL/min)", stroke: "#ff7f0e", width: 1.5, value: fmt(3) }], [S.t, S.flow], "mL/min");
})();
</script>
</body></html>
`
}
