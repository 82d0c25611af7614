import { describe, test } from "@devicescript/test"
import { State, Supervisor } from "../src/core"
import {
    decodeCalibration,
    decodeLevel,
    encodeCalibration,
    encodeLevel,
    loadCalibration,
    loadLevel,
    saveCalibration,
    saveLevel,
    KEY_CAL,
    KEY_LEVEL,
} from "../src/persist"
import { Rig } from "./lib/rig"
import { atMost, eq, near, ok } from "./lib/assert"

describe("FAULT-5 persistence", () => {
    test("FAULT-5: level and calibration records round-trip, fit the store (< 200 B, keys <= 13 chars)", () => {
        const lvl = { level: 1, capMl: 3.5, deliveredMl: 1.234567, state: State.Paused, pauses: 2, leakPauses: 1, overrides: 0 }
        const back = decodeLevel(encodeLevel(lvl))
        ok(back !== null, "decodes")
        near(back.deliveredMl, 1.234567, 1e-6, "delivered, mL")
        eq(back.state, State.Paused, "state")
        atMost(JSON.stringify(encodeLevel(lvl)).length, 200, "level record bytes")
        const cal = { tareKg: 0.31, gain: 1.05, volumeScale: 0.98, flags: 7 }
        near(decodeCalibration(encodeCalibration(cal)).gain, 1.05, 1e-9, "gain")
        atMost(JSON.stringify(encodeCalibration(cal)).length, 200, "calibration record bytes")
        atMost(KEY_CAL.length, 13, "key length")
        atMost(KEY_LEVEL.length, 13, "key length")
    })

    test("FAULT-5: a corrupt or foreign record reads as missing, and boot then lands in idle, uncalibrated", () => {
        const rec = encodeLevel({ level: 1, capMl: 3.5, deliveredMl: 1.2, state: State.Injecting, pauses: 0, leakPauses: 0, overrides: 0 })
        rec[2] = 0.2 // a flipped value
        eq(decodeLevel(rec), null, "checksum catches a changed value")
        eq(decodeLevel({ a: 1 }), null, "object")
        eq(decodeLevel("x"), null, "string")
        eq(decodeLevel([1, 2]), null, "short array")
        const s = new Supervisor()
        s.restore(0, decodeCalibration([1, 2]), decodeLevel(rec))
        eq(s.state, State.Idle, "boot state with nothing valid")
        eq(s.calibrated(), false, "missing calibration keeps the device uncalibrated (arm refused)")
    })

    test("FAULT-5: records survive a write and read through the settings store", async () => {
        const r = new Rig()
        await r.startInjecting("C2", 6)
        await r.run(5000)
        await saveLevel(r.sup.snapshotLevel())
        await saveCalibration(r.sup.snapshotCalibration())
        const b = new Supervisor()
        b.restore(0, await loadCalibration(), await loadLevel())
        eq(b.state, State.Fault, "mid-level restart lands in fault")
        near(b.deliveredMl(), r.sup.deliveredMl(), 1e-5, "delivered volume after restart, mL")
        ok(b.calibrated(), "calibration restored")
    })
})
