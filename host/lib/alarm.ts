// What the host tools alarm on (HOST-4), one rule set for the monitor and the
// dashboard: a device alarm that paused or worse, a warning (shown apart,
// quieter), a fault, and the loss of the device. A condition stays raised
// until it clears or the operator acknowledges it; acknowledging silences it
// but the tools keep showing the device's own state.
import { EventEmitter } from "node:events"
import { LinkEvent, LinkStatus, LinkTelemetry, nowMs } from "./link"
import type { TelemetrySource } from "./mqtt-source"
import { reasonName, stateName } from "./spec"

export type AlarmKind = "alarm" | "warning" | "fault" | "lost"

/** Ranked: a banner shows the worst first. */
export const KIND_RANK: Record<AlarmKind, number> = { fault: 4, lost: 3, alarm: 2, warning: 1 }

export interface Condition {
    kind: AlarmKind
    /** one line, e.g. "ALARM: overpressure - injection paused" */
    text: string
    /** host time raised, ms since the epoch */
    since: number
    acknowledged: boolean
}

// wire action codes (services/cementinjector.md, event alarm): 1 warn, 2 pause, 3 stop, 4 abort, 5 fault
const ACTION_WARN = 1
const ACTION_TEXT: Record<number, string> = { 1: "warning", 2: "injection paused", 3: "injection stopped", 4: "level aborted", 5: "fault" }
const STATE_FAULT = 6
/** a warning has no clear event of its own: it leaves the banner after this long */
export const WARNING_SHOWN_MS = 30000

/**
 * Watches a link and keeps the raised conditions, one per kind (a new device
 * alarm replaces the previous one). Emits "raise" (Condition) and "clear"
 * (Condition, why).
 */
export class AlarmWatch extends EventEmitter {
    readonly conditions = new Map<AlarmKind, Condition>()
    private timer: any

    constructor(link: TelemetrySource) {
        super()
        link.on("status", (s: LinkStatus, d: string) => {
            if (s === "lost") this.raise("lost", `DEVICE LOST: ${d || "no packet from the injector"}`)
            else if (s === "connected") this.clear("lost", "the injector is back")
        })
        link.on("event", (e: LinkEvent) => this.onEvent(e))
        link.on("telemetry", (t: LinkTelemetry) => {
            // a monitor that joins while the device is in fault, or missed the transition
            const st = t.batch.header.state
            if (st === STATE_FAULT) {
                if (!this.conditions.has("fault")) this.raise("fault", `FAULT: ${reasonName(t.batch.header.reason)} - the injector stopped`)
            } else {
                // a batch already on its way when the fault was raised still shows the old state
                const f = this.conditions.get("fault")
                if (f && nowMs() - f.since > 1000) this.clear("fault", `the injector left fault (${stateName(st)})`)
            }
        })
        this.timer = setInterval(() => {
            const w = this.conditions.get("warning")
            if (w && nowMs() - w.since > WARNING_SHOWN_MS) this.clear("warning", "shown long enough")
        }, 1000)
        this.timer.unref?.()
    }

    private onEvent(e: LinkEvent) {
        const d = e.data
        if (e.name === "alarm") {
            const code = typeof d.action_code === "number" ? d.action_code : d.action
            if (code === ACTION_WARN) this.raise("warning", `WARNING: ${d.reason}`)
            else if (typeof code === "number" && code > ACTION_WARN) this.raise("alarm", `ALARM: ${d.reason} - ${ACTION_TEXT[code] ?? d.action}`)
        } else if (e.name === "transition") {
            const to = typeof d.to_code === "number" ? d.to_code : -1
            if (to === STATE_FAULT) this.raise("fault", `FAULT: ${d.reason} - the injector stopped`)
            else if (d.from === "fault") this.clear("fault", `fault cleared (${d.reason})`)
            // the operator resumed or started again, or set up the next level: the alarm was handled
            if (d.to === "injecting" || d.to === "ready" || d.to === "idle") {
                this.clear("alarm", `${d.from} -> ${d.to} (${d.reason})`)
                if (d.to !== "injecting") this.clear("warning", `${d.from} -> ${d.to}`)
            }
        }
    }

    raise(kind: AlarmKind, text: string) {
        const c: Condition = { kind, text, since: nowMs(), acknowledged: false }
        const old = this.conditions.get(kind)
        // the same loss or fault reported again is not a new condition
        if (old && old.text === text && (kind === "lost" || kind === "fault")) return
        this.conditions.set(kind, c)
        this.emit("raise", c)
    }

    clear(kind: AlarmKind, why: string) {
        const c = this.conditions.get(kind)
        if (!c) return
        this.conditions.delete(kind)
        this.emit("clear", c, why)
    }

    /** The operator saw it: every raised condition leaves the banner and goes quiet. */
    acknowledge(): Condition[] {
        const acked: Condition[] = []
        for (const c of this.conditions.values())
            if (!c.acknowledged) {
                c.acknowledged = true
                acked.push(c)
            }
        if (acked.length) this.emit("acknowledge", acked)
        return acked
    }

    /** Conditions on the banner (not acknowledged), worst first. */
    active(): Condition[] {
        return [...this.conditions.values()].filter(c => !c.acknowledged).sort((a, b) => KIND_RANK[b.kind] - KIND_RANK[a.kind])
    }

    /** Whether anything on the banner should keep sounding (warnings sound once). */
    sounding() {
        return this.active().some(c => c.kind !== "warning")
    }

    stop() {
        clearInterval(this.timer)
    }
}
