// Runs one scenario closed-loop against the firmware in the DeviceScript VM:
// fresh VM, explicit role binding, calibration through the service commands,
// setup, then the timeline of operator actions and injected faults on the
// real-time plant; finally the stop analysis and the result record.
import { Config, defaultConfig, getThreshold, setThreshold, THRESHOLDS } from "../../src/core/config"
import { LEVELS, levelIndex } from "../../src/core/levels"
import { Op, Reason, Reject, State } from "../../src/core/types"
import { mlPerCount } from "../model"
import { analyseStop, capTrigger, occlusionOnsetS, pressureCrossingS, round, StopRecord } from "./analysis"
import {
    FLAG_BENCH,
    FLAG_GAIN,
    FLAG_REMOTE,
    FLAG_TARE,
    FLAG_VOLUME,
    InjectorEvent,
    opName,
    reasonName,
    rejectName,
    stateName,
    Telemetry,
} from "./injector"
import { TraceRow } from "./plant"
import {
    firmwareSyringeId,
    levelCapMl,
    rigConfig,
    Scenario,
    ScenarioAction,
    ScenarioFault,
    scenarioBoreMm,
    THRESHOLD_IDS,
} from "./scenario"
import { FirmwareStart, SimSession } from "./session"

/** Known mass for calibrate_gain, kg (~98 N: mid-range of a 2 kN cell's clinical use). */
export const CAL_MASS_KG = 10
/** Encoder counts used for calibrate_volume (µL derived from the model's geometry). */
export const CAL_COUNTS = 100000
export const ENCODER_COUNTS_PER_MM = 1200
export const HEARTBEAT_MS = 200

const sleep = (ms: number) => new Promise(r => setTimeout(r, ms))

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
    rejected: { tS: number; command: string; reason: string }[]
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

interface Trigger {
    trigger: string
    tS: number
}

/** Runs scenarios on one bench session. */
export class ScenarioRunner {
    constructor(readonly session: SimSession) {}

    private get link() {
        return this.session.link
    }
    private get device() {
        return this.session.device
    }
    private get plant() {
        return this.session.plant
    }

    private confirmPresses = 0
    private lastStart: FirmwareStart | undefined
    /** the firmware's thresholds as the runner set them (to predict FAULT-7 confirms) */
    private thresholds: Config = defaultConfig()
    private benchMode = false
    private heartbeat: NodeJS.Timeout | undefined

    /** scenario time of a host timestamp */
    private tS(hostMs: number) {
        return (hostMs - this.plant.t0Wall) / 1000
    }

    /**
     * Send a command; when the firmware asks for the local confirm (FAULT-7),
     * press the simulated confirm button (unless `confirm` is false).
     * Resolves with the rejection reason if the firmware rejected it.
     */
    async command(op: Op, args: number[] = [], opts: { confirm?: boolean; waitMs?: number } = {}): Promise<{ rejected?: Reject; pending: boolean; sent: boolean }> {
        const since = performance.now()
        const sent = await this.link.send(op, ...args)
        if (!sent) return { pending: false, sent }
        const waitMs = opts.waitMs ?? (this.predictConfirm(op, args) ? 700 : 60)
        const ev = await this.link
            .waitEvent(`reply to ${opName(op)}`, waitMs, since, e => (e.type === "confirmRequired" || e.type === "rejected") && e.command === op)
            .catch(() => undefined)
        if (ev?.type === "rejected") return { rejected: ev.reject as Reject, pending: false, sent }
        if (ev?.type === "confirmRequired") {
            if (opts.confirm === false) return { pending: true, sent }
            await this.pressConfirm()
            const after = performance.now() - 5
            // a re-validation at confirm time can still reject it
            const rej = await this.link
                .waitEvent("confirm result", 150, after, e => e.type === "rejected" && e.command === op)
                .catch(() => undefined)
            return { rejected: rej?.reject as Reject | undefined, pending: false, sent }
        }
        return { pending: false, sent }
    }

    /** Whether the firmware will ask for the local confirm (FAULT-7); only sets how long to wait for its request. */
    private predictConfirm(op: Op, args: number[]): boolean {
        if (op === Op.ClearFault) return true
        if (op === Op.SetBenchMode) return args[0] === 1
        if (this.benchMode) return false
        const t = this.link.latest
        switch (op) {
            case Op.Start:
            case Op.Resume:
            case Op.OverrideLeakLimit:
            case Op.Tare:
            case Op.CalibrateGain:
            case Op.CalibrateVolume:
            case Op.SetLevel: // FAULT-7: level, syringe and the cement clock add risk
            case Op.SetSyringe:
            case Op.MarkMixing:
                return true
            case Op.SetCap:
                return t !== undefined && t.level < LEVELS.length && args[0] > LEVELS[t.level].capMl
            case Op.SetFlow:
                return true // FAULT-7: any change of the flow waits for the confirm
            case Op.SetRemoteMode:
                return args[0] === 0
            case Op.SetThreshold: {
                const spec = THRESHOLDS[args[1]]
                return !spec || (args[0] - getThreshold(this.thresholds, args[1])) * spec.safer < 0
            }
        }
        return false
    }

    /** host times (ms) of every confirm press of the current run */
    confirmTimesMs: number[] = []

    async pressConfirm() {
        this.confirmPresses++
        this.confirmTimesMs.push(performance.now())
        await this.device.confirm.press(100)
    }

    private async setupCommand(op: Op, args: number[] = [], what = opName(op)) {
        const r = await this.command(op, args)
        if (r.rejected !== undefined) throw new SetupError(`setup: ${what} rejected (${rejectName(r.rejected)})`)
        if (!r.sent) throw new SetupError(`setup: ${what} could not be sent`)
    }

    private async waitFlags(mask: number, what: string) {
        await this.link.waitFor(`${what} (flags & ${mask})`, 2000, () => {
            const t = this.link.latest
            return t && (t.flags & mask) === mask
        })
    }

    /** Calibration through the service commands (tare, known mass, geometric volume). */
    async calibrate(boreMm: number) {
        await this.setupCommand(Op.Tare)
        await this.waitFlags(FLAG_TARE, "tare")
        this.plant.placeMass(CAL_MASS_KG)
        await sleep(120) // several 80 Hz samples with the mass on
        await this.setupCommand(Op.CalibrateGain, [CAL_MASS_KG], "calibrate_gain")
        await this.waitFlags(FLAG_GAIN, "calibrate_gain")
        this.plant.placeMass(0)
        const ul = CAL_COUNTS * mlPerCount(boreMm, ENCODER_COUNTS_PER_MM) * 1000
        await this.setupCommand(Op.CalibrateVolume, [CAL_COUNTS, ul], "calibrate_volume")
        await this.waitFlags(FLAG_VOLUME, "calibrate_volume")
    }

    /** Bring a running firmware back to idle on a fresh level (benchmark trials). */
    private async resetForTrial(sc: Scenario) {
        const st = this.link.latest?.state
        if (st === State.Fault) {
            await this.setupCommand(Op.ClearFault, [], "clear_fault")
            await this.link.waitFor("fault cleared", 3000, () => this.link.latest?.state !== State.Fault)
        } else if (st === State.Injecting || st === State.Paused || st === State.Ready) await this.setupCommand(Op.Abort, [], "abort")
        await this.setupCommand(Op.SetLevel, [levelIndex(sc.level)], `set_level(${sc.level})`)
        await this.link.waitFor("idle", 2000, () => this.link.latest?.state === State.Idle)
    }

    private calibratedBore = NaN

    async setup(sc: Scenario, reuse = false) {
        const bore = scenarioBoreMm(sc)
        if (reuse) await this.resetForTrial(sc)
        else {
            this.benchMode = !!sc.benchMode
            if (sc.benchMode) {
                await this.setupCommand(Op.SetBenchMode, [1], "set_bench_mode(1)")
                await this.waitFlags(FLAG_BENCH, "bench mode")
            }
        }
        if (!reuse || bore !== this.calibratedBore) {
            await this.setupCommand(Op.SetSyringe, [firmwareSyringeId(bore)], "set_syringe")
            await this.calibrate(bore)
            this.calibratedBore = bore
        }
        const li = levelIndex(sc.level)
        await this.setupCommand(Op.SetLevel, [li], `set_level(${sc.level})`)
        const cap = levelCapMl(sc)
        const r = await this.command(Op.SetCap, [cap, sc.capOverride ? 1 : 0])
        if (r.rejected !== undefined) throw new SetupError(`setup: set_cap(${cap}) rejected (${rejectName(r.rejected)})`)
        await this.setupCommand(Op.SetFlow, [sc.flowMlPerMin ?? 3], "set_flow")
        // the cement's age at marking: it was mixed mixedAtS before scenario time 0, which is now
        await this.setupCommand(Op.MarkMixing, [sc.cement?.preparedMl ?? 10, -(sc.cement?.mixedAtS ?? 0)], "mark_mixing")
        for (const [name, value] of Object.entries(sc.thresholds ?? {})) {
            await this.setupCommand(Op.SetThreshold, [value, THRESHOLD_IDS[name]], `set_threshold(${name}=${value})`)
            setThreshold(this.thresholds, THRESHOLD_IDS[name], value)
        }
        if (sc.remoteMode) {
            await this.setupCommand(Op.SetRemoteMode, [1], "set_remote_mode(1)")
            await this.waitFlags(FLAG_REMOTE, "remote mode")
        }
        await this.link.waitFor(`level ${sc.level} with cap ${cap}`, 2000, () => {
            const t = this.link.latest
            return t && t.level === li && Math.abs(t.capMl - cap) < 1e-4
        })
        if (sc.arm !== false) {
            await this.setupCommand(Op.Arm, [], "arm")
            await this.link.waitFor("state ready", 2000, () => this.link.latest?.state === State.Ready)
        }
    }

    private startHeartbeat() {
        this.stopHeartbeat()
        this.heartbeat = setInterval(() => {
            if (this.link.connected && this.link.deviceId) void this.link.send(Op.Heartbeat)
        }, HEARTBEAT_MS)
    }
    private stopHeartbeat() {
        if (this.heartbeat) clearInterval(this.heartbeat)
        this.heartbeat = undefined
    }

    /** Run one scenario. Never throws for scenario-level failures: they land in the result. */
    /**
     * Run one scenario; when the firmware faults on a stale load cell that
     * the bench did not make stale (it kept sending every sample on time),
     * the fault came from a stall of the VM itself (the WASM VM on a shared
     * host is not real-time: stalls of 40+ ms happen now and then, and
     * FAULT-1 allows 50 ms) and the run is repeated, up to `retries` times
     * (default 1). Every discarded attempt is listed in `result.retried`.
     */
    async run(sc: Scenario, opts: RunOptions & { retries?: number } = {}): Promise<{ result: ScenarioResult; trace: TraceRow[]; telemetry: Telemetry[] }> {
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

    private async runOnce(sc: Scenario, opts: RunOptions = {}): Promise<{ result: ScenarioResult; trace: TraceRow[]; telemetry: Telemetry[] }> {
        const log = opts.log ?? (() => {})
        const wall0 = performance.now()
        this.confirmPresses = 0
        this.confirmTimesMs = []
        this.thresholds = defaultConfig()
        const link = this.link
        link.events = []
        link.sent = []
        link.connected = true
        const telemetry: Telemetry[] = []
        const motorWrites0 = this.device.motor.writes
        link.onTelemetry = t => telemetry.push(t)
        let start: FirmwareStart | undefined = this.lastStart
        let error: string | undefined
        const triggers: Trigger[] = []
        let levelStartS: number | undefined
        let endS = 0
        try {
            const reuse = !!opts.reuseFirmware && this.session.vmAlive() && this.lastStart !== undefined
            if (!reuse) {
                log(`${sc.name}: starting firmware`)
                start = this.lastStart = await this.session.startFirmware()
                log(`${sc.name}: firmware up in ${start.startMs.toFixed(0)} ms; calibrating and setting up`)
            }
            // the calibration / setup rig: the bench at rest
            this.session.installRig({ seed: (opts.seed ?? sc.seed ?? 1) + 1000 })
            this.startHeartbeat()
            await this.setup(sc, reuse)
            // scenario time 0: the scenario's plant
            this.session.installRig(rigConfig(sc, opts.seed))
            this.plant.keepTrace = !!opts.trace
            log(`${sc.name}: running ${sc.durationS} s`)
            const r = await this.timeline(sc, triggers, opts)
            levelStartS = r.levelStartS
            endS = r.endS
        } catch (e) {
            error = (e as Error).message
            log(`${sc.name}: ERROR ${error}`)
            endS = this.plant.nowS()
        } finally {
            this.stopHeartbeat()
            this.plant.advanceToNow()
            link.onTelemetry = () => {}
        }
        const result = this.analyse(sc, opts, start, triggers, levelStartS, endS, telemetry, error, wall0)
        result.timing.motorWrites -= motorWrites0
        if (!opts.keepFirmware || error) {
            await this.session.stopFirmware()
            this.lastStart = undefined
        }
        return { result, trace: this.plant.trace, telemetry }
    }

    private async timeline(sc: Scenario, triggers: Trigger[], opts: RunOptions): Promise<{ levelStartS?: number; endS: number }> {
        type Item = { atS: number; order: number; run: () => Promise<void>; label: string }
        const items: Item[] = []
        let order = 0
        let levelStartS: number | undefined
        const running = new Set<Promise<void>>()
        for (const a of sc.actions) items.push({ atS: a.atS, order: order++, label: `action ${a.do}`, run: () => this.action(sc, a, triggers, t => (levelStartS ??= t)) })
        for (const f of sc.faults ?? []) {
            items.push({ atS: f.atS, order: order++, label: `fault ${f.kind}`, run: () => this.faultStart(sc, f, triggers) })
            if (f.kind === "handMove")
                items.push({ atS: f.atS + (f.forS ?? 0.5), order: order++, label: "hand lets go", run: () => this.faultEnd(f) })
            else if (f.forS !== undefined && f.kind !== "encoderJump" && f.kind !== "encoderReset")
                items.push({ atS: f.atS + f.forS, order: order++, label: `fault ${f.kind} end`, run: () => this.faultEnd(f) })
            else if (f.kind === "restart")
                items.push({ atS: f.atS + 0.3, order: order++, label: "restart: power back", run: () => this.faultEnd(f) })
        }
        items.sort((a, b) => a.atS - b.atS || a.order - b.order)
        const settleS = sc.settleS ?? 1.0
        let doneSince: number | undefined
        let lastView = 0
        let next = 0
        const errors: string[] = []
        for (;;) {
            const t = this.plant.nowS()
            while (next < items.length && items[next].atS <= t) {
                const it = items[next++]
                const p = it.run().catch(e => {
                    errors.push(`${it.label} at ${it.atS}s: ${(e as Error).message}`)
                })
                running.add(p)
                void p.finally(() => running.delete(p))
            }
            if (errors.length) throw new Error(errors.join("; "))
            if (t >= sc.durationS) break
            if (sc.endWhenDone !== false) {
                const s = this.link.latest?.state
                const over = s === State.Completed || s === State.Aborted || s === State.Fault
                if (over && next >= items.length && running.size === 0 && this.session.vmAlive()) {
                    doneSince ??= t
                    if (t - doneSince >= settleS) break
                } else doneSince = undefined
            }
            if (opts.onView && performance.now() - lastView > 100) {
                lastView = performance.now()
                opts.onView(this.view(sc))
            }
            await sleep(5)
        }
        await Promise.all([...running])
        if (errors.length) throw new Error(errors.join("; "))
        if (levelStartS === undefined) {
            // the firmware's Started transition, if the level started another way
            const ev = this.link.events.find(e => e.type === "transition" && e.reason === Reason.Started)
            if (ev) levelStartS = this.tS(ev.tHostMs)
        }
        return { levelStartS, endS: this.plant.nowS() }
    }

    view(sc: Scenario): LiveView {
        const t = this.link.latest
        const smp = t?.samples[t.samples.length - 1]
        const st = this.plant.state()
        return {
            tS: this.plant.nowS(),
            durationS: sc.durationS,
            state: lowerState(t?.state),
            reason: t ? reasonName(t.reason) : "",
            volumeMl: smp?.volumeMl ?? NaN,
            capMl: t?.capMl ?? NaN,
            pressurePa: smp?.pressurePa ?? NaN,
            flowMlPerMin: smp?.flowMlPerMin ?? NaN,
            injectedMl: st.injectedMl,
            leakedMl: st.leakedMl,
            chamberPa: st.chamberPressurePa,
            lastEvents: this.link.events.slice(-6).map(e => this.resultEvent(e)),
        }
    }

    private async action(sc: Scenario, a: ScenarioAction, triggers: Trigger[], onStart: (tS: number) => void) {
        const now = () => this.plant.nowS()
        const confirm = a.confirm !== false
        const cmd = async (op: Op, args: number[] = []) => {
            const r = await this.command(op, args, { confirm })
            return r
        }
        switch (a.do) {
            case "mix":
                await cmd(Op.MarkMixing, [a.preparedMl ?? sc.cement?.preparedMl ?? 10, a.ageS ?? 0])
                break
            case "burst": {
                // an adversarial host: N commands at a rate, no confirm presses, no waiting for replies
                const op = Op[a.command as keyof typeof Op] as number
                const gapMs = 1000 / a.rateHz!
                const t0 = performance.now()
                for (let i = 0; i < a.count!; i++) {
                    const due = t0 + i * gapMs
                    if (due > performance.now()) await sleep(due - performance.now())
                    await this.link.send(op, ...(a.args ?? []))
                }
                break
            }
            case "arm":
                await cmd(Op.Arm)
                break
            case "disarm":
                await cmd(Op.Disarm)
                break
            case "start": {
                const t = now()
                const r = await cmd(Op.Start)
                if (r.rejected === undefined && !r.pending) onStart(t)
                break
            }
            case "resume":
                await cmd(Op.Resume)
                break
            case "pause":
                triggers.push({ trigger: "pause", tS: now() })
                await cmd(Op.Pause)
                break
            case "finish":
                triggers.push({ trigger: "finish", tS: now() })
                await cmd(Op.Finish)
                break
            case "abort":
                triggers.push({ trigger: "abort", tS: now() })
                await cmd(Op.Abort)
                break
            case "leakSeen":
                triggers.push({ trigger: "leakSeen", tS: now() })
                if (a.via === "command") await cmd(Op.LeakSeen)
                else await this.device.leakPedal.press(150)
                break
            case "estop":
                triggers.push({ trigger: "estop", tS: now() })
                await this.device.estop.down()
                await sleep((a.holdS ?? 0.3) * 1000)
                await this.device.estop.up()
                break
            case "reset":
                if (a.via === "button") await this.pressConfirm()
                else await cmd(Op.ClearFault)
                break
            case "confirm":
                await this.pressConfirm()
                break
            case "setLevel":
                await cmd(Op.SetLevel, [levelIndex(a.level!)])
                break
            case "setCap":
                await cmd(Op.SetCap, [a.capMl!, a.override ? 1 : 0])
                break
            case "setFlow":
                await cmd(Op.SetFlow, [a.flowMlPerMin!])
                break
            case "setThreshold": {
                const r = await cmd(Op.SetThreshold, [a.value!, THRESHOLD_IDS[a.name!]])
                if (r.rejected === undefined && !r.pending) setThreshold(this.thresholds, THRESHOLD_IDS[a.name!], a.value!)
                break
            }
            case "setRemoteMode":
                await cmd(Op.SetRemoteMode, [a.on ? 1 : 0])
                break
            case "setBenchMode":
                await cmd(Op.SetBenchMode, [a.on ? 1 : 0])
                break
            case "overrideLeakLimit":
                await cmd(Op.OverrideLeakLimit)
                break
        }
    }

    private async faultStart(sc: Scenario, f: ScenarioFault, triggers: Trigger[]) {
        const rig = this.plant.rig
        this.plant.advanceToNow()
        const t = this.plant.nowS()
        switch (f.kind) {
            case "loadCellStale":
                rig.loadCell.setFault("stale")
                break
            case "loadCellSaturated":
                rig.loadCell.setFault("saturated")
                break
            case "loadCellNaN":
                rig.loadCell.setFault("nan")
                break
            case "encoderStuck":
                rig.setEncoderStuck(true)
                break
            case "encoderJump":
                rig.encoder.jump(f.counts ?? 20000)
                break
            case "encoderReset":
                rig.encoder.resetToZero(rig.plant.plungerPosMm())
                break
            case "encoderScale":
                rig.encoder.setScale(f.factor!, rig.plant.plungerPosMm())
                break
            case "loadCellLow":
                rig.loadCell.gain *= f.factor!
                break
            case "handMove": {
                const mlPerMm = (Math.PI * scenarioBoreMm(sc) ** 2) / 4 / 1000
                rig.plant.handVelMmPerS = f.volumeMl! / mlPerMm / (f.forS ?? 0.5)
                break
            }
            case "hostDisconnect":
                this.link.connected = false
                if (!sc.remoteMode) return // in local mode nothing must stop
                break
            case "restart":
                triggers.push({ trigger: "restart", tS: t })
                await this.session.stopFirmware()
                return
        }
        triggers.push({ trigger: f.kind, tS: t })
    }

    private async faultEnd(f: ScenarioFault) {
        const rig = this.plant.rig
        this.plant.advanceToNow()
        switch (f.kind) {
            case "loadCellStale":
            case "loadCellSaturated":
            case "loadCellNaN":
                rig.loadCell.setFault(null)
                break
            case "encoderStuck":
                rig.setEncoderStuck(false)
                break
            case "encoderScale":
                rig.encoder.setScale(1, rig.plant.plungerPosMm())
                break
            case "loadCellLow":
                rig.loadCell.gain /= f.factor!
                break
            case "handMove":
                rig.plant.handVelMmPerS = 0
                break
            case "hostDisconnect":
                this.link.connected = true
                break
            case "restart":
                await this.session.startFirmware({ keepFlash: true, sameDevice: true })
                break
        }
    }

    private resultEvent(e: InjectorEvent): ResultEvent {
        const out: ResultEvent = { tS: round(this.tS(e.tHostMs), 3), type: e.type, reason: reasonName(e.reason) }
        if (e.type === "transition") {
            out.from = lowerState(e.from)
            out.to = lowerState(e.to)
        }
        if (e.type === "alarm") out.action = e.action
        if (e.command !== undefined) out.command = opName(e.command)
        if (e.reject !== undefined) out.reject = rejectName(e.reject)
        if (e.value !== undefined) out.value = round(e.value, 6)
        if (e.type === "levelRecord") out.value = round(e.record!.volumeMl, 5)
        return out
    }

    private analyse(
        sc: Scenario,
        opts: RunOptions,
        start: FirmwareStart | undefined,
        triggers: Trigger[],
        levelStartS: number | undefined,
        endS: number,
        telemetry: Telemetry[],
        error: string | undefined,
        wall0: number
    ): ScenarioResult {
        const plant = this.plant
        const series = plant.series
        const motion = plant.motion
        const st = plant.state()
        const events = this.link.events.map(e => this.resultEvent(e))
        const capMl = levelCapMl(sc)
        const latest = this.link.latest
        const lastSmp = latest?.samples[latest.samples.length - 1]
        const record = [...this.link.events].reverse().find(e => e.type === "levelRecord")?.record
        const transitionsAfter = (tS: number) =>
            this.link.events.filter(e => e.type === "transition" && this.tS(e.tHostMs) >= tS - 0.002)

        // physical triggers
        const all: (Trigger & { stopS?: number })[] = [...triggers]
        const capEv = this.link.events.find(e => e.type === "transition" && e.reason === Reason.CapReached)
        if (levelStartS !== undefined) {
            const tc = capTrigger(series, motion, levelStartS, capMl, capEv ? this.tS(capEv.tHostMs) : undefined)
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
            let maxD = series.disp[Math.min(i0, series.disp.length - 1)]
            for (let i = i0; i < series.t.length; i++) if (series.disp[i] > maxD) maxD = series.disp[i]
            truth = maxD - series.disp[Math.min(i0, series.disp.length - 1)]
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
            rejected: events.filter(e => e.type === "rejected").map(e => ({ tS: e.tS, command: e.command!, reason: e.reject! })),
            leakDetector,
            leaks: st.leaks.map(l => ({ kind: l.kind, openedAtS: l.openedAtS === null ? null : round(l.openedAtS, 3), leakedMl: round(l.leakedMl, 5) })),
            confirmPresses: this.confirmPresses,
            droppedCommands: this.link.sent.filter(s => s.dropped && s.op !== Op.Heartbeat).map(s => ({ tS: round(this.tS(s.tHostMs), 3), command: opName(s.op) })),
            timing: {
                firmwareStartMs: Math.round(start?.startMs ?? NaN),
                scenarioS: round(scenarioS, 3),
                clock: this.session.clock,
                wallS: this.session.clock === "realtime" ? round((performance.now() - wall0) / 1000, 2) : undefined,
                samplesPushed: plant.samplesPushed,
                sampleRateHz: round(plant.samplesPushed / scenarioS, 1),
                maxSampleLateMs: round(plant.maxLateMs, 1),
                motorWrites: this.device.motor.writes,
                telemetryReports: telemetry.filter(t => this.tS(t.tHostMs) >= 0).length,
                telemetryHz: round(telemetry.filter(t => this.tS(t.tHostMs) >= 0).length / scenarioS, 1),
            },
            binding: (start?.binding ?? []).map(b => ({ role: b.role, device: b.deviceId, serviceIndex: b.serviceIndex })),
        }
        result.verdict = judge(sc, result)
        return result
    }
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
    if (ex.maxPeakPressurePa !== undefined && r.peakPressurePa > ex.maxPeakPressurePa) f.push(`peak pressure ${r.peakPressurePa} Pa > ${ex.maxPeakPressurePa}`)
    if (ex.reportedWithinMl !== undefined && !(Math.abs(r.reportedMl - r.encoderTruthMl) <= ex.reportedWithinMl))
        f.push(`reported ${r.reportedMl} mL vs encoder truth ${r.encoderTruthMl} mL: off by more than ${ex.reportedWithinMl}`)
    for (const [trigger, lim] of Object.entries(ex.stops ?? {})) {
        const s = r.stops.find(x => x.trigger === trigger)
        if (!s) {
            f.push(`no ${trigger} stop`)
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

export const LEVEL_NAMES = LEVELS.map(l => l.name)

/** CSV of the trace (one row per load-cell sample), with the firmware's latest telemetry merged in. */
export function traceCsv(trace: TraceRow[], telemetry: Telemetry[], t0Wall: number): string {
    const head = [
        "tS", "posMm", "velMmPerS", "enabled", "speedCmdMmPerS", "chamberPa", "bodyPa", "trueForceN", "sentForceN", "encoder",
        "injectedMl", "leakedMl", "displacementMl", "viscosityPaS", "lateMs", "fwState", "fwVolumeMl", "fwPressurePa", "fwFlowMlPerMin", "fwMotorSpeed",
    ]
    const lines = [head.join(",")]
    // telemetry samples on the scenario clock (device time re-based on the report's arrival)
    const fw: { tS: number; state: number; v: number; p: number; q: number; m: number }[] = []
    for (const t of telemetry) {
        const arr = (t.tHostMs - t0Wall) / 1000
        const last = t.samples.length ? t.samples[t.samples.length - 1].tDevMs : t.timeMs
        for (const s of t.samples) fw.push({ tS: arr - (last - s.tDevMs) / 1000, state: t.state, v: s.volumeMl, p: s.pressurePa, q: s.flowMlPerMin, m: s.motorSpeed })
    }
    fw.sort((a, b) => a.tS - b.tS)
    let j = 0
    const f = (v: number, d: number) => (Number.isFinite(v) ? round(v, d) : "")
    for (const r of trace) {
        while (j + 1 < fw.length && fw[j + 1].tS <= r.tS) j++
        const w = fw.length && fw[j].tS <= r.tS ? fw[j] : undefined
        lines.push(
            [
                f(r.tS, 4), f(r.posMm, 5), f(r.velMmPerS, 5), r.enabled ? 1 : 0, f(r.speedCmdMmPerS, 5), f(r.chamberPa, 0), f(r.bodyPa, 0),
                f(r.trueForceN, 3), r.sentForceN === null ? "" : Number.isNaN(r.sentForceN) ? "NaN" : f(r.sentForceN, 3), r.encoder,
                f(r.injectedMl, 5), f(r.leakedMl, 5), f(r.displacementMl, 5), f(r.viscosityPaS, 2), f(r.lateMs, 2),
                w ? lowerState(w.state) : "", w ? f(w.v, 5) : "", w ? f(w.p, 0) : "", w ? f(w.q, 3) : "", w ? f(w.m, 5) : "",
            ].join(",")
        )
    }
    return lines.join("\n") + "\n"
}
