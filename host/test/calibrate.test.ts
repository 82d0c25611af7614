// BOARD-3: the guided calibration flow (`injector calibrate`) run by the real
// CLI against the real firmware (src/main.ts in the DeviceScript VM on the
// devtools hub, host/test/firmware.ts) on the simulated bench: a load cell
// with a zero offset and a gain error, a syringe on the drive. The test is
// the person at the bench: it answers the CLI's questions on a terminal,
// puts the known mass on the load cell, presses the device's confirm button
// when the CLI asks for it, and reads what the plunger displaced.
//
// Uses the hub's fixed ports 8081-8083: run in a private network namespace,
//   unshare -n bash -c 'ip link set lo up; node --import tsx --test host/test/calibrate.test.ts'
import { strict as assert } from "node:assert"
import { ChildProcess, spawn, spawnSync } from "node:child_process"
import { after, before, describe, test } from "node:test"
import { Firmware } from "./firmware"
import { BIN, ROOT, killAllCli, runCli, sleep } from "./helpers"

const MASS_KG = 10
const G = 9.80665
const COUNTS = 6000
const FLAG_CAL_ALL = 7

/** The CLI on a pseudo-terminal (script(1)): `calibrate` asks its questions only on a terminal. */
class Terminal {
    readonly child: ChildProcess
    out = ""
    code: number | null = null
    readonly exited: Promise<number>

    constructor(args: string[]) {
        const cmd = [process.execPath, BIN, ...args].map(a => `'${a}'`).join(" ")
        this.child = spawn("script", ["-qfec", cmd, "/dev/null"], { cwd: ROOT, detached: true, stdio: ["pipe", "pipe", "pipe"], env: { ...process.env, COLUMNS: "200" } })
        this.child.stdout!.on("data", d => (this.out += d))
        this.child.stderr!.on("data", d => (this.out += d))
        this.exited = new Promise(r => this.child.on("exit", c => r((this.code = c ?? 128))))
    }

    count(re: RegExp) {
        return (this.out.match(new RegExp(re.source, "g")) || []).length
    }

    type(line: string) {
        this.child.stdin!.write(line + "\r")
    }

    kill() {
        if (this.code === null && this.child.pid)
            try {
                process.kill(-this.child.pid, "SIGKILL")
            } catch {
                // gone
            }
    }
}

/** The drive ran the counts asked for (the firmware stops on the count; a few counts of coast are fine). */
function assertMoved(out: string) {
    const m = /the plunger moved (\d+) counts/.exec(out)
    assert.ok(m, out)
    assert.ok(Math.abs(+m![1] - COUNTS) <= COUNTS * 0.01, `moved ${m![1]} counts of ${COUNTS}`)
}

describe("calibrate against the firmware in the VM (BOARD-3)", () => {
    let fw: Firmware
    const terms = new Set<Terminal>()
    before(async () => {
        assert.equal(spawnSync("sh", ["-c", "command -v script"]).status, 0, "script(1) (util-linux) is needed: calibrate asks on a terminal")
        // a fresh flash: nothing calibrated
        fw = await Firmware.open()
        fw.benchAtRest()
    })
    after(async () => {
        for (const t of terms) t.kill()
        killAllCli()
        await fw?.close()
    })

    /**
     * Runs `injector calibrate` on a terminal and plays the person at the
     * bench until it exits: Enter when asked, the mass on the load cell
     * before its value is typed, the confirm button each time the CLI asks,
     * the displaced volume (µL) from the bench when asked for it (or `volumeUl`).
     */
    async function session(args: string[], volumeUl?: (measuredUl: number) => number) {
        const t = new Terminal(["--tcp", fw.tcp, "calibrate", ...args])
        terms.add(t)
        let enters = 0
        let masses = 0
        let confirms = 0
        let volumes = 0
        let driveFromMl = NaN
        const end = Date.now() + 120000
        try {
            while (t.code === null) {
                if (Date.now() > end) assert.fail(`calibrate did not finish in 120 s; it printed:\n${t.out}`)
                if (t.count(/press Enter to go on/) > enters) {
                    enters++
                    if (/syringe and cup in place\?[^\n]*$/.test(t.out)) driveFromMl = fw.displacedMl()
                    await sleep(200)
                    t.type("")
                } else if (t.count(/its mass in kg: /) > masses) {
                    masses++
                    fw.placeMass(MASS_KG)
                    await sleep(300) // the firmware's load cell filter settles on the new load
                    t.type(String(MASS_KG))
                } else if (t.count(/press confirm on the device/) > confirms) {
                    confirms++
                    await sleep(200)
                    await fw.pressConfirm()
                } else if (t.count(/collected volume in µL/) > volumes) {
                    volumes++
                    const measuredUl = (fw.displacedMl() - driveFromMl) * 1000
                    t.type((volumeUl ? volumeUl(measuredUl) : measuredUl).toFixed(1))
                } else if (t.count(/gain done: you can take the mass off/) > 0 && masses > 0) {
                    fw.placeMass(0)
                }
                await sleep(50)
            }
        } finally {
            t.kill()
            terms.delete(t)
        }
        return { code: t.code, out: t.out, confirms, driveFromMl }
    }

    test("BOARD-3: the guided flow on a fresh device: tare, known mass, calibration drive, measured volume, each confirmed on the device; flags 7, and the load cell then reads the known mass", async () => {
        const before = await fw.fresh()
        assert.equal(before.flags & FLAG_CAL_ALL, 0, "a fresh flash holds no calibration")
        const r = await fw.attempt("calibrate", async () => {
            await fw.clearFault()
            fw.commands.length = 0
            return session(["--counts", String(COUNTS)])
        })
        assert.equal(r.code, 0, r.out)
        assert.equal(r.confirms, 4, "tare, calibrate_gain, calibration_drive, calibrate_volume each waited for the local confirm")
        assert.deepEqual(
            fw.commands.map(c => c.name).filter((n, i, a) => a.indexOf(n) === i),
            ["tare", "calibrate_gain", "calibration_drive", "calibrate_volume"],
            "the commands in order"
        )
        assert.match(r.out, /Step 1\/3 - tare: remove the syringe and unload the plunger/)
        assert.match(r.out, /Step 2\/3 - gain: place a known mass on the load cell/)
        assertMoved(r.out)
        assert.match(r.out, /the device holds: tare yes, gain yes, volume yes \(flags register 0x[0-9a-f]+, calibration bits 7\)/)
        assert.match(r.out, /calibration complete/)
        const t = await fw.fresh()
        assert.equal(t.flags & FLAG_CAL_ALL, FLAG_CAL_ALL)
        // the result is right, not only accepted: the known mass adds its weight (±3 %). The
        // plunger still holds what the drive left in the syringe, so the mass is read as the
        // difference to the unloaded cell, before and after
        const mean = (t: { samples: { forceN: number }[] }) => t.samples.reduce((s, x) => s + x.forceN, 0) / t.samples.length
        // what the drive left in the syringe relaxes through the needle: wait until the unloaded cell is steady
        let last = mean(await fw.fresh())
        for (let i = 0; i < 40; i++) {
            await sleep(500)
            const now = mean(await fw.fresh())
            const steady = Math.abs(now - last) < 0.3
            last = now
            if (steady) break
        }
        const off1 = mean(await fw.fresh())
        fw.placeMass(MASS_KG)
        await sleep(500)
        const on = mean(await fw.fresh())
        fw.placeMass(0)
        await sleep(500)
        const off2 = mean(await fw.fresh())
        const forceN = on - (off1 + off2) / 2
        console.log(`# BOARD-3: after calibration ${MASS_KG} kg reads ${forceN.toFixed(2)} N (expected ${(MASS_KG * G).toFixed(2)} N; unloaded ${off1.toFixed(2)} / ${off2.toFixed(2)} N)`)
        assert.ok(Math.abs(forceN - MASS_KG * G) < 0.03 * MASS_KG * G, `the calibrated load cell reads ${forceN.toFixed(2)} N for ${MASS_KG} kg (${(MASS_KG * G).toFixed(2)} N)`)
    })

    test("BOARD-3: a collected volume far from what the drive displaced is rejected by the device with its reason: exit 1, the volume step stays as it was", async () => {
        const before = await fw.fresh()
        // a third of the displaced volume: far outside the device's plausible band
        const r = await fw.attempt("calibrate volume", async () => {
            await fw.clearFault()
            return session(["--step", "volume", "--counts", String(COUNTS)], ul => ul / 3)
        })
        assert.equal(r.code, 1, r.out)
        assertMoved(r.out)
        assert.match(r.out, /rejected by the device: implausible \(the calibration result is implausible\)/)
        assert.match(r.out, /calibration stopped at the volume step/)
        assert.doesNotMatch(r.out, /the device holds/)
        assert.equal(r.confirms, 1, "only the drive waited for the confirm; the implausible volume was refused at once")
        const t = await fw.fresh()
        assert.equal(t.flags & FLAG_CAL_ALL, before.flags & FLAG_CAL_ALL, "the calibration the device holds is unchanged")
    })

    test("BOARD-3: bad option values exit 2 with a clear message and nothing sent", async () => {
        fw.commands.length = 0
        const cases: [string[], RegExp][] = [
            [["--counts", "50"], /--counts must be a whole number of encoder counts from 100 to 60000, got 50/],
            [["--counts", "1500.5"], /--counts must be a whole number/],
            [["--mass", "0"], /--mass must be greater than 0 \(kg\)/],
            [["--volume", "-3"], /--volume must be greater than 0/],
            [["--step", "zero"], /--step must be one of tare, gain, volume/],
        ]
        for (const [args, re] of cases) {
            const full = ["--mass", "1", "--volume", "1430", ...args]
            const r = await runCli(["--tcp", fw.tcp, "calibrate", "--yes", ...full])
            assert.equal(r.code, 2, `${args.join(" ")}: ${r.out}${r.err}`)
            assert.match(r.err, re)
        }
        const r = await runCli(["--tcp", fw.tcp, "calibrate", "--yes", "--step", "gain"])
        assert.equal(r.code, 2)
        assert.match(r.err, /--yes runs without questions, so it needs --mass <kg>/)
        const piped = await runCli(["--tcp", fw.tcp, "calibrate"])
        assert.equal(piped.code, 2)
        assert.match(piped.err, /input is not a terminal: run with --yes/)
        assert.deepEqual(fw.commands, [], "nothing was sent")
    })
})
