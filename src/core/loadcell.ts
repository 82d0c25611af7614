// Load-cell sensing: WeightScale kg -> force (N) -> pressure (Pa), with the
// sample's validity (PRS-1, PRS-5, FAULT-1) and the calibration's physics
// checks (BOARD-3). No I/O: values in, values out.

import { G_MPS2, plungerAreaMm2, pressurePa, Syringe } from "./geometry"
import { Reject } from "./types"

export const enum SampleStatus {
    None = 0, // no sample yet
    Ok = 1,
    NaN = 2,
    Saturated = 3,
}

function finite(v: number): boolean {
    return typeof v === "number" && !isNaN(v) && v !== Infinity && v !== -Infinity
}

/** PRS-1/BOARD-3: tare and gain read the mean of up to this many settled samples */
export const SETTLE_SAMPLES = 32

/** Samples further than six noise sds from the newest are not part of the settled stretch, kg. */
export function settleBandKg(noiseN: number): number {
    return (6 * noiseN) / G_MPS2
}

export class LoadCellSense {
    // calibration (PRS-1, BOARD-3)
    tareKg = 0
    gain = 1
    private ring: number[] = []
    private ringHead = 0
    private ringCount = 0
    // the latest sample
    lastKg = NaN
    lastSampleMs = -1
    status = SampleStatus.None
    forceN = NaN
    pressurePa = 0
    /** PRS-5: advancing with a force implausibly low since this time, -1 when not */
    private lowSinceMs = -1
    /** PRS-5: the force has been implausibly low for long enough */
    low = false

    /**
     * A new sample. `dir` is the plunger's commanded direction (+1 advancing,
     * -1 retracting, 0 still): friction opposes motion (PRS-1).
     */
    sample(tMs: number, kg: number, saturated: boolean, s: Syringe, dir: number) {
        this.lastSampleMs = tMs
        this.lastKg = kg
        if (!finite(kg)) {
            this.status = SampleStatus.NaN
            this.forceN = NaN
            this.ringCount = 0
            return
        }
        if (this.ring.length < SETTLE_SAMPLES) this.ring.push(kg)
        else this.ring[this.ringHead] = kg
        this.ringHead = (this.ringHead + 1) % SETTLE_SAMPLES
        if (this.ringCount < SETTLE_SAMPLES) this.ringCount++
        this.forceN = (kg - this.tareKg) * this.gain * G_MPS2
        // PRS-5: the sensor's own full-scale status, not a force threshold that tare shifts
        this.status = saturated ? SampleStatus.Saturated : SampleStatus.Ok
        this.pressurePa = pressurePa(this.forceN, s.frictionN, dir, s.boreMm)
    }

    /**
     * PRS-5: while the plunger really advances (encoder-confirmed), the cell
     * must at least feel the plunger's friction; an open bridge or unloaded
     * cell reads ~0 and would silently disable PRS-2/3.
     */
    judgeLow(tMs: number, advancing: boolean, s: Syringe, fraction: number, forMs: number) {
        const lowNow = advancing && this.status === SampleStatus.Ok && this.forceN < fraction * s.frictionN
        if (!lowNow) this.lowSinceMs = -1
        else if (this.lowSinceMs < 0) this.lowSinceMs = tMs
        this.low = lowNow && tMs - this.lowSinceMs >= forMs
    }

    ready(tMs: number, staleMs: number): boolean {
        return this.lastSampleMs >= 0 && tMs - this.lastSampleMs <= staleMs && this.status === SampleStatus.Ok
    }

    stale(tMs: number, staleMs: number): boolean {
        return this.lastSampleMs < 0 || tMs - this.lastSampleMs > staleMs
    }

    /**
     * BOARD-3 tare: near the cell's factory zero (within maxOffsetKg: a cell's
     * zero offset, e.g. the bench cell's 4 kg) and, once tared, unloaded: a
     * reading further from the last tare than maxPa on this syringe's plunger
     * is a load, not a zero drift.
     */
    checkTare(maxOffsetKg: number, maxPa: number, s: Syringe, tared: boolean): Reject {
        if (!finite(this.lastKg)) return Reject.SensorNotReady
        if (Math.abs(this.lastKg) > maxOffsetKg) return Reject.Implausible
        if (!tared) return Reject.Ok
        const loadPa = (Math.abs(this.lastKg - this.tareKg) * this.gain * G_MPS2) / (plungerAreaMm2(s.boreMm) * 1e-6)
        if (loadPa > maxPa) return Reject.NotUnloaded
        return Reject.Ok
    }

    /**
     * The mean of the latest samples back to the first that differs from the
     * newest by more than bandKg (the load changed there). One sample's
     * noise (sd ~0.3 N, 3 % of a 1 kg calibration mass) would otherwise set the
     * gain, and a 1-2 % low gain let a fast rise pass the pressure limit.
     */
    settledKg(bandKg: number): number {
        const newest = this.lastKg
        if (!finite(newest) || this.ringCount === 0) return newest
        let sum = 0
        let k = 0
        for (let i = 1; i <= this.ringCount; ++i) {
            const v = this.ring[(this.ringHead - i + SETTLE_SAMPLES) % SETTLE_SAMPLES]
            if (Math.abs(v - newest) > bandKg) break
            sum += v
            k++
        }
        return k > 0 ? sum / k : newest
    }

    tare(bandKg: number) {
        this.tareKg = this.settledKg(bandKg)
        this.forceN = 0
    }

    /** Gain for a known mass on the cell (NaN when the cell reads no load). */
    gainFor(massKg: number, bandKg: number): number {
        const net = this.settledKg(bandKg) - this.tareKg
        return net > 0 ? massKg / net : NaN
    }

    /** BOARD-3: the gain must lie within +/-tolerance of the cell's nominal sensitivity (gain 1). */
    checkGain(massKg: number, tolerance: number, bandKg: number): Reject {
        const g = this.gainFor(massKg, bandKg)
        if (!finite(g) || g < 1 - tolerance || g > 1 + tolerance) return Reject.Implausible
        return Reject.Ok
    }

    setGain(massKg: number, bandKg: number) {
        this.gain = this.gainFor(massKg, bandKg)
        this.forceN = (this.lastKg - this.tareKg) * this.gain * G_MPS2
    }
}
