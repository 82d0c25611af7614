import { describe, test } from "@devicescript/test"
import { EventKind, Reason, State } from "../src/core"
import { Rig } from "./lib/rig"
import { AirPlant, airRig } from "./lib/air"
import { atMost, eq, figure, ok } from "./lib/assert"

// PRS-3 during the pressurisation (issue 12). With entrained air a start
// takes seconds to tens of seconds to level; until it has, the per-volume
// test has no steady value to judge against. rate.ts judgeReRise: the
// plunger's volume either compresses the gas or leaves through the needle,
// dP/dV = (1 - f) / S'(P): a normal start passes one peak of that slope (the
// gas stiffens, then the needle takes over); an occlusion sends it back above
// that peak. Cement here is shear-thinning (n = 0.5) as in physics v2.

function rigFor(airMl: number, flow: number, steadyPa: number): Rig {
    const r = airRig(airMl, flow, steadyPa)
    ;(r.plant as AirPlant).flowIndex = 0.5
    return r
}

/** The needle's share of the set flow. */
function share(r: Rig, flow: number): number {
    return ((r.plant as AirPlant).outflowMlPerS() * 60) / flow
}

/** A start from rest, run until the needle carries 95 % of the flow + 3 s; returns ms to 95 % (-1: never). */
async function normalStart(airMl: number, flow: number, steadyPa: number): Promise<number> {
    const r = rigFor(airMl, flow, steadyPa)
    await r.startInjecting("L1", flow)
    const t0 = r.tMs
    let levelMs = -1
    await r.run(120000, () => {
        if (levelMs < 0 && share(r, flow) > 0.95) levelMs = r.tMs
        return r.sup.state !== State.Injecting || (levelMs >= 0 && r.tMs > levelMs + 3000)
    })
    const label = `${airMl * 10} % air, ${flow} mL/min, steady ${steadyPa / 1e6} MPa`
    eq(r.countEvents(EventKind.Alarm, Reason.Blockage), 0, `no blockage alarm during the pressurisation (${label})`)
    eq(r.sup.state, State.Injecting, `still injecting (${label})`)
    ok(levelMs > 0, `the flow levelled (${label})`)
    return levelMs < 0 ? -1 : levelMs - t0
}

describe("PRS-3 during the pressurisation", () => {
    test("PRS-3: an occlusion during the pressurisation (1 % air, 3 mL/min, needle at 80 % of the flow, PRS-3's levelled arming not yet reached) pauses as a blockage within 3 s and before +1 MPa", async () => {
        const flow = 3
        const r = rigFor(0.1, flow, 1.5e6)
        await r.startInjecting("L1", flow)
        await r.run(30000, () => share(r, flow) >= 0.8 || r.sup.state !== State.Injecting)
        eq(r.sup.state, State.Injecting, "injecting at the onset")
        ok(!r.sup.riseArmed, "the per-second test is not armed yet (the pressure has not levelled)")
        const p0 = r.sup.pressurePa()
        r.plant.resistance = 1e15
        const t0 = r.tMs
        let peak = p0
        await r.run(5000, () => {
            if (r.sup.pressurePa() > peak) peak = r.sup.pressurePa()
            return r.sup.state !== State.Injecting
        })
        eq(r.sup.reason, Reason.Blockage, "paused as a blockage (before: over-pressure at 3.5 MPa)")
        atMost(r.tMs - t0, 3000, "detection time, ms")
        atMost(peak - p0, 1e6, "pressure rise above the value at the onset, Pa")
        figure("PRS-3 occlusion during the pressurisation (1 % air, 3 mL/min, needle at 80 %): detection", r.tMs - t0, "ms")
        figure("PRS-3 occlusion during the pressurisation (1 % air, 3 mL/min, needle at 80 %): rise", (peak - p0) / 1e6, "MPa")
    })

    test("PRS-3: normal starts are not a blockage: 1 % air at 6 mL/min, 5 % air at 0.5 mL/min, 5 % air at 3 mL/min with a viscous cement (3.2 MPa steady)", async () => {
        const a = await normalStart(0.1, 6, 2.2e6)
        const b = await normalStart(0.5, 0.5, 0.65e6)
        const c = await normalStart(0.5, 3, 3.2e6)
        figure("PRS-3 normal start 1 % air 6 mL/min: to 95 % flow", a / 1000, "s")
        figure("PRS-3 normal start 5 % air 0.5 mL/min: to 95 % flow", b / 1000, "s")
        figure("PRS-3 normal start 5 % air 3 mL/min, 3.2 MPa: to 95 % flow", c / 1000, "s")
    })
})
