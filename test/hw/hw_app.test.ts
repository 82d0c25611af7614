// The firmware app on the hardware path (src/app.ts with InjectorIO.hw, as
// src/main_hw.ts runs it), in the VM, at rest (rig: app_rig.ts). Checked: a
// control step per conversion and the calibration cross-check (BOARD-4,
// FAULT-9); a flow above the syringe's encoder limit refused with its reason
// (FLOW-2). Injecting and the stops: hw_app_inject.test.ts.
import * as ds from "@devicescript/core"
import { describe, test } from "../lib/mini_test"
import { Op, Reject } from "../../src/core"
import { InjectorApp } from "../../src/app"
import { hwMaxAdvanceMlPerMin } from "../../src/hw/encoder_limits"
import { until } from "../lib/sims"
import { atLeast, atMost, eq, figure, near, ok } from "../lib/assert"
import { cmdAndConfirm, fake, inj, result, startApp, sup } from "./app_rig"

let app: InjectorApp = null

describe("hardware app path at rest (src/app.ts InjectorIO.hw)", () => {
    test("BOARD-4: the app runs a control step per NAU7802 conversion; FAULT-9 check passes with a consistent calibration", async () => {
        app = await startApp()
        eq(app.calCheckCode, 0, "calibration consistent with the cell")
        ok(sup.calibrated(), "calibration restored")
        const s0 = app.samples
        const c0 = fake.conversions
        const t0 = ds.millis()
        await ds.sleep(2000)
        const dt = ds.millis() - t0
        const steps = app.samples - s0
        const conv = fake.conversions - c0
        figure("hw_app_idle_control_samples_per_s", Math.round((steps * 10000) / dt) / 10, "1/s")
        atLeast(steps, conv - 1, "a control step for every conversion")
        atMost(steps, conv + 1, "no control step without a conversion")
        eq(app.pumpingMotor, false, "no bus motor writer on the hardware path")
    })

    test("FLOW-2/FAULT-6: a flow above the syringe's encoder limit is refused with its reason and range", async () => {
        await cmdAndConfirm(async () => await inj.setBenchMode(0, 1), Op.SetBenchMode)
        ok(sup.benchMode, "bench mode")
        await inj.setSyringe(11, 0) // 1 mL: the encoder tracks at most 2.0 mL/min
        await until(() => result(11) !== null, 2000, "set-syringe answer")
        eq(sup.syringe, 0, "1 mL syringe")
        const f0 = sup.flowMlPerMin
        await inj.setFlow(12, 3)
        await until(() => result(12) !== null, 2000, "set-flow answer")
        const r = result(12)
        eq(r[5], Reject.OutOfRange, "3 mL/min on 1 mL refused: out of range")
        near(r[2], hwMaxAdvanceMlPerMin(0), 0.01, "answer's hi = the syringe's limit")
        eq(sup.flowMlPerMin, f0, "flow unchanged")
        await inj.setFlow(13, 2)
        await until(() => result(13) !== null, 2000, "set-flow answer")
        eq(result(13)[5], Reject.Ok, "2 mL/min on 1 mL accepted")
    })
})
