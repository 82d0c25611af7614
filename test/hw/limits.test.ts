// FLOW-2 encoder speed limits per syringe and the FAULT-9 / BOARD-3
// load-cell calibration cross-check: pure functions, no bus.
import { describe, test } from "@devicescript/test"
import {
    encoderMaxFlowMlPerMin,
    encoderMaxPlungerMmPerS,
    HW_ENCODER_COUNTS_PER_MM,
    HW_ENCODER_STREAMING_MS,
    HW_MAX_ADVANCE_ML_PER_MIN,
    HW_MAX_RETRACT_ML_PER_MIN,
    hwMaxAdvanceMlPerMin,
    hwMaxRetractMlPerMin,
    mlPerCount,
} from "../../src/hw/encoder_limits"
import { SYRINGES } from "../../src/core/geometry"
import {
    CALCHECK_CHIP_CONFIG,
    CALCHECK_GAIN_RANGE,
    CALCHECK_MISSING,
    CALCHECK_OK,
    CALCHECK_SCALE_CHANGED,
    CALCHECK_TARE_RANGE,
    checkLoadCellCalibration,
    LoadCellState,
} from "../../src/hw/calcheck"
import { atLeast, atMost, eq, figure, near, ok } from "../lib/assert"

describe("encoder speed limits", () => {
    test("FLOW-2: 100 counts/mm tracks 1.89 mm/s (0.7 x 1080 edges/s); the old 300 counts/mm only 0.63", () => {
        eq(HW_ENCODER_COUNTS_PER_MM, 100, "counts/mm")
        near(encoderMaxPlungerMmPerS(), 1.89, 1e-9, "mm/s")
        near(encoderMaxPlungerMmPerS(300), 0.63, 1e-9, "mm/s at 300 counts/mm")
        // the measured loss point: ~0.9 mm/s at 300 counts/mm without the margin
        near(encoderMaxPlungerMmPerS(300, 1080, 1), 0.9, 1e-9, "loss point at 300 counts/mm")
    })

    test("FLOW-2: per-syringe limits are the encoder's trackable flow rounded down; VOL-1 resolution <= 0.005 mL/count", () => {
        for (let i = 0; i < SYRINGES.length; ++i) {
            const s = SYRINGES[i]
            const f = encoderMaxFlowMlPerMin(s.boreMm)
            figure(`hw_max_flow_ml_per_min_${s.id}`, Math.round(f * 100) / 100, "mL/min")
            near(HW_MAX_ADVANCE_ML_PER_MIN[i], Math.floor(f * 10) / 10, 1e-9, `advance ${s.name}`)
            near(HW_MAX_RETRACT_ML_PER_MIN[i], Math.floor(f * 10) / 10, 1e-9, `retract ${s.name}`)
            atMost(mlPerCount(s.boreMm), 0.005, `mL per count ${s.name}`)
        }
        // the clinical defaults: 6 mL/min advance fits 3, 10, 20 mL; 30 mL/min retract fits 20 mL only
        atLeast(hwMaxAdvanceMlPerMin(1), 6, "3 mL at 6 mL/min")
        atLeast(hwMaxRetractMlPerMin(3), 30, "20 mL retract at 30 mL/min")
        ok(hwMaxAdvanceMlPerMin(0) < 6, "1 mL cannot do 6 mL/min")
        ok(isNaN(hwMaxAdvanceMlPerMin(4)), "unknown syringe")
        ok(isNaN(hwMaxRetractMlPerMin(-1)), "unknown syringe")
    })

    test("BOARD-4: encoder stream at the C sensor floor (20 ms)", () => {
        eq(HW_ENCODER_STREAMING_MS, 20, "streaming interval")
    })
})

function cellOk(): LoadCellState {
    return {
        gainNow: 1,
        bootGain: 1,
        zeroOffsetNowKg: -4,
        bootZeroOffsetKg: -4,
        chipConfigOk: true,
        capacityKg: 200,
    }
}

describe("load-cell calibration cross-check", () => {
    test("FAULT-9: a consistent cell and calibration pass", () => {
        eq(checkLoadCellCalibration(cellOk(), { tareKg: 4.3, gain: 1.04 }), CALCHECK_OK, "ok")
        eq(checkLoadCellCalibration(cellOk(), { tareKg: 13.9, gain: 0.91 }), CALCHECK_OK, "edges")
    })

    test("FAULT-9: a changed server scale or lost chip gain is caught before the calibration is looked at", () => {
        const a = cellOk()
        a.gainNow = 0.1
        eq(checkLoadCellCalibration(a, { tareKg: 4, gain: 1 }), CALCHECK_SCALE_CHANGED, "gain written")
        const b = cellOk()
        b.zeroOffsetNowKg = 50
        eq(checkLoadCellCalibration(b, { tareKg: 4, gain: 1 }), CALCHECK_SCALE_CHANGED, "offset written")
        const c = cellOk()
        c.chipConfigOk = false
        eq(checkLoadCellCalibration(c, { tareKg: 4, gain: 1 }), CALCHECK_CHIP_CONFIG, "chip")
    })

    test("BOARD-3: stored gain outside +/-10 % of nominal, tare far from the cell's zero, or nothing stored", () => {
        eq(checkLoadCellCalibration(cellOk(), { tareKg: 4, gain: 0.1 }), CALCHECK_GAIN_RANGE, "gain 0.1 (3.5 MPa would act like 35)")
        eq(checkLoadCellCalibration(cellOk(), { tareKg: 4, gain: 1.11 }), CALCHECK_GAIN_RANGE, "gain 1.11")
        eq(checkLoadCellCalibration(cellOk(), { tareKg: 4, gain: NaN }), CALCHECK_MISSING, "NaN gain")
        eq(checkLoadCellCalibration(cellOk(), { tareKg: 14.5, gain: 1 }), CALCHECK_TARE_RANGE, "tare on a loaded cell")
        eq(checkLoadCellCalibration(cellOk(), { tareKg: -6.5, gain: 1 }), CALCHECK_TARE_RANGE, "tare below zero")
        eq(checkLoadCellCalibration(cellOk(), null), CALCHECK_MISSING, "nothing stored")
    })
})
