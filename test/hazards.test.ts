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

/**
 * VOL-6: paused after 1 mL (the drive's decompression leaves slack), a hand
 * pulls the plunger back `backMl`, then pushes 0.3 mL forward.
 */
async function forfeitCase(backMl: number) {
    const r = await pausedAt(1.0)
    const slack = r.sup.enc.slackMl // the drive's own measured decompression
    atLeast(slack, 0.01, "decompression slack after the pause, mL")
    const area = r.plant.areaMm2()
    const before = r.sup.deliveredMl()
    const pos0 = r.plant.posMm
    const backMm = (backMl * 1000) / area
    await r.run(500, () => {
        r.plant.posMm = Math.max(pos0 - backMm, r.plant.posMm - backMm / 20)
        return false
    })
    const low = r.plant.posMm
    const fwdMm = (0.3 * 1000) / area
    await r.run(1500, () => {
        r.plant.posMm = Math.min(low + fwdMm, r.plant.posMm + fwdMm / 60) // 0.3 mL forward by hand
        return false
    })
    const counted = r.sup.deliveredMl() - before
    const pushedMl = ((r.plant.posMm - low) * area) / 1000
    eq(r.sup.state, State.Paused, "still paused")
    if (backMl < 0.005) near(counted, pushedMl - slack, 0.003, "nudge 0.002 mL: the re-advance takes the slack up first, mL")
    else near(counted, pushedMl, 0.003, "pulled back 0.05 mL: the whole re-advance counts (slack forfeited), mL")
    figure(`VOL-6 counted of a 0.3 mL push after pulling back ${backMl} mL (slack ${Math.round(slack * 1e4) / 1e4} mL)`, counted, "mL")
}

describe("issue 8 hazards", () => {
    test("VOL-6: plunger turned back 2 mL by hand during a hold: the re-advance counts, <= 0.02 mL past a 3.5 mL cap", async () => {
        const r = await pausedAt(3.0)
        // a hand turns the plunger back 2 mL over 2 s (7 mm: a speed the plunger can
        // really move at, so not an encoder jump)
        const backMm = (2.0 * 1000) / r.plant.areaMm2()
        const pos0 = r.plant.posMm
        await r.run(2000, () => {
            r.plant.posMm = Math.max(pos0 - backMm, r.plant.posMm - backMm / 150)
            return false
        })
        ok(r.countEvents(EventKind.Alarm, Reason.HandMotion) >= 1, "motion with the drive disabled raised an alarm")
        eq(r.sup.state, State.Paused, "still paused: a warning, the motion is accounted for")
        await r.run(3000)
        eq(r.cmd(Op.Resume).reject, Reject.Ok, "resume")
        await r.run(120000, () => r.sup.state !== State.Injecting)
        await r.run(3000)
        eq(r.sup.reason, Reason.CapReached, "stopped at the cap")
        const past = r.plant.injectedMl - 3.5
        atMost(past, 0.02, "physically delivered past the 3.5 mL cap, mL (before: +1.97 mL)")
        figure("VOL-6 delivered past 3.5 mL cap, plunger turned back 2 mL in a hold", past, "mL")
    })

    test("VOL-6: a backward count step of 1.9 mL during a hold is an encoder fault and earns no credit; the cap holds", async () => {
        const r = await pausedAt(3.0)
        r.countOffset = -8000 // the count steps back 8000 counts (1.9 mL) in one report while nothing moved
        await r.run(500)
        eq(r.sup.state, State.Fault, "fault")
        eq(r.sup.reason, Reason.EncoderJump, "encoder jump (faster than any plunger moves)")
        r.cmd(Op.ClearFault) // local reset; the count is re-referenced, with no credit
        eq(r.sup.state, State.Idle, "idle after the local reset")
        eq(r.cmd(Op.Arm).reject, Reject.Ok, "the level continues")
        eq(r.cmd(Op.Start).reject, Reject.Ok, "start")
        await r.run(60000, () => r.sup.state !== State.Injecting)
        await r.run(3000)
        eq(r.sup.reason, Reason.CapReached, "stopped at the cap")
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
        eq(r.cmd(Op.Arm).reject, Reject.Ok, "armed: ready")
        const before = r.sup.deliveredMl()
        const slack = r.sup.enc.slackMl // the drive's own measured decompression: re-taken first
        const fwdMm = (3.0 * 1000) / r.plant.areaMm2()
        const pos0 = r.plant.posMm
        await r.run(2000, () => {
            r.plant.posMm = Math.min(pos0 + fwdMm, r.plant.posMm + fwdMm / 150) // pushed 3 mL by hand over ~2 s
            return false
        })
        near(r.sup.deliveredMl() - before, 3.0 - slack, 0.005, "hand-pushed volume counted (less the decompression slack), mL")
        atMost(slack, 0.3 + 0.02, "slack credit, mL")
        ok(r.countEvents(EventKind.Alarm, Reason.CapReached) >= 1, "cap alarm outside injecting")
        ok(r.countEvents(EventKind.Alarm, Reason.HandMotion) >= 1, "hand motion alarm")
        eq(r.sup.state, State.Idle, "disarmed at the cap")
        eq(r.cmd(Op.Arm).reject, Reject.CapReached, "arming refused at the cap")
    })

    test("VOL-6: a hand pulling the plunger back > 0.005 mL in a hold (an exchange nobody declared) forfeits the decompression's slack; a 0.002 mL nudge keeps it", async () => {
        await forfeitCase(0.002)
        await forfeitCase(0.05)
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
        atMost(r.plant.injectedMl, 3.5 + 0.02, "physically in C2 (the decompression pulls back what the chamber stored), mL")
        figure("VOL-7 physically in C2 after re-select", r.plant.injectedMl, "mL")
    })

    test("VOL-4: used cement counts every level's delivered volume (before: 0 mL)", async () => {
        const r = new Rig()
        await r.startInjecting("C2", 6, 6) // 6 mL prepared
        eq(r.countEvents(EventKind.Alarm, Reason.LowCement), 0, "6 mL covers C2's 3.5 mL cap")
        await r.run(30000)
        r.cmd(Op.Finish)
        await r.run(2000) // decompression
        const used = r.sup.usedCementMl()
        near(used, r.sup.deliveredMl(), 1e-9, "used = delivered in C2, mL")
        atLeast(used, 2.5, "used, mL")
        figure("VOL-4 used cement after 30 s at 6 mL/min", used, "mL")
        r.cmd(Op.SetLevel, levelIndex("L1"))
        r.cmd(Op.Arm)
        eq(r.countEvents(EventKind.Alarm, Reason.LowCement), 1, `low cement warned: ${r.sup.remainingCementMl()} mL left < 5 mL cap`)
    })


    test("FLOW-2 (hazard 12): a 1 mL syringe's retraction is capped at the drive's top speed; a leak pause ends in a hold, not fault(stall)", async () => {
        const r = new Rig()
        r.plant.boreMm = SYRINGES[0].boreMm
        r.plant.frictionN = SYRINGES[0].frictionN
        r.step(true)
        eq(r.cmd(Op.SetSyringe, 0).reject, Reject.Ok, "1 mL syringe")
        await r.startInjecting("C2", 3)
        await r.run(5000)
        r.cmd(Op.LeakSeen)
        let fastest = 0
        await r.run(3000, () => {
            if (-r.last.flowMlPerMin > fastest) fastest = -r.last.flowMlPerMin
            return false
        })
        eq(r.sup.state, State.Paused, "paused (before: fault(stall))")
        eq(r.sup.reason, Reason.LeakSeen, "leak seen")
        atMost(fastest, r.sup.maxFlowMlPerMin() + 1e-9, "retraction flow, mL/min (drive top speed on a 1 mL bore)")
        figure("hazard 12: 1 mL retraction flow (30 mL/min asked, drive top speed)", fastest, "mL/min")
    })
})
