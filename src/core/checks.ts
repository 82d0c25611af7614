// The injector's checks: one table, condition -> action -> clear rule.
// Conditions are pure functions of a CheckView the supervisor fills from its
// sensing modules each step; the failsafe framework (failsafe.ts) latches,
// ranks and clears them. Action ranks: warn < pause < stop < abort < fault.

import { Action, Clear, Reason } from "./types"
import { check, CheckSpec } from "./failsafe"

export const enum Check {
    Estop = 0,
    SensorNaN = 1,
    SensorSaturated = 2,
    SensorStale = 3,
    SensorLow = 4,
    EncoderMissing = 5,
    EncoderJump = 6,
    Stall = 7,
    LeakLimit = 8,
    Cap = 9,
    Overpressure = 10,
    Blockage = 11,
    HostLost = 12,
    LeakSuspected = 13,
    CapWarning = 14,
    CementSetting = 15,
    HandMotion = 16,
}

export const CHECKS: CheckSpec[] = [
    check("estop", Action.Fault, Reason.Estop, Clear.OnLocalReset), // FAULT-3/12
    check("sensorNaN", Action.Fault, Reason.SensorNaN, Clear.OnLocalReset), // FAULT-1
    check("sensorSaturated", Action.Fault, Reason.SensorSaturated, Clear.OnLocalReset), // PRS-5
    check("sensorStale", Action.Fault, Reason.SensorStale, Clear.OnLocalReset), // FAULT-1
    check("sensorLow", Action.Fault, Reason.SensorLow, Clear.OnLocalReset), // PRS-5
    check("encoderMissing", Action.Fault, Reason.EncoderMissing, Clear.OnLocalReset), // FAULT-2
    check("encoderJump", Action.Fault, Reason.EncoderJump, Clear.OnLocalReset), // FAULT-2
    check("stall", Action.Fault, Reason.Stall, Clear.OnLocalReset), // FLOW-2
    check("leakLimit", Action.Abort, Reason.LeakLimit, Clear.OnNewLevel), // LEAK-5
    check("cap", Action.Stop, Reason.CapReached, Clear.OnNewLevel), // VOL-3/6
    check("overpressure", Action.Pause, Reason.Overpressure, Clear.OnResume), // PRS-2
    check("blockage", Action.Pause, Reason.Blockage, Clear.OnResume), // PRS-3
    check("hostLost", Action.Pause, Reason.HostLost, Clear.OnResume), // FAULT-4
    check("leakSuspected", Action.Warn, Reason.LeakSuspected, Clear.OnResume), // PRS-4 (pause if configured)
    check("capWarning", Action.Warn, Reason.CapWarning, Clear.OnNewLevel), // VOL-3
    check("cementSetting", Action.Warn, Reason.CementSetting, Clear.OnNewLevel), // FLOW-3
    check("handMotion", Action.Warn, Reason.HandMotion, Clear.WhenGone), // VOL-6 (the motion is counted)
]

/** What the checks look at: plain values, filled by the supervisor each step. */
export interface CheckView {
    /** a level is in progress or the drive is moving: sensor faults matter */
    watching: boolean
    injecting: boolean
    /** a level is selected and has not ended (started or not) */
    levelOpen: boolean
    estop: boolean
    estopPresent: boolean
    sampleStale: boolean
    sampleNaN: boolean
    sampleSaturated: boolean
    sampleLow: boolean
    encoderMissing: boolean
    encoderJump: boolean
    stall: boolean
    overpressure: boolean
    blockage: boolean
    hostLost: boolean
    leakSuspected: boolean
    leakLimit: boolean
    deliveredMl: number
    /** volume the plunger still makes before a stop takes effect, mL */
    lookaheadMl: number
    capMl: number
    capWarnFraction: number
    cementSetting: boolean
    handMotion: boolean
}

/** Fills `firing` (one entry per CHECKS row) from the view. */
export function conditions(v: CheckView, firing: boolean[]) {
    firing[Check.Estop] = v.estop || (v.watching && !v.estopPresent)
    const sensing = v.watching && !v.sampleStale
    firing[Check.SensorStale] = v.watching && v.sampleStale
    firing[Check.SensorNaN] = sensing && v.sampleNaN
    firing[Check.SensorSaturated] = sensing && v.sampleSaturated
    firing[Check.SensorLow] = sensing && v.sampleLow
    firing[Check.EncoderMissing] = v.watching && v.encoderMissing
    firing[Check.EncoderJump] = v.watching && v.encoderJump
    firing[Check.Stall] = v.stall
    firing[Check.LeakLimit] = v.levelOpen && v.leakLimit
    // VOL-6: the cap is checked in every state while the level is open
    const d = v.deliveredMl
    firing[Check.Cap] = v.levelOpen && d + v.lookaheadMl >= v.capMl
    firing[Check.CapWarning] = v.levelOpen && d >= v.capMl * v.capWarnFraction
    firing[Check.Overpressure] = v.overpressure
    firing[Check.Blockage] = v.blockage
    firing[Check.HostLost] = v.injecting && v.hostLost
    firing[Check.LeakSuspected] = v.injecting && v.leakSuspected
    firing[Check.CementSetting] = v.injecting && v.cementSetting
    firing[Check.HandMotion] = v.handMotion
}
