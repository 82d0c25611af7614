import { describe, test } from "@devicescript/test"
import { EventKind, Motion, Op, Reason, Reject, Source, State, Threshold } from "../src/core"
import { Rig, SAMPLE_MS } from "./lib/rig"
import { atMost, eq, near, ok, figure, atLeast } from "./lib/assert"

/** Pauses with `op`, returns what happened around it. */
async function pauseWith(r: Rig, op: Op, src: Source) {
    const prePauseForceN = r.sup.forceN()
    const injectedAtTrigger = r.plant.injectedMl
    const res = r.cmd(op, undefined, undefined, src)
    return { prePauseForceN, injectedAtTrigger, res }
}

describe("LEAK pause and resume", () => {
    test("LEAK-1: leak seen (local or host), operator pause and over-pressure all pause, with their reasons", async () => {
        const cases = [Op.LeakSeen, Op.LeakSeen, Op.Pause]
        const srcs = [Source.Local, Source.Host, Source.Host]
        const reasons = [Reason.LeakSeen, Reason.LeakSeen, Reason.OperatorPause]
        for (let i = 0; i < cases.length; ++i) {
            const r = new Rig()
            await r.startInjecting("C2", 3)
            await r.run(2000)
            const res = r.sup.command(r.tMs, { op: cases[i] }, srcs[i])
            eq(res.pending, false, "safer commands never wait for confirm")
            eq(r.sup.state, State.Paused, `paused by op ${cases[i]}`)
            eq(r.sup.reason, reasons[i], "reason")
        }
    })

    test("LEAK-2: forward motion stops in the same step, retracts until force < 10 % of pre-pause, afterflow <= 0.05 mL", async () => {
        const r = new Rig()
        await r.startInjecting("C2", 3)
        await r.run(8000)
        const p = await pauseWith(r, Op.LeakSeen, Source.Local)
        // FAULT-11: the trigger step disables the driver (the shortest path); the retraction follows
        eq(r.last.enabled, false, "driver disabled in the step of the trigger (0 control steps)")
        figure("LEAK-2 control steps from leak-seen to motor stop", 0, "steps")
        const t0 = r.tMs
        await r.run(100, () => r.last.enabled && r.last.flowMlPerMin < 0)
        atMost(r.tMs - t0, 40, "retracting after the brake, ms")
        let retractMs = 0
        await r.run(3000, () => {
            if (r.sup.drive.mode === Motion.Retract) retractMs += SAMPLE_MS
            return r.sup.drive.mode === Motion.Hold
        })
        eq(r.sup.drive.mode, Motion.Hold, "holding after decompression")
        eq(r.last.enabled, false, "driver disabled while holding")
        atMost(r.sup.forceN(), 0.1 * p.prePauseForceN, "force after retraction vs 10 % of pre-pause")
        await r.run(3000)
        const afterflow = r.plant.injectedMl - p.injectedAtTrigger
        atMost(afterflow, 0.05, "afterflow after the trigger, mL")
        figure("LEAK-2 afterflow after leak seen (core rig, 3 mL/min)", afterflow, "mL")
        figure("LEAK-2 retraction time", retractMs, "ms")
    })

    test("LEAK-3: resume only after the 3 s hold, with confirm from a host; slack taken up before counting; ramped", async () => {
        const r = new Rig()
        await r.startInjecting("C2", 3)
        await r.run(6000)
        r.cmd(Op.LeakSeen)
        const pausedMl = r.sup.deliveredMl()
        await r.run(1500)
        eq(r.cmd(Op.Resume).reject, Reject.HoldNotElapsed, "resume at 1.5 s")
        eq(r.sup.state, State.Paused, "still paused")
        await r.run(1600)
        const res = r.cmd(Op.Resume, undefined, undefined, Source.Host)
        ok(res.pending, "host resume waits for the local confirm (FAULT-7)")
        eq(r.sup.state, State.Paused, "not resumed before confirm")
        eq(r.sup.confirmPressed(r.tMs), Reject.Ok, "confirm pressed")
        r.step(false)
        eq(r.sup.state, State.Injecting, "resumed")
        atMost(r.last.flowMlPerMin, 0.001, "ramp starts from zero")
        let firstFlow = -1
        let slackMs = -1
        const t0 = r.tMs
        await r.run(3000, () => {
            if (firstFlow < 0 && r.last.flowMlPerMin > 0) firstFlow = r.last.flowMlPerMin
            if (slackMs < 0 && r.countEvents(EventKind.Info, Reason.SlackTaken) > 0) slackMs = r.tMs - t0
            if (slackMs < 0) near(r.sup.deliveredMl(), pausedMl, 1e-9, "no delivery counted while taking up slack")
            return false
        })
        atMost(firstFlow, (6 * SAMPLE_MS) / 1000 + 1e-9, "first ramp step, mL/min")
        ok(slackMs > 0, "slack taken up")
        near(r.last.flowMlPerMin, 3, 0.15, "back at set flow (within the flow trim)")
        atLeast(r.sup.deliveredMl(), pausedMl + 0.05, "delivery counted again after take-up")
        figure("LEAK-3 slack take-up time after resume", slackMs, "ms")
    })

    test("LEAK-4: volume is conserved across 5 pause/resume cycles (within 1 % of encoder truth)", async () => {
        const r = new Rig()
        await r.startInjecting("L1", 6)
        r.sup.cfg.maxLeakPauses = 10
        let maxPlungerMl = 0
        for (let i = 0; i < 5; ++i) {
            await r.run(3000, () => {
                const v = r.plungerMl()
                if (v > maxPlungerMl) maxPlungerMl = v
                return false
            })
            r.cmd(i % 2 ? Op.Pause : Op.LeakSeen)
            await r.run(3500)
            eq(r.cmd(Op.Resume).reject, Reject.Ok, `resume ${i}`)
        }
        await r.run(3000, () => {
            const v = r.plungerMl()
            if (v > maxPlungerMl) maxPlungerMl = v
            return false
        })
        const d = r.sup.deliveredMl()
        atMost(Math.abs(d - maxPlungerMl), 0.01 * maxPlungerMl, "delivered vs encoder truth (max plunger advance), mL")
        figure("LEAK-4 volume error after 5 cycles", Math.abs(d - maxPlungerMl), "mL")
        eq(r.sup.lvl.pauses, 5, "pause count")
        eq(r.sup.lvl.leakPauses, 3, "leak pause count")
    })

    test("LEAK-5: the third leak pause aborts the level unless overridden (override logged)", async () => {
        for (let ov = 0; ov < 2; ++ov) await leakLimit(ov === 1)
    })
})

async function leakLimit(override: boolean) {
    const r = new Rig()
    await r.startInjecting("L2", 6)
    for (let i = 0; i < 2; ++i) {
        await r.run(1000)
        r.cmd(Op.LeakSeen)
        eq(r.sup.state, State.Paused, `leak pause ${i + 1}`)
        await r.run(3100)
        r.cmd(Op.Resume)
    }
    if (override) {
        const res = r.cmd(Op.OverrideLeakLimit, undefined, undefined, Source.Host)
        ok(res.pending, "override is risk-adding: confirm")
        r.sup.confirmPressed(r.tMs)
        r.step(false)
        eq(r.sup.lvl.overrides, 1, "override counted")
        eq(r.countEvents(EventKind.Info, Reason.LeakLimitOverride), 1, "override logged")
    }
    await r.run(1000)
    r.cmd(Op.LeakSeen)
    if (override) eq(r.sup.state, State.Paused, "overridden: third leak only pauses")
    else {
        eq(r.sup.state, State.Aborted, "third leak pause ends the level")
        eq(r.sup.reason, Reason.LeakLimit, "reason leakLimit")
        await r.run(2000) // the record follows once the plunger is at rest
        eq(r.sup.lastRecord().leakPauses, 3, "record shows 3 leak pauses")
    }
}
