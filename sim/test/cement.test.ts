import { strict as assert } from "node:assert"
import { describe, test } from "node:test"
import { CEMENT_PRESETS, CementModel, cementTimeFactor, interpolateViscosityPaS } from "../model"

describe("SIM-1 cement viscosity vs age", () => {
    for (const name of ["lowViscosity", "highViscosity"] as const) {
        test(`SIM-1: ${name} viscosity rises monotonically with age`, () => {
            const c = new CementModel({ preset: name, mixedAtS: 0 })
            let prev = 0
            for (let t = 0; t <= 1000; t += 5) {
                const v = c.viscosityPaS(t)
                assert.ok(v >= prev, `t ${t}: ${v} < ${prev}`)
                prev = v
            }
            assert.ok(prev >= 1e7, "set cement is effectively solid")
        })
    }

    test("SIM-1: highViscosity: liquid ~10-20 Pa.s before 1 min, ~50 Pa.s at dough (2 min), ~500 Pa.s by 5 min, set ~11.5 min", () => {
        const c = new CementModel({ preset: "highViscosity", mixedAtS: 0 })
        const v30 = c.viscosityPaS(30)
        assert.ok(v30 >= 10 && v30 <= 20, `${v30}`)
        assert.equal(c.phase(60), "liquid")
        assert.ok(Math.abs(c.viscosityPaS(120) - 50) < 1)
        assert.equal(c.phase(130), "working")
        const v5 = c.viscosityPaS(300)
        assert.ok(v5 >= 450 && v5 <= 550, `${v5}`)
        const tSet = c.settingAgeS()
        assert.ok(tSet >= 11 * 60 && tSet <= 13 * 60)
        assert.equal(c.phase(tSet + 1), "set")
        assert.ok(c.viscosityPaS(tSet) >= 1e5)
    })

    test("SIM-1: lowViscosity: ~10-20 Pa.s around 2 min, dough ~50 Pa.s at 4 min, set ~13 min", () => {
        const c = new CementModel({ preset: "lowViscosity", mixedAtS: 0 })
        const v2 = c.viscosityPaS(120)
        assert.ok(v2 >= 10 && v2 <= 20, `${v2}`)
        assert.ok(Math.abs(c.viscosityPaS(240) - 50) < 1)
        assert.ok(c.settingAgeS() >= 11 * 60 && c.settingAgeS() <= 13 * 60)
        assert.equal(c.phase(700), "setting")
    })

    test("SIM-1: default mixing time puts the cement at dough at t = 0", () => {
        for (const name of ["lowViscosity", "highViscosity"] as const) {
            const c = new CementModel({ preset: name })
            assert.ok(Math.abs(c.viscosityPaS(0) - 50) < 1, name)
            assert.equal(c.ageS(0), CEMENT_PRESETS[name].doughAgeS)
        }
    })

    test("SIM-1: temperature: 28 C shortens setting by 534 s -> 381 s (Arrhenius factor)", () => {
        assert.equal(cementTimeFactor(22), 1)
        const ratio = 1 / cementTimeFactor(28)
        assert.ok(Math.abs(ratio - 381 / 534) < 0.01, `${ratio}`)
        const warm = new CementModel({ preset: "lowViscosity", mixedAtS: 0, temperatureC: 28 })
        const ref = new CementModel({ preset: "lowViscosity", mixedAtS: 0 })
        assert.ok(Math.abs(warm.settingAgeS() / ref.settingAgeS() - 381 / 534) < 0.01)
        assert.ok(warm.viscosityPaS(300) > ref.viscosityPaS(300))
        assert.ok(cementTimeFactor(18) < 1)
    })

    test("SIM-1: fixed viscosity, scale and custom curves", () => {
        assert.equal(new CementModel({ viscosityPaS: 77 }).viscosityPaS(1e4), 77)
        const scaled = new CementModel({ preset: "lowViscosity", mixedAtS: 0, viscosityScale: 2 })
        assert.ok(Math.abs(scaled.viscosityPaS(240) - 100) < 1)
        const custom = new CementModel({ points: [[0, 10], [100, 1000]], mixedAtS: 0 })
        assert.ok(Math.abs(custom.viscosityPaS(50) - 100) < 1e-9, "log-linear midpoint")
        assert.equal(interpolateViscosityPaS([[0, 10], [100, 1000]], -5), 10)
        assert.equal(interpolateViscosityPaS([[0, 10], [100, 1000]], 500), 1000)
        assert.throws(() => new CementModel({ points: [[0, 10], [0, 20]] }), /ascend/)
        assert.throws(() => new CementModel({ viscosityPaS: 0 }))
    })
})
