// FLOW-5 syringe exchange in the closed loop: the firmware in the VM against
// the physics model, lockstep. The plant's exchange (sim/model
// InjectorPlant.exchangeSyringe) takes the empty syringe off, pulls the
// pusher back and fits a full one while the needle stays full; the figures
// compare the device's volume with the plant's truth (cement out of the
// needle) and print as FIGURE lines.
//   node --import tsx --test sim/test/flow5-exchange.test.ts
import "../lockstep/clock" // first: virtual time before jacdac-ts loads
import "../harness/quiet"
import assert from "node:assert/strict"
import { join } from "node:path"
import { describe, test } from "node:test"
import { loadScenario, Scenario } from "../harness/scenario"
import { runLockstep, LockstepRun } from "../lockstep/run"
import { ROOT } from "../harness/procs"
import type { TraceRow } from "../harness/plant"

const FILE = join(ROOT, "sim", "scenarios", "flow5-exchange.json")
/** VOL-3: the physically delivered volume may pass the cap by at most this, mL */
const CAP_OVERSHOOT_ML = 0.02
/** LEAK-4: volume conserved across pauses within +-1 % */
const CONSERVED_FRACTION = 0.01
/** VOL-1: the volume resolution, mL */
const RESOLUTION_ML = 0.005

/** The plant's injected volume at scenario time tS (the last trace row at or before it). */
function injectedAt(trace: TraceRow[], tS: number): number {
    let v = 0
    for (const r of trace) {
        if (r.tS > tS) break
        v = r.injectedMl
    }
    return v
}

/** The device's reported volume: the last telemetry sample received at or before tS (scenario time). */
function deviceAt(run: LockstepRun, tS: number): number {
    let v = NaN
    for (const t of run.telemetry) {
        if ((t.tHostMs - run.t0Wall) / 1000 > tS) break
        if (t.samples.length) v = t.samples[t.samples.length - 1].volumeMl
    }
    return v
}

interface ExchangeFigures {
    deviceBefore: number
    truthBefore: number
    deviceAfterConfirm: number
    deviceEnd: number
    truthEnd: number
}

/** Checks common to both ways of confirming the exchange; returns the figures. */
function checkExchange(sc: Scenario, run: LockstepRun, label: string): ExchangeFigures {
    const r = run.result
    assert.ok(r.verdict.pass, r.verdict.failures.join("; "))
    const tr = (reason: string) => r.events.find(e => e.type === "transition" && e.reason === reason)
    const empty = tr("SyringeEmpty")
    assert.ok(empty, "paused(syringe_empty) before the end stop")
    assert.equal(empty!.to, "paused")
    const exAt = sc.actions.find(a => a.do === "exchangeSyringe")!.atS
    const confirmed = r.events.find(e => e.type === "info" && e.reason === "SyringeExchanged")
    assert.ok(confirmed, "the firmware confirmed the new syringe")
    assert.ok(confirmed!.tS > exAt, "confirmed after the plant's exchange")
    const resumed = tr("Resumed")
    assert.ok(resumed && resumed.tS > confirmed!.tS, "resumed after the confirm")
    // no fault or warning from the pusher pulled back (FAULT-2 jump / VOL-6 hand motion)
    for (const a of ["EncoderJump", "HandMotion", "Stall"])
        assert.ok(!r.events.some(e => e.type === "alarm" && e.reason === a), `no ${a} alarm across the exchange`)

    const f: ExchangeFigures = {
        deviceBefore: deviceAt(run, exAt - 0.05),
        truthBefore: injectedAt(run.trace, exAt - 0.05),
        deviceAfterConfirm: deviceAt(run, confirmed!.tS + 0.3),
        deviceEnd: r.reportedMl,
        truthEnd: r.injectedMl,
    }
    // FLOW-5: the level's delivered volume continues across the exchange (nothing lost, nothing added)
    assert.ok(Math.abs(f.deviceAfterConfirm - f.deviceBefore) <= 0.001, `${label}: device ${f.deviceBefore} mL before, ${f.deviceAfterConfirm} mL after the confirm`)
    assert.ok(deviceAt(run, resumed!.tS - 0.05) === f.deviceAfterConfirm, `${label}: nothing counted between the confirm and the resume`)
    // VOL-1: the device reads the plunger's push across both syringes to its resolution
    assert.ok(Math.abs(r.reportedMl - r.encoderTruthMl) <= RESOLUTION_ML, `${label}: device ${r.reportedMl} mL vs plunger truth ${r.encoderTruthMl} mL`)
    // LEAK-4 / VOL-3: against the cement out of the needle, within 1 %, and never short by more than 0.02 mL
    const err = f.deviceEnd - f.truthEnd
    assert.ok(Math.abs(err) <= CONSERVED_FRACTION * f.truthEnd, `${label}: device ${f.deviceEnd} vs out of the needle ${f.truthEnd} mL: more than 1 %`)
    assert.ok(err >= -CAP_OVERSHOOT_ML, `${label}: device reads ${-err} mL short of the plant`)
    // VOL-3: the cap still holds after the exchange: the level ends at it, the plant no further than 0.02 mL past it
    const capMl = sc.capMl!
    assert.equal(r.finalReason, "CapReached")
    assert.ok(r.peakInjectedMl <= capMl + CAP_OVERSHOOT_ML, `${label}: peak out of the needle ${r.peakInjectedMl} mL > cap ${capMl} + 0.02`)
    assert.ok(f.deviceEnd <= capMl, `${label}: device total ${f.deviceEnd} mL within the cap`)
    // the second syringe delivered: the level passed what one syringe holds
    assert.ok(f.truthEnd > 3.5, `${label}: ${f.truthEnd} mL out of the needle, more than the 3 mL syringe holds`)
    return f
}

function printFigures(label: string, f: ExchangeFigures) {
    const e = (x: number) => (x >= 0 ? "+" : "") + x.toFixed(4)
    console.log(`FIGURE FLOW-5 lockstep exchange (${label}): delivered before the exchange device / plant truth = ${f.deviceBefore.toFixed(4)} / ${f.truthBefore.toFixed(4)} mL (error ${e(f.deviceBefore - f.truthBefore)} mL)`)
    console.log(`FIGURE FLOW-5 lockstep exchange (${label}): device right after the confirm = ${f.deviceAfterConfirm.toFixed(4)} mL (continuity ${e(f.deviceAfterConfirm - f.deviceBefore)} mL)`)
    const dDev = f.deviceEnd - f.deviceBefore
    const dTruth = f.truthEnd - f.truthBefore
    console.log(`FIGURE FLOW-5 lockstep exchange (${label}): delivered after the exchange (second syringe) device / plant truth = ${dDev.toFixed(4)} / ${dTruth.toFixed(4)} mL (error ${e(dDev - dTruth)} mL)`)
    console.log(`FIGURE FLOW-5 lockstep exchange (${label}): level total device / plant truth = ${f.deviceEnd.toFixed(4)} / ${f.truthEnd.toFixed(4)} mL (error ${e(f.deviceEnd - f.truthEnd)} mL, ${((100 * (f.deviceEnd - f.truthEnd)) / f.truthEnd).toFixed(2)} %)`)
}

describe("FLOW-5 syringe exchange, closed loop", () => {
    test("FLOW-5: flow5-exchange: the level's volume is continuous across a mid-level exchange confirmed on the device; device within 1 % of the plant's truth; the cap holds", async () => {
        const sc = loadScenario(FILE)
        const run = await runLockstep(sc, { file: FILE, trace: true })
        const f = checkExchange(sc, run, "confirm button")
        // the bare press with nothing pending confirmed the exchange (the local action itself)
        const r = run.result
        assert.ok(!r.events.some(e => e.type === "commandResult" && e.command === "SyringeExchanged"), "no host command involved")
        // resume refused until the exchange (FLOW-5)
        assert.ok(r.rejected.some(x => x.command === "Resume" && x.reason === "SyringeEmpty"), "resume refused while the syringe is empty")
        printFigures("confirm button", f)
    })

    test("FLOW-5: host syringe_exchanged waits for the local confirm (FAULT-7), then the level continues as with the button", async () => {
        const sc = loadScenario(FILE)
        // the host sends syringe_exchanged (fill 0 = full) instead of the bare press; the bench presses confirm when asked
        sc.actions = sc.actions.map(a => (a.do === "confirm" ? { atS: a.atS, do: "syringeExchanged" as const } : a))
        sc.name = "flow5-exchange-host"
        const run = await runLockstep(sc, { trace: true })
        const f = checkExchange(sc, run, "host command")
        const results = run.result.events.filter(e => e.type === "commandResult" && e.command === "SyringeExchanged")
        assert.deepEqual(
            results.map(e => e.outcome),
            ["pending", "executed"],
            "pending until the local confirm, then executed"
        )
        printFigures("host command + local confirm", f)
    })
})
