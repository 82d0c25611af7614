// Randomized scenarios for the safety campaign (SIM-5). Every ingredient is
// an ordinary scenario-file field (docs/simulator.md), so a generated case
// and its shrunk form are plain scenario files that `npm run sim` replays.
import { defaultConfig } from "../../src/core/config"
import { LEVELS } from "../../src/core/levels"
import { Rng } from "../model/rng"
import { CEMENT_PRESETS, NEEDLE_GAUGES, SYRINGE_PRESETS } from "../model"
import { OP_NAMES, Scenario, ScenarioAction, ScenarioFault, THRESHOLD_IDS } from "../harness/scenario"

const pick = <T>(r: Rng, xs: readonly T[]): T => xs[Math.floor(r.next() * xs.length)]
const uni = (r: Rng, a: number, b: number) => a + (b - a) * r.next()
const round = (x: number, d: number) => Math.round(x * 10 ** d) / 10 ** d

/** Operator inputs after the start (local buttons and host commands as a clinician uses them). */
const OPERATOR: ScenarioAction["do"][] = ["pause", "leakSeen", "resume", "resume", "finish", "abort", "confirm", "estop", "reset", "start"]

/** One random scenario from a seed. */
export function generateScenario(seed: number): Scenario {
    const r = new Rng(seed * 7919 + 17)
    const durationS = round(uni(r, 6, 14), 1)
    const lvl = pick(r, LEVELS.filter(l => !l.name.startsWith("S")))
    const capMl = round(Math.min(lvl.capMl, uni(r, 0.3, 1.2)), 2)
    const syringe = pick(r, Object.keys(SYRINGE_PRESETS))
    const gauges = Object.keys(NEEDLE_GAUGES).map(Number)
    const sc: Scenario = {
        name: `campaign-${seed}`,
        description: `randomized case, campaign seed ${seed}`,
        durationS,
        seed,
        level: lvl.name,
        capMl,
        flowMlPerMin: round(uni(r, 0.5, 6), 2),
        remoteMode: r.next() < 0.25,
        syringe: { preset: syringe },
        needle: { gauge: pick(r, gauges), lengthMm: round(uni(r, 80, 150), 0) },
        // mixed early enough to arm after the bench's set-up (~1.5 s before t = 0):
        // seed 700091, mixed 480 s before, was refused as CementTooOld at setup
        cement: { preset: pick(r, Object.keys(CEMENT_PRESETS)), mixedAtS: -round(uni(r, 60, defaultConfig().workingLimitS - 20), 0) },
        vertebra: { tumorFactor: round(uni(r, 0.8, 6), 2), complianceMlPerKPa: round(uni(r, 0.0005, 0.004), 5) },
        actions: [],
        faults: [],
    }
    if (r.next() < 0.35) sc.leaks = [{ kind: pick(r, ["venous", "softTissue", "epidural"]), resistanceFactor: round(uni(r, 0.1, 3), 2), atMl: round(uni(r, 0.05, capMl), 3) }]
    const t0 = round(uni(r, 0.3, 1.5), 2)
    sc.actions.push({ atS: t0, do: "start" })
    const at = () => round(uni(r, t0, durationS - 0.5), 2)
    const nOp = Math.floor(r.next() * 5)
    for (let i = 0; i < nOp; i++) {
        const d = pick(r, OPERATOR)
        const a: ScenarioAction = { atS: at(), do: d }
        if (d === "leakSeen" && r.next() < 0.3) a.via = "command"
        if (d === "reset" && r.next() < 0.5) a.via = "button"
        if ((d === "start" || d === "resume") && r.next() < 0.3) a.confirm = false
        sc.actions.push(a)
    }
    // adversarial host: any command, any argument, bursts, some racing a confirm
    const nAdv = Math.floor(r.next() * 3)
    for (let i = 0; i < nAdv; i++) {
        const command = pick(r, OP_NAMES)
        const args = [round(uni(r, -2, 12), 2), Math.floor(uni(r, 0, 4))]
        if (command === "SetThreshold") args[1] = Math.floor(uni(r, 0, Object.keys(THRESHOLD_IDS).length + 1))
        const a: ScenarioAction = { atS: at(), do: "burst", command, args, count: 1 + Math.floor(r.next() * 30), rateHz: round(uni(r, 5, 200), 0) }
        sc.actions.push(a)
        if (r.next() < 0.4) sc.actions.push({ atS: round(Math.min(durationS, a.atS + uni(r, 0, 0.3)), 2), do: "confirm" })
    }
    const nFault = Math.floor(r.next() * 3)
    for (let i = 0; i < nFault; i++) {
        const kind = pick(r, [
            "loadCellStale", "loadCellSaturated", "loadCellNaN", "encoderStuck", "encoderJump", "encoderReset", "encoderScale",
            "handMove", "loadCellLow", "hostDisconnect", "restart",
        ] as const)
        const f: ScenarioFault = { atS: at(), kind }
        if (kind === "encoderJump") f.counts = r.next() < 0.5 ? -Math.floor(uni(r, 1, 3000)) : Math.floor(uni(r, 1, 30000))
        if (kind === "encoderScale") f.factor = round(uni(r, 0.9, 0.99), 3)
        if (kind === "loadCellLow") f.factor = round(uni(r, 0.3, 0.95), 2)
        if (kind === "handMove") {
            f.volumeMl = round(uni(r, 0.02, 0.5), 3)
            f.forS = round(uni(r, 0.2, 1), 2)
        } else if (kind !== "encoderJump" && kind !== "encoderReset" && r.next() < 0.6) f.forS = round(uni(r, 0.05, 2), 2)
        if (kind === "restart") f.forS = round(uni(r, 0.1, 1), 2)
        sc.faults!.push(f)
    }
    // FLOW-4: a quarter of the cases inject in increments (0.05-1 mL), the operator
    // asking for the next one with the confirm button at random moments. A
    // separate stream, so the other ingredients of every seed stay as they were.
    const ri = new Rng(seed * 104729 + 5)
    if (ri.next() < 0.25) {
        const incMl = round(uni(ri, 0.05, 0.4), 2)
        sc.actions.push({ atS: round(Math.max(0, t0 - 0.2), 2), do: "burst", command: "SetIncrement", args: [incMl, 1], count: 1, rateHz: 1 })
        const nNext = 1 + Math.floor(ri.next() * 5)
        for (let i = 0; i < nNext; i++) sc.actions.push({ atS: round(uni(ri, t0, durationS - 0.3), 2), do: "confirm" })
    }
    // FLOW-5: some cases run a syringe filled short, so it empties mid-level: the fill
    // declared on the device (syringe_exchanged + local confirm) before the start, the
    // operator exchanging it (the plant) a little after the firmware should have stopped
    // at paused(syringe_empty), confirming the new one (same fill) and resuming after
    // the hold. A separate stream again: the other ingredients of every seed stay.
    const rx = new Rng(seed * 130363 + 11)
    if (rx.next() < 0.2) {
        const flow = sc.flowMlPerMin!
        const reachMl = (flow * (durationS - t0 - 4)) / 60
        const fillMl = round(Math.min(capMl, reachMl) * uni(rx, 0.4, 0.9), 2)
        if (fillMl >= 0.1) {
            sc.syringe!.fillMl = fillMl
            sc.actions.push({ atS: round(Math.max(0, t0 - 0.25), 2), do: "syringeExchanged", fillMl })
            // the firmware stops 0.05 mL (+ its lookahead) before the end: about here, with the ramp
            const emptyS = t0 + 1 + ((fillMl - 0.05) * 60) / flow
            const exS = round(Math.min(durationS - 1.5, emptyS + uni(rx, 0.3, 1.5)), 2)
            sc.actions.push({ atS: exS, do: "exchangeSyringe" })
            sc.actions.push({ atS: round(Math.min(durationS - 1, exS + uni(rx, 0.2, 0.8)), 2), do: "syringeExchanged", fillMl })
            sc.actions.push({ atS: round(Math.min(durationS - 0.5, Math.max(emptyS + 3.2, exS + 1)), 2), do: "resume" })
        }
    }
    sc.actions.sort((a, b) => a.atS - b.atS)
    sc.faults!.sort((a, b) => a.atS - b.atS)
    return sc
}
