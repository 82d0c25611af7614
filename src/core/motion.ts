// Motion: the one place that turns the supervisor's intent (advance,
// retract, hold, off) into a motor command, with the FLOW-1 ramp and trim
// and the FLOW-2 stall comparison. No I/O.

import { Config } from "./config"
import { speedRatioFor } from "./geometry"
import { MotorCommand } from "./types"

/** FLOW-2: the recent stall window is one to two segments of this much commanded travel, mL */
export const STALL_SEGMENT_ML = 0.1
/** FLOW-2: commanded travel with no encoder count in its direction that means a stuck encoder, mL */
export const SILENT_ENCODER_ML = 0.01
/** FLOW-2: the longest gap between encoder reports the silent check tolerates, ms */
export const ENCODER_BURST_MS = 100

/**
 * FAULT-1 blind decompression (no force to measure): the volume the cement
 * system stores at the last valid pressure, taken as the worst the model
 * covers (SIM-6: up to 5 % entrained air, an isothermal gas, plus the
 * syringe's own 0.02 mL/MPa). At 5 % of 10 mL and 1.56 MPa that is 0.50 mL,
 * at the 3.5 MPa limit 0.56 mL; without air a retraction past the stored
 * volume only pulls the chamber below ambient (the cement column holds it).
 */
export const BLIND_AIR_FRACTION = 0.05
export const BLIND_SYRINGE_ML_PER_MPA = 0.02
const PA_ATM = 101325

/** Stored volume at gauge pressure pressurePa with BLIND_AIR_FRACTION of cementMl as air, mL. */
export function worstStoredMl(pressurePa: number, cementMl: number): number {
    const p = pressurePa > 0 ? pressurePa : 0
    const v = cementMl > 0 ? cementMl : 0
    return (BLIND_SYRINGE_ML_PER_MPA * p) / 1e6 + (BLIND_AIR_FRACTION * v * p) / (PA_ATM + p)
}

export const enum Motion {
    Off = 0, // driver disabled
    Advance = 1, // forward at the ramped set flow (takes up slack first)
    Retract = 2, // backward to decompress
    Hold = 3, // driver disabled, paused, waiting for resume
}

function finite(v: number): boolean {
    return typeof v === "number" && !isNaN(v) && v !== Infinity && v !== -Infinity
}

export class Drive {
    mode = Motion.Off
    /** the flow commanded in the last step, mL/min (signed) */
    cmdFlowMlPerMin = 0
    /** FLOW-1 closed-loop trim, 1 +/- cfg.trimMax */
    trim = 1
    // retraction
    retractStartMs = 0
    retractedMl = 0
    retractUsesForce = true
    prePauseForceN = 0
    /** FAULT-1: a blind retraction (no force) stops after this much, mL */
    blindMl = 0
    // FLOW-2: cumulative commanded vs encoder travel since the drive was enabled in this direction
    cmdTravelMl = 0
    encTravelMl = 0
    stallErrMl = 0
    // the recent window: the current and the previous segment
    private segCmdMl = 0
    private segEncMl = 0
    private prevCmdMl = 0
    private prevEncMl = 0
    stalled = false
    /** FLOW-2: commanded travel since the encoder last moved in its direction, mL */
    private silentCmdMl = 0
    private lastDir = 0
    /** FAULT-11: the driver stays disabled this much longer before a retraction, ms */
    private brakeLeftMs = 0
    out: MotorCommand = { enabled: false, speedRatio: 0, flowMlPerMin: 0 }

    moving(): boolean {
        return this.mode === Motion.Advance || this.mode === Motion.Retract
    }

    advance() {
        this.mode = Motion.Advance
        this.cmdFlowMlPerMin = 0
    }

    retract(tMs: number, forceN: number, useForce: boolean) {
        this.prePauseForceN = forceN
        this.retractUsesForce = useForce && finite(forceN)
        this.retractStartMs = tMs
        this.retractedMl = 0
        this.mode = Motion.Retract
    }

    /**
     * FLOW-2: what the drive was told during the last dtMs against what the
     * encoder saw, twice: cumulative since the drive was enabled in this
     * direction (no trim division, no leak: an encoder that reads 5 % short,
     * or a drive that slips 5 %, adds up until it trips), and over the last
     * one to two segments of STALL_SEGMENT_ML commanded travel (so a drive
     * that stops late in a level is caught within ~0.03 mL, not within 0.03
     * mL + 2.5 % of everything delivered so far).
     */
    judgeStall(cfg: Config, dtMs: number, encStepMl: number, mlPerCount: number) {
        const f = this.out.enabled ? this.out.flowMlPerMin : 0
        const dir = f > 0 ? 1 : f < 0 ? -1 : 0
        if (dir === 0 || dir !== this.lastDir) {
            this.silentCmdMl = 0
            this.cmdTravelMl = 0
            this.encTravelMl = 0
            this.segCmdMl = 0
            this.segEncMl = 0
            this.prevCmdMl = 0
            this.prevEncMl = 0
        }
        this.lastDir = dir
        this.stalled = false
        if (dir === 0) return
        const cmdMl = (f * dtMs) / 60000
        this.cmdTravelMl += cmdMl
        this.encTravelMl += encStepMl
        this.segCmdMl += cmdMl
        this.segEncMl += encStepMl
        if (Math.abs(this.segCmdMl) >= STALL_SEGMENT_ML) {
            this.prevCmdMl = this.segCmdMl
            this.prevEncMl = this.segEncMl
            this.segCmdMl = 0
            this.segEncMl = 0
        }
        // a retraction starts from rest with the driver just re-enabled (FAULT-11):
        // the enable and speed writes and the drive's acceleration lag more
        const lagMs = f < 0 ? Math.max(cfg.stallLagMs, cfg.retractStallLagMs) : cfg.stallLagMs
        const lagMl = (Math.abs(f) * lagMs) / 60000
        this.stallErrMl = this.cmdTravelMl - this.encTravelMl
        const allowMl = cfg.stallMl + cfg.stallTravelFraction * Math.abs(this.cmdTravelMl) + lagMl
        const recentCmd = this.segCmdMl + this.prevCmdMl
        const recentErr = recentCmd - (this.segEncMl + this.prevEncMl)
        const recentAllowMl = cfg.stallMl + cfg.stallTravelFraction * Math.abs(recentCmd) + lagMl
        // a silent encoder: a position-controlled plunger moves with every step,
        // so commanded travel with no count in its direction is a stuck or
        // lost encoder, caught after max(0.01 mL, 4 counts) rather than 0.03 mL
        if (encStepMl * dir > 0) this.silentCmdMl = 0
        else this.silentCmdMl += Math.abs(cmdMl)
        // (+ the flow of ENCODER_BURST_MS: encoder reports can arrive bunched on the bus)
        const silentAllowMl = Math.max(SILENT_ENCODER_ML, 4 * mlPerCount) + lagMl + (Math.abs(f) * ENCODER_BURST_MS) / 60000
        this.stalled = Math.abs(this.stallErrMl) > allowMl || Math.abs(recentErr) > recentAllowMl || this.silentCmdMl > silentAllowMl
    }

    /** FLOW-1: at steady set flow, trim the drive on encoder truth (bounded to +/- trimMax). */
    adjustTrim(cfg: Config, setFlow: number, measured: number) {
        const e = (setFlow - measured) / setFlow
        const t = this.trim + 0.05 * e
        this.trim = Math.max(1 - cfg.trimMax, Math.min(1 + cfg.trimMax, t))
    }

    /** The motor command for this step; `maxFlow` is the fastest the drive and encoder allow. */
    command(cfg: Config, dtMs: number, setFlow: number, maxFlowMlPerMin: number, mlPerMm: number, stop: boolean): MotorCommand {
        let flow = 0
        let enabled = false
        // FAULT-11 / PRS-2: every stop takes the shortest path. A drive told
        // "speed 0" or "reverse" while enabled decelerates on its own ramp and
        // keeps pushing for ~150 ms; with its enable line off it stops at once.
        // So the step that ends an advance disables the driver, and a
        // retraction re-enables it only after cfg.stopBrakeMs.
        const wasAdvancing = this.out.enabled && this.out.flowMlPerMin > 0
        if (wasAdvancing && this.mode !== Motion.Advance) this.brakeLeftMs = cfg.stopBrakeMs
        else if (this.brakeLeftMs > 0) this.brakeLeftMs -= dtMs
        if (this.mode === Motion.Advance) {
            enabled = true
            const target = Math.min(setFlow * this.trim, maxFlowMlPerMin)
            flow = Math.min(target, this.cmdFlowMlPerMin + (cfg.rampMlPerMinPerS * dtMs) / 1000)
            if (flow < 0) flow = 0
        } else if (this.mode === Motion.Retract && this.brakeLeftMs <= 0) {
            enabled = true
            // hazard 12: never ask a small syringe to retract faster than the drive goes
            flow = -Math.min(cfg.retractMlPerMin, maxFlowMlPerMin)
        }
        if (stop) {
            enabled = false
            flow = 0
        }
        let ratio = enabled ? speedRatioFor(flow, mlPerMm) : 0
        // never hand a non-number to the drive (a NaN speed decodes as -1)
        if (!finite(ratio) || !finite(flow)) {
            ratio = 0
            enabled = false
            flow = 0
        }
        this.cmdFlowMlPerMin = enabled ? flow : 0
        this.out.enabled = enabled
        this.out.flowMlPerMin = this.cmdFlowMlPerMin
        this.out.speedRatio = ratio
        return this.out
    }

    /** Trim is near target: the ramp has reached the set flow. */
    atSetFlow(setFlow: number, maxFlowMlPerMin: number): boolean {
        return this.mode === Motion.Advance && this.cmdFlowMlPerMin >= Math.min(setFlow * this.trim, maxFlowMlPerMin) - 1e-9
    }
}
