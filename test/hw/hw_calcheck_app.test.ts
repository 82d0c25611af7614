// FAULT-9 on the hardware app path: a stored calibration that does not fit
// the load cell (its tare 30 kg from the cell's factory zero: written by
// other firmware, or a different cell fitted) is a sensor fault: the app
// hands the core no force (NaN), so arming is refused with a reason and the
// state does not change; the cross-check's code is kept for the log.
import * as ds from "@devicescript/core"
import { describe, test } from "../lib/mini_test"
import { writeSetting } from "@devicescript/settings"
import { levelIndex, Op, Reject, State } from "../../src/core"
import { runInjector } from "../../src/app"
import { encodeCalibration, KEY_CAL } from "../../src/persist"
import { CALCHECK_OK, CALCHECK_TARE_RANGE } from "../../src/hw/calcheck"
import { until } from "../lib/sims"
import { eq, ok } from "../lib/assert"
import { cell, pwm, en, encSrv, confirmSrv, estop, leakPedal, confirm, hw, sup, injSrv, inj, result } from "./app_rig"

describe("FAULT-9 on the hardware app path", () => {
    test("FAULT-9: a stored calibration that does not fit the cell is a sensor fault: arming refused, nothing moves", async () => {
        // tare 30 kg: the unloaded cell reads 4 kg, the window is 4 ± 10 kg
        await writeSetting(KEY_CAL, encodeCalibration({ tareKg: 30, gain: 1, volumeScale: 1, flags: 7 }))
        const app = await runInjector(injSrv, { estop: estop, leakPedal: leakPedal, confirm: confirm, hw: hw }) // (the compiler takes no shorthand for imported names)
        eq(app.calCheckCode, CALCHECK_TARE_RANGE, "boot cross-check: tare out of the cell's window")
        await until(() => inj.isBound && confirm.isBound && estop.isBound, 5000, "roles")
        await encSrv.push()
        await until(() => app.samples > 20 && hw.encoderPresent(), 5000, "samples, counts")
        ok(sup.calibrated(), "the stored calibration is complete")
        ok(!sup.sensorReady(ds.millis()), "no force from a cell that disagrees with its calibration")
        await inj.setBenchMode(1, 1)
        await until(() => sup.pendingOp() === Op.SetBenchMode, 2000, "bench mode pending")
        await confirmSrv.click()
        await until(() => sup.benchMode, 2000, "bench mode")
        await inj.setLevel(2, levelIndex("C2"))
        await inj.markMixing(3, 10, 150)
        await until(() => result(2) !== null && result(3) !== null, 2000, "level, cement answers")
        eq(result(2)[5], Reject.Ok, "level set")
        eq(result(3)[5], Reject.Ok, "cement marked")
        await inj.arm(4)
        await until(() => result(4) !== null, 2000, "arm answer")
        eq(result(4)[5], Reject.SensorNotReady, "arm refused: sensor not ready")
        eq(sup.state, State.Idle, "state unchanged")
        await inj.start(5)
        await until(() => result(5) !== null, 2000, "start answer")
        ok(result(5)[5] !== Reject.Ok, "start refused")
        eq(pwm.plays, 0, "the drive never pulsed")
        eq(en.level, 1, "EN disabled")
        // the 1 s re-check keeps the code
        await ds.sleep(1200)
        eq(app.calCheckCode, CALCHECK_TARE_RANGE, "still out of range")
        ok(app.calCheckCode !== CALCHECK_OK, "not ok")
    })
})
