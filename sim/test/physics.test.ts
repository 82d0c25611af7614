import { strict as assert } from "node:assert"
import { describe, test } from "node:test"
import {
    DEFAULT_BODY_RESISTANCE_PA_S_PER_ML,
    DriveInput,
    InjectorPlant,
    METASTATIC_TUMOR_FACTOR,
    PlantConfig,
    PlantState,
    needleInnerDiameterMm,
    plungerSpeedMmPerS,
    poiseuilleDeltaPPa,
    referenceConfig,
    runConstantFlow,
    runHold,
} from "../model"

const FLOW = 3 // mL/min
const Q = FLOW / 60 // mL/s

function near(actual: number, expected: number, relTol: number, what: string): void {
    const err = Math.abs(actual - expected) / Math.abs(expected)
    assert.ok(err <= relTol, `${what}: ${actual} vs ${expected} (rel. error ${(err * 100).toFixed(2)} % > ${relTol * 100} %)`)
}

function conservationErrorMl(s: PlantState): number {
    return Math.abs(s.plungerVolumeMl - (s.injectedMl + s.storedMl - s.gapMl))
}

/** Retract the plunger by `distanceMm` with a bang-bang position profile within the drive limits. */
function retract(plant: InjectorPlant, distanceMm: number, dtS = 0.001): void {
    const target = plant.plungerPosMm() - distanceMm
    const a = plant.params.maxAccelMmPerS2
    for (let i = 0; i < 20000; i++) {
        const remaining = plant.plungerPosMm() - target
        if (remaining <= 1e-6) break
        // decelerate in time to stop at the target
        const vStop = Math.sqrt(2 * a * remaining)
        const cmd = -Math.min(plant.params.maxSpeedMmPerS, vStop, remaining / dtS)
        plant.step(dtS, { enabled: true, speedCmdMmPerS: cmd })
    }
}

describe("SIM-1 needle (Hagen-Poiseuille)", () => {
    test("SIM-1: 14 G regular-wall ID is 1.6 mm (CLINICAL-BASIS)", () => {
        assert.equal(needleInnerDiameterMm(14), 1.6)
        assert.ok(needleInnerDiameterMm(14, "thin") > 1.6)
        assert.ok(needleInnerDiameterMm(11) > needleInnerDiameterMm(13))
        assert.throws(() => needleInnerDiameterMm(22), /gauge 22/)
    })

    test("SIM-1: analytic needle dp ~ 1.55 MPa at 50 Pa.s and ~3.1 MPa at 100 Pa.s (14 G x 100 mm, 3 mL/min)", () => {
        near(poiseuilleDeltaPPa(1.6, 100, 50, Q), 1.554e6, 0.01, "dp 50 Pa.s")
        near(poiseuilleDeltaPPa(1.6, 100, 100, Q), 3.108e6, 0.01, "dp 100 Pa.s")
    })

    test("SIM-1: plunger pressure ~ 1.5 MPa at 3 mL/min through 14 G x 100 mm at 50 Pa.s", () => {
        const s = runConstantFlow(new InjectorPlant(referenceConfig(50)), FLOW, 20)
        const dp = s.chamberPressurePa - s.bodyPressurePa
        assert.ok(dp >= 1.5e6 && dp <= 1.6e6, `needle dp ${dp}`)
        assert.ok(s.chamberPressurePa >= 1.5e6 && s.chamberPressurePa <= 1.6e6, `plunger pressure ${s.chamberPressurePa}`)
        near(s.needleFlowMlPerS, Q, 0.002, "steady needle flow")
        // force = P x area + dynamic friction (5 N for the 20 mL syringe)
        near(s.forceN, s.chamberPressurePa * 286.52e-6 + 5, 0.002, "plunger force")
    })

    test("SIM-1: plunger pressure ~ 3.1 MPa at 3 mL/min through 14 G x 100 mm at 100 Pa.s", () => {
        const s = runConstantFlow(new InjectorPlant(referenceConfig(100)), FLOW, 25)
        near(s.chamberPressurePa - s.bodyPressurePa, 3.1e6, 0.02, "needle dp")
    })

    test("SIM-1: thinner needle, longer needle and occlusion raise the pressure as d^-4 and L", () => {
        const base = runConstantFlow(new InjectorPlant(referenceConfig(50)), FLOW, 20)
        const long = runConstantFlow(new InjectorPlant(referenceConfig(50, 1, { needle: { gauge: 14, lengthMm: 150 } })), FLOW, 30)
        const g11 = runConstantFlow(new InjectorPlant(referenceConfig(50, 1, { needle: { gauge: 11, lengthMm: 100 } })), FLOW, 20)
        const dp = (s: PlantState) => s.chamberPressurePa - s.bodyPressurePa
        near(dp(long) / dp(base), 1.5, 0.01, "length ratio")
        near(dp(base) / dp(g11), Math.pow(2.388 / 1.6, 4), 0.01, "diameter ratio")
    })
})

describe("SIM-1 vertebral body", () => {
    test("SIM-1: intravertebral pressure ~ 6.8 kPa normal vs ~ 40 kPa metastatic (tumorFactor 5.8) at 3 mL/min", () => {
        const normal = runConstantFlow(new InjectorPlant(referenceConfig(50)), FLOW, 20)
        const met = runConstantFlow(new InjectorPlant(referenceConfig(50, METASTATIC_TUMOR_FACTOR)), FLOW, 20)
        near(normal.bodyPressurePa, 6830, 0.03, "normal")
        near(met.bodyPressurePa, 39660, 0.03, "metastatic")
        near(DEFAULT_BODY_RESISTANCE_PA_S_PER_ML, 136600, 1e-6, "default body resistance")
    })

    test("SIM-1: body pressure does not depend on cement viscosity by default, does with viscosityExponent 1", () => {
        const a = runConstantFlow(new InjectorPlant(referenceConfig(100)), FLOW, 25)
        near(a.bodyPressurePa, 6830, 0.03, "exp 0")
        const b = runConstantFlow(new InjectorPlant(referenceConfig(100, 1, { vertebra: { viscosityExponent: 1 } })), FLOW, 25)
        near(b.bodyPressurePa, 13660, 0.03, "exp 1")
    })

    test("SIM-1: body filling = injected - leaked, and settles to the injected volume", () => {
        const plant = new InjectorPlant(referenceConfig(50))
        const s = runConstantFlow(plant, FLOW, 20)
        assert.ok(Math.abs(s.injectedMl - (s.bodyFilledMl + s.leakedMl)) < 1e-9)
        assert.equal(s.leakedMl, 0)
        near(s.bodyFilledMl, s.injectedMl, 1e-12, "no leak: all in the body")
    })
})

describe("SIM-1 leak paths", () => {
    function leakRun(tumorFactor: number) {
        const plant = new InjectorPlant(
            referenceConfig(50, tumorFactor, { leaks: [{ kind: "venous", atMl: 1.0, resistanceFactor: 0.2 }] })
        )
        // 1.0 mL at 3 mL/min = 20 s (plus a little for compliance)
        const before = runConstantFlow(plant, FLOW, 19.5)
        assert.equal(before.leaks[0].open, false)
        const after = runConstantFlow(plant, FLOW, 20)
        assert.equal(after.leaks[0].open, true)
        return { before, after }
    }

    test("SIM-1: a venous leak in a metastatic body changes plunger pressure by only 1-3 % while the body pressure collapses", () => {
        const { before, after } = leakRun(METASTATIC_TUMOR_FACTOR)
        const plungerChange = (before.chamberPressurePa - after.chamberPressurePa) / before.chamberPressurePa
        const forceChange = (before.forceN - after.forceN) / before.forceN
        assert.ok(plungerChange > 0.01 && plungerChange < 0.03, `plunger pressure change ${plungerChange}`)
        assert.ok(forceChange > 0.01 && forceChange < 0.03, `force change ${forceChange}`)
        const bodyDrop = (before.bodyPressurePa - after.bodyPressurePa) / before.bodyPressurePa
        near(bodyDrop, 5 / 6, 0.02, "body pressure drop (parallel 0.2 x Rb path)")
        // the leak takes 5/6 of the flow at steady state (conductance 5 vs 1)
        near(after.leaks[0].flowMlPerS, (5 / 6) * Q, 0.02, "leak flow")
        assert.ok(after.leakedMl > 0.5, `leaked ${after.leakedMl}`)
        assert.equal(after.leakedMlByKind.venous, after.leakedMl)
        assert.equal(after.leakedMlByKind.epidural, 0)
    })

    test("SIM-1: a leak in a normal body changes plunger pressure by < 1 %", () => {
        const { before, after } = leakRun(1)
        const change = (before.chamberPressurePa - after.chamberPressurePa) / before.chamberPressurePa
        assert.ok(change > 0 && change < 0.01, `change ${change}`)
    })

    test("SIM-1: several leak kinds open in order of volume and are tracked per kind", () => {
        const plant = new InjectorPlant(
            referenceConfig(50, METASTATIC_TUMOR_FACTOR, {
                leaks: [
                    { kind: "softTissue", atMl: 0.3, resistanceFactor: 1 },
                    { kind: "epidural", atMl: 0.6, resistanceFactor: 2 },
                    { kind: "venous", atS: 1000, resistanceFactor: 0.1 },
                ],
            })
        )
        const s = runConstantFlow(plant, FLOW, 30)
        assert.deepEqual(s.leaks.map(l => l.open), [true, true, false])
        assert.ok(s.leakedMlByKind.softTissue > s.leakedMlByKind.epidural)
        assert.ok(s.leakedMlByKind.epidural > 0)
        assert.equal(s.leakedMlByKind.venous, 0)
        assert.ok(s.leaks[0].openedAtS! < s.leaks[1].openedAtS!)
        assert.ok(Math.abs(s.injectedMl - s.bodyFilledMl - s.leakedMl) < 1e-9)
    })

    test("SIM-1: leaks are one-way: suction never returns leaked cement", () => {
        const plant = new InjectorPlant(referenceConfig(50, 1, { leaks: [{ kind: "venous", atMl: 0.1, resistanceFactor: 0.5 }] }))
        runConstantFlow(plant, FLOW, 10)
        const leaked = plant.state().leakedMl
        retract(plant, 1) // pull well past the stored volume: vacuum, backflow
        runHold(plant, 5)
        assert.ok(plant.state().leakedMl >= leaked - 1e-12)
    })
})

describe("SIM-1 drive, friction, forces", () => {
    test("SIM-1: stepper respects max speed and acceleration; disabled holds position at once", () => {
        // thin fluid so 10 mm/s (2.9 mL/s) stays far below the stall force
        const plant = new InjectorPlant(referenceConfig(0.1))
        plant.step(0.1, { enabled: true, speedCmdMmPerS: 100 })
        near(plant.state().plungerVelMmPerS, 2, 1e-6, "v after 0.1 s at 20 mm/s^2")
        plant.step(1, { enabled: true, speedCmdMmPerS: 100 })
        assert.equal(plant.state().plungerVelMmPerS, 10)
        const pos = plant.plungerPosMm()
        plant.step(0.5, { enabled: false, speedCmdMmPerS: 100 })
        const s = plant.state()
        assert.equal(s.plungerPosMm, pos)
        assert.equal(s.plungerVelMmPerS, 0)
        // retraction is acceleration-limited too
        plant.step(0.05, { enabled: true, speedCmdMmPerS: -10 })
        near(plant.state().plungerVelMmPerS, -1, 1e-6, "retract ramp")
    })

    test("SIM-1: friction is dynamic in motion (sign by direction), static at breakaway, held when still", () => {
        const plant = new InjectorPlant({ syringe: { preset: "20mL" }, cement: { viscosityPaS: 50 } })
        assert.equal(plant.state().forceN, 0)
        plant.step(0.002, { enabled: true, speedCmdMmPerS: 0.2 })
        const start = plant.state()
        assert.ok(start.frictionN > 7.5 && start.frictionN <= 8, `breakaway ${start.frictionN}`)
        runConstantFlow(plant, FLOW, 10)
        near(plant.state().frictionN, 5, 0.01, "dynamic forward")
        plant.step(0.5, { enabled: false, speedCmdMmPerS: 0 })
        near(plant.state().frictionN, 5, 0.01, "held when still")
        plant.step(0.5, { enabled: true, speedCmdMmPerS: -1 })
        assert.ok(plant.state().frictionN < -4.9, `retracting friction ${plant.state().frictionN}`)
        // 1 mL syringe: friction scales with bore
        const small = new InjectorPlant({ syringe: { preset: "1mL" }, cement: { viscosityPaS: 50 } })
        runConstantFlow(small, 0.5, 5)
        near(small.state().frictionN, (5 * 4.78) / 19.1, 0.01, "1 mL dynamic friction")
    })

    test("SIM-1: stall: the drive cannot push beyond its stall force (blockage stays bounded)", () => {
        const plant = new InjectorPlant(referenceConfig(50, 1, { occlusion: { atS: 5, factor: 1000 } }))
        runConstantFlow(plant, 6, 60)
        const s = plant.state()
        // stall force + at most the breakaway friction of a restart
        assert.ok(s.forceN <= 2500 + 8, `force ${s.forceN}`)
        assert.equal(s.stalled || s.plungerVelMmPerS < 0.1, true)
        assert.ok(s.forceN > 2400, `force ${s.forceN}`)
        assert.ok(conservationErrorMl(s) < 1e-6)
    })

    test("SIM-1: the plunger bottoms out after delivering the syringe fill", () => {
        const plant = new InjectorPlant(referenceConfig(5, 1, { syringe: { preset: "1mL", fillMl: 0.5 } }))
        runConstantFlow(plant, 6, 10)
        const s = plant.state()
        near(s.plungerVolumeMl, 0.5, 1e-9, "plunger volume at end of travel")
        assert.equal(s.atEndOfTravel, true)
    })
})

describe("SIM-1 blockage", () => {
    test("SIM-1: needle occlusion at a volume raises pressure fast (> 0.5 MPa/s, PRS-3 territory)", () => {
        const plant = new InjectorPlant(referenceConfig(50, 1, { occlusion: { atMl: 0.5, factor: 100 } }))
        const s0 = runConstantFlow(plant, FLOW, 11)
        assert.equal(s0.needleOcclusionFactor, 100)
        const p0 = plant.state().chamberPressurePa
        const s1 = runConstantFlow(plant, FLOW, 0.5)
        const rateMPaPerS = (s1.chamberPressurePa - p0) / 0.5 / 1e6
        // with the needle shut, dP/dt -> Q / C = 0.05 mL/s / 0.02 mL/MPa = 2.5 MPa/s
        assert.ok(rateMPaPerS > 2 && rateMPaPerS < 2.6, `rise rate ${rateMPaPerS} MPa/s`)
    })

    test("SIM-1: setNeedleOcclusionFactor applies at once and can be cleared", () => {
        const plant = new InjectorPlant(referenceConfig(50))
        runConstantFlow(plant, FLOW, 5)
        plant.setNeedleOcclusionFactor(1e9)
        const p0 = plant.state().chamberPressurePa
        runConstantFlow(plant, FLOW, 0.2)
        assert.ok(plant.state().chamberPressurePa - p0 > 0.4e6)
        plant.setNeedleOcclusionFactor(1)
        runConstantFlow(plant, FLOW, 20)
        near(plant.state().chamberPressurePa, 1.561e6, 0.01, "back to steady state")
    })
})

describe("SIM-1 compliance and afterflow", () => {
    test("SIM-1: afterflow after a hard stop at ~1.5 MPa is a few hundredths of a mL (0.02 mL/MPa)", () => {
        const plant = new InjectorPlant(referenceConfig(50))
        const atStop = runConstantFlow(plant, FLOW, 20)
        near(atStop.storedMl, 0.02 * atStop.chamberPressurePa / 1e6, 1e-9, "stored = C x P")
        const settled = runHold(plant, 30)
        const afterflowMl = settled.injectedMl - atStop.injectedMl
        assert.ok(afterflowMl > 0.02 && afterflowMl < 0.05, `afterflow ${afterflowMl}`)
        near(afterflowMl, atStop.storedMl, 0.01, "afterflow = stored volume")
        assert.ok(settled.chamberPressurePa < 1e3, `residual ${settled.chamberPressurePa}`)
    })

    test("SIM-1: retracting the stored volume at the stop reduces afterflow to ~0", () => {
        const plant = new InjectorPlant(referenceConfig(50))
        const atStop = runConstantFlow(plant, FLOW, 20)
        retract(plant, atStop.storedMl / plant.params.mlPerMm)
        const settled = runHold(plant, 30)
        const afterflowMl = settled.injectedMl - atStop.injectedMl
        assert.ok(Math.abs(afterflowMl) < 0.005, `afterflow ${afterflowMl}`)
        assert.ok(conservationErrorMl(settled) < 1e-6)
    })

    test("SIM-1: retracting past vacuum opens a gap that a later advance takes up before delivery resumes", () => {
        const plant = new InjectorPlant(referenceConfig(50))
        runConstantFlow(plant, FLOW, 20)
        retract(plant, 2) // 0.57 mL: far more than the 0.03 mL stored
        let s = plant.state()
        assert.equal(s.chamberPressurePa, -90_000)
        assert.ok(s.gapMl > 0.5, `gap ${s.gapMl}`)
        assert.ok(s.forceN < 0, "suction pulls on the plunger")
        assert.ok(conservationErrorMl(s) < 1e-6, `conservation ${conservationErrorMl(s)}`)
        const injectedAtRetract = s.injectedMl
        // advance again at 6 mL/min: no delivery until the gap is closed
        runConstantFlow(plant, 6, 2)
        s = plant.state()
        assert.ok(s.gapMl > 0.2, "still taking up slack")
        assert.ok(s.injectedMl <= injectedAtRetract + 1e-9, "no forward delivery while the gap is open")
        runConstantFlow(plant, 6, 20)
        s = plant.state()
        assert.equal(s.gapMl, 0)
        assert.ok(s.chamberPressurePa > 1e6)
        assert.ok(conservationErrorMl(s) < 1e-6)
    })

    test("SIM-1: volume conservation: plunger volume = injected + stored within 1e-6 mL", () => {
        const plant = new InjectorPlant(
            referenceConfig(50, METASTATIC_TUMOR_FACTOR, {
                leaks: [{ kind: "venous", atMl: 0.4, resistanceFactor: 0.3 }],
                occlusion: { atS: 25, factor: 3 },
            })
        )
        const inputs: [number, DriveInput][] = [
            [5, { enabled: true, speedCmdMmPerS: plungerSpeedMmPerS(3, 19.1) }],
            [2, { enabled: false, speedCmdMmPerS: 0 }],
            [10, { enabled: true, speedCmdMmPerS: plungerSpeedMmPerS(6, 19.1) }],
            [3, { enabled: true, speedCmdMmPerS: plungerSpeedMmPerS(1, 19.1) }],
            [10, { enabled: true, speedCmdMmPerS: plungerSpeedMmPerS(4, 19.1) }],
            [5, { enabled: false, speedCmdMmPerS: 0 }],
        ]
        let maxErr = 0
        for (const [durationS, input] of inputs) {
            const end = plant.timeS() + durationS
            while (plant.timeS() < end - 1e-9) {
                plant.step(0.0125, input)
                const s = plant.state()
                assert.equal(s.gapMl, 0)
                maxErr = Math.max(maxErr, Math.abs(s.plungerVolumeMl - (s.injectedMl + s.storedMl)))
            }
        }
        assert.ok(maxErr < 1e-6, `max conservation error ${maxErr} mL`)
        const s = plant.state()
        assert.ok(s.leakedMl > 0)
        assert.ok(Math.abs(s.injectedMl - s.bodyFilledMl - s.leakedMl) < 1e-9)
    })
})

describe("SIM-1 integration", () => {
    const stiffCases: [string, PlantConfig, number][] = [
        ["1 mL syringe, 14 G, 500 Pa.s", { syringe: { preset: "1mL" }, needle: { gauge: 14 }, cement: { viscosityPaS: 500 } }, 0.5],
        ["1 mL syringe, 10 G thin wall x 50 mm, 5 Pa.s", { syringe: { preset: "1mL" }, needle: { gauge: 10, wall: "thin", lengthMm: 50 }, cement: { viscosityPaS: 5 } }, 3],
        ["20 mL syringe, 11 G, set cement", { needle: { gauge: 11 }, cement: { preset: "highViscosity", mixedAtS: -800 } }, 3],
        ["20 mL syringe, 16 G x 150 mm, 500 Pa.s, metastatic", { needle: { gauge: 16, lengthMm: 150 }, cement: { viscosityPaS: 500 }, vertebra: { tumorFactor: 5.8 } }, 3],
    ]
    for (const [name, config, flow] of stiffCases) {
        test(`SIM-1: stable for ${name} at any outer step (0.1 ms .. 1 s)`, () => {
            const results = [0.0001, 0.001, 0.05, 1].map(dtS => {
                const plant = new InjectorPlant(config)
                const s = runConstantFlow(plant, flow, 10, dtS)
                for (const v of [s.chamberPressurePa, s.bodyPressurePa, s.forceN, s.injectedMl, s.needleFlowMlPerS])
                    assert.ok(Number.isFinite(v), `${name} dt ${dtS}: non-finite state`)
                assert.ok(s.chamberPressurePa <= 2500 / (plant.params.areaMm2 * 1e-6) + 1e5, `${name}: pressure beyond stall`)
                assert.ok(conservationErrorMl(s) < 1e-6, `${name} dt ${dtS}: conservation ${conservationErrorMl(s)}`)
                return s
            })
            // the outer step does not change the answer (sub-steps are fixed)
            const ref = results[1]
            for (const s of results) {
                assert.ok(Math.abs(s.chamberPressurePa - ref.chamberPressurePa) <= 1e-3 * Math.abs(ref.chamberPressurePa) + 100,
                    `${name}: ${s.chamberPressurePa} vs ${ref.chamberPressurePa}`)
            }
        })
    }

    test("SIM-1: 1 mL syringe at 500 Pa.s approaches the Hagen-Poiseuille steady state without overshoot", () => {
        const plant = new InjectorPlant({ syringe: { preset: "1mL" }, needle: { gauge: 14 }, cement: { viscosityPaS: 500 } })
        const expected = poiseuilleDeltaPPa(1.6, 100, 500, 0.5 / 60) + 6830 * (0.5 / 3)
        let prev = 0
        for (let i = 0; i < 400; i++) {
            plant.step(0.05, { enabled: true, speedCmdMmPerS: plungerSpeedMmPerS(0.5, 4.78) })
            const p = plant.state().chamberPressurePa
            assert.ok(p >= prev - 1 && p <= expected * 1.001, `step ${i}: ${p}`)
            prev = p
        }
        near(prev, expected, 0.01, "steady plunger pressure")
    })

    test("SIM-1: step(dt) splits dt into equal sub-steps; dt = 0 is a no-op; bad input is rejected", () => {
        const plant = new InjectorPlant(referenceConfig(50))
        plant.step(0.0123, { enabled: true, speedCmdMmPerS: 1 })
        near(plant.timeS(), 0.0123, 1e-12, "time")
        plant.step(0, { enabled: true, speedCmdMmPerS: 1 })
        near(plant.timeS(), 0.0123, 1e-12, "time after dt=0")
        assert.throws(() => plant.step(-1, { enabled: true, speedCmdMmPerS: 1 }))
        assert.throws(() => plant.step(0.01, { enabled: true, speedCmdMmPerS: NaN }))
        assert.throws(() => new InjectorPlant({ leaks: [{ kind: "venous", resistanceFactor: 0.2 }] }), /atMl or atS/)
        assert.throws(() => new InjectorPlant({ syringe: { boreMm: -1 } }), /boreMm/)
    })

    test("SIM-1: cement ageing drifts the plunger pressure upward at constant flow", () => {
        const plant = new InjectorPlant({ cement: { preset: "lowViscosity", mixedAtS: -240 } })
        const s0 = runConstantFlow(plant, FLOW, 10)
        const s1 = runConstantFlow(plant, FLOW, 60)
        assert.ok(s0.chamberPressurePa > 1.5e6 && s0.chamberPressurePa < 2e6, `${s0.chamberPressurePa}`)
        assert.ok(s1.chamberPressurePa > s0.chamberPressurePa * 1.3)
        assert.equal(s1.cementPhase, "working")
    })
})
