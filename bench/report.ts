// Benchmark: time to build a report from a one-hour 50 Hz recording.
//   npm run bench:report -- [--samples 180000] [--levels 12] [--keep]
// Writes a synthetic recording (the recorder's own line format) to out/,
// runs `injector report` on it as a user would (a separate process), checks
// the per-level figures equal the generator's, and prints the timings.
import { spawnSync } from "node:child_process"
import { createWriteStream, mkdirSync, readFileSync, rmSync, statSync } from "node:fs"
import { join } from "node:path"
import { SynthLevel, synthLines } from "../host/test/synth"

async function main() {
    const argv = process.argv.slice(2)
    const opt = (n: string, d: number) => (argv.includes(n) ? +argv[argv.indexOf(n) + 1] : d)
    const samples = opt("--samples", 180000)
    const levels = opt("--levels", 12)
    const root = join(__dirname, "..")
    const outDir = join(root, "out")
    mkdirSync(outDir, { recursive: true })
    const file = join(outDir, "bench-1h-50hz.jsonl")
    const html = join(outDir, "bench-1h-50hz.html")
    const json = join(outDir, "bench-1h-50hz.json")

    const expected: SynthLevel[] = []
    let t = performance.now()
    const ws = createWriteStream(file)
    let lines = 0
    let chunk = ""
    for (const l of synthLines({ samples, levels }, expected)) {
        chunk += l + "\n"
        lines++
        if (chunk.length > 1 << 20) {
            if (!ws.write(chunk)) await new Promise(r => ws.once("drain", r))
            chunk = ""
        }
    }
    ws.write(chunk)
    await new Promise(r => ws.end(r))
    const genS = (performance.now() - t) / 1000
    const mb = statSync(file).size / 1e6
    console.log(`recording: ${samples} samples (${(samples / 50 / 60).toFixed(0)} min at 50 Hz), ${levels} levels, ${lines} lines, ${mb.toFixed(1)} MB (generated in ${genS.toFixed(1)} s)`)

    const runs: number[] = []
    for (let k = 0; k < 3; ++k) {
        t = performance.now()
        const r = spawnSync(process.execPath, [join(root, "host/bin/injector.mjs"), "report", file, "-o", html, "--json", json, "--quiet"], { encoding: "utf8" })
        const s = (performance.now() - t) / 1000
        if (r.status !== 0) {
            console.error(r.stderr)
            process.exit(1)
        }
        runs.push(s)
    }
    const rep = JSON.parse(readFileSync(json, "utf8"))
    const same =
        rep.levels.length === expected.length &&
        expected.every((e, i) => {
            const l = rep.levels[i]
            return l.level === e.level && l.cap === e.cap && l.delivered === e.volume && l.peak_pressure === e.peak_pressure && l.pauses === e.pauses && l.check.ok
        })
    runs.sort((a, b) => a - b)
    console.log(`injector report (whole command, 3 runs): best ${runs[0].toFixed(2)} s, median ${runs[1].toFixed(2)} s; report ${(statSync(html).size / 1e6).toFixed(1)} MB`)
    console.log(`per-level figures equal the generator's: ${same ? "yes" : "NO"} (${rep.levels.length} levels, ${rep.samples} samples)`)
    console.log(`BENCH report_1h_50hz_s=${runs[1].toFixed(2)} lines=${lines} mb=${mb.toFixed(1)}`)
    if (!argv.includes("--keep")) rmSync(file)
    if (!same) process.exit(1)
}

main()
