// HOST-4: the host tools alarm unmistakably. The monitor rings the terminal
// bell and shows a banner on a device alarm, a fault and the loss of the
// device, until the condition clears or is acknowledged (piped and on a real
// pseudo-terminal); `record` says loudly when it lost the device and when it
// got it back. TEL-4 (host side): level records the device sends again after
// a reconnect are kept once. Fake injector on a hub.
import { strict as assert } from "node:assert"
import { ChildProcess, spawn, spawnSync } from "node:child_process"
import { readFileSync } from "node:fs"
import { after, before, describe, test } from "node:test"
import { Op, Reason } from "../../src/core/types"
import { FakeInjector } from "./fake-injector"
import { BIN, Bench, ROOT, bench, cli, readLines, runCli, sleep, tmp } from "./helpers"

function inject(f: FakeInjector, level = 19) {
    f.local(Op.SetLevel, level) // L1: 5 mL cap, fills slowly
    f.local(Op.MarkMixing, 10)
    f.local(Op.SetFlow, 0.5)
    f.local(Op.Arm)
    f.local(Op.Start)
}

const bells = (s: string) => s.split("\x07").length - 1

async function until(what: string, cond: () => boolean, ms: number, shown: () => string) {
    const end = Date.now() + ms
    while (!cond()) {
        if (Date.now() > end) assert.fail(`${what} within ${ms} ms; output:\n${shown().slice(-3000)}`)
        await sleep(50)
    }
}

describe("HOST-4 alarms in the terminal (fake injector on a hub)", () => {
    let b: Bench
    before(async () => {
        b = await bench({ bench: true })
        inject(b.fake)
    })
    after(async () => {
        await b.close()
    })

    test("HOST-4: monitor (piped) rings the bell and prints a banner on an alarm, a warning, a fault and the loss of the device; each stays until it clears or is acknowledged", async () => {
        const p = cli("--tcp", b.tcp, "monitor", "--duration", "60")
        await p.waitFor(/injecting level=L1/)
        assert.equal(bells(p.out), 0, "no bell while all is well")

        // a device alarm that paused the injection: bell and banner
        b.fake.overpressure()
        await p.waitFor(/!!! ALARM: overpressure - injection paused at \d\d:\d\d:\d\d !!!/)
        assert.ok(bells(p.out) >= 1, "the bell rang")
        // it stays while the condition lasts, and the bell rings again
        const rung = bells(p.out)
        await until("the bell rings again while the alarm stands", () => bells(p.out) > rung, 15000, () => p.out)
        assert.doesNotMatch(p.out, /cleared: ALARM/)
        // the operator resumes: the condition clears
        b.fake.minHoldMs = 0
        b.fake.local(Op.Resume)
        await p.waitFor(/cleared: ALARM: overpressure - injection paused \(paused -> injecting \(resumed\)\)/)

        // a warning: shown apart (no "!!!"), one bell
        const beforeWarn = bells(p.out)
        b.fake.event("alarm", { reason: Reason.CapWarning, action: 1 })
        await p.waitFor(/\n\x07?WARNING: cap_warning at \d\d:\d\d:\d\d\n/)
        assert.equal(bells(p.out), beforeWarn + 1)
        assert.doesNotMatch(p.out, /!!! WARNING/)

        // a fault: banner until acknowledged (the device stays in fault)
        b.fake.fault(Reason.Stall)
        await p.waitFor(/!!! FAULT: stall - the injector stopped at \d\d:\d\d:\d\d !!!/)
        await p.waitFor(/!!! ALARM: stall - fault at/)
        await sleep(1500)
        assert.doesNotMatch(p.out, /cleared: FAULT/, "the fault stays while the device is in fault")
        p.child.stdin!.write("a\n")
        await p.waitFor(/acknowledged: FAULT: stall - the injector stopped/)
        await p.waitFor(/acknowledged: ALARM: stall - fault/)
        // acknowledged: the bell stops
        await sleep(300)
        const quiet = bells(p.out)
        await sleep(6000)
        assert.equal(bells(p.out), quiet, "no bell after the acknowledgement")

        // loss of the device: bell and banner until it is back
        b.fake.autoReconnect = false
        await b.fake.goOffline()
        await p.waitFor(/!!! DEVICE LOST: no packet from the injector for 1500 ms at \d\d:\d\d:\d\d !!!/)
        const lostBells = bells(p.out)
        assert.ok(lostBells > quiet)
        b.fake.autoReconnect = true
        await b.fake.goOnline()
        await p.waitFor(/cleared: DEVICE LOST: no packet from the injector for 1500 ms \(the injector is back\)/, 10000)
        p.signal("SIGINT")
        const r = await p.result()
        assert.equal(r.code, 0, r.err)
        b.fake.local(Op.ClearFault)
    })

    test("HOST-4: monitor on a terminal (pseudo-terminal): red banner at the top of the screen and the bell; A acknowledges it", async () => {
        assert.equal(spawnSync("sh", ["-c", "command -v script"]).status, 0, "script(1) (util-linux) is needed for the terminal test")
        inject(b.fake)
        await sleep(300)
        const cmd = [process.execPath, BIN, "--tcp", b.tcp, "monitor", "--duration", "40"].map(a => `'${a}'`).join(" ")
        const child: ChildProcess = spawn("script", ["-qfec", cmd, "/dev/null"], { cwd: ROOT, detached: true, stdio: ["pipe", "pipe", "pipe"], env: { ...process.env, COLUMNS: "100", LINES: "40" } })
        let out = ""
        child.stdout!.on("data", d => (out += d))
        const lastFrame = () => {
            const frames = out.split("\x1b[H\x1b[2J")
            return frames.length > 2 ? frames[frames.length - 2] : ""
        }
        try {
            await until("the monitor draws INJECTING", () => /state\s+\S*INJECTING/.test(lastFrame()), 15000, () => out)
            assert.equal(bells(out), 0)
            b.fake.overpressure()
            await until("the banner is drawn", () => lastFrame().includes("!!! ALARM: overpressure - injection paused"), 8000, () => out)
            const f = lastFrame()
            // the banner is the first line of the screen, white on red
            assert.ok(f.startsWith("\x1b[5;1;97;41m !!! ALARM: overpressure - injection paused  (since "), JSON.stringify(f.slice(0, 120)))
            assert.match(f, /A: acknowledge/)
            assert.ok(bells(out) >= 1, "the bell rang on the terminal")
            child.stdin!.write("a")
            await until("the banner goes once acknowledged", () => !!lastFrame() && !lastFrame().includes("!!! ALARM"), 5000, () => out)
            // the device's own state is still shown
            assert.match(lastFrame(), /PAUSED/)
            assert.match(lastFrame(), /alarm\s+\S*overpressure \(pause\)/)
            child.stdin!.write("q")
            const code = await new Promise<number | null>(r => child.on("exit", c => r(c)))
            assert.equal(code, 0)
        } finally {
            if (child.exitCode === null && child.pid)
                try {
                    process.kill(-child.pid, "SIGKILL")
                } catch {
                    // gone
                }
        }
    })
})

describe("HOST-4 and TEL-4: record says loudly when it lost the device and when it got it back; records sent again are kept once", () => {
    let b: Bench
    before(async () => {
        b = await bench({ bench: true })
    })
    after(async () => {
        await b.close()
    })

    test("HOST-4: record prints a loud line with the time when the injector is lost and when it is back; TEL-4: level records re-sent after the reconnect are not duplicated; unknown events and the procedure fields are recorded", async () => {
        const file = tmp("loud.jsonl")
        const rec = cli("--tcp", b.tcp, "record", "-o", file, "--patient", "P-0042", "--operator", "Dr X", "--cement-lot", "LOT 9", "--needle", "11 G")
        await rec.waitFor(/connected: injector/)
        // an event code this host's spec does not know (a newer firmware): recorded raw, not dropped
        b.fake.server.sendEvent(0x8f, new Uint8Array([1, 2, 3, 250]))
        // one level to its end, so the device holds a record
        b.fake.local(Op.SetLevel, 1) // C2
        b.fake.local(Op.MarkMixing, 10)
        b.fake.local(Op.SetFlow, 6)
        b.fake.local(Op.SetCap, 0.2, 0)
        b.fake.local(Op.Arm)
        b.fake.local(Op.Start)
        await b.fake.until(() => b.fake.records.length === 1, 10000)
        await sleep(500)
        b.fake.autoReconnect = false
        await b.fake.goOffline()
        const lost = await rec.waitFor(/!{72}\n!!! LOST THE INJECTOR at (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} UTC): no packet from the injector for 1500 ms\. Still recording; waiting for it to come back\.\n!{72}/)
        assert.ok(Math.abs(Date.parse(lost[1].replace(" UTC", "Z")) - Date.now()) < 60000, `a real time: ${lost[1]}`)
        await sleep(500)
        b.fake.autoReconnect = true
        await b.fake.goOnline()
        await rec.waitFor(/!!! INJECTOR BACK at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} UTC after \d+\.\d s without data: injector \w+/, 10000)
        // the recorder asks the device for its kept records on the reconnect (TEL-4)
        await sleep(800)
        rec.signal("SIGINT")
        const r = await rec.result()
        assert.equal(r.code, 0, r.err)
        assert.match(r.err, /level record C2 sent again by the device: already recorded; marked duplicate/)
        const recs = readLines(file).filter(l => l.type === "event" && l.event === "level_record")
        // one record as the level ended, then its repeats (the recorder asks on every connection): kept, marked
        assert.ok(recs.length >= 2, `the repeat is kept in the file (${recs.length} level_record lines)`)
        assert.equal(recs[0].duplicate, undefined)
        assert.deepEqual(recs.slice(1).map(r => r.duplicate), recs.slice(1).map(() => true), "every repeat marked duplicate")
        const lines = readLines(file)
        const unknown = lines.filter(l => l.type === "event" && l.event === "unknown")
        assert.deepEqual(unknown.map(l => [l.code, l.payload]), [[0x8f, "010203fa"]])
        // the procedure fields as a meta line (HOST-2)
        const proc = lines.filter(l => l.type === "meta" && l.phase === "procedure")
        assert.equal(proc.length, 1)
        assert.deepEqual([proc[0].patient, proc[0].operator, proc[0].cement_lot, proc[0].needle], ["P-0042", "Dr X", "LOT 9", "11 G"])
        const rep = await runCli(["report", file, "-o", file.replace(/jsonl$/, "html"), "--json", file.replace(/jsonl$/, "json")])
        assert.equal(rep.code, 0, rep.err)
        assert.match(rep.err, /1 level\(s\)/)
        const page = readFileSync(file.replace(/jsonl$/, "html"), "utf8")
        assert.match(page, /data-field="patient"><span class="k">Patient<\/span><span class="v">P-0042</)
        assert.match(page, /<td>unknown<\/td><td>unknown code=143 payload=010203fa<\/td>/)
    })
})
