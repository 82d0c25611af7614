// A campaign worker process: runs the cases it is sent, one at a time
// (a lockstep process has one clock), and reports each result.
import { runCase, shrink } from "./case"
import { loadScenario } from "../harness/scenario"
import { generateScenario } from "./generate"
import { InvariantId } from "./invariants"

type Job = { kind: "file"; file: string } | { kind: "case"; seed: number } | { kind: "shrink"; seed: number; invariant: InvariantId } | { kind: "exit" }

process.on("message", async (job: Job) => {
    if (job.kind === "exit") process.exit(0)
    if (job.kind === "file") {
        try {
            process.send!({ kind: "file", file: job.file, result: await runCase(loadScenario(job.file)) })
        } catch (e) {
            process.send!({ kind: "error", seed: -1, error: (e as Error).stack ?? String(e) })
        }
        return
    }
    try {
        const sc = generateScenario(job.seed)
        if (job.kind === "case") process.send!({ kind: "case", result: await runCase(sc) })
        else process.send!({ kind: "shrink", seed: job.seed, invariant: job.invariant, ...(await shrink(sc, job.invariant)) })
    } catch (e) {
        process.send!({ kind: "error", seed: job.seed, error: (e as Error).stack ?? String(e) })
    }
})
process.send!({ kind: "ready" })
