// `npm run bench`: stop latency and afterflow per stop trigger, device vs a
// manual-injection baseline through the same physics, and the advisory leak
// detector's hit rate / false alarms. One hub and one firmware VM serve all
// trials (the VM is reset to a fresh level between them).
//
// Definitions (docs/simulator.md, "Benchmark"):
// - trigger instant T: cap = plunger displacement reaches the cap; leak seen
//   and e-stop = the operator perceives the need to stop; over-pressure =
//   the true chamber pressure crosses 3.5 MPa; rise rate = needle occlusion
//   onset; stale = the load cell's last sample.
// - device: automatic triggers act at T; the operator's pedal / e-stop press
//   comes one reaction time after T (the human is the same in both arms).
//   latency = T -> the plunger no longer advances; "input->stop" = from the
//   press (leak seen, e-stop) or T (others).
// - baseline: a clinician pushing a syringe by hand at the same flow stops
//   pushing one reaction time after T and holds (no decompression).
// - afterflow = peak volume out of the needle after T minus the volume at T;
//   for the cap row: overshoot = max(0, peak volume out - cap).
import { mkdirSync, writeFileSync } from "node:fs"
import { runPool } from "./pool"
import { availableParallelism } from "node:os"
import { dirname, join } from "node:path"
import { parseArgs } from "node:util"
import { DriveInput, InjectorPlant, manualOperatorDrive, RigConfig } from "../sim/model"
import { analyseStop, median, round } from "../sim/harness/analysis"
import type { RealtimePlant } from "../sim/harness/plant"
import type { ScenarioResult } from "../sim/harness/result"
import { rigConfig, Scenario, validateScenario } from "../sim/harness/scenario"

export const TRIGGERS = ["cap", "leakSeen", "overpressure", "riseRate", "stale", "estop"] as const
export type TriggerKind = (typeof TRIGGERS)[number]

const HELP = `usage: npm run bench -- [options]

Measures, for each stop trigger (${TRIGGERS.join(", ")}), the median and worst
stop latency and afterflow / overshoot over N closed-loop runs against the
firmware in the DeviceScript VM, the same figures for a manual-injection
baseline through the same physics, the device/baseline ratios, and the
advisory leak detector's hit rate and false alarms.

Lockstep: each trial is a fresh run on the virtual clock (seed 100 + i for
trial i), so the figures do not depend on the machine or its load; the
trials are spread over worker processes.

options:
  -n, --runs <n>         runs (seeds) per trigger (default 30)
  -w, --workers <n>      worker processes (default: one per core)
  -r, --reaction <ms>    operator reaction time (default 250)
  -t, --only <list>      comma-separated triggers to run
  -o, --out <file>       write all figures as JSON (default out/sim/bench.json)
      --firmware <f>     run this compiled bytecode (.devs) instead of src/main.ts
  -h, --help`

const FLOW = 3 // mL/min
const START_S = 0.5
const OVERPRESSURE_PA = 3.5e6

export interface Trial {
    kind: TriggerKind
    sc: Scenario
    /** perception instant for operator triggers (leak seen, e-stop) */
    perceiveS?: number
    /** when the leak opens (leak-detector window start) */
    leakAtS?: number
    pressS?: number
}

function scenario(o: Record<string, unknown>): Scenario {
    return validateScenario({
        syringe: { preset: "20mL" },
        needle: { gauge: 14, lengthMm: 100 },
        cement: { mixedAtS: -240 },
        flowMlPerMin: FLOW,
        benchMode: false,
        settleS: 0.8,
        ...o,
    })
}

export function makeTrial(kind: TriggerKind, i: number, reactionS: number): Trial {
    const seed = 100 + i
    const start = [{ atS: START_S, do: "start" }]
    switch (kind) {
        case "cap": {
            const capMl = round(0.2 + 0.01 * i, 3)
            // long enough to reach the cap at the set flow, with room for the stop
            const durationS = round(START_S + (capMl / (FLOW / 60)) * 1.3 + 3, 1)
            return { kind, sc: scenario({ name: `bench-cap-${i}`, durationS, level: "C5", seed, capMl, actions: start }) }
        }
        case "leakSeen": {
            const leakAt = 1.5 + 0.1 * (i % 5)
            const perceive = leakAt + 1.2 + 0.1 * (i % 3)
            const press = perceive + reactionS
            return {
                kind,
                perceiveS: perceive,
                pressS: press,
                leakAtS: leakAt,
                sc: scenario({
                    name: `bench-leak-${i}`,
                    durationS: round(press + 1.2, 2),
                    level: "C2",
                    seed,
                    capMl: 2.0,
                    vertebra: { tumorFactor: 5.8 },
                    leaks: [{ atS: leakAt, kind: ["venous", "epidural", "softTissue"][i % 3], resistanceFactor: [0.2, 0.3, 0.5][i % 3] }],
                    actions: [...start, { atS: round(press, 3), do: "leakSeen", via: "pedal" }],
                }),
            }
        }
        case "overpressure":
            return {
                kind,
                sc: scenario({ name: `bench-op-${i}`, durationS: 4, level: "C7", seed, capMl: 2.0, cement: { mixedAtS: -(450 + (i % 30)) }, actions: start }),
            }
        case "riseRate":
            return {
                kind,
                sc: scenario({
                    name: `bench-rise-${i}`,
                    durationS: round(3.5 + 0.05 * i + 1.7, 2),
                    level: "L2",
                    seed,
                    capMl: 2.0,
                    blockage: { atS: 3.5 + 0.05 * i, factor: 20 + 2 * i },
                    actions: start,
                }),
            }
        case "stale":
            return {
                kind,
                sc: scenario({
                    name: `bench-stale-${i}`,
                    durationS: round(2.5 + 0.05 * i + 1.5, 2),
                    level: "C5",
                    seed,
                    capMl: 2.0,
                    actions: start,
                    faults: [{ atS: 2.5 + 0.05 * i, kind: "loadCellStale", forS: 0.3 }],
                }),
            }
        case "estop": {
            const perceive = 2.5 + 0.05 * i
            const press = perceive + reactionS
            return {
                kind,
                perceiveS: perceive,
                pressS: press,
                sc: scenario({
                    name: `bench-estop-${i}`,
                    durationS: round(press + 1.2, 2),
                    level: "C5",
                    seed,
                    capMl: 2.0,
                    actions: [...start, { atS: round(press, 3), do: "estop", holdS: 0.2 }],
                }),
            }
        }
    }
}

export interface Figure {
    /** trigger -> drive no longer advancing, ms */
    latencyMs: number
    /** from the device input (press) for operator triggers, else = latencyMs */
    inputLatencyMs: number
    /** afterflow (overshoot for cap), mL */
    volumeMl: number
}

/** The firmware's own reason for each trigger (a stop for it before the physical trigger happened = prevented). */
const FIRMWARE_REASON: Record<TriggerKind, string> = {
    cap: "CapReached",
    leakSeen: "LeakSeen",
    overpressure: "Overpressure",
    riseRate: "Blockage",
    stale: "SensorStale",
    estop: "Estop",
}

/**
 * The firmware stopped for this trigger although the physical trigger never
 * happened: e.g. over-pressure measured at the plunger (chamber + seal
 * friction) reached the limit before the model's chamber pressure did.
 */
export function preventedStop(t: Trial, r: ScenarioResult): boolean {
    return r.ok && r.events.some(e => e.type === "transition" && e.reason === FIRMWARE_REASON[t.kind]) && !r.stops.some(s => s.trigger === stopName(t.kind))
}

const stopName = (k: TriggerKind) => ({ cap: "cap", leakSeen: "leakSeen", overpressure: "overpressure", riseRate: "blockage", stale: "loadCellStale", estop: "estop" })[k]

/** Device figures of one trial, from the plant's history right after the run. */
export function deviceFigure(t: Trial, r: ScenarioResult, plant: RealtimePlant): Figure | undefined {
    const stop = r.stops.find(s => s.trigger === stopName(t.kind))
    if (!stop || stop.latencyMs === null) return undefined
    if (t.kind === "cap") {
        const peak = Math.max(...plant.series.injected)
        return { latencyMs: stop.latencyMs, inputLatencyMs: stop.latencyMs, volumeMl: Math.max(0, peak - r.capMl) }
    }
    if (t.perceiveS !== undefined) {
        const s = analyseStop(plant.series, plant.motion, stopName(t.kind), t.perceiveS)
        return { latencyMs: s.latencyMs ?? NaN, inputLatencyMs: stop.latencyMs, volumeMl: s.afterflowMl }
    }
    return { latencyMs: stop.latencyMs, inputLatencyMs: stop.latencyMs, volumeMl: stop.afterflowMl }
}

/**
 * The manual baseline: the same plant (same scenario physics) pushed by hand
 * at the same flow from the same start; the clinician stops pushing one
 * reaction time after the trigger and holds the syringe (no decompression).
 */
export function baselineFigure(t: Trial, reactionS: number): Figure | undefined {
    if (t.kind === "stale") return undefined // a manual syringe has no sensor to go stale
    const cfg: RigConfig = rigConfig(t.sc)
    const plant = new InjectorPlant(cfg)
    const capMl = t.sc.capMl ?? Infinity
    const dt = 0.001
    let trigger: number | undefined = t.perceiveS
    let disp0: number | undefined
    let injAtT: number | undefined
    let peakInj = 0
    let stopS: number | undefined
    let prevPc = 0
    const endAfterS = 4
    for (let k = 0; k < 200000; k++) {
        const tS = plant.timeS()
        const st = plant.state()
        if (tS >= START_S && disp0 === undefined) disp0 = st.plungerVolumeMl
        if (trigger === undefined && disp0 !== undefined) {
            if (t.kind === "cap" && st.plungerVolumeMl - disp0 >= capMl) trigger = tS
            if (t.kind === "overpressure" && st.chamberPressurePa >= OVERPRESSURE_PA && prevPc < OVERPRESSURE_PA) trigger = tS
            if (t.kind === "riseRate" && st.needleOcclusionFactor > 1) trigger = tS
        }
        prevPc = st.chamberPressurePa
        if (trigger !== undefined && tS >= trigger && injAtT === undefined) injAtT = st.injectedMl
        if (trigger !== undefined && tS >= trigger) peakInj = Math.max(peakInj, st.injectedMl)
        // the clinician of sim/model/operator.ts, from the same start
        const manual = manualOperatorDrive(tS, trigger ?? null, { flowMlPerMin: t.sc.flowMlPerMin ?? FLOW, boreMm: plant.params.boreMm, reactionTimeS: reactionS })
        const pushing = tS >= START_S && manual.enabled
        if (!pushing && trigger !== undefined && tS >= trigger && stopS === undefined) stopS = tS
        if (trigger !== undefined && tS > trigger + reactionS + endAfterS) break
        if (tS > 60) break
        const input: DriveInput = pushing ? manual : { enabled: false, speedCmdMmPerS: 0 }
        plant.step(dt, input)
    }
    if (trigger === undefined || stopS === undefined) return undefined
    const lat = (stopS - trigger) * 1000
    if (t.kind === "cap") return { latencyMs: lat, inputLatencyMs: lat, volumeMl: Math.max(0, peakInj - capMl) }
    return { latencyMs: lat, inputLatencyMs: lat, volumeMl: peakInj - (injAtT ?? 0) }
}

interface Row {
    trigger: TriggerKind
    runs: number
    /** trials where the firmware stopped for the trigger before it physically happened (no latency to measure) */
    prevented: number
    device: { latency: [number, number]; inputLatency: [number, number]; volume: [number, number] }
    baseline: { latency: [number, number]; volume: [number, number] } | null
    ratio: { latency: number; volume: number } | null
    failures: string[]
}

/** What a worker reports for one trial. */
export interface TrialOutcome {
    kind: TriggerKind
    i: number
    name: string
    device?: Figure
    baseline?: Figure
    failure?: string
    /** the firmware stopped before the physical trigger (see preventedStop) */
    prevented?: boolean
    /** leak-detector alarms (scenario s), the leak's opening and the operator's press */
    suspectedAtS: number[]
    leakAtS?: number
    pressS?: number
    wallMs: number
    virtualMs: number
}

const medWorst = (xs: number[], worst: (a: number[]) => number = a => Math.max(...a)): [number, number] =>
    xs.length ? [median(xs), worst(xs)] : [NaN, NaN]

/** Run the trials over `workers` lockstep worker processes. */
async function runTrials(jobs: { kind: TriggerKind; i: number }[], o: { workers: number; reactionS: number; firmware?: string; log: (m: string) => void }): Promise<TrialOutcome[]> {
    const out = await runPool<{ kind: TriggerKind; i: number }, TrialOutcome>(
        join(__dirname, "trigger-worker.ts"),
        jobs,
        o.workers,
        job => ({ ...job, reactionS: o.reactionS, firmware: o.firmware }),
        t =>
            o.log(
                `${t.name}: ${t.device ? `latency ${t.device.latencyMs.toFixed(1)} ms, ${t.kind === "cap" ? "overshoot" : "afterflow"} ${t.device.volumeMl.toFixed(4)} mL` : `FAILED ${t.failure}`}` +
                    `${t.baseline ? ` | manual ${t.baseline.latencyMs.toFixed(0)} ms, ${t.baseline.volumeMl.toFixed(4)} mL` : ""}  (${(t.virtualMs / 1000).toFixed(1)} s in ${(t.wallMs / 1000).toFixed(2)} s)`
            )
    )
    return out.sort((a, b) => TRIGGERS.indexOf(a.kind) - TRIGGERS.indexOf(b.kind) || a.i - b.i)
}

async function main(): Promise<number> {
    let args
    try {
        args = parseArgs({
            options: {
                runs: { type: "string", short: "n", default: "30" },
                workers: { type: "string", short: "w", default: String(availableParallelism()) },
                reaction: { type: "string", short: "r", default: "250" },
                only: { type: "string", short: "t" },
                out: { type: "string", short: "o", default: "out/sim/bench.json" },
                firmware: { type: "string" },
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
    const runs = Number(v.runs)
    const workers = Number(v.workers)
    const reactionS = Number(v.reaction) / 1000
    if (!(Number.isInteger(runs) && runs >= 1) || !(Number.isInteger(workers) && workers >= 1) || !(reactionS >= 0)) {
        console.error("--runs and --workers must be positive integers and --reaction a non-negative number of ms")
        return 2
    }
    const kinds = (v.only ? v.only.split(",") : [...TRIGGERS]) as TriggerKind[]
    for (const k of kinds)
        if (!TRIGGERS.includes(k)) {
            console.error(`unknown trigger "${k}" (one of ${TRIGGERS.join(", ")})`)
            return 2
        }
    const t0 = Date.now()
    const jobs = kinds.flatMap(kind => Array.from({ length: runs }, (_, i) => ({ kind, i })))
    const outcomes = await runTrials(jobs, { workers, reactionS, firmware: v.firmware, log: m => process.stderr.write(m + "\n") })
    const rows: Row[] = []
    const detector = { leakRuns: 0, hits: 0, noLeakRuns: 0, falseAlarmRuns: 0, falseAlarms: 0, detectionDelaysS: [] as number[] }
    for (const kind of kinds) {
        const mine = outcomes.filter(o => o.kind === kind)
        const dev = mine.flatMap(o => (o.device ? [o.device] : []))
        const base = mine.flatMap(o => (o.baseline ? [o.baseline] : []))
        for (const o of mine) {
            // advisory leak detector (PRS-4)
            if (o.leakAtS !== undefined) {
                detector.leakRuns++
                const hit = o.suspectedAtS.find(s => s >= o.leakAtS! && s <= (o.pressS ?? Infinity))
                if (hit !== undefined) {
                    detector.hits++
                    detector.detectionDelaysS.push(hit - o.leakAtS)
                }
            } else {
                detector.noLeakRuns++
                if (o.suspectedAtS.length) detector.falseAlarmRuns++
                detector.falseAlarms += o.suspectedAtS.length
            }
        }
        const d = {
            latency: medWorst(dev.map(x => x.latencyMs)),
            inputLatency: medWorst(dev.map(x => x.inputLatencyMs)),
            volume: medWorst(dev.map(x => x.volumeMl)),
        }
        const bl = base.length ? { latency: medWorst(base.map(x => x.latencyMs)), volume: medWorst(base.map(x => x.volumeMl)) } : null
        rows.push({
            trigger: kind,
            runs: dev.length,
            prevented: mine.filter(o => o.prevented).length,
            device: d,
            baseline: bl,
            ratio: bl ? { latency: d.latency[0] / bl.latency[0], volume: d.volume[0] / bl.volume[0] } : null,
            failures: mine.flatMap(o => (o.failure ? [`${o.name}: ${o.failure}`] : [])),
        })
    }
    const table = formatTable(rows, reactionS, detector)
    console.log(table)
    const wallS = (Date.now() - t0) / 1000
    const virtualS = outcomes.reduce((a, o) => a + o.virtualMs, 0) / 1000
    const out = {
        ranAt: new Date().toISOString(),
        clock: "lockstep",
        wallS,
        workers: Math.min(workers, jobs.length),
        virtualS,
        runsPerTrigger: runs,
        seeds: `100..${100 + runs - 1} (trial i: seed 100 + i)`,
        reactionMs: reactionS * 1000,
        rows,
        leakDetector: detector,
        trials: outcomes,
    }
    mkdirSync(dirname(v.out!), { recursive: true })
    writeFileSync(v.out!, JSON.stringify(out, null, 2) + "\n")
    console.log(`\n${jobs.length} trials, ${virtualS.toFixed(0)} s virtual in ${wallS.toFixed(0)} s wall on ${out.workers} workers; figures: ${v.out}`)
    return rows.some(r => r.failures.length) ? 1 : 0
}

function formatTable(rows: Row[], reactionS: number, det: { leakRuns: number; hits: number; noLeakRuns: number; falseAlarmRuns: number; falseAlarms: number; detectionDelaysS: number[] }): string {
    const f = (x: number, d: number) => (Number.isFinite(x) ? x.toFixed(d) : "-")
    const pair = (p: [number, number], d: number) => `${f(p[0], d)} / ${f(p[1], d)}`
    const head = ["trigger", "runs", "stopped before T", "device latency ms", "(input->stop)", "device mL", "manual latency ms", "manual mL", "ratio lat.", "ratio mL"]
    const lines: string[][] = [head]
    for (const r of rows)
        lines.push([
            r.trigger === "cap" ? "cap (overshoot)" : r.trigger,
            String(r.runs),
            String(r.prevented),
            pair(r.device.latency, 1),
            pair(r.device.inputLatency, 1),
            pair(r.device.volume, 4),
            r.baseline ? pair(r.baseline.latency, 0) : "n/a",
            r.baseline ? pair(r.baseline.volume, 4) : "n/a",
            r.ratio && r.device.latency[0] > 0 ? f(r.ratio.latency, 2) : r.ratio ? "(stops early)" : "n/a",
            r.ratio ? f(r.ratio.volume, 2) : "n/a",
        ])
    const w = head.map((_, c) => Math.max(...lines.map(l => l[c].length)))
    const fmt = (l: string[]) => "| " + l.map((x, c) => x.padEnd(w[c])).join(" | ") + " |"
    const out = [
        `Stop latency and afterflow, device (firmware in the VM, closed loop, lockstep) vs manual injection (same physics, reaction ${reactionS * 1000} ms, no decompression); median / worst over the runs`,
        fmt(lines[0]),
        "|" + w.map(x => "-".repeat(x + 2)).join("|") + "|",
        ...lines.slice(1).map(fmt),
        "",
        `Advisory leak detector (PRS-4): hit rate ${det.hits}/${det.leakRuns} leak runs` +
            (det.detectionDelaysS.length ? ` (median ${f(median(det.detectionDelaysS), 2)} s after the leak opened)` : "") +
            `; false alarms ${det.falseAlarms} in ${det.falseAlarmRuns}/${det.noLeakRuns} no-leak runs`,
    ]
    out.push(`"runs": trials with a stop to measure; "stopped before T": the firmware stopped for the trigger before it physically happened (counted, not timed)`)
    for (const r of rows) for (const x of r.failures) out.push(`FAILED ${x}`)
    return out.join("\n")
}

if (require.main === module)
    main().then(
        code => process.exit(code),
        e => {
            console.error(`bench error: ${(e as Error).stack ?? e}`)
            process.exit(1)
        }
    )
