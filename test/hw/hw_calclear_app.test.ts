// FAULT-9 / BOARD-3 on the hardware app path: a stored calibration that does
// not fit the cell (tare 30 kg from its factory zero) blocks every force, so
// tare and gain cannot be redone through commands. Holding the local confirm
// button for CAL_CLEAR_HOLD_MS with the drive idle clears the stored tare and
// gain (written to flash); force flows again and arming asks for a fresh
// calibration (NotCalibrated). A short press does not clear it.
import * as ds from "@devicescript/core"
import { describe, test } from "../lib/mini_test"
import { readSetting, writeSetting } from "@devicescript/settings"
import { CAL_GAIN, CAL_TARE, levelIndex, Op, Reject, State } from "../../src/core"
import { CAL_CLEAR_HOLD_MS, runInjector } from "../../src/app"
import { decodeCalibration, encodeCalibration, KEY_CAL } from "../../src/persist"
import { CALCHECK_OK, CALCHECK_TARE_RANGE } from "../../src/hw/calcheck"
import { until } from "../lib/sims"
import { eq, figure, ok } from "../lib/assert"
import { cell, pwm, encSrv, confirmSrv, estop, leakPedal, confirm, hw, sup, injSrv, inj, result } from "./app_rig"

describe("FAULT-9: clearing a stored calibration that does not fit the cell", () => {
    test("FAULT-9/BOARD-3: a 5 s hold of the local confirm clears a misfit tare and gain (stored), a short press does not; arming then asks for calibration", async () => {
        await writeSetting(KEY_CAL, encodeCalibration({ tareKg: 30, gain: 1, volumeScale: 1, flags: 7 }))
        const app = await runInjector(injSrv, { estop: estop, leakPedal: leakPedal, confirm: confirm, hw: hw }) // (the compiler takes no shorthand for imported names)
        eq(app.calCheckCode, CALCHECK_TARE_RANGE, "boot cross-check: tare out of the cell's window")
        await until(() => inj.isBound && confirm.isBound && estop.isBound, 5000, "roles")
        await encSrv.push()
        await until(() => app.samples > 20 && hw.encoderPresent(), 5000, "samples, counts")
        ok(!sup.sensorReady(ds.millis()), "no force from a cell that disagrees with its calibration")

        // a short press (and 1.5 s of re-checks) changes nothing
        await confirmSrv.click()
        await ds.sleep(1500)
        eq(app.calCheckCode, CALCHECK_TARE_RANGE, "still out of range after a short press")
        eq(app.calCleared, 0, "not cleared by a short press")
        ok(sup.calibrated(), "calibration still complete (flags)")

        // held for the hold time: cleared within the next 1 s cross-check
        const t0 = ds.millis()
        await confirmSrv.press()
        await until(
            () => app.calCleared > 0,
            CAL_CLEAR_HOLD_MS + 3000,
            "cleared while held",
            () => `held since ${app.confirmHeldSinceMs} (now ${ds.millis()}), code ${app.calCheckCode}, state ${sup.state}, drive ${app.cmdEnabled}`
        )
        const heldMs = ds.millis() - t0
        await confirmSrv.release()
        ok(heldMs >= CAL_CLEAR_HOLD_MS, `cleared after ${heldMs} ms of holding, not before ${CAL_CLEAR_HOLD_MS}`)
        figure("FAULT-9 confirm hold until a misfit calibration is cleared", heldMs, "ms")
        eq(app.calCheckCode, CALCHECK_OK, "cross-check ok with the core's defaults")
        eq(sup.calFlags & (CAL_TARE | CAL_GAIN), 0, "tare and gain no longer marked calibrated")
        ok(!sup.calibrated(), "calibration incomplete")
        await until(() => sup.sensorReady(ds.millis()), 2000, "force flows again")
        eq(pwm.plays, 0, "the drive never pulsed")

        // stored: the next boot reads the cleared calibration
        // the write runs in the persistence pass (every 100 ms) once the drive is off
        let stored = decodeCalibration(await readSetting(KEY_CAL, null))
        for (let i = 0; i < 30 && stored !== null && stored.tareKg !== 0; ++i) {
            await ds.sleep(100)
            stored = decodeCalibration(await readSetting(KEY_CAL, null))
        }
        ok(stored !== null, "a calibration record is stored")
        eq(stored.tareKg, 0, "stored tare cleared")
        eq(stored.gain, 1, "stored gain cleared")
        eq(stored.flags & (CAL_TARE | CAL_GAIN), 0, "stored flags without tare and gain")

        // arming asks for a fresh calibration (FAULT-6)
        await inj.setBenchMode(1, 1)
        await until(() => sup.pendingOp() === Op.SetBenchMode, 2000, "bench mode pending")
        await confirmSrv.click()
        await until(() => sup.benchMode, 2000, "bench mode")
        await inj.setLevel(2, levelIndex("C2"))
        await inj.markMixing(3, 10, 150)
        await until(() => result(2) !== null && result(3) !== null, 2000, "level, cement answers")
        await inj.arm(4)
        await until(() => result(4) !== null, 2000, "arm answer")
        eq(result(4)[5], Reject.NotCalibrated, "arm refused: not calibrated")
        eq(sup.state, State.Idle, "state unchanged")
    })
})
