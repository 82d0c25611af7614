// HOST-1: the terminal monitor against the real firmware (src/main.ts in the
// DeviceScript VM on the devtools hub, host/test/firmware.ts; ports
// 8081-8083: run in a private network namespace, `unshare -n`), and the
// USB-serial transport tested through a socat pseudo-terminal pair with a
// JDUSB peer hosting the fake injector (the firmware VM has no USB serial).
import { strict as assert } from "node:assert"
import { ChildProcess, spawn, spawnSync } from "node:child_process"
import { after, before, describe, test } from "node:test"
import { Op, State } from "../../src/core/types"
import { FakeInjector } from "./fake-injector"
import { Firmware } from "./firmware"
import { cli, killAllCli, readLines, runCli, sleep, tmp } from "./helpers"
import { JdUsbDeviceTransport } from "./serial-peer"

function inject(f: FakeInjector) {
    f.local(Op.SetLevel, 1) // C2
    f.local(Op.MarkMixing, 10)
    f.local(Op.SetFlow, 1)
    f.local(Op.Arm)
    f.local(Op.Start)
}

describe("monitor against the firmware in the VM", () => {
    let fw: Firmware
    before(async () => {
        fw = await Firmware.open()
    })
    after(async () => {
        killAllCli()
        await fw?.close()
    })

    /** The volume the firmware reported last, mL. */
    const volumeMl = (t: { samples: { volumeMl: number }[] }) => t.samples[t.samples.length - 1].volumeMl

    test("HOST-1: monitor finds the injector and shows its live values (state, level, volume/cap, fill, pressure, flow, cement age, alarm) as the firmware reports them", () =>
        fw.attempt("monitor", async () => {
            await fw.ready({ level: "C2" })
            const p = cli("--tcp", fw.tcp, "send", "start")
            await p.waitFor(/press confirm on the device/)
            await fw.pressConfirm()
            assert.equal((await p.result()).code, 0)
            await fw.waitState(State.Injecting)
            await sleep(1000)

            const before = await fw.fresh()
            const once = await runCli(["--tcp", fw.tcp, "monitor", "--once"])
            const after = await fw.fresh()
            assert.equal(once.code, 0, once.err)
            for (const re of [/state\s+INJECTING \(started\)/, /level\s+C2/, /fill\s+\d+\.\d % of the vertebral body/, /pressure\s+\d\.\d{3} MPa/, /flow\s+\d\.\d\d mL\/min/, /cement age \d+:\d\d/, /alarm\s+none/])
                assert.match(once.out, re)
            // the values are the firmware's of that moment: between what it reported before and after the monitor ran
            const m = /volume\s+(\d+\.\d{3}) \/ (\d+\.\d\d) mL/.exec(once.out)
            assert.ok(m, once.out)
            assert.equal(m![2], before.capMl.toFixed(2), "the cap is the firmware's")
            assert.ok(+m![1] >= volumeMl(before) - 0.0005 && +m![1] <= volumeMl(after) + 0.0005, `volume shown ${m![1]} mL, the firmware reported ${volumeMl(before).toFixed(3)} then ${volumeMl(after).toFixed(3)} mL`)
            assert.ok(volumeMl(after) > volumeMl(before), "the injection goes on")

            // piped: a status line a second and a line per event; a leak seen on the pedal pauses it
            const mon = cli("--tcp", fw.tcp, "monitor", "--duration", "5")
            await mon.waitFor(/injecting level=C2/)
            await fw.pressPedal()
            await fw.waitState(State.Paused)
            const r = await mon.result()
            assert.equal(r.code, 0, r.err)
            assert.match(r.out, /\d\d:\d\d:\d\d injecting level=C2 volume=\d\.\d{3}\/\d\.\d\dmL fill=\d+\.\d% pressure=\d\.\d{3}MPa flow=\d\.\d\dmL\/min age=\d+:\d\d pauses=0 leaks=0/)
            assert.match(r.out, /event [\d:.]+ injecting -> paused \(leak_seen\)/)
            assert.match(r.out, /paused level=C2 .* pauses=1 leaks=1/)
            const t = await fw.fresh()
            assert.equal(t.leaks, 1)
        }))
})

describe("USB serial transport (socat PTY pair)", () => {
    let socat: ChildProcess
    let fake: FakeInjector
    let hostEnd = ""

    before(async () => {
        const which = spawnSync("sh", ["-c", "command -v socat"])
        assert.equal(which.status, 0, "socat is needed for the serial tests: apt-get install -y socat")
        socat = spawn("socat", ["-d", "-d", "pty,raw,echo=0", "pty,raw,echo=0"], { detached: true, stdio: ["ignore", "ignore", "pipe"] })
        let err = ""
        socat.stderr!.on("data", d => (err += d))
        const end = Date.now() + 5000
        let ptys: string[] = []
        while (Date.now() < end) {
            ptys = [...err.matchAll(/PTY is (\S+)/g)].map(m => m[1])
            if (ptys.length === 2 && /starting data transfer/.test(err)) break
            await sleep(50)
        }
        assert.equal(ptys.length, 2, `socat gave no PTY pair: ${err}`)
        hostEnd = ptys[1]
        fake = await new FakeInjector({ transport: new JdUsbDeviceTransport(ptys[0]), bench: true }).start()
        inject(fake)
    })
    after(async () => {
        await fake?.stop()
        if (socat?.pid)
            try {
                process.kill(-socat.pid, "SIGTERM")
            } catch {
                // gone
            }
    })

    test("HOST-1: --serial records from a Jacdac-over-USB (JDUSB) device: every sample and event as sent", async () => {
        const file = tmp("serial.jsonl")
        const from = fake.emitted.samples.length
        const rec = cli("--serial", hostEnd, "record", "-o", file)
        await rec.waitFor(/connected: injector/)
        await sleep(1000)
        fake.overpressure()
        await sleep(1500)
        rec.signal("SIGINT")
        const r = await rec.result()
        assert.equal(r.code, 0, r.err)
        assert.match(r.err, new RegExp(`from serial ${hostEnd}`))
        const lines = readLines(file)
        const samples = lines.filter(l => l.type === "sample")
        assert.ok(samples.length > 80, `${samples.length} samples over serial`)
        const sent = new Map(fake.emitted.samples.slice(from).map(s => [`${s.seq}/${s.i}`, s]))
        for (const s of samples) {
            const e = sent.get(`${s.seq}/${s.i}`)
            if (!e) continue // sent before this test's window
            assert.equal(s.pressure, e.pressure)
            assert.equal(s.volume, e.volume)
            assert.equal(s.t_dev, e.t_dev)
        }
        const ev = lines.filter(l => l.type === "event").map(l => `${l.event}:${l.reason}`)
        assert.ok(ev.includes("alarm:overpressure") && ev.includes("transition:overpressure"), ev.join(", "))
    })

    test("HOST-1, HOST-3: --serial sends commands (acknowledged) and the monitor reads the device", async () => {
        const m = await runCli(["--serial", hostEnd, "monitor", "--once"])
        assert.equal(m.code, 0, m.err)
        assert.match(m.out, /state\s+PAUSED \(overpressure\)/)
        fake.minHoldMs = 0
        const r = await runCli(["--serial", hostEnd, "send", "resume"])
        assert.equal(r.code, 0, r.out + r.err)
        assert.match(r.out, /state: paused -> injecting \(resumed\)/)
        assert.equal(fake.state, State.Injecting)
        const rej = await runCli(["--serial", hostEnd, "send", "set-level", "C3"])
        assert.equal(rej.code, 1)
        assert.match(rej.out, /rejected by the device: wrong_state/)
    })
})
