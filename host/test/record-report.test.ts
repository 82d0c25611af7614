// HOST-1, HOST-2, TEL-2, TEL-3: `injector record` records a procedure run on
// the real firmware (src/main.ts in the DeviceScript VM on the devtools hub,
// host/test/firmware.ts) with the bench simulator's hardware; `injector
// report` reports it. What the file and the report hold is checked against
// what the firmware itself sent, as seen on the bus: every telemetry batch by
// its sequence number, every sample, every event, the level records.
//
// Uses the hub's fixed ports 8081-8083: run in a private network namespace,
//   unshare -n bash -c 'ip link set lo up; node --import tsx --test host/test/record-report.test.ts'
import { strict as assert } from "node:assert"
import { existsSync, readFileSync } from "node:fs"
import { after, before, describe, test } from "node:test"
import { Reason, State } from "../../src/core/types"
import { levelIndex } from "../../src/core/levels"
import { actionName, reasonName } from "../lib/spec"
import { Firmware, SentBatch, SentEvent } from "./firmware"
import { cli, killAllCli, readLines, runCli, sleep, tmp } from "./helpers"

/** The recorded value of an event field (codes are kept as <name>_code next to readable names). */
function recorded(line: any, key: string) {
    return line[key + "_code"] !== undefined ? line[key + "_code"] : line[key]
}

describe("record and report a procedure run on the firmware in the VM", () => {
    let fw: Firmware
    let file = ""
    /** what the firmware sent while the recorder was surely listening */
    let batches: SentBatch[] = []
    let events: SentEvent[] = []
    /**
     * The procedure's two levels. A retry after a spurious stale fault takes two
     * fresh ones: the firmware keeps each level's delivered volume for the whole
     * session (VOL-7), so a level the failed attempt filled to its cap cannot be
     * armed again.
     */
    const LEVEL_PAIRS = [["C2", "T12"], ["C3", "T11"], ["C4", "T10"], ["C5", "T9"]]
    let lvA = "C2"
    let lvB = "T12"
    let tries = 0

    before(async () => {
        fw = await Firmware.open()
    })
    after(async () => {
        killAllCli()
        await fw?.close()
    })

    /** Starts the level from the CLI, confirmed on the device's button. */
    async function start() {
        const p = cli("--tcp", fw.tcp, "send", "start")
        await p.waitFor(/press confirm on the device/)
        await fw.pressConfirm()
        const r = await p.result()
        assert.equal(r.code, 0, r.out + r.err)
        await fw.waitState(State.Injecting)
    }

    /** Resumes from the CLI once the device's minimum hold has passed, confirmed on the device. */
    async function resume() {
        for (let i = 0; i < 10; i++) {
            const p = cli("--tcp", fw.tcp, "send", "resume")
            const m = await Promise.race([p.waitFor(/press confirm on the device/), p.exited.then(() => null)])
            if (m) {
                await fw.pressConfirm()
                const r = await p.result()
                assert.equal(r.code, 0, r.out + r.err)
                return
            }
            const hold = /hold left: (\d+\.\d) s/.exec(p.out)
            assert.ok(hold, `resume refused for another reason: ${p.out}${p.err}`)
            await sleep(+hold![1] * 1000 + 300)
        }
        assert.fail("resume was refused ten times")
    }

    test("HOST-1, TEL-2, TEL-3: record writes every telemetry batch and sample the firmware sent (by its sequence numbers) and every event, flushed as it goes", () =>
        fw.attempt("record", async () => {
            ;[lvA, lvB] = LEVEL_PAIRS[tries++ % LEVEL_PAIRS.length]
            file = tmp("run.jsonl")
            const csv = file.replace(/jsonl$/, "csv")
            // level 1 is set up before the recording starts: selecting C2 closes the
            // record of whatever level the fixture used before (VOL-7), which is not
            // part of this procedure
            await fw.ready({ level: lvA, capMl: 0.4 })
            await sleep(2000) // that record leaves once the plunger is at rest: let it go before recording
            const rec = cli("--tcp", fw.tcp, "record", "-o", file, "--csv", csv)
            try {
                await rec.waitFor(/connected: injector/)
                await sleep(500)
                const tFrom = performance.now()

                // level 1: C2, a small cap (short in real time), a leak seen on the pedal, resumed, to the cap
                await start()
                await sleep(1500)
                // flushed as it goes: lines are in the file while recording
                const midway = readLines(file).filter(l => l.type === "sample").length
                assert.ok(midway > 20, `expected samples in the file while recording, found ${midway}`)
                await fw.pressPedal()
                await fw.waitState(State.Paused)
                await resume()
                await fw.waitFor(`level ${lvA} ends at its cap`, 60000, t => t.state === State.Completed)

                // level 2: T12, paused by the operator, aborted
                await fw.ready({ level: lvB })
                await start()
                await sleep(1000)
                assert.equal((await runCli(["--tcp", fw.tcp, "send", "pause"])).code, 0)
                await sleep(500)
                assert.equal((await runCli(["--tcp", fw.tcp, "send", "abort"])).code, 0)
                await fw.waitState(State.Aborted)
                await sleep(1000) // the level record and a few batches after it
                const tTo = performance.now()
                await sleep(500)
                batches = fw.batches.filter(b => b.tMs >= tFrom && b.tMs <= tTo)
                events = fw.sentEvents.filter(e => e.tMs >= tFrom && e.tMs <= tTo)
                rec.signal("SIGINT")
                const r = await rec.result()
                assert.equal(r.code, 0, r.err)
                assert.match(r.err, /recorded \d+ samples/)
            } finally {
                rec.kill()
            }

            const lines = readLines(file)
            assert.equal(lines[0].type, "meta")
            assert.equal(lines[0].format, "injector-jsonl")
            assert.equal(lines[lines.length - 1].phase, "end")
            assert.deepEqual(lines.filter(l => l.type === "gap"), [], "no batch missing in the file")

            // the firmware's own batch sequence numbers: consecutive on the bus, and every one in the file
            assert.ok(batches.length > 100, `${batches.length} batches in the procedure`)
            batches.forEach((b, i) => i > 0 && assert.equal(b.seq, batches[i - 1].seq + 1, `the firmware's seq after ${batches[i - 1].seq}`))
            const samples = lines.filter(l => l.type === "sample")
            const byKey = new Map(samples.map(s => [`${s.seq}/${s.i}`, s]))
            let n = 0
            for (const b of batches) {
                assert.equal(samples.filter(s => s.seq === b.seq).length, b.samples.length, `batch seq ${b.seq}: all ${b.samples.length} samples recorded`)
                b.samples.forEach((e, i) => {
                    const s = byKey.get(`${b.seq}/${i}`)!
                    assert.equal(s.t_dev, b.header.time + i * b.header.period, `sample ${b.seq}/${i} t_dev`)
                    for (const k of ["volume", "pressure", "force", "flow", "motor_speed"]) assert.equal(s[k], e[k], `sample ${b.seq}/${i} field ${k}`)
                    for (const k of ["cap", "fill_fraction", "cement_age", "pauses", "leaks", "period", "flags", "pending"])
                        assert.equal(s[k], b.header[k], `sample ${b.seq}/${i} header field ${k}`)
                    assert.equal(s.state_code, b.header.state)
                    assert.equal(s.level_code, b.header.level)
                    assert.ok(s.t_host <= s.t_rx + 1e-6, "a sample's host time is not after its batch arrived")
                    n++
                })
            }
            console.log(`# HOST-1: ${batches.length} batches (seq ${batches[0].seq}..${batches[batches.length - 1].seq}), ${n} samples, ${events.length} events from the firmware, all in the file`)
            for (let i = 1; i < samples.length; ++i) assert.ok(samples[i].t_dev > samples[i - 1].t_dev, `t_dev goes back at sample ${i}`)
            assert.ok(samples.filter(s => s.period === 20).length > 300, "50 Hz samples while injecting")

            // every event the firmware sent, in order, with its fields
            const evLines = lines.filter(l => l.type === "event")
            let j = 0
            for (const e of events) {
                while (j < evLines.length && !(evLines[j].event === e.name && Object.keys(e.fields).every(k => recorded(evLines[j], k) === e.fields[k]))) j++
                assert.ok(j < evLines.length, `event ${e.name} ${JSON.stringify(e.fields)} is in the file, in order`)
                j++
            }
            // the procedure's two levels each ended once (selecting C2 at the start may also close
            // the record of a level the fixture used before: VOL-7 emits it on every level change)
            // a level's record may be sent again (VOL-7: on its end and on the next level change): one per level, start and end
            const uniq = new Map(events.filter(e => e.name === "level_record").map(e => [`${e.fields.level}/${e.fields.start_time}/${e.fields.end_time}`, e.fields.level]))
            const ended = [...uniq.values()]
            assert.equal(ended.filter(l => l === levelIndex(lvA)).length, 1, `${lvA} ended once (records for levels ${ended})`)
            assert.equal(ended.filter(l => l === levelIndex(lvB)).length, 1, `${lvB} ended once (records for levels ${ended})`)

            // CSV: a header and one row per sample, event and gap line
            const rows = readFileSync(csv, "utf8").trim().split("\n")
            assert.match(rows[0], /^type,t_host,t_dev,seq,i,state,reason,level,cap,volume/)
            assert.equal(rows.length - 1, lines.filter(l => l.type !== "meta").length)
        }))

    test("HOST-2, TEL-3: the report's per-level table equals the firmware's level records exactly; its markers are the firmware's pauses, leaks and alarms", async () => {
        assert.ok(existsSync(file), "the recording test must run first")
        const html = file.replace(/jsonl$/, "html")
        const json = file.replace(/jsonl$/, "json")
        const r = await runCli(["report", file, "-o", html, "--json", json])
        assert.equal(r.code, 0, r.err)
        const rep = JSON.parse(readFileSync(json, "utf8"))
        // a record sent again unchanged (VOL-7: on a level change) is one level in the report
        const all = events.filter(e => e.name === "level_record").map(e => e.fields as Record<string, number>)
        const recs = all.filter((f, i) => all.findIndex(g => g.level === f.level && g.start_time === f.start_time && g.end_time === f.end_time) === i)
        // TEL-4: the recorder asks the device for its kept records on connecting, so
        // levels the shared fixture ran before this procedure are read back too
        const live = rep.levels.filter((l: any) => !l.read_back)
        for (const l of rep.levels.filter((l: any) => l.read_back))
            assert.ok(l.end_time < recs[0].start_time, `read-back level ${l.level} ended before this procedure (${l.end_time} < ${recs[0].start_time})`)
        assert.equal(
            live.length,
            recs.length,
            `report levels ${JSON.stringify(rep.levels.map((l: any) => [l.level, l.source, l.read_back, l.start_time, l.end_time, l.end_state]))}; firmware records ${JSON.stringify(recs.map(f => [f.level, f.start_time, f.end_time]))}`
        )
        live.forEach((l: any, i: number) => {
            const f = recs[i]
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
            assert.equal(l.duration_ms, f.end_time - f.start_time)
            assert.ok(l.check.ok, `level ${l.level} cross-check with the samples: ${l.check.notes.join("; ")}`)
            assert.ok(l.check.samples > 10)
        })
        assert.deepEqual(
            live.map((l: any) => [l.level, l.end_state, l.end_reason, l.pause_reasons]),
            [
                [lvA, "completed", "cap_reached", ["leak_seen"]],
                [lvB, "aborted", "operator_abort", ["operator_pause"]],
            ]
        )
        assert.equal(recs[0].leak_pauses, 1)
        assert.ok(Math.abs(recs[0].volume - 0.4) < 0.05, `${lvA} delivered ${recs[0].volume} mL against its 0.4 mL cap`)

        const page = readFileSync(html, "utf8")
        for (const l of rep.levels) {
            const row = page.slice(page.indexOf(`<tr data-level="${l.level}">`)).split("</tr>")[0]
            for (const [exact, shown] of [
                [l.cap, l.cap.toFixed(2)],
                [l.delivered, l.delivered.toFixed(2)],
                [l.peak_pressure, (l.peak_pressure / 1e6).toFixed(2)],
                [l.duration_ms, (l.duration_ms / 1000).toFixed(1)],
            ])
                assert.ok(row.includes(`data-value="${exact}">${shown}<`), `row ${l.level} shows ${shown} (exact ${exact})`)
        }
        // offline: everything inlined
        assert.doesNotMatch(page, /<script[^>]*\bsrc=/i)
        assert.doesNotMatch(page, /<link[^>]*\bhref=/i)
        // the plotted series are the recorded values; the markers are what the firmware reported
        const data = JSON.parse(page.match(/<script type="application\/json" id="series-data">([\s\S]*?)<\/script>/)![1])
        const samples = readLines(file).filter(l => l.type === "sample")
        assert.deepEqual(data.series.pressure.filter((v: any) => v !== null), samples.map(s => s.pressure).filter(v => v !== null))
        assert.deepEqual(data.series.volume.filter((v: any) => v !== null), samples.map(s => s.volume).filter(v => v !== null))
        const kinds = (k: string) => data.markers.filter((m: any) => m.kind === k).map((m: any) => m.label)
        assert.deepEqual(kinds("pause"), ["paused: leak_seen", "paused: operator_pause"])
        assert.deepEqual(kinds("leak"), ["leak: leak_seen"])
        const alarms = events
            .filter(e => e.name === "alarm" && e.fields.reason !== Reason.LeakSeen && e.fields.reason !== Reason.LeakSuspected)
            .map(e => `alarm: ${reasonName(e.fields.reason!)} (${actionName(e.fields.action!)})`)
        assert.deepEqual(kinds("alarm"), alarms, "the alarm markers are the firmware's alarms")
        // one level marker per level of the procedure; a record read back from
        // the device (a level a retried attempt left behind) adds its own marker
        const levelMarks = kinds("level")
        assert.deepEqual(
            levelMarks.filter((m: string) => !m.endsWith("(read back)")),
            [`${lvA} completed`, `${lvB} aborted`]
        )
        assert.equal(levelMarks.length - 2, rep.levels.filter((l: any) => l.read_back).length, `level markers ${levelMarks}`)
    })
})
