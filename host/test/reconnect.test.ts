// HOST-1: a recording survives the injector dropping off the bus, the hub
// dropping every connection, and the injector restarting: gaps are marked,
// recording carries on, and what was recorded stays as it was.
import { strict as assert } from "node:assert"
import { readFileSync } from "node:fs"
import { after, before, describe, test } from "node:test"
import { Op } from "../../src/core/types"
import { FakeInjector } from "./fake-injector"
import { Bench, bench, cli, readLines, runCli, sleep, tmp } from "./helpers"

function inject(f: FakeInjector) {
    f.local(Op.SetLevel, 19) // L1: 5 mL cap, fills slowly
    f.local(Op.MarkMixing, 10)
    f.local(Op.SetFlow, 0.5)
    f.local(Op.Arm)
    f.local(Op.Start)
}

function checkSamples(lines: any[], fakes: FakeInjector[]) {
    const emitted = new Map<string, any>()
    fakes.forEach((f, k) => f.emitted.samples.forEach(s => emitted.set(`${k}/${s.seq}/${s.i}`, s)))
    let session = 0
    for (const l of lines) {
        if (l.type === "gap" && l.phase === "device_restart") session++
        if (l.type !== "sample") continue
        const e = emitted.get(`${session}/${l.seq}/${l.i}`)
        assert.ok(e, `recorded sample ${l.seq}/${l.i} was never sent`)
        assert.equal(l.t_dev, e.t_dev)
        assert.equal(l.pressure, e.pressure)
        assert.equal(l.volume, e.volume)
    }
}

describe("recording across disconnects", () => {
    let b: Bench
    before(async () => {
        b = await bench({ bench: true })
        inject(b.fake)
    })
    after(async () => {
        await b.close()
    })

    test("HOST-1: the injector drops off the bus for 4 s: a gap is marked, recording resumes, nothing sent while connected is lost", async () => {
        const file = tmp("drop.jsonl")
        const rec = cli("--tcp", b.tcp, "record", "-o", file)
        await rec.waitFor(/connected: injector/)
        // from here on the recorder has the injector: every sample counts
        const fromAt = b.fake.emitted.samples.length
        await sleep(1500)
        const before = readFileSync(file, "utf8")
        b.fake.autoReconnect = false
        await b.fake.goOffline()
        const offAt = b.fake.emitted.samples.length
        await rec.waitFor(/lost: no packet from the injector/)
        // past jacdac-ts's 3 s device timeout: the injector comes back as a new
        // device whose first packets arrive before its announce
        await sleep(2500)
        const onFrom = b.fake.emitted.samples.length
        b.fake.autoReconnect = true
        await b.fake.goOnline()
        await rec.waitFor(/connected: injector[^\n]*\n[\s\S]*connected: injector/)
        await sleep(1500)
        const onTo = b.fake.emitted.samples.length - 10
        rec.signal("SIGINT")
        const r = await rec.result()
        assert.equal(r.code, 0, r.err)
        const text = readFileSync(file, "utf8")
        assert.ok(text.startsWith(before), "lines written before the gap are unchanged")
        const lines = readLines(file)
        const gaps = lines.filter(l => l.type === "gap")
        assert.deepEqual(
            gaps.map(g => g.phase),
            ["start", "end"]
        )
        assert.match(gaps[0].reason, /no packet from the injector for 1500 ms/)
        assert.ok(gaps[1].gap_ms >= 2500, `gap of ${gaps[1].gap_ms} ms`)
        assert.equal(gaps[1].device, b.fake.deviceId)
        checkSamples(lines, [b.fake])
        const keys = new Set(lines.filter(l => l.type === "sample").map(l => `${l.seq}/${l.i}`))
        // samples sent before the drop and after the return are all there
        const sent = b.fake.emitted.samples
        const wanted = [...sent.slice(fromAt, offAt - 10), ...sent.slice(onFrom, onTo)].filter(s => s.online)
        const missing = wanted.filter(s => !keys.has(`${s.seq}/${s.i}`))
        const where = missing.map(s => sent.indexOf(s)).map(k => (k < offAt ? `off${k - offAt}` : `on+${k - onFrom}`))
        assert.equal(missing.length, 0, `missing ${missing.length} of ${wanted.length}: ${where.join(" ")}`)
        // the gap sits between the two stretches
        const gi = lines.indexOf(gaps[0])
        assert.ok(lines.slice(gi).some(l => l.type === "sample"), "samples after the gap")
    })

    test("HOST-1: the hub drops every connection: the recorder reconnects by itself and keeps recording", async () => {
        const file = tmp("kick.jsonl")
        const rec = cli("--tcp", b.tcp, "record", "-o", file)
        await rec.waitFor(/connected: injector/)
        await sleep(1000)
        b.hub.kick()
        await rec.waitFor(/lost: tcp [\d.:]+ closed/)
        await rec.waitFor(/lost[\s\S]*connected: injector/, 10000)
        await sleep(1000)
        rec.signal("SIGINT")
        const r = await rec.result()
        assert.equal(r.code, 0, r.err)
        const lines = readLines(file)
        const gaps = lines.filter(l => l.type === "gap")
        assert.deepEqual(
            gaps.map(g => g.phase),
            ["start", "end"]
        )
        assert.match(gaps[0].reason, /closed/)
        const after = lines.slice(lines.indexOf(gaps[1]))
        assert.ok(after.filter(l => l.type === "sample").length >= 20, "recording went on after the reconnect")
        checkSamples(lines, [b.fake])
    })

    test("HOST-1: the injector restarts (device clock back to zero): marked as a restart, recording carries on; --append continues a file", async () => {
        const file = tmp("restart.jsonl")
        const rec = cli("--tcp", b.tcp, "record", "-o", file)
        await rec.waitFor(/connected: injector/)
        await sleep(1000)
        const id = b.fake.deviceId
        const old = b.fake
        await old.stop()
        await sleep(500)
        const fresh = await new FakeInjector({ tcp: b.tcp, deviceId: id, bench: true, clockStartMs: 10 }).start()
        b.fake = fresh
        inject(fresh)
        // same device id back within the loss timeout: only its clock tells it restarted
        const deadline = Date.now() + 10000
        while (!readFileSync(file, "utf8").includes('"device_restart"') && Date.now() < deadline) await sleep(100)
        await sleep(1500)
        rec.signal("SIGINT")
        assert.equal((await rec.result()).code, 0)
        const lines = readLines(file)
        const phases = lines.filter(l => l.type === "gap").map(l => l.phase)
        assert.ok(phases.includes("device_restart"), `gap phases: ${phases}`)
        checkSamples(lines, [old, fresh])
        const n = lines.length
        // continue the same file
        const more = cli("--tcp", b.tcp, "record", "-o", file, "--append", "--duration", "1.5")
        assert.equal((await more.result()).code, 0)
        const all = readLines(file)
        assert.deepEqual(all.slice(0, n), lines, "earlier lines kept")
        assert.equal(all[n].type, "meta")
        assert.ok(all.slice(n).some(l => l.type === "sample"))
        // and the report takes the whole file
        const rep = await runCli(["report", file, "-o", tmp("restart.html")])
        assert.equal(rep.code, 0, rep.err)
    })
})
