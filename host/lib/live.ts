// The live view of one injector that the monitor and the dashboard share:
// the latest telemetry header and sample, the telemetry rate, recent events
// and the alarm state.
import { LinkEvent, LinkStatus, LinkTelemetry, nowMs } from "./link"
import type { TelemetrySource } from "./mqtt-source"
import { levelName, reasonName, stateName } from "./spec"

export interface LiveValues {
    state: string
    reason: string
    level: string
    volume: number | null
    cap: number | null
    fill_fraction: number | null
    pressure: number | null
    force: number | null
    flow: number | null
    motor_speed: number | null
    cement_age: number | null
    pauses: number
    leaks: number
    flags: number
    pending: number
    t_dev: number
}

export interface AlarmInfo {
    t: number
    reason: string
    action: string
}

export class Live {
    status: LinkStatus = "connecting"
    detail = ""
    device: string | undefined
    values: LiveValues | undefined
    events: LinkEvent[] = []
    alarms: AlarmInfo[] = []
    /** receive times of recent samples, for the rate */
    private stamps: number[] = []

    constructor(link: TelemetrySource, readonly keepEvents = 12) {
        link.on("status", (s: LinkStatus, d: string) => {
            this.status = s
            this.detail = d
        })
        link.on("device", (id: string) => (this.device = id))
        link.on("telemetry", (t: LinkTelemetry) => this.onTelemetry(t))
        link.on("event", (e: LinkEvent) => {
            this.events.push(e)
            if (this.events.length > this.keepEvents) this.events.shift()
            if (e.name === "alarm") {
                this.alarms.push({ t: e.rx, reason: e.data.reason, action: e.data.action })
                if (this.alarms.length > this.keepEvents) this.alarms.shift()
            }
        })
    }

    private onTelemetry(t: LinkTelemetry) {
        const h = t.batch.header
        const s = t.batch.samples[t.batch.samples.length - 1]
        if (!s) return
        for (let i = 0; i < t.batch.samples.length; ++i) this.stamps.push(t.rx)
        const cut = t.rx - 5000
        while (this.stamps.length && this.stamps[0] < cut) this.stamps.shift()
        this.values = {
            state: stateName(h.state),
            reason: reasonName(h.reason),
            level: levelName(h.level),
            volume: s.volume,
            cap: h.cap,
            fill_fraction: h.fill_fraction,
            pressure: s.pressure,
            force: s.force,
            flow: s.flow,
            motor_speed: s.motor_speed,
            cement_age: h.cement_age,
            pauses: h.pauses,
            leaks: h.leaks,
            flags: h.flags,
            pending: h.pending,
            t_dev: h.time + (t.batch.samples.length - 1) * h.period,
        }
    }

    /** samples per second over the last 5 s */
    rate() {
        const now = nowMs()
        const recent = this.stamps.filter(t => t > now - 5000)
        if (recent.length < 2) return 0
        return recent.length / Math.max(1, Math.min(5, (now - recent[0]) / 1000))
    }

    /** The alarm that matters now: the latest pause-or-worse alarm while not injecting again, else a recent warning. */
    activeAlarm(): AlarmInfo | undefined {
        const last = this.alarms[this.alarms.length - 1]
        if (!last) return undefined
        const st = this.values?.state
        if (last.action === "warn") return nowMs() - last.t < 10000 ? last : undefined
        if (st === "injecting" && nowMs() - last.t > 2000) return undefined
        if (st === "idle" || st === "ready") return nowMs() - last.t < 10000 ? last : undefined
        return last
    }
}

export function flagsText(flags: number) {
    const f: string[] = []
    if ((flags & 7) !== 7) f.push("not calibrated")
    if (flags & 16) f.push("bench mode")
    if (flags & 32) f.push("remote mode")
    if (flags & 64) f.push("E-STOP")
    return f.join(", ")
}

export function ageText(s: number | null) {
    if (s === null || s < 0) return "not mixed"
    const m = Math.floor(s / 60)
    const sec = Math.floor(s % 60)
    return `${m}:${String(sec).padStart(2, "0")}`
}
