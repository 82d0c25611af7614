// Page assets shared by the report and the dashboard: uPlot's JS and CSS read
// from node_modules and inlined (pages work offline, no CDN), the page CSS,
// the chart helpers that run in the browser, and number formatting.
import { readFileSync } from "node:fs"
import { dirname, join } from "node:path"

let cache: { js: string; css: string; version: string } | undefined

export function uplot() {
    if (cache) return cache
    const dir = dirname(require.resolve("uplot/package.json"))
    const pkg = JSON.parse(readFileSync(join(dir, "package.json"), "utf8"))
    cache = {
        js: readFileSync(join(dir, "dist", "uPlot.iife.min.js"), "utf8"),
        css: readFileSync(join(dir, "dist", "uPlot.min.css"), "utf8"),
        version: pkg.version,
    }
    return cache
}

/** Text safe inside <script>: no "</script>" and no "<!--" can end it early. */
export function scriptSafe(text: string) {
    return text.replace(/<\/(script)/gi, "<\\/$1").replace(/<!--/g, "<\\!--")
}

/** JSON for a <script type="application/json"> block or a JS literal. */
export function jsonForScript(v: unknown) {
    return JSON.stringify(v).replace(/</g, "\\u003c").replace(/\u2028/g, "\\u2028").replace(/\u2029/g, "\\u2029")
}

export function esc(s: unknown) {
    return String(s ?? "").replace(/[&<>"']/g, c => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c] as string)
}

/**
 * A recorded number with its decimal point moved by `k` places, done on the
 * digits so nothing is rounded: 662367.4 Pa with k = -6 is "0.6623674" MPa.
 */
export function shiftDecimal(v: number | null | undefined, k: number): string {
    if (v === null || v === undefined || !Number.isFinite(v)) return "n/a"
    const m = /^(\d+)(?:\.(\d+))?(?:e([+-]\d+))?$/.exec(String(Math.abs(v)))
    if (!m) return String(v)
    const intp = m[1]
    const frac = m[2] || ""
    let digits = intp + frac
    let point = intp.length + +(m[3] || 0) + k
    if (point <= 0) {
        digits = "0".repeat(1 - point) + digits
        point = 1
    }
    if (point > digits.length) digits += "0".repeat(point - digits.length)
    const ip = digits.slice(0, point).replace(/^0+(?=\d)/, "")
    const fp = digits.slice(point).replace(/0+$/, "")
    const s = ip + (fp ? "." + fp : "")
    return (v < 0 && /[1-9]/.test(s) ? "-" : "") + s
}

export const PAGE_CSS = `
:root { --fg:#1d232a; --muted:#5b6770; --line:#d9dee3; --bg:#fff; --pause:#f0a020; --leak:#d62728; --alarm:#7b3fb5; --level:#2a7f62; --gap:#888; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg); background: var(--bg); margin: 0 auto; padding: 16px 24px 48px; max-width: 1200px; }
h1 { font-size: 22px; margin: 4px 0 2px; } h2 { font-size: 17px; margin: 22px 0 8px; }
.muted { color: var(--muted); }
table { border-collapse: collapse; width: 100%; margin: 6px 0 10px; }
th, td { border-bottom: 1px solid var(--line); padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #f4f6f8; font-weight: 600; white-space: nowrap; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.ok { color: #1a7f37; } .bad { color: #b42318; font-weight: 600; }
.legend span { display: inline-block; margin-right: 14px; } .sw { display:inline-block; width: 14px; height: 10px; margin-right: 4px; vertical-align: middle; }
.chart { margin: 4px 0 14px; }
.warn { background: #fff4e5; border: 1px solid #f0a020; padding: 6px 10px; border-radius: 4px; }
`

/**
 * Browser code: markers drawn over uPlot charts (pause and gap bands, leak,
 * alarm and level lines). Expects `uPlot` loaded.
 */
export const CHART_JS = `
var MARK = { increment: [null, "#0b6e99"], pause: ["rgba(240,160,32,0.18)", "#f0a020"], gap: ["rgba(136,136,136,0.22)", "#888"], leak: [null, "#d62728"], alarm: [null, "#7b3fb5"], level: [null, "#2a7f62"], lost: [null, "#888"], reject: [null, "#b42318"] };
function markersPlugin(getMarkers) {
  return { hooks: { draw: [function (u) {
    var ms = getMarkers(); if (!ms || !ms.length) return;
    var ctx = u.ctx, b = u.bbox, xmin = u.scales.x.min, xmax = u.scales.x.max, rows = [];
    ctx.save(); ctx.beginPath(); ctx.rect(b.left, b.top, b.width, b.height); ctx.clip();
    for (var i = 0; i < ms.length; i++) {
      var m = ms[i], c = MARK[m.kind] || [null, "#444"];
      if (m.kind === "increment") continue;
      var te = m.t_end == null ? (c[0] ? xmax : null) : m.t_end;
      if (te != null && c[0]) {
        if (te < xmin || m.t > xmax) continue;
        var x0 = u.valToPos(Math.max(m.t, xmin), "x", true), x1 = u.valToPos(Math.min(te, xmax), "x", true);
        ctx.fillStyle = c[0]; ctx.fillRect(x0, b.top, Math.max(1, x1 - x0), b.height);
      } else {
        if (m.t < xmin || m.t > xmax) continue;
        var x = Math.round(u.valToPos(m.t, "x", true)) + 0.5;
        ctx.strokeStyle = c[1]; ctx.lineWidth = (m.kind === "leak" ? 2 : 1) * devicePixelRatio;
        ctx.setLineDash(m.kind === "alarm" || m.kind === "lost" ? [4 * devicePixelRatio, 3 * devicePixelRatio] : []);
        ctx.beginPath(); ctx.moveTo(x, b.top); ctx.lineTo(x, b.top + b.height); ctx.stroke();
        if (m.kind === "increment") continue;
        if (m.kind === "level" || m.kind === "leak" || m.kind === "alarm") label(m.label, x, c[1]);
      }
    }
    // FLOW-4 increments: a triangle at the top of the plot and its label
    for (var j = 0; j < ms.length; j++) {
      var mi = ms[j]; if (mi.kind !== "increment" || mi.t < xmin || mi.t > xmax) continue;
      var xi = Math.round(u.valToPos(mi.t, "x", true)) + 0.5, s = 5 * devicePixelRatio;
      ctx.fillStyle = "#0b6e99"; ctx.beginPath(); ctx.moveTo(xi - s, b.top); ctx.lineTo(xi + s, b.top); ctx.lineTo(xi, b.top + s * 1.6); ctx.fill();
      ctx.strokeStyle = "rgba(11,110,153,0.35)"; ctx.lineWidth = devicePixelRatio; ctx.setLineDash([]); ctx.beginPath(); ctx.moveTo(xi, b.top); ctx.lineTo(xi, b.top + b.height); ctx.stroke();
      label(mi.label, xi, "#0b6e99");
    }
    ctx.restore();
    // labels in rows so they do not overlap: the first row whose last label ends left of x
    function label(text, x, color) {
      ctx.font = (11 * devicePixelRatio) + "px sans-serif"; ctx.textAlign = "left";
      var w = ctx.measureText(text).width, pad = 3 * devicePixelRatio, row = 0;
      while (row < rows.length && rows[row] > x) row++;
      if (row >= 6) return;
      rows[row] = x + pad + w + 4 * devicePixelRatio;
      ctx.fillStyle = "rgba(255,255,255,0.8)"; ctx.fillRect(x + pad - 1, b.top + (3 + row * 13) * devicePixelRatio, w + 2, 12 * devicePixelRatio);
      ctx.fillStyle = color; ctx.fillText(text, x + pad, b.top + (13 + row * 13) * devicePixelRatio);
    }
  }] } };
}
/** Horizontal limit lines with their labels: [{ value, label, color }]. */
function limitsPlugin(lines) {
  return { hooks: { draw: [function (u) {
    var ctx = u.ctx, b = u.bbox; ctx.save();
    for (var i = 0; i < lines.length; i++) {
      var L = lines[i], y = Math.round(u.valToPos(L.value, "y", true)) + 0.5;
      if (y < b.top || y > b.top + b.height) continue;
      ctx.strokeStyle = L.color; ctx.lineWidth = 2 * devicePixelRatio; ctx.setLineDash([8 * devicePixelRatio, 4 * devicePixelRatio]);
      ctx.beginPath(); ctx.moveTo(b.left, y); ctx.lineTo(b.left + b.width, y); ctx.stroke();
      // the label under the line at the left, on white, clear of the marker labels along the top
      ctx.font = "bold " + (11 * devicePixelRatio) + "px sans-serif"; ctx.textAlign = "left";
      var w = ctx.measureText(L.label).width, lx = b.left + 6 * devicePixelRatio, ly = y + 14 * devicePixelRatio;
      ctx.fillStyle = "rgba(255,255,255,0.9)"; ctx.fillRect(lx - 2, ly - 11 * devicePixelRatio, w + 4, 14 * devicePixelRatio);
      ctx.fillStyle = L.color; ctx.fillText(L.label, lx, ly);
    }
    ctx.restore();
  }] } };
}
/** Labels a stepped series (the cap) where its value changes: "cap 3.50 mL". */
function stepLabelsPlugin(seriesIdx, prefix, unit, digits, color) {
  return { hooks: { draw: [function (u) {
    var ctx = u.ctx, d = u.data[seriesIdx], xs = u.data[0], prev = null; ctx.save();
    ctx.font = "bold " + (11 * devicePixelRatio) + "px sans-serif"; ctx.textAlign = "left"; ctx.fillStyle = color;
    for (var i = 0; i < d.length; i++) {
      var v = d[i]; if (v == null || v === prev) { if (v != null) prev = v; continue; }
      prev = v;
      if (xs[i] < u.scales.x.min || xs[i] > u.scales.x.max) continue;
      var x = Math.max(u.bbox.left, u.valToPos(xs[i], "x", true)) + 4 * devicePixelRatio, y = u.valToPos(v, "y", true) + 14 * devicePixelRatio;
      var text = prefix + (+v).toFixed(digits) + unit, w = ctx.measureText(text).width;
      ctx.fillStyle = "rgba(255,255,255,0.9)"; ctx.fillRect(x - 2, y - 11 * devicePixelRatio, w + 4, 14 * devicePixelRatio);
      ctx.fillStyle = color; ctx.fillText(text, x, y);
    }
    ctx.restore();
  }] } };
}
function legendHtml() {
  return '<span><i class="sw" style="background:rgba(240,160,32,0.35)"></i>pause</span>' +
    '<span><i class="sw" style="background:#d62728"></i>leak</span>' +
    '<span><i class="sw" style="background:#7b3fb5"></i>alarm</span>' +
    '<span><i class="sw" style="background:#2a7f62"></i>level end</span>' +
    '<span><i class="sw" style="background:#0b6e99"></i>increment</span>' +
    '<span><i class="sw" style="background:rgba(136,136,136,0.45)"></i>no data (disconnected)</span>';
}
`
