import { CUSTOM_BORE_MAX_MM, CUSTOM_BORE_MIN_MM, CUSTOM_SYRINGE, DRIVE_MAX_PLUNGER_MM_PER_S, ENCODER_COUNTS_PER_MM, G_MPS2, plungerAreaMm2, SYRINGES } from "./geometry"

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
    /**
     * FAULT-5 on the board (nothing is written while the drive runs, FAULT-11):
     * a start or resume holds the drive until "injecting" is written (runWritten)
     */
    writeBeforeRun: boolean
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
    /**
     * FLOW-5 / PRS-2: the most plunger force the drive pushes and the load cell
     * measures, N (the boards' 200 kg cell, src/hw/hwconfig.ts). A custom bore
     * must reach the over-pressure ceiling within it.
     */
    maxPlungerForceN: number
    /** FLOW-5: the plunger stroke the drive provides, mm (P; the presets use <= 71 mm) */
    driveStrokeMm: number
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
        writeBeforeRun: false,
        encoderCountsPerMm: ENCODER_COUNTS_PER_MM,
        maxAdvanceMlPerMinBySyringe: [],
        maxRetractMlPerMinBySyringe: [],
        maxPlungerForceN: 200 * G_MPS2,
        driveStrokeMm: 80,
    }
}

/** FLOW-2: the plunger speed the per-syringe limits allow on every preset, mm/s (Infinity: none configured) */
export function trackedPlungerMmPerS(limits: number[]): number {
    let mmPerS = Infinity
    for (let i = 0; i < limits.length && i < SYRINGES.length; ++i)
        if (limits[i] > 0) mmPerS = Math.min(mmPerS, (limits[i] * 1000) / 60 / plungerAreaMm2(SYRINGES[i].boreMm))
    return mmPerS
}

function perSyringe(limits: number[], syringeId: number, boreMm: number): number {
    // FLOW-5: a custom bore's limit is computed the way the presets' are (src/hw/encoder_limits.ts:
    // the plunger speed the encoder tracks x the bore's mL per mm, down to 0.1 mL/min)
    if (syringeId === CUSTOM_SYRINGE) return Math.floor(trackedPlungerMmPerS(limits) * plungerAreaMm2(boreMm) * 0.6) / 10
    const v = syringeId >= 0 && syringeId < limits.length ? limits[syringeId] : undefined
    return typeof v === "number" && v > 0 ? v : Infinity
}

/** FLOW-2: the advance limit the config sets for this syringe, mL/min (Infinity: none); `boreMm` for the custom syringe */
export function syringeMaxAdvanceMlPerMin(c: Config, syringeId: number, boreMm: number = 0): number {
    return perSyringe(c.maxAdvanceMlPerMinBySyringe, syringeId, boreMm)
}

/** FLOW-2: the retraction limit the config sets for this syringe, mL/min (Infinity: none); `boreMm` for the custom syringe */
export function syringeMaxRetractMlPerMin(c: Config, syringeId: number, boreMm: number = 0): number {
    return perSyringe(c.maxRetractMlPerMinBySyringe, syringeId, boreMm)
}

/** VOL-1: volume per encoder count, at most, mL */
export const VOL1_MAX_ML_PER_COUNT = 0.005

function boreForAreaMm(areaMm2: number): number {
    return Math.sqrt((4 * areaMm2) / Math.PI)
}

/**
 * FLOW-5: the custom bores this drive and encoder serve, mm, as [lo, hi]:
 * - VOL-1: at most 0.005 mL per encoder count;
 * - PRS-2: the over-pressure ceiling (3.5 MPa) within the drive's force and
 *   the load cell's range, 10 % of it kept for the seal's friction;
 * - FLOW-1/2: the lowest flow set-point reachable at the plunger speed the
 *   drive makes and the encoder tracks;
 * within CUSTOM_BORE_MIN_MM..CUSTOM_BORE_MAX_MM.
 */
export function customBoreRangeMm(c: Config): number[] {
    const volAreaMm2 = VOL1_MAX_ML_PER_COUNT * 1000 * c.encoderCountsPerMm
    const forceAreaMm2 = (0.9 * c.maxPlungerForceN) / (THRESHOLDS[Threshold.OverpressurePa].max / 1e6) // N / MPa = mm^2
    const mmPerS = Math.min(c.maxPlungerMmPerS, trackedPlungerMmPerS(c.maxAdvanceMlPerMinBySyringe))
    const minAreaMm2 = (c.flowMinMlPerMin * 1000) / 60 / mmPerS
    const lo = Math.max(CUSTOM_BORE_MIN_MM, boreForAreaMm(minAreaMm2))
    const hi = Math.min(CUSTOM_BORE_MAX_MM, boreForAreaMm(Math.min(volAreaMm2, forceAreaMm2)))
    // two decimals, inside the bounds (an accepted bore is never outside them)
    return [Math.ceil(lo * 100) / 100, Math.floor(hi * 100) / 100]
}

/** FLOW-5: the largest nominal volume a custom syringe of this bore may have: the drive's stroke, mL (two decimals, down) */
export function customVolumeMaxMl(c: Config, boreMm: number): number {
    return Math.floor((plungerAreaMm2(boreMm) * c.driveStrokeMm) / 1000 * 100) / 100
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
