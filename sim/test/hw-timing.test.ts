// The lockstep "hardware" timing model (issue 11 item 5; BOARD-4, FAULT-11):
// src/main_hwsim.ts runs the board's control path (a control step per
// load-cell sample, the motor command applied to the StepperDrive inside the
// step, the drive's ≤ 100 ms lease renewed only by those commands) against
// the plant, with the drive's pins modelled by sim/lockstep/hwpins.ts.
// Figures are printed as "FIGURE name = value unit" lines.
import "../lockstep/clock" // first: virtual time before jacdac-ts loads
import "../harness/quiet"
import assert from "node:assert/strict"
import { join } from "node:path"
import { test } from "node:test"
import { loadScenario, Scenario, ScenarioError, validateScenario } from "../harness/scenario"
import { runLockstep } from "../lockstep/run"
import { ROOT } from "../harness/procs"
import { checkInvariants } from "../campaign/invariants"

// No node:test timeouts: node:test arms them with the global setTimeout, which is the virtual clock here (as in scenarios.test.ts)
const SAMPLE_MS = 1000 / 80
const figure = (name: string, value: number, unit: string) => console.log(`FIGURE ${name} = ${Math.round(value * 100) / 100} ${unit}`)

test("BOARD-4: hardware timing: >= 76 samples/s reach the control step, and a fast pressure rise is stopped within one sample (PRS-2)", async () => {
    // the campaign's known-failing fast rise (2.2 MPa/s): on the simulator
    // timing the motor command waits ~45 ms for the VM's send budget
    const file = join(ROOT, "sim", "campaign", "known", "pressure.json")
    const sc = loadScenario(file)
    const pushMs: number[] = []
    const r = await runLockstep(sc, {
        file,
        timing: "hardware",
        onSession: s => {
            const prev = s.plant.onSample
            s.plant.onSample = row => {
                pushMs.push(Date.now())
                prev(row)
            }
        },
    })
    const pins = r.session.hwPins
    assert.ok(pins, "the hardware timing model ran (pins modelled)")
    assert.equal(r.result.error, undefined, r.result.error)

    // samples reaching the control step, over the whole run after the first
    const s = pins.sampleMs
    assert.ok(s.length > 100, `only ${s.length} samples reached the control step`)
    const perS = (s.length - 1) / ((s[s.length - 1] - s[0]) / 1000)
    figure("hw.samples_per_s_at_control_step", perS, "1/s")
    assert.ok(perS >= 76, `${perS.toFixed(1)} samples/s at the control step (BOARD-4: the converter's 80/s)`)
    let maxGapMs = 0
    for (let i = 1; i < s.length; i++) maxGapMs = Math.max(maxGapMs, s[i] - s[i - 1])
    figure("hw.max_sample_gap_at_control_step", maxGapMs, "ms")

    // the over-pressure stop: EN disabled while the pulses ran
    assert.equal(r.result.finalReason, "Overpressure", `the level ended by ${r.result.finalReason}`)
    const stop = pins.pulseStops.find(p => p.cause === "en")
    assert.ok(stop, "EN was disabled while the pulses ran")
    // latency from the plant's sample (pushed on the bus) that decided it to the EN pin
    const decided = pushMs.filter(t => t <= stop.tMs).pop()!
    const latencyMs = stop.tMs - decided
    const linkMs = r.session.transportConfig.toVmLatencyMs + r.session.transportConfig.toVmJitterMs
    figure("hw.stop_latency_sample_to_en", latencyMs, "ms")
    assert.ok(latencyMs <= SAMPLE_MS + linkMs, `EN off ${latencyMs} ms after the last sample (one sample ${SAMPLE_MS} ms + link ${linkMs} ms)`)
    // and the plant agrees: never above the limit + one sample's rise while advancing (SIM-5)
    const v = checkInvariants(sc, r)
    assert.equal(v.pressure, undefined, v.pressure)
})

test("FAULT-11: hardware timing: a stalled control loop stops the step pulses <= 100 ms after the last motor command", async () => {
    // the VM does not run for 250 ms twice a second (a GC pause, a flash
    // write, a hung fiber): nothing renews the drive's lease meanwhile
    const sc: Scenario = validateScenario({
        name: "hw-stall",
        durationS: 6,
        seed: 11,
        level: "L3",
        capMl: 3,
        flowMlPerMin: 6,
        syringe: { preset: "20mL" },
        cement: { mixedAtS: -240 },
        timing: "hardware",
        transport: { stallsPerS: 2, stallMinMs: 250, stallMaxMs: 250 },
        actions: [{ atS: 0.5, do: "start" }],
    })
    const r = await runLockstep(sc, {})
    const pins = r.session.hwPins
    assert.ok(pins, "the hardware timing model ran")
    assert.ok(r.transport.stalls > 0, "the VM stalled")
    const lease = pins.pulseStops.filter(p => p.cause === "lease")
    assert.ok(lease.length > 0, `no stall hit a running drive (stops: ${JSON.stringify(pins.pulseStops.map(p => p.cause))})`)
    let worst = 0
    for (const p of pins.pulseStops) worst = Math.max(worst, p.tMs - p.lastCmdMs)
    figure("hw.lease_expiry_after_last_command", Math.max(...lease.map(p => p.tMs - p.lastCmdMs)), "ms")
    figure("hw.lease_stops_in_run", lease.length, "")
    assert.ok(worst <= 100, `pulses ran ${worst} ms after the last command (FAULT-11: <= 100 ms)`)
})

test("SIM-2: the scenario field timing accepts simulator | hardware and names itself when wrong", () => {
    const base = { name: "t", durationS: 1, level: "L3", actions: [] }
    assert.doesNotThrow(() => validateScenario({ ...base, timing: "hardware" }))
    assert.doesNotThrow(() => validateScenario({ ...base, timing: "simulator" }))
    assert.throws(
        () => validateScenario({ ...base, timing: "board" }),
        (e: unknown) => e instanceof ScenarioError && /timing/.test((e as Error).message) && /hardware/.test((e as Error).message)
    )
})
