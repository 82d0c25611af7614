// Clinical workflow in the closed loop (FLOW-4): the firmware in the VM
// against the physics model, lockstep. Figures are measured against the
// plant's truth (cement out of the needle) and printed as FIGURE lines.
//   node --import tsx --test sim/test/clinical.test.ts
import "../lockstep/clock" // first: virtual time before jacdac-ts loads
import "../harness/quiet"
import assert from "node:assert/strict"
import { join } from "node:path"
import { describe, test } from "node:test"
import { loadScenario } from "../harness/scenario"
import { runLockstep } from "../lockstep/run"
import { ROOT } from "../harness/procs"
import type { TraceRow } from "../harness/plant"

const SCEN_DIR = join(ROOT, "sim", "scenarios")

/** The plant's injected volume at scenario time tS (the last trace row at or before it). */
function injectedAt(trace: TraceRow[], tS: number): number {
    let v = 0
    for (const r of trace) {
        if (r.tS > tS) break
        v = r.injectedMl
    }
    return v
}

/** The most cement that left the needle after tOff, before tEnd (afterflow before the decompression draws back), mL. */
function peakAfterflow(trace: TraceRow[], tOff: number, tEnd: number): number {
    const v0 = injectedAt(trace, tOff)
    let m = 0
    for (const r of trace) if (r.tS > tOff && r.tS <= tEnd) m = Math.max(m, r.injectedMl - v0)
    return m
}

/** The first instant at or after tS when the drive is disabled (the plant's stop). */
function driveOffAfter(trace: TraceRow[], tS: number): number {
    for (const r of trace) if (r.tS >= tS && !r.enabled) return r.tS
    return NaN
}

describe("FLOW-4 increments, closed loop", () => {
    test("FLOW-4: flow4-increments: 10 increments of 0.2 mL, each logged; volume per increment vs the plant's truth and afterflow per stop", async () => {
        const file = join(SCEN_DIR, "flow4-increments.json")
        const { result: r, trace } = await runLockstep(loadScenario(file), { file, trace: true })
        assert.ok(r.verdict.pass, r.verdict.failures.join("; "))
        const incs = r.events.filter(e => e.type === "increment")
        assert.equal(incs.length, 10, "one increment event per increment")
        const starts = r.events.filter(e => e.type === "transition" && e.to === "injecting").map(e => e.tS)
        const ends = r.events.filter(e => e.type === "transition" && e.from === "injecting").map(e => e.tS)
        const stops = r.events.filter(e => e.type === "transition" && e.reason === "IncrementDone")
        assert.equal(stops.length, 10, "ten increment_done pauses")
        assert.equal(starts.length, 10, "start + nine presses of the confirm button")
        const finishS = r.events.find(e => e.type === "transition" && e.reason === "Finished")!.tS
        const rows: { device: number; truth: number; afterflow: number; net: number }[] = []
        for (let i = 0; i < 10; i++) {
            // the plant's stop: the first disabled drive after the increment started
            const t0 = starts[i]
            const tOff = driveOffAfter(trace, t0 + 0.05)
            assert.ok(tOff < ends[i] + 0.1, `increment ${i + 1}: the drive stopped before its pause was reported`)
            const tNext = i < 9 ? starts[i + 1] : finishS
            const truth = injectedAt(trace, tNext) - injectedAt(trace, t0)
            const net = injectedAt(trace, tNext) - injectedAt(trace, tOff)
            rows.push({ device: incs[i].value!, truth, afterflow: peakAfterflow(trace, tOff, tNext), net })
        }
        const setErr = rows.map(x => Math.abs(x.device - 0.2))
        const truthErr = rows.map(x => Math.abs(x.device - x.truth))
        const mean = (a: number[]) => a.reduce((s, v) => s + v, 0) / a.length
        const after = rows.map(x => x.afterflow)
        console.log(`FIGURE FLOW-4 lockstep 10 x 0.2 mL: device increment vs set 0.2 mL mean / max error = ${mean(setErr).toFixed(4)} / ${Math.max(...setErr).toFixed(4)} mL`)
        console.log(`FIGURE FLOW-4 lockstep 10 x 0.2 mL: device increment vs plant true volume mean / max error = ${mean(truthErr).toFixed(4)} / ${Math.max(...truthErr).toFixed(4)} mL`)
        const net = rows.map(x => x.net)
        console.log(`FIGURE FLOW-4 lockstep afterflow per stop (peak out of the needle after the drive is off) mean / max = ${mean(after).toFixed(4)} / ${Math.max(...after).toFixed(4)} mL`)
        console.log(`FIGURE FLOW-4 lockstep net flow from the stop to the next increment (decompression draws back) mean / min / max = ${mean(net).toFixed(4)} / ${Math.min(...net).toFixed(4)} / ${Math.max(...net).toFixed(4)} mL`)
        console.log(`FIGURE FLOW-4 lockstep per increment device/truth/peak afterflow/net mL: ${rows.map(x => `${x.device.toFixed(3)}/${x.truth.toFixed(3)}/${x.afterflow.toFixed(4)}/${x.net.toFixed(3)}`).join(" ")}`)
        for (let i = 0; i < 10; i++) assert.ok(setErr[i] <= 0.02, `increment ${i + 1}: device ${rows[i].device} mL vs set 0.2 mL`)
        assert.ok(mean(truthErr) <= 0.03, `mean |device - truth| ${mean(truthErr)} mL`)
        assert.ok(Math.max(...after) <= 0.05, `afterflow per stop <= 0.05 mL (the pause's LEAK figure): ${Math.max(...after)}`)
        assert.equal(r.finalState, "completed")
    })
})
