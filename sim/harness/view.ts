// Console rendering: the live view (npm start, sim/run.ts --live) and the
// one-screen summary of a result. No value imports: sim/run.ts loads this
// before the lockstep clock, which must come before jacdac-ts.
import type { LiveView, ResultEvent, ScenarioResult } from "./result"

const f = (v: number, d: number) => (Number.isFinite(v) ? v.toFixed(d) : "-")
const mpa = (pa: number) => f(pa / 1e6, 2)

/** One event in a line: a command answer as "Start (seq 14) pending", the others by reason. */
function eventText(e: ResultEvent): string {
    if (e.type === "commandResult") return `${e.command} (seq ${e.seq}) ${e.outcome}${e.reject ? ` (${e.reject})` : ""}`
    return `${e.reason}${e.to ? ` -> ${e.to}` : ""}${e.command ? ` ${e.command}` : ""}${e.reject ? ` (${e.reject})` : ""}`
}

let lastLines = 0
let lastPlain = -Infinity
let lastPlainKey = ""
const printedEvents = new Set<string>()

/** Redraw the live view in place (tty) or print one line per call (pipe). */
export function formatLive(v: LiveView, tty: boolean) {
    const bar = (frac: number, width = 30) => {
        const n = Math.max(0, Math.min(width, Math.round(frac * width)))
        return "[" + "#".repeat(n) + ".".repeat(width - n) + "]"
    }
    if (!tty) {
        // pipes and logs: one line a second, plus one per new event
        // every event not printed yet (several may arrive between two views)
        for (const ev of v.lastEvents) {
            const key = `${ev.tS} ${ev.type} ${ev.reason} ${ev.seq ?? ""} ${ev.outcome ?? ""}`
            if (printedEvents.has(key)) continue
            printedEvents.add(key)
            console.log(`t=${f(ev.tS, 2)}s event ${ev.type} ${eventText(ev)}`)
        }
        // at most a line a second, and only while something moves: a run
        // that waits in paused prints its state once, not once a second
        const stateKey = `${v.state}${v.reason}${f(v.volumeMl, 3)}`
        if (v.tS - lastPlain < 1 || stateKey === lastPlainKey) return
        lastPlain = v.tS
        lastPlainKey = stateKey
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
        ...v.lastEvents.map(e => `  ${f(e.tS, 2).padStart(7)} s  ${e.type.padEnd(15)} ${eventText(e)}`),
    ]
    while (lines.length < 11) lines.push("")
    let out = ""
    if (lastLines) out += `\x1b[${lastLines}A`
    out += lines.map(l => l.padEnd(100).slice(0, 100) + "\x1b[K").join("\n") + "\n"
    process.stdout.write(out)
    lastLines = lines.length
}

/** "61 % of the cement out of the needle, venous 0.286 mL" */
export function leakShare(r: ScenarioResult): string {
    const pct = r.injectedMl > 0 ? Math.round((100 * r.leakedMl) / r.injectedMl) : 0
    const kinds = Object.entries(r.leakedByKind).filter(([, v]) => v > 0)
    return `${pct} % of the cement out of the needle${kinds.length ? ", " + kinds.map(([k, v]) => `${k} ${v.toFixed(3)} mL`).join(", ") : ""}`
}

/** The leak in plain words: a PASS of the safety functions is not a good procedure when the cement went into a vein. */
function leakLine(r: ScenarioResult): string[] {
    if (!(r.leakedMl > 0.0005)) return []
    const share = r.injectedMl > 0 ? r.leakedMl / r.injectedMl : 0
    const verdict = share >= 0.5 ? "MOST OF THE CEMENT LEAKED" : share >= 0.2 ? "a large leak" : "a small leak"
    return [`  leaked: ${f(r.leakedMl, 3)} mL, ${leakShare(r)}: ${verdict}`]
}

/** On the verdict line when a fifth or more of the cement leaked: a pass of the expectations is not a good procedure. */
export function leakWarning(r: ScenarioResult): string {
    const share = r.injectedMl > 0 ? r.leakedMl / r.injectedMl : 0
    return share >= 0.2 ? `  -- but ${Math.round(share * 100)} % of the cement leaked` : ""
}

export function formatSummary(r: ScenarioResult): string {
    const lines = [
        `${r.name}: ${r.verdict.pass ? "PASS" : "FAIL"}  final ${r.finalState} (${r.finalReason})${leakWarning(r)}`,
        `  out of the needle ${f(r.injectedMl, 4)} mL (body ${f(r.bodyFilledMl, 4)}, leaks ${f(r.leakedMl, 4)}); firmware ${f(r.reportedMl, 4)} mL; cap ${r.capMl} mL; overshoot ${f(r.overshootMl, 4)} mL`,
        ...leakLine(r),
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
