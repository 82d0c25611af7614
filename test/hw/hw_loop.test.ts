// The hardware control path (src/hw/hw_loop.ts) against a register-level
// fake NAU7802 and a fake PWM: every conversion reaches the control step
// while the bus is flooded (BOARD-4), a stop leaves in the same sample, the
// lease renews only from control steps (FAULT-11), a chip that lost its
// gain setting publishes nothing until re-initialised (FAULT-9).
import * as ds from "@devicescript/core"
import { describe, test } from "@devicescript/test"
import { startLoadCell, LOADCELL_CONFIG_LOST, LOADCELL_OK } from "../../src/hw/loadcell"
import { startStepperDrive } from "../../src/hw/stepper_server"
import { DigitalOutput, StepPulseOutput } from "../../src/hw/stepper"
import { HardwareLoop } from "../../src/hw/hw_loop"
import { FakeNau7802 } from "./fake_nau7802"
import { atLeast, atMost, eq, figure, ok } from "../lib/assert"

const KG_PER_CODE = 100 / (8388608 * 128 * 0.002)

class FakePwm implements StepPulseOutput {
    untilMs = 0
    plays = 0
    ready() {
        return true
    }
    async play(periodUs: number, leaseMs: number) {
        this.plays++
        this.untilMs = ds.millis() + leaseMs
    }
    async stop() {
        this.untilMs = 0
    }
}

class FakeEn implements DigitalOutput {
    level = -1
    /** ds.millis() of the last write to the disabled level (1, active low) */
    offAtMs = -1
    write(level: number) {
        this.level = level
        if (level === 1) this.offAtMs = ds.millis()
    }
}
class NullPin implements DigitalOutput {
    write(level: number) {}
}

// servers start at top level, during boot
const fake = new FakeNau7802()
fake.code = Math.round(20 / KG_PER_CODE) // 20 kg + the 4 kg default offset
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
const pwm = new FakePwm()
const en = new FakeEn()
const started = startStepperDrive({ step: pwm, dir: new NullPin(), en, accelMmPerS2: 1000 })
const hw = new HardwareLoop(cell, started.drive)
// a host on the bus, writing to the Motor server as fast as it can
const hostMotor = new ds.Motor(started.clientRoleName)
const observer = new ds.WeightScale(cell.clientRoleName)

/** the control step under test: run at 0.3 unless the force is above the limit */
let limitKg = 1000
let steps = 0
let stopSample = -1
let stopEnOk = false
let crossingReadMs = -1
let stopEnMs = -1
hw.onSample = async (kg: number, tMs: number) => {
    steps++
    const over = kg > limitKg
    await hw.applyMotor(!over, 0.3)
    if (over && stopSample < 0) {
        stopSample = steps
        crossingReadMs = tMs
        stopEnMs = en.offAtMs
        // the motor command left in this step: EN is already disabled
        stopEnOk = en.level === 1 && pwm.untilMs === 0
    }
}

async function waitFor(cond: () => boolean, ms: number) {
    const t0 = ds.millis()
    while (!cond() && ds.millis() - t0 < ms) await ds.sleep(20)
}

describe("hardware control path", () => {
    test("BOARD-4: every conversion (80 SPS) reaches the control step while a host floods the bus", async () => {
        await waitFor(() => hostMotor.isBound && observer.isBound && steps > 10, 8000)
        ok(hostMotor.isBound, "host role bound")
        let flooding = true
        let floodWrites = 0
        async function flood() {
            while (flooding) {
                await hostMotor.speed.write(1)
                floodWrites++
            }
        }
        flood.start()
        let obs = 0
        const unsub = observer.reading.subscribe(v => {
            obs++
        })
        await ds.sleep(300)
        const s0 = steps
        const c0 = fake.conversions
        const o0 = obs
        const t0 = ds.millis()
        await ds.sleep(3000)
        const dt = ds.millis() - t0
        const rate = ((steps - s0) * 1000) / dt
        const convRate = ((fake.conversions - c0) * 1000) / dt
        const obsRate = ((obs - o0) * 1000) / dt
        flooding = false
        unsub()
        figure("hw_control_samples_per_s", Math.round(rate * 10) / 10, "1/s")
        figure("hw_adc_conversions_per_s", Math.round(convRate * 10) / 10, "1/s")
        figure("hw_observer_samples_per_s", Math.round(obsRate * 10) / 10, "1/s")
        figure("hw_host_flood_writes_per_s", Math.round((floodWrites * 1000) / dt), "1/s")
        // every conversion the driver read went to the control step
        atLeast(steps - s0, fake.conversions - c0 - 1, "control steps vs conversions")
        // robust bounds for a loaded machine (the VM's poll loop itself slows
        // down: 52/s seen with two VMs beside other work, 79.9/s alone); the
        // figure is the measurement, the assertion above is the invariant
        atLeast(rate, 30, "control samples/s")
        atMost(rate, 82, "control samples/s")
        ok(started.drive.playingPeriodUs > 0, "running at 0.3 from the control path")
        ok(started.server.refusedWrites > 0, "host writes refused")
        eq(started.drive.targetRatio, 0.3, "the host's speed 1 changed nothing")
        ok(observer.isBound, "observer bound")
    })

    test("BOARD-4/PRS-2: a force crossing stops the drive in the same sample (EN disabled before the step returns)", async () => {
        ok(started.drive.playingPeriodUs > 0, "running before the crossing")
        limitKg = 40
        fake.code = Math.round(60 / KG_PER_CODE)
        await waitFor(() => stopSample > 0, 1000)
        ok(stopSample > 0, "crossing seen")
        ok(stopEnOk, "EN disabled and PWM stopped inside the crossing sample's step")
        const latencyMs = stopEnMs - crossingReadMs
        figure("hw_stop_latency_from_sample_read_ms", latencyMs, "ms")
        atMost(latencyMs, 12, "EN disabled within one sample period of the conversion read")
        fake.code = Math.round(20 / KG_PER_CODE)
        limitKg = 1000
    })

    test("FAULT-11: the lease is renewed only by control steps: the ADC stops -> pulses stop <= 100 ms after the last step", async () => {
        await waitFor(() => started.drive.playingPeriodUs > 0, 1000)
        ok(started.drive.playingPeriodUs > 0, "running again")
        fake.halted = true
        const haltMs = ds.millis()
        const lastStep = steps
        await ds.sleep(250)
        const lastCmdMs = started.drive.lastCommandMs
        atMost(steps - lastStep, 1, "no control steps after the halt")
        ok(pwm.untilMs === 0 || pwm.untilMs - lastCmdMs <= 100, `PWM end ${pwm.untilMs - lastCmdMs} ms after the last command`)
        eq(en.level, 1, "EN disabled by the drive's tick on expiry")
        const expiry = en.offAtMs - lastCmdMs
        figure("hw_lease_expiry_after_last_step_ms", expiry, "ms")
        // EN follows on the drive's 10 ms tick; the pulses (above) are the
        // FAULT-11 bound, EN is the second layer (loose bound: loaded machine)
        atMost(expiry, 150, "EN off after the last control step")
        ok(haltMs <= en.offAtMs, "order")
        fake.halted = false
    })

    test("FAULT-9: a chip that lost its PGA gain (reset to gain 1) publishes nothing, then is re-initialised", async () => {
        await waitFor(() => cell.status === LOADCELL_OK && cell.samples > 0, 2000)
        const checks0 = cell.configChecks
        fake.regs[0x01] = 0 // CTRL1 after a chip reset: gain 1, LDO 4.5 V
        let sawLost = false
        let stepsWhileLost = 0
        const t0 = ds.millis()
        while (ds.millis() - t0 < 1500) {
            if (cell.status === LOADCELL_CONFIG_LOST) {
                if (!sawLost) stepsWhileLost = steps
                sawLost = true
            }
            if (sawLost && cell.status === LOADCELL_OK) break
            await ds.sleep(2)
        }
        ok(cell.configChecks > checks0, "read back")
        ok(sawLost, "CONFIG_LOST seen")
        eq(cell.status, LOADCELL_OK, "re-initialised")
        eq(fake.regs[0x01] & 7, 7, "gain 128 written again")
        ok(cell.chipConfigOk, "config ok again")
        ok(stepsWhileLost > 0, "steps counted")
    })
})
