// The session's level book (VOL-4, VOL-7, TEL-3, TEL-4): every level's
// total for the whole session, the cement prepared and used, the count of
// levels, and the records of the last RECORDS_KEPT level ends. No I/O.

import { LEVELS } from "./levels"
import { LevelRecord, Reason, State } from "./types"

export const RECORDS_KEPT = 16

export class LevelBook {
    /** VOL-7: delivered mL per level id over the session */
    totalsMl: number[] = []
    /** VOL-4 cement prepared (sum of mark-mixing volumes), mL */
    preparedMl = 0
    /** cement used before a restart in levels other than the restored one, mL */
    carriedMl = 0
    /** levels that received cement or ended this session */
    levelsDone = 0
    /** TEL-4: the last RECORDS_KEPT records, oldest first */
    records: LevelRecord[] = []

    constructor() {
        for (let i = 0; i < LEVELS.length; ++i) this.totalsMl.push(0)
    }

    /** VOL-4: cement used = the sum of every level's delivered volume this session. */
    usedMl(): number {
        let s = this.carriedMl
        for (let i = 0; i < this.totalsMl.length; ++i) s += this.totalsMl[i]
        return s
    }

    remainingMl(): number {
        return this.preparedMl - this.usedMl()
    }

    keep(r: LevelRecord) {
        this.records.push(r)
        if (this.records.length > RECORDS_KEPT) this.records.shift()
    }
}

/** The level in progress: its counters, for the record and the snapshot. */
export class LevelState {
    level = -1
    capMl = 0
    started = false
    ended = false
    pauses = 0
    leakPauses = 0
    overrides = 0
    leakLimitOverride = false
    peakPressurePa = 0
    startMs = 0

    reset(level: number, capMl: number) {
        this.level = level
        this.capMl = capMl
        this.started = false
        this.ended = false
        this.pauses = 0
        this.leakPauses = 0
        this.overrides = 0
        this.leakLimitOverride = false
        this.peakPressurePa = 0
        this.startMs = 0
    }

    open(): boolean {
        return this.level >= 0 && !this.ended
    }

    record(deliveredMl: number, tMs: number, endState: State, endReason: Reason): LevelRecord {
        const body = this.level >= 0 ? LEVELS[this.level].bodyMl : 0
        return {
            level: this.level,
            capMl: this.capMl,
            deliveredMl,
            fillFraction: body > 0 ? deliveredMl / body : NaN,
            peakPressurePa: this.peakPressurePa,
            pauses: this.pauses,
            leakPauses: this.leakPauses,
            overrides: this.overrides,
            startMs: this.startMs,
            endMs: tMs,
            endState,
            endReason,
        }
    }
}
