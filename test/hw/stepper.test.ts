// Stepper drive: step frequency from the drive geometry, clamping, the
// acceleration limit, EN-first on every stop, DIR for negative speed, the
// dead-man lease (FAULT-11), and the read-only Motor server on the VM bus
// (FAULT-9).
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
import { DRIVE_LEASE_DEFAULT_MS } from "../../src/hw/stepper"
import { figure } from "../lib/assert"
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

/**
 * A fake PWM: like the C buzzer server, a play lasts `leaseMs` from when it
 * arrives (ds.millis()) unless replaced or stopped. `pulsingAt(t)` says
 * whether it would still be producing pulses at time t.
 */
class FakePulses implements StepPulseOutput {
    bound = true
    periodUs = 0
    untilMs = 0
    constructor(readonly rec: Rec) {}
    ready() {
        return this.bound
    }
    async play(periodUs: number, leaseMs: number) {
        this.rec.events.push(`play:${periodUs}`)
        this.periodUs = periodUs
        this.untilMs = ds.millis() + leaseMs
    }
    async stop() {
        this.rec.events.push("stop")
        this.untilMs = 0
    }
    pulsingAt(tMs: number) {
        return this.untilMs > tMs
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

/**
 * A control loop: a command every `dtMs` from `t0` for `durMs` (each one
 * renews the lease); returns the end time
 */
async function run(drive: StepperDrive, t0: number, durMs: number, dtMs: number, ratio: number) {
    let t = t0
    while (t < t0 + durMs) {
        t += dtMs
        await drive.command(true, ratio, t)
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
        await r.drive.command(true, 1, 0)
        let t = await run(r.drive, 0, 100, 10, 1)
        near(r.drive.velocityMmPerS, 2, 1e-9, "velocity at 100 ms")
        eq(r.drive.playingPeriodUs, stepHzToPeriodUs(3200), "period at 100 ms")
        t = await run(r.drive, t, 400, 10, 1)
        near(r.drive.velocityMmPerS, 10, 1e-9, "velocity at 500 ms")
        eq(r.drive.playingPeriodUs, 63, "period at full speed (16 kHz -> 62.5 -> 63 us)")
        // a long gap between commands does not let the ramp jump
        await r.drive.command(true, 0.1, t + 60)
        near(r.drive.velocityMmPerS, 9, 1e-9, "one step of at most maxTickMs (50 ms) of ramp")
    })

    test("FAULT-3: a stop command drives EN to disabled before the pulses stop, and clears the set-point", async () => {
        const r = rig()
        await r.drive.command(true, 0.5, 0)
        await run(r.drive, 0, 50, 10, 0.5)
        ok(r.drive.playingPeriodUs > 0, "running")
        eq(r.en.level, 0, "EN enabled (active low)")
        r.rec.clear()
        await r.drive.command(false, 0.5, 60)
        eq(r.rec.text(), "EN=1 stop", "EN first, then stop")
        eq(r.drive.targetRatio, 0, "set-point cleared")
        // ticks alone never start it again
        r.rec.clear()
        for (let t = 70; t < 120; t += 10) await r.drive.tick(t)
        eq(r.rec.text(), "", "no output activity from ticks")
    })

    test("FAULT-3: speed 0 is a hard stop with EN first; so are a lock and a lost pulse output", async () => {
        const r = rig()
        let t = await run(r.drive, 0, 50, 10, -0.3)
        r.rec.clear()
        await r.drive.command(true, 0, t)
        eq(r.rec.text(), "EN=1 stop", "speed 0")
        eq(r.drive.velocityMmPerS, 0, "velocity")

        t = await run(r.drive, t, 50, 10, 0.3)
        r.rec.clear()
        await r.drive.lock("test")
        eq(r.rec.text(), "EN=1 stop", "lock")
        t = await run(r.drive, t, 50, 10, 0.3)
        eq(r.en.level, 1, "locked drive keeps EN disabled")
        r.drive.unlock()

        t = await run(r.drive, t, 50, 10, 0.3)
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
        let t = await run(r.drive, 0, 20, 10, -0.1)
        const ev = r.rec.events
        const dirAt = ev.indexOf("DIR=0")
        const playAt = ev.indexOf("play:" + stepHzToPeriodUs(1600))
        const enAt = ev.indexOf("EN=0")
        ok(enAt >= 0 && dirAt > enAt, `EN enabled, then DIR=0 (retract): ${r.rec.text()}`)
        ok(playAt > dirAt, "first pulse after DIR")
        eq(r.drive.stepHz(), -1600, "signed step rate")

        r.rec.clear()
        t = await run(r.drive, t, 60, 10, 0.1)
        // -1 mm/s -> 0 in one 10 ms step at 100 mm/s^2, then DIR=1, then play
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
        await run(r.drive, 0, 20, 10, 0.2)
        eq(r.en.level, 1, "enabled: EN high")
        eq(r.dir.level, 0, "forward with inverted DIR: low")
        await r.drive.command(true, 0, 30)
        eq(r.en.level, 0, "stopped: EN low")
    })
})

describe("dead man", () => {
    test("FAULT-11: a lease above 100 ms is refused; the default is 80 ms", () => {
        eq(DRIVE_LEASE_DEFAULT_MS, 80, "default lease")
        eq(rig().drive.pulseLeaseMs, 80, "drive lease")
        let threw = false
        try {
            rig({ pulseLeaseMs: 2000 })
        } catch (e) {
            threw = true
        }
        ok(threw, "2000 ms lease refused")
    })

    test("FAULT-11: at 80 commands/s the PWM is re-played only to extend the lease, never past the last command + 80 ms", async () => {
        const r = rig({ accelMmPerS2: 1000 })
        let t = await run(r.drive, 0, 50, 12.5, 0.25)
        r.rec.clear()
        const plays0 = r.drive.plays
        t = await run(r.drive, t, 1000, 12.5, 0.25)
        const plays = r.drive.plays - plays0
        figure("hw_drive_pwm_replays_per_s", plays, "1/s")
        // one play per ~half lease (40 ms): about 25/s, not 80/s
        ok(plays >= 15 && plays <= 30, `plays in 1 s: ${plays}`)
        ok(r.drive.pwmUntilMs <= r.drive.lastCommandMs + DRIVE_LEASE_DEFAULT_MS, "PWM never outlives the lease")
        eq(r.drive.leaseUntilMs, r.drive.lastCommandMs + 80, "lease = last command + 80 ms")
    })

    test("FAULT-11: commands stop -> pulses stop <= 100 ms after the last one, and the tick disables EN", async () => {
        const r = rig({ accelMmPerS2: 1000 })
        // real time: the fake PWM runs on ds.millis(), like the C buzzer
        let last = 0
        for (let i = 0; i < 40; ++i) {
            last = ds.millis()
            await r.drive.command(true, 0.3, last)
            await ds.sleep(12)
        }
        ok(r.step.pulsingAt(ds.millis()), "pulsing while commanded")
        // the control loop goes silent; only the drive's own 10 ms tick runs
        let stoppedAt = -1
        let enOffAt = -1
        while (ds.millis() - last < 300) {
            await ds.sleep(5)
            const now = ds.millis()
            await r.drive.tick(now)
            if (stoppedAt < 0 && !r.step.pulsingAt(now)) stoppedAt = now
            if (enOffAt < 0 && r.en.level === 1) enOffAt = now
        }
        const pulsesMs = r.step.untilMs === 0 ? stoppedAt - last : Math.min(stoppedAt, r.step.untilMs) - last
        figure("hw_lease_pulses_stop_after_last_command_ms", pulsesMs, "ms")
        figure("hw_lease_en_off_after_last_command_ms", enOffAt - last, "ms")
        // the PWM's own end time (the C side, even with the VM stalled)
        ok(r.step.untilMs === 0 || r.step.untilMs - last <= 100, `PWM end ${r.step.untilMs - last} ms after the last command`)
        // observed stop time depends on the loaded VM's polling: a figure, not a bound
        ok(stoppedAt > 0, "pulses stopped")
        ok(enOffAt > 0, "EN disabled by the lease expiry")
        ok(r.drive.leaseExpiries >= 1, "expiry counted")
        eq(r.drive.targetRatio, 0, "set-point dropped")
    })

    test("FAULT-11: a stalled VM (no ticks either): the PWM plays out its lease and stops by itself", async () => {
        const r = rig({ accelMmPerS2: 1000 })
        const t0 = ds.millis()
        await r.drive.command(true, 0.3, t0)
        await ds.sleep(12)
        const last = ds.millis()
        await r.drive.command(true, 0.3, last)
        // nothing runs now: no command, no tick
        ok(r.step.untilMs - last <= DRIVE_LEASE_DEFAULT_MS, `PWM end ${r.step.untilMs - last} ms after the last command`)
        await ds.sleep(120)
        ok(!r.step.pulsingAt(ds.millis()), "no pulses 120 ms later")
    })
})

describe("motor on the bus", () => {
    test("FAULT-9: a host's Motor speed/enabled writes are refused and change nothing; the registers read the drive", async () => {
        eq(busDrive.clientRoleName, "plungerDrive[app:0]", "role name")
        let waited = 0
        while (!motorRole.isBound && waited < 3000) {
            await ds.sleep(50)
            waited += 50
        }
        ok(motorRole.isBound, "role bound")
        busRec.clear()
        await motorRole.enabled.write(true)
        await motorRole.speed.write(0.5)
        await ds.sleep(200)
        eq(busDrive.drive.playingPeriodUs, 0, "no pulses")
        eq(busEn.level, 1, "EN still disabled")
        eq(busDrive.drive.targetRatio, 0, "set-point")
        eq(busDrive.server.refusedWrites, 2, "refused writes")
        eq(busRec.text(), "", "no output activity")
        // the firmware's own path runs it; the registers show it to observers
        for (let i = 0; i < 10; ++i) {
            await busDrive.drive.command(true, 0.5, ds.millis())
            await ds.sleep(10)
        }
        eq(busDrive.drive.playingPeriodUs, 125, "period (8 kHz) from the control path")
        near(await motorRole.speed.read(), 0.5, 1e-3, "speed register reads the drive")
        // a host cannot stop it either (stops go through the injector's pause/abort)
        await motorRole.speed.write(0)
        await motorRole.enabled.write(false)
        // the control loop keeps commanding meanwhile (a 100 ms pause would let the lease expire)
        for (let i = 0; i < 10; ++i) {
            await busDrive.drive.command(true, 0.5, ds.millis())
            await ds.sleep(10)
        }
        eq(busDrive.server.refusedWrites, 4, "refused writes")
        ok(busDrive.drive.playingPeriodUs === 125, "still the control path's speed")
        await busDrive.drive.command(false, 0, ds.millis())
        eq(busEn.level, 1, "control path stop: EN disabled")
    })
})
