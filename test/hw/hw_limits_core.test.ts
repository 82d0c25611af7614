// FLOW-2 in the core with the board's per-syringe limits
// (src/hw/encoder_limits.ts via the core config): a flow above the syringe's
// advance limit is refused with the limit as the answer's range.
import { describe, test } from "@devicescript/test"
import { Op, Reject } from "../../src/core"
import { HW_MAX_ADVANCE_ML_PER_MIN, HW_MAX_RETRACT_ML_PER_MIN, hwMaxAdvanceMlPerMin } from "../../src/hw/encoder_limits"
import { Rig } from "../lib/rig"
import { eq, near } from "../lib/assert"

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

})
