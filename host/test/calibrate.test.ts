// BOARD-3: the guided calibration flow (`injector calibrate`) run by the real
// CLI against the fake injector: tare, gain and the volume drive with the
// local confirm, the device's rejection shown by name, bad options refused
// before anything is sent.
import { strict as assert } from "node:assert"
import { after, before, beforeEach, describe, test } from "node:test"
import { Op, State } from "../../src/core/types"
import { Bench, CliProcess, bench, cli, runCli, sleep } from "./helpers"

/** Presses the fake's confirm each time the CLI asks for it, until it exits. */
async function confirmAll(p: CliProcess, b: Bench) {
    let pressed = 0
    while (p.code === null) {
        const asked = (p.out.match(/press confirm on the device/g) || []).length
        if (asked > pressed && b.fake.pending) {
            // pressed at once, before any telemetry batch (5 Hz when idle) has
            // shown the command as pending: the CLI must still see it executed
            await sleep(20)
            b.fake.pressConfirm()
            pressed++
        }
        await sleep(25)
    }
    return pressed
}

describe("calibrate (fake injector, not calibrated)", () => {
    let b: Bench
    before(async () => {
        b = await bench({ calFlags: 0, confirmTimeoutMs: 5000 })
    })
    after(async () => {
        await b.close()
    })
    beforeEach(() => {
        b.fake.received.length = 0
        b.fake.bench = false
    })

    test("BOARD-3: the full non-interactive flow (tare, gain, drive, volume) with the local confirm ends with flags 7", async () => {
        assert.equal(b.fake.calFlags, 0)
        const p = cli("--tcp", b.tcp, "calibrate", "--yes", "--mass", "1", "--counts", "6000", "--grams", "1.43")
        const pressed = await confirmAll(p, b)
        const r = await p.result()
        assert.equal(r.code, 0, r.out + r.err)
        assert.equal(pressed, 4, "tare, calibrate_gain, calibration_drive, calibrate_volume each asked for the confirm")
        assert.match(r.out, /Step 1\/3 - tare: remove the syringe and unload the plunger/)
        assert.match(r.out, /Step 2\/3 - gain: place a known mass on the load cell/)
        assert.match(r.out, /Step 3\/3 - volume: .*the plunger will move 6000 encoder counts/)
        assert.match(r.out, /the plunger moved 6000 counts/)
        assert.match(r.out, /1\.43 g at 1 g\/mL = 1430 µL/)
        assert.match(r.out, /the device holds: tare yes, gain yes, volume yes \(flags register 0x7, calibration bits 7\)/)
        assert.match(r.out, /calibration complete/)
        assert.equal(b.fake.calFlags, 7)
        assert.deepEqual(
            b.fake.received.map(c => c.code),
            [Op.Tare, Op.CalibrateGain, Op.CalibrationDrive, Op.CalibrateVolume]
        )
        assert.deepEqual(b.fake.received[1].args, [1])
        assert.deepEqual(b.fake.received[2].args, [6000])
        assert.deepEqual(b.fake.received[3].args, [6000, Math.fround(1430)])
        assert.equal(b.fake.state, State.Idle)
    })

    test("BOARD-3: an implausible volume is rejected by the device with its reason; the CLI stops with exit 1", async () => {
        b.fake.bench = true // no confirm needed in bench mode
        b.fake.calFlags = 3
        // 6000 counts of a 20 mL syringe are about 1433 µL: 500 µL is far off
        const r = await runCli(["--tcp", b.tcp, "calibrate", "--step", "volume", "--yes", "--counts", "6000", "--volume", "500"])
        assert.equal(r.code, 1, r.out + r.err)
        assert.match(r.out, /the plunger moved 6000 counts/)
        assert.match(r.out, /rejected by the device: implausible \(the calibration result is implausible\)/)
        assert.match(r.out, /calibration stopped at the volume step/)
        assert.doesNotMatch(r.out, /the device holds/)
        assert.equal(b.fake.calFlags, 3, "the volume calibration bit stays clear")
        assert.deepEqual(b.fake.received.map(c => c.code), [Op.CalibrationDrive, Op.CalibrateVolume])
    })

    test("BOARD-3: bad option values exit 2 with a clear message and nothing sent", async () => {
        const cases: [string[], RegExp][] = [
            [["--counts", "50"], /--counts must be a whole number of encoder counts from 100 to 60000, got 50/],
            [["--counts", "1500.5"], /--counts must be a whole number/],
            [["--mass", "0"], /--mass must be greater than 0 \(kg\)/],
            [["--volume", "-3"], /--volume must be greater than 0/],
            [["--step", "zero"], /--step must be one of tare, gain, volume/],
        ]
        for (const [args, re] of cases) {
            const full = ["--mass", "1", "--volume", "1430", ...args]
            const r = await runCli(["--tcp", b.tcp, "calibrate", "--yes", ...full])
            assert.equal(r.code, 2, `${args.join(" ")}: ${r.out}${r.err}`)
            assert.match(r.err, re)
        }
        const r = await runCli(["--tcp", b.tcp, "calibrate", "--yes", "--step", "gain"])
        assert.equal(r.code, 2)
        assert.match(r.err, /--yes runs without questions, so it needs --mass <kg>/)
        assert.deepEqual(b.fake.received, [], "nothing was sent")
    })
})
