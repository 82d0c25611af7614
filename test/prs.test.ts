import { describe, test } from "@devicescript/test"
import { EventKind, Op, Reason, Reject, Source, State, Threshold, pressurePa, plungerAreaMm2, G_MPS2, CAL_TARE, CAL_GAIN, RATE_WINDOW, SYRINGES } from "../src/core"
import { Rig, SAMPLE_MS, sleepTick } from "./lib/rig"
import { atMost, eq, near, ok, figure, atLeast } from "./lib/assert"

describe("PRS pressure", () => {
    test("PRS-1/BOARD-3: five tare + 1 kg gain calibrations on a noisy cell (+/-0.5 N, sd 3 % of the mass per sample) each read a 3 kg load within 1.5 % (settled mean, not one sample)", async () => {
        const r = new Rig()
        r.plant.noiseN = 0.5 // uniform +/-0.5 N: sd 0.29 N
        let worst = 0
        for (let k = 0; k < 5; ++k) {
            r.massKg = 0
            await r.run(500)
            eq(r.cmd(Op.Tare).reject, Reject.Ok, "tare")
            r.massKg = 1
            await r.run(500) // the weight settles on the cell
            eq(r.cmd(Op.CalibrateGain, 1).reject, Reject.Ok, "gain")
            r.massKg = 3
            await r.run(300)
            let sum = 0
            for (let i = 0; i < 80; ++i) {
                r.tick()
                sum += r.sampleForceN
                if (i % 5 === 4) await sleepTick()
            }
            const want = 3 * G_MPS2
            const err = Math.abs(sum / 80 - want) / want
            if (err > worst) worst = err
        }
        atMost(worst, 0.015, "worst force error on a 3 kg load over five calibrations")
        figure("PRS-1 worst force error after tare + 1 kg gain, noisy cell (sd 0.29 N), 5 calibrations", worst * 100, "%")
    })

    test("PRS-1: pressure = (force - friction) / plunger area; tare only idle and unloaded; gain calibrated", async () => {
        // 450 N on a 19.1 mm bore with 5 N friction while advancing
        near(pressurePa(455, 5, 1, 19.1), 450 / (plungerAreaMm2(19.1) * 1e-6), 1, "advancing, Pa")
        near(pressurePa(445, 5, -1, 19.1), 450 / (plungerAreaMm2(19.1) * 1e-6), 1, "retracting, Pa")
        const r = new Rig()
        r.kgOverride = 0.3 // syringe holder weight (within the cell's 5 kg zero window)
        r.step(true)
        eq(r.cmd(Op.Tare).reject, Reject.Ok, "tare unloaded")
        near(r.sup.cell.tareKg, 0.3, 1e-9, "tare offset, kg")
        r.kgOverride = 2.3 // 20 N more on the cell: 68 kPa on the 20 mL plunger, above the 50 kPa tare limit (BOARD-3)
        r.step(true)
        eq(r.cmd(Op.Tare).reject, Reject.NotUnloaded, "re-tare under load")
        near(r.sup.cell.tareKg, 0.3, 1e-9, "tare unchanged")
        r.kgOverride = 0.3
        r.step(true)
        r.kgOverride = 2.3 * 1.05 + 0.3 * (1 - 1.05) // the cell reads 5 % high
        r.step(true)
        eq(r.cmd(Op.CalibrateGain, 2.0).reject, Reject.Ok, "gain with a 2 kg weight")
        near(r.sup.forceN(), 2.0 * G_MPS2, 1e-6, "calibrated force, N")
        ok((r.sup.calFlags & (CAL_TARE | CAL_GAIN)) === (CAL_TARE | CAL_GAIN), "tare and gain flags")
        r.kgOverride = 0.3
        r.prepare("C2")
        eq(r.sup.state, State.Ready, "armed")
        eq(r.cmd(Op.Tare).reject, Reject.WrongState, "tare refused when not idle")
        eq(r.cmd(Op.CalibrateGain, 3, 0, Source.Host).reject, Reject.WrongState, "gain refused when not idle")
        eq(r.cmd(Op.CalibrateGain, NaN).reject, Reject.BadNumber, "gain with NaN")
    })

    test("PRS-2: over-pressure stops the motor in the same control step and pauses(overpressure)", async () => {
        const r = new Rig()
        await r.startInjecting("C2", 3)
        await r.run(5000)
        // needle clogging: pressure climbs towards 6 MPa at < 2 MPa/s; the
        // rise check is set to its least sensitive end so over-pressure acts
        r.sup.cfg.riseRatePaPerS = 2e6
        r.sup.cfg.occlusionPaPerMl = 1e12 // and the per-volume blockage test off: this one is about PRS-2
        r.plant.resistance *= 4
        let crossStep = -1
        let stopStep = -1
        let peakPa = 0
        let stopPa = 0
        await r.run(30000, () => {
            if (crossStep < 0 && r.sup.pressurePa() > 3.5e6) {
                crossStep = r.steps
            }
            if (stopStep < 0 && r.last.flowMlPerMin > 0 && r.sup.pressurePa() > peakPa) peakPa = r.sup.pressurePa()
            if (stopStep < 0 && r.last.flowMlPerMin <= 0) {
                stopStep = r.steps
                stopPa = r.sup.pressurePa()
            }
            return stopStep >= 0
        })
        eq(r.sup.state, State.Paused, "paused")
        eq(r.sup.reason, Reason.Overpressure, "reason")
        // the check looks 40 ms ahead along the slope: the stop comes at the crossing or before it
        ok(crossStep < 0 || stopStep <= crossStep, `stop step ${stopStep} at or before the crossing step ${crossStep}`)
        atMost(peakPa, 3.5e6, "highest measured pressure while advancing, Pa")
        figure("PRS-2 measured pressure at the stop (limit 3.5 MPa, 40 ms lead)", stopPa / 1e6, "MPa")
        eq(r.last.enabled, false, "driver disabled in the stop step (FAULT-11: the shortest path)")
        await r.run(40, () => r.last.speedRatio < 0)
        ok(r.last.speedRatio < 0, "decompressing within 40 ms")
    })

    test("PRS-2: a step to 4 MPa trips over-pressure within one sample (<= 50 ms); limit configurable lower only", async () => {
        const r = new Rig()
        await r.startInjecting("C2", 3)
        await r.run(3000)
        // the load cell suddenly reads 4 MPa on the plunger
        const kg = (4e6 * plungerAreaMm2(19.1) * 1e-6 + 5) / G_MPS2
        r.kgOverride = kg
        const t0 = r.tMs
        r.tick()
        eq(r.sup.state, State.Paused, "paused on the first sample above 3.5 MPa")
        eq(r.sup.reason, Reason.Overpressure, "reason")
        atMost(r.tMs - t0, 50, "latency from crossing sample, ms")
        ok(r.last.flowMlPerMin <= 0, "no forward command")
        r.kgOverride = undefined
        const q = new Rig()
        q.prepare("C2")
        eq(q.cmd(Op.SetThreshold, Threshold.OverpressurePa, 4e6).reject, Reject.OutOfRange, "above 3.5 MPa refused")
        eq(q.cmd(Op.SetThreshold, Threshold.OverpressurePa, 2e6, Source.Host).pending, false, "lowering is immediate")
        near(q.sup.cfg.overpressurePa, 2e6, 1e-6, "new limit, Pa")
        ok(q.cmd(Op.SetThreshold, Threshold.OverpressurePa, 3e6, Source.Host).pending, "raising waits for confirm")
        near(q.sup.cfg.overpressurePa, 2e6, 1e-6, "limit unchanged until confirmed")
    })

    test("PRS-3: a sustained rise > 0.5 MPa/s pauses(blockage) within 3 samples of the window", async () => {
        const r = new Rig()
        await r.startInjecting("C2", 3)
        await r.run(4000)
        ok(r.sup.riseArmed, "rise check armed after pressurisation settles")
        const p0 = r.sup.pressurePa()
        // blockage: pressure climbs 1 MPa/s on top of the steady value
        let k = 0
        let tripT = -1
        const area = plungerAreaMm2(19.1) * 1e-6
        const t0 = r.tMs
        while (k < 200 && r.sup.state === State.Injecting) {
            const p = p0 + (1e6 * (r.tMs - t0)) / 1000
            r.kgOverride = (p * area + 5) / G_MPS2
            r.tick()
            k++
        }
        eq(r.sup.state, State.Paused, "paused")
        eq(r.sup.reason, Reason.Blockage, "reason blockage")
        const ms = r.tMs - t0
        // the slope window is RATE_WINDOW samples (500 ms, wide enough that 1 mL syringe noise never
        // trips it, PRS-3): a 1 MPa/s rise shows within the window plus the 3 confirming samples
        atMost(ms, (RATE_WINDOW + 3) * SAMPLE_MS, "detection time for 1 MPa/s, ms (40-sample window + 3 samples)")
        atMost((ms / 1000) * 1e6, 1e6, "rise before detection below 1 MPa (PRS-3), Pa")
        figure("PRS-3 detection time for a 1 MPa/s rise", ms, "ms")
        figure("PRS-3 pressure rise before detection", (ms / 1000) * 1e6, "Pa")
    })

    test("PRS-3: sensor noise alone never trips the rise-rate cutoff (60 s, +/-3 N noise)", async () => {
        const r = new Rig()
        await r.startInjecting("C2", 3)
        r.plant.noiseN = 3 // ~10 kPa of pressure noise, several times a real load cell's
        r.sup.cfg.riseArmMs = 0
        await r.run(60000, () => r.sup.state !== State.Injecting)
        eq(r.countEvents(EventKind.Alarm, Reason.Blockage), 0, "blockage alarms from noise")
        ok(r.sup.state === State.Injecting || r.sup.reason === Reason.CapReached, `still injecting or at cap: ${r.sup.state}/${r.sup.reason}`)
    })

    test("PRS-3: a complete occlusion mid-injection is a blockage within 3 s and before +1 MPa (0.5-6 mL/min, 0.02-0.3 mL/MPa)", async () => {
        await occlusion(0.5, 0.02)
        await occlusion(6, 0.02)
        await occlusion(0.5, 0.3)
        await occlusion(6, 0.3)
    })

    test("PRS-3: noise (sigma 0.5 N) never trips it with 1, 3 or 20 mL syringes at 0.5 and 6 mL/min; curing never trips it", async () => {
        const syr = [0, 1, 3]
        for (let i = 0; i < 6; ++i) await noiseOnly(syr[i % 3], i < 3 ? 0.5 : 6)
        // curing: the needle's resistance grows 1 %/s (doubling in ~70 s) at 0.5 mL/min
        const c = new Rig()
        c.plant.resistance = 1e6 / (0.5 / 60)
        await c.startInjecting("L1", 0.5)
        await c.run(60000, () => {
            c.plant.resistance *= 1 + 0.01 * (SAMPLE_MS / 1000)
            return c.sup.state !== State.Injecting
        })
        eq(c.countEvents(EventKind.Alarm, Reason.Blockage), 0, "no blockage from curing")
        figure("PRS-3 curing at 0.5 mL/min: pressure after 60 s", c.sup.pressurePa() / 1e6, "MPa")
    })

    test("PRS-4: a 25 % pressure fall in 1 s raises leakSuspected (advisory); pauses only when configured", async () => {
        for (let auto = 0; auto < 2; ++auto) await leakSignature(auto)
    })

    test("PRS-4: a realistic leak (3 % plunger pressure change) is not detectable by pressure (why leak seen is primary)", async () => {
        const r = new Rig()
        await r.startInjecting("C2", 3)
        await r.run(5000)
        r.plant.resistance *= 0.97
        await r.run(3000)
        eq(r.countEvents(EventKind.Alarm, Reason.LeakSuspected), 0, "no alarm for a 3 % change")
    })
})

async function leakSignature(auto: number) {
    const r = new Rig()
    await r.startInjecting("C2", 3)
    if (auto === 1) r.cmd(Op.SetThreshold, Threshold.LeakAutoPause, 1, Source.Local)
    await r.run(5000)
    r.plant.resistance *= 0.7 // a large leak path opens
    await r.run(2000, () => r.countEvents(EventKind.Alarm, Reason.LeakSuspected) > 0)
    eq(r.countEvents(EventKind.Alarm, Reason.LeakSuspected), 1, `leakSuspected events (autoPause ${auto})`)
    if (auto === 1) {
        r.tick()
        eq(r.sup.state, State.Paused, "auto-pause on signature")
        eq(r.sup.reason, Reason.LeakSuspected, "reason")
    } else eq(r.sup.state, State.Injecting, "advisory only: still injecting")
}

/** PRS-3: steady injection at `flow`, compliance `compMlPerMPa`, then a complete occlusion. */
async function occlusion(flow: number, compMlPerMPa: number) {
    const r = new Rig()
    r.plant.complianceMlPerPa = compMlPerMPa * 1e-6
    r.plant.resistance = 0.5e6 / (flow / 60) // 0.5 MPa at the set flow
    r.plant.noiseN = 0.87 // uniform +/-0.87 N: sigma 0.5 N
    await r.startInjecting("L1", flow)
    // five time constants (R x C) to steady flow, at least 10 s
    const settleMs = Math.max(10000, 5 * r.plant.resistance * r.plant.complianceMlPerPa * 1000)
    await r.run(settleMs, () => r.sup.state !== State.Injecting)
    eq(r.sup.state, State.Injecting, `steady injection before the occlusion (${flow} mL/min, ${compMlPerMPa} mL/MPa)`)
    const p0 = r.sup.pressurePa()
    r.plant.resistance = 1e15 // complete occlusion
    const t0 = r.tMs
    let peak = p0
    await r.run(5000, () => {
        if (r.sup.pressurePa() > peak) peak = r.sup.pressurePa()
        return r.sup.state !== State.Injecting
    })
    eq(r.sup.reason, Reason.Blockage, `paused as a blockage (${flow} mL/min, ${compMlPerMPa} mL/MPa)`)
    const ms = r.tMs - t0
    atMost(ms, 3000, "detection time, ms")
    atMost(peak - p0, 1e6, "plunger pressure rise above steady, Pa")
    figure(`PRS-3 occlusion at ${flow} mL/min, ${compMlPerMPa} mL/MPa: detection`, ms, "ms")
    figure(`PRS-3 occlusion at ${flow} mL/min, ${compMlPerMPa} mL/MPa: rise`, (peak - p0) / 1e6, "MPa")
}

/** PRS-3: 30 s of injection with load-cell noise only. */
async function noiseOnly(syringe: number, flow: number) {
    const r = new Rig()
    const s = SYRINGES[syringe]
    r.step(true)
    eq(r.cmd(Op.SetSyringe, s.id).reject, Reject.Ok, "syringe")
    r.plant.boreMm = s.boreMm
    r.plant.frictionN = s.frictionN
    r.plant.resistance = 1e6 / (flow / 60)
    r.plant.noiseN = 0.87
    await r.startInjecting("L1", flow)
    await r.run(30000, () => r.sup.state !== State.Injecting)
    eq(r.countEvents(EventKind.Alarm, Reason.Blockage), 0, `no blockage from noise (${s.name}, ${flow} mL/min)`)
}
