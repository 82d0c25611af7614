import { strict as assert } from "node:assert"
import { describe, test } from "node:test"
import {
    DriveInput,
    InjectorPlant,
    InjectorRig,
    RigConfig,
    literatureChecks,
    manualOperatorDrive,
    plungerSpeedMmPerS,
    referenceConfig,
    runConstantFlow,
    runHold,
} from "../model"

function runRig(config: RigConfig, seconds: number, dtS: number) {
    const rig = new InjectorRig(config)
    const samples: number[] = []
    const counts: number[] = []
    const input: DriveInput = { enabled: true, speedCmdMmPerS: plungerSpeedMmPerS(3, 19.1) }
    for (let i = 0; i < Math.round(seconds / dtS); i++) {
        const r = rig.step(dtS, input)
        samples.push(...r.loadCellSamples.map(s => s.forceN))
        counts.push(r.encoderCounts)
    }
    return { rig, samples, counts }
}

describe("SIM-1 rig (plant + sensors)", () => {
    const config: RigConfig = {
        seed: 7,
        cement: { preset: "lowViscosity", mixedAtS: -240 },
        vertebra: { tumorFactor: 5.8 },
        leaks: [{ atMl: 0.5, kind: "venous", resistanceFactor: 0.2 }],
    }

    test("SIM-1: determinism: same seed and inputs give identical sensor streams and state", () => {
        const a = runRig(config, 15, 0.01)
        const b = runRig(config, 15, 0.01)
        assert.deepEqual(a.samples, b.samples)
        assert.deepEqual(a.counts, b.counts)
        assert.deepEqual(a.rig.state(), b.rig.state())
        const c = runRig({ ...config, seed: 8 }, 15, 0.01)
        assert.notDeepEqual(a.samples, c.samples)
        assert.deepEqual(a.rig.state(), c.rig.state(), "the plant itself has no randomness")
    })

    test("SIM-1: the load cell tracks the plunger force and the encoder the plunger position", () => {
        const { rig, samples, counts } = runRig({ ...config, seed: 1 }, 20, 0.0125)
        const s = rig.state()
        assert.equal(samples.length, 20 * 80)
        const last = samples.slice(-40)
        const mean = last.reduce((x, y) => x + y, 0) / last.length
        assert.ok(Math.abs(mean - s.forceN) < 1, `${mean} vs ${s.forceN}`)
        assert.equal(counts[counts.length - 1], Math.round(s.plungerPosMm * 1200))
        const mlFromCounts = counts[counts.length - 1] * rig.plant.params.mlPerMm / 1200
        assert.ok(Math.abs(mlFromCounts - s.plungerVolumeMl) < 0.0005)
    })

    test("FAULT-2: rig encoder stuck while the plunger moves", () => {
        const rig = new InjectorRig(config)
        const input: DriveInput = { enabled: true, speedCmdMmPerS: 1 }
        rig.step(1, input)
        rig.setEncoderStuck(true)
        const frozen = rig.step(0.01, input).encoderCounts
        assert.equal(rig.step(1, input).encoderCounts, frozen)
        rig.setEncoderStuck(false)
        assert.ok(rig.step(0.01, input).encoderCounts > frozen + 1000)
    })
})

describe("manual-injection baseline", () => {
    test("SIM-1: manual operator keeps pushing for the reaction time after a trigger, then stops without decompression", () => {
        const opts = { flowMlPerMin: 3, boreMm: 19.1 }
        assert.deepEqual(manualOperatorDrive(5, null, opts), { enabled: true, speedCmdMmPerS: plungerSpeedMmPerS(3, 19.1) })
        assert.equal(manualOperatorDrive(10.2, 10, opts).enabled, true)
        assert.equal(manualOperatorDrive(10.25, 10, opts).enabled, false)
        assert.equal(manualOperatorDrive(10.4, 10, { ...opts, reactionTimeS: 0.5 }).enabled, true)
        assert.ok(manualOperatorDrive(11, 10, opts).speedCmdMmPerS === 0)
    })

    test("SIM-1: manual baseline afterflow (reaction + stored volume) exceeds a device stop with decompression", () => {
        const triggerTS = 20
        const manual = new InjectorPlant(referenceConfig(50))
        const opts = { flowMlPerMin: 3, boreMm: 19.1 }
        let injectedAtTrigger = 0
        while (manual.timeS() < 60 - 1e-9) {
            const t = manual.timeS()
            if (Math.abs(t - triggerTS) < 1e-9) injectedAtTrigger = manual.state().injectedMl
            manual.step(0.01, manualOperatorDrive(t, t >= triggerTS - 1e-9 ? triggerTS : null, opts))
        }
        const manualAfterflow = manual.state().injectedMl - injectedAtTrigger
        // 0.25 s x 0.05 mL/s = 0.0125 mL pushed + ~0.031 mL stored
        assert.ok(manualAfterflow > 0.035 && manualAfterflow < 0.06, `manual afterflow ${manualAfterflow}`)

        const device = new InjectorPlant(referenceConfig(50))
        const atTrigger = runConstantFlow(device, 3, triggerTS)
        // device: stops at once and retracts the stored volume
        const retractMm = atTrigger.storedMl / device.params.mlPerMm
        const target = device.plungerPosMm() - retractMm
        while (device.plungerPosMm() > target + 1e-6) {
            const remaining = device.plungerPosMm() - target
            device.step(0.001, { enabled: true, speedCmdMmPerS: -Math.min(10, Math.sqrt(2 * 20 * remaining)) })
        }
        const deviceAfterflow = runHold(device, 40).injectedMl - atTrigger.injectedMl
        assert.ok(deviceAfterflow < manualAfterflow / 5, `device ${deviceAfterflow} vs manual ${manualAfterflow}`)
    })
})

describe("literature checks", () => {
    test("SIM-1: literatureChecks() figures all land within their published ranges", () => {
        const checks = literatureChecks()
        assert.ok(checks.length >= 10)
        for (const c of checks) {
            assert.ok(Number.isFinite(c.modelValue) && Number.isFinite(c.literatureValue), c.name)
            assert.ok(c.unit.length > 0 && c.source.length > 0, c.name)
            assert.ok(c.withinRange, `${c.name}: model ${c.modelValue} ${c.unit} outside [${c.lowerBound}, ${c.upperBound}]`)
        }
        const names = checks.map(c => c.name).join("\n")
        assert.match(names, /needle dp, 14 G x 100 mm, 50 Pa.s/)
        assert.match(names, /intravertebral pressure, metastatic/)
    })
})
