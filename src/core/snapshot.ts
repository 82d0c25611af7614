// What survives a restart (FAULT-5): everything the limits depend on.
// Plain values; src/persist.ts seals them into the settings store.

import { Reason, State, EventKind } from "./types"
import { THRESHOLDS, getThreshold, setThreshold } from "./config"
import { CUSTOM_SYRINGE, customSyringe, SYRINGES } from "./geometry"
import { LEVELS } from "./levels"
import { CAL_ALL, Supervisor } from "./supervisor"

export interface CalibrationSnapshot {
    tareKg: number
    gain: number
    volumeScale: number
    flags: number
}

/** The level in progress: its volume, state and counters. */
export interface LevelSnapshot {
    level: number
    capMl: number
    deliveredMl: number
    state: State
    /** 1 when the level ended (completed or aborted) */
    ended: number
    pauses: number
    leakPauses: number
    overrides: number
    /** 1 when the leak limit was overridden */
    leakLimitOverride: number
}

/** Setup the limits depend on: syringe, flow, cement clock, thresholds. */
export interface SetupSnapshot {
    syringe: number
    flowMlPerMin: number
    /** cement age when saved, s (-1 when not marked); the device has no clock across a restart */
    cementAgeS: number
    preparedMl: number
    usedMl: number
    /** threshold values in wire-id order */
    thresholds: number[]
    /** FLOW-5: the custom syringe's bore, mm, and nominal volume, mL (0 when none was set) */
    customBoreMm: number
    customVolumeMl: number
}

export interface Snapshot {
    cal: CalibrationSnapshot
    level: LevelSnapshot
    setup: SetupSnapshot
}

export function takeSnapshot(s: Supervisor, tMs: number): Snapshot {
    const th: number[] = []
    for (let i = 0; i < THRESHOLDS.length; ++i) th.push(getThreshold(s.cfg, i))
    const l = s.lvl
    return {
        cal: { tareKg: s.cell.tareKg, gain: s.cell.gain, volumeScale: s.volumeScale, flags: s.calFlags },
        level: {
            level: l.level,
            capMl: l.capMl,
            deliveredMl: s.deliveredMl(),
            state: s.state,
            ended: l.ended ? 1 : 0,
            pauses: l.pauses,
            leakPauses: l.leakPauses,
            overrides: l.overrides,
            leakLimitOverride: l.leakLimitOverride ? 1 : 0,
        },
        setup: {
            syringe: s.syringe,
            flowMlPerMin: s.flowMlPerMin,
            cementAgeS: s.cementAgeS(tMs),
            preparedMl: s.book.preparedMl,
            usedMl: s.usedCementMl(),
            thresholds: th,
            customBoreMm: s.customSyr ? s.customSyr.boreMm : 0,
            customVolumeMl: s.customSyr ? s.customSyr.volumeMl : 0,
        },
    }
}

/**
 * Boot: restore what was saved. A level that was in progress (injecting,
 * paused, or faulted mid-level) comes back as fault(restart) with its
 * delivered volume counted; never injecting. Any saved setup means a
 * restart: the syringe must be confirmed locally before arming.
 *
 * `segmentUnknown` (the board: nothing is written while the drive runs,
 * FAULT-11): a level saved as injecting may have delivered any volume up to
 * its cap since; it comes back at its cap (VOL-7: raising it needs the
 * logged override), never below what may be in the patient (FAULT-5).
 */
export function restoreSnapshot(s: Supervisor, tMs: number, cal: CalibrationSnapshot, lvl: LevelSnapshot, setup: SetupSnapshot, segmentUnknown: boolean = false) {
    if (cal) {
        s.cell.tareKg = cal.tareKg
        s.cell.gain = cal.gain
        s.volumeScale = cal.volumeScale
        s.calFlags = cal.flags & CAL_ALL
    }
    if (setup) {
        if (setup.syringe >= 0 && setup.syringe < SYRINGES.length) s.syringe = setup.syringe
        // FLOW-5: the custom syringe (validated when it was set; the record's checksum guards it since)
        if (setup.customBoreMm > 0) {
            s.customSyr = customSyringe(setup.customBoreMm, setup.customVolumeMl)
            if (setup.syringe === CUSTOM_SYRINGE) s.syringe = CUSTOM_SYRINGE
        }
        s.syringeConfirmed = false
        if (setup.flowMlPerMin >= s.cfg.flowMinMlPerMin && setup.flowMlPerMin <= s.cfg.flowMaxMlPerMin) s.flowMlPerMin = setup.flowMlPerMin
        // a lower bound of the age: the time the device was off is unknown
        if (setup.cementAgeS >= 0) {
            s.mixedAtMs = tMs - setup.cementAgeS * 1000
            s.cementMixed = true
        }
        s.book.preparedMl = setup.preparedMl
        const th = setup.thresholds
        for (let i = 0; i < THRESHOLDS.length && i < th.length; ++i) {
            const sp = THRESHOLDS[i]
            if (th[i] >= sp.min && th[i] <= sp.max) setThreshold(s.cfg, i, th[i])
        }
    }
    s.state = State.Idle
    s.reason = Reason.None
    if (lvl && lvl.level >= 0 && lvl.level < LEVELS.length) {
        const l = s.lvl
        s.selectLevel(tMs, lvl.level)
        // a stored cap never exceeds the level's override ceiling (VOL-2)
        l.capMl = Math.min(lvl.capMl, LEVELS[lvl.level].ceilingMl)
        // FAULT-5 on the board: a segment ran unrecorded; the most it can have given is the cap
        const ml = segmentUnknown && lvl.state === State.Injecting && lvl.ended !== 1 && l.capMl > lvl.deliveredMl ? l.capMl : lvl.deliveredMl
        s.enc.deliveredMl = ml
        s.book.totalsMl[lvl.level] = ml
        if (setup) {
            // cement used in other levels this session
            const other = setup.usedMl - lvl.deliveredMl
            if (other > 0) s.book.carriedMl = other
        }
        s.persisted()
        l.pauses = lvl.pauses
        l.leakPauses = lvl.leakPauses
        l.overrides = lvl.overrides
        l.leakLimitOverride = lvl.leakLimitOverride === 1
        l.started = lvl.deliveredMl > 0 || lvl.state !== State.Idle
        l.ended = lvl.ended === 1 || lvl.state === State.Completed || lvl.state === State.Aborted
        const midLevel = !l.ended && (lvl.state === State.Injecting || lvl.state === State.Paused || lvl.state === State.Fault)
        if (midLevel) {
            s.state = State.Fault
            s.reason = Reason.Restart
            s.emit(EventKind.Transition, tMs, Reason.Restart, State.Idle, State.Fault)
        }
    }
}
