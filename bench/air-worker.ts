// A worker of `npm run bench:air`: runs the lockstep trials it is sent, one
// at a time (one virtual clock per process), and reports the figures of
// each from the plant's history (bench/air.ts defines them).
import "../sim/lockstep/clock" // first: virtual time before jacdac-ts loads
import "../sim/harness/quiet"
import { runLockstep } from "../sim/lockstep/run"
import { analyseStop, round } from "../sim/harness/analysis"
import type { AirJob, AirOutcome } from "./air"

type Msg = { job: AirJob; firmware?: string } | { exit: true }

process.on("message", async (m: Msg) => {
    if ("exit" in m) process.exit(0)
    const job = m.job
    try {
        const run = await runLockstep(job.sc, { firmware: m.firmware })
        const r = run.result
        const series = run.session.plant.series
        const o: AirOutcome = { id: job.id, section: job.section, air: job.air }
        // PRS-3 false alarm: a blockage pause with no occlusion (before its onset)
        const onsetS = job.section === "blockage" ? job.onsetS : job.section === "afterflow" && job.trigger === "blockage" ? (job.sc.blockage?.atS ?? Infinity) : Infinity
        const falseAt = r.events.find(e => e.type === "transition" && e.reason === "Blockage" && e.tS < onsetS)
        if (falseAt && job.section !== "library") o.falseBlockageAtS = round(falseAt.tS, 2)
        if (!r.ok) o.error = r.error ?? "the bench did not run"
        else if (job.section === "library") {
            o.pass = r.verdict.pass
            o.failures = r.verdict.failures
        } else if (job.section === "cap") {
            const peak = Math.max(...series.injected)
            // signed: negative = the patient got less than the cap (the air kept it in the syringe)
            o.volumeMl = round(peak - r.capMl, 5)
            o.reason = r.finalReason
        } else {
            const name = job.section === "blockage" ? "blockage" : job.trigger
            let s = r.stops.find(x => x.trigger === name)
            // over-pressure measured at the plunger (chamber + seal friction, with
            // its lead) stops before the chamber itself crosses the limit: then the
            // afterflow counts from the firmware's own stop
            const ev = r.events.find(e => e.type === "transition" && e.reason === "Overpressure")
            if (!s && name === "overpressure" && ev) {
                s = analyseStop(series, run.session.plant.motion, name, ev.tS)
                s.firmwareReason = "Overpressure"
            }
            if (!s || s.latencyMs === null || s.stoppedAtS === null) o.error = `no ${name} stop (final ${r.finalState}/${r.finalReason})`
            else {
                o.reason = s.firmwareReason
                o.latencyMs = s.latencyMs
                o.volumeMl = s.afterflowMl
                if (job.section === "blockage") {
                    const i0 = series.indexAt(s.atS)
                    const i1 = Math.min(series.indexAt(s.stoppedAtS), series.t.length - 1)
                    let peak = series.pc[i0]
                    for (let i = i0; i <= i1; i++) peak = Math.max(peak, series.pc[i])
                    o.stopAfterS = round(s.stoppedAtS - s.atS, 3)
                    o.risePa = round(peak - series.pc[i0], 0)
                    o.storedAtStopMl = round(series.disp[i1] - series.injected[i1], 4)
                    o.hit = s.firmwareReason === "Blockage" && o.stopAfterS <= 3 && o.risePa < 1e6
                }
            }
        }
        process.send!({ outcome: o })
    } catch (e) {
        process.send!({ outcome: { id: job.id, section: job.section, air: job.air, error: (e as Error).stack ?? String(e) } })
    }
})
process.send!({ ready: true })
