// Console rendering: the live view (npm start, sim/run.ts --live) and the
// one-screen summary of a result.
import { LiveView, ScenarioResult } from "./runner"

const f = (v: number, d: number) => (Number.isFinite(v) ? v.toFixed(d) : "-")
const mpa = (pa: number) => f(pa / 1e6, 2)

let lastLines = 0
let lastPlain = -Infinity
let lastEventKey = ""

/** Redraw the live view in place (tty) or print one line per call (pipe). */
export function formatLive(v: LiveView, tty: boolean) {
    const bar = (frac: number, width = 30) => {
        const n = Math.max(0, Math.min(width, Math.round(frac * width)))
        return "[" + "#".repeat(n) + ".".repeat(width - n) + "]"
    }
    if (!tty) {
        // pipes and logs: one line a second, plus one per new event
        const ev = v.lastEvents[v.lastEvents.length - 1]
        const key = ev ? `${ev.tS}${ev.type}${ev.reason}` : ""
        if (key !== lastEventKey && ev) {
            lastEventKey = key
            console.log(`t=${f(ev.tS, 2)}s event ${ev.type} ${ev.reason}${ev.to ? ` -> ${ev.to}` : ""}${ev.command ? ` ${ev.command}` : ""}${ev.reject ? ` (${ev.reject})` : ""}`)
        }
        if (v.tS - lastPlain < 1) return
        lastPlain = v.tS
        console.log(
            `t=${f(v.tS, 1)}s ${v.state}(${v.reason}) vol ${f(v.volumeMl, 3)}/${f(v.capMl, 2)} mL  p ${mpa(v.pressurePa)} MPa  flow ${f(v.flowMlPerMin, 2)} mL/min  out ${f(v.injectedMl, 3)} mL leak ${f(v.leakedMl, 3)} mL`
        )
        return
    }
    const lines = [
        `t ${f(v.tS, 1).padStart(5)} / ${v.durationS} s   state ${v.state.toUpperCase()} (${v.reason})`,
        `volume   ${bar(v.volumeMl / v.capMl)} ${f(v.volumeMl, 3)} / ${f(v.capMl, 2)} mL (firmware, encoder)`,
        `pressure ${bar(v.pressurePa / 3.5e6)} ${mpa(v.pressurePa)} MPa (firmware)  chamber ${mpa(v.chamberPa)} MPa (model)`,
        `flow     ${f(v.flowMlPerMin, 2)} mL/min    out of the needle ${f(v.injectedMl, 3)} mL, into leaks ${f(v.leakedMl, 3)} mL`,
        `events:`,
        ...v.lastEvents.map(e => `  ${f(e.tS, 2).padStart(7)} s  ${e.type.padEnd(15)} ${e.reason}${e.to ? ` -> ${e.to}` : ""}${e.command ? ` ${e.command}` : ""}${e.reject ? ` (${e.reject})` : ""}`),
    ]
    while (lines.length < 11) lines.push("")
    let out = ""
    if (lastLines) out += `\x1b[${lastLines}A`
    out += lines.map(l => l.padEnd(100).slice(0, 100) + "\x1b[K").join("\n") + "\n"
    process.stdout.write(out)
    lastLines = lines.length
}

export function formatSummary(r: ScenarioResult): string {
    const lines = [
        `${r.name}: ${r.verdict.pass ? "PASS" : "FAIL"}  final ${r.finalState} (${r.finalReason})`,
        `  out of the needle ${f(r.injectedMl, 4)} mL (body ${f(r.bodyFilledMl, 4)}, leaks ${f(r.leakedMl, 4)}); firmware ${f(r.reportedMl, 4)} mL; cap ${r.capMl} mL; overshoot ${f(r.overshootMl, 4)} mL`,
        `  peak pressure ${mpa(r.peakPressurePa)} MPa (model chamber)${r.reportedPeakPressurePa !== null ? `, ${mpa(r.reportedPeakPressurePa)} MPa (firmware record)` : ""}`,
        ...r.stops.map(
            s =>
                `  stop ${s.trigger.padEnd(18)} at ${f(s.atS, 2)} s: latency ${s.latencyMs === null ? "never" : f(s.latencyMs, 1) + " ms"}, afterflow ${f(s.afterflowMl, 4)} mL${s.firmwareReason ? `, firmware ${s.firmwareState}(${s.firmwareReason})` : ""}${s.note ? ` [${s.note}]` : ""}`
        ),
        `  leak detector: ${r.leakDetector.leakOpenedAtS === null ? "no leak" : `leak at ${r.leakDetector.leakOpenedAtS} s, ${r.leakDetector.detected ? "detected" : "not detected"}`}, false alarms ${r.leakDetector.falseAlarms}`,
        `  ${r.events.length} events, ${r.rejected.length} rejected, ${r.confirmPresses} confirm presses; samples ${r.timing.sampleRateHz} Hz, telemetry ${r.timing.telemetryHz} Hz, firmware start ${r.timing.firmwareStartMs} ms, ${r.timing.wallS !== undefined ? `wall ${r.timing.wallS} s` : `${r.timing.clock} clock`}`,
        ...(r.error ? [`  error: ${r.error}`] : []),
        ...r.verdict.failures.map(x => `  FAIL: ${x}`),
    ]
    return lines.join("\n")
}
