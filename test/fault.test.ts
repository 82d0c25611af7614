import { describe, test } from "@devicescript/test"
import { EventKind, Motion, Op, Reason, Reject, Source, State, Supervisor, levelIndex, worstStoredMl } from "../src/core"
import { Rig, SAMPLE_MS } from "./lib/rig"
import { atMost, eq, near, ok, figure, atLeast } from "./lib/assert"

describe("FAULT safe behaviour", () => {
    test("FAULT-1: load cell stale > 50 ms -> stop, fault(sensorStale) at the first step past 50 ms", async () => {
        const r = new Rig()
        await r.startInjecting("C2", 3)
        await r.run(3000)
        r.sampling = false
        const lastSample = r.tMs
        // the app's watchdog timer steps every 10 ms without a sample
        let tripMs = -1
        for (let i = 0; i < 20 && tripMs < 0; ++i) {
            r.tMs += 10
            r.step(false)
            if (r.sup.state === State.Fault) tripMs = r.tMs - lastSample
        }
        eq(r.sup.reason, Reason.SensorStale, "reason")
        ok(tripMs > 50 && tripMs <= 60, `tripped ${tripMs} ms after the last sample (stale limit 50 ms, 10 ms watchdog)`)
        ok(r.last.flowMlPerMin <= 0, "no forward command")
        figure("FAULT-1 stale detection after last sample", tripMs, "ms")
    })

    test("FAULT-1: without force sensing the drive retracts at most the worst stored volume at the last pressure (5 % air, <= 0.3 mL; encoder-bounded), then is disabled", async () => {
        const r = new Rig()
        await r.startInjecting("C2", 3)
        await r.run(5000)
        const before = r.plungerMl()
        const cfg = r.sup.cfg
        const bound = Math.min(cfg.retractMaxMl, Math.max(cfg.blindRetractMl, worstStoredMl(r.sup.pressurePa(), r.sup.syringeLeftMl())))
        r.sampling = false
        await r.run(2000)
        eq(r.sup.state, State.Fault, "fault")
        eq(r.sup.reason, Reason.SensorStale, "stale")
        eq(r.last.enabled, false, "driver disabled after the blind retraction")
        const back = before - r.plungerMl()
        ok(back > 0.05 && back <= bound + 0.01, `retracted ${back} mL (blind limit ${bound} mL)`)
    })

    test("FAULT-1: NaN and saturated samples -> fault(sensor) in the same step", async () => {
        // PRS-5: saturation is the sensor's own status (its reading at the converter's
        // full scale), whatever the force looks like after tare
        const kgs = [NaN, 2000 / 9.80665, 1.5]
        const sat = [false, true, true]
        const reasons = [Reason.SensorNaN, Reason.SensorSaturated, Reason.SensorSaturated]
        for (let i = 0; i < kgs.length; ++i) {
            const r = new Rig()
            await r.startInjecting("C2", 3)
            await r.run(2000)
            r.kgOverride = kgs[i]
            r.saturated = sat[i]
            r.tick()
            eq(r.sup.state, State.Fault, `fault on sample ${kgs[i]}`)
            eq(r.sup.reason, reasons[i], "reason")
            ok(r.last.flowMlPerMin <= 0, "no forward command in that step")
        }
    })

    test("FAULT-2/VOL-6: encoder jump or loss -> stop, fault(encoder), a forward jump counted (errs high); start refused without an encoder", async () => {
        const r = new Rig()
        await r.startInjecting("C2", 3)
        await r.run(2000)
        const before = r.sup.deliveredMl()
        r.countOffset = 20000 // 17 mm in one sample: faster than the drive can move
        r.tick()
        eq(r.sup.state, State.Fault, "fault on jump")
        // VOL-6: forward counts however it came (errs high: the level can only end early)
        const jumpMl = 20000 * r.sup.mlPerCount()
        near(r.sup.deliveredMl(), before + jumpMl, 0.002, "the forward jump is counted as delivered volume, mL")
        await r.run(500)
        near(r.sup.deliveredMl(), before + jumpMl, 0.002, "and stays counted")
        eq(r.sup.reason, Reason.EncoderJump, "reason")
        eq(r.last.enabled, false, "driver disabled at once")
        const q = new Rig()
        await q.startInjecting("C2", 3)
        await q.run(1000)
        q.encoderPresent = false
        q.tick()
        eq(q.sup.reason, Reason.EncoderMissing, "missing encoder")
        eq(q.last.enabled, false, "driver disabled")
        const s = new Rig()
        s.prepare("C2")
        s.encoderPresent = false
        s.step(true)
        eq(s.cmd(Op.Start).reject, Reject.EncoderNotReady, "start without encoder")
        eq(s.sup.state, State.Ready, "state unchanged")
    })

    test("FAULT-3: e-stop disables the driver in the same step and latches until a local reset", async () => {
        const r = new Rig()
        await r.startInjecting("C2", 3)
        await r.run(2000)
        r.estop = true
        r.step(false)
        eq(r.last.enabled, false, "driver enable off in the e-stop step")
        eq(r.sup.state, State.Fault, "fault")
        eq(r.sup.reason, Reason.Estop, "reason")
        figure("FAULT-3 control steps from e-stop to driver disable", 0, "steps")
        r.estop = false
        await r.run(1000)
        eq(r.sup.state, State.Fault, "still latched after release")
        eq(r.cmd(Op.Start).reject, Reject.WrongState, "start refused while latched")
        const res = r.cmd(Op.ClearFault, undefined, undefined, Source.Host)
        ok(res.pending, "host clear-fault waits for the local confirm button")
        eq(r.sup.state, State.Fault, "host alone cannot clear")
        r.estop = true
        r.step(true)
        eq(r.sup.confirmPressed(r.tMs), Reject.EstopActive, "confirm with e-stop still pressed")
        r.estop = false
        r.step(true)
        eq(r.cmd(Op.ClearFault).reject, Reject.Ok, "local reset")
        eq(r.sup.state, State.Idle, "idle after local reset")
        // bench mode does not waive the local reset
        const b = new Rig()
        b.sup.benchMode = true
        b.estop = true
        b.step(true)
        b.estop = false
        b.step(true)
        ok(b.cmd(Op.ClearFault, undefined, undefined, Source.Host).pending, "bench mode: clear-fault still local")
    })

    test("FAULT-4: no host needed in local mode; in remote mode a lost heartbeat pauses; limits hold without a host", async () => {
        const r = new Rig()
        await r.startInjecting("C2", 6)
        await r.run(40000, () => r.sup.state !== State.Injecting)
        eq(r.sup.state, State.Completed, "local mode, no heartbeat at all: runs to the cap")
        eq(r.sup.reason, Reason.CapReached, "and stops at it")
        const q = new Rig()
        q.prepare("C2", 3)
        q.cmd(Op.SetRemoteMode, 1, undefined, Source.Host)
        q.cmd(Op.Heartbeat, undefined, undefined, Source.Host)
        q.cmd(Op.Start)
        for (let i = 0; i < 5; ++i) {
            await q.run(500)
            q.cmd(Op.Heartbeat, undefined, undefined, Source.Host)
        }
        eq(q.sup.state, State.Injecting, "heartbeats every 500 ms keep it going")
        const t0 = q.tMs
        await q.run(3000, () => q.sup.state !== State.Injecting)
        eq(q.sup.state, State.Paused, "paused on host loss")
        eq(q.sup.reason, Reason.HostLost, "reason")
        const ms = q.tMs - t0
        ok(ms > 1000 && ms <= 1000 + SAMPLE_MS, `paused ${ms} ms after the last heartbeat (timeout 1000)`)
        figure("FAULT-4 pause after last heartbeat", ms, "ms")
        await q.run(3500)
        eq(q.cmd(Op.Resume).reject, Reject.WrongState, "resume refused while the host is still lost")
    })

    test("FAULT-5: restart mid-level comes back in fault(restart) with the delivered volume, never injecting", async () => {
        const r = new Rig()
        await r.startInjecting("C2", 6)
        await r.run(10000)
        const snap = r.sup.snapshot(r.tMs)
        const delivered = r.sup.deliveredMl()
        // power loss: a new supervisor from what was persisted
        const b = new Supervisor()
        b.restore(r.tMs, snap)
        eq(b.state, State.Fault, "boot state")
        eq(b.reason, Reason.Restart, "reason restart")
        near(b.deliveredMl(), delivered, 1e-9, "delivered volume known after restart, mL")
        ok(b.calibrated(), "calibration survives")
        eq(b.lvl.level, levelIndex("C2"), "level")
        // a level that had ended boots to idle
        const done = r.sup.snapshot(r.tMs)
        done.level.state = State.Completed
        const c = new Supervisor()
        c.restore(0, done)
        eq(c.state, State.Idle, "completed level boots idle")
        // continuing the restored level counts the earlier volume against the cap
        const q = new Rig()
        q.sup.restore(q.tMs, snap)
        q.step(true)
        eq(q.cmd(Op.ClearFault).reject, Reject.Ok, "local clear")
        q.cmd(Op.MarkMixing, 5, 130)
        q.step(true)
        eq(q.cmd(Op.Arm).reject, Reject.SyringeUnconfirmed, "FAULT-5: after a restart the syringe is confirmed locally first")
        q.cmd(Op.SetSyringe, q.sup.syringe)
        eq(q.cmd(Op.Arm).reject, Reject.Ok, "arm the same level")
        q.cmd(Op.Start)
        await q.run(60000, () => q.sup.state !== State.Injecting)
        eq(q.sup.reason, Reason.CapReached, "cap reached")
        const newMl = q.plungerMl()
        near(delivered + newMl, q.sup.lvl.capMl, 0.02, "before + after restart = cap, mL")
    })
})
