import { describe, test } from "@devicescript/test"
// The failsafe framework driven with synthetic check tables (as PX4's
// failsafe_test.cpp drives its state machine with synthetic flags): latch,
// rank, clear by rule, never clear a condition that still holds.
import { Action, check, Clear, Failsafe, Reason } from "../src/core"
import { eq, ok } from "./lib/assert"

function table(): Failsafe {
    return new Failsafe([
        check("warnGone", Action.Warn, Reason.CapWarning, Clear.WhenGone),
        check("pauseResume", Action.Pause, Reason.Overpressure, Clear.OnResume),
        check("stopLevel", Action.Stop, Reason.CapReached, Clear.OnNewLevel),
        check("faultReset", Action.Fault, Reason.Stall, Clear.OnLocalReset),
        check("pause2", Action.Pause, Reason.Blockage, Clear.OnResume),
    ])
}

function f(a: boolean, b: boolean, c: boolean, d: boolean, e: boolean): boolean[] {
    return [a, b, c, d, e]
}

describe("failsafe framework", () => {
    test("STYLE/PX4: the highest-ranked latched action wins; ties go to table order", () => {
        const fs = table()
        eq(fs.update(f(false, false, false, false, false)), -1, "nothing latched")
        eq(fs.action(), Action.None, "no action")
        eq(fs.update(f(true, true, false, false, true)), 1, "pause beats warn; first pause in table order")
        eq(fs.newly.length, 3, "three newly latched (one alarm each)")
        eq(fs.update(f(true, true, true, false, false)), 2, "stop beats pause")
        eq(fs.newly.length, 1, "only stop is new")
        eq(fs.update(f(false, false, false, true, false)), 3, "fault beats all")
        eq(fs.action(), Action.Fault, "fault action")
    })

    test("STYLE/PX4: WhenGone clears with its condition; other rules hold until their event", () => {
        const fs = table()
        fs.update(f(true, true, true, true, false))
        fs.update(f(false, false, false, false, false))
        ok(!fs.latched[0], "warn cleared when gone")
        ok(fs.latched[1] && fs.latched[2] && fs.latched[3], "pause, stop, fault still latched with conditions gone")
        eq(fs.clear(Clear.OnResume), 0, "resume clears the pause")
        ok(!fs.latched[1], "pause cleared")
        ok(fs.latched[2] && fs.latched[3], "stop and fault not cleared by resume")
        fs.clear(Clear.OnNewLevel)
        ok(!fs.latched[2], "new level clears stop")
        fs.clear(Clear.OnLocalReset)
        ok(!fs.latched[3], "local reset clears fault")
        eq(fs.highest(), -1, "nothing left")
    })

    test("STYLE/PX4: a clear event never clears a check whose condition still holds", () => {
        const fs = table()
        fs.update(f(false, true, false, true, false))
        eq(fs.clear(Clear.OnResume), 1, "one held")
        ok(fs.latched[1], "pause still latched: its condition holds")
        eq(fs.holding(Clear.OnResume, Action.Pause), 1, "reported as holding")
        eq(fs.clear(Clear.OnLocalReset), 1, "fault held too")
        fs.update(f(false, false, false, false, false))
        eq(fs.clear(Clear.OnResume), 0, "now it clears")
        eq(fs.holding(Clear.OnResume, Action.Pause), -1, "nothing holding")
    })

    test("STYLE/PX4: a check's action can be re-ranked at run time (PRS-4 pause when configured)", () => {
        const fs = table()
        fs.update(f(true, false, false, false, false))
        eq(fs.action(), Action.Warn, "warn by default")
        fs.actions[0] = Action.Abort
        eq(fs.action(), Action.Abort, "re-ranked")
    })
})
