import { describe, test } from "@devicescript/test"
import {
    EventKind,
    geometricMlPerCount,
    LEVELS,
    DEVICE_MAX_CAP_ML,
    Op,
    Reason,
    Reject,
    Source,
    State,
    SYRINGES,
    levelIndex,
} from "../src/core"
import { Rig } from "./lib/rig"
import { atMost, eq, near, ok, figure, atLeast } from "./lib/assert"

describe("VOL volume", () => {
    test("VOL-1: volume comes from the encoder, not the command; resolution <= 0.005 mL", async () => {
        for (let i = 0; i < SYRINGES.length; ++i)
            atMost(geometricMlPerCount(SYRINGES[i].boreMm), 0.005, `mL per count, ${SYRINGES[i].name}`)
        const r = new Rig()
        await r.startInjecting("C2", 3)
        r.plant.slip = 0.8 // the drive slips 20 %: commanded steps would overstate volume
        await r.run(20000)
        near(r.sup.deliveredMl(), r.plungerMl(), 0.005, "delivered vs encoder truth, mL")
        const commandedMl = (3 * 20) / 60
        ok(r.sup.deliveredMl() < commandedMl * 0.85, `delivered ${r.sup.deliveredMl()} must not follow the commanded ${commandedMl}`)
        figure("VOL-1 resolution 20 mL syringe", geometricMlPerCount(19.1), "mL/count")
    })

    test("VOL-2: every level C1-C7, T1-T12, L1-L5, S1 has cap <= ceiling <= device max", () => {
        eq(LEVELS.length, 25, "number of level presets")
        const names = ["C1", "C7", "T1", "T12", "L1", "L5", "S1"]
        for (let i = 0; i < names.length; ++i) ok(levelIndex(names[i]) >= 0, `preset for ${names[i]}`)
        for (let i = 0; i < LEVELS.length; ++i) {
            const p = LEVELS[i]
            ok(p.capMl > 0 && p.capMl <= p.ceilingMl, `${p.name}: 0 < cap ${p.capMl} <= ceiling ${p.ceilingMl}`)
            atMost(p.ceilingMl, DEVICE_MAX_CAP_ML, `${p.name} ceiling`)
        }
        near(LEVELS[levelIndex("C2")].bodyMl, 6.3, 1e-9, "C2 body volume (seed 001)")
        near(LEVELS[levelIndex("C7")].bodyMl, 15.4, 1e-9, "C7 body volume (seed 001)")
    })

    test("VOL-2: cap above preset needs a logged override; the ceiling can never be exceeded", () => {
        const r = new Rig()
        r.prepare("C2")
        const c2 = LEVELS[levelIndex("C2")]
        eq(r.sup.lvl.capMl, c2.capMl, "default cap = preset")
        eq(r.cmd(Op.SetCap, 3.8).reject, Reject.OverrideRequired, "3.8 mL without override")
        eq(r.sup.lvl.capMl, c2.capMl, "cap unchanged after rejection")
        eq(r.cmd(Op.SetCap, 4.5, 1).reject, Reject.AboveCeiling, "4.5 mL above C2 ceiling")
        eq(r.cmd(Op.SetCap, 50, 1).reject, Reject.AboveCeiling, "50 mL above device max")
        const res = r.cmd(Op.SetCap, 3.8, 1, Source.Host)
        ok(res.pending, "raising the cap from the host waits for the local confirm")
        eq(r.sup.lvl.capMl, c2.capMl, "cap unchanged before confirm")
        eq(r.sup.confirmPressed(r.tMs), Reject.Ok, "confirm")
        near(r.sup.lvl.capMl, 3.8, 1e-9, "cap after confirmed override")
        eq(r.sup.lvl.overrides, 1, "override counted")
        r.step(false)
        eq(r.countEvents(EventKind.Info, Reason.CapOverride), 1, "override logged as an event")
        eq(r.cmd(Op.SetCap, 2.0).reject, Reject.Ok, "lowering the cap needs nothing")
    })

    test("VOL-3: warning at 80 % of the cap, stop at the cap, overshoot <= 0.02 mL at 3 mL/min", async () => {
        const r = new Rig()
        await r.startInjecting("C2", 3)
        r.cmd(Op.SetCap, 1.0)
        let warnAt = -1
        let stopStep = -1
        let crossStep = -1
        await r.run(40000, () => {
            if (warnAt < 0 && r.countEvents(EventKind.Alarm, Reason.CapWarning) > 0) warnAt = r.sup.deliveredMl()
            if (crossStep < 0 && r.sup.state !== State.Injecting) crossStep = r.steps
            if (stopStep < 0 && r.last.flowMlPerMin <= 0) stopStep = r.steps
            return r.sup.state !== State.Injecting
        })
        eq(r.sup.state, State.Completed, "state at cap")
        eq(r.sup.reason, Reason.CapReached, "reason")
        near(warnAt, 0.8, 0.01, "warning volume, mL")
        // FAULT-11: the stop step disables the driver (shortest path); the retraction follows
        eq(r.last.enabled, false, "driver disabled in the cap step")
        await r.run(40, () => r.last.speedRatio < 0)
        ok(r.last.speedRatio < 0, "plunger decompresses (retracts) within 40 ms of the cap")
        await r.run(3000) // afterflow and decompression
        const overshoot = Math.max(0, r.plant.injectedMl - 1.0)
        const plungerOvershoot = Math.max(0, r.sup.deliveredMl() - 1.0)
        atMost(plungerOvershoot, 0.02, "encoder-delivered overshoot, mL")
        atMost(overshoot, 0.02, "physical overshoot (afterflow included), mL")
        figure("VOL-3 physical overshoot at 3 mL/min", overshoot, "mL")
        figure("VOL-3 encoder overshoot at 3 mL/min", plungerOvershoot, "mL")
        figure("VOL-3 control steps from cap check to motor stop", stopStep < 0 ? -1 : Math.max(0, stopStep - crossStep), "steps")
    })

    test("VOL-4: session cement and level count; low cement warns at arm", async () => {
        const r = new Rig()
        await r.startInjecting("C2", 6, 8) // prepares 8 mL
        eq(r.countEvents(EventKind.Alarm, Reason.LowCement), 0, "8 mL prepared covers a 3.5 mL cap")
        near(r.sup.book.preparedMl, 8, 1e-9, "prepared")
        await r.run(40000, () => r.sup.state !== State.Injecting) // to the cap: ~3.5 mL used
        await r.run(2000) // decompression
        eq(r.sup.book.levelsDone, 1, "levels counted")
        near(r.sup.usedCementMl(), r.sup.deliveredMl(), 1e-9, "used = delivered, mL")
        r.cmd(Op.SetLevel, levelIndex("L1"))
        r.cmd(Op.Arm)
        eq(r.sup.state, State.Ready, "a low-cement level may still be armed")
        eq(r.countEvents(EventKind.Alarm, Reason.LowCement), 1, `but warns: ${r.sup.remainingCementMl()} mL left < 5 mL cap`)
        figure("VOL-4 cement left after C2 to its cap (8 mL prepared)", r.sup.remainingCementMl(), "mL")
    })

    test("VOL-5: fill fraction = delivered / body volume (C2 6.3 mL); unknown bodies report NaN", async () => {
        const r = new Rig()
        await r.startInjecting("C2", 6)
        await r.run(10000)
        near(r.sup.fillFraction(), r.sup.deliveredMl() / 6.3, 1e-9, "C2 fill fraction")
        atLeast(r.sup.fillFraction(), 0.1, "fill after 10 s at 6 mL/min")
        const t = new Rig()
        t.prepare("T8")
        ok(isNaN(t.sup.fillFraction()), "T8 has no published body volume")
    })
})
