// The firmware app on the hardware path (src/app.ts with InjectorIO.hw, as
// src/main_hw.ts runs it), in the VM, injecting (rig: app_rig.ts). Checked: a
// stop in the sample that asks for it (BOARD-4/PRS-2), no flash write while the
// drive is enabled (FAULT-11), the dead man after the samples stop
// (FAULT-1/FAULT-11).
import * as ds from "@devicescript/core"
import { describe, test } from "../lib/mini_test"
import { levelIndex, Op, Reason, Reject, State } from "../../src/core"
import { InjectorApp } from "../../src/app"
import { DRIVE_LEASE_DEFAULT_MS } from "../../src/hw/stepper"
import { loadSnapshot } from "../../src/persist"
import { until } from "../lib/sims"
import { atLeast, atMost, eq, figure, ok } from "../lib/assert"
import { cmdAndConfirm, drive, en, fake, hw, inj, plant, pwm, result, setLoad, startApp, sup } from "./app_rig"

let app: InjectorApp = null
/** set by the wrapper below: the first sample above stopAboveKg and what the drive did in its step */
let stopAboveKg = 1000
let overSample = -1
let overReadMs = -1
let overEnLevel = -1
let overPwmUntil = -1
let overState = -1
let overEnOffMs = -1

/** The app started, its sample path instrumented, the 20 mL syringe at 3 mL/min. */
async function ready() {
    app = await startApp()
    // what the drive did by the time the sample's step returned
    const inner = hw.onSample
    hw.onSample = async (kg: number, tMs: number) => {
        await inner(kg, tMs)
        if (kg > stopAboveKg && overSample < 0) {
            overSample = app.samples
            overReadMs = tMs
            overEnLevel = en.level
            overPwmUntil = pwm.untilMs
            overState = sup.state
            overEnOffMs = en.offAtMs
        }
    }
    await cmdAndConfirm(async () => await inj.setBenchMode(0, 1), Op.SetBenchMode)
    await inj.setSyringe(14, 3)
    await inj.setFlow(15, 3)
    await until(() => result(15) !== null, 2000, "set-flow answer")
    eq(sup.syringe, 3, "20 mL syringe")
    eq(sup.flowMlPerMin, 3, "3 mL/min on 20 mL accepted")
}

describe("hardware app path injecting (src/app.ts InjectorIO.hw)", () => {
    test("BOARD-4/PRS-2: injecting, a step per sample with the command applied in it; an over-pressure sample stops the drive in its own step", async () => {
        await ready()
        setLoad(3) // 29 N: the plunger's friction and some cement
        await inj.setLevel(21, levelIndex("C2"))
        await inj.markMixing(22, 10, 150)
        await until(() => sup.cementMixed && sup.lvl.level === levelIndex("C2"), 2000, "level, cement")
        await inj.arm(23)
        await until(() => result(23) !== null, 2000, "arm answer")
        eq(result(23)[5], Reject.Ok, "arm accepted")
        await until(() => sup.state === State.Ready, 2000, "ready")
        await inj.start(24)
        await until(() => result(24) !== null, 2000, "start answer")
        eq(result(24)[5], Reject.Ok, "start accepted")
        await until(() => sup.state === State.Injecting, 2000, "injecting")
        await until(() => en.level === 0 && pwm.untilMs > ds.millis(), 2000, "drive enabled and pulsing")
        // FAULT-5: the start was written before the drive started (nothing is written while it runs)
        eq((await loadSnapshot()).level.state, State.Injecting, "stored as injecting")
        // from here the drive is enabled
        const w0 = app.persistWrites
        const s0 = app.samples
        const c0 = fake.conversions
        const m0 = hw.motorCommands
        const t0 = ds.millis()
        await ds.sleep(2000)
        const dt = ds.millis() - t0
        const steps = app.samples - s0
        const conv = fake.conversions - c0
        eq(sup.state * 100 + sup.reason, State.Injecting * 100 + sup.reason, `still injecting (reason ${sup.reason}, age ${app.encoderAgeMs} ms, delivered ${sup.deliveredMl()}, counts ${hw.encoderCount})`)
        ok(sup.deliveredMl() > 0.05, `delivered ${sup.deliveredMl()} mL`)
        figure("hw_app_injecting_control_samples_per_s", Math.round((steps * 10000) / dt) / 10, "1/s")
        figure("hw_app_motor_commands_per_s", Math.round(((hw.motorCommands - m0) * 10000) / dt) / 10, "1/s")
        atLeast(steps, conv - 1, "a control step for every conversion while injecting")
        atLeast(hw.motorCommands - m0, steps, "a motor command from every sample step")
        eq(drive.pulseLeaseMs, DRIVE_LEASE_DEFAULT_MS, "lease")
        atMost(pwm.maxPastCommandMs, 100, "no PWM play runs more than 100 ms past the last command")
        figure("hw_app_pwm_max_past_last_command_ms", pwm.maxPastCommandMs, "ms")
        // FAULT-11: no settings write while the drive is enabled
        eq(app.persistWrites, w0, "no flash write while injecting")
        ok(app.persistDeferred > 0, "writes were due and held back")
        // over-pressure: 150 kg on a 20 mL plunger is ~5 MPa
        stopAboveKg = 100
        setLoad(150)
        await until(() => overSample >= 0, 1000, "over-pressure sample")
        eq(overEnLevel, 1, "EN disabled when the over-pressure sample's step returned")
        eq(overPwmUntil, 0, "PWM stopped in that step")
        eq(overState, State.Paused, "paused by that step")
        eq(sup.reason, Reason.Overpressure, "reason over-pressure")
        const latencyMs = overEnOffMs - overReadMs
        figure("hw_app_stop_latency_from_sample_read_ms", latencyMs, "ms")
        atMost(latencyMs, 12, "EN off within one sample period of the conversion read")
        // the deferred write goes out once the drive is off: nothing lost
        await until(() => app.persistWrites > w0, 2000, "deferred write after the stop")
        eq(app.persistDue, false, "nothing left unwritten")
        setLoad(3)
    })

    test("FAULT-1: the converter stops while injecting: the core faults (sensor) and the advance stops within the stale limit", async () => {
        await until(() => !drive.enabled, 3000, "drive at rest after the decompression")
        figure("hw_app_max_sample_gap_ms", app.maxSampleGapMs, "ms")
        // LEAK-3: the minimum hold after a pause
        await ds.sleep(sup.cfg.minHoldMs)
        await inj.resume(31)
        await until(() => result(31) !== null, 2000, "resume answer")
        eq(result(31)[5], Reject.Ok, `resume accepted (state ${sup.state}, reason ${sup.reason})`)
        await until(() => sup.state === State.Injecting, 3000, "injecting again")
        await until(() => en.level === 0 && drive.velocityMmPerS > 0, 2000, "advancing")
        await ds.sleep(300)
        const s0 = app.samples
        const haltMs = ds.millis()
        fake.halted = true
        await until(() => sup.state === State.Fault, 1000, "fault")
        ok(sup.reason === Reason.SensorStale, `sensor fault (reason ${sup.reason})`)
        atMost(app.samples - s0, 1, "no samples after the halt")
        const offMs = en.firstOffAfter(haltMs)
        ok(offMs >= 0, "EN went off")
        figure("hw_app_stale_stop_after_halt_ms", offMs - haltMs, "ms")
        // the stale limit + one sample in flight (12.5 ms) + a watchdog step (10 ms), loose for a loaded machine
        atMost(offMs - haltMs, sup.cfg.staleMs + 100, "advance stopped within the stale limit")
        fake.halted = false
        plant.on = false
    })
})
