import { describe, test } from "@devicescript/test"
import {
    CUSTOM_SYRINGE,
    customBoreRangeMm,
    Op,
    Outcome,
    plungerAreaMm2,
    Reason,
    Reject,
    Source,
    State,
    Supervisor,
    geometricMlPerCount,
    EventKind,
} from "../src/core"
import { decodeSetup, encodeSetup } from "../src/persist"
import { applyHardwareLimits, encoderMaxFlowMlPerMin, HW_ENCODER_COUNTS_PER_MM } from "../src/hw/encoder_limits"
import { Rig, sleepTick } from "./lib/rig"
import { atLeast, atMost, eq, near, ok, figure } from "./lib/assert"

// FLOW-5: a custom syringe bore joins the 1/3/10/20 mL presets, within the
// drive's and the encoder's limits, confirmed locally, through the core's
// command interface (the same one the Jacdac server forwards).

/** A calibrated rig, idle, with the plant's bore set to `boreMm`. */
async function idleRig(boreMm: number): Promise<Rig> {
    const r = new Rig()
    r.plant.boreMm = boreMm
    await sleepTick()
    r.prepare("C2", 3)
    await sleepTick()
    r.cmd(Op.Disarm)
    return r
}

describe("custom syringe bore", () => {
    test("FLOW-5: set_custom_syringe in range waits for the local confirm, then mL per count follows the bore and an injection counts the plunger's true volume", async () => {
        const r = await idleRig(12)
        eq(r.sup.state, State.Idle, "idle")
        const a = r.cmd(Op.SetCustomSyringe, 12, 8, Source.Host, 61)
        eq(a.outcome, Outcome.Pending, "a host's custom syringe waits for the local confirm (FAULT-7)")
        eq(r.sup.syringe, 3, "nothing changed before the confirm (still the 20 mL preset)")
        const c = r.confirm()
        r.step(false) // the step hands out the confirm's events
        eq(c.outcome, Outcome.Executed, "executed at the confirm")
        eq(r.sup.syringe, CUSTOM_SYRINGE, "the custom syringe (id 4)")
        ok(r.countEvents(EventKind.Info, Reason.CustomSyringe) === 1, "custom_syringe info event")
        // VOL-1: volume per encoder count from the bore (volume scale 1 from the geometric calibration)
        const expectMlPerCount = (plungerAreaMm2(12) / 1000) / r.sup.cfg.encoderCountsPerMm
        near(r.sup.mlPerCount(), expectMlPerCount, 1e-9, "mL per count of a 12 mm bore")
        near(r.sup.syringeLeftMl(), 8, 1e-9, "the custom syringe's volume is its travel (FLOW-5)")
        // an injection: the device's volume against the plunger's true displacement in the 12 mm bore
        eq(r.cmd(Op.Arm).reject, Reject.Ok, "arm")
        const p0 = r.plungerMl()
        eq(r.cmd(Op.Start).reject, Reject.Ok, "start")
        await r.run(8000)
        r.cmd(Op.Pause) // the drive is disabled in this step: the plunger is at its furthest
        const pushedMl = r.plungerMl() - p0
        await r.run(1500)
        // the decompression's retraction stays counted (delivered only grows): compare with the furthest push
        const dev = r.sup.deliveredMl()
        atLeast(dev, 0.3, "delivered at 3 mL/min for 8 s, mL")
        near(dev, pushedMl, 0.005, "device volume vs the plunger's push in the 12 mm bore (VOL-1 resolution), mL")
        // a 20 mL preset's mL per count would read 2.5 x as much
        figure("FLOW-5 custom 12 mm bore: mL per count", r.sup.mlPerCount(), "mL")
        figure("FLOW-5 custom 12 mm bore: device minus plunger push", dev - pushedMl, "mL")
    })

    test("FLOW-5: a custom bore outside the drive's and encoder's limits, or a volume beyond the stroke, is rejected with its reason and range; nothing changes", async () => {
        const r = await idleRig(19.1)
        const range = customBoreRangeMm(r.sup.cfg)
        near(range[0], 3, 1e-9, "smallest custom bore, mm (sanity floor)")
        // the 3.5 MPa ceiling within 90 % of the 200 kg drive/cell force: bore <= 25.34 mm
        near(range[1], 25.34, 0.005, "largest custom bore, mm (force at the over-pressure ceiling)")
        const bad = [2.9, 25.4, 40, -5]
        for (let i = 0; i < bad.length; ++i) {
            const a = r.cmd(Op.SetCustomSyringe, bad[i], 5, Source.Host, 70 + i)
            eq(a.outcome, Outcome.Rejected, `bore ${bad[i]} mm rejected`)
            eq(a.reject, Reject.BoreOutOfRange, `bore ${bad[i]} mm: bore_out_of_range`)
            near(a.lo, range[0], 1e-9, "answer: lowest bore, mm")
            near(a.hi, range[1], 1e-9, "answer: highest bore, mm")
        }
        eq(r.cmd(Op.SetCustomSyringe, NaN, 5, Source.Host, 80).reject, Reject.BadNumber, "NaN bore")
        const v1 = r.cmd(Op.SetCustomSyringe, 10, 0.4, Source.Host, 81)
        eq(v1.reject, Reject.SyringeVolumeOutOfRange, "0.4 mL is below the smallest volume")
        const v2 = r.cmd(Op.SetCustomSyringe, 10, 7, Source.Host, 82)
        eq(v2.reject, Reject.SyringeVolumeOutOfRange, "7 mL in a 10 mm bore needs 89 mm of stroke (> 80)")
        near(v2.lo, 0.5, 1e-9, "answer: smallest volume, mL")
        near(v2.hi, 6.28, 0.005, "answer: largest volume for a 10 mm bore (80 mm stroke), mL")
        eq(r.sup.syringe, 3, "syringe unchanged by the rejections")
        eq(r.sup.desk.pendingOp(), 0, "nothing left pending")
        eq(r.sup.state, State.Idle, "state unchanged")
        // the encoder's limit: 100 counts/mm on the boards -> 0.005 mL per count at a 25.23 mm bore
        const hw = new Supervisor()
        applyHardwareLimits(hw.cfg)
        const hwRange = customBoreRangeMm(hw.cfg)
        near(hwRange[1], 25.23, 0.005, "largest bore on the boards' encoder (VOL-1: 0.005 mL per count), mm")
        atMost(geometricMlPerCount(hwRange[1], HW_ENCODER_COUNTS_PER_MM), 0.005, "mL per count at the boards' largest custom bore")
        eq(hw.command(0, { op: Op.SetCustomSyringe, a: 25.3, b: 10, id: 90 }, Source.Local).reject, Reject.BoreOutOfRange, "25.3 mm: fine in the simulator, beyond the boards' encoder")
        // mid-level: only the same syringe
        eq(r.cmd(Op.SetCustomSyringe, 10, 5).reject, Reject.Ok, "10 mm x 5 mL set locally")
        r.cmd(Op.Arm)
        r.cmd(Op.Start)
        await r.run(1000)
        r.cmd(Op.Pause)
        await r.run(3500)
        eq(r.cmd(Op.SetCustomSyringe, 12, 5).reject, Reject.WrongState, "not while paused (idle and still only)")
    })

    test("FLOW-2/FLOW-5: a custom bore's flow limit is computed like the presets' (encoder-tracked plunger speed x the bore) and a flow above it is refused", async () => {
        const r = await idleRig(6)
        applyHardwareLimits(r.sup.cfg) // the boards' per-syringe limits (1 mL: 2.0 ... 20 mL: 32.4 mL/min)
        eq(r.cmd(Op.SetCustomSyringe, 6, 1.5).reject, Reject.Ok, "6 mm x 1.5 mL (local)")
        const lim6 = r.sup.maxFlowMlPerMin()
        const enc6 = encoderMaxFlowMlPerMin(6)
        atMost(lim6, enc6, "6 mm bore: limit within what the encoder tracks, mL/min")
        atLeast(lim6, 0.95 * enc6, "6 mm bore: limit within 5 % of the encoder's own figure, mL/min")
        const a = r.cmd(Op.SetFlow, 3.5, undefined, Source.Host, 91)
        eq(a.reject, Reject.OutOfRange, "3.5 mL/min above the 6 mm bore's limit")
        near(a.hi, lim6, 1e-9, "answer: the bore's limit, mL/min")
        // a larger bore: the limit follows it (area ratio), capped by the flow range (6 mL/min)
        eq(r.cmd(Op.SetCustomSyringe, 12, 5).reject, Reject.Ok, "12 mm x 5 mL (local)")
        const lim12 = r.sup.maxFlowMlPerMin()
        near(lim12 / lim6, 4, 0.1, "limit scales with the bore's area (12 mm vs 6 mm)")
        eq(r.cmd(Op.SetFlow, 3.5).reject, Reject.Ok, "3.5 mL/min fine on the 12 mm bore")
        figure("FLOW-2 custom bore 6 mm flow limit (boards' encoder)", lim6, "mL/min")
        figure("FLOW-2 custom bore 12 mm flow limit (boards' encoder)", lim12, "mL/min")
    })

    test("FAULT-5/FLOW-5: the custom syringe survives a restart and is confirmed locally before arming", async () => {
        const r = await idleRig(10)
        eq(r.cmd(Op.SetCustomSyringe, 10, 5).reject, Reject.Ok, "10 mm x 5 mL")
        const snap = r.sup.snapshot(r.tMs)
        const setup = decodeSetup(encodeSetup(snap.setup))
        ok(setup !== null, "setup record decodes")
        atMost(JSON.stringify(encodeSetup(snap.setup)).length, 200, "setup record bytes with the custom syringe")
        const q = new Supervisor()
        q.restore(0, { cal: snap.cal, level: snap.level, setup })
        eq(q.syringe, CUSTOM_SYRINGE, "the custom syringe came back")
        near(q.syr().boreMm, 10, 1e-9, "its bore, mm")
        near(q.syr().volumeMl, 5, 1e-9, "its volume, mL")
        eq(q.syringeConfirmed, false, "to be confirmed locally")
        const h = q.command(10, { op: Op.SetSyringe, a: CUSTOM_SYRINGE, id: 5 }, Source.Host)
        eq(h.outcome, Outcome.Pending, "a host's confirm of it waits for the button")
        eq(q.confirmButton(20).outcome, Outcome.Executed, "confirmed at the device")
        eq(q.syringeConfirmed, true, "confirmed")
        eq(q.syringe, CUSTOM_SYRINGE, "still the custom syringe")
        // an old record (before the custom syringe) still reads, with none set
        const old = encodeSetup(snap.setup)
        ok(decodeSetup([1, 2, 3]) === null, "a short record reads as missing")
        eq(decodeSetup(old).customBoreMm, 10, "custom bore round trip, mm")
    })
})
