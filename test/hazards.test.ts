import * as ds from "@devicescript/core"
import { describe, test } from "@devicescript/test"
// Issue 8's hazards, each reproduced through the public interface (inputs,
// commands, confirm presses) with the safe outcome asserted as a figure.
import { EventKind, levelIndex, Op, Outcome, Reason, Reject, Source, State, SYRINGES } from "../src/core"
import { Rig, sleepTick } from "./lib/rig"
import { atLeast, atMost, eq, figure, near, ok } from "./lib/assert"

/** Injects C2 (3.5 mL cap) until `ml` is counted, then pauses and waits out the hold. */
async function pausedAt(ml: number): Promise<Rig> {
    const r = new Rig()
    await r.startInjecting("C2", 3)
    await r.run(120000, () => r.sup.deliveredMl() >= ml)
    r.cmd(Op.Pause)
    await r.run(3500)
    return r
}

describe("issue 8 hazards", () => {
    test("VOL-6: plunger turned back 2 mL by hand during a hold: the re-advance counts, <= 0.02 mL past a 3.5 mL cap", async () => {
        const r = await pausedAt(3.0)
        r.plant.posMm -= (2.0 * 1000) / r.plant.areaMm2() // a hand on the plunger
        await r.run(200)
        ok(r.countEvents(EventKind.Alarm, Reason.HandMotion) >= 1, "motion with the drive disabled raised an alarm")
        eq(r.cmd(Op.Resume).reject, Reject.Ok, "resume")
        await r.run(120000, () => r.sup.state !== State.Injecting)
        await r.run(3000)
        eq(r.sup.reason, Reason.CapReached, "stopped at the cap")
        const past = r.plant.injectedMl - 3.5
        atMost(past, 0.02, "physically delivered past the 3.5 mL cap, mL (before: +1.97 mL)")
        figure("VOL-6 delivered past 3.5 mL cap, plunger turned back 2 mL in a hold", past, "mL")
    })

    test("VOL-6: a backward count step during a hold earns no credit; the cap holds", async () => {
        const r = await pausedAt(3.0)
        r.countOffset = -8000 // the count steps back 8000 counts (1.9 mL) while nothing moved
        await r.run(500)
        eq(r.cmd(Op.Resume).reject, Reject.Ok, "resume")
        await r.run(60000, () => r.sup.state !== State.Injecting)
        await r.run(3000)
        const past = r.plant.injectedMl - 3.5
        atMost(past, 0.02, "physically past the cap, mL")
        figure("VOL-6 delivered past cap after a backward count step", past, "mL")
    })

    test("VOL-6: forward motion by hand in ready counts, and the cap is checked outside injecting", async () => {
        const r = new Rig()
        await r.startInjecting("C2", 3)
        await r.run(20000)
        r.cmd(Op.Finish)
        await r.run(2000)
        r.cmd(Op.SetLevel, levelIndex("C2")) // continues its total (VOL-7)
        const before = r.sup.deliveredMl()
        r.plant.posMm += (3.0 * 1000) / r.plant.areaMm2() // pushed 3 mL by hand
        await r.run(500)
        near(r.sup.deliveredMl() - before, 3.0, 0.01, "hand-pushed volume counted, mL")
        ok(r.countEvents(EventKind.Alarm, Reason.CapReached) >= 1, "cap alarm outside injecting")
        eq(r.cmd(Op.Arm).reject, Reject.CapReached, "arming refused at the cap")
    })

    test("FAULT-8: a press meant for start never applies a cap override sent meanwhile (Busy)", () => {
        const r = new Rig()
        r.prepare("C2")
        const a = r.cmd(Op.Start, undefined, undefined, Source.Host, 11)
        eq(a.outcome, Outcome.Pending, "start pending")
        const b = r.cmd(Op.SetCap, 3.8, 1, Source.Host, 12)
        eq(b.reject, Reject.Busy, "cap override refused Busy")
        r.confirm()
        r.step(false)
        eq(r.sup.state, State.Injecting, "the press started the injection (before: state stayed ready)")
        near(r.sup.lvl.capMl, 3.5, 1e-9, "cap unchanged (before: 3.8 mL applied)")
    })

    test("FAULT-8: a new leak-seen cancels a pending resume and restarts the minimum hold", async () => {
        const r = await pausedAt(1.0)
        eq(r.cmd(Op.Resume, undefined, undefined, Source.Host, 5).outcome, Outcome.Pending, "resume pending")
        r.cmd(Op.LeakSeen, undefined, undefined, Source.Host, 6)
        eq(r.sup.pendingOp(), 0, "pending cancelled")
        await r.run(1000)
        const again = r.cmd(Op.Resume)
        eq(again.reject, Reject.HoldNotElapsed, "hold restarted by the leak-seen")
        near(again.lo, 2000, 20, "remaining hold, ms")
        figure("FAULT-8 hold remaining 1 s after a leak-seen in a hold", again.lo, "ms")
    })

    test("FAULT-7: mark-mixing, level, syringe and flow changes from a host wait for the confirm", () => {
        const r = new Rig()
        r.prepare("C2")
        r.cmd(Op.Disarm)
        const age = r.sup.cementAgeS(r.tMs)
        ok(r.cmd(Op.MarkMixing, 5, 0, Source.Host).pending, "mark-mixing pending")
        r.cmd(Op.Abort) // a safety action cancels it
        near(r.sup.cementAgeS(r.tMs), age, 0.01, "cement clock not reset without a confirm, s")
        ok(r.cmd(Op.SetLevel, levelIndex("C3"), undefined, Source.Host).pending, "set-level pending")
        r.cmd(Op.Pause)
        ok(r.cmd(Op.SetFlow, 5, undefined, Source.Host).pending, "set-flow pending")
        r.cmd(Op.Pause)
        near(r.sup.flowMlPerMin, 3, 1e-9, "flow unchanged")
        ok(r.cmd(Op.SetSyringe, 2, undefined, Source.Host).pending, "set-syringe pending")
    })

    test("VOL-7: re-selecting a level after its cap continues its total (before: 7 mL into C2)", async () => {
        const r = new Rig()
        await r.startInjecting("C2", 6)
        await r.run(120000, () => r.sup.state !== State.Injecting)
        await r.run(2000)
        eq(r.sup.reason, Reason.CapReached, "cap")
        const recs = r.countEvents(EventKind.LevelRecord, Reason.CapReached)
        r.cmd(Op.SetLevel, levelIndex("C2"))
        atLeast(r.sup.deliveredMl(), 3.48, "total continues, mL")
        eq(r.cmd(Op.Arm).reject, Reject.CapReached, "no second cap's worth")
        r.cmd(Op.SetLevel, levelIndex("C3"))
        ok(r.countEvents(EventKind.LevelRecord, Reason.CapReached) + r.countEvents(EventKind.LevelRecord, Reason.None) > recs, "level change emits the record")
        near(r.plant.injectedMl, 3.5, 0.02, "physically in C2, mL")
        figure("VOL-7 physically in C2 after re-select", r.plant.injectedMl, "mL")
    })

    test("VOL-4: used cement counts every level's delivered volume (before: 0 mL)", async () => {
        const r = new Rig()
        await r.startInjecting("C2", 6) // 10 mL prepared
        await r.run(30000)
        r.cmd(Op.Finish)
        const used = r.sup.usedCementMl()
        near(used, r.sup.deliveredMl(), 1e-9, "used = delivered in C2, mL")
        atLeast(used, 2.5, "used, mL")
        figure("VOL-4 used cement after 30 s at 6 mL/min", used, "mL")
        r.cmd(Op.SetLevel, levelIndex("L1"))
        r.cmd(Op.Arm)
        eq(r.countEvents(EventKind.Alarm, Reason.LowCement), 1, `low cement warned: ${r.sup.remainingCementMl()} mL left < 5 mL cap`)
    })

    test("FLOW-2: an encoder reading 8 % short is caught as a stall before the cap (before: 3.77 mL true vs 3.50 counted)", async () => {
        const r = new Rig()
        await r.startInjecting("C2", 3)
        let n = 0
        while (r.sup.state === State.Injecting && n < 20000) {
            r.countOffset = -Math.floor(0.08 * r.plant.posMm * 1200)
            r.tick()
            if (++n % 10 === 0) await sleepTick()
        }
        eq(r.sup.state, State.Fault, "fault")
        eq(r.sup.reason, Reason.Stall, "stall")
        const unseen = r.plungerMl() - r.sup.deliveredMl()
        atMost(r.plungerMl(), 3.5, "true plunger volume at the trip, mL")
        figure("FLOW-2 true minus counted at trip, 8 % short encoder", unseen, "mL")
        figure("FLOW-2 counted at trip, 8 % short encoder", r.sup.deliveredMl(), "mL")
    })

    test("FLOW-2: an encoder 5 % short is caught too", async () => {
        const r = new Rig()
        await r.startInjecting("L1", 6)
        let n = 0
        while (r.sup.state === State.Injecting && n < 40000) {
            r.countOffset = -Math.floor(0.05 * r.plant.posMm * 1200)
            r.tick()
            if (++n % 10 === 0) await sleepTick()
        }
        eq(r.sup.reason, Reason.Stall, "stall")
        figure("FLOW-2 counted at trip, 5 % short encoder", r.sup.deliveredMl(), "mL")
    })

    test("FAULT-12: an e-stop held at boot blocks arming; a held pedal pauses without an edge", async () => {
        const r = new Rig()
        r.estop = true
        r.prepare("C2")
        eq(r.sup.state, State.Idle, "not armed")
        eq(r.cmd(Op.Arm).reject, Reject.EstopActive, "arm refused with the e-stop held")
        const q = new Rig()
        await q.startInjecting("C2", 3)
        await q.run(1000)
        q.pedal = true // held, its down event lost
        q.tick()
        eq(q.sup.state, State.Paused, "paused by the pedal's level")
        eq(q.sup.reason, Reason.LeakSeen, "leak seen")
        await q.run(3500)
        eq(q.cmd(Op.Resume).reject, Reject.ConditionActive, "no resume while the pedal is held")
        eq(q.sup.lvl.leakPauses, 1, "one leak pause for one press")
    })

    test("BOARD-3: tare with 20 kg on the cell, a 2 kg weight entered as 1 kg, a mid-level volume calibration: all refused", async () => {
        const r = new Rig()
        r.kgOverride = 20
        r.step(true)
        eq(r.cmd(Op.Tare).reject, Reject.Implausible, "20 kg: far from the cell's factory zero")
        r.kgOverride = 0.2 // 2 N on a 20 mL bore = 6.8 kPa: fine; on the 1 mL bore it would be 110 kPa
        r.step(true)
        eq(r.cmd(Op.Tare).reject, Reject.Ok, "near zero and unloaded")
        r.kgOverride = 2
        r.step(true)
        eq(r.cmd(Op.CalibrateGain, 1).reject, Reject.Implausible, "2 kg entered as 1 kg (gain 0.55) refused")
        eq(r.cmd(Op.CalibrateGain, 1.8).reject, Reject.Ok, "the right mass within 10 % of nominal")
        const s = new Rig()
        await s.startInjecting("C2", 3)
        await s.run(2000)
        s.cmd(Op.Pause)
        await s.run(1000)
        s.cmd(Op.Disarm)
        eq(s.cmd(Op.CalibrateVolume, 12000, 2860).reject, Reject.WrongState, "mid-level (paused): refused")
        s.cmd(Op.Abort)
        await s.run(500)
        eq(s.cmd(Op.SetLevel, levelIndex("C3")).reject, Reject.Ok, "new level")
        eq(s.cmd(Op.CalibrateVolume, 12000, 2000).reject, Reject.Implausible, "30 % off the geometry refused")
    })

    test("PRS-5: a saturated cell reported by the sensor faults whatever the tare; a dead cell while advancing faults", async () => {
        const r = new Rig()
        await r.startInjecting("C2", 3)
        await r.run(2000)
        r.saturated = true // the cell's own status; the force itself looks ordinary
        r.tick()
        eq(r.sup.state, State.Fault, "fault")
        eq(r.sup.reason, Reason.SensorSaturated, "saturated")
        const q = new Rig()
        await q.startInjecting("C2", 3)
        await q.run(2000)
        q.kgOverride = 0 // open bridge: reads zero while the plunger advances
        await q.run(2000, () => q.sup.state !== State.Injecting)
        eq(q.sup.reason, Reason.SensorLow, "dead cell faulted")
        eq(q.last.enabled, false, "drive disabled")
    })

    test("PRS-3: with a 1 mL syringe, sensor noise alone never trips the blockage check over 60 s", async () => {
        const r = new Rig()
        r.sup.syringe = 0
        r.plant.boreMm = SYRINGES[0].boreMm
        r.plant.frictionN = SYRINGES[0].frictionN
        r.plant.resistance = 30e6
        r.plant.noiseN = 0.5
        await r.startInjecting("C2", 1)
        await r.run(60000, () => r.sup.state !== State.Injecting)
        eq(r.countEvents(EventKind.Alarm, Reason.Blockage), 0, "no blockage from noise")
    })

    test("PRS-3: a clog during a hold is caught as a blockage after the resume, below 2 MPa (before: PRS-2 at 3.5 MPa)", async () => {
        const r = await pausedAt(1.0)
        r.plant.resistance *= 1000 // the needle clogged during the hold
        r.cmd(Op.Resume)
        let peak = 0
        await r.run(20000, () => {
            if (r.sup.pressurePa() > peak) peak = r.sup.pressurePa()
            return r.sup.state !== State.Injecting
        })
        eq(r.sup.reason, Reason.Blockage, "blockage, not over-pressure")
        atMost(peak, 2e6, "plunger pressure at the trip, Pa")
        figure("PRS-3 peak pressure, clog in a hold", peak / 1e6, "MPa")
    })

    test("FAULT-10: 1000 commands/s for 10 s (valid and not) never stall the control step; queues stay bounded", async () => {
        const r = new Rig()
        await r.startInjecting("L1", 3)
        let id = 1
        let maxAnswers = 0
        let maxEvents = 0
        let worstStepMs = 0
        const ops = [Op.SetFlow, Op.SetCap, Op.Heartbeat, Op.SetThreshold, Op.Start, Op.Tare, 0x70, Op.Resume]
        // 10 s at 80 samples/s = 800 steps; 12-13 commands between two steps = 1000/s
        for (let k = 0; k < 800; ++k) {
            for (let j = 0; j < 12 + (k % 2); ++j) {
                const op = ops[(k + j) % ops.length]
                r.sup.command(r.tMs, { op, a: j % 3 === 0 ? NaN : 99, b: 1, id: j % 4 === 0 ? 0 : id++ }, Source.Host)
            }
            const t0 = ds.millis()
            r.plant.advance(12.5, r.last)
            r.tMs += 12.5
            const out = r.sup.step({
                tMs: r.tMs,
                newSample: true,
                loadCellKg: r.kg(),
                loadCellSaturated: false,
                encoderCount: r.plant.counts(),
                encoderPresent: true,
                estop: false,
                estopPresent: true,
                pedal: false,
                confirmPressed: false,
            })
            const took = ds.millis() - t0
            if (took > worstStepMs) worstStepMs = took
            r.last = { enabled: out.motor.enabled, speedRatio: out.motor.speedRatio, flowMlPerMin: out.motor.flowMlPerMin }
            if (out.answers.length > maxAnswers) maxAnswers = out.answers.length
            if (out.events.length > maxEvents) maxEvents = out.events.length
            if (k % 4 === 0) await sleepTick()
        }
        eq(r.sup.state, State.Injecting, "still injecting after 10 s of flood")
        atMost(maxAnswers, 16, "answers handed out per step")
        atMost(maxEvents, 32, "events handed out per step")
        atLeast(r.sup.desk.dropped, 1, "dropped answers counted")
        figure("FAULT-10 commands sent", id - 1, "sequenced")
        figure("FAULT-10 worst control step under flood (VM, GC stress)", worstStepMs, "ms")
        figure("FAULT-10 answers dropped (counted)", r.sup.desk.dropped, "")
    })
})
