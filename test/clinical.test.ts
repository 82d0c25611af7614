import { describe, test } from "@devicescript/test"
import { EventKind, Op, Outcome, Reason, Reject, RECORDS_KEPT, Source, State, SYRINGE_END_MARGIN_ML, levelIndex } from "../src/core"
import { Rig, sleepTick } from "./lib/rig"
import { atLeast, atMost, eq, near, ok, figure } from "./lib/assert"

/** The last event of this kind since index `from` in the rig's log, or null. */
function lastEvent(r: Rig, kind: EventKind, from: number) {
    for (let i = r.events.length - 1; i >= from && i >= 0; --i) if (r.events[i].kind === kind) return r.events[i]
    return null
}

function countKind(r: Rig, kind: EventKind, from: number): number {
    let n = 0
    for (let i = from; i < r.events.length; ++i) if (r.events[i].kind === kind) n++
    return n
}

/** Runs up to 3 s until an increment event beyond the `seen` ones arrives. */
async function runUntilIncrement(r: Rig, from: number, seen: number): Promise<boolean> {
    return await r.run(3000, () => countKind(r, EventKind.Increment, from) > seen)
}

describe("clinical workflow", () => {
    test("FLOW-4: set_increment accepts 0.05-1 mL; bad values are rejected with the range and change nothing", async () => {
        const r = new Rig()
        await sleepTick()
        r.prepare("C2", 3)
        await sleepTick()
        eq(r.sup.incrementMode, false, "increment mode is off by default")
        near(r.sup.incrementMl, 0.2, 1e-9, "default increment, mL")
        const bad = [0.04, 1.01, -0.2, NaN, Infinity, 1e9]
        for (let i = 0; i < bad.length; ++i) {
            const a = r.cmd(Op.SetIncrement, bad[i], 1, Source.Host, 100 + i)
            eq(a.outcome, Outcome.Rejected, `increment ${bad[i]} rejected`)
            ok(a.reject === Reject.OutOfRange || a.reject === Reject.BadNumber, `increment ${bad[i]}: out of range or bad number`)
            if (a.reject === Reject.OutOfRange) {
                near(a.lo, 0.05, 1e-9, "allowed range low, mL")
                near(a.hi, 1, 1e-9, "allowed range high, mL")
            }
        }
        eq(r.cmd(Op.SetIncrement, 0.2, 2, Source.Host, 120).reject, Reject.BadNumber, "on must be 0 or 1")
        eq(r.sup.incrementMode, false, "mode unchanged after the rejections")
        near(r.sup.incrementMl, 0.2, 1e-9, "increment unchanged after the rejections")
        // on (safer than continuous): no confirm needed, even from the host
        const on = r.cmd(Op.SetIncrement, 0.1, 1, Source.Host, 130)
        eq(on.outcome, Outcome.Executed, "increments on from the host: executed")
        eq(r.sup.incrementMode, true, "mode on")
        near(r.sup.incrementMl, 0.1, 1e-9, "increment 0.1 mL")
        // a larger increment or off adds risk: pending until the local confirm (FAULT-7)
        const up = r.cmd(Op.SetIncrement, 0.5, 1, Source.Host, 131)
        eq(up.outcome, Outcome.Pending, "a larger increment waits for the confirm")
        near(r.sup.incrementMl, 0.1, 1e-9, "increment unchanged while pending")
        r.confirmNext = true
        r.step(true)
        near(r.sup.incrementMl, 0.5, 1e-9, "larger increment after the confirm")
        const off = r.cmd(Op.SetIncrement, 0.5, 0, Source.Host, 132)
        eq(off.outcome, Outcome.Pending, "off (continuous) waits for the confirm")
        eq(r.sup.incrementMode, true, "still on while pending")
        r.cmd(Op.Start)
        eq(r.cmd(Op.SetIncrement, 0.2, 1, Source.Host, 133).reject, Reject.WrongState, "not while injecting")
    })

    test("FLOW-4: 10 increments of 0.2 mL: each stops, decompresses and holds until the confirm button; volume per increment and afterflow", async () => {
        const r = new Rig()
        await sleepTick()
        r.prepare("L1", 3)
        await sleepTick()
        r.cmd(Op.SetIncrement, 0.2, 1)
        const from = r.events.length
        let sumErr = 0
        let maxErr = 0
        let sumSetErr = 0
        let maxSetErr = 0
        let maxAfter = 0
        let sumAfter = 0
        for (let i = 1; i <= 10; ++i) {
            const trueStart = r.plant.injectedMl
            const seen = countKind(r, EventKind.Increment, from)
            if (i === 1) eq(r.cmd(Op.Start).outcome, Outcome.Executed, "start: the first increment")
            else {
                r.confirmNext = true // the local confirm button asks for the next one
                r.tick()
            }
            eq(r.sup.state, State.Injecting, `increment ${i} delivering`)
            ok(await r.run(10000, () => r.sup.state !== State.Injecting), `increment ${i} stops`)
            eq(r.sup.state, State.Paused, `increment ${i}: paused`)
            eq(r.sup.reason, Reason.IncrementDone, `increment ${i}: reason increment_done`)
            eq(r.last.enabled, false, `increment ${i}: the driver is disabled at the stop`)
            const atStop = r.plant.injectedMl
            ok(await runUntilIncrement(r, from, seen), `increment ${i}: its event at rest`)
            // the operator looks at the image for 1.5 s
            await r.run(1500)
            eq(r.sup.state, State.Paused, `increment ${i}: holds until asked`)
            const ev = lastEvent(r, EventKind.Increment, from)
            eq(ev.a, i, "increment index")
            const trueMl = r.plant.injectedMl - trueStart
            const after = r.plant.injectedMl - atStop
            const err = Math.abs(ev.b - trueMl)
            const setErr = Math.abs(ev.b - 0.2)
            sumErr += err
            sumSetErr += setErr
            sumAfter += after
            if (err > maxErr) maxErr = err
            if (setErr > maxSetErr) maxSetErr = setErr
            if (after > maxAfter) maxAfter = after
        }
        eq(countKind(r, EventKind.Increment, from), 10, "10 increment events")
        eq(r.countEvents(EventKind.Info, Reason.Decompressed), 10, "each stop decompressed")
        eq(r.sup.lvl.pauses, 0, "increment stops are not counted as pauses")
        near(r.sup.deliveredMl(), 2.0, 0.05, "level total after 10 x 0.2 mL")
        atMost(maxSetErr, 0.01, "device increment volume vs the set 0.2 mL, max")
        atMost(maxErr, 0.03, "device increment volume vs the plant's true volume, max")
        atMost(maxAfter, 0.03, "afterflow per stop, max")
        figure("FLOW-4 10 x 0.2 mL: device increment vs set 0.2 mL, mean error", sumSetErr / 10, "mL")
        figure("FLOW-4 10 x 0.2 mL: device increment vs set 0.2 mL, max error", maxSetErr, "mL")
        figure("FLOW-4 10 x 0.2 mL: device increment vs plant true volume, mean error", sumErr / 10, "mL")
        figure("FLOW-4 10 x 0.2 mL: device increment vs plant true volume, max error", maxErr, "mL")
        figure("FLOW-4 afterflow per stop (stop to the end of the 1.5 s hold), mean", sumAfter / 10, "mL")
        figure("FLOW-4 afterflow per stop, max", maxAfter, "mL")
    })

    test("FLOW-4: a host next_increment waits for the local confirm; not before the decompression ends; the cap still ends the level", async () => {
        const r = new Rig()
        await sleepTick()
        r.prepare("C2", 3)
        await sleepTick()
        r.cmd(Op.SetCap, 0.5)
        r.cmd(Op.SetIncrement, 0.3, 1)
        r.cmd(Op.Start)
        ok(await r.run(15000, () => r.sup.state !== State.Injecting), "first increment stops")
        eq(r.sup.reason, Reason.IncrementDone, "increment_done")
        eq(r.cmd(Op.NextIncrement, undefined, undefined, Source.Host, 7).reject, Reject.HoldNotElapsed, "not while decompressing")
        ok(await r.run(3000, () => r.sup.drive.mode === 3), "decompression done")
        const a = r.cmd(Op.NextIncrement, undefined, undefined, Source.Host, 8)
        eq(a.outcome, Outcome.Pending, "host next_increment waits for the local confirm")
        eq(r.sup.state, State.Paused, "still paused while pending")
        r.confirmNext = true
        r.step(true)
        eq(r.sup.state, State.Injecting, "the confirm runs it")
        ok(await r.run(15000, () => r.sup.state !== State.Injecting), "second increment stops")
        eq(r.sup.state, State.Completed, "the cap (0.5 mL) inside the second increment ends the level")
        eq(r.sup.reason, Reason.CapReached, "cap reached")
        atMost(r.sup.deliveredMl(), 0.5, "never above the cap, mL")
        ok(await r.run(3000, () => countKind(r, EventKind.Increment, 0) === 2), "the cut-short increment is logged too")
        const ev = lastEvent(r, EventKind.Increment, 0)
        near(ev.b, 0.5 - 0.3, 0.02, "second increment's volume, mL")
        eq(r.cmd(Op.NextIncrement, undefined, undefined, Source.Local).reject, Reject.WrongState, "no next increment after the level ended")
    })

    test("FLOW-5: the drive stops before the end stop, paused(syringe empty); exchange confirmed locally; the level continues with its volume and cap intact", async () => {
        const r = new Rig()
        r.plant.boreMm = 8.66 // 3 mL syringe
        r.step(true)
        eq(r.cmd(Op.SetSyringe, 1).reject, Reject.Ok, "3 mL syringe")
        await sleepTick()
        r.prepare("C2", 3)
        await sleepTick()
        r.cmd(Op.SetCap, 1.6)
        // this syringe holds 1.0 mL: declared at the device (idle, drive still)
        eq(r.cmd(Op.SyringeExchanged, 1.0).reject, Reject.Ok, "fill 1.0 mL declared")
        const startMm = r.plant.posMm
        r.plant.endMm = startMm + (1.0 * 1000) / r.plant.areaMm2()
        eq(r.cmd(Op.SyringeExchanged, 3.5, undefined, Source.Host, 40).reject, Reject.OutOfRange, "a fill above the syringe's volume")
        r.cmd(Op.Start)
        ok(await r.run(40000, () => r.sup.state !== State.Injecting), "stops")
        eq(r.sup.state, State.Paused, "paused")
        eq(r.sup.reason, Reason.SyringeEmpty, "reason syringe_empty")
        await r.run(3500)
        eq(r.plant.hitEnd, false, "the plunger never reached the end stop")
        const leftMl = ((r.plant.endMm - r.plant.posMm) * r.plant.areaMm2()) / 1000
        atLeast(leftMl, SYRINGE_END_MARGIN_ML * 0.5, "plunger volume left before the end stop at rest, mL")
        const before = r.sup.deliveredMl()
        const trueBefore = r.plant.injectedMl
        eq(r.cmd(Op.Resume).reject, Reject.SyringeEmpty, "resume refused until the exchange")
        // the exchange: the pusher is pulled back by hand, a new full syringe fitted
        r.plant.exchange(1.0, r.plant.posMm - startMm)
        await r.run(500)
        eq(r.sup.state, State.Paused, "no fault from the pusher pulled back")
        eq(r.countEvents(EventKind.Alarm, Reason.EncoderJump), 0, "no encoder-jump alarm")
        near(r.sup.deliveredMl(), before, 1e-9, "delivered volume unchanged by the exchange")
        // FAULT-7: the host's exchange waits for the local confirm, even in bench mode
        const a = r.cmd(Op.SyringeExchanged, 0, undefined, Source.Host, 41)
        eq(a.outcome, Outcome.Pending, "host syringe_exchanged waits for the local confirm")
        r.confirmNext = true
        r.step(true)
        eq(r.sup.exchangeDue, false, "exchange confirmed")
        near(r.sup.syringeLeftMl(), 3, 1e-9, "travel re-zeroed: a full 3 mL syringe (fill 0 = nominal)")
        near(r.sup.deliveredMl(), before, 1e-9, "delivered volume intact after the confirm")
        // the confirmed full syringe is really 1.0 mL here: declare it locally
        eq(r.cmd(Op.SyringeExchanged, 1.0).reject, Reject.Ok, "fill 1.0 mL")
        eq(r.cmd(Op.Resume).outcome, Outcome.Executed, "resume")
        ok(await r.run(40000, () => r.sup.state !== State.Injecting), "ends")
        eq(r.sup.state, State.Completed, "completed")
        eq(r.sup.reason, Reason.CapReached, "at the level's cap: the cap counted both syringes")
        await r.run(3000)
        const after = r.sup.deliveredMl()
        atMost(after, 1.6, "level total within the cap, mL")
        near(after, 1.6, 0.02, "level total at the cap, mL")
        // VOL-6: the new syringe's first advance counted in full (no slack credit carried
        // over: a carried credit would let up to the old decompression's volume go
        // uncounted, i.e. the device would read below the truth). What the old syringe's
        // decompression pulled back stays counted (delivered only grows), like the
        // final decompression: the device may read above the truth by those two, never below.
        const trueMl = r.plant.injectedMl
        atLeast(after - trueMl, -0.01, "device total minus plant true volume out of the needle (never under), mL")
        atMost(after - trueMl, 0.08, "device total minus plant truth (both decompressions, ~0.03 mL each), mL")
        figure("FLOW-5 exchange: delivered before the exchange (device)", before, "mL")
        figure("FLOW-5 exchange: delivered before the exchange (plant truth)", trueBefore, "mL")
        figure("FLOW-5 exchange: delivered after the exchange (device, end of level)", after, "mL")
        figure("FLOW-5 exchange: delivered after the exchange (plant truth)", trueMl, "mL")
        figure("FLOW-5 exchange: device minus plant truth at the end", after - trueMl, "mL")
        figure("FLOW-5 plunger volume left before the end stop at the stop", leftMl, "mL")
    })

    test("TEL-4: resend_records queues every kept record again (the last 16, oldest first), always accepted", async () => {
        const r = new Rig()
        await sleepTick()
        r.prepare("C2", 3)
        await sleepTick()
        r.cmd(Op.Abort)
        for (let i = 0; i < 17; ++i) {
            r.cmd(Op.SetLevel, levelIndex("C3") + i)
            r.cmd(Op.Arm)
            r.cmd(Op.Abort)
            if (i % 4 === 0) await sleepTick()
        }
        eq(r.sup.book.records.length, RECORDS_KEPT, "16 records kept of 18")
        eq(r.sup.book.records[0].level, levelIndex("C3") + 1, "the oldest two dropped")
        const from = r.events.length
        const a = r.cmd(Op.ResendRecords, undefined, undefined, Source.Host, 77)
        eq(a.outcome, Outcome.Executed, "executed without a confirm")
        eq(countKind(r, EventKind.ResendRecord, from), RECORDS_KEPT, "one event per kept record")
        let k = 0
        for (let i = from; i < r.events.length; ++i)
            if (r.events[i].kind === EventKind.ResendRecord) {
                eq(r.events[i].a, k, "oldest first")
                k++
            }
        eq(r.sup.book.records.length, RECORDS_KEPT, "resending keeps the records")
    })
})
