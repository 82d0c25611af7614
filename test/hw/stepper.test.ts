// Stepper drive: step frequency from the drive geometry, clamping, the
// acceleration limit, EN-first on every stop, DIR for negative speed, and a
// Motor role bound to the Motor server over the VM bus (BOARD-2).
import * as ds from "@devicescript/core"
import { describe, test } from "@devicescript/test"
import {
    DigitalOutput,
    DRIVE_MAX_PLUNGER_MM_PER_S,
    DRIVE_NO_PULSE_OUTPUT,
    mmPerSToStepHz,
    rampToward,
    speedRatioToMmPerS,
    StepPulseOutput,
    StepperDrive,
    StepperDriveOptions,
    stepHzToPeriodUs,
    stepsPerMm,
} from "../../src/hw/stepper"
import { startStepperDrive } from "../../src/hw/stepper_server"
import { DRIVE_MAX_PLUNGER_MM_PER_S as CORE_MAX_MM_PER_S } from "../../src/core/geometry"
import { eq, near, ok } from "./check"

/** one ordered event log shared by the fake outputs */
class Rec {
    events: string[] = []
    clear() {
        this.events = []
    }
    text() {
        return this.events.join(" ")
    }
}

class FakePulses implements StepPulseOutput {
    bound = true
    constructor(readonly rec: Rec) {}
    ready() {
        return this.bound
    }
    async play(periodUs: number, leaseMs: number) {
        this.rec.events.push(`play:${periodUs}`)
    }
    async stop() {
        this.rec.events.push("stop")
    }
}

class FakePin implements DigitalOutput {
    level = -1
    constructor(
        readonly rec: Rec,
        readonly name: string
    ) {}
    write(level: number) {
        this.level = level
        this.rec.events.push(`${this.name}=${level}`)
    }
}

function rig(options?: StepperDriveOptions) {
    const rec = new Rec()
    const step = new FakePulses(rec)
    const dir = new FakePin(rec, "DIR")
    const en = new FakePin(rec, "EN")
    const drive = new StepperDrive(step, dir, en, options)
    return { rec, step, dir, en, drive }
}

/** run ticks every `dtMs` from `t0` for `durMs`; returns the end time */
async function run(drive: StepperDrive, t0: number, durMs: number, dtMs: number) {
    let t = t0
    while (t < t0 + durMs) {
        t += dtMs
        await drive.tick(t)
    }
    return t
}

// Bus test rig: servers start at top level, during boot.
const busRec = new Rec()
const busStep = new FakePulses(busRec)
const busEn = new FakePin(busRec, "EN")
const busDrive = startStepperDrive({
    step: busStep,
    dir: new FakePin(busRec, "DIR"),
    en: busEn,
    accelMmPerS2: 1000,
})
// bound the way main_hw.ts binds it: by the hinted name from startServer
const motorRole = new ds.Motor(busDrive.clientRoleName)

describe("step frequency", () => {
    test("BOARD-2: 2 mm lead, 200 steps/rev, 16 microsteps -> 1600 steps/mm; speed 1.0 = the core's 10 mm/s", () => {
        eq(DRIVE_MAX_PLUNGER_MM_PER_S, CORE_MAX_MM_PER_S, "same constant as the core")
        eq(DRIVE_MAX_PLUNGER_MM_PER_S, 10, "mm/s at speed 1.0")
        eq(stepsPerMm({}), 1600, "defaults")
        eq(stepsPerMm({ microsteps: 8 }), 800, "8 microsteps")
        eq(stepsPerMm({ leadMmPerRev: 8, gearRatio: 3 }), 1200, "8 mm lead, 3:1 gear")
        eq(mmPerSToStepHz(speedRatioToMmPerS(1), {}, 20000), 16000, "speed 1.0")
        eq(mmPerSToStepHz(speedRatioToMmPerS(-0.5), {}, 20000), -8000, "speed -0.5")
        eq(stepHzToPeriodUs(8000), 125, "period at 8 kHz")
    })

    test("BOARD-2: a clinical flow: 3 mL/min on a 0.3 mL/mm syringe = 1/6 mm/s -> 266.7 Hz, 3750 us", () => {
        const ratio = 1 / 6 / DRIVE_MAX_PLUNGER_MM_PER_S
        const hz = mmPerSToStepHz(speedRatioToMmPerS(ratio), {}, 20000)
        near(hz, 266.667, 0.01, "Hz")
        eq(stepHzToPeriodUs(hz), 3750, "period")
    })

    test("BOARD-2: clamping: |ratio| > 1, NaN, driver step-rate limit, lowest producible rate", () => {
        eq(speedRatioToMmPerS(3), 10, "ratio 3")
        eq(speedRatioToMmPerS(-3), -10, "ratio -3")
        eq(speedRatioToMmPerS(NaN), 0, "NaN")
        // 32 microsteps at 10 mm/s wants 32 kHz; the driver limit is 20 kHz
        eq(mmPerSToStepHz(10, { microsteps: 32 }, 20000), 20000, "clamped")
        eq(mmPerSToStepHz(-10, { microsteps: 32 }, 20000), -20000, "clamped, negative")
        // u16 µs period: nothing below 1e6/65535 = 15.26 Hz
        eq(stepHzToPeriodUs(15.3), 65359, "just above the floor")
        eq(stepHzToPeriodUs(15.2), 0, "below the floor: no pulses")
        eq(stepHzToPeriodUs(1e6), 2, "shortest period")
    })

    test("BOARD-2: ramp never jumps across zero", () => {
        eq(rampToward(0, 5, 1), 1, "up")
        eq(rampToward(4.5, 5, 1), 5, "reaches target")
        eq(rampToward(0.5, -5, 1), 0, "reversal lands on zero")
        eq(rampToward(0, -5, 1), -1, "then continues")
    })
})

describe("drive sequencing", () => {
    test("BOARD-2: acceleration limit 20 mm/s^2: speed 1.0 from rest is 2 mm/s after 100 ms, 10 mm/s after 500 ms", async () => {
        const r = rig()
        await r.drive.setEnabled(true)
        await r.drive.setSpeed(1, 0)
        let t = await run(r.drive, 0, 100, 10)
        near(r.drive.velocityMmPerS, 2, 1e-9, "velocity at 100 ms")
        eq(r.drive.playingPeriodUs, stepHzToPeriodUs(3200), "period at 100 ms")
        t = await run(r.drive, t, 400, 10)
        near(r.drive.velocityMmPerS, 10, 1e-9, "velocity at 500 ms")
        eq(r.drive.playingPeriodUs, 63, "period at full speed (16 kHz -> 62.5 -> 63 us)")
        // a long stall between ticks does not let the ramp jump
        await r.drive.setSpeed(0.1, t)
        t = await run(r.drive, t, 0, 10)
        await r.drive.tick(t + 5000)
        near(r.drive.velocityMmPerS, 9, 1e-9, "one tick of at most maxTickMs (50 ms) of ramp")
    })

    test("FAULT-3: enabled = false drives EN to disabled before the pulses stop, and clears the set-point", async () => {
        const r = rig()
        await r.drive.setEnabled(true)
        await r.drive.setSpeed(0.5, 0)
        await run(r.drive, 0, 50, 10)
        ok(r.drive.playingPeriodUs > 0, "running")
        eq(r.en.level, 0, "EN enabled (active low)")
        r.rec.clear()
        await r.drive.setEnabled(false)
        eq(r.rec.text(), "EN=1 stop", "EN first, then stop")
        eq(r.drive.targetRatio, 0, "set-point cleared")
        // re-enable: no motion until a new speed is written
        await r.drive.setEnabled(true)
        r.rec.clear()
        await run(r.drive, 50, 50, 10)
        eq(r.rec.text(), "", "no output activity after re-enable")
    })

    test("FAULT-3: speed 0 is a hard stop with EN first; so are a lock and a lost pulse output", async () => {
        const r = rig()
        await r.drive.setEnabled(true)
        await r.drive.setSpeed(-0.3, 0)
        let t = await run(r.drive, 0, 50, 10)
        r.rec.clear()
        await r.drive.setSpeed(0, t)
        eq(r.rec.text(), "EN=1 stop", "speed 0")
        eq(r.drive.velocityMmPerS, 0, "velocity")

        await r.drive.setSpeed(0.3, t)
        t = await run(r.drive, t, 50, 10)
        r.rec.clear()
        await r.drive.lock("test")
        eq(r.rec.text(), "EN=1 stop", "lock")
        await r.drive.setSpeed(0.3, t)
        t = await run(r.drive, t, 50, 10)
        eq(r.en.level, 1, "locked drive keeps EN disabled")
        r.drive.unlock()

        await r.drive.setSpeed(0.3, t)
        t = await run(r.drive, t, 50, 10)
        ok(r.drive.playingPeriodUs > 0, "running again")
        r.step.bound = false
        r.rec.clear()
        await r.drive.tick(t + 10)
        eq(r.rec.text(), "EN=1", "pulse output gone: EN disabled (no stop command to an unbound role)")
        eq(r.drive.inhibit(), DRIVE_NO_PULSE_OUTPUT, "inhibit reason")
        eq(r.drive.targetRatio, 0, "set-point dropped")
    })

    test("BOARD-2: negative speed sets DIR to retract before the first pulse; a reversal stops, flips DIR, then restarts", async () => {
        const r = rig({ accelMmPerS2: 100 })
        await r.drive.setEnabled(true)
        await r.drive.setSpeed(-0.1, 0)
        let t = await run(r.drive, 0, 20, 10)
        const ev = r.rec.events
        const dirAt = ev.indexOf("DIR=0")
        const playAt = ev.indexOf("play:" + stepHzToPeriodUs(1600))
        const enAt = ev.indexOf("EN=0")
        ok(enAt >= 0 && dirAt > enAt, `EN enabled, then DIR=0 (retract): ${r.rec.text()}`)
        ok(playAt > dirAt, "first pulse after DIR")
        eq(r.drive.stepHz(), -1600, "signed step rate")

        r.rec.clear()
        await r.drive.setSpeed(0.1, t)
        t = await run(r.drive, t, 60, 10)
        // -1 mm/s -> 0 in one 10 ms tick at 100 mm/s^2, then DIR=1, then play
        const e2 = r.rec.events
        const stopAt = e2.indexOf("stop")
        const flipAt = e2.indexOf("DIR=1")
        let replay = -1
        for (let i = flipAt + 1; i < e2.length; ++i) if (e2[i].indexOf("play:") === 0) replay = i
        ok(stopAt >= 0 && flipAt > stopAt && replay > flipAt, `stop, DIR=1, play: ${r.rec.text()}`)
        ok(e2.indexOf("EN=1") < 0, "EN stays enabled through a reversal")
        eq(r.drive.stepHz(), 1600, "forward again")
    })

    test("BOARD-2: EN and DIR polarity are configurable", async () => {
        const r = rig({ enableActiveLow: false, dirInverted: true })
        eq(r.en.level, 0, "boot: active-high EN held low")
        await r.drive.setEnabled(true)
        await r.drive.setSpeed(0.2, 0)
        await run(r.drive, 0, 20, 10)
        eq(r.en.level, 1, "enabled: EN high")
        eq(r.dir.level, 0, "forward with inverted DIR: low")
        await r.drive.setSpeed(0, 30)
        eq(r.en.level, 0, "stopped: EN low")
    })

    test("BOARD-2: at constant speed the PWM command is re-sent only to renew its lease", async () => {
        const r = rig({ pulseLeaseMs: 200, accelMmPerS2: 1000 })
        await r.drive.setEnabled(true)
        await r.drive.setSpeed(0.25, 0)
        let t = await run(r.drive, 0, 50, 10)
        r.rec.clear()
        t = await run(r.drive, t, 500, 10)
        let plays = 0
        for (const e of r.rec.events) if (e === "play:250") plays++
        eq(plays, 5, "plays in 500 ms with a 200 ms lease (renewed every 100 ms)")
        eq(r.rec.events.length, plays, "nothing else")
    })
})

describe("motor on the bus", () => {
    test("BOARD-2: a Motor role binds to the stepper's Motor server; speed 0.5 -> 8 kHz; enabled=false -> EN first", async () => {
        eq(busDrive.clientRoleName, "plungerDrive[app:0]", "role name")
        let waited = 0
        while (!motorRole.isBound && waited < 3000) {
            await ds.sleep(50)
            waited += 50
        }
        ok(motorRole.isBound, "role bound")
        await motorRole.enabled.write(true)
        await motorRole.speed.write(0.5)
        await ds.sleep(200)
        eq(busDrive.playingPeriodUs, 125, "period (8 kHz)")
        eq(busEn.level, 0, "EN enabled")
        near(await motorRole.speed.read(), 0.5, 1e-3, "speed register")
        busRec.clear()
        await motorRole.enabled.write(false)
        await ds.sleep(50)
        eq(busRec.events[0], "EN=1", "EN first")
        eq(busRec.events[1], "stop", "then stop")
        eq(busDrive.playingPeriodUs, 0, "stopped")
        await motorRole.enabled.write(true)
        await motorRole.speed.write(-1)
        await ds.sleep(200)
        ok(busDrive.stepHz() < -15000, `full retract: ${busDrive.stepHz()} Hz`)
        await motorRole.speed.write(0)
        await ds.sleep(50)
        eq(busEn.level, 1, "speed 0: EN disabled")
    })
})
