// FLOW-2 in the core with the board's per-syringe limits
// (src/hw/encoder_limits.ts via the core config): a flow above the syringe's
// advance limit is refused with the limit as the answer's range.
import { describe, test } from "@devicescript/test"
import { Op, Reject, State, SYRINGES } from "../../src/core"
import { HW_MAX_ADVANCE_ML_PER_MIN, HW_MAX_RETRACT_ML_PER_MIN, hwMaxAdvanceMlPerMin } from "../../src/hw/encoder_limits"
import { Rig } from "../lib/rig"
import { atLeast, atMost, eq, figure, near } from "../lib/assert"

function hwRig(): Rig {
    const r = new Rig()
    // the limits only: the rig's plant keeps the simulator's encoder (1200 counts/mm)
    r.sup.cfg.maxAdvanceMlPerMinBySyringe = HW_MAX_ADVANCE_ML_PER_MIN.slice(0)
    r.sup.cfg.maxRetractMlPerMinBySyringe = HW_MAX_RETRACT_ML_PER_MIN.slice(0)
    return r
}

describe("FLOW-2 per-syringe limits in the core", () => {
    test("FLOW-2/FAULT-6: 3 mL/min on the 1 mL syringe is refused out of range, hi = 2.0 mL/min; 2.0 accepted", async () => {
        const r = hwRig()
        r.step(true)
        r.cmd(Op.SetBenchMode, 1)
        r.confirm()
        r.step(false)
        r.cmd(Op.SetSyringe, 0)
        eq(r.sup.syringe, 0, "1 mL syringe")
        const f0 = r.sup.flowMlPerMin
        const a = r.cmd(Op.SetFlow, 3)
        eq(a.reject, Reject.OutOfRange, "refused")
        near(a.hi, hwMaxAdvanceMlPerMin(0), 1e-9, "hi = the syringe's limit")
        eq(r.sup.flowMlPerMin, f0, "flow unchanged")
        eq(r.cmd(Op.SetFlow, 2).reject, Reject.Ok, "2.0 accepted")
        // 6 mL/min is within the limit of every other syringe
        r.cmd(Op.SetSyringe, 1)
        eq(r.cmd(Op.SetFlow, 6).reject, Reject.Ok, "6 mL/min on 3 mL (limit 6.6)")
    })

    /** inject at 3 mL/min on the 10 mL syringe, pause with leak seen; the fastest retraction, mL/min */
    async function retractAfterLeakPause(r: Rig): Promise<number> {
        r.plant.boreMm = SYRINGES[2].boreMm
        r.plant.frictionN = SYRINGES[2].frictionN
        r.step(true)
        eq(r.cmd(Op.SetSyringe, 2).reject, Reject.Ok, "10 mL syringe")
        await r.startInjecting("C2", 3)
        await r.run(4000)
        r.cmd(Op.LeakSeen)
        let fastest = 0
        await r.run(2000, () => {
            if (-r.last.flowMlPerMin > fastest) fastest = -r.last.flowMlPerMin
            return false
        })
        eq(r.sup.state, State.Paused, "paused after leak seen")
        return fastest
    }

    test("FLOW-2: the decompression retraction is clamped to the syringe's retract limit (10 mL: 18.7 mL/min where 30 is asked)", async () => {
        const hw = hwRig()
        const limit = HW_MAX_RETRACT_ML_PER_MIN[2]
        const fastest = await retractAfterLeakPause(hw)
        atMost(fastest, limit + 1e-9, "retraction flow with the board's limits, mL/min")
        // it retracts at the limit, not slower (the clamp, not some other cap)
        atLeast(fastest, 0.98 * limit, "retraction flow with the board's limits, mL/min")
        figure("FLOW-2 10 mL retraction with the board's retract limit", fastest, "mL/min")
        // the same pause without the board's limits retracts at the configured 30 mL/min
        const sim = new Rig()
        const free = await retractAfterLeakPause(sim)
        near(free, sim.sup.cfg.retractMlPerMin, 0.01, "retraction flow without per-syringe limits, mL/min")
    })
})
