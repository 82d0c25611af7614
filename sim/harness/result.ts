// The shapes a scenario run produces (the result file, the live view) and
// the small conversions every part of the runner shares.
import { Outcome } from "../../src/core/types"
import { InjectorEvent, opName, outcomeName, reasonName, rejectName, stateName } from "./injector"
import { round, StopRecord } from "./analysis"

export const lowerState = (s: number | undefined) => {
    if (s === undefined) return "unknown"
    const n = stateName(s)
    return n.charAt(0).toLowerCase() + n.slice(1)
}

export interface ResultEvent {
    tS: number
    type: string
    reason: string
    from?: string
    to?: string
    action?: number
    command?: string
    reject?: string
    value?: number
    /** commandResult: the request id answered and what became of the command */
    seq?: number
    outcome?: string
    /** commandResult: the state after the command */
    state?: string
    lo?: number
    hi?: number
}

export interface ScenarioResult {
    name: string
    file?: string
    description?: string
    ok: boolean
    error?: string
    verdict: { pass: boolean; failures: string[] }
    finalState: string
    finalReason: string
    level: string
    injectedMl: number
    bodyFilledMl: number
    leakedMl: number
    leakedByKind: Record<string, number>
    reportedMl: number
    recordMl: number | null
    /** firmware's delivered-volume truth from the plant: max plunger displacement since the level started */
    encoderTruthMl: number
    capMl: number
    overshootMl: number
    peakInjectedMl: number
    peakPressurePa: number
    reportedPeakPressurePa: number | null
    stops: StopRecord[]
    events: ResultEvent[]
    /** rejected commands: command_result answers "rejected" (once per seq) and rejected events (seq 0) */
    rejected: { tS: number; command: string; reason: string; seq: number }[]
    leakDetector: { leakOpenedAtS: number | null; suspectedAtS: number[]; detected: boolean; falseAlarms: number }
    leaks: { kind: string; openedAtS: number | null; leakedMl: number }[]
    confirmPresses: number
    droppedCommands: { tS: number; command: string }[]
    timing: {
        firmwareStartMs: number
        scenarioS: number
        /** "lockstep" (virtual time, deterministic) or "realtime" */
        clock: string
        /** wall time of the run (real time only: a lockstep result must not depend on the machine) */
        wallS?: number
        samplesPushed: number
        sampleRateHz: number
        maxSampleLateMs: number
        motorWrites: number
        telemetryReports: number
        telemetryHz: number
    }
    binding: { role: string; device: string; serviceIndex: number }[]
    /** discarded attempts (spurious stale-sensor faults from VM stalls) */
    retried?: { attempt: number; reason: string; atS: number; maxSampleLateMs: number }[]
}

export interface RunOptions {
    file?: string
    trace?: boolean
    /** override the scenario's seed */
    seed?: number
    log?: (m: string) => void
    /** called ~10x per second with a live view */
    onView?: (v: LiveView) => void
    /** keep the firmware VM running after the scenario (benchmark trials) */
    keepFirmware?: boolean
    /** reuse a running, calibrated firmware VM instead of a fresh one (benchmark trials) */
    reuseFirmware?: boolean
}

export interface LiveView {
    tS: number
    durationS: number
    state: string
    reason: string
    volumeMl: number
    capMl: number
    pressurePa: number
    flowMlPerMin: number
    injectedMl: number
    leakedMl: number
    chamberPa: number
    lastEvents: ResultEvent[]
}

export class SetupError extends Error {}

/** A stop trigger the timeline caused (pause, leak seen, fault start ...), scenario time. */
export interface Trigger {
    trigger: string
    tS: number
}

/** An injector event as the result file lists it (scenario time `tS`). */
export function resultEvent(e: InjectorEvent, t0WallMs: number): ResultEvent {
    const out: ResultEvent = { tS: round((e.tHostMs - t0WallMs) / 1000, 3), type: e.type, reason: reasonName(e.reason) }
    if (e.type === "transition") {
        out.from = lowerState(e.from)
        out.to = lowerState(e.to)
    }
    if (e.type === "alarm") out.action = e.action
    if (e.command !== undefined) out.command = opName(e.command)
    if (e.type === "commandResult") {
        out.seq = e.seq
        out.outcome = outcomeName(e.outcome!)
        out.state = lowerState(e.state)
        if (Number.isFinite(e.lo)) out.lo = round(e.lo!, 6)
        if (Number.isFinite(e.hi)) out.hi = round(e.hi!, 6)
        if (e.outcome === Outcome.Rejected) out.reject = rejectName(e.reject!)
    } else if (e.reject !== undefined) out.reject = rejectName(e.reject)
    if (e.value !== undefined) out.value = round(e.value, 6)
    if (e.type === "levelRecord") out.value = round(e.record!.volumeMl, 5)
    return out
}
