/**
 * FLOW-2: the plunger speeds the DeviceScript encoder can track, per syringe.
 *
 * The DeviceScript rotary-encoder server samples A/B in C about every 0.9 ms
 * and counts whole quadrature cycles (4 edges per count); above about
 * 1080 edges/s it misses states, and a skipped state counts ±2 in a fixed
 * direction (TOOLCHAIN.md: loses counts above ~0.9 mm/s at 300 counts/mm =
 * 1200 edges/mm). Volume (VOL-1) and the stall check (FLOW-2) both come from
 * these counts, so every plunger speed the drive is asked for must stay
 * below that limit with a margin for sampling jitter (the sampler shares the
 * main loop with I²C, the VM and the bus).
 *
 * Encoder choice: 200 PPR on the 2 mm lead screw = 100 counts/mm (400
 * edges/mm). VOL-1 needs ≤ 0.005 mL per count: on the 20 mL syringe
 * (0.287 mL/mm) that is ≥ 57 counts/mm, so 100 counts/mm (2.9 µL) meets it,
 * and the edge rate per mm is a third of the former 600 PPR encoder's, so
 * every syringe reaches 6 mL/min except the 1 mL one.
 *
 * The core (or the lead) wires these limits into its flow and retract
 * set-points: clamp the advance flow to maxAdvanceMlPerMin(syringe) and the
 * retraction flow to maxRetractMlPerMin(syringe).
 */
import { plungerAreaMm2, SYRINGES } from "../core/geometry"
import { Config } from "../core/config"

/** encoder pulses per revolution on the lead screw (main_hw.ts repeats it as a literal) */
export const HW_ENCODER_PPR = 200
/** lead screw travel per revolution, mm */
export const HW_LEAD_MM_PER_REV = 2
/** counts per mm of plunger travel: the server counts whole cycles (PPR per rev) */
export const HW_ENCODER_COUNTS_PER_MM = HW_ENCODER_PPR / HW_LEAD_MM_PER_REV
/** quadrature edges per count */
export const HW_ENCODER_EDGES_PER_COUNT = 4
/**
 * Edge rate above which the DeviceScript encoder loses states (measured on
 * the project: ~0.9 mm/s at 1200 edges/mm).
 */
export const HW_ENCODER_MAX_EDGES_PER_S = 1080
/** fraction of that limit the drive may use (30 % margin for sampling jitter) */
export const HW_ENCODER_SPEED_MARGIN = 0.7
/**
 * Streaming interval asked of the encoder server, ms. The Jacdac C sensor
 * framework clamps any request below 20 ms to 20 ms, so counts are at most
 * 20 ms (1.6 control steps at 80 SPS) old when they reach the control step;
 * HardwareLoop stamps each count's arrival time so the core can see the age.
 */
export const HW_ENCODER_STREAMING_MS = 20

/** the fastest plunger speed the encoder tracks with the margin, mm/s */
export function encoderMaxPlungerMmPerS(
    countsPerMm: number = HW_ENCODER_COUNTS_PER_MM,
    maxEdgesPerS: number = HW_ENCODER_MAX_EDGES_PER_S,
    margin: number = HW_ENCODER_SPEED_MARGIN
): number {
    return (maxEdgesPerS * margin) / (countsPerMm * HW_ENCODER_EDGES_PER_COUNT)
}

/** mL per mm of plunger travel for a bore, mL/mm */
export function mlPerMm(boreMm: number): number {
    return plungerAreaMm2(boreMm) / 1000
}

/** the highest flow (advance or retract) the encoder tracks on this bore, mL/min */
export function encoderMaxFlowMlPerMin(
    boreMm: number,
    countsPerMm: number = HW_ENCODER_COUNTS_PER_MM
): number {
    return encoderMaxPlungerMmPerS(countsPerMm) * mlPerMm(boreMm) * 60
}

/** volume per count on this bore, mL (VOL-1 asks ≤ 0.005) */
export function mlPerCount(
    boreMm: number,
    countsPerMm: number = HW_ENCODER_COUNTS_PER_MM
): number {
    return mlPerMm(boreMm) / countsPerMm
}

/**
 * Per syringe (index = SYRINGES id), the most the drive may be asked for, in
 * mL/min, rounded down to 0.1 mL/min. Advance and retract share the limit
 * (the encoder does not care about direction); they are separate constants
 * so the core can clamp each set-point by name.
 * 1 mL: 2.0, 3 mL: 6.6, 10 mL: 18.7, 20 mL: 32.4 (see docs/hardware.md).
 */
export const HW_MAX_ADVANCE_ML_PER_MIN: number[] = [2.0, 6.6, 18.7, 32.4]
export const HW_MAX_RETRACT_ML_PER_MIN: number[] = [2.0, 6.6, 18.7, 32.4]

/** the advance limit for a syringe id; NaN for an unknown id */
export function hwMaxAdvanceMlPerMin(syringeId: number): number {
    if (!(syringeId >= 0 && syringeId < HW_MAX_ADVANCE_ML_PER_MIN.length)) return NaN
    return HW_MAX_ADVANCE_ML_PER_MIN[syringeId]
}

/** the retract limit for a syringe id; NaN for an unknown id */
export function hwMaxRetractMlPerMin(syringeId: number): number {
    if (!(syringeId >= 0 && syringeId < HW_MAX_RETRACT_ML_PER_MIN.length)) return NaN
    return HW_MAX_RETRACT_ML_PER_MIN[syringeId]
}

/** the syringes the limits are for, in id order (same as core/geometry SYRINGES) */
export const HW_LIMIT_SYRINGES = SYRINGES

/**
 * The board's settings for the core (src/main_hw.ts): encoder counts per mm
 * (VOL-1) and the per-syringe flow limits (FLOW-2). The core refuses a flow
 * set-point above the syringe's advance limit (OutOfRange, with the limit as
 * the answer's `hi`) and clamps its retraction to the retract limit.
 */
export function applyHardwareLimits(cfg: Config) {
    cfg.encoderCountsPerMm = HW_ENCODER_COUNTS_PER_MM
    cfg.writeBeforeRun = true
    cfg.maxAdvanceMlPerMinBySyringe = HW_MAX_ADVANCE_ML_PER_MIN.slice(0)
    cfg.maxRetractMlPerMinBySyringe = HW_MAX_RETRACT_ML_PER_MIN.slice(0)
}
