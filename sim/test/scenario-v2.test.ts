// Scenario files carry the SIM-6 (physics v2) fields to the plant; bad
// values are rejected naming the field (SIM-2), nothing reaches the model.
import assert from "node:assert/strict"
import { describe, test } from "node:test"
import { rigConfig, ScenarioError, validateScenario } from "../harness/scenario"
import { InjectorPlant } from "../model"

const base = { name: "v2", durationS: 5, level: "L2", actions: [] }

function errorsOf(s: unknown): string[] {
    try {
        validateScenario(s)
    } catch (e) {
        if (e instanceof ScenarioError) return e.errors
        throw e
    }
    return []
}

describe("SIM-6 scenario fields", () => {
    test("SIM-6: physics v2, air, cement class, Darcy body, stepped cannula and temperatures reach the plant", () => {
        const sc = validateScenario({
            ...base,
            physics: "v2",
            syringe: { preset: "20mL", fillMl: 10, airFraction: 0.03, tip: { innerDiameterMm: 2, lengthMm: 10 } },
            needle: { segments: [{ innerDiameterMm: 2.4, lengthMm: 60 }, { innerDiameterMm: 1.6, lengthMm: 40 }], insertedLengthMm: 50 },
            cement: { preset: "highViscosity", rheology: "powerLaw", flowIndex: 0.4, temperatureC: 24 },
            vertebra: { viscosityExponent: 1, leakViscosityExponent: 0.3, temperatureC: 36 },
            leaks: [{ atMl: 1, kind: "venous", resistanceFactor: 0.3, viscosityExponent: 0.6 }],
        })
        const cfg = rigConfig(sc)
        assert.equal(cfg.physics, "v2")
        assert.equal(cfg.syringe?.airFraction, 0.03)
        assert.deepEqual(cfg.needle?.segments?.map(t => t.innerDiameterMm), [2.4, 1.6])
        assert.equal(cfg.needle?.gauge, undefined, "a stepped cannula replaces the default 14 G tube")
        const p = new InjectorPlant(cfg).params
        assert.equal(p.physics, "v2")
        assert.equal(p.airFraction, 0.03)
        assert.equal(p.needleLengthMm, 100)
        assert.equal(p.needleInnerDiameterMm, 1.6)
        assert.equal(p.flowPath.length, 3, "tip + two cannula parts")
        assert.equal(p.insertedLengthMm, 50)
        assert.equal(p.bodyTemperatureC, 36)
        assert.equal(p.leakViscosityExponent, 0.3)
    })

    test("SIM-6: v2 defaults apply with physics v2 alone (60 mm inserted, leak exponent 0.45), v1 unchanged", () => {
        const v2 = new InjectorPlant(rigConfig(validateScenario({ ...base, physics: "v2" }))).params
        assert.equal(v2.insertedLengthMm, 60)
        assert.equal(v2.leakViscosityExponent, 0.45)
        const v1 = new InjectorPlant(rigConfig(validateScenario(base))).params
        assert.equal(v1.physics, "v1")
        assert.equal(v1.insertedLengthMm, 0)
        assert.equal(v1.airFraction, 0)
    })

    test("SIM-2/SIM-6: bad v2 values are rejected, each naming its field", () => {
        const errs = errorsOf({
            ...base,
            physics: "v3",
            syringe: { airFraction: 0.08, tip: { innerDiameterMm: -1 } },
            needle: { gauge: 14, segments: [{ innerDiameterMm: 2, lengthMm: 50 }, "x"], insertedLengthMm: 80 },
            cement: { rheology: "bingham", flowIndex: 1.5 },
            vertebra: { leakViscosityExponent: 3, temperatureC: 60, viscosityExponent: -1 },
            leaks: [{ atMl: 1, kind: "venous", resistanceFactor: 0.3, viscosityExponent: "high" }],
        })
        const expect: [string, RegExp][] = [
            ["physics", /must be one of v1, v2, got "v3"/],
            ["syringe.airFraction", /must be <= 0.05, got 0.08/],
            ["syringe.tip.innerDiameterMm", /must be > 0/],
            ["syringe.tip.lengthMm", /is required/],
            ["needle.segments[1]", /must be an object/],
            ["needle.gauge", /cannot be combined with needle.segments/],
            ["needle.insertedLengthMm", /must be <= the needle length \(50 mm\), got 80/],
            ["cement.rheology", /must be one of newtonian, powerLaw/],
            ["cement.flowIndex", /must be <= 1, got 1.5/],
            ["vertebra.leakViscosityExponent", /must be <= 2, got 3/],
            ["vertebra.temperatureC", /must be <= 45, got 60/],
            ["vertebra.viscosityExponent", /must be >= 0, got -1/],
            ["leaks[0].viscosityExponent", /must be a finite number/],
        ]
        for (const [field, re] of expect)
            assert.ok(errs.some(m => m.startsWith(`${field}: `) && re.test(m)), `${field} ${re}: got\n${errs.join("\n")}`)
        assert.equal(errs.length, expect.length, errs.join("\n"))
    })

    test("SIM-2/SIM-6: an air fraction given as a percentage (3 for 3 %) is refused, not read as 300 %", () => {
        const errs = errorsOf({ ...base, physics: "v2", syringe: { airFraction: 3 } })
        assert.deepEqual(errs, ["syringe.airFraction: must be <= 0.05, got 3"])
    })
})
