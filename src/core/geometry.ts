// Syringe and drive geometry: volume per encoder count, force -> pressure,
// flow -> motor speed. Numbers from CLINICAL-BASIS.md (Sensors, Pressure).

export const G_MPS2 = 9.80665

/** Motor speed ratio 1.0 equals this plunger speed (hardware contract with src/hw). */
export const DRIVE_MAX_PLUNGER_MM_PER_S = 10

/**
 * Default drive train: 2 mm lead screw, 600 PPR quadrature encoder counted
 * on every edge = 2400 counts/rev -> 1200 counts per mm of plunger travel
 * (CLINICAL-BASIS, Sensors). Config.encoderCountsPerMm overrides it: the
 * DeviceScript encoder server on the boards counts whole cycles (300/mm).
 */
export const ENCODER_COUNTS_PER_MM = 1200

export interface Syringe {
    id: number
    name: string
    boreMm: number
    /** nominal volume, mL: a full syringe's usable plunger travel is this / area (FLOW-5) */
    volumeMl: number
    /** dynamic plunger friction baseline, N (PRS-1); bench-measured later */
    frictionN: number
}

// Inner bores of common Luer syringes (BD Plastipak figures, rounded); the
// 20 mL bore matches CLINICAL-BASIS (19-20 mm). Friction scales with bore.
export const SYRINGES: Syringe[] = [
    { id: 0, name: "1 mL", boreMm: 4.78, volumeMl: 1, frictionN: 1.5 },
    { id: 1, name: "3 mL", boreMm: 8.66, volumeMl: 3, frictionN: 2.5 },
    { id: 2, name: "10 mL", boreMm: 14.5, volumeMl: 10, frictionN: 4 },
    { id: 3, name: "20 mL", boreMm: 19.1, volumeMl: 20, frictionN: 5 },
]

export const DEFAULT_SYRINGE = 3

/** FLOW-5: the custom syringe's id (set_custom_syringe gives its bore and volume; set_syringe with it re-confirms it) */
export const CUSTOM_SYRINGE = 4
/** FLOW-5: a custom bore is never outside this, mm (the drive's and encoder's limits narrow it: config.ts customBoreRangeMm) */
export const CUSTOM_BORE_MIN_MM = 3
export const CUSTOM_BORE_MAX_MM = 30
/** FLOW-5: a custom syringe's nominal volume is at least this, mL (the end-of-travel margin is 0.05) */
export const CUSTOM_VOLUME_MIN_ML = 0.5

/** FLOW-5: a custom syringe (validated by the caller). */
export function customSyringe(boreMm: number, volumeMl: number): Syringe {
    // friction scales with the seal's circumference: the presets' line (1.5 N at 4.78 mm ... 5 N at 19.1 mm, within 0.12 N)
    return { id: CUSTOM_SYRINGE, name: "custom", boreMm, volumeMl, frictionN: 0.33 + 0.244 * boreMm }
}

export function plungerAreaMm2(boreMm: number): number {
    return (Math.PI * boreMm * boreMm) / 4
}

/** mL per encoder count from geometry alone (before volume calibration). */
export function geometricMlPerCount(boreMm: number, countsPerMm: number = ENCODER_COUNTS_PER_MM): number {
    // area mm^2 x 1 mm = mm^3 = 1e-3 mL, per countsPerMm counts
    return plungerAreaMm2(boreMm) / 1000 / countsPerMm
}

/**
 * PRS-1: pressure = (force - friction baseline) / plunger area. Friction
 * opposes motion, so it is subtracted when advancing, added when
 * retracting, and ignored when still (static friction is indeterminate).
 */
export function pressurePa(forceN: number, frictionN: number, direction: number, boreMm: number): number {
    const areaM2 = plungerAreaMm2(boreMm) * 1e-6
    return (forceN - direction * frictionN) / areaM2
}

/** Motor speed ratio for a plunger displacement flow, given mL per mm of travel. */
export function speedRatioFor(flowMlPerMin: number, mlPerMm: number): number {
    const mmPerS = flowMlPerMin / 60 / mlPerMm
    const r = mmPerS / DRIVE_MAX_PLUNGER_MM_PER_S
    return r > 1 ? 1 : r < -1 ? -1 : r
}
