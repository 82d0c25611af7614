// SIM-6: `npm run model -- <conditions.json>` evaluates the model for given
// conditions; bad input gets an error naming the field.
import { strict as assert } from "node:assert"
import { spawnSync } from "node:child_process"
import { mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { describe, test } from "node:test"
import { ConditionsError, evaluateConditions, expandConditions } from "../model"

function cli(conditions: unknown, ...args: string[]) {
    const dir = mkdtempSync(join(tmpdir(), "model-cli-"))
    const file = join(dir, "conditions.json")
    writeFileSync(file, typeof conditions === "string" ? conditions : JSON.stringify(conditions))
    return spawnSync(process.execPath, ["--import", "tsx", "sim/model/cli.ts", file, ...args], { encoding: "utf8" })
}

describe("SIM-6 model program", () => {
    test("SIM-6: evaluates pressures, leak share, stored volume, afterflow and occlusion rise for the reference set-up", () => {
        const r = evaluateConditions({ cement: { viscosityPaS: 50 }, flowMlPerMin: 3, vertebra: { tumorFactor: 5.8 }, leak: { resistanceFactor: 0.2 } })
        assert.ok(r.plungerPressureMPa > 1.5 && r.plungerPressureMPa < 1.6, `${r.plungerPressureMPa}`)
        // metastatic body with a 5x easier leak, leak exponent 0.45 at 50 Pa.s: share 5/6, body pressure 1/6 of 39.7 kPa
        assert.ok(Math.abs(r.leakShare - 5 / 6) < 0.01, `${r.leakShare}`)
        assert.ok(Math.abs(r.intravertebralPressureKPa - 39.66 / 6) < 0.3, `${r.intravertebralPressureKPa}`)
        assert.ok(Math.abs(r.storedVolumeMl - 0.02 * r.plungerPressureMPa) < 1e-6)
        assert.ok(Math.abs(r.occlusionRiseMPaPerS - 2.5) < 0.01)
        assert.ok(Math.abs(r.occlusionRise1sMPaPerS - 2.5) < 0.05)
        assert.ok(Math.abs(r.occlusionFromRestMPaPerS - 2.5) < 0.01, "no air: from rest as at speed")
        assert.ok(r.afterflowMl > 0.02 && r.afterflowMl <= r.storedVolumeMl + 1e-9)
        assert.equal(r.flowIndex, 0.5)
    })

    test("SIM-6: cement age and temperature set the viscosity; air raises stored volume and slows the occlusion rise", () => {
        const young = evaluateConditions({ cement: { preset: "lowViscosity", ageMin: 4 } })
        const old = evaluateConditions({ cement: { preset: "lowViscosity", ageMin: 6 } })
        const warm = evaluateConditions({ cement: { preset: "lowViscosity", ageMin: 4, temperatureC: 28 } })
        assert.ok(Math.abs(young.viscosityPaS - 50) < 1)
        assert.ok(old.plungerPressureMPa > young.plungerPressureMPa && warm.plungerPressureMPa > young.plungerPressureMPa)
        const airy = evaluateConditions({ cement: { preset: "lowViscosity", ageMin: 4 }, airFraction: 0.05 })
        assert.ok(airy.storedVolumeMl > 10 * young.storedVolumeMl)
        assert.ok(airy.occlusionRiseMPaPerS < young.occlusionRiseMPaPerS)
        assert.equal(airy.airFraction, 0.05)
    })

    test("SIM-6: bad conditions are rejected naming the field", () => {
        const bad: [unknown, RegExp][] = [
            [{ flowMlPerMin: -1 }, /^flowMlPerMin: must be between/],
            [{ airFraction: 0.5 }, /^airFraction: must be between 0 and 0.3/],
            [{ needle: { gauge: 22 } }, /^needle.gauge/],
            [{ needle: { lenghtMm: 100 } }, /^needle.lenghtMm: unknown field/],
            [{ cement: { preset: "putty" } }, /^cement.preset: must be one of/],
            [{ cement: { ageS: 60, ageMin: 1 } }, /^cement.ageMin/],
            [{ leak: { kind: "venous" } }, /^leak.resistanceFactor: is required/],
            [{ needle: { segments: [{ innerDiameterMm: 1.6 }] } }, /^needle.segments\[0\].lengthMm: is required/],
            [{ needle: { lengthMm: 50, insertedLengthMm: 80 } }, /needle.insertedLengthMm/],
            [{ vertebra: { temperatureC: 80 } }, /^vertebra.temperatureC/],
            [{ physics: "v9" }, /^physics/],
            [{ syringe: { tip: { lengthMm: 5 } } }, /^syringe.tip.innerDiameterMm: is required/],
            [[], /empty/],
        ]
        for (const [c, re] of bad)
            assert.throws(() => expandConditions(c).map(x => evaluateConditions(x)), (e: Error) => e instanceof ConditionsError && re.test(e.message), JSON.stringify(c))
        assert.throws(() => expandConditions({ sweep: { airFraction: [] } }), /sweep.airFraction: must be a non-empty list/)
        assert.throws(() => expandConditions({ base: {}, sweep: {}, extra: 1 }), /extra: unknown field/)
    })

    test("SIM-6: sweeps expand to the cartesian product of dotted paths", () => {
        const rows = expandConditions({ base: { cement: { preset: "highViscosity" } }, sweep: { airFraction: [0, 0.05], "cement.ageMin": [2, 3, 4] } })
        assert.equal(rows.length, 6)
        assert.deepEqual(rows[5], { cement: { preset: "highViscosity", ageMin: 4 }, airFraction: 0.05 })
    })

    test("SIM-6: the program prints a table; bad input exits 1 with the field named, changing nothing", () => {
        const ok = cli({ cement: { viscosityPaS: 50 }, afterflowWindowS: 5 })
        assert.equal(ok.status, 0, ok.stderr)
        assert.match(ok.stdout, /P plunger MPa/)
        assert.match(ok.stdout, /1\.56\d/)
        const json = cli({ cement: { viscosityPaS: 50 }, afterflowWindowS: 5 }, "--json")
        assert.equal(json.status, 0, json.stderr)
        const parsed = JSON.parse(json.stdout)
        assert.ok(Math.abs(parsed[0].result.plungerPressureMPa - 1.561) < 0.01)
        const bad = cli({ syringe: { airFraction: 2 } })
        assert.equal(bad.status, 1)
        assert.match(bad.stderr, /syringe.airFraction: must be between 0 and 0.3, got 2/)
        assert.equal(bad.stdout, "")
        const notJson = cli("{ nope")
        assert.equal(notJson.status, 2)
        assert.match(notJson.stderr, /conditions.json: .*JSON/)
    })
})
