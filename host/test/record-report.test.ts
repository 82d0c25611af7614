// HOST-1, HOST-2, TEL-2, TEL-3: record a procedure from the fake injector over
// the bus with the real CLI, then report it; everything must equal what the
// device sent.
import { strict as assert } from "node:assert"
import { existsSync, readFileSync } from "node:fs"
import { after, before, describe, test } from "node:test"
import { Bench, bench, cli, readLines, runCli, sleep, tmp } from "./helpers"

/** The recorded value of an emitted event field (codes are kept as <name>_code next to readable names). */
function recorded(line: any, key: string) {
    return line[key + "_code"] !== undefined ? line[key + "_code"] : line[key]
}

describe("record and report a procedure (fake injector on a hub)", () => {
    let b: Bench
    const file = tmp("run.jsonl")
    const csv = file.replace(/jsonl$/, "csv")
    const html = file.replace(/jsonl$/, "html")
    const json = file.replace(/jsonl$/, "json")
    let samplesFrom = 0
    let eventsFrom = 0

    before(async () => {
        b = await bench()
    })
    after(async () => {
        await b.close()
    })

    test("HOST-1, TEL-2, TEL-3: record writes every telemetry sample (one line each, host and device times) and every event, flushed as it goes", async () => {
        const rec = cli("--tcp", b.tcp, "record", "-o", file, "--csv", csv)
        await rec.waitFor(/connected: injector/)
        await sleep(300)
        samplesFrom = b.fake.emitted.samples.length
        eventsFrom = b.fake.emitted.events.length
        const demo = b.fake.demoProcedure()
        await sleep(1500)
        // flushed as it goes: lines are in the file while recording
        const midway = readLines(file).filter(l => l.type === "sample").length
        assert.ok(midway > 20, `expected samples in the file while recording, found ${midway}`)
        await demo
        await sleep(600)
        const emittedSamples = b.fake.emitted.samples.slice(samplesFrom)
        const emittedEvents = b.fake.emitted.events.slice(eventsFrom)
        await sleep(300)
        rec.signal("SIGINT")
        const r = await rec.result()
        assert.equal(r.code, 0, r.err)
        assert.match(r.err, /recorded \d+ samples/)

        const lines = readLines(file)
        assert.equal(lines[0].type, "meta")
        assert.equal(lines[0].format, "injector-jsonl")
        assert.equal(lines[lines.length - 1].phase, "end")
        const samples = lines.filter(l => l.type === "sample")
        const byKey = new Map(samples.map(s => [`${s.seq}/${s.i}`, s]))
        for (const e of emittedSamples) {
            const s = byKey.get(`${e.seq}/${e.i}`)
            assert.ok(s, `sample seq ${e.seq} #${e.i} was not recorded`)
            for (const k of ["t_dev", "volume", "pressure", "force", "flow", "motor_speed", "cap", "fill_fraction", "cement_age", "pauses", "leaks", "period", "flags", "pending"])
                assert.equal(s[k], (e as any)[k], `sample ${e.seq}/${e.i} field ${k}`)
            assert.equal(s.state_code, e.state)
            assert.equal(s.level_code, e.level)
            assert.equal(typeof s.t_host, "number")
            assert.ok(s.t_host <= s.t_rx + 1e-6, "a sample's host time is not after its batch arrived")
        }
        // device times strictly increase, 20 ms apart within a batch while active
        for (let i = 1; i < samples.length; ++i) assert.ok(samples[i].t_dev > samples[i - 1].t_dev, `t_dev goes back at sample ${i}`)
        const active = samples.filter(s => s.period === 20)
        assert.ok(active.length > 300, `expected 50 Hz samples while injecting, got ${active.length}`)

        const events = lines.filter(l => l.type === "event")
        const mine = events.slice(events.length - emittedEvents.length)
        assert.equal(events.length >= emittedEvents.length, true)
        emittedEvents.forEach((e, i) => {
            const l = mine[i]
            assert.equal(l.event, e.name, `event ${i}`)
            for (const k of Object.keys(e.fields)) assert.equal(recorded(l, k), e.fields[k], `event ${i} (${e.name}) field ${k}`)
            assert.equal(typeof l.t_host, "number")
            assert.equal(typeof l.t_dev, "number")
            // the device-time estimate of an event lands near when the fake emitted it
            assert.ok(Math.abs(l.t_dev - e.t_dev) < 100, `event ${i} t_dev estimate ${l.t_dev} vs ${e.t_dev}`)
        })
        assert.equal(events.filter(e => e.event === "level_record").length, 3)

        // CSV: a header and one row per sample, event and gap line
        const rows = readFileSync(csv, "utf8").trim().split("\n")
        assert.match(rows[0], /^type,t_host,t_dev,seq,i,state,reason,level,cap,volume/)
        assert.equal(rows.length - 1, lines.filter(l => l.type !== "meta").length)
    })

    test("HOST-2, TEL-3: report per-level table equals the device's level records exactly, cross-checked with the samples", async () => {
        assert.ok(existsSync(file), "the recording test must run first")
        const r = await runCli(["report", file, "-o", html, "--json", json])
        assert.equal(r.code, 0, r.err)
        assert.match(r.err, /3 level\(s\)/)
        const rep = JSON.parse(readFileSync(json, "utf8"))
        const recs = b.fake.records
        assert.equal(rep.levels.length, 3)
        rep.levels.forEach((l: any, i: number) => {
            const f = recs[recs.length - 3 + i]
            assert.equal(l.source, "level_record")
            assert.equal(l.level_code, f.level)
            assert.equal(l.cap, f.cap)
            assert.equal(l.delivered, f.volume)
            assert.equal(l.fill_fraction, f.fill_fraction)
            assert.equal(l.peak_pressure, f.peak_pressure)
            assert.equal(l.pauses, f.pauses)
            assert.equal(l.leak_pauses, f.leak_pauses)
            assert.equal(l.overrides, f.overrides)
            assert.equal(l.start_time, f.start_time)
            assert.equal(l.end_time, f.end_time)
            assert.equal(l.duration_ms, (f.end_time as number) - (f.start_time as number))
            assert.ok(l.check.ok, `level ${l.level} cross-check: ${l.check.notes.join("; ")}`)
            assert.ok(l.check.samples > 10)
        })
        assert.deepEqual(
            rep.levels.map((l: any) => [l.level, l.end_state, l.end_reason, l.pause_reasons]),
            [
                ["C2", "completed", "cap_reached", ["leak_seen", "overpressure"]],
                ["C3", "completed", "finished", []],
                ["T12", "aborted", "operator_abort", ["operator_pause"]],
            ]
        )
        assert.deepEqual(rep.levels[0].override_details, ["cap raised to 3.8 mL"])

        const page = readFileSync(html, "utf8")
        // the table shows the figures to the instrument's resolution (0.01 mL, 0.01 MPa, 0.1 s)
        // and keeps the recorded values exactly in data-value
        for (const l of rep.levels) {
            const row = page.slice(page.indexOf(`<tr data-level="${l.level}">`)).split("</tr>")[0]
            const cells = [
                [l.cap, l.cap.toFixed(2)],
                [l.delivered, l.delivered.toFixed(2)],
                [l.peak_pressure, (l.peak_pressure / 1e6).toFixed(2)],
                [l.duration_ms, (l.duration_ms / 1000).toFixed(1)],
            ]
            for (const [exact, shown] of cells) assert.ok(row.includes(`data-value="${exact}">${shown}<`), `row ${l.level} shows ${shown} (exact ${exact})`)
        }
        // offline: everything inlined, nothing fetched
        assert.doesNotMatch(page, /<script[^>]*\bsrc=/i)
        assert.doesNotMatch(page, /<link[^>]*\bhref=/i)
        assert.doesNotMatch(page, /url\(\s*['"]?https?:/i)
        assert.match(page, /uPlot/)
        // the plotted series are the recorded values, in order
        const data = JSON.parse(page.match(/<script type="application\/json" id="series-data">([\s\S]*?)<\/script>/)![1])
        const samples = readLines(file).filter(l => l.type === "sample")
        assert.deepEqual(data.series.pressure.filter((v: any) => v !== null), samples.map(s => s.pressure).filter(v => v !== null))
        assert.deepEqual(data.series.volume.filter((v: any) => v !== null), samples.map(s => s.volume).filter(v => v !== null))
        assert.deepEqual(data.series.flow.filter((v: any) => v !== null), samples.map(s => s.flow).filter(v => v !== null))
        const kinds = (k: string) => data.markers.filter((m: any) => m.kind === k).map((m: any) => m.label)
        assert.deepEqual(kinds("pause"), ["paused: leak_seen", "paused: overpressure", "paused: operator_pause"])
        assert.deepEqual(kinds("leak"), ["leak: leak_seen"])
        assert.deepEqual(kinds("alarm"), ["alarm: overpressure (pause)", "alarm: cap_warning (warn)", "alarm: cap_reached (stop)"])
        assert.equal(kinds("level").length, 3)
    })
})
