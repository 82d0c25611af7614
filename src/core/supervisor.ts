// The injection supervisor: composes the core's modules into one step.
//
//   step(inputs) -> StepOutput     motor command, telemetry sample, events,
//                                  answers, records, whether to persist
//   command(tMs, cmd, src) -> Answer
//
// Sensing (loadcell.ts, encoder.ts) turns inputs into values; the checks
// (checks.ts) turn values into firing conditions; the failsafe framework
// (failsafe.ts) latches and ranks them; this file applies the winning action
// as a state transition; motion.ts turns the state into the one motor
// command; commands.ts validates, confirms and executes commands. Data flows
// one way: the app and the server only forward what step() returns.

import {
    Action,
    Answer,
    Clear,
    Command,
    CoreEvent,
    EventKind,
    Inputs,
    LevelRecord,
    MotorCommand,
    Op,
    Outcome,
    Reason,
    Reject,
    Sample,
    Source,
    State,
    StepOutput,
} from "./types"
import { Config, defaultConfig, syringeMaxAdvanceMlPerMin, syringeMaxRetractMlPerMin } from "./config"
import { CUSTOM_SYRINGE, DEFAULT_SYRINGE, geometricMlPerCount, plungerAreaMm2, Syringe, SYRINGES } from "./geometry"
import { LEVELS } from "./levels"
import { LeakSignature, OcclusionDetector, RateEstimator, slopeNoisePaPerS } from "./rate"
import { Failsafe } from "./failsafe"
import { Check, CHECKS, CheckView, conditions } from "./checks"
import { LoadCellSense, SampleStatus } from "./loadcell"
import { EncoderSense } from "./encoder"
import { Drive, Motion, worstStoredMl } from "./motion"
import { LevelBook, LevelState } from "./session"
import { Desk, execute, needsConfirm, validate } from "./commands"
import { CalibrationSnapshot, restoreSnapshot, Snapshot, takeSnapshot } from "./snapshot"

export const CAL_TARE = 1
export const CAL_GAIN = 2
export const CAL_VOLUME = 4
export const CAL_ALL = 7

/** Events kept between two steps; beyond this the oldest are dropped and counted (FAULT-10). */
export const EVENTS_MAX = 32

/** Shared empty outputs: handed out on quiet steps, never written to. */
const NO_EVENTS: CoreEvent[] = []
const NO_RECORDS: LevelRecord[] = []

/** FLOW-4: increment volume, default and allowed range, mL */
export const INCREMENT_DEFAULT_ML = 0.2
export const INCREMENT_MIN_ML = 0.05
export const INCREMENT_MAX_ML = 1

/**
 * FLOW-5: the drive stops this much plunger volume before the syringe's end
 * stop (plus the stop's lookahead), mL: the end stop must never be the stop.
 */
export const SYRINGE_END_MARGIN_ML = 0.05

/** FLOW-4: the last increment delivered (the `increment` event carries it). */
export interface IncrementInfo {
    level: number
    /** 1, 2, ... within the level */
    index: number
    /** delivered by this increment, from its start until the plunger was at rest, mL */
    volumeMl: number
    /** the level's delivered volume at rest, mL */
    totalMl: number
}

/** The load-cell sample period the PRS-3 noise filter assumes, ms (80 Hz). */
const SAMPLE_PERIOD_MS = 12.5

function finite(v: number): boolean {
    return typeof v === "number" && !isNaN(v) && v !== Infinity && v !== -Infinity
}

export class Supervisor {
    cfg: Config
    state = State.Idle
    reason = Reason.None

    // setup
    flowMlPerMin = 3
    syringe = DEFAULT_SYRINGE
    /** FLOW-5: the custom syringe (set_custom_syringe), null until one is set */
    customSyr: Syringe = null
    /** FAULT-5: after a restart the syringe must be confirmed locally before arming */
    syringeConfirmed = true
    benchMode = false
    remoteMode = false
    volumeScale = 1
    calFlags = 0
    /** FLOW-3: the cement was marked mixed, at mixedAtMs (device clock; may be negative) */
    cementMixed = false
    mixedAtMs = -1

    // FLOW-4 increment mode
    incrementMode = false
    incrementMl = INCREMENT_DEFAULT_ML
    /** increments begun on this level */
    incIndex = 0
    /** an increment is being delivered (it survives other pauses: a resume continues it) */
    incActive = false
    private incStartMl = 0
    private incTargetMl = 0
    /** the increment stopped; its event follows once the plunger is at rest */
    private incDue = false
    lastIncrement: IncrementInfo = { level: -1, index: 0, volumeMl: 0, totalMl: 0 }

    // FLOW-5 syringe travel: what the mounted syringe was filled with, and the
    // plunger travel since it was fitted (signed encoder travel, mL; a lost or
    // reset encoder adds nothing, so its re-reference cannot move the end)
    syringeFillMl = 0
    travelMl = 0
    /** stopped at the end of travel: the syringe must be exchanged (confirmed locally) */
    exchangeDue = false

    // modules
    cell = new LoadCellSense()
    enc = new EncoderSense()
    drive = new Drive()
    fs = new Failsafe(CHECKS)
    book = new LevelBook()
    lvl = new LevelState()
    desk = new Desk()
    private firing: boolean[] = []
    private view: CheckView

    // inputs of the last step
    estop = false
    estopPresent = true
    /** FAULT-5 (cfg.writeBeforeRun): a start's drive waits for its write */
    private runHeld = false
    encoderPresent = false
    private pedalDown = false
    lastHeartbeatMs = 0
    private lastStepMs = -1

    // pressure checks
    private rate = new RateEstimator()
    private occ = new OcclusionDetector()
    /** PRS-3 (per volume): the start's pressurisation has levelled off */
    private occSettled = false
    /** PRS-3: the set flow the pressurisation began with, mL/min */
    private occFlow = 0
    private leak = new LeakSignature()
    leakDrop = 0
    private stableSinceMs = -1
    private riseSettled = false
    riseArmed = false
    /** PRS-3: on resume, the pressure the interrupted flow had reached, Pa (NaN when none) */
    private refPressurePa = NaN
    private refFlow = 0

    // measured flow (FLOW-1)
    measuredFlowMlPerMin = 0
    private flowRefMs = -1
    private flowAccMl = 0

    // pause / calibration drive
    pauseMs = 0
    takingUp = false
    /** TEL-3: the level ended; its record follows once the plunger is at rest */
    private recordDue = false
    /** level and volume of the last record sent (a repeat is sent unchanged) */
    private recordLevel = -1
    private recordMl = NaN
    private recEndState = State.Idle
    private recEndReason = Reason.None
    calDriving = false
    private calTargetCount = 0
    private calStartCount = 0
    calDriveCounts = 0

    // outputs
    private events: CoreEvent[] = []
    eventsDropped = 0
    private records: LevelRecord[] = []
    persistDue = false
    private lastPersistMl = 0
    private out: StepOutput

    constructor(cfg?: Config) {
        this.cfg = cfg ? cfg : defaultConfig()
        this.syringeFillMl = SYRINGES[this.syringe].volumeMl
        for (let i = 0; i < CHECKS.length; ++i) this.firing.push(false)
        this.view = {
            watching: false,
            injecting: false,
            levelOpen: false,
            estop: false,
            estopPresent: true,
            sampleStale: false,
            sampleNaN: false,
            sampleSaturated: false,
            sampleLow: false,
            encoderMissing: false,
            encoderJump: false,
            stall: false,
            overpressure: false,
            blockage: false,
            hostLost: false,
            leakSuspected: false,
            leakLimit: false,
            deliveredMl: 0,
            lookaheadMl: 0,
            capMl: 0,
            capWarnFraction: 0.8,
            cementSetting: false,
            handMotion: false,
        }
        const sample: Sample = { tMs: 0, deliveredMl: 0, pressurePa: 0, forceN: NaN, flowMlPerMin: 0, speedRatio: 0 }
        this.out = { motor: this.drive.out, sample, events: [], answers: [], records: [], persist: false }
    }

    // ------------------------------------------------------------ derived values

    /** The mounted syringe: a preset, or the custom one (FLOW-5). */
    syr(): Syringe {
        return this.syringe === CUSTOM_SYRINGE && this.customSyr ? this.customSyr : SYRINGES[this.syringe]
    }

    mlPerCount(): number {
        return geometricMlPerCount(this.syr().boreMm, this.cfg.encoderCountsPerMm) * this.volumeScale
    }

    deliveredMl(): number {
        return this.enc.deliveredMl
    }

    /** VOL-5: delivered / body volume; NaN where the body volume is unpublished. */
    fillFraction(): number {
        if (this.lvl.level < 0) return NaN
        const body = LEVELS[this.lvl.level].bodyMl
        return body > 0 ? this.deliveredMl() / body : NaN
    }

    /** FLOW-5: plunger volume left before the mounted syringe's end stop, mL */
    syringeLeftMl(): number {
        return this.syringeFillMl - this.travelMl
    }

    cementAgeS(tMs: number): number {
        return this.cementMixed ? (tMs - this.mixedAtMs) / 1000 : -1
    }

    /** VOL-4: cement prepared minus every level's delivered volume this session. */
    remainingCementMl(): number {
        return this.book.preparedMl - this.usedCementMl()
    }

    /** VOL-4: cement used this session: every level's total, the current one live. */
    usedCementMl(): number {
        let s = this.book.carriedMl
        for (let i = 0; i < this.book.totalsMl.length; ++i) s += i === this.lvl.level ? this.deliveredMl() : this.book.totalsMl[i]
        return s
    }

    calibrated(): boolean {
        return (this.calFlags & CAL_ALL) === CAL_ALL
    }

    forceN(): number {
        return this.cell.forceN
    }

    pressurePa(): number {
        return this.cell.pressurePa
    }

    pendingOp(): number {
        return this.desk.pendingOp()
    }

    /** Fastest plunger flow the drive makes and the encoder tracks for this syringe, mL/min. */
    maxFlowMlPerMin(): number {
        const boreMm = this.syr().boreMm
        const driveMax = (this.cfg.maxPlungerMmPerS * plungerAreaMm2(boreMm) * 60) / 1000
        // (called several times a step: no per-syringe lookup on the simulator)
        if (this.cfg.maxAdvanceMlPerMinBySyringe.length === 0) return driveMax
        return Math.min(driveMax, syringeMaxAdvanceMlPerMin(this.cfg, this.syringe, boreMm))
    }

    /** FLOW-2: fastest retraction the drive makes and the encoder tracks for this syringe, mL/min. */
    maxRetractMlPerMin(): number {
        const boreMm = this.syr().boreMm
        const driveMax = (this.cfg.maxPlungerMmPerS * plungerAreaMm2(boreMm) * 60) / 1000
        if (this.cfg.maxRetractMlPerMinBySyringe.length === 0) return driveMax
        return Math.min(driveMax, syringeMaxRetractMlPerMin(this.cfg, this.syringe, boreMm))
    }

    emit(kind: EventKind, tMs: number, reason: Reason, a: number, b: number) {
        // FAULT-10: bounded; the oldest go first, counted
        if (this.events.length >= EVENTS_MAX) {
            this.events.shift()
            this.eventsDropped++
        }
        this.events.push({ kind, tMs, reason, a, b })
    }

    /** Answers to sequenced commands not yet forwarded (also returned by step()). */
    drainAnswers(): Answer[] {
        return this.desk.drain()
    }

    drainEvents(): CoreEvent[] {
        // no allocation on the (common) quiet step: every allocation costs a GC in the VM
        if (this.events.length === 0) return NO_EVENTS
        const e = this.events
        this.events = []
        return e
    }

    // ------------------------------------------------------------ control step

    step(inp: Inputs): StepOutput {
        const now = inp.tMs
        const dtMs = this.lastStepMs < 0 ? 0 : Math.max(0, now - this.lastStepMs)
        this.lastStepMs = now
        this.estop = inp.estop
        this.estopPresent = inp.estopPresent
        this.encoderPresent = inp.encoderPresent
        this.senseEncoder(inp, now, dtMs)
        if (inp.newSample) this.senseLoadCell(inp, now)
        this.localInputs(inp, now)
        this.evaluate(now)
        this.desk.expire(this, now)
        this.drive1(now, dtMs)
        return this.output(now)
    }

    /** FAULT-12: the pedal is read by level; the confirm press arrives as an input. */
    private localInputs(inp: Inputs, now: number) {
        const pedal = inp.pedal === true
        const edge = pedal && !this.pedalDown
        this.pedalDown = pedal
        if (edge || (pedal && this.state === State.Injecting)) this.command(now, { op: Op.LeakSeen }, Source.Local)
        if (inp.confirmPressed === true) this.confirmButton(now)
    }

    pedalHeld(): boolean {
        return this.pedalDown
    }

    private senseEncoder(inp: Inputs, now: number, dtMs: number) {
        const mlc = this.mlPerCount()
        const prev = this.drive.out
        if (prev.enabled && prev.flowMlPerMin < 0) this.enc.allowRetract((-prev.flowMlPerMin * dtMs) / 60000)
        const wasValid = this.enc.valid
        const counting = this.lvl.level >= 0 && !this.calDriving
        const maxCountsPerS = this.cfg.maxPlungerMmPerS * this.cfg.encoderCountsPerMm
        this.enc.update(now, inp.encoderPresent, inp.encoderCount, mlc, counting, prev.enabled, maxCountsPerS)
        if (wasValid && this.enc.valid && !this.enc.jumped) this.drive.judgeStall(this.cfg, dtMs, this.enc.stepMl, mlc)
        else this.drive.stalled = false
        if (this.enc.valid && this.drive.mode === Motion.Retract) this.drive.retractedMl -= this.enc.stepMl
        // FLOW-5: plunger travel in the mounted syringe (not while it is being exchanged)
        if (!this.exchangeDue) this.travelMl += this.enc.stepMl
        // measured flow over 200 ms windows; FLOW-1 trim at steady set flow
        this.flowAccMl += this.enc.stepMl
        if (this.flowRefMs < 0) this.flowRefMs = now
        if (now - this.flowRefMs >= 200) {
            this.measuredFlowMlPerMin = (this.flowAccMl * 60000) / (now - this.flowRefMs)
            this.flowAccMl = 0
            this.flowRefMs = now
            if (this.drive.mode === Motion.Advance && !this.takingUp && this.stableSinceMs >= 0 && now - this.stableSinceMs > 400)
                this.drive.adjustTrim(this.cfg, this.flowMlPerMin, this.measuredFlowMlPerMin)
        }
        if (this.takingUp && this.enc.slackMl <= 0) {
            this.takingUp = false
            this.emit(EventKind.Info, now, Reason.SlackTaken, 0, 0)
        }
        // VOL-3 cap check runs on every count, not only on load-cell samples
    }

    private senseLoadCell(inp: Inputs, now: number) {
        const s = this.syr()
        let dir = 0
        if (this.drive.mode === Motion.Advance && this.drive.cmdFlowMlPerMin > 0) dir = 1
        else if (this.drive.mode === Motion.Retract) dir = -1
        this.cell.sample(now, inp.loadCellKg, inp.loadCellSaturated === true, s, dir)
        // PRS-5: advancing past the slack: during the take-up after a resume the
        // plunger really does push against little or nothing (even suction:
        // a retraction can leave the chamber below ambient)
        const advancing = this.drive.mode === Motion.Advance && !this.takingUp && this.measuredFlowMlPerMin > 0.25 * this.flowMlPerMin
        this.cell.judgeLow(now, advancing, s, this.cfg.lowForceFraction, this.cfg.lowForceMs)
        if (this.cell.status !== SampleStatus.Ok) return
        const p = this.cell.pressurePa
        // the peak covers the level until its record closes at rest (decompression included)
        if ((this.state === State.Injecting || this.state === State.Paused || this.recordDue) && p > this.lvl.peakPressurePa)
            this.lvl.peakPressurePa = p
        // PRS-3: the cutoff never sits below what this syringe's noise makes of the slope
        const sigmaPa = this.cfg.loadCellNoiseN / (plungerAreaMm2(s.boreMm) * 1e-6)
        const cutoff = Math.max(this.cfg.riseRatePaPerS, 6 * slopeNoisePaPerS(sigmaPa, SAMPLE_PERIOD_MS))
        const above = this.rate.add(now, p, cutoff)
        // armed from the first advancing sample after a resume once the pressure
        // passes what the interrupted flow had reached (re-pressurisation is explained
        // up to there); after a start, once the pressurisation has levelled off
        const resumeArmed =
            this.drive.mode === Motion.Advance &&
            finite(this.refPressurePa) &&
            p > (this.refPressurePa * this.flowMlPerMin) / this.refFlow + 4 * sigmaPa + 0.05e6
        // PRS-3 per delivered volume (slow rises: low flow, high compliance)
        const minRisePa = Math.max(0.02e6, 8 * OcclusionDetector.slotNoisePa(sigmaPa))
        const plungerMl = this.enc.count * this.mlPerCount()
        // (the re-rise test's floor: 4 x the seal friction's pressure, >= 0.1 MPa)
        const floorPa = Math.max(0.1e6, (4 * s.frictionN) / (plungerAreaMm2(s.boreMm) * 1e-6))
        const occluded = this.occ.add(now, p, plungerMl, this.cfg.occlusionPaPerMl, minRisePa, floorPa)
        // armed after a start once the pressurisation has levelled off (rate.ts
        // levelled(): entrained air makes a per-second test arm too early)
        if (
            !this.occSettled &&
            this.occ.levelled() &&
            this.drive.atSetFlow(this.flowMlPerMin, this.maxFlowMlPerMin()) &&
            !this.takingUp
        )
            this.occSettled = true
        // the rise-rate test arms on the same levelled pressure
        if (this.stableSinceMs >= 0 && !this.riseSettled && this.occSettled) this.riseSettled = true
        // ... and before it has levelled: a per-volume slope climbing back past its
        // peak (rate.ts reRise; set flow unchanged since the start)
        const reRise = !this.occSettled && this.occ.reRise && this.occFlow === this.flowMlPerMin
        this.view.blockage =
            ((this.riseArmed || resumeArmed) && above >= this.cfg.riseSamples) || (this.occSettled && occluded) || reRise
        this.leakDrop = this.leak.add(now, p)
        // PRS-2: stop where the pressure will be when the stop takes effect (one
        // sample + the command's way to the drive), like the cap's lookahead
        const rising = finite(this.rate.ratePaPerS) && this.rate.ratePaPerS > 0 ? this.rate.ratePaPerS : 0
        const leadPa = (rising * this.cfg.overpressureLeadMs) / 1000
        this.view.overpressure = this.drive.mode === Motion.Advance && p + leadPa > this.cfg.overpressurePa
    }

    private evaluate(now: number) {
        const s = this.state
        const cfg = this.cfg
        const v = this.view
        const injecting = s === State.Injecting
        v.injecting = injecting
        // VOL-6: the cap is checked in every state, armed or not, started or not
        v.levelOpen = this.lvl.open()
        v.watching = injecting || s === State.Paused || this.drive.moving()
        v.estop = this.estop
        v.estopPresent = this.estopPresent
        v.sampleStale = this.cell.stale(now, cfg.staleMs)
        v.sampleNaN = this.cell.status === SampleStatus.NaN
        v.sampleSaturated = this.cell.status === SampleStatus.Saturated
        v.sampleLow = this.cell.low
        v.encoderMissing = !this.encoderPresent || !this.enc.valid
        // FLOW-5: while the syringe is exchanged (drive disabled, empty syringe off
        // the needle) the pusher is moved by hand: a fast move is not a fault, nor a
        // warning; forward motion still counts as delivered (VOL-6)
        const exchanging = this.exchangeDue && !this.drive.moving()
        v.encoderJump = this.enc.jumped && !exchanging
        v.stall = this.drive.stalled
        if (this.drive.mode !== Motion.Advance) {
            v.overpressure = false
            v.blockage = false
        }
        // the bench calibration drive (into a collection cup) is judged like an
        // injection: PRS-3 arms once its pressure has levelled (rate.ts), so a
        // free flow never trips it and a blocked outlet stops it early
        v.hostLost = this.remoteMode && now - this.lastHeartbeatMs > cfg.hostTimeoutMs
        v.leakSuspected =
            this.riseArmed && this.leakDrop > cfg.leakDropFraction && this.cell.pressurePa / (1 - this.leakDrop) > cfg.leakMinPressurePa
        v.leakLimit = this.lvl.leakPauses >= cfg.maxLeakPauses && !this.lvl.leakLimitOverride
        v.deliveredMl = this.deliveredMl()
        // VOL-3: stop one control period (12.5 ms) + 20 ms bus latency early
        v.lookaheadMl = (Math.max(0, this.drive.cmdFlowMlPerMin) * 32.5) / 60000
        v.capMl = this.lvl.capMl
        v.capWarnFraction = cfg.capWarnFraction
        v.cementSetting = this.cementMixed && this.cementAgeS(now) >= cfg.settingWarnS
        v.handMotion = this.lvl.level >= 0 && this.enc.offMotionMl > cfg.handMotionMl && !exchanging
        conditions(v, this.firing)
        this.fs.actions[Check.LeakSuspected] = cfg.leakAutoPause === 1 ? Action.Pause : Action.Warn
        const best = this.fs.update(this.firing)
        for (let i = 0; i < this.fs.newly.length; ++i) {
            const c = this.fs.newly[i]
            this.emit(EventKind.Alarm, now, CHECKS[c].reason, this.fs.actions[c], 0)
        }
        if (best >= 0) this.apply(now, best)
        if (this.state === State.Injecting && !this.calDriving) this.protocolStops(now)
    }

    /**
     * FLOW-4 / FLOW-5: the protocol's own stops, after every check has had its
     * say (a cap or a fault in the same step wins): the end of an increment and
     * the end of the syringe's travel, each looked ahead like the cap.
     */
    private protocolStops(now: number) {
        const la = this.view.lookaheadMl
        if (this.syringeLeftMl() - la <= SYRINGE_END_MARGIN_ML) {
            this.exchangeDue = true
            this.stopAndHold(now, Reason.SyringeEmpty)
            return
        }
        if (this.incrementMode && this.incActive && this.deliveredMl() + la >= this.incTargetMl) {
            this.incActive = false
            this.incDue = true
            this.stopAndHold(now, Reason.IncrementDone)
        }
    }

    /** A protocol stop: like a pause (decompress, hold) but not counted as one. */
    private stopAndHold(now: number, reason: Reason) {
        this.pause(now, reason, false)
    }

    /** FLOW-4: start (or continue) an increment when injection begins in increment mode. */
    beginIncrement() {
        if (!this.incrementMode || this.incActive) return
        this.incIndex++
        this.incActive = true
        this.incStartMl = this.deliveredMl()
        this.incTargetMl = this.incStartMl + this.incrementMl
    }

    private closeIncrement(now: number) {
        this.incDue = false
        const li = this.lastIncrement
        li.level = this.lvl.level
        li.index = this.incIndex
        li.totalMl = this.deliveredMl()
        li.volumeMl = li.totalMl - this.incStartMl
        this.emit(EventKind.Increment, now, Reason.IncrementDone, li.index, li.volumeMl)
    }

    /** FLOW-5: a new syringe, confirmed locally: re-zero its travel; the level's volume is untouched. */
    syringeExchanged(now: number, fillMl: number) {
        this.syringeFillMl = fillMl
        this.travelMl = 0
        this.exchangeDue = false
        // VOL-6: the slack credit of the old syringe's decompression must not let
        // the new syringe's first advance go uncounted
        this.enc.slackMl = 0
        this.enc.endRetraction()
        // the pusher's way back was the exchange, not a hand (no VOL-6 warning for it)
        this.enc.rebaseOffMotion()
        this.takingUp = false
        this.reason = Reason.SyringeExchanged
        this.persistDue = true
        this.emit(EventKind.Info, now, Reason.SyringeExchanged, fillMl, 0)
    }

    /** TEL-4: every kept level record, queued again (oldest first). */
    resendRecords(now: number) {
        const n = this.book.records.length
        for (let i = 0; i < n; ++i) this.emit(EventKind.ResendRecord, now, this.book.records[i].endReason, i, 0)
        this.emit(EventKind.Info, now, Reason.RecordsResent, n, 0)
    }

    /** Applies the highest-ranked latched check's action as a transition (idempotent). */
    private apply(now: number, c: number) {
        const a = this.fs.actions[c]
        const reason = CHECKS[c].reason
        const s = this.state
        if (a >= Action.Pause && this.calDriving) this.stopCalDrive(now, reason)
        if (a === Action.Fault) {
            if (s !== State.Fault) this.enterFault(now, reason)
        } else if (a === Action.Stop || a === Action.Abort) {
            if (s === State.Injecting || s === State.Paused)
                this.endLevel(now, a === Action.Stop ? State.Completed : State.Aborted, reason)
            else if (s === State.Ready) this.enter(now, State.Idle, reason) // e.g. the cap reached by hand: disarm
        } else if (a === Action.Pause) {
            if (s === State.Injecting) {
                if (c === Check.LeakSuspected) this.leakPause(now, Reason.LeakSuspected)
                else this.pause(now, reason)
            }
        }
    }

    // ------------------------------------------------------------ transitions

    enter(now: number, to: State, reason: Reason) {
        const from = this.state
        this.state = to
        this.reason = reason
        this.persistDue = true
        this.emit(EventKind.Transition, now, reason, from, to)
    }

    /** FAULT-8: every safety action cancels what waits for the confirm button. */
    cancelPending(now: number) {
        this.desk.cancel(this, now)
    }

    beginAdvance(now: number) {
        // FAULT-5 on the board: the drive starts once "injecting" is stored (runWritten)
        if (this.cfg.writeBeforeRun) {
            this.runHeld = true
            this.drive.mode = Motion.Off
        } else this.drive.advance()
        this.enc.endRetraction()
        this.stableSinceMs = -1
        this.riseSettled = false
        this.riseArmed = false
        this.rate.reset()
        this.occ.reset()
        this.occSettled = false
        this.occFlow = this.flowMlPerMin
        this.leak.reset()
        this.leakDrop = 0
        this.view.blockage = false
    }

    beginRetract(now: number, useForce: boolean) {
        this.drive.retract(now, this.cell.forceN, useForce)
        // FAULT-1: without force, take back what the cement would store at the
        // last valid pressure with the most air the model covers (motion.ts)
        const p = finite(this.cell.pressurePa) && this.cell.status === SampleStatus.Ok ? this.cell.pressurePa : this.cfg.overpressurePa
        const blind = worstStoredMl(p, this.syringeLeftMl())
        this.drive.blindMl = Math.min(this.cfg.retractMaxMl, Math.max(this.cfg.blindRetractMl, blind))
        this.enc.beginRetraction()
        this.riseArmed = false
        this.stableSinceMs = -1
    }

    /** Stop forward motion, decompress, hold; `counted`: an interruption the level's record counts. */
    pause(now: number, reason: Reason, counted: boolean = true) {
        if (counted) this.lvl.pauses++
        this.pauseMs = now
        // PRS-3: remember the pressure the flow had reached (the resume reference),
        // only once it had levelled off: a pause during the pressurisation leaves
        // no reference (past it, the rise would still be the pressurisation)
        if (this.drive.mode === Motion.Advance && this.cell.status === SampleStatus.Ok && this.occSettled) {
            this.refPressurePa = this.cell.pressurePa
            this.refFlow = this.flowMlPerMin
        }
        this.cancelPending(now)
        this.enter(now, State.Paused, reason)
        if (this.drive.mode === Motion.Advance) this.beginRetract(now, true)
        else if (this.drive.mode !== Motion.Retract) this.drive.mode = Motion.Hold
    }

    /** A leak pause (LEAK-5 counts it; the leak-limit check ends the level). */
    leakPause(now: number, reason: Reason) {
        const l = this.lvl
        l.leakPauses++
        if (l.leakPauses >= this.cfg.maxLeakPauses && !l.leakLimitOverride) {
            // LEAK-5: the limit's leak ends the level at once (the check latches next step)
            l.pauses++
            this.endLevel(now, State.Aborted, Reason.LeakLimit)
            return
        }
        this.pause(now, reason)
    }

    enterFault(now: number, reason: Reason) {
        const wasMoving = this.drive.moving()
        this.cancelPending(now)
        this.enter(now, State.Fault, reason)
        // Without a trustworthy encoder or with the e-stop pressed the motor
        // must not move. A sensor fault alone still lets the encoder bound a
        // short blind retraction that relieves stored pressure.
        const blind =
            wasMoving &&
            (reason === Reason.SensorStale || reason === Reason.SensorNaN || reason === Reason.SensorSaturated || reason === Reason.SensorLow)
        if (blind) this.beginRetract(now, false)
        // FAULT-3: an e-stop disables the drive, latched until a local reset; it does
        // not decompress (that would re-enable the driver the e-stop cut). LEAK-2's
        // decompression is the pause's: the leak pedal, not the e-stop
        else this.drive.mode = Motion.Off
    }

    endLevel(now: number, to: State, reason: Reason) {
        this.cancelPending(now)
        this.enter(now, to, reason)
        if (this.drive.mode === Motion.Advance) this.beginRetract(now, true)
        else if (this.drive.mode === Motion.Hold) this.drive.mode = Motion.Off
        // the record carries the level's final volume: it is emitted once the
        // plunger is at rest (after the decompression), not while it still moves
        this.recEndState = to
        this.recEndReason = reason
        if (this.incActive) {
            // FLOW-4: the increment the level's end cut short is logged too
            this.incActive = false
            this.incDue = true
        }
        if (this.lvl.level >= 0 && !this.lvl.ended) {
            this.lvl.ended = true // ended now (FAULT-5 persists it); the record follows at rest
            this.book.levelsDone++
        }
        if (this.drive.moving()) this.recordDue = true
        else this.closeRecord(now)
    }

    /** VOL-7 / TEL-3: the level's record, on every end and every level change. */
    closeRecord(now: number) {
        const st = this.recordDue ? this.recEndState : this.state
        const rs = this.recordDue ? this.recEndReason : this.reason
        this.recordDue = false
        const l = this.lvl
        if (l.level < 0) return
        if (!l.ended) {
            l.ended = true
            this.book.levelsDone++
        }
        this.book.totalsMl[l.level] = this.deliveredMl()
        const r = l.record(this.deliveredMl(), now, st, rs)
        this.recordLevel = l.level
        this.recordMl = this.deliveredMl()
        this.book.keep(r)
        if (this.records.length >= 4) this.records.shift()
        this.records.push(r)
        this.emit(EventKind.LevelRecord, now, rs, l.level, r.deliveredMl)
        this.persistDue = true
    }

    lastRecord(): LevelRecord {
        const n = this.book.records.length
        return n > 0 ? this.book.records[n - 1] : null
    }

    /** VOL-7: select a level; one that already received cement continues its total. */
    selectLevel(now: number, level: number) {
        if (this.lvl.level >= 0) {
            // a level whose record already went out at its end, unchanged since,
            // sends that same record again (same times: a host sees a repeat)
            const sent = this.lvl.ended && this.recordLevel === this.lvl.level && this.deliveredMl() === this.recordMl
            if (sent) {
                const last = this.lastRecord()
                this.emit(EventKind.LevelRecord, now, last.endReason, this.lvl.level, last.deliveredMl)
            } else if (this.lvl.started || this.deliveredMl() > 0) this.closeRecord(now)
            this.book.totalsMl[this.lvl.level] = this.deliveredMl()
        }
        this.lvl.reset(level, LEVELS[level].capMl)
        this.incIndex = 0
        this.incActive = false
        this.incDue = false
        this.enc.deliveredMl = this.book.totalsMl[level]
        this.lastPersistMl = this.enc.deliveredMl
        this.drive.trim = 1
        this.refPressurePa = NaN
        this.fs.clear(Clear.OnNewLevel)
        this.persistDue = true
    }

    stopCalDrive(now: number, reason: Reason) {
        this.calDriving = false
        this.calDriveCounts = 0
        if (this.drive.mode === Motion.Advance) this.beginRetract(now, true)
        this.emit(EventKind.Info, now, Reason.CalDriveStopped, reason, 0)
    }

    startCalDrive(counts: number) {
        this.calDriving = true
        this.calStartCount = this.enc.count
        this.calTargetCount = this.enc.count + counts
        this.calDriveCounts = 0
        this.beginAdvance(0)
    }

    // ------------------------------------------------------------ motor

    private drive1(now: number, dtMs: number) {
        const cfg = this.cfg
        const d = this.drive
        if (d.mode === Motion.Advance) {
            if (this.calDriving && this.enc.count >= this.calTargetCount) {
                this.calDriving = false
                this.calDriveCounts = this.enc.count - this.calStartCount
                d.mode = Motion.Off
                this.emit(EventKind.Info, now, Reason.CalDriveDone, this.calDriveCounts, 0)
            }
        } else if (d.mode === Motion.Retract) {
            const relieved = d.retractUsesForce && this.cell.forceN < cfg.retractForceFraction * d.prePauseForceN
            // without force sensing, retract only the blind volume (beginRetract)
            const limitMl = d.retractUsesForce ? cfg.retractMaxMl : d.blindMl
            const speed = Math.min(cfg.retractMlPerMin, this.maxRetractMlPerMin())
            const maxMs = (cfg.retractMaxMl / speed) * 60000 * 2 + 500
            if (relieved || d.retractedMl >= limitMl || now - d.retractStartMs > maxMs) {
                d.mode = this.state === State.Paused ? Motion.Hold : Motion.Off
                // VOL-6: the drive may run on until the stop reaches it, and its counts
                // arrive late (bus latency): the credit (what was commanded + 0.02 mL) and
                // that tail stay open only for retractStallLagMs, then close for the hold
                this.enc.allowTail(now, (speed * cfg.retractStallLagMs) / 60000, cfg.retractStallLagMs)
                this.emit(EventKind.Info, now, Reason.Decompressed, Math.round(d.retractedMl * 10000) / 10, 0) // µL
            }
        }
        const stop = this.estop || !this.estopPresent
        // FAULT-3: with the e-stop down nothing moves (a retraction of another cause
        // is not resumed when it is released)
        if (stop && d.moving()) d.mode = this.state === State.Paused ? Motion.Hold : Motion.Off
        if (this.incDue && !d.moving()) this.closeIncrement(now)
        if (this.recordDue && !d.moving()) this.closeRecord(now)
        const mlPerMm = this.mlPerCount() * cfg.encoderCountsPerMm
        // the drive's speed limit for the way it moves (FLOW-2: per syringe on hardware)
        const maxFlow = d.mode === Motion.Retract ? this.maxRetractMlPerMin() : this.maxFlowMlPerMin()
        const m = d.command(cfg, dtMs, this.flowMlPerMin, maxFlow, mlPerMm, stop)
        if (d.mode === Motion.Advance && !stop) {
            if (d.atSetFlow(this.flowMlPerMin, this.maxFlowMlPerMin()) && !this.takingUp) {
                if (this.stableSinceMs < 0) this.stableSinceMs = now
                this.riseArmed = this.riseSettled && now - this.stableSinceMs >= cfg.riseArmMs
            } else {
                this.stableSinceMs = -1
                this.riseArmed = false
            }
        }
        if (!m.enabled && d.mode !== Motion.Advance) this.riseArmed = false
        if (this.deliveredMl() - this.lastPersistMl >= cfg.persistEveryMl) this.persistDue = true
    }

    private output(now: number): StepOutput {
        const o = this.out
        const sm = o.sample
        sm.tMs = now
        sm.deliveredMl = this.deliveredMl()
        sm.pressurePa = this.cell.pressurePa
        sm.forceN = this.cell.forceN
        sm.flowMlPerMin = this.measuredFlowMlPerMin
        sm.speedRatio = this.drive.out.speedRatio
        o.motor = this.drive.out
        o.events = this.drainEvents()
        o.answers = this.desk.drain()
        if (this.records.length === 0) o.records = NO_RECORDS
        else {
            o.records = this.records
            this.records = []
        }
        o.persist = this.persistDue
        return o
    }

    /** A snapshot was written: if it stored "injecting", a drive held for it starts. */
    runWritten(storedState: State) {
        // a write taken before the start (still "ready" or "paused") does not count
        if (!this.runHeld || storedState !== State.Injecting) return
        this.runHeld = false
        if (this.state === State.Injecting && this.drive.mode === Motion.Off) this.drive.advance()
    }

    /** Call after persisting a snapshot. */
    persisted() {
        this.persistDue = false
        this.lastPersistMl = this.deliveredMl()
    }

    // ------------------------------------------------------------ commands

    /**
     * FAULT-6/7/8: validate, then execute, hold for the local confirm button,
     * or reject with a reason. A repeated id gets its earlier answer and is
     * not executed again. A rejection changes nothing.
     */
    command(tMs: number, cmd: Command, src: Source): Answer {
        return this.desk.command(this, tMs, cmd, src)
    }

    /** The local confirm button: the pending command, or on a latched fault with nothing pending, the local reset. */
    confirmButton(tMs: number): Answer {
        if (this.desk.pendingOp() === 0) {
            if (this.state === State.Fault) return this.command(tMs, { op: Op.ClearFault }, Source.Local)
            // FLOW-5: with nothing pending, the press confirms the new syringe (full)
            if (this.exchangeDue && this.state === State.Paused) return this.command(tMs, { op: Op.SyringeExchanged, a: 0 }, Source.Local)
            // FLOW-4: ... or asks for the next increment
            if (this.state === State.Paused && this.reason === Reason.IncrementDone)
                return this.command(tMs, { op: Op.NextIncrement }, Source.Local)
        }
        return this.desk.confirm(this, tMs)
    }

    /** The confirm button: runs the pending command, re-validated now. */
    confirmPressed(tMs: number): Reject {
        return this.desk.confirm(this, tMs).reject
    }

    // used by commands.ts
    validate(now: number, cmd: Command, src: Source): Reject {
        return validate(this, now, cmd, src)
    }
    needsConfirm(cmd: Command, src: Source): boolean {
        return needsConfirm(this, cmd, src)
    }
    execute(now: number, cmd: Command) {
        execute(this, now, cmd)
    }
    resumeSetup(now: number) {
        this.refFlow = this.refFlow > 0 ? this.refFlow : this.flowMlPerMin
        this.takingUp = this.enc.slackMl > 0
    }
    sensorReady(now: number): boolean {
        return this.cell.ready(now, this.cfg.staleMs)
    }

    // ------------------------------------------------------------ persistence (FAULT-5)

    snapshot(tMs: number): Snapshot {
        return takeSnapshot(this, tMs)
    }

    /** The calibration alone (FAULT-9: the hardware cross-checks the load cell against it). */
    snapshotCalibration(): CalibrationSnapshot {
        return { tareKg: this.cell.tareKg, gain: this.cell.gain, volumeScale: this.volumeScale, flags: this.calFlags }
    }

    /** Boot: restore what was saved (any part may be null); never lands in injecting. */
    /** `segmentUnknown`: the platform writes nothing while the drive runs (restoreSnapshot) */
    restore(tMs: number, snap: Snapshot, segmentUnknown: boolean = false) {
        if (snap) restoreSnapshot(this, tMs, snap.cal, snap.level, snap.setup, segmentUnknown)
    }
}
