// One scenario, lockstep: a fresh world (clock rewound, timers dropped,
// Math.random seeded), a fresh session, the runner, then everything torn
// down. The result depends only on (firmware, scenario, seed).
import { resetWorld, runVirtual, wallMs } from "./clock"
import "../harness/quiet"
import { isAbsolute, relative } from "node:path"
import { ROOT } from "../harness/procs"
import { ScenarioResult, ScenarioRunner } from "../harness/runner"
import { Scenario, Timing, TIMINGS } from "../harness/scenario"
import { Telemetry } from "../harness/injector"
import { TraceRow } from "../harness/plant"
import { LiveView } from "../harness/runner"
import { LockstepSession } from "./session"
import { TransportConfig, TransportStats } from "./transport"

export interface LockstepRunOptions {
    file?: string
    /** overrides the scenario's seed */
    seed?: number
    trace?: boolean
    log?: (m: string) => void
    /** run this bytecode (.devs) instead of src/main.ts (default: $SIM_FIRMWARE when set) */
    firmware?: string
    onView?: (v: LiveView) => void
    /** overrides the scenario's timing model ("simulator" | "hardware") */
    timing?: Timing
    /** called on the virtual clock once the run is set up (invariant monitors) */
    onSession?: (s: LockstepSession) => void
}

export interface LockstepRun {
    result: ScenarioResult
    trace: TraceRow[]
    telemetry: Telemetry[]
    t0Wall: number
    /** wall cost of the run (not part of the result: the result is deterministic) */
    wallMs: number
    virtualMs: number
    timerEvents: number
    transport: TransportStats
    session: LockstepSession
    /** host times of the bench's confirm presses (ms, virtual clock) */
    confirmTimesMs: number[]
}

/** Merge the scenario's transport overrides with the defaults. */
export function scenarioTransport(sc: Scenario): Partial<TransportConfig> {
    return sc.transport ?? {}
}

/**
 * The timing model of a run: the option, else the scenario's field, else
 * $SIM_TIMING (so `SIM_TIMING=hardware npm run campaign` runs the whole
 * campaign on the board's control path), else "simulator".
 */
export function runTiming(sc: Scenario, o: LockstepRunOptions = {}): Timing {
    const env = process.env.SIM_TIMING
    if (env !== undefined && env !== "" && !(TIMINGS as readonly string[]).includes(env))
        throw new Error(`SIM_TIMING=${JSON.stringify(env)}: must be one of ${TIMINGS.join(", ")}`)
    return o.timing ?? sc.timing ?? ((env || undefined) as Timing | undefined) ?? "simulator"
}

export async function runLockstep(sc: Scenario, o: LockstepRunOptions = {}): Promise<LockstepRun> {
    const timing = runTiming(sc, o)
    const seed = o.seed ?? sc.seed ?? 1
    resetWorld(seed)
    const w0 = wallMs()
    const { value: session } = await runVirtual(() =>
        LockstepSession.open({
            seed,
            transport: scenarioTransport(sc),
            log: o.log,
            timing,
            // SIM_FIRMWARE replaces src/main.ts, not the hardware timing's entry
            firmware: o.firmware ?? (timing === "hardware" ? undefined : process.env.SIM_FIRMWARE),
        })
    )
    try {
        o.onSession?.(session)
        const runner = new ScenarioRunner(session)
        const { value: out, stats } = await runVirtual(() =>
            runner.run(sc, { file: o.file && isAbsolute(o.file) ? relative(ROOT, o.file) : o.file, trace: o.trace, seed: o.seed, log: o.log, onView: o.onView, retries: 0 })
        )
        const transport = session.transportStats.reduce(
            (a, s) => {
                for (const k of Object.keys(a) as (keyof TransportStats)[]) a[k] = k === "maxBudgetDelayMs" ? Math.max(a[k], s[k]) : a[k] + s[k]
                return a
            },
            { framesToVm: 0, framesFromVm: 0, packetsFromVm: 0, packetsDelayedByBudget: 0, maxBudgetDelayMs: 0, stalls: 0, stalledMs: 0 } as TransportStats
        )
        return {
            ...out,
            t0Wall: session.plant.t0Wall,
            wallMs: wallMs() - w0,
            virtualMs: stats.virtualMs,
            timerEvents: stats.events,
            transport,
            session,
            confirmTimesMs: runner.confirmTimesMs,
        }
    } finally {
        await runVirtual(() => session.close())
    }
}
