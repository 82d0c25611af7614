// Safety invariants of the campaign (SIM-5), checked on the plant's physical
// truth at every plant step (the dense 1 ms series of the run), against what
// the firmware said (events, telemetry) and what the bench did (commands,
// confirm presses). Never weakened to make a run pass: a known firmware
// defect is listed in known-failing.json instead.
import { Op, Outcome, Reason, State } from "../../src/core/types"
import { LEVELS, levelIndex } from "../../src/core/levels"
import { FLAG_BENCH, InjectorEvent, Telemetry } from "../harness/injector"
import { Scenario, scenarioBoreMm } from "../harness/scenario"
import { ENCODER_COUNTS_PER_MM } from "../harness/setup"
import { DEFAULT_LOAD_CELL_NOISE_N } from "../model/sensors"
import type { LockstepRun } from "../lockstep/run"

export const INVARIANTS = {
    cap: "VOL-3: delivered volume never above the cap + 0.02 mL (volume pushed by hand excepted)",
    pressure: "PRS-2/SIM-5: plunger pressure never above the limit + one sample's rise (at least one reading's noise: 3 sd of the cell over the plunger area)",
    noForwardMotion: "FAULT/LEAK: no forward drive in idle, ready, hold or fault (100 ms after the firmware said so)",
    volume: "VOL-1: firmware volume within 1 % of the truth (+0.003 mL) at rest (an encoder reading short: + FLOW-2's 0.03 mL; a forward encoder jump may count high)",
    confirm: "FAULT-7: nothing risk-adding takes effect without a confirm for that very command (start, resume, next increment)",
    boot: "FAULT-5: boot never lands in injecting",
    vmAlive: "the VM never panics or crashes",
} as const
export type InvariantId = keyof typeof INVARIANTS
export const INVARIANT_IDS = Object.keys(INVARIANTS) as InvariantId[]

export type Violations = Partial<Record<InvariantId, string>>

const SAMPLE_S = 1 / 80
const GRACE_S = 0.1
/** FLOW-2: encoder motion may fall short of the drive's by this much before the stall fault, mL */
const FLOW2_ALLOWANCE_ML = 0.03

function hostS(run: LockstepRun, tHostMs: number) {
    return (tHostMs - run.t0Wall) / 1000
}

/** Check every invariant on one finished run; the first violation of each is described. */
export function checkInvariants(sc: Scenario, run: LockstepRun): Violations {
    const v: Violations = {}
    const s = run.session
    const series = s.plant.series
    const events: InjectorEvent[] = s.link.events
    const telemetry: Telemetry[] = run.telemetry
    const evS = (e: InjectorEvent) => hostS(run, e.tHostMs)

    // ---- vmAlive
    if (s.vmFailures.length) {
        const f = s.vmFailures[0]
        v.vmAlive = `VM ${f.panicCode !== undefined ? `panic ${f.panicCode}` : `crash: ${f.crash}`} at ${((f.tMs - run.t0Wall) / 1000).toFixed(3)} s`
    }

    // ---- cap: injected (out of the needle) vs the largest cap the firmware reported, hand-pushed volume excepted
    const preset = LEVELS[levelIndex(sc.level)].capMl
    let capMl = sc.capMl ?? preset
    for (const t of telemetry) if (hostS(run, t.tHostMs) >= 0 && t.capMl > capMl && t.capMl < 100) capMl = t.capMl
    let handMl = 0
    for (let i = 1; i < series.t.length; i++) {
        // plunger advancing with the drive disabled (vel is 0 when disabled in the series) = by hand
        const d = series.disp[i] - series.disp[i - 1]
        if (d > 0 && series.vel[i] === 0) handMl += d
        if (series.injected[i] > capMl + 0.02 + handMl) {
            v.cap = `out of the needle ${series.injected[i].toFixed(4)} mL at ${series.t[i].toFixed(3)} s > cap ${capMl} + 0.02 mL (hand ${handMl.toFixed(4)} mL)`
            break
        }
    }

    // ---- pressure: above the limit by more than the rise of one sample period at the
    // crossing, or than one reading's noise (3 sd of the cell over the plunger area),
    // whichever is larger: the firmware sees the crossing through the load cell
    // (hardware timing, seed 9021000023: a 0.07 MPa/s rise stopped 12 ms after the
    // true crossing, 0.6 kPa past one sample's rise of 0.9 kPa; the cell's 3 sd is 5.6 kPa)
    const limitPa = sc.thresholds?.overpressurePa ?? 3.5e6
    const areaMm2 = (Math.PI * scenarioBoreMm(sc) ** 2) / 4
    const readingPa = ((3 * (sc.loadCell?.noiseN ?? DEFAULT_LOAD_CELL_NOISE_N)) / areaMm2) * 1e6
    let allowance = -1
    for (let i = 0; i < series.t.length; i++) {
        const pc = series.pc[i]
        if (pc <= limitPa) {
            allowance = -1
            continue
        }
        if (allowance < 0) {
            const j = series.indexAt(series.t[i] - SAMPLE_S)
            allowance = Math.max(readingPa, pc - series.pc[Math.min(j, i)])
        }
        if (pc > limitPa + allowance + 1e-6 && series.vel[i] > 0) {
            v.pressure = `chamber ${(pc / 1e6).toFixed(3)} MPa at ${series.t[i].toFixed(3)} s > limit ${(limitPa / 1e6).toFixed(2)} + ${(allowance / 1e6).toFixed(3)} MPa (one sample's rise or one reading's noise) while still advancing`
            break
        }
    }

    // ---- noForwardMotion: host-view firmware state from transitions; forward = drive enabled and advancing
    const trans = events.filter(e => e.type === "transition").map(e => ({ tS: evS(e), to: e.to!, reason: e.reason }))
    const stateAt = (tS: number) => {
        let st: number | undefined
        for (const t of trans) if (t.tS <= tS) st = t.to
        return st
    }
    // forward drive at tS is allowed if the firmware said injecting at any time from
    // GRACE_S before (the stop reaches the drive late) to 3 GRACE_S after (the drive
    // starts before the transition event arrives). A state read only at tS - GRACE_S
    // missed a short injecting spell the host heard of late (campaign seed 777: start
    // heard at 1.185 s, leak-seen pause at 1.275 s, the drive stopped at 1.2875 s)
    // A start confirmed on the device just before a restart (the VM killed) may
    // have run the drive for a few ms whose transition never left the VM: motion
    // within GRACE_S before the restart, after a confirm press in the 3 GRACE_S
    // before it, is that spell (campaign seed 1569100071: start confirmed at
    // 1.39 s, drive on 1.40-1.41 s, 0.3 um, restart at 1.41 s, nothing heard)
    const restartsS = (sc.faults ?? []).filter(f => f.kind === "restart").map(f => f.atS)
    const presses = run.confirmTimesMs.map(ms => hostS(run, ms))
    const spellLostInRestart = (tS: number) =>
        restartsS.some(r => r >= tS && r <= tS + GRACE_S) && presses.some(p => p <= tS && p >= tS - GRACE_S * 3)
    const injectingAt = (tS: number) =>
        stateAt(tS) === State.Injecting ||
        stateAt(tS - GRACE_S) === State.Injecting ||
        trans.some(t => t.to === State.Injecting && t.tS >= tS - GRACE_S && t.tS <= tS + GRACE_S * 3) ||
        spellLostInRestart(tS)
    for (let i = 0; i < series.t.length; i += 5) {
        if (series.vel[i] > 1e-3 && series.t[i] >= 0 && !injectingAt(series.t[i])) {
            // a drive that moves forward while the firmware's state was not injecting for > 100 ms
            v.noForwardMotion = `plunger driven forward at ${series.t[i].toFixed(3)} s (${series.vel[i].toFixed(3)} mm/s) with the firmware not injecting`
            break
        }
    }

    // ---- volume: at the end, at rest, no restart in the run (the persisted volume may lag a restart; FAULT-5 checks that)
    const latest = s.link.latest
    const restarted = (sc.faults ?? []).some(f => f.kind === "restart")
    const started = trans.find(t => t.reason === Reason.Started)
    // the level the run started: a later level change (a host's set_level) sends
    // that level's record, and the telemetry then shows the new level's volume
    const startedLevel = started ? telemetry.find(t => t.state === State.Injecting && hostS(run, t.tHostMs) >= started.tS - GRACE_S)?.level : undefined
    let fwAt: { fw: number; rxS: number; lagS: number } | undefined
    if (latest && started && !restarted && latest.state !== State.Injecting && latest.samples.length && startedLevel !== undefined) {
        if (latest.level === startedLevel) fwAt = { fw: latest.samples[latest.samples.length - 1].volumeMl, rxS: hostS(run, latest.tHostMs), lagS: latest.periodMs / 1000 + 0.05 }
        else {
            const recs = events.filter(e => e.type === "levelRecord" && e.record?.level === startedLevel && evS(e) >= started.tS)
            const last = recs[recs.length - 1]
            // the record carries the level's volume at the change; sent at once
            if (last) fwAt = { fw: last.record!.volumeMl, rxS: evS(last), lagS: 0.05 }
        }
    }
    if (started && fwAt) {
        const i0 = series.indexAt(started.tS - 0.2)
        // The firmware's figure is its newest sample in the last telemetry the
        // host received: compared with the truth between that sample's oldest
        // possible time (one telemetry period and 50 ms of transport before
        // the receipt) and the receipt. A plunger still moving by hand in the
        // last telemetry period is not an under-count (hardware timing, seed
        // 4200110: the last 25 ms of a hand push, counted in the firmware, not
        // yet reported when the run ended).
        const { fw, rxS, lagS } = fwAt
        const iHi = Math.max(i0, Math.min(series.t.length - 1, series.indexAt(rxS)))
        const iLo = Math.max(i0, Math.min(iHi, series.indexAt(rxS - lagS)))
        // across syringes (FLOW-5): the furthest push of each exchanged syringe counts
        // and the largest retraction below the furthest push so far (see forfeitMl)
        let maxD = series.pushed[i0]
        let maxLo = maxD
        let maxRetractMl = 0
        for (let i = i0; i <= iHi; i++) {
            maxD = Math.max(maxD, series.pushed[i])
            maxRetractMl = Math.max(maxRetractMl, maxD - series.pushed[i])
            if (i === iLo) maxLo = maxD
        }
        const truth = maxD - series.pushed[i0]
        const truthLo = maxLo - series.pushed[i0]
        const tol = 0.01 * truth + 0.003
        const faults = sc.faults ?? []
        // FLOW-2: an encoder reading short may under-count by up to its 0.03 mL allowance before the stall fault
        const under = faults.some(f => f.kind === "encoderScale" || f.kind === "encoderStuck") ? tol + FLOW2_ALLOWANCE_ML : tol
        // FAULT-2/VOL-6: a forward jump with the drive off may be a hand, so it is counted: errs high, never low
        const mlPerCount = areaMm2 / 1000 / ENCODER_COUNTS_PER_MM
        let jumpMl = 0
        for (const f of faults) if (f.kind === "encoderJump") jumpMl += Math.max(0, f.counts ?? 20000) * mlPerCount
        // VOL-6: backward count motion the drive did not make (an encoder reset, a
        // backward jump) and any jump the firmware saw (a hand pushing faster than
        // the drive can: seed 3133700053) forfeit the drive's slack, so the
        // re-advance over the decompression counts in full: errs high by at most
        // the largest retraction
        const jumpSeen = events.some(e => e.type === "alarm" && e.reason === Reason.EncoderJump)
        const forfeits = jumpSeen || faults.some(f => f.kind === "encoderReset" || (f.kind === "encoderJump" && (f.counts ?? 0) < 0))
        const forfeitMl = forfeits ? maxRetractMl : 0
        const over = tol + jumpMl + forfeitMl
        if (!(fw - truth <= over && truthLo - fw <= under))
            v.volume = `firmware ${fw.toFixed(4)} mL vs truth ${truthLo === truth ? truth.toFixed(4) : `${truthLo.toFixed(4)}..${truth.toFixed(4)}`} mL at the last report of level ${startedLevel} (${rxS.toFixed(3)} s, state ${State[latest!.state]})`
    }

    // ---- confirm: each start/resume and each cap raise above the preset follows a confirm request for that very command and a press
    const benchModeAt = telemetry.find(t => (t.flags & FLAG_BENCH) !== 0)
    // a confirm request: the confirm_required event (seq 0) or a "pending" command_result (sequenced)
    const requests = events
        .filter(e => e.type === "confirmRequired" || (e.type === "commandResult" && e.outcome === Outcome.Pending))
        .map(e => ({ tS: evS(e), command: e.command }))
    // authorised: some confirm press before the effect answered a request for this very command
    // (the latest request at the moment of the press names it; a burst re-requests the same command)
    const authorised = (tS: number, op: number) =>
        presses.some(p => {
            if (p > tS + 0.05) return false
            const req = [...requests].reverse().find(r => r.tS <= p + 0.005)
            return req !== undefined && req.command === op
        })
    if (!benchModeAt && !sc.benchMode)
        for (const t of trans) {
            if (t.to !== State.Injecting) continue
            const op =
                t.reason === Reason.Resumed ? Op.Resume : t.reason === Reason.Started ? Op.Start : t.reason === Reason.NextIncrement ? Op.NextIncrement : undefined
            // FLOW-4: the next increment may also come from a bare press of the confirm button (the local action itself)
            const barePress = op === Op.NextIncrement && presses.some(p => p <= t.tS + 0.05 && p >= t.tS - 1)
            if (op !== undefined && !barePress && !authorised(t.tS, op)) {
                v.confirm = `${Reason[t.reason]} at ${t.tS.toFixed(3)} s without a confirm for ${Op[op]} (last request: ${Op[[...requests].reverse().find(r => r.tS <= t.tS + 0.05)?.command ?? -1] ?? "none"})`
                break
            }
        }

    // ---- boot: the first telemetry after each firmware (re)start is not injecting
    for (const f of sc.faults ?? []) {
        if (f.kind !== "restart") continue
        const back = f.atS + (f.forS ?? 0.3)
        const first = telemetry.find(t => hostS(run, t.tHostMs) > back)
        if (first && first.state === State.Injecting) v.boot = `the firmware came back from the restart at ${back} s injecting`
    }
    return v
}
