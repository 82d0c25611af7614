// HOST-2 (the report a clinician signs), FLOW-4 and TEL-4 (host side) on
// synthetic recordings in the recorder's exact format: figures rounded to what
// the instrument resolves with the exact values kept, procedure fields from the
// recording or the command line, the pressure limit and the cap drawn as
// labelled lines, units on event values, time from the start of the
// injection, increments marked and counted, level records sent again kept
// once, a table that fits the page on screen and on A4. Screenshot
// out/report-clinical.png and out/report-clinical.pdf for review.
import { strict as assert } from "node:assert"
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { after, before, describe, test } from "node:test"
import { detail } from "../lib/recorder"
import { launch } from "./browser"
import { OUT, runCli, tmp } from "./helpers"
import { SynthLevel, synthText } from "./synth"

const PROCEDURE = { patient: "Jane Doe (MRN 0042)", operator: "Dr A. Smith", cement_lot: "LOT 23-118", needle: "11 G 10 cm bevel" }

function rowOf(page: string, level: string) {
    const at = page.indexOf(`<tr data-level="${level}">`)
    assert.ok(at >= 0, `a row for ${level}`)
    return page.slice(at).split("</tr>")[0]
}

describe("the procedure report a clinician signs (synthetic recordings)", () => {
    const file = tmp("clinical.jsonl")
    const html = file.replace(/jsonl$/, "html")
    const json = file.replace(/jsonl$/, "json")
    const expected: SynthLevel[] = []
    let browser: Awaited<ReturnType<typeof launch>>

    before(async () => {
        mkdirSync(OUT, { recursive: true })
        // three levels at 50 Hz, 0.2 mL increments, the procedure fields in a meta line;
        // the live record of the second level is lost and every record is sent again after a reconnect
        writeFileSync(file, synthText({ samples: 6000, levels: 3, incrementMl: 0.2, procedure: PROCEDURE, resend: true, withholdRecord: 1 }, expected))
        browser = await launch()
    })
    after(async () => {
        await browser?.close()
    })

    test("HOST-2: figures shown to the instrument's resolution (0.01 mL, 0.01 MPa, 1 %), exact values kept; procedure fields; units on event values; time from the start of injection", async () => {
        const r = await runCli(["report", file, "-o", html, "--json", json])
        assert.equal(r.code, 0, r.err)
        const page = readFileSync(html, "utf8")
        const rep = JSON.parse(readFileSync(json, "utf8"))
        assert.equal(expected.length, 3)
        let roundedSomething = 0
        for (const e of expected) {
            const row = rowOf(page, e.level)
            const cells: [number, string][] = [
                [e.cap, e.cap.toFixed(2)],
                [e.volume, e.volume.toFixed(2)],
                [e.peak_pressure, (e.peak_pressure / 1e6).toFixed(2)],
                [e.fill_fraction as number, (100 * (e.fill_fraction as number)).toFixed(0) + " %"],
            ]
            for (const [exact, shown] of cells) {
                assert.ok(row.includes(`data-value="${exact}">${shown}<`), `row ${e.level} shows ${shown} and keeps ${exact}: ${row}`)
                if (String(exact) !== shown) roundedSomething++
            }
            // the JSON keeps the device's values exactly
            const l = rep.levels.find((x: any) => x.level === e.level)
            assert.equal(l.delivered, e.volume)
            assert.equal(l.peak_pressure, e.peak_pressure)
            assert.equal(l.fill_fraction, e.fill_fraction)
        }
        assert.ok(roundedSomething >= 6, "the recorded values have more digits than shown (the rounding is exercised)")
        // total delivered, rounded
        const total = expected.reduce((s, e) => s + e.volume, 0)
        assert.match(page, new RegExp(`id="total" data-value="${total}">${total.toFixed(2)}<`))
        // procedure fields from the recording's meta line
        for (const [k, v] of Object.entries(PROCEDURE)) assert.ok(page.includes(`data-field="${k}"><span class="k">`) && page.includes(`>${v.replace("(", "(")}<`), `${k} shown`)
        assert.deepEqual(rep.procedure, PROCEDURE)
        assert.match(page, /<title>Cement injection report: Jane Doe \(MRN 0042\)/)
        assert.match(page, /Operator signature/)
        // units on event values
        assert.equal(detail({ type: "event", t_host: 0, event: "info", reason: "decompressed", value: 28.4 }), "decompressed 28.4 µL")
        assert.match(page, /<td>info<\/td><td>cap_override cap raised to 3\.80 mL<\/td>/)
        assert.match(page, /level C2: 3\.80 mL of cap 3\.80 mL, completed \(cap_reached\)/)
        // time from the start of injection: the first start is at 0:00.0, the plots' x axis says so
        assert.match(page, /<td class="num" data-value="-?0\.0\d*">0:00\.0<\/td><td>transition<\/td><td>ready -&gt; injecting \(started\)/)
        assert.equal(rep.origin.kind, "injection")
        assert.match(page, /time from the start of injection \(s\)/)
        const data = JSON.parse(page.match(/<script type="application\/json" id="series-data">([\s\S]*?)<\/script>/)![1])
        const firstActive = JSON.parse(readFileSync(file, "utf8").split("\n").find(l => l.includes('"state":"injecting"'))!)
        const samples = readFileSync(file, "utf8").split("\n").filter(l => l.includes('"type":"sample"')).map(l => JSON.parse(l))
        const k = samples.findIndex(s => s.t_dev === firstActive.t_dev)
        assert.equal(data.series.t.filter((t: any) => t !== null)[k], 0)
        // alarm lines carry labels
        assert.deepEqual([...new Set(data.markers.filter((m: any) => m.kind === "alarm").map((m: any) => m.label))], ["alarm: overpressure (pause)", "alarm: cap_reached (stop)"])
    })

    test("HOST-2: patient, operator, cement lot, needle and the pressure limit from the report's options replace the recording's; bad values are refused", async () => {
        const out = tmp("opts.html")
        const js = out.replace(/html$/, "json")
        const r = await runCli(["report", file, "-o", out, "--json", js, "--patient", "John Roe", "--operator", "Dr B. Jones", "--cement-lot", "L-77", "--needle", "13 G", "--pressure-limit", "2.5"])
        assert.equal(r.code, 0, r.err)
        const rep = JSON.parse(readFileSync(js, "utf8"))
        assert.deepEqual(rep.procedure, { patient: "John Roe", operator: "Dr B. Jones", cement_lot: "L-77", needle: "13 G" })
        assert.deepEqual(rep.pressure_limit, { pa: 2.5e6, source: "entered for the report" })
        const page = readFileSync(out, "utf8")
        assert.match(page, /Pressure limit 2\.50 MPa \(entered for the report\)/)
        // without the option: the device's default, said to be the default
        assert.match(readFileSync(html, "utf8"), /Pressure limit 3\.50 MPa \(the device(&#39;|')s default;/)
        for (const bad of [["--pressure-limit", "abc"], ["--pressure-limit", "-1"], ["--patient", "   "]]) {
            const o2 = tmp("bad.html")
            const b = await runCli(["report", file, "-o", o2, ...bad])
            assert.equal(b.code, 2, `${bad.join(" ")}: ${b.err}`)
            assert.ok(!existsSync(o2), "nothing written")
        }
    })

    test("FLOW-4, TEL-4 (host side): increment events are marked on the volume plot and counted per level; level records sent again are kept once, a record read back late gets its row", async () => {
        const rep = JSON.parse(readFileSync(json, "utf8"))
        const page = readFileSync(html, "utf8")
        const data = JSON.parse(page.match(/<script type="application\/json" id="series-data">([\s\S]*?)<\/script>/)![1])
        const lines = readFileSync(file, "utf8").trim().split("\n").map(l => JSON.parse(l))
        const inc = lines.filter(l => l.event === "increment")
        assert.equal(inc.length, 18 + 14 + 14, "0.2 mL steps below caps of 3.8, 3 and 3 mL")
        assert.equal(rep.increments, inc.length)
        assert.deepEqual(
            rep.levels.map((l: any) => [l.level, l.increments]),
            [["C2", 18], ["C3", 14], ["C4", 14]]
        )
        assert.equal(data.markers.filter((m: any) => m.kind === "increment").length, inc.length)
        assert.match(page, /<th>Incre&shy;ments<\/th>/)
        assert.match(page, /increment 3 0\.20 mL \(level total 0\.60 mL\)/)
        // 3 live records (one withheld) + 3 sent again: 3 rows, in order, the withheld one read back
        assert.equal(lines.filter(l => l.event === "level_record").length, 5)
        assert.deepEqual(
            rep.levels.map((l: any) => [l.level, l.read_back, l.pause_reasons, l.check.ok]),
            [
                ["C2", false, ["leak_seen", "overpressure"], true],
                ["C3", true, ["leak_seen", "overpressure"], true],
                ["C4", false, ["leak_seen", "overpressure"], true],
            ]
        )
        expected.forEach((e, i) => assert.equal(rep.levels[i].delivered, e.volume))
        assert.equal((page.match(/sent again by the device; already in the table/g) || []).length, 2)
        // an event this host does not know is listed with its fields, not dropped
        const unk = tmp("unknown.jsonl")
        writeFileSync(unk, readFileSync(file, "utf8") + JSON.stringify({ type: "event", t_host: lines[lines.length - 1].t_host + 1, t_dev: null, event: "syringe_exchange", step: 2, volume: 1.25 }) + "\n")
        const r = await runCli(["report", unk, "-o", unk.replace(/jsonl$/, "html")])
        assert.equal(r.code, 0, r.err)
        assert.match(readFileSync(unk.replace(/jsonl$/, "html"), "utf8"), /<td>syringe_exchange<\/td><td>syringe_exchange step=2 volume=1\.25<\/td>/)
    })

    test("HOST-2: in Chromium the limit and cap lines are drawn, the table fits the screen and an A4 page (screenshot out/report-clinical.png, out/report-clinical.pdf)", async () => {
        const p = await browser.ctx.newPage()
        const errs: string[] = []
        p.on("pageerror", e => errs.push(String(e)))
        await p.goto("file://" + html)
        await p.waitForFunction(() => document.querySelectorAll("canvas").length === 3)
        // a horizontal line in the limit colour at the limit's height (pressure) and the cap's (volume)
        // (page code as a string: the test's TypeScript transform would add helpers the page does not have)
        const red = await p.evaluate(`(() => {
            const R = window.__report.charts;
            function at(u, value) {
                const y = Math.round(u.valToPos(value, "y", true));
                let hits = 0;
                for (let x = u.bbox.left + u.bbox.width * 0.3; x < u.bbox.left + u.bbox.width * 0.9; x += 7) {
                    for (let dy = -1; dy <= 1; dy++) {
                        const d = u.ctx.getImageData(x, y + dy, 1, 1).data;
                        if (d[0] > 150 && d[1] < 80 && d[2] < 80) { hits++; break; }
                    }
                }
                return hits;
            }
            return { limit: at(R[0], 3.5), cap: at(R[1], 3), below: at(R[0], 2.2) };
        })()`) as { limit: number; cap: number; below: number }
        assert.ok(red.limit > 20, `pressure limit line drawn: ${JSON.stringify(red)}`)
        assert.ok(red.cap > 5, `cap line drawn: ${JSON.stringify(red)}`)
        assert.ok(red.below < 3, `no such line where there is no limit: ${JSON.stringify(red)}`)
        const fits = () =>
            p.evaluate(`(() => {
                const t = document.getElementById("levels");
                return { table: Math.ceil(t.getBoundingClientRect().right), page: document.documentElement.clientWidth, scroll: t.scrollWidth, box: t.clientWidth };
            })()`) as Promise<{ table: number; page: number; scroll: number; box: number }>
        const screen = await fits()
        assert.ok(screen.table <= screen.page && screen.scroll <= screen.box + 1, `fits the screen: ${JSON.stringify(screen)}`)
        await p.screenshot({ path: join(OUT, "report-clinical.png"), fullPage: true })
        // A4 portrait, 12 mm margins: 186 mm = 703 CSS px
        await p.emulateMedia({ media: "print" })
        await p.setViewportSize({ width: 703, height: 1000 })
        await p.evaluate(() => (window as any).__report.resize(680))
        const a4 = await fits()
        assert.ok(a4.table <= a4.page && a4.scroll <= a4.box + 1, `fits an A4 page: ${JSON.stringify(a4)}`)
        await p.pdf({ path: join(OUT, "report-clinical.pdf"), format: "A4", printBackground: true })
        assert.deepEqual(errs, [])
        await p.close()
    })
})
