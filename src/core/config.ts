import { DRIVE_MAX_PLUNGER_MM_PER_S, ENCODER_COUNTS_PER_MM } from "./geometry"

// Tunable limits with their defaults, bounds and safe direction. Defaults
// marked (P) are provisional (REQUIREMENTS.md): the simulator measures them.

export interface Config {
    /** PRS-2 absolute over-pressure, Pa (P); never above the default */
    overpressurePa: number
    /** PRS-2 the over-pressure check looks this far ahead along the pressure's slope, ms (one sample + latency) */
    overpressureLeadMs: number
    /** PRS-3 rise-rate cutoff, Pa/s (P) */
    riseRatePaPerS: number
    /** PRS-3 consecutive samples above the cutoff */
    riseSamples: number
    /** PRS-3 settle time at set flow before the rise check arms, ms */
    riseArmMs: number
    /** PRS-4 fractional fall within 1 s (P) */
    leakDropFraction: number
    /** PRS-4 only judged above this pressure, Pa */
    leakMinPressurePa: number
    /** PRS-4 pause (1) or only warn (0) */
    leakAutoPause: number
    /** VOL-3 warning fraction of the cap */
    capWarnFraction: number
    /** LEAK-3 minimum hold before resume, ms */
    minHoldMs: number
    /** LEAK-5 leak pauses per level before the level aborts */
    maxLeakPauses: number
    /** FAULT-4 heartbeat timeout in remote mode, ms */
    hostTimeoutMs: number
    /** FAULT-1 no load-cell sample for longer than this, ms */
    staleMs: number
    /** FLOW-2 commanded vs measured motion allowed, mL (P) */
    stallMl: number
    /** FLOW-2 extra allowance per mL of commanded travel (drive/encoder tolerance, P) */
    stallTravelFraction: number
    /** FLOW-1 bound of the closed-loop trim, fraction (kept below stallTravelFraction) */
    trimMax: number
    /** FLOW-2 extra allowance for command latency, ms of the commanded flow */
    stallLagMs: number
    /** FLOW-2 latency allowance of a retraction (from rest, driver re-enabled), ms of the commanded flow */
    retractStallLagMs: number
    /** FLOW-1 flow setpoint range, mL/min */
    flowMinMlPerMin: number
    flowMaxMlPerMin: number
    /** FLOW-1 acceleration limit, (mL/min)/s */
    rampMlPerMinPerS: number
    /** LEAK-2 retraction speed, mL/min of plunger displacement */
    retractMlPerMin: number
    /** FAULT-11 the driver stays disabled this long after an advance ends before it may retract, ms */
    stopBrakeMs: number
    /** LEAK-2 retraction limit, mL */
    retractMaxMl: number
    /** FAULT-1 retraction without force sensing (sensor fault), mL */
    blindRetractMl: number
    /** LEAK-2 retract until force < this fraction of the pre-pause force */
    retractForceFraction: number
    /** FLOW-3 cement clock, s since mixing */
    doughS: number
    settingWarnS: number
    workingLimitS: number
    /** FAULT-7 how long a pending command waits for the confirm button, ms */
    confirmTimeoutMs: number
    /** PRS-3 load-cell noise (1 sigma), N: scaled by the plunger area into Pa */
    loadCellNoiseN: number
    /** PRS-3 pressure per delivered volume that only an occlusion explains, Pa/mL (P) */
    occlusionPaPerMl: number
    /** PRS-5 advancing with force below this fraction of the friction baseline for lowForceMs -> fault */
    lowForceFraction: number
    lowForceMs: number
    /** VOL-6 plunger motion while the drive is disabled that raises an alarm, mL */
    handMotionMl: number
    /** FLOW-2 fastest plunger speed the drive makes and the encoder tracks, mm/s */
    maxPlungerMmPerS: number
    /** BOARD-3 tare refused when the reading is this far from the cell's factory zero, kg */
    tareMaxOffsetKg: number
    /** BOARD-3 tare refused when the cell carries more than this pressure on the syringe, Pa */
    tareMaxPa: number
    /** BOARD-3 gain within this fraction of the cell's nominal sensitivity (gain 1) */
    gainTolerance: number
    /** BOARD-3 volume scale within this fraction of the geometry */
    volumeTolerance: number
    /** FAULT-5 persist the level's volume at least every this many mL */
    persistEveryMl: number
    /** VOL-1 encoder counts per mm of plunger travel (drive train) */
    encoderCountsPerMm: number
    /**
     * FLOW-2 fastest advance flow the encoder tracks, per syringe id, mL/min;
     * empty = only the drive's speed (maxPlungerMmPerS) limits it. Set on
     * hardware (src/hw/encoder_limits.ts); a flow set-point above it is refused.
     */
    maxAdvanceMlPerMinBySyringe: number[]
    /** FLOW-2 fastest retraction flow the encoder tracks, per syringe id, mL/min (empty as above); retraction is clamped to it */
    maxRetractMlPerMinBySyringe: number[]
}

export function defaultConfig(): Config {
    return {
        overpressurePa: 3.5e6,
        overpressureLeadMs: 40,
        riseRatePaPerS: 0.5e6,
        riseSamples: 3,
        riseArmMs: 1000,
        leakDropFraction: 0.2,
        leakMinPressurePa: 0.2e6,
        leakAutoPause: 0,
        capWarnFraction: 0.8,
        minHoldMs: 3000,
        maxLeakPauses: 3,
        hostTimeoutMs: 1000,
        staleMs: 50,
        stallMl: 0.03,
        stallTravelFraction: 0.025,
        trimMax: 0.02,
        stallLagMs: 60,
        retractStallLagMs: 250,
        flowMinMlPerMin: 0.5,
        flowMaxMlPerMin: 6,
        rampMlPerMinPerS: 6,
        retractMlPerMin: 30,
        stopBrakeMs: 20,
        retractMaxMl: 0.3,
        retractForceFraction: 0.1,
        blindRetractMl: 0.1,
        doughS: 120,
        settingWarnS: 420,
        workingLimitS: 480,
        confirmTimeoutMs: 10000,
        loadCellNoiseN: 0.5,
        occlusionPaPerMl: 2e6,
        lowForceFraction: 0.3,
        lowForceMs: 500,
        handMotionMl: 0.02,
        maxPlungerMmPerS: DRIVE_MAX_PLUNGER_MM_PER_S,
        tareMaxOffsetKg: 5,
        tareMaxPa: 0.05e6,
        gainTolerance: 0.1,
        volumeTolerance: 0.1,
        persistEveryMl: 0.05,
        encoderCountsPerMm: ENCODER_COUNTS_PER_MM,
        maxAdvanceMlPerMinBySyringe: [],
        maxRetractMlPerMinBySyringe: [],
    }
}

function perSyringe(limits: number[], syringeId: number): number {
    const v = syringeId >= 0 && syringeId < limits.length ? limits[syringeId] : undefined
    return typeof v === "number" && v > 0 ? v : Infinity
}

/** FLOW-2: the advance limit the config sets for this syringe, mL/min (Infinity: none) */
export function syringeMaxAdvanceMlPerMin(c: Config, syringeId: number): number {
    return perSyringe(c.maxAdvanceMlPerMinBySyringe, syringeId)
}

/** FLOW-2: the retraction limit the config sets for this syringe, mL/min (Infinity: none) */
export function syringeMaxRetractMlPerMin(c: Config, syringeId: number): number {
    return perSyringe(c.maxRetractMlPerMinBySyringe, syringeId)
}

/** Thresholds a host may change (SetThreshold). Wire ids are the indices. */
export enum Threshold {
    OverpressurePa = 0,
    RiseRatePaPerS = 1,
    RiseSamples = 2,
    LeakDropFraction = 3,
    LeakAutoPause = 4,
    CapWarnFraction = 5,
    MinHoldMs = 6,
    MaxLeakPauses = 7,
    HostTimeoutMs = 8,
}

export interface ThresholdSpec {
    /** the Config field it sets */
    key: string
    min: number
    max: number
    integer: boolean
    /** +1: raising it is the safer direction; -1: lowering it is safer */
    safer: number
}

function t(key: string, min: number, max: number, integer: boolean, safer: number): ThresholdSpec {
    return { key, min, max, integer, safer }
}

// Bounds: the default over-pressure is also the ceiling (PRS-2 "configurable
// lower"); the others keep the check meaningful at both ends.
export const THRESHOLDS: ThresholdSpec[] = [
    t("overpressurePa", 0.3e6, 3.5e6, false, -1),
    t("riseRatePaPerS", 0.1e6, 2e6, false, -1),
    t("riseSamples", 1, 10, true, -1),
    t("leakDropFraction", 0.05, 0.5, false, -1),
    t("leakAutoPause", 0, 1, true, 1),
    t("capWarnFraction", 0.5, 0.95, false, -1),
    t("minHoldMs", 1000, 60000, false, 1),
    t("maxLeakPauses", 1, 10, true, -1),
    t("hostTimeoutMs", 200, 10000, false, -1),
]

export function getThreshold(c: Config, id: Threshold): number {
    return (c as any)[THRESHOLDS[id].key]
}

export function setThreshold(c: Config, id: Threshold, v: number) {
    ;(c as any)[THRESHOLDS[id].key] = v
}

/** Threshold values in wire-id order (persisted, FAULT-5). */
export function thresholdValues(c: Config): number[] {
    const out: number[] = []
    for (let i = 0; i < THRESHOLDS.length; ++i) out.push(getThreshold(c, i))
    return out
}
