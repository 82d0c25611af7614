// Commands: validate, confirm, execute (FAULT-6, FAULT-7, FAULT-8).
//
// - validate(): what a command may do now; a rejection changes nothing.
// - needsConfirm(): commands that add risk wait for the local confirm button.
// - Desk: the one pending command (a new risk-adding one while it waits is
//   refused as Busy, never swapped in; every safety action cancels it), the
//   answers of the last ANSWERS_KEPT ids (a repeated id is answered, not run
//   again) and the deferred answers (executed at confirm, rejected at
//   confirm, expired, cancelled). Everything here is bounded (FAULT-10).

import { Action, Answer, Clear, Command, EventKind, Op, Outcome, Reason, Reject, Source, State } from "./types"
import { customBoreRangeMm, customVolumeMaxMl, getThreshold, setThreshold, THRESHOLDS } from "./config"
import { CUSTOM_SYRINGE, CUSTOM_VOLUME_MIN_ML, customSyringe, geometricMlPerCount, SYRINGES } from "./geometry"
import { DEVICE_MAX_CAP_ML, LEVELS } from "./levels"
import { Motion } from "./motion"
import { settleBandKg } from "./loadcell"
import { CAL_GAIN, CAL_TARE, CAL_VOLUME, INCREMENT_MAX_ML, INCREMENT_MIN_ML, Supervisor, SYRINGE_END_MARGIN_ML } from "./supervisor"

/** sequenced answers remembered for retries */
export const ANSWERS_KEPT = 32
/** answers waiting to be drained at most (FAULT-10) */
export const ANSWERS_QUEUED_MAX = 16

function finite(v: number): boolean {
    return typeof v === "number" && !isNaN(v) && v !== Infinity && v !== -Infinity
}

function isInt(v: number): boolean {
    return finite(v) && Math.round(v) === v
}

function idOf(cmd: Command): number {
    const id = cmd.id
    return isInt(id) && id > 0 && id <= 0x7fffffff ? id : 0
}

/** Ops that only make things safer: always accepted, and they cancel what is pending (FAULT-8). */
export function isSafetyOp(op: Op): boolean {
    return op === Op.Pause || op === Op.LeakSeen || op === Op.Abort || op === Op.Finish
}

/** FLOW-3: the oldest cement age mark-mixing accepts, s */
export const MAX_CEMENT_AGE_S = 7200

/** Shared empty answer list (never written to). */
const NO_ANSWERS: Answer[] = []

export class Desk {
    private pending: Command = null
    private pendingMs = 0
    /** answers of the last ANSWERS_KEPT sequenced commands, newest last */
    private recent: Answer[] = []
    /** answers not yet drained (bounded, FAULT-10) */
    private queue: Answer[] = []
    /** answers dropped because nobody drained them (FAULT-10) */
    dropped = 0

    pendingOp(): number {
        return this.pending ? this.pending.op : 0
    }

    pendingId(): number {
        return this.pending ? idOf(this.pending) : 0
    }

    private recall(id: number, op: Op): Answer {
        for (let i = this.recent.length - 1; i >= 0; --i) {
            const a = this.recent[i]
            if (a.id === id) return a.op === op ? a : null
        }
        return null
    }

    private enqueue(a: Answer) {
        // a host that missed an answer re-sends the id and gets it again
        if (this.queue.length >= ANSWERS_QUEUED_MAX) {
            this.queue.shift()
            this.dropped++
        }
        this.queue.push(a)
    }

    drain(): Answer[] {
        if (this.queue.length === 0) return NO_ANSWERS // no allocation on quiet steps
        const q = this.queue
        this.queue = []
        return q
    }

    private answer(s: Supervisor, tMs: number, cmd: Command, outcome: Outcome, reject: Reject): Answer {
        const a: Answer = {
            id: idOf(cmd),
            op: cmd.op,
            outcome,
            reject,
            pending: outcome === Outcome.Pending,
            state: s.state,
            lo: NaN,
            hi: NaN,
            tMs,
        }
        if (reject !== Reject.Ok) this.figures(s, cmd, reject, tMs, a)
        if (a.id !== 0) {
            this.recent.push(a)
            if (this.recent.length > ANSWERS_KEPT) this.recent.shift()
            this.enqueue(a)
        }
        return a
    }

    command(s: Supervisor, tMs: number, cmd: Command, src: Source): Answer {
        const id = idOf(cmd)
        if (id !== 0) {
            // a repeat of an answered id: its current answer, never a second execution
            const prev = this.recall(id, cmd.op)
            if (prev) {
                this.enqueue(prev)
                return prev
            }
        }
        const r = s.validate(tMs, cmd, src)
        if (r !== Reject.Ok) {
            if (id === 0) s.emit(EventKind.Rejected, tMs, Reason.None, cmd.op, r)
            return this.answer(s, tMs, cmd, Outcome.Rejected, r)
        }
        if (s.needsConfirm(cmd, src)) {
            if (this.pending) {
                // FAULT-8: one confirm authorises exactly the command shown; never swap
                if (id === 0) s.emit(EventKind.Rejected, tMs, Reason.None, cmd.op, Reject.Busy)
                return this.answer(s, tMs, cmd, Outcome.Rejected, Reject.Busy)
            }
            this.pending = { op: cmd.op, a: cmd.a, b: cmd.b, id }
            this.pendingMs = tMs
            if (id === 0) s.emit(EventKind.ConfirmRequired, tMs, Reason.ConfirmRequired, cmd.op, 0)
            return this.answer(s, tMs, cmd, Outcome.Pending, Reject.Ok)
        }
        if (isSafetyOp(cmd.op)) this.cancel(s, tMs)
        s.execute(tMs, cmd)
        return this.answer(s, tMs, cmd, Outcome.Executed, Reject.Ok)
    }

    /** A later outcome of the pending command, under its own id (the stored answer changes in place). */
    private settle(s: Supervisor, tMs: number, outcome: Outcome, reject: Reject): Answer {
        const p = this.pending
        this.pending = null
        const id = idOf(p)
        const a = id !== 0 ? this.recall(id, p.op) : null
        if (!a) return this.answer(s, tMs, p, outcome, reject)
        a.outcome = outcome
        a.reject = reject
        a.pending = false
        a.state = s.state
        a.tMs = tMs
        if (reject !== Reject.Ok) this.figures(s, p, reject, tMs, a)
        this.enqueue(a)
        return a
    }

    /** The local confirm button: runs the pending command, re-validated now. */
    confirm(s: Supervisor, tMs: number): Answer {
        const p = this.pending
        if (!p) return this.answer(s, tMs, { op: 0 as Op }, Outcome.Rejected, Reject.NothingToConfirm)
        if (tMs - this.pendingMs > s.cfg.confirmTimeoutMs) {
            s.emit(EventKind.Info, tMs, Reason.ConfirmExpired, p.op, 0)
            this.settle(s, tMs, Outcome.Expired, Reject.Ok)
            return this.answer(s, tMs, { op: 0 as Op }, Outcome.Rejected, Reject.NothingToConfirm)
        }
        const r = s.validate(tMs, p, Source.Local)
        if (r !== Reject.Ok) {
            if (idOf(p) === 0) s.emit(EventKind.Rejected, tMs, Reason.None, p.op, r)
            return this.settle(s, tMs, Outcome.Rejected, r)
        }
        this.pending = null
        s.execute(tMs, p)
        // settle after executing so the answer carries the state it led to
        this.pending = p
        return this.settle(s, tMs, Outcome.Executed, Reject.Ok)
    }

    expire(s: Supervisor, tMs: number) {
        if (this.pending && tMs - this.pendingMs > s.cfg.confirmTimeoutMs) {
            s.emit(EventKind.Info, tMs, Reason.ConfirmExpired, this.pending.op, 0)
            this.settle(s, tMs, Outcome.Expired, Reject.Ok)
        }
    }

    /** FAULT-8: a safety action (pause, leak seen, abort, e-stop, fault) cancels what is pending. */
    cancel(s: Supervisor, tMs: number) {
        if (!this.pending) return
        s.emit(EventKind.Info, tMs, Reason.PendingCancelled, this.pending.op, 0)
        this.settle(s, tMs, Outcome.Cancelled, Reject.Ok)
    }

    /** The figures that matter for a rejection: allowed range, or remaining hold. */
    figures(s: Supervisor, cmd: Command, r: Reject, tMs: number, a: Answer) {
        const cfg = s.cfg
        if (r === Reject.HoldNotElapsed) {
            a.lo = Math.max(0, cfg.minHoldMs - (tMs - s.pauseMs))
            return
        }
        if (r !== Reject.OutOfRange && r !== Reject.AboveCeiling && r !== Reject.BoreOutOfRange && r !== Reject.SyringeVolumeOutOfRange) return
        switch (cmd.op) {
            case Op.SetFlow:
                a.lo = cfg.flowMinMlPerMin
                // FLOW-2: this syringe's limit when it is lower
                a.hi = Math.min(cfg.flowMaxMlPerMin, s.maxFlowMlPerMin())
                break
            case Op.SetCap:
                a.lo = 0
                a.hi = s.lvl.level >= 0 ? Math.min(DEVICE_MAX_CAP_ML, LEVELS[s.lvl.level].ceilingMl) : DEVICE_MAX_CAP_ML
                break
            case Op.SetSyringe:
                a.lo = 0
                a.hi = s.customSyr ? CUSTOM_SYRINGE : SYRINGES.length - 1
                break
            case Op.MarkMixing:
                a.lo = 0
                a.hi = finite(cmd.a) && (cmd.a < 0 || cmd.a > 100) ? 100 : MAX_CEMENT_AGE_S
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
                a.hi = 50 * cfg.encoderCountsPerMm
                break
            case Op.CalibrateGain:
                a.lo = 0.05
                a.hi = 100
                break
            case Op.SetIncrement:
                a.lo = INCREMENT_MIN_ML
                a.hi = INCREMENT_MAX_ML
                break
            case Op.SyringeExchanged:
                a.lo = 0
                a.hi = s.syr().volumeMl
                break
        }
        if (r === Reject.BoreOutOfRange) {
            const range = customBoreRangeMm(cfg)
            a.lo = range[0]
            a.hi = range[1]
        } else if (r === Reject.SyringeVolumeOutOfRange) {
            a.lo = CUSTOM_VOLUME_MIN_ML
            a.hi = customVolumeMaxMl(cfg, cmd.a)
        }
    }
}

// ---------------------------------------------------------------- rules

/** FAULT-7: commands that add risk wait for the local confirm (host commands only). */
export function needsConfirm(s: Supervisor, cmd: Command, src: Source): boolean {
    if (src === Source.Local) return false
    const a = cmd.a
    switch (cmd.op) {
        case Op.ClearFault:
            return true // latched faults clear by a local action only (FAULT-3)
        case Op.SetBenchMode:
            return a === 1 // turning bench mode on is itself a local decision
        case Op.SetSyringe:
        case Op.SetCustomSyringe:
            if (!s.syringeConfirmed) return true // FAULT-5: confirmed locally after a restart
            break
        case Op.SyringeExchanged:
            return true // FLOW-5: the new syringe is confirmed at the device, even in bench mode
        default:
            break
    }
    if (s.benchMode) return false
    switch (cmd.op) {
        case Op.Start:
        case Op.Resume:
        case Op.OverrideLeakLimit:
        case Op.CalibrationDrive:
        case Op.Tare:
        case Op.CalibrateGain:
        case Op.CalibrateVolume:
        case Op.MarkMixing: // resets the cement clock (FLOW-3)
        case Op.SetLevel: // re-selecting continues a total; a new level has a new cap
        case Op.SetSyringe: // the syringe sets mL per count and Pa per N
        case Op.SetCustomSyringe: // FLOW-5: so does a custom bore
        case Op.NextIncrement: // FLOW-4: more cement, like a resume
            return true
        case Op.SetIncrement:
            // FLOW-4: safer = increments on, no larger than before (or than
            // nothing, when the mode was off); off or larger adds risk
            if (a === s.incrementMl && (cmd.b === 1) === s.incrementMode) return false
            return !(cmd.b === 1 && (!s.incrementMode || a <= s.incrementMl))
        case Op.SetFlow:
            return a !== s.flowMlPerMin
        case Op.SetCap:
            return a > LEVELS[s.lvl.level].capMl
        case Op.SetRemoteMode:
            return a === 0 && s.remoteMode
        case Op.SetThreshold: {
            const sp = THRESHOLDS[a]
            const cur = getThreshold(s.cfg, a)
            return (cmd.b - cur) * sp.safer < 0
        }
        default:
            return false
    }
}

function argsOk(cmd: Command, n: number): boolean {
    if (n >= 1 && !finite(cmd.a)) return false
    if (n >= 2 && !finite(cmd.b)) return false
    return true
}

/**
 * VOL-7: a level with less than CAP_MIN_LEFT_ML under its cap is at its cap
 * (the cap check stops a step's flow early, so a level stopped at its cap
 * keeps a few uL; arming it again could deliver nothing but a start).
 */
export const CAP_MIN_LEFT_ML = 0.02

function atCap(s: Supervisor): boolean {
    return s.deliveredMl() > s.lvl.capMl - CAP_MIN_LEFT_ML
}

/** Common preconditions for any forward motion. */
function readyToMove(s: Supervisor, now: number): Reject {
    if (s.estop || !s.estopPresent) return Reject.EstopActive
    if (!s.calibrated()) return Reject.NotCalibrated
    if (!s.sensorReady(now)) return Reject.SensorNotReady
    if (!s.encoderPresent || !s.enc.valid) return Reject.EncoderNotReady
    if (!s.cementMixed) return Reject.CementNotMixed
    if (s.cementAgeS(now) > s.cfg.workingLimitS) return Reject.CementTooOld
    if (atCap(s)) return Reject.CapReached
    if (s.remoteMode && now - s.lastHeartbeatMs > s.cfg.hostTimeoutMs) return Reject.WrongState
    if (s.pedalHeld()) return Reject.ConditionActive // FAULT-12: the leak pedal is held down
    // FLOW-5: an empty syringe is exchanged (and confirmed) before any advance
    if (s.exchangeDue || s.syringeLeftMl() <= SYRINGE_END_MARGIN_ML) return Reject.SyringeEmpty
    // FLOW-2: a flow set for a larger syringe is not run on a smaller one
    if (s.flowMlPerMin > s.maxFlowMlPerMin()) return Reject.OutOfRange
    return Reject.Ok
}

function volumeScaleFor(s: Supervisor, counts: number, measuredUl: number): number {
    return measuredUl / 1000 / (counts * geometricMlPerCount(s.syr().boreMm, s.cfg.encoderCountsPerMm))
}

/** The drive holds still: off, or holding a pause (its decompression done), no calibration drive. */
function still_(s: Supervisor): boolean {
    return (s.drive.mode === Motion.Off || s.drive.mode === Motion.Hold) && !s.calDriving
}

/** A level has started and not ended. */
function midLevel(s: Supervisor): boolean {
    return s.lvl.open() && s.lvl.started
}

export function validate(s: Supervisor, now: number, cmd: Command, src: Source): Reject {
    const st = s.state
    const a = cmd.a
    const cfg = s.cfg
    const setup = st === State.Idle || st === State.Ready || st === State.Completed || st === State.Aborted
    const still = s.drive.mode === Motion.Off && !s.calDriving
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
            if (st !== State.Ready) return Reject.WrongState
            return readyToMove(s, now)
        case Op.Resume:
            if (st !== State.Paused) return Reject.WrongState
            if (s.drive.mode !== Motion.Hold) return Reject.HoldNotElapsed
            // FLOW-4: an increment's end is the routine rhythm, not an alarm: the
            // next one needs the decompression done, not the leak protocol's hold
            if (s.reason !== Reason.IncrementDone && now - s.pauseMs < cfg.minHoldMs) return Reject.HoldNotElapsed
            if (s.fs.holding(Clear.OnResume, Action.Pause) >= 0) return Reject.ConditionActive
            return readyToMove(s, now)
        case Op.NextIncrement:
            if (st !== State.Paused || s.reason !== Reason.IncrementDone || !s.incrementMode) return Reject.WrongState
            if (s.drive.mode !== Motion.Hold) return Reject.HoldNotElapsed
            if (s.fs.holding(Clear.OnResume, Action.Pause) >= 0) return Reject.ConditionActive
            return readyToMove(s, now)
        case Op.Arm:
            if (st !== State.Idle) return Reject.WrongState
            if (s.lvl.level < 0) return Reject.UnknownLevel
            if (!s.calibrated()) return Reject.NotCalibrated
            if (!s.syringeConfirmed) return Reject.SyringeUnconfirmed
            if (s.estop || !s.estopPresent) return Reject.EstopActive // FAULT-12: held at boot blocks arming
            // FAULT-1/FAULT-9: no arming without a trustworthy force reading
            if (!s.sensorReady(now)) return Reject.SensorNotReady
            if (!s.cementMixed) return Reject.CementNotMixed
            if (s.cementAgeS(now) > cfg.workingLimitS) return Reject.CementTooOld
            if (atCap(s)) return Reject.CapReached
            if (s.lvl.ended) return Reject.WrongState // an ended level continues only by re-selecting it
            return Reject.Ok
        case Op.SetLevel:
            if (!isInt(a)) return Reject.BadNumber
            if (a < 0 || a >= LEVELS.length) return Reject.UnknownLevel
            if (!setup || !still) return Reject.WrongState
            return Reject.Ok
        case Op.SetCap: {
            if (!argsOk(cmd, 1)) return Reject.BadNumber
            if (s.lvl.level < 0) return Reject.UnknownLevel
            if (a <= 0) return Reject.OutOfRange
            if (a > DEVICE_MAX_CAP_ML || a > LEVELS[s.lvl.level].ceilingMl) return Reject.AboveCeiling
            if (a > s.lvl.capMl && !setup && st !== State.Paused) return Reject.WrongState
            if (a > LEVELS[s.lvl.level].capMl && cmd.b !== 1) return Reject.OverrideRequired
            return Reject.Ok
        }
        case Op.SetFlow:
            if (!argsOk(cmd, 1)) return Reject.BadNumber
            if (a < cfg.flowMinMlPerMin || a > cfg.flowMaxMlPerMin) return Reject.OutOfRange
            // FLOW-2: above what the drive and encoder handle on this syringe
            if (a > s.maxFlowMlPerMin()) return Reject.OutOfRange
            if (st === State.Fault) return Reject.WrongState
            return Reject.Ok
        case Op.SetSyringe:
            if (!isInt(a)) return Reject.BadNumber
            // the custom syringe only once one was set (re-selecting it, or confirming it after a restart)
            if (a < 0 || (a >= SYRINGES.length && !(a === CUSTOM_SYRINGE && s.customSyr))) return Reject.OutOfRange
            if (st !== State.Idle || !still) return Reject.WrongState
            // mid-level only the same size: confirming it after a restart (FAULT-5) or an exchange (FLOW-5)
            if (midLevel(s) && a !== s.syringe) return Reject.MidLevel
            return Reject.Ok
        case Op.SetCustomSyringe: {
            // FLOW-5: a = bore mm, b = nominal volume mL; within what the drive and encoder serve
            if (!argsOk(cmd, 2)) return Reject.BadNumber
            const range = customBoreRangeMm(cfg)
            if (a < range[0] || a > range[1]) return Reject.BoreOutOfRange
            if (cmd.b < CUSTOM_VOLUME_MIN_ML || cmd.b > customVolumeMaxMl(cfg, a)) return Reject.SyringeVolumeOutOfRange
            if (st !== State.Idle || !still) return Reject.WrongState
            // never mid-level (an exchange is syringe_exchanged; a restart's confirm is set_syringe 4)
            if (midLevel(s)) return Reject.MidLevel
            return Reject.Ok
        }
        case Op.MarkMixing: {
            if (!argsOk(cmd, 1)) return Reject.BadNumber
            const age = cmd.b === undefined ? 0 : cmd.b
            if (!finite(age)) return Reject.BadNumber
            if (a < 0 || a > 100) return Reject.OutOfRange
            // an age past the working limit is a fact to record (start is then refused, FLOW-3)
            if (age < 0 || age > MAX_CEMENT_AGE_S) return Reject.OutOfRange
            if (st === State.Injecting) return Reject.WrongState
            return Reject.Ok
        }
        case Op.Tare:
            // PRS-1 / BOARD-3: idle, still, near the factory zero and unloaded
            if (st !== State.Idle || !still) return Reject.WrongState
            if (!s.sensorReady(now)) return Reject.SensorNotReady
            return s.cell.checkTare(cfg.tareMaxOffsetKg, cfg.tareMaxPa, s.syr(), (s.calFlags & CAL_TARE) !== 0)
        case Op.CalibrateGain:
            if (!argsOk(cmd, 1)) return Reject.BadNumber
            if (st !== State.Idle || !still) return Reject.WrongState
            if (a < 0.05 || a > 100) return Reject.OutOfRange
            if ((s.calFlags & CAL_TARE) === 0) return Reject.NotCalibrated
            if (!s.sensorReady(now)) return Reject.SensorNotReady
            return s.cell.checkGain(a, cfg.gainTolerance, settleBandKg(cfg.loadCellNoiseN))
        case Op.CalibrateVolume: {
            if (!isInt(a) || !argsOk(cmd, 2)) return Reject.BadNumber
            if (st !== State.Idle || !still) return Reject.WrongState
            if (midLevel(s)) return Reject.MidLevel // BOARD-3: never mid-level
            if (a < 100 || a > 10000000 || cmd.b <= 0 || cmd.b > 100000) return Reject.OutOfRange
            const k = volumeScaleFor(s, a, cmd.b)
            if (k < 1 - cfg.volumeTolerance || k > 1 + cfg.volumeTolerance) return Reject.Implausible
            return Reject.Ok
        }
        case Op.ClearFault:
            if (st !== State.Fault) return Reject.WrongState
            if (src === Source.Host) return Reject.Ok // held until the local confirm
            if (s.estop || !s.estopPresent) return Reject.EstopActive
            if (!s.encoderPresent || !s.sensorReady(now)) return Reject.ConditionActive
            return Reject.Ok
        case Op.SetRemoteMode:
            if (!isInt(a) || (a !== 0 && a !== 1)) return Reject.BadNumber
            return Reject.Ok
        case Op.SetBenchMode:
            if (!isInt(a) || (a !== 0 && a !== 1)) return Reject.BadNumber
            if (a === 1 && st !== State.Idle) return Reject.WrongState
            return Reject.Ok
        case Op.SetThreshold: {
            if (!isInt(a) || !argsOk(cmd, 2)) return Reject.BadNumber
            if (a < 0 || a >= THRESHOLDS.length) return Reject.OutOfRange
            const sp = THRESHOLDS[a]
            if (sp.integer && !isInt(cmd.b)) return Reject.BadNumber
            if (cmd.b < sp.min || cmd.b > sp.max) return Reject.OutOfRange
            return Reject.Ok
        }
        case Op.OverrideLeakLimit:
            if (s.lvl.level < 0 || s.lvl.ended) return Reject.WrongState
            return Reject.Ok
        case Op.SetIncrement:
            if (!argsOk(cmd, 2) || (cmd.b !== 0 && cmd.b !== 1)) return Reject.BadNumber
            if (a < INCREMENT_MIN_ML || a > INCREMENT_MAX_ML) return Reject.OutOfRange
            // not while cement moves: the running delivery keeps the rule it started with
            if (st === State.Injecting || st === State.Fault) return Reject.WrongState
            return Reject.Ok
        case Op.SyringeExchanged:
            if (!argsOk(cmd, 1)) return Reject.BadNumber
            if (a < 0 || a > s.syr().volumeMl) return Reject.OutOfRange
            if (a !== 0 && a <= SYRINGE_END_MARGIN_ML) return Reject.OutOfRange
            // the drive holds still (decompression done): paused, or between levels
            if (st === State.Injecting || st === State.Fault || !still_(s)) return Reject.WrongState
            return Reject.Ok
        case Op.ResendRecords:
            return Reject.Ok // reads only
        case Op.CalibrationDrive:
            // BOARD-3: bench only (no level in progress), driver idle
            if (!isInt(a)) return Reject.BadNumber
            if (a < 100 || a > 50 * cfg.encoderCountsPerMm) return Reject.OutOfRange
            if (st !== State.Idle || !still || midLevel(s)) return Reject.WrongState
            if (s.estop || !s.estopPresent) return Reject.EstopActive
            if (!s.sensorReady(now)) return Reject.SensorNotReady
            if (!s.encoderPresent || !s.enc.valid) return Reject.EncoderNotReady
            return Reject.Ok
        default:
            return Reject.UnknownCommand
    }
}

export function execute(s: Supervisor, now: number, cmd: Command) {
    const st = s.state
    const a = cmd.a
    const l = s.lvl
    switch (cmd.op) {
        case Op.Pause:
            if (st === State.Injecting) s.pause(now, Reason.OperatorPause)
            else if (s.calDriving) s.stopCalDrive(now, Reason.OperatorPause)
            break
        case Op.LeakSeen:
            if (st === State.Injecting) s.leakPause(now, Reason.LeakSeen)
            else if (st === State.Paused) {
                // a leak seen while paused counts, re-labels the pause and restarts the hold (FAULT-8)
                l.leakPauses++
                s.pauseMs = now
                s.reason = Reason.LeakSeen
                s.persistDue = true
                s.emit(EventKind.Alarm, now, Reason.LeakSeen, Action.Pause, 0)
            }
            break
        case Op.Abort:
            if (st === State.Injecting || st === State.Paused || st === State.Ready) s.endLevel(now, State.Aborted, Reason.OperatorAbort)
            else if (s.calDriving) s.stopCalDrive(now, Reason.OperatorAbort)
            break
        case Op.Finish:
            if (st === State.Injecting || st === State.Paused) s.endLevel(now, State.Completed, Reason.Finished)
            break
        case Op.Disarm:
            if (st === State.Ready) s.enter(now, State.Idle, Reason.Disarmed)
            break
        case Op.Heartbeat:
            s.lastHeartbeatMs = now
            break
        case Op.Arm:
            s.enter(now, State.Ready, Reason.Armed)
            if (s.remainingCementMl() < l.capMl - s.deliveredMl())
                s.emit(EventKind.Alarm, now, Reason.LowCement, Action.Warn, 0) // VOL-4
            break
        case Op.Start:
            s.beginIncrement()
            if (!l.started) {
                l.started = true
                l.startMs = now
            }
            if (s.cementAgeS(now) < s.cfg.doughS) s.emit(EventKind.Alarm, now, Reason.CementEarly, Action.Warn, 0) // FLOW-3
            s.takingUp = s.enc.slackMl > 0
            s.beginAdvance(now)
            s.enter(now, State.Injecting, Reason.Started)
            break
        case Op.Resume:
        case Op.NextIncrement:
            s.beginIncrement()
            s.fs.clear(Clear.OnResume)
            s.resumeSetup(now)
            s.beginAdvance(now)
            s.enter(now, State.Injecting, cmd.op === Op.NextIncrement ? Reason.NextIncrement : Reason.Resumed)
            break
        case Op.SetLevel:
            s.selectLevel(now, a)
            if (st !== State.Idle) s.enter(now, State.Idle, Reason.Disarmed)
            break
        case Op.SetCap:
            if (a > LEVELS[l.level].capMl) {
                l.overrides++
                s.emit(EventKind.Info, now, Reason.CapOverride, a, LEVELS[l.level].capMl)
            }
            l.capMl = a
            s.persistDue = true
            break
        case Op.SetFlow:
            s.flowMlPerMin = a
            s.persistDue = true
            break
        case Op.SetSyringe:
            s.syringe = a
            // a syringe set is a syringe fitted, full: its travel starts here (FLOW-5)
            s.syringeFillMl = s.syr().volumeMl
            s.travelMl = 0
            if (!s.syringeConfirmed) s.emit(EventKind.Info, now, Reason.SyringeConfirmed, a, 0)
            s.syringeConfirmed = true
            s.persistDue = true
            break
        case Op.SetCustomSyringe:
            // FLOW-5: like a preset: fitted now, full; mL per count, Pa per N and the flow limits follow the bore
            s.customSyr = customSyringe(a, cmd.b)
            s.syringe = CUSTOM_SYRINGE
            s.syringeFillMl = cmd.b
            s.travelMl = 0
            if (!s.syringeConfirmed) s.emit(EventKind.Info, now, Reason.SyringeConfirmed, CUSTOM_SYRINGE, 0)
            s.syringeConfirmed = true
            s.persistDue = true
            s.emit(EventKind.Info, now, Reason.CustomSyringe, a, cmd.b)
            break
        case Op.MarkMixing: {
            const ageS = cmd.b === undefined ? 0 : cmd.b
            s.mixedAtMs = now - ageS * 1000
            s.cementMixed = true
            s.book.preparedMl += a
            s.fs.clear(Clear.OnNewLevel)
            s.persistDue = true
            break
        }
        case Op.Tare:
            s.cell.tare(settleBandKg(s.cfg.loadCellNoiseN))
            s.calFlags |= CAL_TARE
            s.persistDue = true
            break
        case Op.CalibrateGain:
            s.cell.setGain(a, settleBandKg(s.cfg.loadCellNoiseN))
            s.calFlags |= CAL_GAIN
            s.persistDue = true
            break
        case Op.CalibrateVolume:
            s.volumeScale = volumeScaleFor(s, a, cmd.b)
            s.calFlags |= CAL_VOLUME
            s.persistDue = true
            break
        case Op.ClearFault:
            s.fs.clear(Clear.OnLocalReset)
            s.drive.mode = Motion.Off
            s.enter(now, State.Idle, Reason.FaultCleared)
            break
        case Op.SetRemoteMode:
            s.remoteMode = a === 1
            s.lastHeartbeatMs = now
            break
        case Op.SetBenchMode:
            s.benchMode = a === 1
            s.emit(EventKind.Info, now, Reason.BenchMode, a, 0)
            break
        case Op.SetThreshold:
            setThreshold(s.cfg, a, cmd.b)
            s.persistDue = true
            s.emit(EventKind.Info, now, Reason.ThresholdChanged, a, cmd.b)
            break
        case Op.CalibrationDrive:
            s.startCalDrive(a)
            break
        case Op.SetIncrement:
            s.incrementMl = a
            s.incrementMode = cmd.b === 1
            if (!s.incrementMode) s.incActive = false
            s.persistDue = true
            s.emit(EventKind.Info, now, Reason.IncrementMode, s.incrementMode ? a : 0, 0)
            break
        case Op.SyringeExchanged:
            s.syringeExchanged(now, a === 0 ? s.syr().volumeMl : a)
            break
        case Op.ResendRecords:
            s.resendRecords(now)
            break
        case Op.OverrideLeakLimit:
            l.leakLimitOverride = true
            l.overrides++
            s.emit(EventKind.Info, now, Reason.LeakLimitOverride, l.leakPauses, 0)
            break
    }
}
