// `npm run bench:air`: the safety requirements that entrained air puts at
// risk (issue 12), measured closed loop against the firmware in the VM with
// physics v2, for air fractions 0 / 1 / 3 / 5 % (SIM-6):
// - PRS-3: a complete needle occlusion mid-injection (after the
//   pressurisation has levelled off) at 0.5 / 3 / 6 mL/min: paused as a
//   blockage within 3 s, before the chamber pressure has risen 1 MPa above
//   its value at the onset? stored volume (plunger displacement not yet out
//   of the needle) at the stop;
// - LEAK-2: afterflow after each stop trigger at 3 mL/min, trigger at steady
//   state (leak seen by pedal, operator pause, blockage, over-pressure,
//   e-stop, stale load cell), over the 10 s after it, limit 0.05 mL;
// - VOL-3: overshoot of the physically injected volume past the cap, limit
//   0.02 mL;
// - optionally (--library) the scenario library with v2 physics at each air
//   fraction: verdicts.
// Lockstep: every trial is a fresh deterministic run (seed 100 + i), spread
// over worker processes (bench/air-worker.ts). docs/simulator.md, "Air
// fraction bench".
import { mkdirSync, readdirSync, writeFileSync } from "node:fs"
import { runPool } from "./pool"
import { availableParallelism } from "node:os"
import { basename, dirname, join } from "node:path"
import { parseArgs } from "node:util"
import { InjectorPlant, plungerSpeedMmPerS, SYRINGE_PRESETS } from "../sim/model"
import { median, round } from "../sim/harness/analysis"
import { loadScenario, Scenario, validateScenario } from "../sim/harness/scenario"

const HELP = `usage: npm run bench:air -- [options]

Blockage detection (PRS-3), afterflow per stop trigger (LEAK-2) and
overshoot at the cap (VOL-3) with physics v2 across entrained-air
fractions, closed loop against the firmware in the DeviceScript VM
(lockstep). Prints one table per requirement.

options:
  -a, --air <list>       air fractions in % (default 0,1,3,5)
  -n, --runs <n>         seeds per trigger and air fraction (default 3)
  -w, --workers <n>      worker processes (default: one per core)
      --library          also run every sim/scenarios file with v2 physics at each air fraction
      --only <list>      sections: blockage,afterflow,cap,library (default the first three)
      --firmware <f>     run this compiled bytecode (.devs) instead of src/main.ts
  -o, --out <file>       all figures as JSON (default out/sim/bench-air.json)
  -h, --help`

/** The cement in the syringe: 10 mL prepared (the default mark_mixing amount) in a 20 mL syringe. */
export const FILL_ML = 10
const START_S = 0.5
const REACTION_S = 0.25
export const BLOCKAGE_FLOWS = [0.5, 3, 6]
export const STOP_TRIGGERS = ["leakSeen", "pause", "blockage", "overpressure", "estop", "loadCellStale"] as const
export type AirStopTrigger = (typeof STOP_TRIGGERS)[number]
/** Requirement limits the tables are judged against. */
export const LIMITS = { blockageWithinS: 3, blockageRisePa: 1e6, afterflowMl: 0.05, overshootMl: 0.02 }

export type AirJob =
    | { id: string; section: "blockage"; air: number; flow: number; i: number; onsetS: number; sc: Scenario }
    | { id: string; section: "afterflow"; air: number; trigger: AirStopTrigger; i: number; sc: Scenario }
    | { id: string; section: "cap"; air: number; i: number; sc: Scenario }
    | { id: string; section: "library"; air: number; file: string; sc: Scenario }

export interface AirOutcome {
    id: string
    section: AirJob["section"]
    air: number
    error?: string
    /** blockage: paused as a blockage */
    hit?: boolean
    /** blockage: onset -> drive no longer advancing, s */
    stopAfterS?: number
    /** blockage: chamber pressure rise from the onset to the stop, Pa */
    risePa?: number
    /** blockage: volume stored in syringe + air at the stop, mL */
    storedAtStopMl?: number
    /** firmware reason of the stop */
    reason?: string
    /** afterflow after the trigger, mL; cap: overshoot past the cap, mL */
    volumeMl?: number
    latencyMs?: number
    /** PRS-3 false alarm: paused as a blockage with no occlusion, at this scenario time */
    falseBlockageAtS?: number
    /** library: verdict */
    pass?: boolean
    failures?: string[]
}

/**
 * Time at which the needle flow reaches 95 % of the set flow when pushing
 * from rest (offline, same physics): the end of the pressurisation, which
 * air lengthens (about 70 s at 0.5 mL/min with 5 % air).
 */
export function settleS(air: number, flowMlPerMin: number): number {
    const p = new InjectorPlant({ physics: "v2", syringe: { preset: "20mL", fillMl: FILL_ML, airFraction: air }, needle: { gauge: 14, lengthMm: 100 }, cement: { mixedAtS: -240 } })
    const v = plungerSpeedMmPerS(flowMlPerMin, p.params.boreMm)
    for (let k = 0; k < 60000; k++) {
        p.step(0.005, { enabled: true, speedCmdMmPerS: v })
        if (p.state().needleFlowMlPerS * 60 >= 0.95 * flowMlPerMin) return p.timeS()
    }
    return NaN
}

function scenario(air: number, o: Record<string, unknown>): Scenario {
    return validateScenario({
        physics: "v2",
        syringe: { preset: "20mL", fillMl: FILL_ML, airFraction: air },
        needle: { gauge: 14, lengthMm: 100 },
        cement: { mixedAtS: -240 },
        flowMlPerMin: 3,
        benchMode: false,
        settleS: 1.5,
        ...o,
    })
}

const pct = (air: number) => `${round(air * 100, 1)}`

export function makeJobs(airs: number[], runs: number, sections: string[], library: boolean): AirJob[] {
    const jobs: AirJob[] = []
    for (const air of airs) {
        if (sections.includes("blockage"))
            for (const flow of BLOCKAGE_FLOWS)
                for (let i = 0; i < runs; i++) {
                    // onset 3 s after the pressurisation levelled off (the firmware has had time to see it level)
                    const onsetS = round(START_S + settleS(air, flow) + 3 + 0.13 * i, 3)
                    jobs.push({
                        id: `blockage-air${pct(air)}-flow${flow}-${i}`,
                        section: "blockage",
                        air,
                        flow,
                        i,
                        onsetS,
                        sc: scenario(air, {
                            name: `air-blockage-${pct(air)}-${flow}-${i}`,
                            durationS: round(onsetS + 6, 2),
                            level: "L2",
                            capMl: 4,
                            seed: 100 + i,
                            flowMlPerMin: flow,
                            // complete: the power-law needle passes (1e4)^(1/0.5) = 1e8 x less flow
                            blockage: { atS: onsetS, factor: 1e4 },
                            actions: [{ atS: START_S, do: "start" }],
                        }),
                    })
                }
        const steadyS = START_S + settleS(air, 3)
        if (sections.includes("afterflow"))
            for (const trigger of STOP_TRIGGERS)
                for (let i = 0; i < runs; i++) {
                    const tS = round(steadyS + 2 + 0.11 * i, 3)
                    const o: Record<string, unknown> = {
                        name: `air-${trigger}-${pct(air)}-${i}`,
                        // 10 s after the trigger, also after a fault or e-stop ends the level:
                        // the stored volume drains slowly through the needle
                        durationS: round(tS + 10, 2),
                        endWhenDone: false,
                        level: "L2",
                        capMl: 4,
                        seed: 100 + i,
                        actions: [{ atS: START_S, do: "start" }],
                    }
                    const acts = o.actions as Record<string, unknown>[]
                    if (trigger === "leakSeen") {
                        // a leak opens, is seen 1.2 s later, the pedal goes down one reaction time after that
                        o.vertebra = { tumorFactor: 5.8 }
                        o.leaks = [{ atS: round(tS - 1.2 - REACTION_S, 3), kind: "venous", resistanceFactor: 0.3 }]
                        acts.push({ atS: tS, do: "leakSeen", via: "pedal" })
                    } else if (trigger === "pause") acts.push({ atS: tS, do: "pause" })
                    else if (trigger === "blockage") o.blockage = { atS: tS, factor: 1e4 }
                    // a latching mushroom e-stop (docs/hardware.md) stays down until it is
                    // twisted out: held 2 s
                    else if (trigger === "estop") acts.push({ atS: tS, do: "estop", holdS: 2 })
                    else if (trigger === "loadCellStale") o.faults = [{ atS: tS, kind: "loadCellStale", forS: 0.3 }]
                    else if (trigger === "overpressure") {
                        // late cement that crosses 3.5 MPa at 3 mL/min a few s after the start
                        o.cement = { mixedAtS: -(450 + 5 * i) }
                        o.level = "C7"
                        o.capMl = 2
                        o.durationS = round(steadyS + 30, 1)
                    }
                    jobs.push({ id: `afterflow-air${pct(air)}-${trigger}-${i}`, section: "afterflow", air, trigger, i, sc: scenario(air, o) })
                }
        if (sections.includes("cap"))
            for (let i = 0; i < runs; i++) {
                // the cap is reached after the pressurisation, at steady flow
                const capMl = round(((steadyS + 2) * 3) / 60 + 0.01 * i, 3)
                const durationS = round(START_S + (capMl / 0.05) * 1.3 + 4, 1)
                jobs.push({
                    id: `cap-air${pct(air)}-${i}`,
                    section: "cap",
                    air,
                    i,
                    sc: scenario(air, { name: `air-cap-${pct(air)}-${i}`, durationS, level: "L2", capMl, seed: 100 + i, actions: [{ atS: START_S, do: "start" }] }),
                })
            }
        if (library) {
            const dir = join(__dirname, "..", "sim", "scenarios")
            for (const f of readdirSync(dir).filter(f => f.endsWith(".json")).sort()) {
                const base = loadScenario(join(dir, f))
                const preset = SYRINGE_PRESETS[(base.syringe?.preset ?? "20mL") as keyof typeof SYRINGE_PRESETS]
                const fillMl = base.syringe?.fillMl ?? Math.min(FILL_ML, preset.nominalMl)
                const sc = validateScenario({ ...base, physics: "v2", syringe: { ...base.syringe, fillMl, airFraction: air } })
                jobs.push({ id: `library-air${pct(air)}-${basename(f, ".json")}`, section: "library", air, file: f, sc })
            }
        }
    }
    return jobs
}

function runJobs(jobs: AirJob[], o: { workers: number; firmware?: string; log: (m: string) => void }): Promise<AirOutcome[]> {
    return runPool<AirJob, AirOutcome>(
        join(__dirname, "air-worker.ts"),
        jobs,
        o.workers,
        job => ({ job, firmware: o.firmware }),
        r => o.log(`${r.id}: ${JSON.stringify({ ...r, id: undefined, section: undefined, air: undefined })}`)
    )
}

const f = (x: number | undefined, d: number) => (x !== undefined && Number.isFinite(x) ? x.toFixed(d) : "-")
const worst = (xs: number[]) => (xs.length ? Math.max(...xs) : NaN)

function table(head: string[], rows: string[][]): string {
    const w = head.map((_, c) => Math.max(...[head, ...rows].map(l => l[c].length)))
    const fmt = (l: string[]) => "| " + l.map((x, c) => x.padEnd(w[c])).join(" | ") + " |"
    return [fmt(head), "|" + w.map(x => "-".repeat(x + 2)).join("|") + "|", ...rows.map(fmt)].join("\n")
}

export function formatTables(outcomes: AirOutcome[], airs: number[], jobs: AirJob[]): string {
    const out: string[] = []
    const by = (section: string, air: number) => outcomes.filter(o => o.section === section && o.air === air)
    const jobOf = (id: string) => jobs.find(j => j.id === id)!
    if (outcomes.some(o => o.section === "blockage")) {
        out.push(
            `PRS-3 complete occlusion mid-injection (v2, 14 G x 100 mm, ${FILL_ML} mL in a 20 mL syringe, lowViscosity from dough): ` +
                `hit = paused as Blockage within ${LIMITS.blockageWithinS} s and before the chamber pressure rose ${LIMITS.blockageRisePa / 1e6} MPa; worst over the seeds`
        )
        const rows: string[][] = []
        for (const air of airs)
            for (const flow of BLOCKAGE_FLOWS) {
                const mine = by("blockage", air).filter(o => (jobOf(o.id) as { flow: number }).flow === flow)
                if (!mine.length) continue
                const hits = mine.filter(o => o.hit).length
                const reasons = [...new Set(mine.map(o => o.reason ?? (o.error ? "error" : "none")))].join(",")
                const fb = mine.filter(o => o.falseBlockageAtS !== undefined).length
                rows.push([
                    `${pct(air)} %`,
                    String(flow),
                    `${hits}/${mine.length}${fb ? ` (${fb} false pause before onset)` : ""}`,
                    f(worst(mine.map(o => o.stopAfterS ?? Infinity)), 2),
                    f(worst(mine.map(o => o.risePa ?? Infinity)) / 1e6, 3),
                    f(worst(mine.map(o => o.storedAtStopMl ?? NaN)), 3),
                    reasons,
                ])
            }
        out.push(table(["air", "flow mL/min", "hit", "stop after onset s", "rise at stop MPa", "stored at stop mL", "stop reason"], rows), "")
    }
    if (outcomes.some(o => o.section === "afterflow")) {
        out.push(`LEAK-2 afterflow after the trigger at 3 mL/min, steady state (limit ${LIMITS.afterflowMl} mL): median / worst mL over the seeds`)
        const head = ["air", ...STOP_TRIGGERS]
        const rows = airs.map(air => [
            `${pct(air)} %`,
            ...STOP_TRIGGERS.map(t => {
                const mine = by("afterflow", air).filter(o => (jobOf(o.id) as { trigger: string }).trigger === t)
                const v = mine.flatMap(o => (o.volumeMl !== undefined ? [o.volumeMl] : []))
                const bad = mine.length - v.length
                const fb = mine.filter(o => o.falseBlockageAtS !== undefined).length
                const note = (bad ? ` (${bad} no stop)` : "") + (fb ? ` [${fb} false blockage before T]` : "")
                return v.length ? `${f(median(v), 4)} / ${f(worst(v), 4)}${note}` : mine.length ? `no stop${note}` : "-"
            }),
        ])
        out.push(table(head, rows), "")
    }
    if (outcomes.some(o => o.section === "cap")) {
        out.push(`VOL-3 overshoot of the injected volume past the cap at 3 mL/min (limit ${LIMITS.overshootMl} mL): median / worst mL`)
        const rows = airs.map(air => {
            const mine = by("cap", air)
            const v = mine.flatMap(o => (o.volumeMl !== undefined ? [o.volumeMl] : []))
            const reasons = [...new Set(mine.map(o => o.reason ?? "-"))].join(",")
            return [`${pct(air)} %`, String(v.length), v.length ? `${f(median(v), 4)} / ${f(worst(v), 4)}` : "-", reasons]
        })
        out.push(table(["air", "runs", "peak injected - cap, mL", "end reason"], rows))
        out.push("(negative: the patient got less than the cap; the firmware counts plunger travel, and the air keeps the stored volume in the syringe)", "")
    }
    if (outcomes.some(o => o.section === "library")) {
        out.push("Scenario library with physics v2 (cement fill 10 mL or the syringe's nominal): verdicts")
        const rows = airs.map(air => {
            const mine = by("library", air)
            const failed = mine.filter(o => !o.pass)
            return [`${pct(air)} %`, `${mine.length - failed.length}/${mine.length}`, failed.map(o => (jobOf(o.id) as { file: string }).file.replace(/\.json$/, "")).join(", ") || "-"]
        })
        out.push(table(["air", "pass", "failing"], rows), "")
        for (const o of outcomes.filter(o => o.section === "library" && !o.pass))
            out.push(`  ${o.id}: ${o.error ?? o.failures?.join("; ")}`)
    }
    for (const o of outcomes) if (o.error && o.section !== "library") out.push(`ERROR ${o.id}: ${o.error}`)
    return out.join("\n")
}

async function main(): Promise<number> {
    let args
    try {
        args = parseArgs({
            options: {
                air: { type: "string", short: "a", default: "0,1,3,5" },
                runs: { type: "string", short: "n", default: "3" },
                workers: { type: "string", short: "w", default: String(availableParallelism()) },
                library: { type: "boolean", default: false },
                only: { type: "string" },
                firmware: { type: "string" },
                out: { type: "string", short: "o", default: "out/sim/bench-air.json" },
                help: { type: "boolean", short: "h", default: false },
            },
        })
    } catch (e) {
        console.error(`${(e as Error).message}\n\n${HELP}`)
        return 2
    }
    const v = args.values
    if (v.help) {
        console.log(HELP)
        return 0
    }
    const airs = v.air!.split(",").map(x => Number(x) / 100)
    const runs = Number(v.runs)
    const workers = Number(v.workers)
    const sections = v.only ? v.only.split(",") : ["blockage", "afterflow", "cap"]
    if (airs.some(a => !(a >= 0 && a <= 0.05))) {
        console.error("--air: percentages between 0 and 5")
        return 2
    }
    if (!(Number.isInteger(runs) && runs >= 1) || !(Number.isInteger(workers) && workers >= 1)) {
        console.error("--runs and --workers must be positive integers")
        return 2
    }
    for (const s of sections)
        if (!["blockage", "afterflow", "cap", "library"].includes(s)) {
            console.error(`--only: unknown section "${s}" (blockage, afterflow, cap, library)`)
            return 2
        }
    const t0 = Date.now()
    const jobs = makeJobs(airs, runs, sections, v.library! || sections.includes("library"))
    const outcomes = await runJobs(jobs, { workers, firmware: v.firmware, log: m => process.stderr.write(m + "\n") })
    outcomes.sort((a, b) => jobs.findIndex(j => j.id === a.id) - jobs.findIndex(j => j.id === b.id))
    console.log(formatTables(outcomes, airs, jobs))
    const wallS = (Date.now() - t0) / 1000
    mkdirSync(dirname(v.out!), { recursive: true })
    writeFileSync(v.out!, JSON.stringify({ ranAt: new Date().toISOString(), airs, runs, fillMl: FILL_ML, limits: LIMITS, wallS, outcomes }, null, 2) + "\n")
    console.log(`${jobs.length} runs in ${wallS.toFixed(0)} s wall; figures: ${v.out}`)
    return outcomes.some(o => o.error && o.section !== "library") ? 1 : 0
}

if (require.main === module)
    main().then(
        code => process.exit(code),
        e => {
            console.error(`bench:air error: ${(e as Error).stack ?? e}`)
            process.exit(1)
        }
    )
