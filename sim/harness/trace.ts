// The per-sample trace of a run as CSV: the plant's truth at every load-cell
// sample with the firmware's latest telemetry merged in.
import { round } from "./analysis"
import { Telemetry } from "./injector"
import { TraceRow } from "./plant"
import { lowerState } from "./result"

/** CSV of the trace (one row per load-cell sample), with the firmware's latest telemetry merged in. */
export function traceCsv(trace: TraceRow[], telemetry: Telemetry[], t0Wall: number): string {
    const head = [
        "tS", "posMm", "velMmPerS", "enabled", "speedCmdMmPerS", "chamberPa", "bodyPa", "trueForceN", "sentForceN", "encoder",
        "injectedMl", "leakedMl", "displacementMl", "viscosityPaS", "lateMs", "fwState", "fwVolumeMl", "fwPressurePa", "fwFlowMlPerMin", "fwMotorSpeed",
    ]
    const lines = [head.join(",")]
    // telemetry samples on the scenario clock (device time re-based on the report's arrival)
    const fw: { tS: number; state: number; v: number; p: number; q: number; m: number }[] = []
    for (const t of telemetry) {
        const arr = (t.tHostMs - t0Wall) / 1000
        const last = t.samples.length ? t.samples[t.samples.length - 1].tDevMs : t.timeMs
        for (const s of t.samples) fw.push({ tS: arr - (last - s.tDevMs) / 1000, state: t.state, v: s.volumeMl, p: s.pressurePa, q: s.flowMlPerMin, m: s.motorSpeed })
    }
    fw.sort((a, b) => a.tS - b.tS)
    let j = 0
    const f = (v: number, d: number) => (Number.isFinite(v) ? round(v, d) : "")
    for (const r of trace) {
        while (j + 1 < fw.length && fw[j + 1].tS <= r.tS) j++
        const w = fw.length && fw[j].tS <= r.tS ? fw[j] : undefined
        lines.push(
            [
                f(r.tS, 4), f(r.posMm, 5), f(r.velMmPerS, 5), r.enabled ? 1 : 0, f(r.speedCmdMmPerS, 5), f(r.chamberPa, 0), f(r.bodyPa, 0),
                f(r.trueForceN, 3), r.sentForceN === null ? "" : Number.isNaN(r.sentForceN) ? "NaN" : f(r.sentForceN, 3), r.encoder,
                f(r.injectedMl, 5), f(r.leakedMl, 5), f(r.displacementMl, 5), f(r.viscosityPaS, 2), f(r.lateMs, 2),
                w ? lowerState(w.state) : "", w ? f(w.v, 5) : "", w ? f(w.p, 0) : "", w ? f(w.q, 3) : "", w ? f(w.m, 5) : "",
            ].join(",")
        )
    }
    return lines.join("\n") + "\n"
}
