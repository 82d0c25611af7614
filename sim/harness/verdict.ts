// After the run: the result record from the plant's physical history and
// the firmware's events (stops, volumes, leaks, timing), and the verdict
// of the scenario's `expect` block on it.
import { Op, Reason } from "../../src/core/types"
import { analyseStop, capTrigger, occlusionOnsetS, pressureCrossingS, round, StopRecord } from "./analysis"
import { BenchClient } from "./client"
import { opName, reasonName, Telemetry } from "./injector"
import { lowerState, ResultEvent, resultEvent, RunOptions, ScenarioResult, Trigger } from "./result"
import { levelCapMl, Scenario } from "./scenario"
import { leakShare } from "./view"
import { FirmwareStart, SimSession } from "./session"

export interface RunRecord {
    sc: Scenario
    opts: RunOptions
    start: FirmwareStart | undefined
    triggers: Trigger[]
    levelStartS: number | undefined
    endS: number
    telemetry: Telemetry[]
    error: string | undefined
    /** performance.now() at the start of the run (wall time of real-time runs) */
    wall0: number
}

/** The result record of a finished run (verdict included). */
export function buildResult(session: SimSession, client: BenchClient, run: RunRecord): ScenarioResult {
    const { sc, opts, start, triggers, levelStartS, endS, telemetry, error, wall0 } = run
    const plant = session.plant
    const link = session.link
    const tS = (hostMs: number) => (hostMs - plant.t0Wall) / 1000
    const series = plant.series
    const motion = plant.motion
    const st = plant.state()
    const events = link.events.map(e => resultEvent(e, plant.t0Wall))
    const capMl = levelCapMl(sc)
    const latest = link.latest
    const lastSmp = latest?.samples[latest.samples.length - 1]
    const record = [...link.events].reverse().find(e => e.type === "levelRecord")?.record
    const transitionsAfter = (t: number) => link.events.filter(e => e.type === "transition" && tS(e.tHostMs) >= t - 0.002)

    // physical triggers
    const all: (Trigger & { stopS?: number })[] = [...triggers]
    const capEv = link.events.find(e => e.type === "transition" && e.reason === Reason.CapReached)
    if (levelStartS !== undefined) {
        const tc = capTrigger(series, motion, levelStartS, capMl, capEv ? tS(capEv.tHostMs) : undefined)
        if (tc !== undefined) all.push({ trigger: "cap", tS: tc.tS, stopS: tc.stopS })
    }
    const opPa = sc.thresholds?.overpressurePa ?? 3.5e6
    const tp = pressureCrossingS(series, motion, opPa)
    if (tp !== undefined) all.push({ trigger: "overpressure", tS: tp })
    const to = occlusionOnsetS(series)
    if (to !== undefined) all.push({ trigger: "blockage", tS: to })
    all.sort((a, b) => a.tS - b.tS)
    const stops: StopRecord[] = all.map(tr => {
        const s = analyseStop(series, motion, tr.trigger, tr.tS, tr.stopS)
        // the event may arrive a little before the motor write that stops the drive
        const fw = transitionsAfter(Math.min(tr.tS, s.stoppedAtS ?? tr.tS) - 0.05)[0]
        if (fw) {
            s.firmwareReason = reasonName(fw.reason)
            s.firmwareState = lowerState(fw.to)
        }
        return s
    })

    // encoder truth of the firmware's delivered volume
    let truth = 0
    if (levelStartS !== undefined && series.t.length) {
        const i0 = series.indexAt(levelStartS)
        // across syringes (FLOW-5): the furthest push of each exchanged syringe counts
        let maxD = series.pushed[Math.min(i0, series.pushed.length - 1)]
        for (let i = i0; i < series.t.length; i++) if (series.pushed[i] > maxD) maxD = series.pushed[i]
        truth = maxD - series.pushed[Math.min(i0, series.pushed.length - 1)]
    }
    const peakInjected = series.injected.reduce((m, v) => Math.max(m, v), 0)
    const peakPc = series.pc.reduce((m, v) => Math.max(m, v), 0)
    const suspected = events.filter(e => e.type === "alarm" && e.reason === "LeakSuspected").map(e => e.tS)
    const leakOpened = st.leaks.map(l => l.openedAtS).filter((x): x is number => x !== null)
    const firstLeak = leakOpened.length ? Math.min(...leakOpened) : null
    const leakDetector = {
        leakOpenedAtS: firstLeak === null ? null : round(firstLeak, 3),
        suspectedAtS: suspected,
        detected: firstLeak !== null && suspected.some(t => t >= firstLeak),
        falseAlarms: suspected.filter(t => firstLeak === null || t < firstLeak).length,
    }
    const scenarioS = Math.max(endS, 1e-3)
    const result: ScenarioResult = {
        name: sc.name,
        file: opts.file,
        description: sc.description,
        ok: !error,
        error,
        verdict: { pass: false, failures: [] },
        finalState: lowerState(latest?.state),
        finalReason: latest ? reasonName(latest.reason) : "unknown",
        level: sc.level,
        injectedMl: round(st.injectedMl, 5),
        bodyFilledMl: round(st.bodyFilledMl, 5),
        leakedMl: round(st.leakedMl, 5),
        leakedByKind: Object.fromEntries(Object.entries(st.leakedMlByKind).map(([k, v]) => [k, round(v, 5)])),
        reportedMl: round(lastSmp?.volumeMl ?? NaN, 5),
        recordMl: record ? round(record.volumeMl, 5) : null,
        encoderTruthMl: round(truth, 5),
        capMl,
        overshootMl: round(Math.max(0, st.injectedMl - capMl), 5),
        peakInjectedMl: round(peakInjected, 5),
        peakPressurePa: Math.round(peakPc),
        reportedPeakPressurePa: record ? Math.round(record.peakPressurePa) : null,
        stops,
        events,
        rejected: rejections(events),
        leakDetector,
        leaks: st.leaks.map(l => ({ kind: l.kind, openedAtS: l.openedAtS === null ? null : round(l.openedAtS, 3), leakedMl: round(l.leakedMl, 5) })),
        confirmPresses: client.confirmPresses,
        droppedCommands: link.sent.filter(s => s.dropped && s.op !== Op.Heartbeat).map(s => ({ tS: round(tS(s.tHostMs), 3), command: opName(s.op) })),
        timing: {
            firmwareStartMs: Math.round(start?.startMs ?? NaN),
            scenarioS: round(scenarioS, 3),
            clock: session.clock,
            wallS: session.clock === "realtime" ? round((performance.now() - wall0) / 1000, 2) : undefined,
            samplesPushed: plant.samplesPushed,
            sampleRateHz: round(plant.samplesPushed / scenarioS, 1),
            maxSampleLateMs: round(plant.maxLateMs, 1),
            motorWrites: session.device.motor.writes,
            telemetryReports: telemetry.filter(t => tS(t.tHostMs) >= 0).length,
            telemetryHz: round(telemetry.filter(t => tS(t.tHostMs) >= 0).length / scenarioS, 1),
        },
        binding: (start?.binding ?? []).map(b => ({ role: b.role, device: b.deviceId, serviceIndex: b.serviceIndex })),
    }
    result.verdict = judge(sc, result)
    return result
}

/** Every rejected command once: the first "rejected" answer of each seq, and the rejected events (unsequenced commands). */
export function rejections(events: ResultEvent[]): ScenarioResult["rejected"] {
    const seen = new Set<number>()
    const out: ScenarioResult["rejected"] = []
    for (const e of events) {
        if (e.type === "rejected") out.push({ tS: e.tS, command: e.command!, reason: e.reject!, seq: 0 })
        else if (e.type === "commandResult" && e.outcome === "rejected" && !seen.has(e.seq!)) {
            seen.add(e.seq!)
            out.push({ tS: e.tS, command: e.command!, reason: e.reject!, seq: e.seq! })
        }
    }
    return out
}

/**
 * A SensorStale fault the bench did not cause: no loadCellStale fault was
 * active (or just ended) and every sample went out within 25 ms of its
 * instant. Returns the fault's scenario time.
 */
export function spuriousStale(sc: Scenario, r: ScenarioResult): number | undefined {
    const ev = r.events.find(e => e.type === "transition" && e.reason === "SensorStale")
    if (!ev) return undefined
    const caused = (sc.faults ?? []).some(f => f.kind === "loadCellStale" && ev.tS >= f.atS - 0.01 && ev.tS <= f.atS + (f.forS ?? Infinity) + 0.2)
    const restart = (sc.faults ?? []).some(f => f.kind === "restart" && ev.tS >= f.atS - 0.01)
    if (caused || restart || r.timing.maxSampleLateMs > 25) return undefined
    return ev.tS
}

/** The scenario's `expect` block against a result. */
export function judge(sc: Scenario, r: ScenarioResult): { pass: boolean; failures: string[] } {
    const f: string[] = []
    if (r.error) f.push(`run error: ${r.error}`)
    const ex = sc.expect ?? {}
    if (ex.finalState && r.finalState !== ex.finalState) f.push(`finalState ${r.finalState}, expected ${ex.finalState}`)
    if (ex.finalReason && r.finalReason !== ex.finalReason) f.push(`finalReason ${r.finalReason}, expected ${ex.finalReason}`)
    for (const reason of ex.transitions ?? [])
        if (!r.events.some(e => e.type === "transition" && e.reason === reason)) f.push(`no transition with reason ${reason}`)
    for (const reason of ex.alarms ?? []) if (!r.events.some(e => e.type === "alarm" && e.reason === reason)) f.push(`no alarm ${reason}`)
    for (const reason of ex.noAlarms ?? []) if (r.events.some(e => e.type === "alarm" && e.reason === reason)) f.push(`unexpected alarm ${reason}`)
    if (ex.maxOvershootMl !== undefined && r.overshootMl > ex.maxOvershootMl) f.push(`overshoot ${r.overshootMl} mL > ${ex.maxOvershootMl}`)
    if (ex.minInjectedMl !== undefined && r.injectedMl < ex.minInjectedMl) f.push(`injected ${r.injectedMl} mL < ${ex.minInjectedMl}`)
    if (ex.maxInjectedMl !== undefined && r.injectedMl > ex.maxInjectedMl) f.push(`injected ${r.injectedMl} mL > ${ex.maxInjectedMl}`)
    if (ex.maxLeakedMl !== undefined && r.leakedMl > ex.maxLeakedMl) f.push(`${r.leakedMl} mL leaked (${leakShare(r)}) > ${ex.maxLeakedMl}`)
    if (ex.maxPeakPressurePa !== undefined && r.peakPressurePa > ex.maxPeakPressurePa) f.push(`peak pressure ${r.peakPressurePa} Pa > ${ex.maxPeakPressurePa}`)
    if (ex.reportedWithinMl !== undefined && !(Math.abs(r.reportedMl - r.encoderTruthMl) <= ex.reportedWithinMl))
        f.push(`reported ${r.reportedMl} mL vs encoder truth ${r.encoderTruthMl} mL: off by more than ${ex.reportedWithinMl}`)
    for (const [trigger, lim] of Object.entries(ex.stops ?? {})) {
        const s = r.stops.find(x => x.trigger === trigger)
        if (!s) {
            // PRS-2 looks ahead along the slope: a firmware that paused on
            // over-pressure before the plant's pressure reached the limit
            // stopped early (latency <= 0), like a cap stop before the cap
            const limitPa = sc.thresholds?.overpressurePa ?? 3.5e6
            const early =
                trigger === "overpressure" &&
                r.peakPressurePa <= limitPa &&
                r.events.some(e => e.type === "transition" && e.reason === "Overpressure")
            if (!early) f.push(`no ${trigger} stop`)
            continue
        }
        if (lim.maxLatencyMs !== undefined && !(s.latencyMs !== null && s.latencyMs <= lim.maxLatencyMs))
            f.push(`${trigger} stop latency ${s.latencyMs} ms > ${lim.maxLatencyMs}`)
        if (lim.maxAfterflowMl !== undefined && s.afterflowMl > lim.maxAfterflowMl) f.push(`${trigger} afterflow ${s.afterflowMl} mL > ${lim.maxAfterflowMl}`)
        if (lim.firmwareReason !== undefined && s.firmwareReason !== lim.firmwareReason)
            f.push(`${trigger}: firmware reason ${s.firmwareReason}, expected ${lim.firmwareReason}`)
    }
    for (const want of ex.rejected ?? [])
        if (!r.rejected.some(x => x.command === want.command && (!want.reason || x.reason === want.reason)))
            f.push(`no rejection of ${want.command}${want.reason ? ` (${want.reason})` : ""}`)
    if (ex.noOtherRejections) {
        const other = r.rejected.filter(x => !(ex.rejected ?? []).some(w => w.command === x.command && (!w.reason || w.reason === x.reason)))
        if (other.length) f.push(`unexpected rejections: ${other.map(x => `${x.command}(${x.reason})`).join(", ")}`)
    }
    return { pass: f.length === 0, failures: f }
}
