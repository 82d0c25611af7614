import { describe, test } from "@devicescript/test"
import { ENCODER_BURST_MS, EventKind, Op, Reason, Reject, SILENT_ENCODER_ML, Source, State, STALL_SEGMENT_ML } from "../src/core"
import { Rig, SAMPLE_MS } from "./lib/rig"
import { atMost, eq, near, ok, figure, atLeast } from "./lib/assert"

describe("FLOW delivery", () => {
    test("FLOW-1: setpoint range 0.5-6 mL/min; ramp <= 6 (mL/min)/s; rate error <= 5 % over 30 s", async () => {
        const r = new Rig()
        r.prepare("L3", 3)
        r.cmd(Op.SetCap, 8, 1) // room for 45 s at 6 mL/min
        const bad = [0.4, 6.5, NaN, -1, 1e9, Infinity]
        for (let i = 0; i < bad.length; ++i) {
            const res = r.cmd(Op.SetFlow, bad[i])
            ok(res.reject === Reject.OutOfRange || res.reject === Reject.BadNumber, `flow ${bad[i]} rejected`)
            near(r.sup.flowMlPerMin, 3, 1e-9, "flow unchanged")
        }
        r.cmd(Op.SetFlow, 6)
        r.cmd(Op.Start)
        let prev = 0
        let maxStep = 0
        await r.run(2000, () => {
            const d = r.last.flowMlPerMin - prev
            if (d > maxStep) maxStep = d
            prev = r.last.flowMlPerMin
            return false
        })
        atMost(maxStep, (6 * SAMPLE_MS) / 1000 + 1e-9, "largest flow increase per 12.5 ms step, mL/min")
        // A drive 1.5 % slow: within the trim's +/-2 %, below FLOW-2's 2.5 % travel
        // allowance, the encoder-based trim makes up for it. (A drive 4 % slow is slip
        // FLOW-2 must catch: commanded drive travel vs encoder cannot tell it from an
        // encoder that reads 4 % short; see the next test.)
        r.plant.slip = 0.985
        await r.run(10000)
        eq(r.sup.state, State.Injecting, "steady injection")
        const v0 = r.sup.deliveredMl()
        await r.run(30000)
        const rate = ((r.sup.deliveredMl() - v0) / 30) * 60
        const err = Math.abs(rate - 6) / 6
        atMost(err, 0.05, "rate error over 30 s")
        figure("FLOW-1 rate error over 30 s (1.5 % slow drive, trimmed)", err * 100, "%")
        near(r.sup.measuredFlowMlPerMin, 6, 0.3, "measured flow, mL/min")
        near(r.sup.drive.trim, 1 / 0.985, 0.005, "trim compensates the slow drive")
    })

    test("FLOW-2: a drive that slips 4 % (same signature as an encoder 4 % short) ends in fault(stall)", async () => {
        const r = new Rig()
        await r.startInjecting("L1", 6)
        r.plant.slip = 0.96
        await r.run(60000, () => r.sup.state !== State.Injecting)
        eq(r.sup.state, State.Fault, "fault")
        eq(r.sup.reason, Reason.Stall, "stall")
        const missing = r.sup.drive.cmdTravelMl - r.sup.drive.encTravelMl
        figure("FLOW-2 4 % slip: counted volume at the trip", r.sup.deliveredMl(), "mL")
        figure("FLOW-2 4 % slip: commanded minus encoder travel at the trip", missing, "mL")
    })

    test("FLOW-2: commanded motion without encoder motion > 0.03 mL -> stop, fault(stall)", async () => {
        const r = new Rig()
        await r.startInjecting("C2", 3)
        await r.run(3000)
        r.plant.stuck = true
        const d0 = r.sup.deliveredMl()
        const t0 = r.tMs
        await r.run(5000, () => r.sup.state !== State.Injecting)
        eq(r.sup.state, State.Fault, "fault")
        eq(r.sup.reason, Reason.Stall, "reason stall")
        eq(r.last.enabled, false, "driver disabled")
        const commandedMl = ((r.tMs - t0) / 60000) * 3
        // 0.03 mL + the latency allowance (60 ms of flow) + 2.5 % of the recent window (<= 0.2 mL) + one step
        const c = r.sup.cfg
        const allowMl = c.stallMl + (3 * c.stallLagMs) / 60000 + c.stallTravelFraction * 2 * STALL_SEGMENT_ML + (3 * SAMPLE_MS) / 60000
        atMost(commandedMl, allowMl, "commanded-but-missing volume at trip, mL")
        figure("FLOW-2 stall detection (3 mL/min)", r.tMs - t0, "ms")
        figure("FLOW-2 commanded volume missing at trip", commandedMl, "mL")
        near(r.sup.deliveredMl(), d0, 1e-9, "no phantom delivery")
    })

    test("FLOW-2: a silent encoder (no count while the drive advances) trips within 0.01 mL + latency and burst allowances, before the 0.03 mL travel comparison", async () => {
        const r = new Rig()
        await r.startInjecting("C2", 3)
        await r.run(3000)
        r.plant.stuck = true
        const t0 = r.tMs
        await r.run(5000, () => r.sup.state !== State.Injecting)
        eq(r.sup.reason, Reason.Stall, "reason stall")
        const commandedMl = ((r.tMs - t0) / 60000) * 3
        const c = r.sup.cfg
        // max(0.01 mL, 4 counts) + 60 ms latency + 100 ms report burst, at 3 mL/min, + one step
        const allowMl = SILENT_ENCODER_ML + (3 * (c.stallLagMs + ENCODER_BURST_MS)) / 60000 + (3 * SAMPLE_MS) / 60000
        atMost(commandedMl, allowMl, "commanded-but-missing volume at trip, mL")
        atMost(commandedMl, c.stallMl, "below the 0.03 mL of the travel comparison")
        figure("FLOW-2 silent encoder: missing volume at trip (3 mL/min)", commandedMl, "mL")
    })

    test("FLOW-2: the silent-encoder check does not trip a healthy drive at 0.5 mL/min on a 20 mL syringe (slowest counts) over 20 s", async () => {
        const r = new Rig()
        r.prepare("L3", 0.5)
        r.cmd(Op.Start)
        await r.run(20000, () => r.sup.state !== State.Injecting)
        eq(r.sup.state, State.Injecting, "still injecting")
        atLeast(r.sup.deliveredMl(), 0.1, "delivered, mL")
    })

    test("FLOW-2: a drive that stops after 3 mL of travel is caught as soon as one that stops at once", async () => {
        const r = new Rig()
        await r.startInjecting("L1", 6)
        await r.run(60000, () => r.sup.deliveredMl() >= 3)
        r.plant.stuck = true
        const t0 = r.tMs
        await r.run(5000, () => r.sup.state !== State.Injecting)
        eq(r.sup.reason, Reason.Stall, "stall")
        const commandedMl = ((r.tMs - t0) / 60000) * 6
        const c = r.sup.cfg
        const allowMl = c.stallMl + (6 * c.stallLagMs) / 60000 + c.stallTravelFraction * 2 * STALL_SEGMENT_ML + (6 * SAMPLE_MS) / 60000
        atMost(commandedMl, allowMl, "commanded-but-missing volume at trip after 3 mL, mL (cumulative alone: 0.03 + 2.5 % of 3 mL)")
        figure("FLOW-2 missing volume at trip, drive stuck after 3 mL at 6 mL/min", commandedMl, "mL")
    })

    test("FLOW-3: cement clock warns early and late and refuses to start past the working limit", async () => {
        const r = new Rig()
        r.step(true)
        r.cmd(Op.Tare)
        r.kgOverride = 1
        r.step(true)
        r.cmd(Op.CalibrateGain, 1)
        r.kgOverride = undefined
        r.cmd(Op.CalibrateVolume, 12000, 2865.3)
        r.cmd(Op.SetLevel, 1)
        eq(r.cmd(Op.Arm).reject, Reject.CementNotMixed, "arm before mixing")
        r.cmd(Op.MarkMixing, 10)
        r.tMs += 30000
        r.step(true)
        eq(r.cmd(Op.Arm).reject, Reject.Ok, "arm at 30 s")
        eq(r.cmd(Op.Start).reject, Reject.Ok, "start at 30 s")
        eq(r.countEvents(EventKind.Alarm, Reason.CementEarly), 1, "warned: before dough time (120 s)")
        r.cmd(Op.Pause)
        // later: past the setting warning and the working limit
        await r.run(3000)
        r.tMs += 420000
        r.step(true)
        r.cmd(Op.Resume)
        eq(r.sup.state, State.Injecting, "resume at 7.1 min")
        r.tick()
        eq(r.countEvents(EventKind.Alarm, Reason.CementSetting), 1, "setting approaches warning (420 s)")
        r.cmd(Op.Pause)
        await r.run(3000)
        r.tMs += 60000
        r.step(true)
        eq(r.cmd(Op.Resume).reject, Reject.CementTooOld, "refused past 480 s")
        eq(r.sup.state, State.Paused, "still paused")
    })
})
