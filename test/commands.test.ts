import { describe, test } from "@devicescript/test"
import { EventKind, Op, Reason, Reject, Source, State, Supervisor, Threshold, levelIndex } from "../src/core"
import { Rig, sleepTick } from "./lib/rig"
import { eq, near, ok } from "./lib/assert"

/** Everything a rejected command must leave alone. */
function fingerprint(s: Supervisor): string {
    return JSON.stringify([
        s.state,
        s.reason,
        s.lvl.level,
        s.lvl.capMl,
        s.flowMlPerMin,
        s.syringe,
        s.calFlags,
        s.cell.tareKg,
        s.cell.gain,
        s.volumeScale,
        s.mixedAtMs,
        s.book.preparedMl,
        s.benchMode,
        s.remoteMode,
        s.lvl.overrides,
        s.lvl.leakLimitOverride,
        s.cfg,
        s.pendingOp(),
    ])
}

interface Bad {
    op: Op
    a: number
    b: number
    why: Reject
}

function bad(op: Op, a: number, b: number, why: Reject): Bad {
    return { op, a, b, why }
}

describe("FAULT-6/7 commands", () => {
    test("FAULT-6: NaN, negative, huge and unknown arguments are rejected with a reason and change nothing", async () => {
        const r = new Rig()
        r.prepare("C2")
        r.cmd(Op.Disarm)
        const cases: Bad[] = [
            bad(Op.SetLevel, NaN, 0, Reject.BadNumber),
            bad(Op.SetLevel, -1, 0, Reject.UnknownLevel),
            bad(Op.SetLevel, 25, 0, Reject.UnknownLevel),
            bad(Op.SetLevel, 1e9, 0, Reject.UnknownLevel),
            bad(Op.SetLevel, 1.5, 0, Reject.BadNumber),
            bad(Op.SetCap, NaN, 0, Reject.BadNumber),
            bad(Op.SetCap, -2, 0, Reject.OutOfRange),
            bad(Op.SetCap, 0, 0, Reject.OutOfRange),
            bad(Op.SetCap, 1e9, 1, Reject.AboveCeiling),
            bad(Op.SetCap, Infinity, 1, Reject.BadNumber),
            bad(Op.SetFlow, NaN, 0, Reject.BadNumber),
            bad(Op.SetFlow, -3, 0, Reject.OutOfRange),
            bad(Op.SetFlow, 1e9, 0, Reject.OutOfRange),
            bad(Op.SetSyringe, 7, 0, Reject.OutOfRange),
            bad(Op.SetSyringe, -1, 0, Reject.OutOfRange),
            bad(Op.SetSyringe, NaN, 0, Reject.BadNumber),
            bad(Op.MarkMixing, NaN, 0, Reject.BadNumber),
            bad(Op.MarkMixing, -5, 0, Reject.OutOfRange),
            bad(Op.MarkMixing, 1e9, 0, Reject.OutOfRange),
            bad(Op.CalibrateGain, NaN, 0, Reject.BadNumber),
            bad(Op.CalibrateGain, -1, 0, Reject.OutOfRange),
            bad(Op.CalibrateGain, 1e9, 0, Reject.OutOfRange),
            bad(Op.CalibrateGain, 0.2, 0, Reject.Implausible), // 1 kg on the cell called 0.2 kg
            bad(Op.CalibrateVolume, NaN, 1000, Reject.BadNumber),
            bad(Op.CalibrateVolume, 12000, NaN, Reject.BadNumber),
            bad(Op.CalibrateVolume, -12000, 1000, Reject.OutOfRange),
            bad(Op.CalibrateVolume, 12000, 1e9, Reject.OutOfRange),
            bad(Op.CalibrateVolume, 12000, 100, Reject.Implausible),
            bad(Op.SetThreshold, NaN, 1, Reject.BadNumber),
            bad(Op.SetThreshold, 99, 1, Reject.OutOfRange),
            bad(Op.SetThreshold, Threshold.OverpressurePa, NaN, Reject.BadNumber),
            bad(Op.SetThreshold, Threshold.OverpressurePa, -1, Reject.OutOfRange),
            bad(Op.SetThreshold, Threshold.OverpressurePa, 1e12, Reject.OutOfRange),
            bad(Op.SetThreshold, Threshold.RiseSamples, 2.5, Reject.BadNumber),
            bad(Op.SetRemoteMode, 2, 0, Reject.BadNumber),
            bad(Op.SetBenchMode, NaN, 0, Reject.BadNumber),
            bad(Op.Resume, 0, 0, Reject.WrongState), // resume when not paused
            bad(Op.Start, 0, 0, Reject.WrongState), // start when not armed
            bad(Op.ClearFault, 0, 0, Reject.WrongState),
            bad(99, 0, 0, Reject.UnknownCommand),
        ]
        r.kgOverride = 1
        r.step(true)
        for (let i = 0; i < cases.length; ++i) {
            await sleepTick() // the VM panics past ~128 k instructions without a yield
            const c = cases[i]
            const before = fingerprint(r.sup)
            const res = r.sup.command(r.tMs, { op: c.op, a: c.a, b: c.b }, Source.Host)
            eq(res.reject, c.why, `op ${c.op} (${c.a}, ${c.b})`)
            eq(fingerprint(r.sup), before, `op ${c.op} (${c.a}, ${c.b}) changed state`)
            const ev = r.sup.drainEvents()
            ok(ev.length === 1 && ev[0].kind === EventKind.Rejected && ev[0].b === c.why, "one Rejected event with the reason")
        }
    })

    test("FAULT-6: start without calibration is rejected, state unchanged", async () => {
        await sleepTick()
        const r = new Rig()
        r.step(true)
        r.cmd(Op.SetLevel, levelIndex("C3"))
        r.cmd(Op.MarkMixing, 10)
        eq(r.cmd(Op.Arm).reject, Reject.NotCalibrated, "arm without calibration")
        eq(r.sup.state, State.Idle, "still idle")
        eq(r.cmd(Op.Start).reject, Reject.WrongState, "start from idle")
        eq(r.sup.state, State.Idle, "still idle")
    })

    test("FAULT-7: safer commands always act at once; risk-adding ones wait for the local confirm unless bench mode", async () => {
        await sleepTick()
        const r = new Rig()
        r.prepare("C2")
        const res = r.cmd(Op.Start, undefined, undefined, Source.Host)
        ok(res.pending && res.reject === Reject.Ok, "host start pending")
        eq(r.sup.state, State.Ready, "not started before confirm")
        eq(r.countEvents(EventKind.ConfirmRequired, Reason.ConfirmRequired), 1, "confirmRequired event")
        // an unconfirmed command expires
        await r.run(10100)
        eq(r.sup.pendingOp(), 0, "pending expired after 10 s")
        eq(r.sup.confirmPressed(r.tMs), Reject.NothingToConfirm, "late confirm does nothing")
        eq(r.sup.state, State.Ready, "still ready")
        r.cmd(Op.Start, undefined, undefined, Source.Host)
        eq(r.sup.confirmPressed(r.tMs), Reject.Ok, "confirm")
        r.step(false)
        eq(r.sup.state, State.Injecting, "started on confirm")
        await r.run(1000)
        // safer commands from the host act at once
        const p = r.cmd(Op.Pause, undefined, undefined, Source.Host)
        ok(!p.pending && r.sup.state === State.Paused, "host pause immediate")
        const a = r.cmd(Op.Abort, undefined, undefined, Source.Host)
        ok(!a.pending && r.sup.state === State.Aborted, "host abort immediate")
        // bench mode: turning it on needs the local confirm; then host commands act at once
        const q = new Rig()
        q.step(true)
        ok(q.cmd(Op.SetBenchMode, 1, undefined, Source.Host).pending, "bench mode on needs local confirm")
        eq(q.sup.benchMode, false, "not yet")
        q.sup.confirmPressed(q.tMs)
        eq(q.sup.benchMode, true, "bench mode on")
        q.prepare("C2")
        const s = q.cmd(Op.Start, undefined, undefined, Source.Host)
        ok(!s.pending && q.sup.state === State.Injecting, "bench mode: host start immediate")
        // raising a threshold is risk-adding, lowering is not
        const t = new Rig()
        t.step(true)
        ok(!t.cmd(Op.SetThreshold, Threshold.MaxLeakPauses, 2, Source.Host).pending, "fewer leak pauses: immediate")
        ok(t.cmd(Op.SetThreshold, Threshold.MaxLeakPauses, 5, Source.Host).pending, "more leak pauses: confirm")
        eq(t.cmd(Op.Pause, undefined, undefined, Source.Host).pending, false, "a safety action cancels what waits (FAULT-8)")
        eq(t.sup.pendingOp(), 0, "nothing pending")
        ok(t.cmd(Op.SetThreshold, Threshold.MinHoldMs, 1000, Source.Host).pending, "shorter hold: confirm")
        near(t.sup.cfg.minHoldMs, 3000, 0, "hold unchanged")
    })
})

describe("BOARD-3 calibration", () => {
    test("BOARD-3: calibration drive moves a set distance, stops on its own, and feeds calibrate_volume", async () => {
        await sleepTick() // the VM panics past ~128 k instructions without a yield (the previous test runs without one)
        const r = new Rig()
        r.step(true)
        eq(r.cmd(Op.CalibrationDrive, 50).reject, Reject.OutOfRange, "too short")
        eq(r.cmd(Op.CalibrationDrive, NaN).reject, Reject.BadNumber, "NaN")
        ok(r.cmd(Op.CalibrationDrive, 6000, undefined, Source.Host).pending, "motion from a host waits for confirm")
        r.sup.confirmPressed(r.tMs)
        r.step(false)
        ok(r.sup.calDriving, "driving")
        eq(r.sup.state, State.Idle, "stays idle: no level")
        await r.run(200000, () => !r.sup.calDriving)
        eq(r.last.enabled, false, "stopped")
        ok(r.sup.calDriveCounts >= 6000 && r.sup.calDriveCounts < 6000 + 40, `moved ${r.sup.calDriveCounts} counts`)
        r.step(false)
        eq(r.countEvents(EventKind.Info, Reason.CalDriveDone), 1, "done event")
        // 6000 counts = 5 mm of a 19.1 mm bore = 1.4326 mL; the scale says 1.40 g of water
        eq(r.cmd(Op.CalibrateVolume, r.sup.calDriveCounts, 1400).reject, Reject.Ok, "volume calibration")
        near(r.sup.volumeScale, 1.4 / (r.sup.calDriveCounts * 0.000238768), 0.001, "volume scale")
    })

    test("BOARD-3: over-pressure or a pause stops a calibration drive", async () => {
        const r = new Rig()
        r.step(true)
        r.cmd(Op.CalibrationDrive, 60000)
        await r.run(2000)
        ok(r.sup.calDriving, "driving")
        r.cmd(Op.Pause, undefined, undefined, Source.Host)
        eq(r.sup.calDriving, false, "pause stops it")
        const q = new Rig()
        q.step(true)
        q.cmd(Op.CalibrationDrive, 60000)
        await q.run(2000)
        q.plant.resistance *= 1000 // the outlet is blocked
        await q.run(20000, () => !q.sup.calDriving)
        eq(q.sup.calDriving, false, "over-pressure stops it")
        ok(q.countEvents(EventKind.Alarm, Reason.Overpressure) + q.countEvents(EventKind.Alarm, Reason.Blockage) >= 1, "alarm raised")
        ok(q.last.flowMlPerMin <= 0, "no forward command")
    })
})
