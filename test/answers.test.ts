import * as ds from "@devicescript/core"
import { describe, test } from "@devicescript/test"
// The command contract (services/cementinjector.md "Commands"): every
// sequenced command is answered, a repeated id is answered again and never
// executed twice, and a confirm authorises exactly the command it was shown
// for (FAULT-8).
import { Op, Outcome, Reject, Source, State, Threshold } from "../src/core"
import { Rig, sleepTick } from "./lib/rig"
import { eq, ok } from "./lib/assert"

function host(r: Rig, op: Op, id: number, a?: number, b?: number) {
    const res = r.sup.command(r.tMs, { op, a, b, id }, Source.Host)
    r.step(false)
    return res
}

describe("command contract", () => {
    test("FAULT-8: a leak-seen repeated under the same id pauses once and counts one leak", async () => {
        const r = new Rig()
        await r.startInjecting("C2")
        await r.run(2000)
        const first = host(r, Op.LeakSeen, 41)
        eq(first.outcome, Outcome.Executed, "first leak-seen executed")
        eq(r.sup.state, State.Paused, "paused")
        // the host re-sends (it missed the answer) four times within 150 ms
        for (let i = 0; i < 4; ++i) {
            const again = host(r, Op.LeakSeen, 41)
            eq(again.outcome, Outcome.Executed, "retry answered with the first outcome")
        }
        eq(r.sup.lvl.leakPauses, 1, "one leak pause, not five")
        eq(r.sup.state, State.Paused, "still paused, not aborted at the leak limit")
        // every answer went out (first + 4 retries)
        const ans = r.takeAnswers()
        eq(ans.length, 5, "an answer per copy received")
        for (let i = 0; i < ans.length; ++i) eq(ans[i].id, 41, "answer carries the id")
    })

    test("FAULT-8: a pending start is answered pending, then executed at the press; its retry does not start again", async () => {
        const r = new Rig()
        r.prepare("C2")
        const p = host(r, Op.Start, 7)
        eq(p.outcome, Outcome.Pending, "pending")
        eq(r.sup.state, State.Ready, "not started yet")
        eq(r.sup.confirmPressed(r.tMs), Reject.Ok, "confirm")
        r.step(false)
        eq(r.sup.state, State.Injecting, "started")
        const ans = r.takeAnswers()
        eq(ans.length, 2, "pending + executed")
        eq(ans[1].outcome, Outcome.Executed, "executed at the press")
        eq(ans[1].state, State.Injecting, "answer carries the new state")
        await r.run(500)
        r.cmd(Op.Pause)
        await r.run(3500)
        const again = host(r, Op.Start, 7)
        eq(again.outcome, Outcome.Executed, "retry of id 7 answered, not re-validated")
        eq(r.sup.state, State.Paused, "retry did not resume")
    })

    test("FAULT-8: a second risk-adding command while one is pending is refused Busy, never swapped in", async () => {
        await sleepTick()
        const r = new Rig()
        r.prepare("C2")
        r.cmd(Op.Disarm)
        eq(host(r, Op.Tare, 1).outcome, Outcome.Pending, "tare pending")
        const cap = host(r, Op.SetThreshold, 2, Threshold.MaxLeakPauses, 5)
        eq(cap.reject, Reject.Busy, "loosening refused while tare waits")
        eq(r.sup.pendingOp(), Op.Tare, "tare still the pending one")
        eq(r.sup.confirmPressed(r.tMs), Reject.Ok, "the press")
        eq(r.sup.cfg.maxLeakPauses, 3, "the press did not apply the other command")
    })

    test("FAULT-8: a safety action cancels the pending command and answers it cancelled", async () => {
        const r = new Rig()
        await r.startInjecting("C2")
        await r.run(1000)
        r.cmd(Op.Pause)
        await r.run(3500)
        eq(host(r, Op.Resume, 90).outcome, Outcome.Pending, "resume pending")
        host(r, Op.LeakSeen, 91)
        eq(r.sup.pendingOp(), 0, "leak-seen cancelled the pending resume")
        eq(r.sup.confirmPressed(r.tMs), Reject.NothingToConfirm, "a late press resumes nothing")
        eq(r.sup.state, State.Paused, "still paused")
        const ans = r.takeAnswers()
        let cancelled = false
        for (let i = 0; i < ans.length; ++i) if (ans[i].id === 90 && ans[i].outcome === Outcome.Cancelled) cancelled = true
        ok(cancelled, "resume answered cancelled")
    })

    test("FAULT-6: a rejection is answered with the reason and the allowed range", async () => {
        await sleepTick()
        const r = new Rig()
        r.step(true)
        const a = host(r, Op.SetFlow, 3, 12)
        eq(a.outcome, Outcome.Rejected, "rejected")
        eq(a.reject, Reject.OutOfRange, "out of range")
        eq(a.lo, 0.5, "lower bound")
        eq(a.hi, 6, "upper bound")
        eq(a.state, State.Idle, "state in the answer")
    })

    test("FAULT-10: answers queued for the server are bounded under a flood of commands", async () => {
        const r = new Rig()
        r.step(true)
        for (let i = 1; i <= 500; ++i) {
            r.sup.command(r.tMs, { op: Op.SetFlow, a: 99, id: i }, Source.Host)
            if (i % 25 === 0) await ds.sleep(0) // the VM panics past ~128 k instructions without a yield
        }
        const ans = r.takeAnswers()
        ok(ans.length <= 16, `at most 16 answers held, got ${ans.length}`)
        ok(r.sup.desk.dropped >= 484, `dropped counted (${r.sup.desk.dropped})`)
    })
})
