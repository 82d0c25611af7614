// Shared vocabulary of the control core: states, reasons, ranked actions,
// commands and the values that cross the core's boundary. Plain TypeScript:
// no roles, no I/O, so tests, the simulator and a reader can drive it directly.

/** Injection states (REQUIREMENTS "States"). Numbers are the wire values. */
export enum State {
    Idle = 0,
    Ready = 1,
    Injecting = 2,
    Paused = 3,
    Completed = 4,
    Aborted = 5,
    Fault = 6,
}

/**
 * Why something happened: the reason of a transition or alarm. Wire values
 * are stable (they appear in services/cementinjector.md and host tools).
 */
export enum Reason {
    None = 0,
    // operator actions
    Armed = 1,
    Started = 2,
    OperatorPause = 3,
    LeakSeen = 4,
    Resumed = 5,
    Finished = 6,
    OperatorAbort = 7,
    Disarmed = 8,
    FaultCleared = 9,
    // limits and protocol
    CapReached = 10,
    CapWarning = 11,
    Overpressure = 12,
    Blockage = 13,
    LeakSuspected = 14,
    LeakLimit = 15,
    HostLost = 16,
    CementEarly = 17,
    CementSetting = 18,
    LowCement = 19,
    CapOverride = 30,
    LeakLimitOverride = 31,
    ThresholdChanged = 32,
    BenchMode = 33,
    ConfirmRequired = 34,
    ConfirmExpired = 35,
    Decompressed = 36,
    SlackTaken = 37,
    CalDriveDone = 38,
    CalDriveStopped = 39,
    HandMotion = 40, // VOL-6: the plunger moved while the drive was disabled
    PendingCancelled = 41, // FAULT-8: a safety action cancelled the pending command
    SyringeConfirmed = 42, // FAULT-5: the syringe was confirmed locally after a restart
    EventsDropped = 43, // FAULT-10: events dropped (value = how many)
    IncrementDone = 44, // FLOW-4: paused after one increment, waiting for the operator's next
    SyringeEmpty = 45, // FLOW-5: paused before the plunger's end stop: exchange the syringe
    SyringeExchanged = 46, // FLOW-5: a new syringe confirmed locally, travel re-zeroed (value = its fill, mL)
    IncrementMode = 47, // FLOW-4: increment mode set (value = increment mL, 0 = off)
    RecordsResent = 48, // TEL-4: the kept level records were queued again (value = how many)
    NextIncrement = 49, // FLOW-4: injecting again for the next increment (confirm button or confirmed next_increment)
    CustomSyringe = 50, // FLOW-5: a custom syringe was set (value = bore mm; b = volume mL)
    // latched faults
    SensorStale = 20,
    SensorSaturated = 21,
    SensorNaN = 22,
    EncoderMissing = 23,
    EncoderJump = 24,
    Stall = 25,
    Estop = 26,
    Restart = 27,
    SensorLow = 28, // PRS-5: force implausibly low while advancing (dead or open cell)
}

/** Why a command was refused. Readable by the host (FAULT-6). */
export enum Reject {
    Ok = 0,
    BadNumber = 1, // NaN, infinite, not an integer where one is needed
    OutOfRange = 2,
    UnknownLevel = 3,
    WrongState = 4,
    NotCalibrated = 5,
    HoldNotElapsed = 6,
    AwaitingConfirm = 7, // accepted as pending: press confirm on the device
    CementNotMixed = 8,
    CementTooOld = 9,
    AboveCeiling = 10,
    OverrideRequired = 11,
    EstopActive = 12,
    NotUnloaded = 13,
    SensorNotReady = 14,
    EncoderNotReady = 15,
    NothingToConfirm = 16,
    UnknownCommand = 17,
    ConditionActive = 18, // a fault's condition still holds
    Implausible = 19, // calibration result outside plausible bounds
    CapReached = 20,
    NeedsLocal = 21, // only the local confirm button can do this
    Busy = 22, // FAULT-8: another risk-adding command already waits for the confirm
    SyringeUnconfirmed = 23, // FAULT-5: confirm the syringe locally after a restart
    MidLevel = 24, // BOARD-3: not while a level is in progress
    SyringeEmpty = 25, // FLOW-5: the syringe is at its end of travel: exchange it first
    BoreOutOfRange = 26, // FLOW-5: a custom bore the drive and encoder cannot serve (lo/hi = allowed bore, mm)
    SyringeVolumeOutOfRange = 27, // FLOW-5: a custom syringe volume beyond the drive's stroke (lo/hi = allowed volume, mL)
}

/** What became of a command (wire values of event command_result). */
export enum Outcome {
    Executed = 0,
    Pending = 1, // waits for the local confirm button
    Rejected = 2, // refused; `reject` says why; nothing changed
    Expired = 3, // the confirm was not pressed in time
    Cancelled = 4, // a safety action cleared it before the confirm
}

/**
 * The answer to one command: given at once by command(), and again for
 * each later outcome of a pending command (drainAnswers()). `id` is the
 * host's request id (0 = unsequenced).
 */
export interface Answer {
    id: number
    op: Op
    outcome: Outcome
    reject: Reject
    /** true while it waits for the local confirm button */
    pending: boolean
    /** state after the command */
    state: State
    /** values that matter: the allowed range for OutOfRange / AboveCeiling, remaining hold ms for HoldNotElapsed; NaN otherwise */
    lo: number
    hi: number
    tMs: number
}

/** Ranked actions; the highest active one wins (PX4-style). */
export const enum Action {
    None = 0,
    Warn = 1,
    Pause = 2,
    Stop = 3, // level ends as completed
    Abort = 4, // level ends as aborted
    Fault = 5, // latched until a local reset
}

/** When a latched check may clear. */
export const enum Clear {
    WhenGone = 0, // as soon as its condition is gone
    OnResume = 1, // at the operator's resume
    OnNewLevel = 2, // when a new level is set
    OnLocalReset = 3, // clear-fault confirmed on the device
}

/** Commands; values are the Cement Injector service command codes. */
export enum Op {
    Arm = 0x80,
    Start = 0x81,
    Pause = 0x82,
    LeakSeen = 0x83,
    Resume = 0x84,
    Abort = 0x85,
    Finish = 0x86,
    SetLevel = 0x87,
    SetCap = 0x88,
    SetFlow = 0x89,
    SetSyringe = 0x8a,
    MarkMixing = 0x8b,
    Tare = 0x8c,
    CalibrateGain = 0x8d,
    CalibrateVolume = 0x8e,
    ClearFault = 0x8f,
    Heartbeat = 0x90,
    SetRemoteMode = 0x91,
    SetBenchMode = 0x92,
    SetThreshold = 0x93,
    OverrideLeakLimit = 0x94,
    Disarm = 0x95,
    CalibrationDrive = 0x96,
    SetIncrement = 0x97, // FLOW-4: a = increment mL (0.05-1), b = 1 on / 0 off
    NextIncrement = 0x98, // FLOW-4: deliver the next increment (paused at an increment's end)
    SyringeExchanged = 0x99, // FLOW-5: a new syringe is fitted; a = its fill mL (0 = nominal)
    ResendRecords = 0x9a, // TEL-4: send every kept level record again
    SetCustomSyringe = 0x9b, // FLOW-5: a = bore mm, b = nominal volume mL (a custom syringe, id CUSTOM_SYRINGE)
}

export const enum Source {
    Host = 0,
    Local = 1,
}

export interface Command {
    op: Op
    /**
     * The host's request id (1..2^31-1); 0 or absent = unsequenced (local
     * inputs, old hosts). A repeated id is answered, never executed twice.
     */
    id?: number
    /** first argument (meaning per op; documented in services/cementinjector.md) */
    a?: number
    /** second argument */
    b?: number
}

/** Sensor values handed to one control step. */
export interface Inputs {
    tMs: number
    /** true when this step carries a new load-cell sample */
    newSample: boolean
    /** WeightScale reading in kg (NaN if the sensor reports one) */
    loadCellKg: number
    /**
     * the load cell itself reports saturation (its reading sits at the
     * converter's full scale): PRS-5 uses the sensor's status, not a force
     * threshold that tare could shift
     */
    loadCellSaturated: boolean
    /** latest plunger encoder position, counts */
    encoderCount: number
    /** the encoder role is bound and has reported at least once */
    encoderPresent: boolean
    /** e-stop input is active */
    estop: boolean
    /**
     * the e-stop input is connected (bound and reporting). A missing e-stop
     * blocks any start and, while a level is active, acts as a pressed one.
     */
    estopPresent: boolean
    /** the leak pedal is held down now (read by level, FAULT-12) */
    pedal: boolean
    /** the local confirm button went down since the last step */
    confirmPressed: boolean
}

/** The one motor command, produced by the supervisor only. */
export interface MotorCommand {
    enabled: boolean
    /** Jacdac Motor speed ratio, -1..1; negative retracts */
    speedRatio: number
    /** the same command in mL/min of plunger displacement (signed) */
    flowMlPerMin: number
}

export const enum EventKind {
    Transition = 1, // state changed: a = from, b = to, reason
    Alarm = 2, // a check fired (warn or stronger): reason
    Rejected = 3, // a = op, b = Reject
    ConfirmRequired = 4, // a = op
    Info = 5, // reason, a = value (override logged, threshold changed...)
    LevelRecord = 6, // the per-level record is ready (TEL-3): a = level, b = delivered mL
    Answer = 7, // a deferred answer (pending command executed, rejected, expired, cancelled)
    Increment = 8, // FLOW-4: one increment delivered and at rest: a = index, b = its volume mL
    ResendRecord = 9, // TEL-4: a kept level record to send again: a = its index in LevelBook.records
}

export interface CoreEvent {
    kind: EventKind
    tMs: number
    reason: Reason
    a: number
    b: number
}

/** Per-level record (TEL-3), emitted when a level ends. */
export interface LevelRecord {
    level: number
    capMl: number
    deliveredMl: number
    fillFraction: number
    peakPressurePa: number
    pauses: number
    leakPauses: number
    overrides: number
    startMs: number
    endMs: number
    endState: State
    endReason: Reason
}

/** The values a telemetry sample carries (TEL-1/2), taken at the end of a step. */
export interface Sample {
    tMs: number
    deliveredMl: number
    pressurePa: number
    forceN: number
    flowMlPerMin: number
    speedRatio: number
}

/**
 * Everything one control step hands to the outside. The app and the server
 * only forward it: motor command to the drive, sample to telemetry, events
 * and answers to the host, records to the record store, the snapshot to
 * flash when `persist` is set.
 */
export interface StepOutput {
    motor: MotorCommand
    sample: Sample
    events: CoreEvent[]
    answers: Answer[]
    records: LevelRecord[]
    persist: boolean
}
