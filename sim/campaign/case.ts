// One campaign case in this (lockstep) process: run a scenario, check the
// invariants; shrink a failing scenario to a minimal one that still violates
// the same invariant.
import "../lockstep/clock" // first: virtual time before jacdac-ts loads
import { Scenario, validateScenario } from "../harness/scenario"
import { runLockstep } from "../lockstep/run"
import { checkInvariants, InvariantId, Violations } from "./invariants"

export interface CaseResult {
    seed: number
    violations: Violations
    /** the run itself failed (bench error: setup rejected, ...) */
    error?: string
    virtualS: number
}

export async function runCase(sc: Scenario): Promise<CaseResult> {
    validateScenario(sc) // a generator bug must not pass as a firmware finding
    const run = await runLockstep(sc, {})
    const violations = checkInvariants(sc, run)
    return { seed: sc.seed ?? 1, violations, error: run.result.error, virtualS: run.virtualMs / 1000 }
}

/** Candidate simplifications of a scenario, most aggressive first. */
function* simpler(sc: Scenario): Generator<Scenario> {
    const clone = (): Scenario => JSON.parse(JSON.stringify(sc))
    for (let i = (sc.faults ?? []).length - 1; i >= 0; i--) {
        const c = clone()
        c.faults!.splice(i, 1)
        yield c
    }
    for (let i = sc.actions.length - 1; i >= 0; i--) {
        const c = clone()
        c.actions.splice(i, 1)
        yield c
    }
    for (const key of ["leaks", "vertebra", "needle", "cement"] as const) {
        if (sc[key] === undefined) continue
        const c = clone()
        delete c[key]
        yield c
    }
    if (sc.remoteMode) {
        const c = clone()
        delete c.remoteMode
        yield c
    }
    for (const a of sc.actions)
        if (a.do === "burst" && (a.count ?? 1) > 1) {
            const c = clone()
            const b = c.actions[sc.actions.indexOf(a)]
            b.count = Math.max(1, Math.floor(b.count! / 2))
            yield c
        }
    const last = Math.max(0, ...sc.actions.map(a => a.atS), ...(sc.faults ?? []).map(f => f.atS + (f.forS ?? 0)))
    const shorter = Math.round(Math.max(last + 1, sc.durationS * 0.6) * 10) / 10
    if (shorter < sc.durationS) {
        const c = clone()
        c.durationS = shorter
        yield c
    }
}

/** Greedy shrink: keep any simplification that still violates `inv`, up to maxRuns runs. */
export async function shrink(sc: Scenario, inv: InvariantId, maxRuns = 40): Promise<{ scenario: Scenario; runs: number }> {
    let best = sc
    let runs = 0
    let progress = true
    while (progress && runs < maxRuns) {
        progress = false
        for (const cand of simpler(best)) {
            if (runs >= maxRuns) break
            try {
                validateScenario(cand)
            } catch {
                continue
            }
            runs++
            const r = await runCase(cand)
            if (r.violations[inv] !== undefined) {
                best = cand
                progress = true
                break
            }
        }
    }
    return { scenario: best, runs }
}
