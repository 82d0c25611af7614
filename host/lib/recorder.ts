// Turns the link's telemetry batches and events into recording lines (one
// object per sample, unbatched, one per event, gap markers) - the JSON Lines
// format of docs/host.md - and writes them as they come: each line is one
// write(2) of a complete line, so a crash loses at most the line in progress.
import { closeSync, existsSync, fsyncSync, openSync, writeSync } from "node:fs"
import { hostname } from "node:os"
import { InjectorLink, LinkEvent, LinkStatus, LinkTelemetry, nowMs } from "./link"
import { jdpack } from "jacdac-ts"
import { findCommand, levelName, reasonName, stateName } from "./spec"
import { randomInt } from "node:crypto"

export const FORMAT = "injector-jsonl"
export const FORMAT_VERSION = 1

export type Line = Record<string, any> & { type: "meta" | "sample" | "event" | "gap" }

/** Rounds a host time to the microsecond (keeps lines short, loses nothing real). */
function us(t: number) {
    return Math.round(t * 1000) / 1000
}

/**
 * Stateful conversion from link output to lines: sample host times, device
 * clock offset for events, lost batches and device restarts.
 */
export class LineMaker {
    /** min over recent batches of (host receive time - device time of its last sample) */
    private offset: number | undefined
    private lastSeq = -1
    private lastDevT = -1
    private gapStart: number | undefined
    /** host time of the last packet turned into lines (sample or event) */
    private lastDataT: number | undefined

    meta(extra: Record<string, any>): Line {
        return { type: "meta", t_host: us(nowMs()), format: FORMAT, version: FORMAT_VERSION, host: hostname(), ...extra }
    }

    telemetry(t: LinkTelemetry): Line[] {
        this.lastDataT = t.rx
        const out: Line[] = []
        const { header: h, samples } = t.batch
        const period = h.period
        const lastDev = h.time + (samples.length - 1) * period
        if (this.lastDevT >= 0 && h.time < this.lastDevT - 1000) {
            out.push({ type: "gap", phase: "device_restart", t_host: us(t.rx), t_dev: h.time, reason: "device clock went back: the injector restarted" })
            this.offset = undefined
            this.lastSeq = -1
        }
        if (this.lastSeq >= 0 && h.seq > this.lastSeq + 1)
            out.push({
                type: "gap",
                phase: "lost_batches",
                t_host: us(t.rx),
                t_dev: h.time,
                missing: h.seq - this.lastSeq - 1,
                seq_from: this.lastSeq + 1,
                seq_to: h.seq - 1,
                reason: "telemetry batches missing (sequence numbers skipped)",
            })
        this.lastSeq = h.seq
        this.lastDevT = lastDev
        const off = t.rx - lastDev
        this.offset = this.offset === undefined ? off : Math.min(this.offset, off)
        samples.forEach((s, i) => {
            const tDev = h.time + i * period
            out.push({
                type: "sample",
                t_host: us(t.rx - (lastDev - tDev)),
                t_rx: us(t.rx),
                t_dev: tDev,
                seq: h.seq,
                i,
                period,
                state: stateName(h.state),
                state_code: h.state,
                reason: reasonName(h.reason),
                reason_code: h.reason,
                level: levelName(h.level),
                level_code: h.level,
                cap: h.cap,
                fill_fraction: h.fill_fraction,
                cement_age: h.cement_age,
                pauses: h.pauses,
                leaks: h.leaks,
                flags: h.flags,
                pending: h.pending,
                volume: s.volume,
                pressure: s.pressure,
                force: s.force,
                flow: s.flow,
                motor_speed: s.motor_speed,
            })
        })
        return out
    }

    event(e: LinkEvent): Line {
        this.lastDataT = e.rx
        const tDev = this.offset === undefined ? null : Math.round(e.rx - this.offset)
        return { type: "event", t_host: us(e.rx), t_dev: tDev, t_dev_estimated: true, ...e.data }
    }

    status(s: LinkStatus, detail: string, deviceId?: string): Line | undefined {
        const t = nowMs()
        if (s === "lost") {
            if (this.gapStart !== undefined) return undefined
            this.gapStart = t
            this.lastSeq = -1
            return { type: "gap", phase: "start", t_host: us(t), t_dev: null, reason: detail }
        }
        if (s === "connected" && this.gapStart !== undefined) {
            // the gap is the time without data from the injector: from its
            // last packet before the loss (not from when the loss was noticed,
            // which a busy host may do late) to the reconnection
            const from = this.lastDataT !== undefined && this.lastDataT < this.gapStart ? this.lastDataT : this.gapStart
            const gap = t - from
            this.gapStart = undefined
            return { type: "gap", phase: "end", t_host: us(t), t_dev: null, gap_ms: Math.round(gap), device: deviceId, reason: detail }
        }
        return undefined
    }
}

// ---- writers

export class JsonlWriter {
    private fd: number
    lines = 0
    constructor(readonly path: string, mode: "w" | "a" | "wx") {
        this.fd = openSync(path, mode)
    }
    write(line: Line) {
        writeSync(this.fd, JSON.stringify(line) + "\n")
        this.lines++
    }
    close() {
        try {
            fsyncSync(this.fd)
        } catch {
            // not every file supports it
        }
        closeSync(this.fd)
    }
}

export const CSV_COLUMNS = [
    "type",
    "t_host",
    "t_dev",
    "seq",
    "i",
    "state",
    "reason",
    "level",
    "cap",
    "volume",
    "fill_fraction",
    "pressure",
    "force",
    "flow",
    "motor_speed",
    "cement_age",
    "pauses",
    "leaks",
    "event",
    "detail",
]

function csvCell(v: any): string {
    if (v === null || v === undefined) return ""
    const s = String(v)
    return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s
}

/**
 * What makes a level record the same record (TEL-4): its level and its start
 * and end times on the device clock.
 */
export function levelRecordKey(l: Record<string, any>) {
    return `${l.level_code ?? l.level}/${l.start_time}/${l.end_time}`
}

/** Units of `info` event values by reason (services/cementinjector.md, src/core/supervisor.ts). */
const INFO_UNITS: Record<string, (v: any, o: { rounded?: boolean }) => string> = {
    decompressed: v => `${v} µL`, // retracted volume
    cap_override: (v, o) => `cap raised to ${ml(v, o.rounded)} mL`,
    leak_limit_override: v => `after ${v} leak pauses`,
    bench_mode: v => (v === 1 ? "on" : v === 0 ? "off" : String(v)),
    cal_drive_done: v => `${v} encoder counts`,
    slack_taken: () => "",
    syringe_exchanged: (v, o) => (v === 0 ? "full syringe" : `fill ${ml(v, o.rounded)} mL`),
    custom_syringe: v => `bore ${v} mm`,
    increment_mode: (v, o) => (v === 0 ? "off" : `${ml(v, o.rounded)} mL per increment`),
}

function infoText(l: Record<string, any>, o: { rounded?: boolean }) {
    const f = INFO_UNITS[l.reason]
    const v = f ? f(l.value, o) : l.value === null || l.value === undefined ? "" : String(l.value)
    return `${l.reason}${v ? " " + v : ""}`
}

/**
 * FLOW-4 increment marker (the host's assumption until the spec has it):
 * event `increment` with `index` (1, 2, ... within the level), `volume` (mL
 * delivered by this increment), `total` (mL delivered on the level so far)
 * and optionally `level`. Any field may be missing.
 */
export function incrementText(l: Record<string, any>, rounded?: boolean) {
    const parts = [`increment${typeof l.index === "number" ? " " + l.index : ""}`]
    if (typeof l.volume === "number") parts.push(`${ml(l.volume, rounded)} mL`)
    if (typeof l.total === "number") parts.push(`(level total ${ml(l.total, rounded)} mL)`)
    return parts.join(" ")
}

const LINE_KEYS = new Set(["type", "t_host", "t_dev", "t_dev_estimated", "event"])
function otherFields(l: Record<string, any>) {
    return Object.keys(l)
        .filter(k => !LINE_KEYS.has(k))
        .map(k => `${k}=${typeof l[k] === "object" ? JSON.stringify(l[k]) : l[k]}`)
        .join(" ")
}

/** mL as recorded, or to the instrument's 0.01 mL for display */
function ml(v: any, rounded?: boolean) {
    return typeof v === "number" && rounded ? v.toFixed(2) : String(v)
}

/**
 * One line of text saying what an event or gap was; `rounded` shows volumes
 * to 0.01 mL (the report), else as recorded (CSV, monitor).
 */
export function detail(l: Line, o: { rounded?: boolean } = {}): string {
    if (l.type === "gap") {
        if (l.phase === "lost_batches") return `${l.missing} telemetry batch(es) lost`
        if (l.phase === "end") return `reconnected after ${(l.gap_ms / 1000).toFixed(1)} s`
        return `${l.phase}: ${l.reason ?? ""}`
    }
    switch (l.event) {
        case "transition":
            return `${l.from} -> ${l.to} (${l.reason})`
        case "alarm":
            return `${l.reason} (${l.action})`
        case "rejected":
            return `${l.command} rejected: ${l.reject}`
        case "confirm_required":
            return `${l.command} waits for the local confirm`
        case "info":
            return infoText(l, o)
        case "level_record":
            return `level ${l.level}: ${ml(l.volume, o.rounded)} mL of cap ${ml(l.cap, o.rounded)} mL, ${l.end_state} (${l.end_reason})${l.duplicate ? " (sent again)" : ""}`
        case "increment":
            return incrementText(l, o.rounded)
        default:
            // an event this host does not know (a newer firmware): its fields as sent
            return `${l.event ?? ""} ${otherFields(l)}`.trim()
    }
}

export class CsvWriter {
    private fd: number
    constructor(readonly path: string, mode: "w" | "a" | "wx") {
        const fresh = mode !== "a" || !existsSync(path)
        this.fd = openSync(path, mode)
        if (fresh) writeSync(this.fd, CSV_COLUMNS.join(",") + "\n")
    }
    write(l: Line) {
        if (l.type === "meta") return
        const row = CSV_COLUMNS.map(c => {
            if (c === "event") return csvCell(l.type === "event" ? l.event : l.type === "gap" ? "gap_" + l.phase : "")
            if (c === "detail") return csvCell(l.type === "sample" ? "" : detail(l))
            return csvCell(l[c])
        })
        writeSync(this.fd, row.join(",") + "\n")
    }
    close() {
        closeSync(this.fd)
    }
}

export interface RecordOptions {
    out: string
    csv?: string
    append?: boolean
    force?: boolean
    /** stop after this many seconds */
    durationS?: number
    /** give up if no injector is found within this many seconds (0 = wait forever) */
    findTimeoutS?: number
    log?: (msg: string) => void
    /** loud messages: the device lost and back (HOST-4) */
    alarm?: (msg: string) => void
    /** TEL-4: ask the device for its kept level records on every (re)connection (default true) */
    readRecords?: boolean
}

/** "2026-11-21 09:00:00.123 UTC" */
export function isoTime(t: number) {
    return new Date(t).toISOString().replace("T", " ").replace("Z", " UTC")
}

export interface RecordSummary {
    samples: number
    events: number
    gaps: number
    lostBatches: number
    found: boolean
}

/** Records from a started link until `stop()` or the duration ends. */
export class Recording {
    readonly maker = new LineMaker()
    readonly jsonl: JsonlWriter
    readonly csv?: CsvWriter
    summary: RecordSummary = { samples: 0, events: 0, gaps: 0, lostBatches: 0, found: false }
    private done!: () => void
    readonly finished: Promise<void>
    private timers: any[] = []
    private deviceId: string | undefined
    /** keys of the level records written in this session */
    private recordLines = new Set<string>()

    constructor(readonly link: InjectorLink, readonly opts: RecordOptions) {
        const mode = opts.append ? "a" : opts.force ? "w" : "wx"
        this.jsonl = new JsonlWriter(opts.out, mode)
        if (opts.csv) this.csv = new CsvWriter(opts.csv, mode)
        this.finished = new Promise(r => (this.done = r))
        this.put(this.maker.meta({ phase: "start", transport: link.description, tool: "injector record", argv: process.argv.slice(2) }))
        link.on("device", (id: string) => {
            this.deviceId = id
            this.summary.found = true
            this.put(this.maker.meta({ phase: "device", device: id }))
        })
        link.on("status", (s: LinkStatus, d: string) => {
            opts.log?.(`${s}: ${d}`)
            // TEL-4: on every (re)connection ask the device for the level records it
            // kept, so a level that ended while nobody listened is in the file too
            // (repeats of records already written are marked duplicate below)
            if (s === "connected" && opts.readRecords !== false) void this.askForRecords()
            const l = this.maker.status(s, d, this.deviceId)
            // HOST-4: losing the device and getting it back are said loudly, with the time
            if (l?.phase === "start") opts.alarm?.(`LOST THE INJECTOR at ${isoTime(l.t_host)}: ${d}. Still recording; waiting for it to come back.`)
            else if (l?.phase === "end") opts.alarm?.(`INJECTOR BACK at ${isoTime(l.t_host)} after ${(l.gap_ms / 1000).toFixed(1)} s without data: ${d}`)
            if (l) {
                if (l.phase === "start") this.summary.gaps++
                this.put(l)
            }
        })
        link.on("telemetry", (t: LinkTelemetry) => {
            for (const l of this.maker.telemetry(t)) {
                if (l.type === "sample") this.summary.samples++
                else if (l.phase === "lost_batches") this.summary.lostBatches += l.missing
                this.put(l)
            }
        })
        link.on("event", (e: LinkEvent) => {
            this.summary.events++
            const l = this.maker.event(e)
            if (l.event === "level_record") {
                // TEL-4: a device sends its stored records again after a reconnect;
                // the repeat is written (what the device sent) but marked
                const key = levelRecordKey(l)
                if (this.recordLines.has(key)) {
                    l.duplicate = true
                    opts.log?.(`level record ${l.level} sent again by the device: already recorded; marked duplicate`)
                } else {
                    this.recordLines.add(key)
                    if (this.summary.gaps > 0) opts.log?.(`level record ${l.level} received (${l.volume} mL, ${l.end_state})`)
                }
            }
            this.put(l)
        })
        if (opts.durationS) this.timers.push(setTimeout(() => this.stop("duration reached"), opts.durationS * 1000))
        if (opts.findTimeoutS)
            this.timers.push(
                setTimeout(() => {
                    if (!this.summary.found) this.stop("no injector found")
                }, opts.findTimeoutS * 1000)
            )
    }

    private async askForRecords() {
        const c = findCommand("resend_records")
        if (!c) return // a spec without TEL-4
        try {
            await this.link.sendCommand(c.code, jdpack(c.packFormat ?? "u32", [randomInt(1, 0x7fffffff)]))
        } catch (e) {
            this.opts.log?.(`could not ask for the kept level records: ${(e as Error).message}`)
        }
    }

    /** The procedure's fields (patient, operator, cement_lot, needle) as a meta line the report shows. */
    procedure(fields: Record<string, string>) {
        this.put(this.maker.meta({ phase: "procedure", ...fields }))
    }

    private put(l: Line) {
        this.jsonl.write(l)
        this.csv?.write(l)
    }

    stopReason = ""
    private stopped = false
    stop(reason: string) {
        if (this.stopped) return
        this.stopped = true
        this.stopReason = reason
        this.timers.forEach(t => clearTimeout(t))
        this.put(this.maker.meta({ phase: "end", reason, samples: this.summary.samples, events: this.summary.events }))
        this.jsonl.close()
        this.csv?.close()
        this.done()
    }
}
