// The firmware app on the hardware path (src/app.ts with InjectorIO.hw, as
// src/main_hw.ts runs it), in the VM: a register-level fake NAU7802 feeds
// the load-cell driver, a fake PWM and EN pin stand for the step output,
// the core gets the board's limits (applyHardwareLimits), and a host drives
// the injector over the bus. Checked: a control step per conversion
// (BOARD-4), a stop in the sample that asks for it (BOARD-4/PRS-2), the flow
// above the syringe's encoder limit refused with its reason (FLOW-2), the
// dead man after the samples stop (FAULT-1/FAULT-11), no flash write while
// the drive is enabled (FAULT-11).
import * as ds from "@devicescript/core"
import { startServer } from "@devicescript/server"
import { describe, test } from "@devicescript/test"
import { writeSetting } from "@devicescript/settings"
import { levelIndex, Op, Reason, Reject, State, Supervisor } from "../../src/core"
import { InjectorServer } from "../../src/server"
import { InjectorApp, runInjector } from "../../src/app"
import { encodeCalibration, KEY_CAL } from "../../src/persist"
import { startLoadCell } from "../../src/hw/loadcell"
import { startStepperDrive } from "../../src/hw/stepper_server"
import { DigitalOutput, DRIVE_LEASE_DEFAULT_MS, StepPulseOutput } from "../../src/hw/stepper"
import { HardwareLoop } from "../../src/hw/hw_loop"
import { applyHardwareLimits, HW_ENCODER_COUNTS_PER_MM, hwMaxAdvanceMlPerMin } from "../../src/hw/encoder_limits"
import { FakeNau7802 } from "./fake_nau7802"
import { ButtonSim, RotaryEncoderSim, until } from "../lib/sims"
import { atLeast, atMost, eq, figure, near, ok } from "../lib/assert"

/** the published reading of an unloaded cell: −zeroOffset = 2 % of 200 kg */
const UNLOADED_KG = 4

class FakePwm implements StepPulseOutput {
    untilMs = 0
    plays = 0
    /** the longest a play ran past the drive's last command, ms */
    maxPastCommandMs = 0
    drive: any = null
    ready() {
        return true
    }
    async play(periodUs: number, leaseMs: number) {
        this.plays++
        this.untilMs = ds.millis() + leaseMs
        if (this.drive) {
            const past = this.untilMs - this.drive.lastCommandMs
            if (past > this.maxPastCommandMs) this.maxPastCommandMs = past
        }
    }
    async stop() {
        this.untilMs = 0
    }
}
class FakeEn implements DigitalOutput {
    level = -1
    offAtMs = -1
    /** when EN last went from enabled to disabled (active low: 1 = disabled) */
    offTimes: number[] = []
    write(level: number) {
        if (level === 1 && this.level !== 1) {
            this.offAtMs = ds.millis()
            this.offTimes.push(this.offAtMs)
            if (this.offTimes.length > 20) this.offTimes.shift()
        }
        this.level = level
    }
    firstOffAfter(tMs: number): number {
        for (let i = 0; i < this.offTimes.length; ++i) if (this.offTimes[i] >= tMs) return this.offTimes[i]
        return -1
    }
}
class NullPin implements DigitalOutput {
    write(level: number) {}
}

// ---- servers at top level (they must start during boot)
const fake = new FakeNau7802()
fake.code = 0
fake.noiseLsb = 3
fake.logging = false
const cell = startLoadCell({
    capacityKg: 200,
    sensitivityMvPerV: 2,
    gain: 128,
    samplesPerSecond: 80,
    port: fake,
    ldoSettleMs: 0,
})
const kgPerCode = cell.scale.kgPerCode
const pwm = new FakePwm()
const en = new FakeEn()
const started = startStepperDrive({ step: pwm, dir: new NullPin(), en, accelMmPerS2: 1000 })
const drive = started.drive
pwm.drive = drive
const encSrv = new RotaryEncoderSim()
const encoder = new ds.RotaryEncoder(startServer(encSrv, { roleName: "plungerEncoder" }))
const estopSrv = new ButtonSim()
const pedalSrv = new ButtonSim()
const confirmSrv = new ButtonSim()
const estop = new ds.Button(startServer(estopSrv, { roleName: "estop" }))
const leakPedal = new ds.Button(startServer(pedalSrv, { roleName: "leakPedal" }))
const confirm = new ds.Button(startServer(confirmSrv, { roleName: "confirm" }))
const hw = new HardwareLoop(cell, drive, encoder)
const sup = new Supervisor()
applyHardwareLimits(sup.cfg)
// The VM under --test GC stress, beside other VMs on a loaded machine, shows
// sample gaps of 40-440 ms (GC, settings writes, the host's scheduler): the
// stale limit is widened so those do not fault the run; the gaps are
// reported (hw_app_max_sample_gap_ms) and the FAULT-1 test below measures
// the stop against this limit. The 50 ms figure needs the board.
sup.cfg.staleMs = 500
const injSrv = new InjectorServer(sup)
const inj = new ds.CementInjector(startServer(injSrv, { roleName: "injector" }))

// ---- the host's view: command results by seq
const results: any[][] = []
inj.commandResult.subscribe(v => {
    results.push(v)
})
function result(seq: number): any[] {
    for (let i = results.length - 1; i >= 0; --i) if (results[i][0] === seq) return results[i]
    return null
}

// ---- the plant: the plunger moves as the drive runs; the cell carries loadKg
let plantOn = true
let posMm = 0
let loadKg = 3
function setLoad(kg: number) {
    loadKg = kg
    fake.code = Math.round(kg / kgPerCode)
}
async function plantLoop() {
    let last = ds.millis()
    let pushed = 0
    let lastPushed = -1
    while (plantOn) {
        const now = ds.millis()
        posMm += (drive.velocityMmPerS * (now - last)) / 1000
        last = now
        encSrv.position = Math.round(posMm * HW_ENCODER_COUNTS_PER_MM)
        // the board's encoder streams every 20 ms; here the VM loopback
        // (~50 packets/s in all, shared with telemetry and the observers)
        // carries it: a push on change at most every 40 ms, every 100 ms when still
        const c = encSrv.position
        if ((c !== lastPushed && now - pushed >= 40) || now - pushed >= 100) {
            pushed = now
            lastPushed = c
            await encSrv.push()
        }
        await ds.sleep(5)
    }
}

let app: InjectorApp = null
/** set by the wrapper below: the first sample above stopAboveKg and what the drive did in its step */
let stopAboveKg = 1000
let overSample = -1
let overReadMs = -1
let overEnLevel = -1
let overPwmUntil = -1
let overState = -1
let overEnOffMs = -1

async function cmdAndConfirm(send: () => Promise<void>, op: Op) {
    await send()
    await until(() => sup.pendingOp() === op, 2000, `op ${op} pending`)
    await confirmSrv.click()
    await until(() => sup.pendingOp() !== op, 2000, `op ${op} confirmed`)
}

describe("hardware app path (src/app.ts InjectorIO.hw)", () => {
    test("BOARD-4: the app runs a control step per NAU7802 conversion; FAULT-9 check passes with a consistent calibration", async () => {
        // a stored calibration consistent with the cell (tare = the unloaded reading)
        await writeSetting(KEY_CAL, encodeCalibration({ tareKg: UNLOADED_KG, gain: 1, volumeScale: 1, flags: 7 }))
        setLoad(0)
        app = await runInjector(injSrv, { estop, leakPedal, confirm, hw })
        ds.setTimeout(async () => {
            await plantLoop()
        }, 1)
        // instrument the sample path: what the drive did by the time the step returned
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
        await until(() => estop.isBound && confirm.isBound && leakPedal.isBound && inj.isBound, 5000, "roles")
        await until(() => hw.encoderPresent() && app.samples > 40, 5000, "samples and counts")
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
        // back to the 20 mL syringe for the injection
        await inj.setSyringe(14, 3)
        await inj.setFlow(15, 3)
        await until(() => result(15) !== null, 2000, "set-flow answer")
        eq(sup.syringe, 3, "20 mL syringe")
        eq(sup.flowMlPerMin, 3, "3 mL/min on 20 mL accepted")
    })

    test("BOARD-4/PRS-2: injecting, a step per sample with the command applied in it; an over-pressure sample stops the drive in its own step", async () => {
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
        // from here the drive is enabled (the start itself may be written before the enable)
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
        plantOn = false
    })
})
