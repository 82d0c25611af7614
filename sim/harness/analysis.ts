// Stop analysis on the plant's dense history: when did the drive stop moving
// forward after a trigger, how much cement left the needle afterwards.
import { MotionChange, PlantSeries } from "./plant"

export interface StopRecord {
    trigger: string
    /** scenario time of the physical trigger, s */
    atS: number
    /** trigger -> drive no longer moving forward, ms (null: it never stopped) */
    latencyMs: number | null
    /** volume out of the needle after the trigger (peak before the next advance), mL */
    afterflowMl: number
    /** of which into open leak paths, mL */
    leakAfterflowMl: number
    /** scenario time the drive stopped, s */
    stoppedAtS: number | null
    /** first firmware transition after the trigger (reason name), if any */
    firmwareReason?: string
    /** firmware state entered by that transition */
    firmwareState?: string
    note?: string
}

/** Was the drive moving forward at tS (per the recorded motion changes)? */
export function forwardAt(motion: MotionChange[], tS: number): boolean {
    let f = false
    for (const m of motion) {
        if (m.tS > tS + 1e-9) break
        f = m.forward
    }
    return f
}

/** First instant >= tS at which forward motion ended (null: never). */
export function stopAfter(motion: MotionChange[], tS: number): number | null {
    if (!forwardAt(motion, tS)) {
        // already not moving forward at the trigger
        return tS
    }
    for (const m of motion) if (m.tS >= tS - 1e-9 && !m.forward) return m.tS
    return null
}

/** First forward start strictly after tS (Infinity: none). */
export function nextForwardStart(motion: MotionChange[], tS: number): number {
    for (const m of motion) if (m.tS > tS + 1e-9 && m.forward) return m.tS
    return Infinity
}

export function analyseStop(series: PlantSeries, motion: MotionChange[], trigger: string, tS: number, knownStopS?: number): StopRecord {
    const moving = knownStopS !== undefined || forwardAt(motion, tS)
    const stop = knownStopS ?? stopAfter(motion, tS)
    const until = Math.min(nextForwardStart(motion, stop ?? tS), series.t.length ? series.t[series.t.length - 1] : tS)
    const from = Math.min(tS, stop ?? tS)
    const i0 = Math.min(series.indexAt(from), series.t.length - 1)
    const i1 = Math.min(series.indexAt(until), series.t.length - 1)
    let peakInj = series.injected[i0] ?? 0
    let peakLeak = series.leaked[i0] ?? 0
    for (let i = i0; i <= i1; i++) {
        if (series.injected[i] > peakInj) peakInj = series.injected[i]
        if (series.leaked[i] > peakLeak) peakLeak = series.leaked[i]
    }
    return {
        trigger,
        atS: round(tS, 4),
        latencyMs: stop === null ? null : round((stop - tS) * 1000, 1),
        afterflowMl: round(peakInj - (series.injected[i0] ?? 0), 5),
        leakAfterflowMl: round(peakLeak - (series.leaked[i0] ?? 0), 5),
        stoppedAtS: stop === null ? null : round(stop, 4),
        note: moving ? undefined : "drive was not moving forward at the trigger",
    }
}

/**
 * The cap trigger: the instant the firmware's notion of delivered volume
 * (max plunger displacement since the level started, across exchanged
 * syringes: FLOW-5) reaches the cap. When
 * the drive stopped short of it (the firmware anticipates by one control
 * period + bus latency), the instant is extrapolated at the advance speed
 * before the stop and `stopS` is that stop, so the latency comes out
 * negative by the anticipation.
 */
export function capTrigger(
    series: PlantSeries,
    motion: MotionChange[],
    levelStartS: number,
    capMl: number,
    capEventS?: number
): { tS: number; stopS?: number } | undefined {
    const i0 = series.indexAt(levelStartS)
    if (i0 >= series.t.length) return undefined
    const d0 = series.pushed[i0]
    let maxD = d0
    for (let i = i0; i < series.t.length; i++) {
        if (series.pushed[i] > maxD) maxD = series.pushed[i]
        if (maxD - d0 >= capMl) return { tS: series.t[i] }
    }
    if (capEventS === undefined) return undefined
    // stopped short: the last forward->stop change before the firmware's cap event arrived
    let stop: number | undefined
    for (const m of motion) if (!m.forward && m.tS <= capEventS + 0.05) stop = m.tS
    if (stop === undefined) return undefined
    const is = Math.min(series.indexAt(stop), series.t.length - 1)
    const ib = Math.max(i0, series.indexAt(stop - 0.1))
    const dt = series.t[is] - series.t[ib]
    const v = dt > 0 ? (series.pushed[is] - series.pushed[ib]) / dt : 0
    let maxBefore = d0
    for (let i = i0; i <= is; i++) if (series.pushed[i] > maxBefore) maxBefore = series.pushed[i]
    const short = capMl - (maxBefore - d0)
    return v > 1e-9 ? { tS: stop + short / v, stopS: stop } : undefined
}

/** First instant the chamber pressure reaches `pa` while advancing, after fromS. */
export function pressureCrossingS(series: PlantSeries, motion: MotionChange[], pa: number, fromS = 0): number | undefined {
    for (let i = series.indexAt(fromS); i < series.t.length; i++)
        if (series.pc[i] >= pa && forwardAt(motion, series.t[i])) {
            // the first sample at/above, interpolated
            if (i > 0 && series.pc[i - 1] < pa) {
                const f = (pa - series.pc[i - 1]) / (series.pc[i] - series.pc[i - 1])
                return series.t[i - 1] + f * (series.t[i] - series.t[i - 1])
            }
            return series.t[i]
        }
    return undefined
}

/** Needle occlusion onset (first point with factor > 1). */
export function occlusionOnsetS(series: PlantSeries): number | undefined {
    for (let i = 0; i < series.t.length; i++) if (series.occl[i] > 1) return series.t[i]
    return undefined
}

export function round(v: number, digits: number): number {
    if (!Number.isFinite(v)) return v
    const k = Math.pow(10, digits)
    return Math.round(v * k) / k
}

export function median(xs: number[]): number {
    if (!xs.length) return NaN
    const s = [...xs].sort((a, b) => a - b)
    const m = s.length >> 1
    return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2
}
