// The procedure report as one self-contained HTML file (HOST-2), the page a
// clinician reads and signs: patient, operator, cement lot and needle; a
// per-level table with figures rounded to what the instrument resolves
// (volume 0.01 mL, pressure 0.01 MPa, fill 1 %) - the exact recorded values
// stay in the page's data (data-value, the JSON blocks) and in --json; plots
// of pressure (with its limit), volume (with the cap and the increments) and
// flow against the time from the start of the injection, with pauses, leaks,
// alarms and level ends marked and labelled; the event list with units; a
// print style. uPlot is inlined: it opens offline.
import { basename } from "node:path"
import { Analysis, LevelRow, ProcedureFields } from "./analysis"
import { CHART_JS, PAGE_CSS, esc, jsonForScript, scriptSafe, uplot } from "./assets"

/** What the instrument resolves, for display (VOL-1, PRS-1). */
export const DISPLAY = { volumeDecimals: 2, pressureMpaDecimals: 2, fillPercentDecimals: 0, durationDecimals: 1 }

/** A rounded figure with its exact value kept in data-value. */
function num(v: number | null | undefined, shown: (v: number) => string, unit = "") {
    if (v === null || v === undefined || !Number.isFinite(v)) return `<td class="num">n/a</td>`
    return `<td class="num" data-value="${esc(v)}">${esc(shown(v))}${unit}</td>`
}
export const showMl = (v: number) => v.toFixed(DISPLAY.volumeDecimals)
export const showMpa = (pa: number) => (pa / 1e6).toFixed(DISPLAY.pressureMpaDecimals)
export const showPercent = (f: number) => (f * 100).toFixed(DISPLAY.fillPercentDecimals)
const showS = (ms: number) => (ms / 1000).toFixed(DISPLAY.durationDecimals)

function iso(t: number | null) {
    return t === null ? "n/a" : new Date(t).toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC")
}

/** Signed minutes:seconds.tenths from the time origin: "-0:03.2", "12:05.0". */
export function clock(s: number) {
    const a = Math.round(Math.abs(s) * 10) / 10
    const sign = s < 0 && a > 0 ? "-" : ""
    const m = Math.floor(a / 60)
    const sec = (a - m * 60).toFixed(1).padStart(4, "0")
    return `${sign}${m}:${sec}`
}

function checkCell(r: LevelRow) {
    const c = r.check
    if (r.source === "samples") return `<td class="check"><span class="bad">no level record</span><br><span class="muted">${esc(c.notes.join("; "))}</span></td>`
    const head = c.ok ? `<span class="ok">✓ ${c.samples} samples</span>` : `<span class="bad">✗ mismatch</span>`
    // the read-back note is said by the row's "read back" mark; the JSON keeps it
    const shown = c.notes.filter(n => !n.startsWith("record read back"))
    const notes = shown.length ? `<br><span class="muted">${esc(shown.join("; "))}</span>` : ""
    return `<td class="check">${head}${notes}</td>`
}

/** a reason code as words for the table: "cap_reached" -> "cap reached" (the JSON keeps the code) */
const words = (code: string) => code.replace(/_/g, " ")

function levelRowHtml(r: LevelRow, i: number, withIncrements: boolean) {
    const pauses = r.pauses === null ? "n/a" : `${r.pauses}${r.leak_pauses ? ` (${r.leak_pauses} leak)` : ""}`
    const reasons = r.pause_reasons.length ? `: ${r.pause_reasons.map(words).join(", ")}` : ""
    const ovr = r.overrides === null ? "n/a" : `${r.overrides}${r.override_details.length ? ": " + r.override_details.join("; ") : ""}`
    const end = r.source === "samples" ? r.end_state : `${r.end_state} (${words(r.end_reason)})`
    const readBack = r.read_back ? `<br><span class="muted" title="the record arrived after the level ended: read back from the device (TEL-4)">read back</span>` : ""
    return `<tr data-level="${esc(r.level)}">
<td class="num">${i + 1}</td><td><b>${esc(r.level)}</b>${readBack}</td>${num(r.cap, showMl)}${num(r.delivered, showMl)}${num(r.fill_fraction, showPercent, " %")}${num(r.peak_pressure, showMpa)}
<td data-value="${esc(r.pauses)}">${esc(pauses + reasons)}</td>${withIncrements ? `<td class="num" data-value="${r.increments}">${r.increments}</td>` : ""}<td data-value="${esc(r.overrides)}">${esc(ovr)}</td>${num(r.duration_ms, showS)}
<td>${esc(end)}</td>${checkCell(r)}</tr>`
}

const FIELD_LABELS: [keyof ProcedureFields, string][] = [
    ["patient", "Patient"],
    ["operator", "Operator"],
    ["cement_lot", "Cement lot"],
    ["needle", "Needle"],
]

function procedureHtml(a: Analysis) {
    const cell = (k: keyof ProcedureFields, label: string) => {
        const v = a.procedure[k]
        return `<div class="field" data-field="${k}"><span class="k">${label}</span><span class="v${v ? "" : " blank"}">${v ? esc(v) : "&nbsp;"}</span></div>`
    }
    return `<div class="fields">${FIELD_LABELS.map(([k, l]) => cell(k, l)).join("")}
<div class="field"><span class="k">Date</span><span class="v">${esc(iso(a.t0))}</span></div>
<div class="field"><span class="k">Device</span><span class="v">${esc(a.devices.join(", ") || "n/a")}</span></div></div>`
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
        procedure: a.procedure,
        pressure_limit: a.pressureLimit,
        origin: a.origin,
        samples: a.samples,
        events: a.events,
        increments: a.increments,
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
    const withInc = a.increments > 0
    const recorded = a.levels.filter(r => r.delivered !== null)
    const total = recorded.reduce((s, r) => s + (r.delivered as number), 0)
    const limitMpa = showMpa(a.pressureLimit.pa)
    const levels = a.levels.length
        ? `<table id="levels"><thead><tr><th>#</th><th>Level</th><th>Cap<br>(mL)</th><th>Delivered<br>(mL)</th><th>Fill</th><th>Peak pressure<br>(MPa)</th><th>Pauses</th>${
              withInc ? "<th>Incre&shy;ments</th>" : ""
          }<th>Overrides</th><th>Duration<br>(s)</th><th>End</th><th>Cross-check</th></tr></thead><tbody>
${a.levels.map((r, i) => levelRowHtml(r, i, withInc)).join("\n")}</tbody>
<tfoot><tr><td></td><td>Total</td><td></td><td class="num" id="total" data-value="${esc(total)}">${esc(showMl(total))}</td><td colspan="${withInc ? 8 : 7}" class="muted">${recorded.length} level(s)</td></tr></tfoot></table>
<p class="muted small">Figures are the device's own per-level record (TEL-3), shown to what the instrument resolves: volume 0.01 mL, pressure 0.01 MPa, fill 1 % (of the vertebral body volume; n/a where none is published); the exact recorded values are kept in the page data and in <code>--json</code>. Pause reasons and override details come from the events of the same level. Cross-check: the record against the samples recorded in the level's time window.</p>`
        : `<p>No level was recorded (no level_record events, and no injection in the samples).</p>`
    const originText = a.origin.kind === "injection" ? `the start of the injection (${iso(a.origin.t_host)})` : "the start of the recording (no injection recorded)"
    const eventRows = a.eventRows
        .map(e => `<tr class="ev-${esc(e.kind)}"><td class="num" data-value="${e.t}">${clock(e.t)}</td><td>${esc(e.kind)}</td><td>${esc(e.text)}</td><td class="num muted">${e.line}</td></tr>`)
        .join("\n")
    const title = a.procedure.patient ? `Cement injection report: ${a.procedure.patient}` : "Cement injection report"
    return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)} (${esc(name)})</title>
<style>${u.css}</style><style>${PAGE_CSS}
.fields { display: grid; grid-template-columns: repeat(3, 1fr); gap: 6px 18px; margin: 10px 0 6px; }
.field { display: flex; gap: 8px; align-items: baseline; border-bottom: 1px solid var(--line); padding: 3px 0; }
.field .k { color: var(--muted); min-width: 80px; } .field .v { font-weight: 600; flex: 1; }
.field .v.blank { border-bottom: 1px dotted #999; min-height: 1.2em; }
#levels { font-size: 12.5px; table-layout: auto; }
#levels th { white-space: normal; vertical-align: bottom; padding: 4px 5px; }
#levels td { padding: 4px 5px; overflow-wrap: break-word; }
.field .v { overflow-wrap: anywhere; }
#levels td.check { max-width: 260px; font-size: 11.5px; }
#levels tfoot td { font-weight: 600; border-top: 2px solid var(--fg); }
.small { font-size: 12px; }
#events { font-size: 12.5px; } #events td { padding: 2px 6px; }
.sign { display: grid; grid-template-columns: 2fr 1fr; gap: 24px; margin-top: 36px; }
.sign div { border-top: 1px solid var(--fg); padding-top: 4px; color: var(--muted); }
@media print {
  @page { size: A4; margin: 12mm; }
  body { max-width: none; padding: 0; font-size: 10pt; }
  .noprint { display: none !important; }
  tr, .chart, .sign, .fields { break-inside: avoid; }
  h2 { break-after: avoid; }
  #levels { font-size: 8.5pt; } #levels td.check { font-size: 8pt; max-width: 150px; }
  #events { font-size: 8pt; }
  .u-legend { display: none; }
}
</style>
</head><body>
<h1>${esc(title)}</h1>
${procedureHtml(a)}
<p class="muted small">${esc(name)} · ${esc(iso(a.t0))} to ${esc(iso(a.t1))} (${durS} s) · ${esc(a.transport ?? "")} ·
${a.samples} samples, ${a.events} events, ${a.gaps} gap line(s), ${a.lost_batches} telemetry batch(es) lost, ${a.stats.lines} lines read</p>
${issues}
<h2>Levels</h2>
${levels}
<h2>Pressure, volume and flow</h2>
<div class="legend" id="legend"></div>
<div id="c-pressure" class="chart"></div>
<div id="c-volume" class="chart"></div>
<div id="c-flow" class="chart"></div>
<p class="muted small">Time: from ${esc(originText)}, host clock, each sample at its device time within its batch. Pressure limit ${limitMpa} MPa (${esc(a.pressureLimit.source)}); the cap is the level's as the device reported it. The plotted points are the recorded samples, all of them, unchanged.<span class="noprint"> Drag to zoom, double-click to reset.</span></p>
<h2>Events</h2>
<table id="events"><thead><tr><th>time (m:s)</th><th>kind</th><th>what</th><th>line</th></tr></thead><tbody>
${eventRows}
</tbody></table>
<div class="sign"><div>Operator signature</div><div>Date</div></div>
<p class="muted small">Made by injector report with uPlot ${esc(u.version)} (inlined).</p>
<script type="application/json" id="report-data">${jsonForScript(summary)}</script>
<script type="application/json" id="series-data">${jsonForScript({ series: a.series, markers: a.markers, pressure_limit: a.pressureLimit.pa })}</script>
<script>${scriptSafe(u.js)}</script>
<script>${scriptSafe(CHART_JS)}
(function () {
  var D = JSON.parse(document.getElementById("series-data").textContent);
  var S = D.series, M = D.markers, LIMIT = D.pressure_limit / 1e6;
  document.getElementById("legend").innerHTML = legendHtml();
  var mpa = S.pressure.map(function (v) { return v == null ? null : v / 1e6; });
  var width = Math.max(600, document.body.clientWidth - 50);
  var sync = uPlot.sync("report");
  var xLabel = ${JSON.stringify(a.origin.kind === "injection" ? "time from the start of injection (s)" : "time from the start of the recording (s)")};
  function fmt(d) { return function (u, v) { return v == null ? "n/a" : (+v).toFixed(d); }; }
  var charts = [];
  function chart(id, title, series, data, yLabel, plugins, yRange) {
    var opts = { title: title, width: width, height: 220, scales: { x: { time: false }, y: yRange ? { range: yRange } : {} },
      cursor: { sync: { key: sync.key } },
      axes: [{ label: xLabel }, { label: yLabel }],
      series: [{ label: "t (s)", value: fmt(1) }].concat(series), plugins: plugins };
    charts.push(new uPlot(opts, data, document.getElementById(id)));
  }
  var notInc = function () { return M.filter(function (m) { return m.kind !== "increment"; }); };
  chart("c-pressure", "Pressure", [{ label: "pressure (MPa)", stroke: "#1f77b4", width: 1.5, value: fmt(2) }], [S.t, mpa], "MPa",
    [markersPlugin(notInc), limitsPlugin([{ value: LIMIT, label: "pressure limit " + LIMIT.toFixed(2) + " MPa", color: "#b42318" }])],
    function (u, min, max) { return [0, Math.max(max || 0, LIMIT) * 1.1]; });
  chart("c-volume", "Delivered volume", [{ label: "volume (mL)", stroke: "#2ca02c", width: 1.5, value: fmt(2) },
      { label: "cap (mL)", stroke: "#b42318", dash: [8, 4], width: 2, value: fmt(2) }], [S.t, S.volume, S.cap], "mL",
    [markersPlugin(function () { return M; }), stepLabelsPlugin(2, "cap ", " mL", 2, "#b42318")],
    function (u, min, max) { return [0, Math.max(max || 0, 0.1) * 1.1]; });
  chart("c-flow", "Flow", [{ label: "flow (mL/min)", stroke: "#ff7f0e", width: 1.5, value: fmt(2) }], [S.t, S.flow], "mL/min", [markersPlugin(notInc)]);
  // printing: charts at the page's width
  var PRINT_WIDTH = 680;
  window.addEventListener("beforeprint", function () { charts.forEach(function (c) { c.setSize({ width: PRINT_WIDTH, height: 190 }); }); });
  window.addEventListener("afterprint", function () { charts.forEach(function (c) { c.setSize({ width: width, height: 220 }); }); });
  window.__report = { charts: charts, resize: function (w) { charts.forEach(function (c) { c.setSize({ width: w, height: 190 }); }); } };
})();
</script>
</body></html>
`
}
