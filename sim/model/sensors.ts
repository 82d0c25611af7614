// Sensor models: the load cell under the plunger (read by the firmware as a
// Jacdac WeightScale, kg) and the plunger encoder (RotaryEncoder, counts).
// SIM-1 sensor models; fault modes for FAULT-1 / FAULT-2 scenarios.

import { Rng } from "./rng"

/** Standard gravity: a WeightScale reports force / g in kg. */
export const STANDARD_GRAVITY_M_PER_S2 = 9.80665

export type LoadCellFault = "stale" | "saturated" | "nan"

export interface LoadCellConfig {
    /** output data rate, Hz; default 80 (NAU7802 / HX711 fast mode) */
    sampleRateHz?: number
    /** Gaussian noise standard deviation, N; default 0.3 */
    noiseN?: number
    /**
     * quantisation step, N; default 0.02 N (~2000 N over 2^17: the noise-free
     * resolution a 24-bit delta-sigma ADC such as the NAU7802 reaches in practice)
     */
    lsbN?: number
    /** the reading clips at +/- this force, N; default 2000 */
    fullScaleN?: number
    /** zero offset added to the true force, N (uncalibrated cell); default 0 */
    offsetN?: number
    /** gain error factor (1 = calibrated); default 1 */
    gain?: number
}

export interface LoadCellSample {
    tS: number
    forceN: number
    /** what a WeightScale reports: forceN / 9.80665 */
    massKg: number
}

export const DEFAULT_LOAD_CELL_RATE_HZ = 80
export const DEFAULT_LOAD_CELL_NOISE_N = 0.3
export const DEFAULT_LOAD_CELL_LSB_N = 0.02
export const DEFAULT_LOAD_CELL_FULL_SCALE_N = 2000

/**
 * A load cell + ADC sampling on a fixed grid k / rate. Call `poll` after each
 * physics step with the force at the start and end of the step; it returns
 * the samples whose instants fell inside the step (force interpolated).
 */
export class LoadCell {
    readonly sampleRateHz: number
    readonly noiseN: number
    readonly lsbN: number
    readonly fullScaleN: number
    offsetN: number
    gain: number
    private readonly rng: Rng
    private fault: LoadCellFault | null = null
    private nextIndex = 1

    constructor(rng: Rng, config: LoadCellConfig = {}) {
        this.rng = rng
        this.sampleRateHz = config.sampleRateHz ?? DEFAULT_LOAD_CELL_RATE_HZ
        this.noiseN = config.noiseN ?? DEFAULT_LOAD_CELL_NOISE_N
        this.lsbN = config.lsbN ?? DEFAULT_LOAD_CELL_LSB_N
        this.fullScaleN = config.fullScaleN ?? DEFAULT_LOAD_CELL_FULL_SCALE_N
        this.offsetN = config.offsetN ?? 0
        this.gain = config.gain ?? 1
        if (!(this.sampleRateHz > 0)) throw new RangeError("loadCell.sampleRateHz must be > 0")
        if (!(this.noiseN >= 0)) throw new RangeError("loadCell.noiseN must be >= 0")
        if (!(this.lsbN >= 0)) throw new RangeError("loadCell.lsbN must be >= 0")
        if (!(this.fullScaleN > 0)) throw new RangeError("loadCell.fullScaleN must be > 0")
    }

    /** Inject a fault (null clears it). stale: no samples; saturated: reads +full scale; nan: NaN. */
    setFault(fault: LoadCellFault | null): void {
        this.fault = fault
    }

    /** A fault is injected (the cell does not read live). */
    faulted(): boolean {
        return this.fault !== null
    }

    getFault(): LoadCellFault | null {
        return this.fault
    }

    /** Time of the next sample instant, s. */
    nextSampleTS(): number {
        return this.nextIndex / this.sampleRateHz
    }

    /** One conversion of a true force (noise, offset, gain, quantisation, clipping, faults). */
    convert(trueForceN: number): number {
        // always draw first, so a fault does not shift the noise of later samples
        const noise = this.noiseN * this.rng.gaussian()
        if (this.fault === "nan") return NaN
        if (this.fault === "saturated") return this.fullScaleN
        let f = (trueForceN + this.offsetN) * this.gain + noise
        if (this.lsbN > 0) f = Math.round(f / this.lsbN) * this.lsbN
        return Math.max(-this.fullScaleN, Math.min(this.fullScaleN, f))
    }

    /**
     * Samples with instants in (t0S, t1S]; the true force is interpolated
     * linearly between force0N (at t0S) and force1N (at t1S). A stale cell
     * produces nothing (its sample grid keeps running).
     */
    poll(t0S: number, t1S: number, force0N: number, force1N: number): LoadCellSample[] {
        const out: LoadCellSample[] = []
        const eps = 1e-9
        while (this.nextIndex / this.sampleRateHz <= t1S + eps) {
            const tS = this.nextIndex / this.sampleRateHz
            this.nextIndex++
            const frac = t1S > t0S ? Math.max(0, Math.min(1, (tS - t0S) / (t1S - t0S))) : 1
            const f = force0N + (force1N - force0N) * frac
            if (this.fault === "stale") {
                this.rng.gaussian() // keep the noise stream aligned with the grid
                continue
            }
            const forceN = this.convert(f)
            out.push({ tS, forceN, massKg: forceN / STANDARD_GRAVITY_M_PER_S2 })
        }
        return out
    }
}

export interface EncoderConfig {
    /** lead screw lead, mm per turn; default 2 */
    leadMm?: number
    /** encoder pulses per revolution; default 600 (x4 quadrature = 2400 counts/turn) */
    pulsesPerRev?: number
}

export const DEFAULT_LEAD_MM = 2
export const DEFAULT_ENCODER_PPR = 600

/**
 * Quadrature encoder on the lead screw: integer counts of plunger position.
 * 2 mm lead, 600 PPR x 4 edges = 1200 counts/mm (~0.24 uL per count on a
 * 20 mL syringe). Faults: stuck (count freezes), jump (adds N counts once).
 */
export class Encoder {
    readonly countsPerMm: number
    readonly countsPerTurn: number
    private stuckAt: number | null = null
    private offsetCounts = 0
    /** under-reading: counts for motion after scaleFromMm are multiplied by this (1 = true) */
    private scale = 1
    private scaleFromMm = 0

    constructor(config: EncoderConfig = {}) {
        const lead = config.leadMm ?? DEFAULT_LEAD_MM
        const ppr = config.pulsesPerRev ?? DEFAULT_ENCODER_PPR
        if (!(lead > 0) || !(ppr > 0)) throw new RangeError("encoder.leadMm and pulsesPerRev must be > 0")
        this.countsPerTurn = ppr * 4
        this.countsPerMm = this.countsPerTurn / lead
    }

    /** Count for a plunger position (what the encoder would report now). */
    read(plungerPosMm: number): number {
        if (this.stuckAt !== null) return this.stuckAt
        const mm = this.scale === 1 ? plungerPosMm : this.scaleFromMm + (plungerPosMm - this.scaleFromMm) * this.scale
        return Math.round(mm * this.countsPerMm) + this.offsetCounts
    }

    /** Under-read (factor < 1) or over-read motion from now on (a slipping wheel); 1 restores the true count rate. */
    setScale(factor: number, plungerPosMm: number): void {
        if (!(factor > 0)) throw new RangeError(`encoder scale must be > 0, got ${factor}`)
        // keep the count continuous at the change
        const before = this.read(plungerPosMm)
        this.scale = factor
        this.scaleFromMm = plungerPosMm
        this.offsetCounts += before - this.read(plungerPosMm)
    }

    /** The count drops to zero (a decoder reset), motion counts on from there. */
    resetToZero(plungerPosMm: number): void {
        const c = this.read(plungerPosMm)
        this.offsetCounts -= c
        if (this.stuckAt !== null) this.stuckAt = 0
    }

    /** Freeze the count at its present value (stuck), or release it. */
    setStuck(stuck: boolean, plungerPosMm: number): void {
        if (stuck && this.stuckAt === null) this.stuckAt = this.read(plungerPosMm)
        if (!stuck) this.stuckAt = null
    }

    isStuck(): boolean {
        return this.stuckAt !== null
    }

    /** Add `counts` to the reported position once (a glitch the firmware must catch). */
    jump(counts: number): void {
        if (!Number.isInteger(counts)) throw new RangeError(`encoder jump must be an integer count, got ${counts}`)
        this.offsetCounts += counts
        if (this.stuckAt !== null) this.stuckAt += counts
    }
}

/** mL of plunger displacement per encoder count for a bore. */
export function mlPerCount(boreMm: number, countsPerMm: number): number {
    return (Math.PI * boreMm * boreMm) / 4 / 1000 / countsPerMm
}
