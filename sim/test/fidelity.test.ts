// SIM-6 (issue 12): model fidelity v2. Figures from CLINICAL-BASIS ("Rheology
// and trapped air") and the papers literature.ts fidelityChecks() names.
import { strict as assert } from "node:assert"
import { describe, test } from "node:test"
import {
    ChamberCompliance,
    InjectorPlant,
    PlantConfig,
    PlantState,
    airSecantComplianceMlPerMPa,
    cementTimeFactor,
    consistencyPaSn,
    fidelityChecks,
    literatureChecks,
    plungerSpeedMmPerS,
    poiseuilleDeltaPPa,
    powerLawPipeDeltaPPa,
    powerLawPipeFlowMlPerS,
    referenceConfig,
    runConstantFlow,
    runHold,
} from "../model"

const FLOW = 3
const Q = FLOW / 60

function near(actual: number, expected: number, relTol: number, what: string): void {
    const err = Math.abs(actual - expected) / Math.abs(expected)
    assert.ok(err <= relTol, `${what}: ${actual} vs ${expected} (rel. error ${(err * 100).toFixed(2)} % > ${relTol * 100} %)`)
}

const v2 = (viscosityPaS: number, extra: PlantConfig = {}): PlantConfig =>
    referenceConfig(viscosityPaS, 1, { physics: "v2", ...extra })
const needleDp = (s: PlantState) => s.chamberPressurePa - s.bodyPressurePa
const conservationErrorMl = (s: PlantState) => Math.abs(s.plungerVolumeMl - (s.injectedMl + s.storedMl - s.gapMl))

describe("SIM-6 shear-thinning cement (power law)", () => {
    test("SIM-6: power-law pipe solution: n = 1 is Hagen-Poiseuille; flow and pressure invert each other", () => {
        near(powerLawPipeDeltaPPa(1.6, 100, 50, 1, Q), poiseuilleDeltaPPa(1.6, 100, 50, Q), 1e-12, "Newtonian limit")
        const k = consistencyPaSn(50, 0.5)
        const dp = powerLawPipeDeltaPPa(1.6, 100, k, 0.5, Q)
        // calibrated at the reference condition: same 1.55 MPa as the Newtonian 50 Pa.s
        near(dp, 1.554e6, 0.002, "reference dp")
        near(powerLawPipeFlowMlPerS(1.6, 100, k, 0.5, dp), Q, 1e-12, "inverse")
        near(powerLawPipeDeltaPPa(1.6, 100, k, 0.5, 2 * Q) / dp, Math.SQRT2, 1e-12, "dp ~ Q^n")
        assert.throws(() => new InjectorPlant({ cement: { flowIndex: 1.5 } }), /cement.flowIndex/)
        assert.throws(() => new InjectorPlant({ cement: { rheology: "newtonian", flowIndex: 0.5 } }), /contradicts/)
    })

    test("SIM-6: 14 G vs 11 G needle pressure ratio is 2.4-3.1x with power-law cement (Newtonian: 4.96x)", () => {
        const dp14 = needleDp(runConstantFlow(new InjectorPlant(v2(50)), FLOW, 20))
        const dp11 = needleDp(runConstantFlow(new InjectorPlant(v2(50, { needle: { gauge: 11, lengthMm: 100 } })), FLOW, 20))
        const ratio = dp14 / dp11
        assert.ok(ratio >= 2.4 && ratio <= 3.1, `ratio ${ratio}`)
        near(ratio, Math.pow(2.388 / 1.6, 2.5), 0.01, "(D11/D14)^(3n+1)")
        const newtonian14 = needleDp(runConstantFlow(new InjectorPlant(referenceConfig(50)), FLOW, 20))
        const newtonian11 = needleDp(runConstantFlow(new InjectorPlant(referenceConfig(50, 1, { needle: { gauge: 11, lengthMm: 100 } })), FLOW, 20))
        near(newtonian14 / newtonian11, 4.96, 0.01, "v1 Newtonian ratio unchanged")
    })

    test("SIM-6: doubling the flow raises the plunger pressure 1.3-1.5x (Newtonian: 2x)", () => {
        const p3 = runConstantFlow(new InjectorPlant(v2(50)), 3, 20).chamberPressurePa
        const p6 = runConstantFlow(new InjectorPlant(v2(50)), 6, 20).chamberPressurePa
        const ratio = p6 / p3
        assert.ok(ratio >= 1.3 && ratio <= 1.5, `ratio ${ratio}`)
        // at the reference condition v2 reproduces the SIM-1 figure
        assert.ok(p3 >= 1.5e6 && p3 <= 1.6e6, `p3 ${p3}`)
    })

    test("SIM-6: consistency rises with age and temperature (the curve's clock)", () => {
        const warm = new InjectorPlant({ physics: "v2", cement: { preset: "lowViscosity", mixedAtS: -240, temperatureC: 28 } })
        const ref = new InjectorPlant({ physics: "v2", cement: { preset: "lowViscosity", mixedAtS: -240 } })
        const s0 = runConstantFlow(ref, FLOW, 10)
        const s1 = runConstantFlow(ref, FLOW, 60)
        assert.ok(s1.chamberPressurePa > s0.chamberPressurePa * 1.2, "older cement: higher pressure")
        assert.ok(runConstantFlow(warm, FLOW, 70).chamberPressurePa > s1.chamberPressurePa, "warmer cement cures faster")
    })
})

describe("SIM-6 stepped cannula and restrictive tip", () => {
    test("SIM-6: tube parts in series add their pressure drops (11 G + 14 G stepped cannula, Luer tip)", () => {
        const stepped = runConstantFlow(
            new InjectorPlant(v2(50, { needle: { segments: [{ innerDiameterMm: 2.388, lengthMm: 60 }, { innerDiameterMm: 1.6, lengthMm: 40 }] } })),
            FLOW,
            20
        )
        const k = consistencyPaSn(50, 0.5)
        const expected = powerLawPipeDeltaPPa(2.388, 60, k, 0.5, Q) + powerLawPipeDeltaPPa(1.6, 40, k, 0.5, Q)
        near(needleDp(stepped), expected, 0.002, "stepped dp")
        const g14 = needleDp(runConstantFlow(new InjectorPlant(v2(50)), FLOW, 20))
        assert.ok(needleDp(stepped) < g14, "a wider proximal part lowers the drop")
        const tip = runConstantFlow(new InjectorPlant(v2(50, { syringe: { preset: "20mL", tip: { innerDiameterMm: 1.2, lengthMm: 10 } } })), FLOW, 20)
        near(needleDp(tip) - g14, powerLawPipeDeltaPPa(1.2, 10, k, 0.5, Q), 0.01, "restrictive tip adds its drop")
        assert.throws(() => new InjectorPlant({ needle: { segments: [] } }), /needle.segments/)
        assert.throws(() => new InjectorPlant({ needle: { segments: [{ innerDiameterMm: 0, lengthMm: 5 }] } }), /segments\[0\].innerDiameterMm/)
        assert.throws(() => new InjectorPlant({ needle: { lengthMm: 100, insertedLengthMm: 120 } }), /insertedLengthMm/)
    })
})

describe("SIM-6 entrained air", () => {
    test("SIM-6: 1 % air in 10 mL is 0.03-0.06 mL/MPa and 5 % is 0.16-0.31 mL/MPa (secant, 1.5-3 MPa)", () => {
        for (const [phi, lo, hi] of [[0.01, 0.03, 0.06], [0.05, 0.16, 0.31]]) {
            const c15 = airSecantComplianceMlPerMPa(phi, 10, 1.5e6)
            const c30 = airSecantComplianceMlPerMPa(phi, 10, 3e6)
            assert.ok(c15 <= hi * 1.05 && c15 >= lo, `${phi}: ${c15} at 1.5 MPa`)
            assert.ok(c30 >= lo * 0.95 && c30 <= hi, `${phi}: ${c30} at 3 MPa`)
        }
        // in the plant: stored volume = syringe elasticity + compressed air
        const s = runConstantFlow(new InjectorPlant(v2(50, { syringe: { preset: "20mL", fillMl: 10, airFraction: 0.05 } })), FLOW, 40)
        const pMPa = s.chamberPressurePa / 1e6
        near(s.storedMl, 0.02 * pMPa + (0.5 * pMPa) / (0.101325 + pMPa), 1e-9, "S(P)")
        assert.ok(conservationErrorMl(s) < 1e-6)
    })

    test("SIM-6: air is most compliant at low pressure (tangent compliance falls with pressure); inverse is exact", () => {
        const c = new ChamberCompliance({ syringeComplianceMlPerMPa: 0.02, airFraction: 0.03, cementVolumeMl: 10 })
        const tangentMlPerMPa = (pPa: number) => c.tangentM3PerPa(pPa) * 1e12
        assert.ok(tangentMlPerMPa(0) > 2.9, `at 0 MPa ${tangentMlPerMPa(0)}`) // 0.3 mL / 0.101 MPa + 0.02
        assert.ok(tangentMlPerMPa(1e5) > tangentMlPerMPa(1e6) && tangentMlPerMPa(1e6) > tangentMlPerMPa(3e6))
        for (const p of [-9e4, -1e3, 0, 5e3, 1e6, 8e6]) near(c.pressureForStoredPa(c.storedM3(p)) + 1, p + 1, 1e-9, `inverse at ${p}`)
        assert.throws(() => new InjectorPlant({ syringe: { airFraction: 0.5 } }), /syringe.airFraction/)
        assert.throws(() => new InjectorPlant({ syringe: { airFraction: -0.01 } }), /syringe.airFraction/)
    })

    test("SIM-6: air slows a full occlusion's pressure rise to flow / compliance (PRS-3 territory)", () => {
        const rise = (airFraction: number, flowMlPerMin: number) => {
            const plant = new InjectorPlant(v2(50, { syringe: { preset: "20mL", fillMl: 10, airFraction } }))
            runConstantFlow(plant, flowMlPerMin, 60)
            const s0 = plant.state()
            plant.setNeedleOcclusionFactor(Infinity)
            const s1 = runConstantFlow(plant, flowMlPerMin, 0.2)
            const rateMPaPerS = (s1.chamberPressurePa - s0.chamberPressurePa) / 0.2 / 1e6
            // the rise follows dP/dt = Q / C(P) over the interval
            near(rateMPaPerS, (flowMlPerMin / 60) / ((s1.storedMl - s0.storedMl) / ((s1.chamberPressurePa - s0.chamberPressurePa) / 1e6)), 0.01, "Q / C")
            return rateMPaPerS
        }
        const r0 = rise(0, 3)
        const r5 = rise(0.05, 3)
        near(r0, 2.5, 0.02, "no air: 0.05 mL/s / 0.02 mL/MPa")
        assert.ok(r5 < 0.6 * r0, `5 % air ${r5} vs ${r0}`)
        assert.ok(rise(0, 0.5) < 0.5, "at 0.5 mL/min even air-free cement rises < 0.5 MPa/s")
    })

    test("SIM-6: afterflow after a hard stop grows with air (0 % ~0.03 mL, 5 % 0.1-0.3 mL within 30 s)", () => {
        const afterflow = (airFraction: number) => {
            const plant = new InjectorPlant(v2(50, { syringe: { preset: "20mL", fillMl: 10, airFraction } }))
            const atStop = runConstantFlow(plant, FLOW, 60)
            const held = runHold(plant, 30)
            assert.ok(conservationErrorMl(held) < 1e-6)
            return held.injectedMl - atStop.injectedMl
        }
        const a0 = afterflow(0)
        const a5 = afterflow(0.05)
        assert.ok(a0 > 0.02 && a0 < 0.05, `0 %: ${a0}`)
        assert.ok(a5 > 0.1 && a5 < 0.3, `5 %: ${a5}`)
    })
})

describe("SIM-6 leaks and body resistance", () => {
    const leakShare = (viscosityPaS: number, extra: PlantConfig = {}) => {
        const s = runConstantFlow(
            new InjectorPlant(v2(viscosityPaS, { drive: { stallForceN: 1e9 }, leaks: [{ kind: "venous", atS: 0, resistanceFactor: 1 }], ...extra })),
            FLOW,
            20
        )
        return s.leaks[0].flowMlPerS / s.needleFlowMlPerS
    }

    test("SIM-6: later (more viscous) cement leaks less (Habib 2010: 4.0 g at 3.5 min -> 2.6 g at 9.5 min)", () => {
        const shares = [35, 135, 541].map(mu => leakShare(mu))
        assert.ok(shares[0] > shares[1] && shares[1] > shares[2], `${shares}`)
        const ratio = shares[2] / shares[0]
        assert.ok(ratio >= 0.65 * 0.7 && ratio <= 0.65 * 1.3, `late/early leak ratio ${ratio} vs 0.65`)
        // v1: the share is a fixed resistance ratio, 1/(1+1) = 0.5 whatever the viscosity
        const v1 = (mu: number) => {
            const s = runConstantFlow(new InjectorPlant(referenceConfig(mu, 1, { drive: { stallForceN: 1e9 }, leaks: [{ kind: "venous", atS: 0, resistanceFactor: 1 }] })), FLOW, 20)
            return s.leaks[0].flowMlPerS / s.needleFlowMlPerS
        }
        near(v1(35), 0.5, 0.01, "v1 share")
        near(v1(541), 0.5, 0.01, "v1 share")
    })

    test("SIM-6: body resistance: independent of viscosity by default, Darcy (x mu) when chosen", () => {
        const bodyKPa = (mu: number, viscosityExponent?: number) =>
            runConstantFlow(new InjectorPlant(v2(mu, { drive: { stallForceN: 1e9 }, vertebra: { viscosityExponent } })), FLOW, 20).bodyPressurePa / 1e3
        near(bodyKPa(541) / bodyKPa(35), 1, 0.03, "default: Habib's unchanged intravertebral pressure")
        near(bodyKPa(100, 1) / bodyKPa(50, 1), 2, 0.02, "Darcy: doubles with viscosity")
        // Darcy body and leak exponent 1: the share no longer depends on viscosity
        const share = (mu: number) => leakShare(mu, { vertebra: { viscosityExponent: 1, leakViscosityExponent: 0 } })
        near(share(541), share(35), 0.01, "Darcy body, viscosity-blind leak")
    })
})

describe("SIM-6 two-zone needle temperature", () => {
    test("SIM-6: during a pause the cement inside the body ages ~2.3x faster (37 vs 22 C); flow flushes it", () => {
        const plant = new InjectorPlant({ physics: "v2", cement: { preset: "lowViscosity", mixedAtS: -240 } })
        runConstantFlow(plant, FLOW, 10)
        const s0 = plant.state()
        // flowing: the tip cement is ~(2.27 - 1) x 0.12 mL / 0.05 mL/s = 3 s older
        near(s0.needleTipViscosityPaS, s0.viscosityPaS, 0.05, "flowing: tip ~ syringe cement")
        runHold(plant, 120)
        const s1 = plant.state()
        const ratio = cementTimeFactor(37)
        near(ratio, 2.27, 0.01, "Arrhenius 37 vs 22 C")
        assert.ok(s1.needleTipViscosityPaS > 2 * s1.viscosityPaS, `tip ${s1.needleTipViscosityPaS} vs syringe ${s1.viscosityPaS}`)
        // restart: higher pressure than a single-zone needle after the same pause
        const single = new InjectorPlant({ physics: "v2", needle: { insertedLengthMm: 0 }, cement: { preset: "lowViscosity", mixedAtS: -240 } })
        runConstantFlow(single, FLOW, 10)
        runHold(single, 120)
        const restart = runConstantFlow(plant, FLOW, 5).chamberPressurePa
        const restartSingle = runConstantFlow(single, FLOW, 5).chamberPressurePa
        assert.ok(restart > 1.1 * restartSingle, `two-zone ${restart} vs single ${restartSingle}`)
        // after several needle volumes (0.12 mL inside) the tip is back near the syringe cement
        const s2 = runConstantFlow(plant, FLOW, 30)
        assert.ok(s2.needleTipViscosityPaS < 1.2 * s2.viscosityPaS, `flushed tip ${s2.needleTipViscosityPaS} vs ${s2.viscosityPaS}`)
        assert.throws(() => new InjectorPlant({ vertebra: { temperatureC: 60 } }), /vertebra.temperatureC/)
    })
})

describe("SIM-6 numerics and compatibility", () => {
    const cases: [string, PlantConfig, number][] = [
        ["1 mL syringe, 10 G thin x 50 mm, 5 Pa.s, power law, 5 % air", { physics: "v2", syringe: { preset: "1mL", airFraction: 0.05 }, needle: { gauge: 10, wall: "thin", lengthMm: 50 }, cement: { viscosityPaS: 5 } }, 3],
        ["20 mL, 14 G, 500 Pa.s, n 0.3, 3 % air, leak", { physics: "v2", syringe: { airFraction: 0.03 }, cement: { viscosityPaS: 500, flowIndex: 0.3 }, leaks: [{ kind: "venous", atS: 1, resistanceFactor: 0.2 }] }, 3],
        ["20 mL, set cement, two-zone", { physics: "v2", needle: { gauge: 11 }, cement: { preset: "highViscosity", mixedAtS: -800 } }, 3],
    ]
    for (const [name, config, flow] of cases) {
        test(`SIM-6: stable and volume-conserving for ${name} at any outer step`, () => {
            const results = [0.001, 0.05, 1].map(dtS => {
                const plant = new InjectorPlant(config)
                const s = runConstantFlow(plant, flow, 8, dtS)
                for (const v of [s.chamberPressurePa, s.bodyPressurePa, s.injectedMl, s.storedMl]) assert.ok(Number.isFinite(v), `${name}: non-finite`)
                assert.ok(conservationErrorMl(s) < 1e-6, `${name} dt ${dtS}: conservation ${conservationErrorMl(s)}`)
                return s
            })
            for (const s of results)
                assert.ok(Math.abs(s.chamberPressurePa - results[0].chamberPressurePa) <= 1e-3 * Math.abs(results[0].chamberPressurePa) + 100)
        })
    }

    test("SIM-6: retracting with air and power-law cement: vacuum, gap and volume bookkeeping hold", () => {
        const plant = new InjectorPlant(v2(50, { syringe: { preset: "20mL", fillMl: 10, airFraction: 0.03 } }))
        runConstantFlow(plant, FLOW, 20)
        for (let i = 0; i < 400; i++) plant.step(0.005, { enabled: true, speedCmdMmPerS: -2 })
        const s = plant.state()
        assert.ok(s.chamberPressurePa >= -90_000 - 1e-6)
        assert.ok(conservationErrorMl(s) < 1e-6, `conservation ${conservationErrorMl(s)}`)
        runConstantFlow(plant, 6, 20)
        assert.ok(conservationErrorMl(plant.state()) < 1e-6)
        assert.ok(plant.state().chamberPressurePa > 1e6)
    })

    test("SIM-6: every fidelity figure within its range (known misses listed, not asserted)", () => {
        const checks = fidelityChecks()
        const out = checks.filter(c => !c.withinRange && !c.knownMiss)
        assert.deepEqual(out.map(c => `${c.name}: ${c.modelValue}`), [])
        assert.ok(checks.filter(c => !c.knownMiss).length >= 12)
    })

    test("SIM-6: the SIM-1 literature figures still hold with physics v2 (and v1)", () => {
        for (const physics of ["v1", "v2"] as const) {
            const out = literatureChecks(physics).filter(c => !c.withinRange)
            assert.deepEqual(out.map(c => `${physics} ${c.name}: ${c.modelValue}`), [])
        }
    })

    test("SIM-6: v1 stays the default; new parameters are optional; unknown physics is rejected", () => {
        const p = new InjectorPlant({})
        assert.equal(p.params.physics, "v1")
        assert.equal(p.cement.flowIndex, 1)
        assert.equal(p.params.insertedLengthMm, 0)
        assert.equal(p.params.airFraction, 0)
        assert.equal(p.params.leakViscosityExponent, 0)
        const q = new InjectorPlant({ physics: "v2" })
        assert.equal(q.cement.flowIndex, 0.5)
        assert.equal(q.params.insertedLengthMm, 60)
        assert.ok(q.params.leakViscosityExponent > 0)
        assert.throws(() => new InjectorPlant({ physics: "v3" as never }), /physics/)
        near(plungerSpeedMmPerS(3, 19.1), 0.1745, 0.001, "speed helper")
    })
})
