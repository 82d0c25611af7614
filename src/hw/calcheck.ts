/**
 * FAULT-9 / BOARD-3: cross-check of the load cell's gain with the stored
 * calibration, for the app to call at boot (after loadCalibration), after
 * every calibration change, and on every control step if it likes (no I/O,
 * a few comparisons).
 *
 * Division of labour on hardware: the load-cell server publishes kg at the
 * nominal scale (zeroOffset and gain fixed at boot, bus writes refused); the
 * core applies its own tare and gain from the stored calibration:
 * force = (kg − tareKg) × gain × g. So a consistent system has
 *   1. the server's gain and zeroOffset still at their boot values,
 *   2. the chip's PGA gain / rate / LDO read back as configured (the server
 *      reads them back every second; a reset chip runs at gain 1),
 *   3. the stored gain within ±10 % of the cell's nominal sensitivity
 *      (BOARD-3: the nominal scale already is the datasheet sensitivity, so
 *      the stored gain must be 1 ± 0.1),
 *   4. the stored tare near the cell's factory zero: the unloaded reading is
 *      −bootZeroOffset (4 kg) ± the cell's zero balance (default ±5 % of
 *      capacity = ±10 kg, which covers the datasheet's ±2 % and the pusher).
 * Anything else means force, hence pressure, is wrong by an unknown factor:
 * the app must refuse to arm (and fault if injecting).
 */

export const CALCHECK_OK = 0
/** the server's gain or zeroOffset differ from their boot values */
export const CALCHECK_SCALE_CHANGED = 1
/** the chip's gain registers did not read back as configured */
export const CALCHECK_CHIP_CONFIG = 2
/** no stored calibration (or NaN in it) */
export const CALCHECK_MISSING = 3
/** stored gain outside 1 ± gainTolerance */
export const CALCHECK_GAIN_RANGE = 4
/** stored tare outside the factory-zero window */
export const CALCHECK_TARE_RANGE = 5

/** BOARD-3: the stored gain must be within ±10 % of nominal */
export const CALCHECK_GAIN_TOLERANCE = 0.1
/** the unloaded reading may sit this fraction of capacity from the nominal zero */
export const CALCHECK_ZERO_BALANCE_FRACTION = 0.05

/** What the check looks at; LoadCellServer has every field but the calibration. */
export interface LoadCellState {
    /** scale.gain now, and at boot */
    gainNow: number
    bootGain: number
    /** scale.zeroOffsetKg now, and at boot */
    zeroOffsetNowKg: number
    bootZeroOffsetKg: number
    /** the last read-back of the chip's gain registers matched */
    chipConfigOk: boolean
    /** rated capacity, kg */
    capacityKg: number
}

/** The stored calibration's load-cell part (the core's CalibrationSnapshot has both). */
export interface StoredLoadCellCalibration {
    tareKg: number
    gain: number
}

/** The state of a LoadCellServer (src/hw/loadcell.ts) in the form the check takes. */
export function loadCellState(cell: {
    scale: { gain: number; zeroOffsetKg: number; maxReadingKg: number }
    bootGain: number
    bootZeroOffsetKg: number
    chipConfigOk: boolean
}): LoadCellState {
    return {
        gainNow: cell.scale.gain,
        bootGain: cell.bootGain,
        zeroOffsetNowKg: cell.scale.zeroOffsetKg,
        bootZeroOffsetKg: cell.bootZeroOffsetKg,
        chipConfigOk: cell.chipConfigOk,
        capacityKg: cell.scale.maxReadingKg,
    }
}

/**
 * CALCHECK_OK, or the first thing that is wrong (CALCHECK_*). `cal` may be
 * null (nothing stored yet): that is CALCHECK_MISSING, which the app treats
 * as "calibration needed" (FAULT-6: start without calibration is refused).
 */
export function checkLoadCellCalibration(
    cell: LoadCellState,
    cal: StoredLoadCellCalibration
): number {
    if (cell.gainNow !== cell.bootGain || cell.zeroOffsetNowKg !== cell.bootZeroOffsetKg)
        return CALCHECK_SCALE_CHANGED
    if (!cell.chipConfigOk) return CALCHECK_CHIP_CONFIG
    if (!cal || isNaN(cal.gain) || isNaN(cal.tareKg)) return CALCHECK_MISSING
    if (!(Math.abs(cal.gain - 1) <= CALCHECK_GAIN_TOLERANCE)) return CALCHECK_GAIN_RANGE
    const zeroKg = -cell.bootZeroOffsetKg
    const windowKg = CALCHECK_ZERO_BALANCE_FRACTION * cell.capacityKg
    if (!(Math.abs(cal.tareKg - zeroKg) <= windowKg)) return CALCHECK_TARE_RANGE
    return CALCHECK_OK
}

/** a sentence for the log and the host */
export function calCheckReason(code: number): string {
    if (code === CALCHECK_OK) return "ok"
    if (code === CALCHECK_SCALE_CHANGED) return "load-cell scale changed since boot"
    if (code === CALCHECK_CHIP_CONFIG) return "load-cell ADC gain registers lost"
    if (code === CALCHECK_MISSING) return "no stored load-cell calibration"
    if (code === CALCHECK_GAIN_RANGE) return "stored gain outside nominal ±10 %"
    if (code === CALCHECK_TARE_RANGE) return "stored tare far from the cell's zero"
    return `calibration check ${code}`
}
