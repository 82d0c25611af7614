// The injection supervisor: the single place where the safety logic lives.
//
//   step(inputs) -> motor command        (call on every load-cell sample and
//                                          on a fast timer for staleness)
//   command(tMs, cmd, source) -> result   (host or local operator commands)
//   confirmPressed(tMs)                   (the local confirm button)
//   drainEvents()                         (transitions, alarms, rejections)
//
// Each limit is a named check with a ranked action and a clear rule (CHECKS
// below); the highest action fired in a step wins. Only the supervisor
// decides the motor command; src/app.ts merely forwards it.

import {
    Action,
    Answer,
    Clear,
    Command,
    CommandResult,
    CoreEvent,
    EventKind,
    Inputs,
    LevelRecord,
    MotorCommand,
    Op,
    Outcome,
    Reason,
    Reject,
    Source,
    State,
} from "./types"
import { Config, defaultConfig, getThreshold, setThreshold, Threshold, THRESHOLDS } from "./config"
import {
    DEFAULT_SYRINGE,
    DRIVE_MAX_PLUNGER_MM_PER_S,
    G_MPS2,
    geometricMlPerCount,
    plungerAreaMm2,
    pressurePa,
    speedRatioFor,
    SYRINGES,
} from "./geometry"
import { DEVICE_MAX_CAP_ML, LEVELS } from "./levels"
import { LeakSignature, RateEstimator } from "./rate"

/** Named checks. Order is only for the table; rank decides precedence. */
export const enum Check {
    Estop = 0,
    SensorNaN = 1,
    SensorSaturated = 2,
    SensorStale = 3,
    EncoderMissing = 4,
    EncoderJump = 5,
    Stall = 6,
    Overpressure = 7,
    Blockage = 8,
    HostLost = 9,
    Cap = 10,
    LeakSuspected = 11,
    CapWarning = 12,
    CementSetting = 13,
}

export interface CheckSpec {
    name: string
    action: Action
    reason: Reason
    clear: Clear
}

function spec(name: string, action: Action, reason: Reason, clear: Clear): CheckSpec {
    return { name, action, reason, clear }
}

export const CHECKS: CheckSpec[] = [
    spec("estop", Action.Fault, Reason.Estop, Clear.OnLocalReset), // FAULT-3
    spec("sensorNaN", Action.Fault, Reason.SensorNaN, Clear.OnLocalReset), // FAULT-1
    spec("sensorSaturated", Action.Fault, Reason.SensorSaturated, Clear.OnLocalReset),
    spec("sensorStale", Action.Fault, Reason.SensorStale, Clear.OnLocalReset),
    spec("encoderMissing", Action.Fault, Reason.EncoderMissing, Clear.OnLocalReset), // FAULT-2
    spec("encoderJump", Action.Fault, Reason.EncoderJump, Clear.OnLocalReset),
    spec("stall", Action.Fault, Reason.Stall, Clear.OnLocalReset), // FLOW-2
    spec("overpressure", Action.Pause, Reason.Overpressure, Clear.OnResume), // PRS-2
    spec("blockage", Action.Pause, Reason.Blockage, Clear.OnResume), // PRS-3
    spec("hostLost", Action.Pause, Reason.HostLost, Clear.OnResume), // FAULT-4
    spec("cap", Action.Stop, Reason.CapReached, Clear.OnNewLevel), // VOL-3
    spec("leakSuspected", Action.Warn, Reason.LeakSuspected, Clear.OnResume), // PRS-4 (Pause if configured)
    spec("capWarning", Action.Warn, Reason.CapWarning, Clear.OnNewLevel), // VOL-3
    spec("cementSetting", Action.Warn, Reason.CementSetting, Clear.OnNewLevel), // FLOW-3
]

export const enum Motion {
    Off = 0, // driver disabled
    Advance = 1, // forward at the ramped set flow (takes up slack first)
    Retract = 2, // backward to decompress
    Hold = 3, // driver disabled, paused, waiting for resume
}

/**
 * Oldest cement age accepted at marking, s: an older mark is a typo. Any
 * age is recorded as given; arming past the working limit is refused (FLOW-3).
 */
const MAX_CEMENT_AGE_S = 7200

/** sequenced answers remembered for retries (ids are per host, +1 each) */
const ANSWER_MEMORY = 32
/** answers waiting for the server at most (FAULT-10) */
const ANSWER_QUEUE_MAX = 16

/** FLOW-2 leak of the commanded-motion expectation, ms */
const STALL_LEAK_MS = 10000

export const CAL_TARE = 1
export const CAL_GAIN = 2
export const CAL_VOLUME = 4
export const CAL_ALL = 7

/** What survives a restart (FAULT-5); persisted by src/app.ts. */
export interface LevelSnapshot {
    level: number
    capMl: number
    deliveredMl: number
    state: State
    pauses: number
    leakPauses: number
    overrides: number
}

export interface CalibrationSnapshot {
    tareKg: number
    gain: number
    volumeScale: number
    flags: number
}

function finite(v: number): boolean {
    return typeof v === "number" && !isNaN(v) && v !== Infinity && v !== -Infinity
}

function isInt(v: number): boolean {
    return finite(v) && Math.round(v) === v
}

export class Supervisor {
    cfg: Config
    state = State.Idle
    reason = Reason.None

    // setup
    level = -1
    capMl = 0
    flowMlPerMin = 3
    syringe = DEFAULT_SYRINGE
    benchMode = false
    remoteMode = false

    // calibration (PRS-1, VOL-1)
    tareKg = 0
    gain = 1
    volumeScale = 1
    calFlags = 0

    // cement and session (FLOW-3, VOL-4)
    /** device time the cement was mixed; may be before boot (age given at marking) */
    mixedAtMs = 0
    cementMarked = false
    sessionPreparedMl = 0
    sessionUsedMl = 0
    levelsDone = 0

    // the current level
    levelStarted = false
    levelEnded = false
    deliveredOffsetMl = 0
    startCount = 0
    hwCount = 0
    pauses = 0
    leakPauses = 0
    overrides = 0
    leakLimitOverride = false
    peakPressurePa = 0
    levelStartMs = 0
    lastRecord: LevelRecord = null

    // motion
    motion = Motion.Off
    cmdFlowMlPerMin = 0
    private retractStartCount = 0
    private retractStartMs = 0
    private retractUsesForce = true
    private prePauseForceN = 0
    pauseMs = 0
    private takingUp = false
    /** BOARD-3: driving a set distance for volume calibration */
    calDriving = false
    private calTargetCount = 0
    private calStartCount = 0
    /** counts moved by the last completed calibration drive */
    calDriveCounts = 0
    private stableSinceMs = -1
    private riseSettled = false
    riseArmed = false

    // sensing
    private lastStepMs = -1
    lastSampleMs = -1
    private sampleBad = Reason.None
    forceN = NaN
    pressurePa = 0
    private count = 0
    private countChangedMs = 0
    private countValid = false
    private expectedMl = 0
    private motionRefCount = 0
    private flowRefCount = 0
    private flowRefMs = -1
    measuredFlowMlPerMin = 0
    /** FLOW-1 closed-loop trim of the drive, 0.9..1.1 */
    flowTrim = 1
    private estop = false
    private estopPresent = true
    private encoderPresent = false
    private lastHeartbeatMs = 0
    private rate = new RateEstimator()
    private leak = new LeakSignature()
    leakDrop = 0

    // checks
    private fired: number[] = []
    private latched: boolean[] = []

    // confirmation (FAULT-7)
    private pending: Command = null
    private pendingMs = 0
    /** answers of the last ANSWER_MEMORY sequenced commands, newest last */
    private recent: Answer[] = []
    /** answers not yet drained by the server (bounded) */
    private answers: Answer[] = []
    /** answers dropped because nobody drained them (FAULT-10) */
    answersDropped = 0

    // outputs
    private events: CoreEvent[] = []
    persistDue = false
    private lastPersistMl = 0
    private out: MotorCommand = { enabled: false, speedRatio: 0, flowMlPerMin: 0 }

    constructor(cfg?: Config) {
        this.cfg = cfg ? cfg : defaultConfig()
        for (let i = 0; i < CHECKS.length; ++i) this.latched.push(false)
    }

    // ------------------------------------------------------------ derived values

    mlPerCount(): number {
        return geometricMlPerCount(SYRINGES[this.syringe].boreMm, this.cfg.encoderCountsPerMm) * this.volumeScale
    }

    deliveredMl(): number {
        if (!this.levelStarted) return this.deliveredOffsetMl
        return this.deliveredOffsetMl + (this.hwCount - this.startCount) * this.mlPerCount()
    }

    /** VOL-5: delivered / body volume; NaN where the body volume is unpublished. */
    fillFraction(): number {
        if (this.level < 0) return NaN
        const body = LEVELS[this.level].bodyMl
        return body > 0 ? this.deliveredMl() / body : NaN
    }

    cementAgeS(tMs: number): number {
        return !this.cementMarked ? -1 : (tMs - this.mixedAtMs) / 1000
    }

    remainingCementMl(): number {
        return this.sessionPreparedMl - this.sessionUsedMl - this.deliveredMl()
    }

    calibrated(): boolean {
        return (this.calFlags & CAL_ALL) === CAL_ALL
    }

    drainEvents(): CoreEvent[] {
        const e = this.events
        this.events = []
        return e
    }

    private emit(kind: EventKind, tMs: number, reason: Reason, a: number, b: number) {
        this.events.push({ kind, tMs, reason, a, b })
    }

    // ------------------------------------------------------------ control step

    step(inp: Inputs): MotorCommand {
        const now = inp.tMs
        const dtMs = this.lastStepMs < 0 ? 0 : Math.max(0, now - this.lastStepMs)
        this.lastStepMs = now
        this.estop = inp.estop
        this.estopPresent = inp.estopPresent
        this.encoderPresent = inp.encoderPresent
        this.fired = []
        this.senseEncoder(inp, now, dtMs)
        if (inp.newSample) this.senseLoadCell(inp.loadCellKg, now)
        this.evaluate(now)
        this.applyHighest(now)
        if (this.pending && now - this.pendingMs > this.cfg.confirmTimeoutMs) {
            this.emit(EventKind.Info, now, Reason.ConfirmExpired, this.pending.op, 0)
            this.settlePending(now, Outcome.Expired, Reject.Ok)
        }
        this.drive(now, dtMs)
        return this.out
    }

    private senseLoadCell(kg: number, now: number) {
        this.lastSampleMs = now
        if (!finite(kg)) {
            this.sampleBad = Reason.SensorNaN
            this.forceN = NaN
            return
        }
        const raw = (kg - this.tareKg) * this.gain * G_MPS2
        const fullN = this.cfg.loadCellMaxN * 0.98
        if (raw >= fullN || raw <= -fullN) {
            this.sampleBad = Reason.SensorSaturated
            this.forceN = raw
            return
        }
        this.sampleBad = Reason.None
        this.forceN = raw
        let dir = 0
        if (this.motion === Motion.Advance && this.cmdFlowMlPerMin > 0) dir = 1
        else if (this.motion === Motion.Retract) dir = -1
        const s = SYRINGES[this.syringe]
        this.pressurePa = pressurePa(raw, s.frictionN, dir, s.boreMm)
        if (this.state === State.Injecting || this.state === State.Paused)
            if (this.pressurePa > this.peakPressurePa) this.peakPressurePa = this.pressurePa
        const above = this.rate.add(now, this.pressurePa, this.cfg.riseRatePaPerS)
        // the rise check arms only once the start-up pressurisation has
        // levelled off at set flow (compliance makes every start a "rise")
        if (this.stableSinceMs >= 0 && !this.riseSettled && this.rate.ratePaPerS < this.cfg.riseRatePaPerS)
            this.riseSettled = true
        if (this.riseArmed && above >= this.cfg.riseSamples) this.fire(Check.Blockage)
        this.leakDrop = this.leak.add(now, this.pressurePa)
        if (this.motion === Motion.Advance && this.pressurePa > this.cfg.overpressurePa) this.fire(Check.Overpressure)
    }

    private senseEncoder(inp: Inputs, now: number, dtMs: number) {
        const mlc = this.mlPerCount()
        const moving = this.motion === Motion.Advance || this.motion === Motion.Retract
        const active = moving || this.state === State.Injecting || this.state === State.Paused
        if (!inp.encoderPresent) {
            this.countValid = false
            if (active) this.fire(Check.EncoderMissing)
            return
        }
        const c = inp.encoderCount
        if (!this.countValid) {
            this.count = c
            this.countChangedMs = now
            this.countValid = true
            this.motionRefCount = c
            this.expectedMl = 0
            this.flowRefCount = c
            this.flowRefMs = now
        }
        // FAULT-2: more travel than the drive can make (x2 + margin) since the
        // encoder last reported - reports come in bursts, so the window is
        // the time since the count last changed, not the step period
        const d = c - this.count
        const sinceMs = Math.min(1000, Math.max(dtMs, now - this.countChangedMs))
        const maxCounts = (DRIVE_MAX_PLUNGER_MM_PER_S * this.cfg.encoderCountsPerMm * sinceMs) / 500 + 50
        if (d > maxCounts || -d > maxCounts || !isInt(c)) {
            if (active) this.fire(Check.EncoderJump)
            // never count an implausible move as delivery: keep what was
            // delivered and take the new reading as the reference from here
            this.deliveredOffsetMl = this.deliveredMl()
            this.startCount = c
            this.hwCount = c
            this.motionRefCount = c
            this.expectedMl = 0
            this.flowRefCount = c
        }
        if (d !== 0) this.countChangedMs = now
        this.count = c
        if (this.levelStarted && c > this.hwCount) this.hwCount = c
        // FLOW-2: integrate the command that was in force during dtMs. The
        // expectation leaks towards the measurement (tau 10 s) so a small
        // steady rate mismatch (FLOW-1's business) never adds up to a stall,
        // while a stalled drive at 0.5 mL/min still trips within ~5 s.
        if (this.out.enabled) {
            const actualMl = (c - this.motionRefCount) * mlc
            // the trim has learnt the drive's true ratio: expect flow / trim
            this.expectedMl += (this.out.flowMlPerMin * dtMs) / 60000 / this.flowTrim
            this.expectedMl -= ((this.expectedMl - actualMl) * dtMs) / STALL_LEAK_MS
            const err = this.expectedMl - actualMl
            const allowMl = this.cfg.stallMl + (Math.abs(this.out.flowMlPerMin) * this.cfg.stallLagMs) / 60000
            if (err > allowMl || -err > allowMl) this.fire(Check.Stall)
        } else {
            this.motionRefCount = c
            this.expectedMl = 0
        }
        if (now - this.flowRefMs >= 200) {
            this.measuredFlowMlPerMin = ((c - this.flowRefCount) * mlc * 60000) / (now - this.flowRefMs)
            this.flowRefCount = c
            this.flowRefMs = now
            // FLOW-1: at steady set flow, trim the drive on encoder truth
            // (5 % of the error per 200 ms window, bounded to +/-10 %)
            if (this.motion === Motion.Advance && this.stableSinceMs >= 0 && now - this.stableSinceMs > 400) {
                const e = (this.flowMlPerMin - this.measuredFlowMlPerMin) / this.flowMlPerMin
                this.flowTrim = Math.max(0.9, Math.min(1.1, this.flowTrim + 0.05 * e))
            }
        }
    }

    private evaluate(now: number) {
        const s = this.state
        const cfg = this.cfg
        const watching = s === State.Injecting || s === State.Paused || this.motion !== Motion.Off
        if (this.estop || (watching && !this.estopPresent)) this.fire(Check.Estop)
        if (watching) {
            if (this.lastSampleMs < 0 || now - this.lastSampleMs > cfg.staleMs) this.fire(Check.SensorStale)
            else if (this.sampleBad === Reason.SensorNaN) this.fire(Check.SensorNaN)
            else if (this.sampleBad === Reason.SensorSaturated) this.fire(Check.SensorSaturated)
        }
        if (s !== State.Injecting) return
        // VOL-3: stop one control period (12.5 ms) + 20 ms bus latency early
        const lookMl = (this.cmdFlowMlPerMin * 32.5) / 60000
        const delivered = this.deliveredMl()
        if (delivered + lookMl >= this.capMl) this.fire(Check.Cap)
        else if (delivered >= this.capMl * cfg.capWarnFraction) this.fire(Check.CapWarning)
        if (this.remoteMode && now - this.lastHeartbeatMs > cfg.hostTimeoutMs) this.fire(Check.HostLost)
        if (this.cementMarked && this.cementAgeS(now) >= cfg.settingWarnS) this.fire(Check.CementSetting)
        // PRS-4: judged only at steady set flow, above a floor pressure
        if (
            this.riseArmed &&
            this.leakDrop > cfg.leakDropFraction &&
            this.pressurePa / (1 - this.leakDrop) > cfg.leakMinPressurePa
        )
            this.fire(Check.LeakSuspected)
    }

    private fire(c: Check) {
        this.fired.push(c)
    }

    private actionOf(c: Check): Action {
        if (c === Check.LeakSuspected && this.cfg.leakAutoPause === 1) return Action.Pause
        return CHECKS[c].action
    }

    private applyHighest(now: number) {
        let best = -1
        let bestAction = Action.None
        for (let i = 0; i < this.fired.length; ++i) {
            const c = this.fired[i]
            const a = this.actionOf(c)
            if (!this.latched[c]) {
                this.latched[c] = true
                this.emit(EventKind.Alarm, now, CHECKS[c].reason, a, 0)
            }
            if (a > bestAction) {
                bestAction = a
                best = c
            }
        }
        // WhenGone latches clear once the condition is gone
        for (let c = 0; c < CHECKS.length; ++c)
            if (this.latched[c] && CHECKS[c].clear === Clear.WhenGone && this.fired.indexOf(c) < 0)
                this.latched[c] = false
        if (best < 0) return
        const reason = CHECKS[best].reason
        const s = this.state
        // a calibration drive stops on anything stronger than a warning
        if (this.calDriving && bestAction >= Action.Pause) this.stopCalDrive(now, reason)
        if (bestAction === Action.Fault) {
            if (s !== State.Fault) this.enterFault(now, reason)
        } else if (bestAction === Action.Stop) {
            if (s === State.Injecting || s === State.Paused) this.endLevel(now, State.Completed, reason)
        } else if (bestAction === Action.Abort) {
            if (s === State.Injecting || s === State.Paused) this.endLevel(now, State.Aborted, reason)
        } else if (bestAction === Action.Pause) {
            if (s === State.Injecting) {
                if (best === Check.LeakSuspected) this.leakPause(now, Reason.LeakSuspected)
                else this.pause(now, reason)
            }
        }
    }

    // ------------------------------------------------------------ transitions

    private enter(now: number, to: State, reason: Reason) {
        const from = this.state
        this.state = to
        this.reason = reason
        this.persistDue = true
        this.emit(EventKind.Transition, now, reason, from, to)
    }

    private beginRetract(now: number, useForce: boolean) {
        this.prePauseForceN = this.forceN
        this.retractUsesForce = useForce && finite(this.forceN)
        this.retractStartCount = this.count
        this.retractStartMs = now
        this.motion = Motion.Retract
        this.riseArmed = false
        this.stableSinceMs = -1
    }

    private pause(now: number, reason: Reason) {
        this.pauses++
        this.pauseMs = now
        this.enter(now, State.Paused, reason)
        this.beginRetract(now, true)
    }

    /** LEAK-5: the Nth leak pause ends the level unless overridden. */
    private leakPause(now: number, reason: Reason) {
        this.leakPauses++
        if (this.leakPauses >= this.cfg.maxLeakPauses && !this.leakLimitOverride) {
            this.pauses++
            this.endLevel(now, State.Aborted, Reason.LeakLimit)
        } else this.pause(now, reason)
    }

    private enterFault(now: number, reason: Reason) {
        const wasMoving = this.motion === Motion.Advance || this.motion === Motion.Retract
        this.enter(now, State.Fault, reason)
        this.settlePending(now, Outcome.Cancelled, Reject.Ok)
        // Without a trustworthy encoder or with the e-stop pressed the motor
        // must not move: disable at once. A sensor fault alone still lets the
        // encoder bound a short blind retraction that relieves stored pressure.
        const blindRetract =
            wasMoving &&
            (reason === Reason.SensorStale || reason === Reason.SensorNaN || reason === Reason.SensorSaturated)
        if (blindRetract) this.beginRetract(now, false)
        else this.motion = Motion.Off
    }

    private endLevel(now: number, to: State, reason: Reason) {
        this.enter(now, to, reason)
        if (this.motion === Motion.Advance) this.beginRetract(now, true)
        else if (this.motion === Motion.Hold) this.motion = Motion.Off
        this.closeRecord(now)
    }

    private closeRecord(now: number) {
        if (this.levelEnded || this.level < 0) return
        this.levelEnded = true
        const d = this.deliveredMl()
        this.levelsDone++
        this.lastRecord = {
            level: this.level,
            capMl: this.capMl,
            deliveredMl: d,
            fillFraction: this.fillFraction(),
            peakPressurePa: this.peakPressurePa,
            pauses: this.pauses,
            leakPauses: this.leakPauses,
            overrides: this.overrides,
            startMs: this.levelStartMs,
            endMs: now,
            endState: this.state,
            endReason: this.reason,
        }
        this.emit(EventKind.LevelRecord, now, this.reason, this.level, d)
    }

    // ------------------------------------------------------------ motor

    private drive(now: number, dtMs: number) {
        const cfg = this.cfg
        const mlc = this.mlPerCount()
        let flow = 0
        let enabled = false
        if (this.motion === Motion.Advance) {
            enabled = true
            // FLOW-1: acceleration-limited ramp towards the set flow
            const stepUp = (cfg.rampMlPerMinPerS * dtMs) / 1000
            const target = this.flowMlPerMin * this.flowTrim
            flow = Math.min(target, this.cmdFlowMlPerMin + stepUp)
            if (flow < 0) flow = 0
            if (this.calDriving && this.count >= this.calTargetCount) {
                this.calDriving = false
                this.calDriveCounts = this.count - this.calStartCount
                this.motion = Motion.Off
                this.emit(EventKind.Info, now, Reason.CalDriveDone, this.calDriveCounts, 0)
                enabled = false
                flow = 0
            } else if (this.takingUp && this.count >= this.hwCount) {
                this.takingUp = false
                this.emit(EventKind.Info, now, Reason.SlackTaken, 0, 0)
            }
            if (flow >= target && !this.takingUp) {
                if (this.stableSinceMs < 0) this.stableSinceMs = now
                this.riseArmed = this.riseSettled && now - this.stableSinceMs >= cfg.riseArmMs
            } else {
                this.stableSinceMs = -1
                this.riseArmed = false
            }
        } else if (this.motion === Motion.Retract) {
            const retractedMl = (this.retractStartCount - this.count) * mlc
            const relieved = this.retractUsesForce && this.forceN < cfg.retractForceFraction * this.prePauseForceN
            // without force sensing, retract only the short blind volume
            const limitMl = this.retractUsesForce ? cfg.retractMaxMl : Math.min(cfg.retractMaxMl, cfg.blindRetractMl)
            const maxMs = (cfg.retractMaxMl / cfg.retractMlPerMin) * 60000 * 2 + 500
            if (relieved || retractedMl >= limitMl || now - this.retractStartMs > maxMs) {
                this.motion = this.state === State.Paused ? Motion.Hold : Motion.Off
                this.emit(EventKind.Info, now, Reason.Decompressed, Math.round(retractedMl * 10000) / 10, 0) // µL
            } else {
                enabled = true
                flow = -cfg.retractMlPerMin
            }
        }
        if (this.estop || !this.estopPresent) {
            enabled = false
            flow = 0
        }
        this.cmdFlowMlPerMin = enabled ? flow : 0
        const mlPerMm = mlc * this.cfg.encoderCountsPerMm
        let ratio = enabled ? speedRatioFor(this.cmdFlowMlPerMin, mlPerMm) : 0
        // never hand a non-number to the drive (a NaN speed decodes as -1)
        if (!finite(ratio)) {
            ratio = 0
            enabled = false
            this.cmdFlowMlPerMin = 0
        }
        this.out.enabled = enabled
        this.out.flowMlPerMin = this.cmdFlowMlPerMin
        this.out.speedRatio = ratio
        const d = this.deliveredMl()
        if (d - this.lastPersistMl >= cfg.persistEveryMl) this.persistDue = true
    }

    /** Call after persisting a snapshot. */
    persisted() {
        this.persistDue = false
        this.lastPersistMl = this.deliveredMl()
    }

    // ------------------------------------------------------------ commands

    /**
     * FAULT-6/7: validate, then either execute, hold for the local confirm
     * button, or reject with a reason. A rejection changes nothing.
     */
    command(tMs: number, cmd: Command, src: Source): Answer {
        const id = isInt(cmd.id) && cmd.id > 0 && cmd.id <= 0x7fffffff ? cmd.id : 0
        if (id !== 0) {
            // a retry of a command already answered: never executed twice,
            // answered again with what became of it
            const prev = this.recall(id, cmd.op)
            if (prev) {
                this.queueAnswer(prev)
                return prev
            }
        }
        const r = this.validate(tMs, cmd, src)
        if (r !== Reject.Ok) {
            if (id === 0) this.emit(EventKind.Rejected, tMs, Reason.None, cmd.op, r)
            return this.answer(tMs, id, cmd, Outcome.Rejected, r)
        }
        if (src === Source.Host && this.needsConfirm(cmd)) {
            // FAULT-8: one confirm authorises one command; never swapped
            if (this.pending) {
                if (id === 0) this.emit(EventKind.Rejected, tMs, Reason.None, cmd.op, Reject.Busy)
                return this.answer(tMs, id, cmd, Outcome.Rejected, Reject.Busy)
            }
            this.pending = { op: cmd.op, a: cmd.a, b: cmd.b, id }
            this.pendingMs = tMs
            if (id === 0) this.emit(EventKind.ConfirmRequired, tMs, Reason.ConfirmRequired, cmd.op, 0)
            return this.answer(tMs, id, cmd, Outcome.Pending, Reject.Ok)
        }
        if (this.cancelsPending(cmd.op)) this.settlePending(tMs, Outcome.Cancelled, Reject.Ok)
        this.exec(tMs, cmd)
        return this.answer(tMs, id, cmd, Outcome.Executed, Reject.Ok)
    }

    /** Safety actions cancel whatever waits for the confirm (FAULT-8). */
    private cancelsPending(op: Op): boolean {
        return op === Op.Pause || op === Op.LeakSeen || op === Op.Abort || op === Op.Finish
    }

    /** Answers (sequenced commands) not yet sent; the server drains them. */
    drainAnswers(): Answer[] {
        const a = this.answers
        this.answers = []
        return a
    }

    private recall(id: number, op: Op): Answer {
        for (let i = this.recent.length - 1; i >= 0; --i) {
            const a = this.recent[i]
            if (a.id === id) return a.op === op ? a : null
        }
        return null
    }

    private answer(tMs: number, id: number, cmd: Command, outcome: Outcome, reject: Reject): Answer {
        const a: Answer = {
            id,
            op: cmd.op,
            outcome,
            reject,
            pending: outcome === Outcome.Pending,
            state: this.state,
            lo: NaN,
            hi: NaN,
            tMs,
        }
        if (reject !== Reject.Ok) this.detail(tMs, cmd, a)
        if (id !== 0) {
            this.recent.push(a)
            if (this.recent.length > ANSWER_MEMORY) this.recent.shift()
            this.queueAnswer(a)
        }
        return a
    }

    private queueAnswer(a: Answer) {
        // bounded: a flood of commands cannot grow memory (FAULT-10); a host
        // that missed an answer re-sends the id and gets it again
        if (this.answers.length >= ANSWER_QUEUE_MAX) {
            this.answers.shift()
            this.answersDropped++
        }
        this.answers.push(a)
    }

    /** A later outcome of the pending command, under its own id. */
    private settlePending(tMs: number, outcome: Outcome, reject: Reject) {
        const p = this.pending
        if (!p) return
        this.pending = null
        if (!(p.id > 0)) return
        const a = this.recall(p.id, p.op)
        if (a) {
            // the stored answer changes in place: a retry now hears the outcome
            a.outcome = outcome
            a.reject = reject
            a.pending = false
            a.state = this.state
            a.tMs = tMs
            if (reject !== Reject.Ok) this.detail(tMs, p, a)
            this.queueAnswer(a)
        } else this.answer(tMs, p.id, p, outcome, reject)
    }

    /** The values that matter for a refusal: the allowed range, the time left. */
    private detail(tMs: number, cmd: Command, a: Answer) {
        const r = a.reject
        if (r === Reject.HoldNotElapsed) {
            a.lo = Math.max(0, this.cfg.minHoldMs - (tMs - this.pauseMs))
            return
        }
        if (r !== Reject.OutOfRange && r !== Reject.AboveCeiling) return
        switch (cmd.op) {
            case Op.SetFlow:
                a.lo = this.cfg.flowMinMlPerMin
                a.hi = this.cfg.flowMaxMlPerMin
                break
            case Op.SetCap:
                a.lo = 0
                a.hi = this.level >= 0 ? Math.min(DEVICE_MAX_CAP_ML, LEVELS[this.level].ceilingMl) : DEVICE_MAX_CAP_ML
                break
            case Op.SetSyringe:
                a.lo = 0
                a.hi = SYRINGES.length - 1
                break
            case Op.MarkMixing:
                // cement mL; the age's range is 0..workingLimitS
                a.lo = 0
                a.hi = cmd.a >= 0 && cmd.a <= 100 ? MAX_CEMENT_AGE_S : 100
                break
            case Op.SetThreshold:
                if (isInt(cmd.a) && cmd.a >= 0 && cmd.a < THRESHOLDS.length) {
                    a.lo = THRESHOLDS[cmd.a].min
                    a.hi = THRESHOLDS[cmd.a].max
                } else {
                    a.lo = 0
                    a.hi = THRESHOLDS.length - 1
                }
                break
            case Op.CalibrationDrive:
                a.lo = 100
                a.hi = 50 * this.cfg.encoderCountsPerMm
                break
            case Op.CalibrateGain:
                a.lo = 0.05
                a.hi = 100
                break
            default:
                break
        }
    }

    /** The local confirm button: runs the pending command, re-validated now. */
    confirmPressed(tMs: number): Reject {
        const p = this.pending
        if (!p) return Reject.NothingToConfirm
        if (tMs - this.pendingMs > this.cfg.confirmTimeoutMs) {
            this.emit(EventKind.Info, tMs, Reason.ConfirmExpired, p.op, 0)
            this.settlePending(tMs, Outcome.Expired, Reject.Ok)
            return Reject.NothingToConfirm
        }
        const r = this.validate(tMs, p, Source.Local)
        if (r !== Reject.Ok) {
            if (!(p.id > 0)) this.emit(EventKind.Rejected, tMs, Reason.None, p.op, r)
            this.settlePending(tMs, Outcome.Rejected, r)
            return r
        }
        this.pending = null
        this.exec(tMs, p)
        // settle after exec so the answer carries the state it led to
        this.pending = p
        this.settlePending(tMs, Outcome.Executed, Reject.Ok)
        return Reject.Ok
    }

    pendingOp(): number {
        return this.pending ? this.pending.op : 0
    }

    /** Commands that add risk; safer ones (pause, leak seen, abort...) never wait. */
    private needsConfirm(cmd: Command): boolean {
        const a = cmd.a
        switch (cmd.op) {
            case Op.ClearFault:
                return true // latched faults clear by a local action only (FAULT-3)
            case Op.SetBenchMode:
                return a === 1 // turning bench mode on is itself a local decision
            default:
                break
        }
        if (this.benchMode) return false
        switch (cmd.op) {
            case Op.Start:
            case Op.Resume:
            case Op.OverrideLeakLimit:
            case Op.CalibrationDrive:
            case Op.Tare:
            case Op.CalibrateGain:
            case Op.CalibrateVolume:
                return true
            case Op.SetCap:
                return a > LEVELS[this.level].capMl
            case Op.SetFlow:
                return this.state === State.Injecting && a > this.flowMlPerMin
            case Op.SetRemoteMode:
                return a === 0 && this.remoteMode
            case Op.SetThreshold: {
                const sp = THRESHOLDS[a]
                const cur = getThreshold(this.cfg, a)
                return (cmd.b - cur) * sp.safer < 0
            }
            default:
                return false
        }
    }

    private argsOk(cmd: Command, n: number): boolean {
        if (n >= 1 && !finite(cmd.a)) return false
        if (n >= 2 && !finite(cmd.b)) return false
        return true
    }

    private sensorReady(now: number): boolean {
        return this.lastSampleMs >= 0 && now - this.lastSampleMs <= this.cfg.staleMs && this.sampleBad === Reason.None
    }

    private validate(now: number, cmd: Command, src: Source): Reject {
        const s = this.state
        const a = cmd.a
        const setup = s === State.Idle || s === State.Ready || s === State.Completed || s === State.Aborted
        switch (cmd.op) {
            // ---- always accepted: they can only make things safer
            case Op.Pause:
            case Op.LeakSeen:
            case Op.Abort:
            case Op.Finish:
            case Op.Heartbeat:
            case Op.Disarm:
                return Reject.Ok
            // ---- add risk
            case Op.Start:
                if (s !== State.Ready) return Reject.WrongState
                return this.readyToMove(now)
            case Op.Resume:
                if (s !== State.Paused) return Reject.WrongState
                if (this.motion !== Motion.Hold || now - this.pauseMs < this.cfg.minHoldMs) return Reject.HoldNotElapsed
                return this.readyToMove(now)
            case Op.Arm:
                if (s !== State.Idle) return Reject.WrongState
                if (this.level < 0) return Reject.UnknownLevel
                if (!this.calibrated()) return Reject.NotCalibrated
                if (!this.cementMarked) return Reject.CementNotMixed
                if (this.cementAgeS(now) > this.cfg.workingLimitS) return Reject.CementTooOld
                if (this.deliveredMl() >= this.capMl) return Reject.CapReached
                return Reject.Ok
            case Op.SetLevel:
                if (!isInt(a)) return Reject.BadNumber
                if (a < 0 || a >= LEVELS.length) return Reject.UnknownLevel
                if (!setup) return Reject.WrongState
                return Reject.Ok
            case Op.SetCap: {
                if (!this.argsOk(cmd, 1)) return Reject.BadNumber
                if (this.level < 0) return Reject.UnknownLevel
                if (a <= 0) return Reject.OutOfRange
                if (a > DEVICE_MAX_CAP_ML || a > LEVELS[this.level].ceilingMl) return Reject.AboveCeiling
                const raise = a > this.capMl
                if (raise && !setup && s !== State.Paused) return Reject.WrongState
                if (a > LEVELS[this.level].capMl && cmd.b !== 1) return Reject.OverrideRequired
                return Reject.Ok
            }
            case Op.SetFlow:
                if (!this.argsOk(cmd, 1)) return Reject.BadNumber
                if (a < this.cfg.flowMinMlPerMin || a > this.cfg.flowMaxMlPerMin) return Reject.OutOfRange
                if (s === State.Fault) return Reject.WrongState
                return Reject.Ok
            case Op.SetSyringe:
                if (!isInt(a)) return Reject.BadNumber
                if (a < 0 || a >= SYRINGES.length) return Reject.OutOfRange
                if (s !== State.Idle || (this.levelStarted && !this.levelEnded)) return Reject.WrongState
                return Reject.Ok
            case Op.MarkMixing:
                if (!this.argsOk(cmd, 1)) return Reject.BadNumber
                // b = age of the cement when marked, s (absent = mixed now)
                if (cmd.b !== undefined && !finite(cmd.b)) return Reject.BadNumber
                if (a < 0 || a > 100) return Reject.OutOfRange
                if (cmd.b !== undefined && (cmd.b < 0 || cmd.b > MAX_CEMENT_AGE_S)) return Reject.OutOfRange
                if (s === State.Injecting) return Reject.WrongState
                return Reject.Ok
            case Op.Tare:
                // PRS-1: only idle and unloaded (< 50 N on the current zero)
                if (s !== State.Idle || this.motion !== Motion.Off) return Reject.WrongState
                if (!this.sensorReady(now)) return Reject.SensorNotReady
                if (Math.abs(this.forceN) > 50) return Reject.NotUnloaded
                return Reject.Ok
            case Op.CalibrateGain: {
                if (!this.argsOk(cmd, 1)) return Reject.BadNumber
                if (s !== State.Idle || this.motion !== Motion.Off) return Reject.WrongState
                if (a < 0.05 || a > 100) return Reject.OutOfRange
                if ((this.calFlags & CAL_TARE) === 0) return Reject.NotCalibrated
                if (!this.sensorReady(now)) return Reject.SensorNotReady
                const g = this.gainFor(a)
                if (!finite(g) || g < 0.5 || g > 2) return Reject.Implausible
                return Reject.Ok
            }
            case Op.CalibrateVolume: {
                if (!isInt(a) || !this.argsOk(cmd, 2)) return Reject.BadNumber
                if (s !== State.Idle) return Reject.WrongState
                if (a < 100 || a > 10000000 || cmd.b <= 0 || cmd.b > 100000) return Reject.OutOfRange
                const k = this.volumeScaleFor(a, cmd.b)
                if (k < 0.8 || k > 1.25) return Reject.Implausible
                return Reject.Ok
            }
            case Op.ClearFault:
                if (s !== State.Fault) return Reject.WrongState
                if (src === Source.Host) return Reject.Ok // held until the local confirm
                if (this.estop || !this.estopPresent) return Reject.EstopActive
                if (!this.encoderPresent || !this.sensorReady(now)) return Reject.ConditionActive
                return Reject.Ok
            case Op.SetRemoteMode:
                if (!isInt(a) || (a !== 0 && a !== 1)) return Reject.BadNumber
                return Reject.Ok
            case Op.SetBenchMode:
                if (!isInt(a) || (a !== 0 && a !== 1)) return Reject.BadNumber
                if (a === 1 && s !== State.Idle) return Reject.WrongState
                return Reject.Ok
            case Op.SetThreshold: {
                if (!isInt(a) || !this.argsOk(cmd, 2)) return Reject.BadNumber
                if (a < 0 || a >= THRESHOLDS.length) return Reject.OutOfRange
                const sp = THRESHOLDS[a]
                if (sp.integer && !isInt(cmd.b)) return Reject.BadNumber
                if (cmd.b < sp.min || cmd.b > sp.max) return Reject.OutOfRange
                return Reject.Ok
            }
            case Op.OverrideLeakLimit:
                if (this.level < 0 || this.levelEnded) return Reject.WrongState
                return Reject.Ok
            case Op.CalibrationDrive:
                // BOARD-3: bench only (no level in progress), driver idle
                if (!isInt(a)) return Reject.BadNumber
                if (a < 100 || a > 50 * this.cfg.encoderCountsPerMm) return Reject.OutOfRange
                if (s !== State.Idle || this.motion !== Motion.Off || (this.levelStarted && !this.levelEnded))
                    return Reject.WrongState
                if (this.estop || !this.estopPresent) return Reject.EstopActive
                if (!this.sensorReady(now)) return Reject.SensorNotReady
                if (!this.encoderPresent || !this.countValid) return Reject.EncoderNotReady
                return Reject.Ok
            default:
                return Reject.UnknownCommand
        }
    }

    /** Common preconditions for any forward motion. */
    private readyToMove(now: number): Reject {
        if (this.estop || !this.estopPresent) return Reject.EstopActive
        if (!this.calibrated()) return Reject.NotCalibrated
        if (!this.sensorReady(now)) return Reject.SensorNotReady
        if (!this.encoderPresent || !this.countValid) return Reject.EncoderNotReady
        if (!this.cementMarked) return Reject.CementNotMixed
        if (this.cementAgeS(now) > this.cfg.workingLimitS) return Reject.CementTooOld
        if (this.deliveredMl() >= this.capMl) return Reject.CapReached
        if (this.remoteMode && now - this.lastHeartbeatMs > this.cfg.hostTimeoutMs) return Reject.WrongState
        return Reject.Ok
    }

    private gainFor(massKg: number): number {
        // reading is a WeightScale kg value; force in N is (kg - tare) x gain x g
        const net = this.lastKg() - this.tareKg
        return net > 0 ? massKg / net : NaN
    }

    private lastKg(): number {
        return this.forceN / (this.gain * G_MPS2) + this.tareKg
    }

    private volumeScaleFor(counts: number, measuredUl: number): number {
        return measuredUl / 1000 / (counts * geometricMlPerCount(SYRINGES[this.syringe].boreMm, this.cfg.encoderCountsPerMm))
    }

    private exec(now: number, cmd: Command) {
        const s = this.state
        const a = cmd.a
        switch (cmd.op) {
            case Op.Pause:
                if (s === State.Injecting) this.pause(now, Reason.OperatorPause)
                else if (this.calDriving) this.stopCalDrive(now, Reason.OperatorPause)
                break
            case Op.LeakSeen:
                if (s === State.Injecting) this.leakPause(now, Reason.LeakSeen)
                else if (s === State.Paused) {
                    // a leak seen while already paused counts, and re-labels the pause
                    this.leakPauses++
                    this.reason = Reason.LeakSeen
                    this.emit(EventKind.Alarm, now, Reason.LeakSeen, Action.Pause, 0)
                    if (this.leakPauses >= this.cfg.maxLeakPauses && !this.leakLimitOverride)
                        this.endLevel(now, State.Aborted, Reason.LeakLimit)
                }
                break
            case Op.Abort:
                if (s === State.Injecting || s === State.Paused || s === State.Ready) {
                    this.endLevel(now, State.Aborted, Reason.OperatorAbort)
                } else if (this.calDriving) this.stopCalDrive(now, Reason.OperatorAbort)
                break
            case Op.Finish:
                if (s === State.Injecting || s === State.Paused) this.endLevel(now, State.Completed, Reason.Finished)
                break
            case Op.Disarm:
                if (s === State.Ready) this.enter(now, State.Idle, Reason.Disarmed)
                break
            case Op.Heartbeat:
                this.lastHeartbeatMs = now
                break
            case Op.Arm:
                this.enter(now, State.Ready, Reason.Armed)
                if (this.remainingCementMl() < this.capMl - this.deliveredMl())
                    this.emit(EventKind.Alarm, now, Reason.LowCement, Action.Warn, 0) // VOL-4
                break
            case Op.Start:
                if (!this.levelStarted) {
                    this.levelStarted = true
                    this.startCount = this.count
                    this.hwCount = this.count
                    this.levelStartMs = now
                }
                if (this.cementAgeS(now) < this.cfg.doughS)
                    this.emit(EventKind.Alarm, now, Reason.CementEarly, Action.Warn, 0) // FLOW-3
                this.beginAdvance()
                this.enter(now, State.Injecting, Reason.Started)
                break
            case Op.Resume:
                this.takingUp = this.count < this.hwCount
                this.latched[Check.Overpressure] = false
                this.latched[Check.Blockage] = false
                this.latched[Check.HostLost] = false
                this.latched[Check.LeakSuspected] = false
                this.beginAdvance()
                this.enter(now, State.Injecting, Reason.Resumed)
                break
            case Op.SetLevel:
                if (this.levelStarted && !this.levelEnded) this.closeRecord(now)
                this.newLevel(a)
                if (s !== State.Idle) this.enter(now, State.Idle, Reason.Disarmed)
                break
            case Op.SetCap:
                if (a > LEVELS[this.level].capMl) {
                    this.overrides++
                    this.emit(EventKind.Info, now, Reason.CapOverride, a, LEVELS[this.level].capMl)
                }
                this.capMl = a
                this.persistDue = true
                break
            case Op.SetFlow:
                this.flowMlPerMin = a
                break
            case Op.SetSyringe:
                this.syringe = a
                break
            case Op.MarkMixing:
                this.mixedAtMs = now - (cmd.b !== undefined ? cmd.b * 1000 : 0)
                this.cementMarked = true
                this.sessionPreparedMl += a
                this.latched[Check.CementSetting] = false
                break
            case Op.Tare:
                this.tareKg = this.lastKg()
                this.forceN = 0
                this.calFlags |= CAL_TARE
                this.persistDue = true
                break
            case Op.CalibrateGain: {
                const kg = this.lastKg()
                this.gain = this.gainFor(a)
                this.forceN = (kg - this.tareKg) * this.gain * G_MPS2
                this.calFlags |= CAL_GAIN
                this.persistDue = true
                break
            }
            case Op.CalibrateVolume:
                this.volumeScale = this.volumeScaleFor(a, cmd.b)
                this.calFlags |= CAL_VOLUME
                this.persistDue = true
                break
            case Op.ClearFault:
                for (let c = 0; c < CHECKS.length; ++c) if (CHECKS[c].clear === Clear.OnLocalReset) this.latched[c] = false
                this.motion = Motion.Off
                this.enter(now, State.Idle, Reason.FaultCleared)
                break
            case Op.SetRemoteMode:
                this.remoteMode = a === 1
                this.lastHeartbeatMs = now
                break
            case Op.SetBenchMode:
                this.benchMode = a === 1
                this.emit(EventKind.Info, now, Reason.BenchMode, a, 0)
                break
            case Op.SetThreshold:
                setThreshold(this.cfg, a, cmd.b)
                this.emit(EventKind.Info, now, Reason.ThresholdChanged, a, cmd.b)
                break
            case Op.CalibrationDrive:
                this.calDriving = true
                this.calStartCount = this.count
                this.calTargetCount = this.count + a
                this.calDriveCounts = 0
                this.beginAdvance()
                break
            case Op.OverrideLeakLimit:
                this.leakLimitOverride = true
                this.overrides++
                this.emit(EventKind.Info, now, Reason.LeakLimitOverride, this.leakPauses, 0)
                break
        }
    }

    private stopCalDrive(now: number, reason: Reason) {
        this.calDriving = false
        this.calDriveCounts = 0
        if (this.motion === Motion.Advance) this.beginRetract(now, true)
        this.emit(EventKind.Info, now, Reason.CalDriveStopped, reason, 0)
    }

    private beginAdvance() {
        this.motion = Motion.Advance
        this.cmdFlowMlPerMin = 0
        this.stableSinceMs = -1
        this.riseSettled = false
        this.riseArmed = false
        this.rate.reset()
        this.leak.reset()
        this.leakDrop = 0
    }

    private newLevel(level: number) {
        this.level = level
        this.capMl = LEVELS[level].capMl
        this.levelStarted = false
        this.levelEnded = false
        this.deliveredOffsetMl = 0
        this.pauses = 0
        this.leakPauses = 0
        this.overrides = 0
        this.leakLimitOverride = false
        this.peakPressurePa = 0
        this.lastPersistMl = 0
        this.flowTrim = 1
        this.latched[Check.Cap] = false
        this.latched[Check.CapWarning] = false
        this.latched[Check.CementSetting] = false
        this.persistDue = true
    }

    // ------------------------------------------------------------ persistence (FAULT-5)

    snapshotLevel(): LevelSnapshot {
        return {
            level: this.level,
            capMl: this.capMl,
            deliveredMl: this.deliveredMl(),
            state: this.state,
            pauses: this.pauses,
            leakPauses: this.leakPauses,
            overrides: this.overrides,
        }
    }

    snapshotCalibration(): CalibrationSnapshot {
        return { tareKg: this.tareKg, gain: this.gain, volumeScale: this.volumeScale, flags: this.calFlags }
    }

    /**
     * Boot: restore calibration and the last level. A level that was in
     * progress (injecting, paused, or faulted mid-level) comes back as
     * fault(restart) with its delivered volume counted; never injecting.
     */
    restore(now: number, cal: CalibrationSnapshot, lvl: LevelSnapshot) {
        if (cal) {
            this.tareKg = cal.tareKg
            this.gain = cal.gain
            this.volumeScale = cal.volumeScale
            this.calFlags = cal.flags & CAL_ALL
        }
        if (lvl && lvl.level >= 0 && lvl.level < LEVELS.length) {
            this.level = lvl.level
            // a stored cap never exceeds the level's override ceiling (VOL-2)
            this.capMl = Math.min(lvl.capMl, LEVELS[lvl.level].ceilingMl)
            this.deliveredOffsetMl = lvl.deliveredMl
            this.lastPersistMl = lvl.deliveredMl
            this.pauses = lvl.pauses
            this.leakPauses = lvl.leakPauses
            this.overrides = lvl.overrides
            this.levelEnded = lvl.state === State.Completed || lvl.state === State.Aborted
            const midLevel = lvl.state === State.Injecting || lvl.state === State.Paused || lvl.state === State.Fault
            if (midLevel) {
                this.state = State.Fault
                this.reason = Reason.Restart
                this.emit(EventKind.Transition, now, Reason.Restart, State.Idle, State.Fault)
                return
            }
        }
        this.state = State.Idle
        this.reason = Reason.None
    }
}
