// Runs one scenario closed-loop against the firmware in the DeviceScript VM:
// fresh VM, explicit role binding, then setup (./setup: calibration through
// the service commands, the scenario's settings), the timeline of operator
// actions and injected faults (./timeline), and the result with its verdict
// (./verdict). The command client is ./client, the trace CSV ./trace.
import { LEVELS } from "../../src/core/levels"
import { BenchClient } from "./client"
import { Telemetry } from "./injector"
import { TraceRow } from "./plant"
import { LiveView, RunOptions, ScenarioResult, Trigger } from "./result"
import { rigConfig, Scenario } from "./scenario"
import { FirmwareStart, SimSession } from "./session"
import { BenchSetup } from "./setup"
import { liveView, Timeline } from "./timeline"
import { buildResult, spuriousStale } from "./verdict"

export { BenchClient, HEARTBEAT_MS } from "./client"
export { lowerState, SetupError } from "./result"
export type { LiveView, ResultEvent, RunOptions, ScenarioResult } from "./result"
export { CAL_COUNTS, CAL_MASS_KG, ENCODER_COUNTS_PER_MM } from "./setup"
export { traceCsv } from "./trace"
export { judge, spuriousStale } from "./verdict"

export const LEVEL_NAMES = LEVELS.map(l => l.name)

export interface RunOutput {
    result: ScenarioResult
    trace: TraceRow[]
    telemetry: Telemetry[]
}

/** Runs scenarios on one bench session. */
export class ScenarioRunner {
    readonly client: BenchClient
    readonly bench: BenchSetup
    private lastStart: FirmwareStart | undefined

    constructor(readonly session: SimSession) {
        this.client = new BenchClient(session)
        this.bench = new BenchSetup(session, this.client)
    }

    /** host times (ms) of every confirm press of the current run */
    get confirmTimesMs(): number[] {
        return this.client.confirmTimesMs
    }

    /**
     * Run one scenario. Never throws for scenario-level failures: they land
     * in the result. When the firmware faults on a stale load cell that the
     * bench did not make stale (it kept sending every sample on time), the
     * fault came from a stall of the VM itself (the WASM VM on a shared host
     * is not real-time: stalls of 40+ ms happen now and then, and FAULT-1
     * allows 50 ms) and the run is repeated, up to `retries` times (default
     * 1; lockstep runs pass 0: their stalls are modelled). Every discarded
     * attempt is listed in `result.retried`.
     */
    async run(sc: Scenario, opts: RunOptions & { retries?: number } = {}): Promise<RunOutput> {
        const retried: { attempt: number; reason: string; atS: number; maxSampleLateMs: number }[] = []
        for (let attempt = 1; ; attempt++) {
            const out = await this.runOnce(sc, opts)
            const spurious = spuriousStale(sc, out.result)
            if (spurious === undefined || attempt > (opts.retries ?? 1)) {
                out.result.retried = retried
                if (spurious !== undefined) out.result.verdict.failures.push(`spurious stale-sensor fault at ${spurious} s (VM stall) on every attempt`)
                out.result.verdict.pass = out.result.verdict.failures.length === 0
                return out
            }
            retried.push({ attempt, reason: "spurious SensorStale (VM stall; the bench sent every sample on time)", atS: spurious, maxSampleLateMs: out.result.timing.maxSampleLateMs })
            opts.log?.(`${sc.name}: spurious stale-sensor fault at ${spurious} s (VM stall); running again`)
            if (opts.keepFirmware) {
                // a fresh VM for the retry as well
                await this.session.stopFirmware()
                this.lastStart = undefined
            }
        }
    }

    private async runOnce(sc: Scenario, opts: RunOptions = {}): Promise<RunOutput> {
        const log = opts.log ?? (() => {})
        const session = this.session
        const wall0 = performance.now()
        this.client.reset()
        const link = session.link
        link.events = []
        link.sent = []
        link.connected = true
        const telemetry: Telemetry[] = []
        const motorWrites0 = session.device.motor.writes
        link.onTelemetry = t => telemetry.push(t)
        let start: FirmwareStart | undefined = this.lastStart
        let error: string | undefined
        let triggers: Trigger[] = []
        let levelStartS: number | undefined
        let endS = 0
        try {
            const reuse = !!opts.reuseFirmware && session.vmAlive() && this.lastStart !== undefined
            if (!reuse) {
                log(`${sc.name}: starting firmware`)
                start = this.lastStart = await session.startFirmware()
                this.bench.forget()
                log(`${sc.name}: firmware up in ${start.startMs.toFixed(0)} ms; calibrating and setting up`)
            }
            // the calibration / setup rig: the bench at rest
            session.installRig({ seed: (opts.seed ?? sc.seed ?? 1) + 1000 })
            this.client.startHeartbeat()
            await this.bench.setup(sc, reuse)
            // scenario time 0: the scenario's plant
            session.installRig(rigConfig(sc, opts.seed))
            session.plant.keepTrace = !!opts.trace
            log(`${sc.name}: running ${sc.durationS} s`)
            const timeline = new Timeline(session, this.client, sc, opts)
            triggers = timeline.triggers
            const r = await timeline.run()
            levelStartS = r.levelStartS
            endS = r.endS
        } catch (e) {
            error = (e as Error).message
            log(`${sc.name}: ERROR ${error}`)
            endS = session.plant.nowS()
        } finally {
            this.client.stopHeartbeat()
            session.plant.advanceToNow()
            link.onTelemetry = () => {}
        }
        const result = buildResult(session, this.client, { sc, opts, start, triggers, levelStartS, endS, telemetry, error, wall0 })
        result.timing.motorWrites -= motorWrites0
        if (!opts.keepFirmware || error) {
            await session.stopFirmware()
            this.lastStart = undefined
        }
        return { result, trace: session.plant.trace, telemetry }
    }

    view(sc: Scenario): LiveView {
        return liveView(this.session, sc)
    }
}
