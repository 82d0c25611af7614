// HOST-1, HOST-2, HOST-3 on bad input: truncated or corrupted recording lines,
// unusable files, unknown commands and arguments, no injector on the bus.
// Each gets a clear message and a non-zero exit, and nothing is lost.
import { strict as assert } from "node:assert"
import { readFileSync, writeFileSync } from "node:fs"
import { createServer } from "node:net"
import { after, before, describe, test } from "node:test"
import { startHub, Hub } from "./hub"
import { Bench, bench, readLines, runCli, tmp } from "./helpers"
import { SynthLevel, synthText } from "./synth"

describe("bad recordings (report)", () => {
    test("HOST-2: a corrupted line and a truncated last line are named by line number and skipped; every other line is used", async () => {
        const expected: SynthLevel[] = []
        const text = synthText({ samples: 3000, levels: 2 }, expected)
        const lines = text.trimEnd().split("\n")
        // corrupt a sample line in the middle, truncate the last line (a crash mid-write)
        const mid = lines.findIndex((l, i) => i > 1000 && l.includes('"type":"sample"'))
        lines[mid] = lines[mid].slice(0, 40) + "\u0000garbage}{"
        const last = lines.length - 1
        assert.ok(lines[last].includes('"type":"sample"'))
        const bad = lines.slice(0, last).join("\n") + "\n" + lines[last].slice(0, 57)
        const file = tmp("bad.jsonl")
        writeFileSync(file, bad)
        const json = file.replace(/jsonl$/, "json")
        const r = await runCli(["report", file, "--json", json])
        assert.equal(r.code, 0, r.err)
        assert.match(r.err, new RegExp(`:${mid + 1}: corrupted: not valid JSON`))
        assert.match(r.err, new RegExp(`:${last + 1}: truncated: the file ends in the middle of this line`))
        assert.match(r.err, /2 line\(s\) skipped/)
        const rep = JSON.parse(readFileSync(json, "utf8"))
        assert.equal(rep.samples, 3000 - 2)
        assert.deepEqual(
            rep.skipped.map((s: any) => [s.line, s.kind]),
            [
                [mid + 1, "corrupted"],
                [last + 1, "truncated"],
            ]
        )
        assert.equal(rep.levels.length, 2)
        rep.levels.forEach((l: any, i: number) => {
            assert.equal(l.delivered, expected[i].volume)
            assert.equal(l.peak_pressure, expected[i].peak_pressure)
            assert.equal(l.pauses, expected[i].pauses)
        })
        // the report says so too
        const html = readFileSync(file.replace(/jsonl$/, "html"), "utf8")
        assert.match(html, new RegExp(`line ${mid + 1}: corrupted`))
        // the file itself is untouched
        assert.equal(readFileSync(file, "utf8"), bad)
    })

    test("HOST-2: a line that is JSON but not a recording line is named and skipped", async () => {
        const text = synthText({ samples: 500, levels: 1 })
        const lines = text.trimEnd().split("\n")
        lines.splice(5, 0, `{"hello": 1}`, `[1,2,3]`, `{"type":"sample","t_host":1}`)
        const file = tmp("odd.jsonl")
        writeFileSync(file, lines.join("\n") + "\n")
        const r = await runCli(["report", file])
        assert.equal(r.code, 0, r.err)
        assert.match(r.err, /:6: not a recording line: no "type" field/)
        assert.match(r.err, /:7: not a recording line: not a JSON object/)
        assert.match(r.err, /:8: not a recording line: sample without a numeric t_dev/)
        assert.match(r.err, /500 samples/)
    })

    test("HOST-2: a file with nothing usable exits non-zero with a clear message", async () => {
        const file = tmp("junk.jsonl")
        writeFileSync(file, "this is not a recording\n{\"a\":1}\n")
        const r = await runCli(["report", file])
        assert.equal(r.code, 1)
        assert.match(r.err, /nothing usable in .*junk\.jsonl: 2 line\(s\), 2 skipped/)
        const r2 = await runCli(["report", tmp("missing.jsonl")])
        assert.equal(r2.code, 2)
        assert.match(r2.err, /no such file/)
    })
})

describe("bad commands (send)", () => {
    let b: Bench
    before(async () => {
        b = await bench()
    })
    after(async () => {
        await b.close()
    })

    test("HOST-3: an unknown command is named, the known ones listed, exit 2, nothing sent", async () => {
        const r = await runCli(["--tcp", b.tcp, "send", "inject-faster"])
        assert.equal(r.code, 2)
        assert.match(r.err, /unknown command "inject-faster"/)
        assert.match(r.err, /set-level <level>/)
        assert.equal(b.fake.received.length, 0)
    })

    test("HOST-3: bad or missing arguments are refused before anything is sent", async () => {
        const cases: [string[], RegExp][] = [
            [["set-level", "Z9"], /unknown level "Z9"/],
            [["set-cap", "lots"], /"lots" is not a number/],
            [["set-level"], /set-level needs <level>/],
            [["set-flow", "3", "4"], /extra: 4/],
            [["set-syringe", "1.5"], /must be an integer/],
            [["start", "--override"], /--override only applies to set-cap/],
        ]
        for (const [args, re] of cases) {
            const r = await runCli(["--tcp", b.tcp, "send", ...args])
            assert.equal(r.code, 2, `${args.join(" ")}: ${r.err}`)
            assert.match(r.err, re)
        }
        assert.equal(b.fake.received.length, 0)
    })
})

describe("no injector", () => {
    let hub: Hub
    let closedPort = 0
    before(async () => {
        hub = await startHub()
        // a port with nothing listening
        const s = createServer()
        await new Promise<void>(r => s.listen(0, "127.0.0.1", () => r()))
        closedPort = (s.address() as any).port
        await new Promise<void>(r => s.close(() => r()))
    })
    after(async () => {
        await hub.close()
    })

    test("HOST-1, HOST-3: send, monitor and record say no injector was found and exit 3 (hub without injector, and nothing listening)", async () => {
        for (const tcp of [`127.0.0.1:${hub.port}`, `127.0.0.1:${closedPort}`]) {
            const s = await runCli(["--tcp", tcp, "send", "--find-timeout", "1.5", "pause"])
            assert.equal(s.code, 3, s.err)
            assert.match(s.err, new RegExp(`no Cement Injector found on tcp ${tcp} within 1.5 s.*nothing was sent`))
            const m = await runCli(["--tcp", tcp, "monitor", "--find-timeout", "1.5"])
            assert.equal(m.code, 3, m.err)
            assert.match(m.err, /no Cement Injector found/)
        }
        const file = tmp("empty.jsonl")
        const r = await runCli(["--tcp", `127.0.0.1:${hub.port}`, "record", "-o", file, "--find-timeout", "1.5"])
        assert.equal(r.code, 3, r.err)
        assert.match(r.err, /no Cement Injector found .* holds only its header lines/)
        const lines = readLines(file)
        assert.deepEqual(
            lines.map(l => [l.type, l.phase]),
            [
                ["meta", "start"],
                ["meta", "end"],
            ]
        )
    })

    test("HOST-1: record never overwrites an existing recording unless told to", async () => {
        const file = tmp("keep.jsonl")
        writeFileSync(file, "precious\n")
        const r = await runCli(["--tcp", `127.0.0.1:${hub.port}`, "record", "-o", file, "--find-timeout", "1"])
        assert.equal(r.code, 2)
        assert.match(r.err, /exists: use --append to continue it or --force to overwrite it/)
        assert.equal(readFileSync(file, "utf8"), "precious\n")
    })

    test("HOST-1: a malformed --tcp is a usage error", async () => {
        const r = await runCli(["--tcp", "localhost:notaport", "monitor"])
        assert.equal(r.code, 2)
        assert.match(r.err, /--tcp expects host:port/)
    })
})
