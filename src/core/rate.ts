// Pressure-rate estimator (PRS-3) and leak signature detector (PRS-4).
//
// The rate is the least-squares slope of the last WINDOW pressure samples
// against their timestamps. Over 150 ms at 80 Hz the slope's noise is
// sigma / 0.23 s: 1.7 kPa of load-cell noise (0.5 N on a 20 mL bore) gives
// ~7 kPa/s, two orders below the 0.5 MPa/s cutoff, while a real blockage
// (pressure climbing at > 1 MPa/s) shows within a few samples. A cutoff
// needs `needSamples` consecutive estimates above it, so one spike cannot
// trip it.

export const RATE_WINDOW = 40

/**
 * PRS-3: the slope's noise for a pressure noise sigmaPa over the window at
 * the sample period: sigma / sqrt(sum (t - mean)^2). Noise is in newtons on
 * the cell, so small syringes (small area) see far more Pa of it.
 */
export function slopeNoisePaPerS(sigmaPa: number, samplePeriodMs: number): number {
    const spanS = (RATE_WINDOW * samplePeriodMs) / 1000
    const sumSq = (RATE_WINDOW * spanS * spanS) / 12
    return sigmaPa / Math.sqrt(sumSq)
}

export class RateEstimator {
    private ts: number[] = []
    private ps: number[] = []
    private head = 0
    private n = 0
    private above = 0
    // running sums over the window (time relative to t0, s): O(1) per sample
    private t0 = 0
    private st = 0
    private sp = 0
    private stt = 0
    private stp = 0
    /** latest slope, Pa/s (NaN until the window is full) */
    ratePaPerS = NaN

    constructor() {
        for (let i = 0; i < RATE_WINDOW; ++i) {
            this.ts.push(0)
            this.ps.push(0)
        }
    }

    reset() {
        this.n = 0
        this.head = 0
        this.above = 0
        this.st = 0
        this.sp = 0
        this.stt = 0
        this.stp = 0
        this.ratePaPerS = NaN
    }

    /** Adds a sample; returns the number of consecutive samples above thresholdPaPerS. */
    add(tMs: number, pressurePa: number, thresholdPaPerS: number): number {
        if (this.n === 0) this.t0 = tMs
        const t = (tMs - this.t0) / 1000
        if (this.n === RATE_WINDOW) {
            const ot = this.ts[this.head]
            const op = this.ps[this.head]
            this.st -= ot
            this.sp -= op
            this.stt -= ot * ot
            this.stp -= ot * op
        } else this.n++
        this.ts[this.head] = t
        this.ps[this.head] = pressurePa
        this.st += t
        this.sp += pressurePa
        this.stt += t * t
        this.stp += t * pressurePa
        this.head = (this.head + 1) % RATE_WINDOW
        if (this.n < RATE_WINDOW) {
            this.ratePaPerS = NaN
            this.above = 0
            return 0
        }
        const k = RATE_WINDOW
        const den = k * this.stt - this.st * this.st
        this.ratePaPerS = den > 0 ? (k * this.stp - this.st * this.sp) / den : 0
        if (this.ratePaPerS > thresholdPaPerS) this.above++
        else this.above = 0
        return this.above
    }
}

/**
 * PRS-4: a fall of more than `dropFraction` of the pressure within ~1 s at
 * constant commanded flow. Keeps one smoothed value per 100 ms in a ring of
 * 11 slots, and compares now with 1 s ago. Advisory: the plunger mostly sees
 * the needle, so a leak moves it by only a few percent (CLINICAL-BASIS).
 */
const SLOT_MS = 100
const SLOTS = 11

export class LeakSignature {
    private slots: number[] = []
    private filled = 0
    private slotStartMs = -1
    private acc = 0
    private accN = 0
    private head = 0

    constructor() {
        for (let i = 0; i < SLOTS; ++i) this.slots.push(0)
    }

    reset() {
        this.filled = 0
        this.slotStartMs = -1
        this.acc = 0
        this.accN = 0
        this.head = 0
    }

    /**
     * Adds a pressure sample; returns the fractional drop over the last
     * second (0 when not yet known or rising).
     */
    add(tMs: number, pressurePa: number): number {
        if (this.slotStartMs < 0) this.slotStartMs = tMs
        this.acc += pressurePa
        this.accN++
        if (tMs - this.slotStartMs < SLOT_MS) return this.dropNow()
        this.slots[this.head] = this.acc / this.accN
        this.head = (this.head + 1) % SLOTS
        if (this.filled < SLOTS) this.filled++
        this.acc = 0
        this.accN = 0
        this.slotStartMs = tMs
        return this.dropNow()
    }

    private dropNow(): number {
        if (this.filled < SLOTS) return 0
        // head points at the oldest slot (1 s ago); the newest is just behind it
        const old = this.slots[this.head]
        const now = this.slots[(this.head + SLOTS - 1) % SLOTS]
        if (old <= 0) return 0
        const drop = (old - now) / old
        return drop > 0 ? drop : 0
    }
}

/**
 * PRS-3 by pressure per delivered volume: with the outlet occluded every
 * mL the plunger displaces only compresses the system, so pressure climbs
 * at 1/compliance per mL (>= 3.3 MPa/mL for compliance <= 0.3 mL/MPa),
 * whatever the flow; at steady flow it stays level. Keeps the mean pressure
 * and the encoder volume of every 100 ms in a ring over 3 s. Two things
 * also raise the pressure and are not a blockage:
 * - curing: a creep in proportion to the pressure (~1 %/s), smooth. Each
 *   span (the last 1 s and 2 s) is judged on its rise in excess of the creep
 *   of the second before it, so a creep of any size cancels and only a
 *   change of slope counts;
 * - the pressurisation after a start: with entrained air the gas takes the
 *   plunger's volume with little rise at low pressure, then stiffens and
 *   the rise steepens as an occlusion's does. The check arms only once the
 *   pressure has levelled (levelled(): judged relative to the pressure, not
 *   in Pa), and never judges a span reaching back before that.
 * The time scale, not a dP/dt threshold, makes it work from 0.5 to 6 mL/min
 * and from 0 to 5 % air.
 */
const OCC_SLOT_MS = 100
const OCC_SLOTS = 31
/**
 * PRS-3 levelled: over the last 1 s the pressure rose by less than this
 * fraction of itself. Curing creeps ~1 %/s; entrained air being compressed
 * rises faster than this relative to its own pressure (at least as fast as
 * the volume pushed into it grows) until the needle flow has caught up.
 */
export const LEVEL_RISE_PER_S = 0.05
/**
 * PRS-3 levelled, or: the pressure per mL has peaked above the trip slope
 * and fallen below this fraction of its peak (the pressurisation is past its
 * steepest point and slowing: a stiff syringe gets there within ~1 s).
 */
export const LEVEL_PAST_PEAK_FRACTION = 0.5
/** PRS-3 levelled: for this many consecutive 100 ms judgements (noise cannot arm it with one lucky slot) */
export const LEVEL_HOLD = 5
/**
 * PRS-3 during the pressurisation: the per-volume slope is judged over the
 * last slots that together carry at least this much plunger volume, mL (at
 * 0.5 mL/min 1.8 s; one slot's mean noise, 0.6 kPa at 20 mL, is then < 0.1
 * MPa/mL of slope, against peaks of 2-40 MPa/mL)
 */
export const RERISE_WINDOW_ML = 0.015
/** ... and over at least this many slots */
export const RERISE_MIN_SLOTS = 3
/**
 * ... past its peak: this many consecutive judgements below RERISE_PAST_FRACTION
 * of it (the needle then carries ~70 % of the flow or more)
 */
export const RERISE_PAST_HOLD = 3
export const RERISE_PAST_FRACTION = 0.75

export class OcclusionDetector {
    private ps: number[] = []
    private vs: number[] = []
    private filled = 0
    private head = 0
    private slotStartMs = -1
    private accP = 0
    private accN = 0
    /** pressure per volume over the last 1 s, Pa/mL (0 before 1 s of history or without delivery) */
    paPerMl = 0
    /** the largest excess rise per volume judged last (creep removed), Pa/mL */
    excessPaPerMl = 0
    /** consecutive judgements that found the pressure levelled (see levelled()) */
    levelledFor = 0
    /** slots since the pressure was first found levelled (-1: not yet) */
    private sinceLevel = -1
    /** the largest 1 s pressure per mL since reset, Pa/mL */
    private peakPaPerMl = 0
    // PRS-3 during the pressurisation (reRise)
    /** the per-volume slope over the last RERISE_WINDOW_ML, Pa/mL (0 before enough volume) */
    windowPaPerMl = 0
    private risePeakPaPerMl = 0
    private riseBelow = 0
    private risePast = false
    /**
     * PRS-3 during the pressurisation: the per-volume slope had passed its peak
     * (the needle had begun to carry the flow) and has climbed back above that
     * peak. Set per slot.
     */
    reRise = false

    constructor() {
        for (let i = 0; i < OCC_SLOTS; ++i) {
            this.ps.push(0)
            this.vs.push(0)
        }
    }

    reset() {
        this.filled = 0
        this.head = 0
        this.slotStartMs = -1
        this.accP = 0
        this.accN = 0
        this.paPerMl = 0
        this.excessPaPerMl = 0
        this.levelledFor = 0
        this.sinceLevel = -1
        this.peakPaPerMl = 0
        this.windowPaPerMl = 0
        this.risePeakPaPerMl = 0
        this.riseBelow = 0
        this.risePast = false
        this.reRise = false
    }

    /**
     * PRS-3: the pressurisation has levelled off: for LEVEL_HOLD judgements
     * in a row the pressure was above the trip rise (pressurised at all) and
     * over the last 1 s either rose by less than LEVEL_RISE_PER_S of itself,
     * or rose per mL by less than LEVEL_PAST_PEAK_FRACTION of its peak since
     * the start, a peak above the trip slope. An absolute "rose less than
     * x Pa" test is fooled by entrained air (a few kPa per s at 0.5 mL/min
     * while the gas is soft, steepening as it compresses).
     */
    levelled(): boolean {
        return this.levelledFor >= LEVEL_HOLD
    }

    /**
     * PRS-3 during the pressurisation, before the pressure has levelled. The
     * plunger's volume either compresses the cement and its air or leaves
     * through the needle: dP/dV = (1 - f) / S'(P), f the needle's share of
     * the flow. As the gas stiffens the slope climbs; as the needle takes
     * over (f -> 1) it falls: a normal start passes one peak. An occlusion
     * sets f to 0, and the slope climbs back to 1 / S'(P), above the peak,
     * since the gas is stiffer at the higher pressure. Before the peak an
     * occlusion cannot be told from a cement whose steady pressure is above
     * the limit (both follow the gas curve; PRS-2 stops both). `floorPa`:
     * windows starting below it do not count towards the peak.
     */
    private judgeReRise(p: number, volumeMl: number, limitPaPerMl: number, minRisePa: number, floorPa: number) {
        this.reRise = false
        this.windowPaPerMl = 0
        let back = RERISE_MIN_SLOTS
        while (back < this.filled - 1 && volumeMl - this.vs[this.at(back)] < RERISE_WINDOW_ML) back++
        if (back >= this.filled) return
        const j = this.at(back)
        const dv = volumeMl - this.vs[j]
        if (dv < RERISE_WINDOW_ML) return
        const dp = p - this.ps[j]
        const k = dp / dv
        this.windowPaPerMl = k
        if (this.risePast) {
            this.reRise = k > this.risePeakPaPerMl && dp > minRisePa
            return
        }
        // the peak counts only on windows starting above floorPa: the seal's
        // friction changing as the plunger starts (or reverses after a
        // decompression) makes a step in the measured pressure, a false early peak
        if (this.ps[j] < floorPa) return
        if (k > this.risePeakPaPerMl) this.risePeakPaPerMl = k
        if (this.risePeakPaPerMl > limitPaPerMl && k < RERISE_PAST_FRACTION * this.risePeakPaPerMl) this.riseBelow++
        else this.riseBelow = 0
        if (this.riseBelow >= RERISE_PAST_HOLD) this.risePast = true
    }

    /** Mean pressure of one slot is this noisy for a per-sample sigma (samples per slot at 80 Hz). */
    static slotNoisePa(sigmaPa: number): number {
        return sigmaPa / Math.sqrt(OCC_SLOT_MS / 12.5)
    }

    private at(back: number): number {
        return (this.head - 1 - back + 2 * OCC_SLOTS) % OCC_SLOTS
    }

    /**
     * Adds a sample (pressure, encoder volume so far). Returns true when, over
     * the last 1 s or 2 s, the rise in excess of the preceding second's creep
     * exceeds `minRisePa` and `limitPaPerMl` per mL delivered meanwhile, on
     * spans that lie wholly after the pressure levelled off.
     */
    add(tMs: number, pressurePa: number, volumeMl: number, limitPaPerMl: number, minRisePa: number, floorPa: number): boolean {
        if (this.slotStartMs < 0) this.slotStartMs = tMs
        this.accP += pressurePa
        this.accN++
        if (tMs - this.slotStartMs < OCC_SLOT_MS) return false
        const p = this.accP / this.accN
        this.ps[this.head] = p
        this.vs[this.head] = volumeMl
        this.head = (this.head + 1) % OCC_SLOTS
        if (this.filled < OCC_SLOTS) this.filled++
        this.accP = 0
        this.accN = 0
        this.slotStartMs = tMs
        // levelled: the last 1 s (10 slots)
        let level = false
        this.paPerMl = 0
        if (this.filled > 10) {
            const j = this.at(10)
            const dp = p - this.ps[j]
            const dv = volumeMl - this.vs[j]
            if (dv > 0) this.paPerMl = dp / dv
            if (this.paPerMl > this.peakPaPerMl) this.peakPaPerMl = this.paPerMl
            const pastPeak = this.peakPaPerMl > limitPaPerMl && this.paPerMl < LEVEL_PAST_PEAK_FRACTION * this.peakPaPerMl
            level = dv > 0 && p > minRisePa && (dp < LEVEL_RISE_PER_S * p || pastPeak)
        }
        if (level) this.levelledFor++
        else this.levelledFor = 0
        this.judgeReRise(p, volumeMl, limitPaPerMl, minRisePa, floorPa)
        if (this.sinceLevel >= 0) this.sinceLevel++
        else if (this.levelledFor > 0) this.sinceLevel = 0
        // spans of 1 and 2 s, each against the creep of the second before it;
        // the earliest slot used must lie inside the quiet second that levelled it
        let hit = false
        this.excessPaPerMl = 0
        for (let k = 10; k <= 20; k += 10) {
            if (this.filled <= k + 10 || this.sinceLevel < k) break
            const j = this.at(k)
            const dv = volumeMl - this.vs[j]
            if (dv <= 0) continue
            const creep = this.ps[j] - this.ps[this.at(k + 10)]
            const excess = p - this.ps[j] - (k / 10) * (creep > 0 ? creep : 0)
            const r = excess / dv
            if (r > this.excessPaPerMl) this.excessPaPerMl = r
            if (excess > minRisePa && r > limitPaPerMl) hit = true
        }
        return hit
    }
}
