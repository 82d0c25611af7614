// A generic failsafe framework (after PX4's commander/failsafe): named checks,
// each with a ranked action and a clear rule. It knows nothing about
// injection: update() takes which checks fire now, latches them, and reports
// the highest-ranked latched one; clear(rule) releases latches by their rule,
// never while the check's condition still holds. Tests drive it with
// synthetic check tables (test/failsafe.test.ts).

import { Action, Clear, Reason } from "./types"

export interface CheckSpec {
    name: string
    action: Action
    reason: Reason
    clear: Clear
}

export function check(name: string, action: Action, reason: Reason, clear: Clear): CheckSpec {
    return { name, action, reason, clear }
}

export class Failsafe {
    readonly specs: CheckSpec[]
    /** the action each check takes now (a table default a caller may re-rank, e.g. PRS-4 pause) */
    actions: Action[] = []
    /** latched: fired and not yet cleared by its rule */
    latched: boolean[] = []
    /** firing in the last update */
    active: boolean[] = []
    /** checks that latched in the last update (one alarm each) */
    newly: number[] = []

    constructor(specs: CheckSpec[]) {
        this.specs = specs
        for (let i = 0; i < specs.length; ++i) {
            this.actions.push(specs[i].action)
            this.latched.push(false)
            this.active.push(false)
        }
    }

    /** One update with the checks firing now; returns the highest latched check, -1 if none. */
    update(firing: boolean[]): number {
        this.newly = []
        for (let i = 0; i < this.specs.length; ++i) {
            const f = firing[i] === true
            this.active[i] = f
            if (f && !this.latched[i]) {
                this.latched[i] = true
                this.newly.push(i)
            } else if (!f && this.latched[i] && this.specs[i].clear === Clear.WhenGone) this.latched[i] = false
        }
        return this.highest()
    }

    /** The latched check with the strongest action (table order breaks ties); -1 if none. */
    highest(): number {
        let best = -1
        for (let i = 0; i < this.specs.length; ++i)
            if (this.latched[i] && this.actions[i] > Action.None && (best < 0 || this.actions[i] > this.actions[best])) best = i
        return best
    }

    /** Action of the highest latched check (None when nothing is latched). */
    action(): Action {
        const h = this.highest()
        return h < 0 ? Action.None : this.actions[h]
    }

    /** Clears the latches with this rule whose condition is gone; returns how many stay latched. */
    clear(rule: Clear): number {
        let held = 0
        for (let i = 0; i < this.specs.length; ++i) {
            if (!this.latched[i] || this.specs[i].clear !== rule) continue
            if (this.active[i]) held++
            else this.latched[i] = false
        }
        return held
    }

    /** The first check with this rule and at least this action whose condition still holds, -1 if none. */
    holding(rule: Clear, atLeast: Action): number {
        for (let i = 0; i < this.specs.length; ++i)
            if (this.active[i] && this.specs[i].clear === rule && this.actions[i] >= atLeast) return i
        return -1
    }
}
