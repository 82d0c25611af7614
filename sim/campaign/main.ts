// `npm run campaign -- --runs N --seed S [--workers K] [--no-shrink]` (SIM-5)
// Randomized scenarios (generate.ts) run lockstep in worker processes (one
// per core by default); every run is checked against the invariants
// (invariants.ts); the first failing run of each invariant is shrunk to a
// minimal scenario in out/campaign/<invariant>.json, which
// `npm run sim -- out/campaign/<invariant>.json` replays exactly.
// Invariants listed in sim/campaign/known-failing.json (known firmware
// defects, fixed elsewhere) are reported but do not fail the command.
// Exit 1 on any other violation; the last line is the summary.
import { fork } from "node:child_process"
import { mkdirSync, readFileSync, writeFileSync } from "node:fs"
import { availableParallelism } from "node:os"
import { join } from "node:path"
import { parseArgs } from "node:util"
import { generateScenario } from "./generate"
import { INVARIANT_IDS, INVARIANTS, InvariantId } from "./invariants"
import type { CaseResult } from "./case"

const ROOT = join(__dirname, "..", "..")
export const OUT = join(ROOT, "out", "campaign")
export const KNOWN_FILE = join(__dirname, "known-failing.json")

export interface KnownFailing {
    invariant: InvariantId
    requirement: string
    /** minimal scenario (sim/campaign/known/...) that shows it */
    scenario: string
    note: string
}

export function knownFailing(): KnownFailing[] {
    return JSON.parse(readFileSync(KNOWN_FILE, "utf8")).knownFailing
}

export interface CampaignReport {
    runs: number
    seed: number
    workers: number
    wallS: number
    runsPerMin: number
    errors: { seed: number; error: string }[]
    table: { invariant: InvariantId; runs: number; violations: number; firstSeed: number | null; minimal: string | null; known: boolean; cases: { seed: number; why: string }[] }[]
}

export async function campaign(o: { runs: number; seed: number; workers: number; shrink: boolean; log?: (m: string) => void }): Promise<CampaignReport> {
    const t0 = Date.now()
    const seeds = Array.from({ length: o.runs }, (_, i) => o.seed * 100000 + i)
    const results: CaseResult[] = []
    const errors: { seed: number; error: string }[] = []
    const shrunk = new Map<InvariantId, { scenario: unknown; runs: number }>()
    const workers = Array.from({ length: Math.max(1, Math.min(o.workers, seeds.length)) }, () =>
        fork(join(__dirname, "worker.ts"), [], { execArgv: ["--import", "tsx"], stdio: ["ignore", "ignore", "inherit", "ipc"] })
    )
    const queue: ({ kind: "case"; seed: number } | { kind: "shrink"; seed: number; invariant: InvariantId })[] = seeds.map(seed => ({ kind: "case" as const, seed }))
    const shrinking = new Set<InvariantId>()
    let casesDoneMs = 0
    let busy = 0
    await new Promise<void>(resolve => {
        const feed = (w: (typeof workers)[number]) => {
            const job = queue.shift()
            if (job) {
                busy++
                w.send(job)
            } else if (busy === 0) resolve()
        }
        for (const w of workers) {
            w.on("message", (m: { kind: string; result?: CaseResult; seed?: number; error?: string; invariant?: InvariantId; scenario?: unknown; runs?: number }) => {
                if (m.kind === "ready") return feed(w)
                busy--
                if (m.kind === "case") {
                    results.push(m.result!)
                    // a run the bench could not carry out is not a pass: it is reported
                    if (m.result!.error) errors.push({ seed: m.result!.seed, error: m.result!.error })
                    if (results.length === seeds.length) casesDoneMs = Date.now()
                    if (results.length % 50 === 0) o.log?.(`campaign: ${results.length}/${seeds.length} runs`)
                    for (const inv of Object.keys(m.result!.violations) as InvariantId[])
                        if (o.shrink && !shrinking.has(inv)) {
                            shrinking.add(inv)
                            queue.push({ kind: "shrink", seed: m.result!.seed, invariant: inv })
                        }
                } else if (m.kind === "shrink") shrunk.set(m.invariant!, { scenario: m.scenario, runs: m.runs! })
                else errors.push({ seed: m.seed!, error: m.error! })
                feed(w)
                for (const other of workers) if (other !== w && queue.length && busy < workers.length) feed(other)
            })
            w.on("exit", code => {
                if (code) errors.push({ seed: -1, error: `worker exited with ${code}` })
            })
        }
    })
    for (const w of workers) w.send({ kind: "exit" })
    const known = new Set(knownFailing().map(k => k.invariant))
    mkdirSync(OUT, { recursive: true })
    const table = INVARIANT_IDS.map(inv => {
        const bad = results.filter(r => r.violations[inv] !== undefined)
        let minimal: string | null = null
        const sh = shrunk.get(inv)
        if (sh) {
            minimal = join("out", "campaign", `${inv}.json`)
            const sc = sh.scenario as { name: string; description?: string }
            sc.name = `minimal-${inv}`
            sc.description = `shrunk (${sh.runs} runs) from campaign seed ${bad[0]?.seed}: ${bad[0]?.violations[inv]}`
            writeFileSync(join(ROOT, minimal), JSON.stringify(sc, null, 2) + "\n")
        }
        const cases = bad.map(r => ({ seed: r.seed, why: r.violations[inv]! }))
        return { invariant: inv, runs: results.length, violations: bad.length, firstSeed: bad[0]?.seed ?? null, minimal, known: known.has(inv), cases }
    })
    const wallS = (Date.now() - t0) / 1000
    // throughput of the runs themselves (shrinking afterwards is extra)
    const caseS = ((casesDoneMs || Date.now()) - t0) / 1000
    return { runs: results.length, seed: o.seed, workers: workers.length, wallS, runsPerMin: (results.length / caseS) * 60, errors, table }
}

/** Replay scenario files in one worker; resolves with each file's violations. */
export function replayFiles(files: string[]): Promise<Map<string, CaseResult>> {
    const w = fork(join(__dirname, "worker.ts"), [], { execArgv: ["--import", "tsx"], stdio: ["ignore", "ignore", "inherit", "ipc"] })
    const out = new Map<string, CaseResult>()
    const todo = [...files]
    return new Promise((resolve, reject) => {
        w.on("message", (m: { kind: string; file?: string; result?: CaseResult; error?: string }) => {
            if (m.kind === "file") out.set(m.file!, m.result!)
            else if (m.kind === "error") return reject(new Error(m.error))
            const next = todo.shift()
            if (next) w.send({ kind: "file", file: next })
            else {
                w.send({ kind: "exit" })
                resolve(out)
            }
        })
    })
}

export function formatReport(r: CampaignReport): string {
    const lines = [
        `${"invariant".padEnd(16)} ${"runs".padStart(6)} ${"violations".padStart(10)}  minimal scenario`,
        ...r.table.map(t => `${t.invariant.padEnd(16)} ${String(t.runs).padStart(6)} ${String(t.violations).padStart(10)}  ${t.minimal ?? "-"}${t.known && t.violations ? "  (known-failing)" : ""}`),
        ...r.table.map(t => `  ${t.invariant}: ${INVARIANTS[t.invariant]}`),
        // every violating run (the first 10 per invariant), to tell a known kind from a new one
        ...r.table.flatMap(t => [
            ...t.cases.slice(0, 10).map(c => `  ${t.invariant} seed ${c.seed}: ${c.why}`),
            ...(t.cases.length > 10 ? [`  ${t.invariant}: ${t.cases.length - 10} more`] : []),
        ]),
        ...r.errors.map(e => `error (seed ${e.seed}): ${e.error.split("\n")[0]}`),
    ]
    const violations = r.table.reduce((a, t) => a + t.violations, 0)
    const unknown = r.table.filter(t => t.violations && !t.known).reduce((a, t) => a + t.violations, 0)
    lines.push(`campaign: ${r.runs} runs, ${violations} violations (${unknown} not known-failing), ${r.errors.length} errors, ${r.runsPerMin.toFixed(0)} runs/min on ${r.workers} workers`)
    return lines.join("\n")
}

async function main() {
    let parsed
    try {
        parsed = parseArgs({
            options: {
                runs: { type: "string", default: "200" },
                seed: { type: "string", default: "1" },
                workers: { type: "string", default: String(availableParallelism()) },
                "no-shrink": { type: "boolean", default: false },
                json: { type: "string" },
                help: { type: "boolean", short: "h", default: false },
            },
        })
    } catch (e) {
        console.error(`npm run campaign: ${(e as Error).message} (see --help)`)
        process.exit(2)
    }
    const { values } = parsed
    if (values.help) {
        console.log(`npm run campaign -- [--runs N] [--seed S] [--workers K] [--no-shrink] [--json report.json]

Generates N randomized scenarios from seed S (operator actions, an adversarial
host, faults, encoder anomalies, restarts, syringes, cements, leaks), runs each
lockstep against the firmware in worker processes, and checks the invariants on
the plant's physical truth at every step. A violating run is shrunk to a minimal
scenario file in out/campaign/<invariant>.json that \`npm run sim\` replays;
every violating run's seed and reason is listed (the first 10 per invariant).

  --runs N        runs (default 200)
  --seed S        campaign seed; run i uses seed S*100000+i (default 1)
  --workers K     worker processes (default: one per core)
  --no-shrink     report violations without shrinking them
  --json FILE     write the whole report as JSON

Known firmware defects are listed in sim/campaign/known-failing.json.
Exit: 0 no violation outside the known-failing list, 1 otherwise, 2 usage.`)
        process.exit(0)
    }
    const runs = Number(values.runs)
    const seed = Number(values.seed)
    const workers = Number(values.workers)
    if (![runs, seed, workers].every(x => Number.isInteger(x) && x >= 0) || runs < 1 || workers < 1) {
        console.error("usage: npm run campaign -- --runs N --seed S [--workers K] [--no-shrink] [--json report.json]")
        process.exit(2)
    }
    const r = await campaign({ runs, seed, workers, shrink: !values["no-shrink"], log: m => console.error(m) })
    if (values.json) writeFileSync(values.json, JSON.stringify(r, null, 2) + "\n")
    console.log(formatReport(r))
    const unknown = r.table.some(t => t.violations && !t.known) || r.errors.length > 0
    process.exit(unknown ? 1 : 0)
}

if (require.main === module) void main()

export { generateScenario }
