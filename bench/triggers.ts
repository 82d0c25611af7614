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
import "../sim/harness/quiet" // first: filters jacdac-ts log noise
import { mkdirSync, writeFileSync } from "node:fs"
import { dirname } from "node:path"
import { parseArgs } from "node:util"
import { DriveInput, InjectorPlant, plungerSpeedMmPerS, RigConfig } from "../sim/model"
import { analyseStop, median, round } from "../sim/harness/analysis"
import { ScenarioResult, ScenarioRunner } from "../sim/harness/runner"
import { rigConfig, Scenario, validateScenario } from "../sim/harness/scenario"
import { BenchSession } from "../sim/harness/session"

export const TRIGGERS = ["cap", "leakSeen", "overpressure", "riseRate", "stale", "estop"] as const
export type TriggerKind = (typeof TRIGGERS)[number]

const HELP = `usage: npm run bench -- [options]

Measures, for each stop trigger (${TRIGGERS.join(", ")}), the median and worst
stop latency and afterflow / overshoot over N closed-loop runs against the
firmware in the DeviceScript VM, the same figures for a manual-injection
baseline through the same physics, the device/baseline ratios, and the
advisory leak detector's hit rate and false alarms.

options:
  -n, --runs <n>         runs per trigger (default 10)
  -r, --reaction <ms>    operator reaction time (default 250)
  -t, --only <list>      comma-separated triggers to run
  -o, --out <file>       write all figures as JSON (default out/sim/bench.json)
      --firmware <f>     run this compiled bytecode (.devs) instead of src/main.ts
  -h, --help`

const FLOW = 3 // mL/min
const START_S = 0.5
const OVERPRESSURE_PA = 3.5e6

interface Trial {
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
        case "cap":
            return { kind, sc: scenario({ name: `bench-cap-${i}`, durationS: 9, level: "C5", seed, capMl: 0.2 + 0.01 * i, actions: start }) }
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
                sc: scenario({ name: `bench-op-${i}`, durationS: 4, level: "C7", seed, capMl: 2.0, cement: { mixedAtS: -(530 + 5 * i) }, actions: start }),
            }
        case "riseRate":
            return {
                kind,
                sc: scenario({
                    name: `bench-rise-${i}`,
                    durationS: 5.2,
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
                    durationS: 4,
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

/** Device figures of one trial, from the plant's history right after the run. */
function deviceFigure(t: Trial, r: ScenarioResult, session: BenchSession): Figure | undefined {
    const plant = session.plant
    const stopName = { cap: "cap", leakSeen: "leakSeen", overpressure: "overpressure", riseRate: "blockage", stale: "loadCellStale", estop: "estop" }[t.kind]
    const stop = r.stops.find(s => s.trigger === stopName)
    if (!stop || stop.latencyMs === null) return undefined
    if (t.kind === "cap") {
        const peak = Math.max(...plant.series.injected)
        return { latencyMs: stop.latencyMs, inputLatencyMs: stop.latencyMs, volumeMl: Math.max(0, peak - r.capMl) }
    }
    if (t.perceiveS !== undefined) {
        const s = analyseStop(plant.series, plant.motion, stopName, t.perceiveS)
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
    const speed = plungerSpeedMmPerS(t.sc.flowMlPerMin ?? FLOW, plant.params.boreMm)
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
        const pushing = tS >= START_S && (trigger === undefined || tS < trigger + reactionS)
        if (!pushing && trigger !== undefined && tS >= trigger && stopS === undefined) stopS = tS
        if (trigger !== undefined && tS > trigger + reactionS + endAfterS) break
        if (tS > 60) break
        const input: DriveInput = pushing ? { enabled: true, speedCmdMmPerS: speed } : { enabled: false, speedCmdMmPerS: 0 }
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
    device: { latency: [number, number]; inputLatency: [number, number]; volume: [number, number] }
    baseline: { latency: [number, number]; volume: [number, number] } | null
    ratio: { latency: number; volume: number } | null
    failures: string[]
}

const medWorst = (xs: number[], worst: (a: number[]) => number = a => Math.max(...a)): [number, number] =>
    xs.length ? [median(xs), worst(xs)] : [NaN, NaN]

async function main(): Promise<number> {
    let args
    try {
        args = parseArgs({
            options: {
                runs: { type: "string", short: "n", default: "10" },
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
    const reactionS = Number(v.reaction) / 1000
    if (!(Number.isInteger(runs) && runs >= 1) || !(reactionS >= 0)) {
        console.error("--runs must be a positive integer and --reaction a non-negative number of ms")
        return 2
    }
    const kinds = (v.only ? v.only.split(",") : [...TRIGGERS]) as TriggerKind[]
    for (const k of kinds)
        if (!TRIGGERS.includes(k)) {
            console.error(`unknown trigger "${k}" (one of ${TRIGGERS.join(", ")})`)
            return 2
        }
    const t0 = Date.now()
    const session = await BenchSession.open({ firmware: v.firmware })
    const runner = new ScenarioRunner(session)
    const rows: Row[] = []
    const detector = { leakRuns: 0, hits: 0, noLeakRuns: 0, falseAlarmRuns: 0, falseAlarms: 0, detectionDelaysS: [] as number[] }
    try {
        for (const kind of kinds) {
            const dev: Figure[] = []
            const base: Figure[] = []
            const failures: string[] = []
            for (let i = 0; i < runs; i++) {
                const trial = makeTrial(kind, i, reactionS)
                const { result } = await runner.run(trial.sc, { keepFirmware: true, reuseFirmware: true })
                const f = result.ok ? deviceFigure(trial, result, session) : undefined
                if (f) dev.push(f)
                else failures.push(`${trial.sc.name}: ${result.error ?? `no ${kind} stop (final ${result.finalState}/${result.finalReason})`}`)
                const b = baselineFigure(trial, reactionS)
                if (b) base.push(b)
                // advisory leak detector (PRS-4)
                const sus = result.leakDetector.suspectedAtS
                if (trial.leakAtS !== undefined) {
                    detector.leakRuns++
                    const hit = sus.find(s => s >= trial.leakAtS! && s <= (trial.pressS ?? Infinity))
                    if (hit !== undefined) {
                        detector.hits++
                        detector.detectionDelaysS.push(hit - trial.leakAtS)
                    }
                } else {
                    detector.noLeakRuns++
                    if (sus.length) detector.falseAlarmRuns++
                    detector.falseAlarms += sus.length
                }
                process.stderr.write(
                    `${trial.sc.name}: ${f ? `latency ${f.latencyMs.toFixed(1)} ms, ${kind === "cap" ? "overshoot" : "afterflow"} ${f.volumeMl.toFixed(4)} mL` : "FAILED"}` +
                        `${b ? ` | manual ${b.latencyMs.toFixed(0)} ms, ${b.volumeMl.toFixed(4)} mL` : ""}\n`
                )
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
                device: d,
                baseline: bl,
                ratio: bl ? { latency: d.latency[0] / bl.latency[0], volume: d.volume[0] / bl.volume[0] } : null,
                failures,
            })
        }
    } finally {
        await session.close()
    }
    const table = formatTable(rows, reactionS, detector)
    console.log(table)
    const out = {
        ranAt: new Date().toISOString(),
        wallS: (Date.now() - t0) / 1000,
        runsPerTrigger: runs,
        reactionMs: reactionS * 1000,
        rows,
        leakDetector: detector,
    }
    mkdirSync(dirname(v.out!), { recursive: true })
    writeFileSync(v.out!, JSON.stringify(out, null, 2) + "\n")
    console.log(`\nfigures: ${v.out} (${out.wallS.toFixed(0)} s)`)
    return rows.some(r => r.failures.length) ? 1 : 0
}

function formatTable(rows: Row[], reactionS: number, det: { leakRuns: number; hits: number; noLeakRuns: number; falseAlarmRuns: number; falseAlarms: number; detectionDelaysS: number[] }): string {
    const f = (x: number, d: number) => (Number.isFinite(x) ? x.toFixed(d) : "-")
    const pair = (p: [number, number], d: number) => `${f(p[0], d)} / ${f(p[1], d)}`
    const head = ["trigger", "runs", "device latency ms", "(input->stop)", "device mL", "manual latency ms", "manual mL", "ratio lat.", "ratio mL"]
    const lines: string[][] = [head]
    for (const r of rows)
        lines.push([
            r.trigger === "cap" ? "cap (overshoot)" : r.trigger,
            String(r.runs),
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
        `Stop latency and afterflow, device (firmware in the VM, closed loop) vs manual injection (same physics, reaction ${reactionS * 1000} ms, no decompression); median / worst`,
        fmt(lines[0]),
        "|" + w.map(x => "-".repeat(x + 2)).join("|") + "|",
        ...lines.slice(1).map(fmt),
        "",
        `Advisory leak detector (PRS-4): hit rate ${det.hits}/${det.leakRuns} leak runs` +
            (det.detectionDelaysS.length ? ` (median ${f(median(det.detectionDelaysS), 2)} s after the leak opened)` : "") +
            `; false alarms ${det.falseAlarms} in ${det.falseAlarmRuns}/${det.noLeakRuns} no-leak runs`,
    ]
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
