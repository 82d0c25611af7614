// The one virtual clock of a lockstep run (SIM-4). This module owns time:
// it replaces Date, performance.now, setTimeout/setInterval (and clear*) with
// @sinonjs/fake-timers, and it is the only code that advances them. The
// firmware VM (em_time_now hook), jacdac-ts, the plant, the transport model
// and the scenario runner all read and schedule on this clock.
//
// Driving is discrete-event: fire the earliest due timer, then let every
// promise chain it started run to quiescence (real setImmediate, which stays
// unfaked, as do process.nextTick and queueMicrotask), repeat. Timers fire in
// (due time, creation order): the same inputs give the same run.
//
// Import this module before jacdac-ts or anything that captures the timer
// globals at load time. Importing it into a process is a commitment: that
// process then runs on virtual time (the realtime bench lives in other
// processes).
import FakeTimers from "@sinonjs/fake-timers"
import { Rng } from "../model/rng"

/** Virtual epoch of every run (a fixed date, so dates in results are stable). */
export const EPOCH_MS = Date.UTC(2026, 0, 1)

const realSetImmediate = globalThis.setImmediate
const realHrtime = process.hrtime.bigint
const realMathRandom = Math.random

const clock = FakeTimers.install({
    now: EPOCH_MS,
    toFake: ["setTimeout", "clearTimeout", "setInterval", "clearInterval", "Date", "performance"],
    shouldClearNativeTimers: false,
    loopLimit: 1e9,
})

/** Real monotonic milliseconds (to measure the wall cost of a run; never part of a result). */
export const wallMs = (): number => Number(realHrtime()) / 1e6

/** Virtual milliseconds since the epoch of this run. */
export const virtualMs = (): number => clock.now - EPOCH_MS

export interface DriveStats {
    /** timers fired */
    events: number
    virtualMs: number
    wallMs: number
}

function settle(): Promise<void> {
    return new Promise(r => realSetImmediate(r))
}

let driving = false

/**
 * Run `job` to completion in virtual time: timers fire in order, as fast as
 * the CPU allows, until the job's promise settles. Throws on a deadlock
 * (nothing scheduled and the job not done) and when called re-entrantly.
 */
export async function runVirtual<T>(job: () => Promise<T>, o: { wallLimitMs?: number } = {}): Promise<{ value: T; stats: DriveStats }> {
    const wallLimitMs = o.wallLimitMs ?? 600_000
    if (driving) throw new Error("runVirtual: already driving the clock (one run at a time per process)")
    driving = true
    const v0 = clock.now
    const w0 = wallMs()
    let events = 0
    let finished = false
    let value: T | undefined
    let error: unknown
    let failed = false
    try {
        const p = job().then(
            v => {
                value = v
                finished = true
            },
            e => {
                error = e
                failed = true
                finished = true
            }
        )
        await settle()
        while (!finished) {
            // countTimers()/next() are public fake-timers API: next() fires the earliest timer
            if (clock.countTimers() === 0) throw new Error(`virtual time deadlock at +${clock.now - v0} ms: nothing scheduled and the job is not done`)
            clock.next()
            events++
            if ((events & 1023) === 0 && wallMs() - w0 > wallLimitMs)
                throw new Error(`runVirtual: over the wall-clock limit (${wallLimitMs} ms) at +${clock.now - v0} virtual ms`)
            await settle()
        }
        await p
    } finally {
        driving = false
    }
    if (failed) throw error
    return { value: value as T, stats: { events, virtualMs: clock.now - v0, wallMs: wallMs() - w0 } }
}

/**
 * A fresh world: drop every pending timer, rewind the clock to the epoch and
 * seed Math.random (jacdac-ts draws from it) from the run's seed. After this
 * a run depends only on (firmware, scenario, seed).
 */
export function resetWorld(seed: number) {
    if (driving) throw new Error("resetWorld while the clock is being driven")
    clock.reset()
    const rng = new Rng(seed ^ 0x6a09e667)
    Math.random = () => rng.next()
}

/** Math.random back to the real one (end of a lockstep process's work). */
export function restoreRandom() {
    Math.random = realMathRandom
}

/** Sleep on the virtual clock. */
export const sleepMs = (ms: number) => new Promise<void>(r => setTimeout(r, ms))
