import { strict as assert } from "node:assert"
import { describe, test } from "node:test"
import { Encoder, LoadCell, LoadCellSample, Rng, STANDARD_GRAVITY_M_PER_S2, mlPerCount } from "../model"

const clock = new WeakMap<LoadCell, number>()

/** Poll a cell at a constant force for `seconds`, continuing its own clock. */
function collect(cell: LoadCell, forceN: number, seconds: number, dtS = 0.001): LoadCellSample[] {
    const out: LoadCellSample[] = []
    const t0 = clock.get(cell) ?? 0
    const steps = Math.round(seconds / dtS)
    for (let i = 0; i < steps; i++) out.push(...cell.poll(t0 + i * dtS, t0 + (i + 1) * dtS, forceN, forceN))
    clock.set(cell, t0 + steps * dtS)
    return out
}

function stats(xs: number[]): { mean: number; sd: number } {
    const mean = xs.reduce((a, b) => a + b, 0) / xs.length
    const sd = Math.sqrt(xs.reduce((a, b) => a + (b - mean) * (b - mean), 0) / (xs.length - 1))
    return { mean, sd }
}

describe("SIM-1 load cell", () => {
    test("SIM-1: load cell samples at 80 Hz on a fixed grid, whatever the physics step", () => {
        for (const dtS of [0.001, 0.0125, 0.02, 0.1]) {
            const cell = new LoadCell(new Rng(3))
            const samples = collect(cell, 100, 10, dtS)
            assert.equal(samples.length, 800, `dt ${dtS}`)
            samples.forEach((s, i) => assert.ok(Math.abs(s.tS - (i + 1) / 80) < 1e-9))
        }
    })

    test("SIM-1: load-cell noise is Gaussian with sd ~0.3 N and zero mean", () => {
        const cell = new LoadCell(new Rng(42))
        const xs = collect(cell, 300, 100).map(s => s.forceN - 300)
        assert.equal(xs.length, 8000)
        const { mean, sd } = stats(xs)
        assert.ok(Math.abs(mean) < 0.02, `mean ${mean}`)
        assert.ok(Math.abs(sd - 0.3) < 0.015, `sd ${sd}`)
        const within1 = xs.filter(x => Math.abs(x) <= 0.3).length / xs.length
        assert.ok(Math.abs(within1 - 0.683) < 0.03, `fraction within 1 sd ${within1}`)
        assert.ok(Math.max(...xs.map(Math.abs)) < 6 * 0.3)
    })

    test("SIM-1: readings are quantised to the LSB and reported in kg as a WeightScale would", () => {
        const cell = new LoadCell(new Rng(1), { lsbN: 0.5, noiseN: 0.3 })
        for (const s of collect(cell, 123.4, 1)) {
            const k = s.forceN / 0.5
            assert.ok(Math.abs(k - Math.round(k)) < 1e-9, `${s.forceN} not a multiple of 0.5 N`)
            assert.ok(Math.abs(s.massKg - s.forceN / STANDARD_GRAVITY_M_PER_S2) < 1e-12)
        }
        const noiseless = new LoadCell(new Rng(1), { noiseN: 0, lsbN: 0 })
        const [s] = collect(noiseless, 9.80665, 0.0125)
        assert.ok(Math.abs(s.massKg - 1) < 1e-12)
    })

    test("SIM-1: the reading saturates at full scale (2000 N) both ways", () => {
        const cell = new LoadCell(new Rng(1))
        assert.ok(collect(cell, 2500, 0.5).every(s => s.forceN === 2000))
        assert.ok(collect(cell, -2500, 0.5).every(s => s.forceN === -2000))
    })

    test("SIM-1: offset and gain errors apply before noise (uncalibrated cell)", () => {
        const cell = new LoadCell(new Rng(1), { offsetN: 10, gain: 1.1, noiseN: 0, lsbN: 0 })
        const [s] = collect(cell, 100, 0.0125)
        assert.ok(Math.abs(s.forceN - 121) < 1e-9)
    })

    test("SIM-1: interpolates the force within a step", () => {
        const cell = new LoadCell(new Rng(1), { noiseN: 0, lsbN: 0 })
        const samples = cell.poll(0, 0.1, 0, 100)
        assert.equal(samples.length, 8)
        assert.ok(Math.abs(samples[0].forceN - 12.5) < 1e-9)
        assert.ok(Math.abs(samples[7].forceN - 100) < 1e-9)
    })

    test("FAULT-1: load-cell faults: stale produces no samples, saturated reads full scale, NaN reads NaN; clearing resumes", () => {
        const cell = new LoadCell(new Rng(9))
        assert.equal(collect(cell, 50, 1).length, 80)
        cell.setFault("stale")
        assert.equal(collect(cell, 50, 1).length, 0)
        cell.setFault("saturated")
        const sat = collect(cell, 50, 1)
        assert.equal(sat.length, 80)
        assert.ok(sat.every(s => s.forceN === 2000 && s.massKg === 2000 / STANDARD_GRAVITY_M_PER_S2))
        cell.setFault("nan")
        const nan = collect(cell, 50, 1)
        assert.equal(nan.length, 80)
        assert.ok(nan.every(s => Number.isNaN(s.forceN) && Number.isNaN(s.massKg)))
        cell.setFault(null)
        const ok = collect(cell, 50, 1)
        assert.equal(ok.length, 80)
        assert.ok(ok.every(s => Math.abs(s.forceN - 50) < 2))
        // the sample grid kept running through the stale period
        assert.ok(Math.abs(ok[0].tS - (4 * 80 + 1) / 80) < 1e-9, `${ok[0].tS}`)
    })

    test("FAULT-1: a fault does not shift the noise stream of later samples", () => {
        const a = new LoadCell(new Rng(5))
        const b = new LoadCell(new Rng(5))
        collect(a, 10, 1)
        b.setFault("stale")
        collect(b, 10, 0.5)
        b.setFault("nan")
        collect(b, 10, 0.5)
        b.setFault(null)
        assert.deepEqual(collect(a, 10, 1), collect(b, 10, 1))
    })
})

describe("SIM-1 encoder", () => {
    test("SIM-1: 2 mm lead, 600 PPR quadrature = 1200 counts/mm; integer counts; ~0.24 uL/count on 20 mL (VOL-1 <= 5 uL)", () => {
        const enc = new Encoder()
        assert.equal(enc.countsPerMm, 1200)
        assert.equal(enc.countsPerTurn, 2400)
        assert.equal(enc.read(1), 1200)
        assert.equal(enc.read(0.0004), 0)
        assert.equal(enc.read(-0.5), -600)
        for (const x of [0.1234567, 3.3333, 17.77]) assert.ok(Number.isInteger(enc.read(x)))
        const ml = mlPerCount(19.1, enc.countsPerMm)
        assert.ok(ml > 0.00023 && ml < 0.00025, `${ml}`)
        assert.ok(ml <= 0.005)
    })

    test("FAULT-2: encoder stuck freezes the count; jump adds N counts once", () => {
        const enc = new Encoder()
        assert.equal(enc.read(1), 1200)
        enc.setStuck(true, 1)
        assert.equal(enc.read(2), 1200)
        assert.equal(enc.isStuck(), true)
        enc.setStuck(false, 2)
        assert.equal(enc.read(2), 2400)
        enc.jump(500)
        assert.equal(enc.read(2), 2900)
        assert.equal(enc.read(3), 4100, "offset persists, added once")
        assert.throws(() => enc.jump(1.5))
    })
})

describe("rng", () => {
    test("SIM-1: the RNG is deterministic per seed, uniform in [0,1) and distinct across seeds", () => {
        const a = new Rng(123)
        const b = new Rng(123)
        const c = new Rng(124)
        const xa = Array.from({ length: 1000 }, () => a.next())
        const xb = Array.from({ length: 1000 }, () => b.next())
        const xc = Array.from({ length: 1000 }, () => c.next())
        assert.deepEqual(xa, xb)
        assert.notDeepEqual(xa, xc)
        assert.ok(xa.every(x => x >= 0 && x < 1))
        const mean = xa.reduce((s, x) => s + x, 0) / xa.length
        assert.ok(Math.abs(mean - 0.5) < 0.03)
        assert.throws(() => new Rng(NaN))
    })
})
