// A worker of `npm run bench`: runs the trials it is sent, one at a time (a
// lockstep process has one clock), each a fresh deterministic world, and
// reports the device figure, the manual baseline and the leak detector's
// alarms of each.
import "../sim/lockstep/clock" // first: virtual time before jacdac-ts loads
import { runLockstep } from "../sim/lockstep/run"
import { baselineFigure, deviceFigure, makeTrial, preventedStop, TrialOutcome, TriggerKind } from "./triggers"

type Job = { kind: TriggerKind; i: number; reactionS: number; firmware?: string } | { exit: true }

process.on("message", async (job: Job) => {
    if ("exit" in job) process.exit(0)
    try {
        const trial = makeTrial(job.kind, job.i, job.reactionS)
        const run = await runLockstep(trial.sc, { firmware: job.firmware })
        const r = run.result
        const device = r.ok ? deviceFigure(trial, r, run.session.plant) : undefined
        const prevented = !device && preventedStop(trial, r)
        const outcome: TrialOutcome = {
            kind: job.kind,
            i: job.i,
            name: trial.sc.name,
            device,
            baseline: baselineFigure(trial, job.reactionS),
            prevented,
            failure: device || prevented ? undefined : (r.error ?? `no ${job.kind} stop (final ${r.finalState}/${r.finalReason})`),
            suspectedAtS: r.leakDetector.suspectedAtS,
            leakAtS: trial.leakAtS,
            pressS: trial.pressS,
            wallMs: Math.round(run.wallMs),
            virtualMs: Math.round(run.virtualMs),
        }
        process.send!({ outcome })
    } catch (e) {
        process.send!({ error: (e as Error).stack ?? String(e) })
    }
})
process.send!({ ready: true })
