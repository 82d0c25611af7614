// FAULT-9 on the hardware app path: a stored calibration that does not fit
// the load cell (its tare 30 kg from the cell's factory zero: written by
// other firmware, or a different cell fitted) is a sensor fault: the app
// hands the core no force (NaN), so arming is refused with a reason and the
// state does not change; the cross-check's code is kept for the log.
import * as ds from "@devicescript/core"
import { startServer } from "@devicescript/server"
import { describe, test } from "../lib/mini_test"
import { writeSetting } from "@devicescript/settings"
import { levelIndex, Op, Reject, State, Supervisor } from "../../src/core"
import { InjectorServer } from "../../src/server"
import { runInjector } from "../../src/app"
import { encodeCalibration, KEY_CAL } from "../../src/persist"
import { startLoadCell } from "../../src/hw/loadcell"
import { startStepperDrive } from "../../src/hw/stepper_server"
import { DigitalOutput, StepPulseOutput } from "../../src/hw/stepper"
import { HardwareLoop } from "../../src/hw/hw_loop"
import { applyHardwareLimits } from "../../src/hw/encoder_limits"
import { CALCHECK_OK, CALCHECK_TARE_RANGE } from "../../src/hw/calcheck"
import { FakeNau7802 } from "./fake_nau7802"
import { ButtonSim, RotaryEncoderSim, until } from "../lib/sims"
import { eq, ok } from "../lib/assert"

class FakePwm implements StepPulseOutput {
    plays = 0
    ready() {
        return true
    }
    async play(periodUs: number, leaseMs: number) {
        this.plays++
    }
    async stop() {}
}
class FakeEn implements DigitalOutput {
    level = -1
    write(level: number) {
        this.level = level
    }
}
class NullPin implements DigitalOutput {
    write(level: number) {}
}

const fake = new FakeNau7802()
fake.noiseLsb = 3
fake.logging = false
const cell = startLoadCell({ capacityKg: 200, sensitivityMvPerV: 2, gain: 128, samplesPerSecond: 80, port: fake, ldoSettleMs: 0 })
const pwm = new FakePwm()
const en = new FakeEn()
const started = startStepperDrive({ step: pwm, dir: new NullPin(), en })
const encSrv = new RotaryEncoderSim()
const encoder = new ds.RotaryEncoder(startServer(encSrv, { roleName: "plungerEncoder" }))
const estopSrv = new ButtonSim()
const pedalSrv = new ButtonSim()
const confirmSrv = new ButtonSim()
const estop = new ds.Button(startServer(estopSrv, { roleName: "estop" }))
const leakPedal = new ds.Button(startServer(pedalSrv, { roleName: "leakPedal" }))
const confirm = new ds.Button(startServer(confirmSrv, { roleName: "confirm" }))
const hw = new HardwareLoop(cell, started.drive, encoder)
const sup = new Supervisor()
applyHardwareLimits(sup.cfg)
const injSrv = new InjectorServer(sup)
const inj = new ds.CementInjector(startServer(injSrv, { roleName: "injector" }))
const results: any[][] = []
inj.commandResult.subscribe(v => {
    results.push(v)
})
function result(seq: number): any[] {
    for (let i = results.length - 1; i >= 0; --i) if (results[i][0] === seq) return results[i]
    return null
}

describe("FAULT-9 on the hardware app path", () => {
    test("FAULT-9: a stored calibration that does not fit the cell is a sensor fault: arming refused, nothing moves", async () => {
        // tare 30 kg: the unloaded cell reads 4 kg, the window is 4 ± 10 kg
        await writeSetting(KEY_CAL, encodeCalibration({ tareKg: 30, gain: 1, volumeScale: 1, flags: 7 }))
        const app = await runInjector(injSrv, { estop, leakPedal, confirm, hw })
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
