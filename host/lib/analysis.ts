// The procedure report's content (HOST-2, TEL-3): per-level rows taken
// verbatim from the device's level_record events and cross-checked against
// the recorded samples; plot series (the recorded values, unchanged) and
// markers for pauses, leaks, alarms, level ends and gaps.
import { LineIssue, ReadStats, readRecording } from "./jsonl"
import type { Line } from "./recorder"
import { detail, levelRecordKey } from "./recorder"
import { defaultConfig } from "../../src/core/config"

export interface LevelCheck {
    /** samples of this level inside its record's time window */
    samples: number
    volume_max: number | null
    pressure_max: number | null
    pauses_last: number | null
    pause_transitions: number
    ok: boolean
    notes: string[]
}

export interface LevelRow {
    level: string
    level_code: number | null
    cap: number | null
    delivered: number | null
    fill_fraction: number | null
    peak_pressure: number | null
    pauses: number | null
    leak_pauses: number | null
    overrides: number | null
    pause_reasons: string[]
    override_details: string[]
    start_time: number | null
    end_time: number | null
    duration_ms: number | null
    end_state: string
    end_reason: string
    /** FLOW-4: increments delivered on this level (increment events) */
    increments: number
    /** TEL-4: the record arrived well after the level ended (read back from the device after a reconnect) */
    read_back: boolean
    source: "level_record" | "samples"
    /** line of the level_record in the file */
    line: number | null
    check: LevelCheck
}

export interface Marker {
    kind: "pause" | "leak" | "alarm" | "level" | "gap" | "lost" | "reject" | "increment"
    /** seconds from the time origin (Analysis.origin) */
    t: number
    t_end?: number
    label: string
}

export interface EventRow {
    t: number
    line: number
    kind: string
    text: string
}

export interface Analysis {
    file: string
    stats: ReadStats
    issues: LineIssue[]
    t0: number | null
    t1: number | null
    devices: string[]
    transport: string | null
    samples: number
    events: number
    gaps: number
    lost_batches: number
    levels: LevelRow[]
    /** patient, operator, cement lot, needle: from `meta` lines (phase "procedure"); the report's options override them */
    procedure: ProcedureFields
    /** the pressure limit drawn on the plot, Pa, and where it comes from */
    pressureLimit: { pa: number; source: string }
    /** time origin of plots, markers and event rows: the start of the injection (first injecting sample), else the recording's first line */
    origin: { kind: "injection" | "recording"; t_host: number | null }
    /** increment events in the recording (FLOW-4) */
    increments: number
    markers: Marker[]
    eventRows: EventRow[]
    /** columns of the plots; null breaks a line at a gap */
    series: { t: (number | null)[]; pressure: (number | null)[]; volume: (number | null)[]; flow: (number | null)[]; cap: (number | null)[] }
}

export interface ProcedureFields {
    patient?: string
    operator?: string
    cement_lot?: string
    needle?: string
}
export const PROCEDURE_FIELDS = ["patient", "operator", "cement_lot", "needle"] as const

/** The firmware's default over-pressure limit (PRS-2), used when neither the recording nor the report says otherwise. */
export const DEFAULT_PRESSURE_LIMIT_PA = defaultConfig().overpressurePa

const LEAK_REASONS = new Set(["leak_seen", "leak_suspected"])
const VOLUME_TOL_ML = 0.005 // VOL-1 resolution
const PEAK_TOL = 0.05 // samples are 50 Hz, the record's peak is every control step
/** a level record arriving this long after its level ended (device time of the latest sample) was read back (TEL-4) */
const LATE_MS = 2000

interface SampleRef {
    session: number
    t_dev: number
    level_code: number
    volume: number | null
    pressure: number | null
    pauses: number
    state: string
}

export interface AnalyseOptions {
    /** entered at report time: override the recording's procedure fields */
    procedure?: ProcedureFields
    /** Pa; overrides the recording's meta pressure_limit */
    pressureLimitPa?: number
    onIssue?: (i: LineIssue) => void
    onProgress?: (fraction: number, lines: number) => void
}

export async function analyse(file: string, o: AnalyseOptions = {}): Promise<Analysis> {
    const samples: SampleRef[] = []
    const T: (number | null)[] = []
    const P: (number | null)[] = []
    const V: (number | null)[] = []
    const F: (number | null)[] = []
    const C: (number | null)[] = []
    const markers: Marker[] = []
    const eventRows: EventRow[] = []
    const levels: LevelRow[] = []
    const devices: string[] = []
    let transport: string | null = null
    let t0: number | null = null
    let t1: number | null = null
    let session = 0
    let nSamples = 0
    let nEvents = 0
    let nGaps = 0
    let lost = 0
    let lastSampleT: number | null = null
    let lastPeriod = 200
    // the segment since the previous level record
    let segPauses: { reason: string; t_dev: number | null }[] = []
    let segOverrides: string[] = []
    let openPause: Marker | null = null
    let openGap: Marker | null = null
    let lastSample: Line | null = null
    let segFirstActive: Line | null = null
    let segMaxVolume: number | null = null
    let segMaxPressure: number | null = null
    let lastRecord: { level_code: number; end_time: number; session: number } | null = null
    const seenRecords = new Set<string>()
    const procedure: ProcedureFields = {}
    let metaLimitPa: number | null = null
    let injectionStart: number | null = null
    let nIncrements = 0
    let segIncrements: (number | null)[] = []
    /** pause transitions with their (estimated) device time, for records read back late */
    const timedPauses: { session: number; t_dev: number; reason: string }[] = []
    const timedIncrements: { session: number; t_dev: number }[] = []
    /** per session: recording-relative seconds minus device seconds (from the latest sample) */
    const devOffset = new Map<number, number>()
    let lastSampleDev: number | null = null

    const rel = (t: number) => Math.round((t - (t0 as number)) * 1000) / 1e6 // s, to the µs

    const onLine = (l: Line, n: number) => {
        if (t0 === null) t0 = l.t_host
        t1 = l.t_host
        const t = rel(l.t_host)
        switch (l.type) {
            case "meta":
                if (l.transport && !transport) transport = l.transport
                if (l.device && !devices.includes(l.device)) devices.push(l.device)
                // procedure fields (docs/host.md): the latest non-empty value wins
                for (const k of PROCEDURE_FIELDS) if (typeof l[k] === "string" && l[k].trim()) procedure[k] = l[k].trim()
                if (typeof l.pressure_limit === "number" && l.pressure_limit > 0) metaLimitPa = l.pressure_limit
                return
            case "sample": {
                nSamples++
                if (lastSampleT !== null && t - lastSampleT > Math.max(1, (5 * lastPeriod) / 1000)) {
                    // break the plotted line over a gap in the data
                    T.push(lastSampleT + 1e-6)
                    P.push(null)
                    V.push(null)
                    F.push(null)
                    C.push(null)
                }
                lastSampleT = t
                lastPeriod = l.period || lastPeriod
                if (injectionStart === null && l.state === "injecting") injectionStart = t
                devOffset.set(session, t - l.t_dev / 1000)
                lastSampleDev = l.t_dev
                T.push(t)
                P.push(l.pressure)
                V.push(l.volume)
                F.push(l.flow)
                C.push(l.cap)
                samples.push({
                    session,
                    t_dev: l.t_dev,
                    level_code: l.level_code,
                    volume: l.volume,
                    pressure: l.pressure,
                    pauses: l.pauses,
                    state: l.state,
                })
                lastSample = l
                const ended = lastRecord && lastRecord.level_code === l.level_code && l.t_dev <= lastRecord.end_time && lastRecord.session === session
                if (!ended && (l.state === "injecting" || l.state === "paused")) {
                    if (!segFirstActive) segFirstActive = l
                    if (l.volume !== null && (segMaxVolume === null || l.volume > segMaxVolume)) segMaxVolume = l.volume
                    if (l.pressure !== null && (segMaxPressure === null || l.pressure > segMaxPressure)) segMaxPressure = l.pressure
                }
                return
            }
            case "gap": {
                nGaps++
                eventRows.push({ t, line: n, kind: "gap", text: detail(l) })
                if (l.phase === "start") {
                    openGap = { kind: "gap", t, t_end: undefined, label: `no data: ${l.reason ?? "disconnected"}` }
                    markers.push(openGap)
                } else if (l.phase === "end") {
                    if (openGap) openGap.t_end = t
                    openGap = null
                } else if (l.phase === "device_restart") {
                    session++
                    lastSampleDev = null
                    markers.push({ kind: "gap", t, label: "device restarted" })
                } else if (l.phase === "lost_batches") {
                    lost += l.missing || 0
                    markers.push({ kind: "lost", t, label: `${l.missing} batch(es) lost` })
                }
                return
            }
            case "event":
                nEvents++
                eventRows.push({ t, line: n, kind: l.event, text: detail(l, { rounded: true }) })
                switch (l.event) {
                    case "transition":
                        if (l.to === "paused") {
                            segPauses.push({ reason: l.reason, t_dev: typeof l.t_dev === "number" ? l.t_dev : null })
                            if (typeof l.t_dev === "number") timedPauses.push({ session, t_dev: l.t_dev, reason: l.reason })
                            if (openPause) openPause.t_end = t
                            openPause = { kind: "pause", t, label: `paused: ${l.reason}` }
                            markers.push(openPause)
                        } else if (l.from === "paused" && openPause) {
                            openPause.t_end = t
                            openPause = null
                        }
                        if (LEAK_REASONS.has(l.reason) && l.to === "paused") markers.push({ kind: "leak", t, label: `leak: ${l.reason}` })
                        break
                    case "alarm":
                        if (!LEAK_REASONS.has(l.reason)) markers.push({ kind: "alarm", t, label: `alarm: ${l.reason} (${l.action})` })
                        else if (l.action === "warn") markers.push({ kind: "leak", t, label: `leak suspected (warn)` })
                        break
                    case "rejected":
                        markers.push({ kind: "reject", t, label: `${l.command} rejected: ${l.reject}` })
                        break
                    case "increment": {
                        // FLOW-4 (assumed event, see recorder.incrementText): a mark on the volume plot, counted per level
                        nIncrements++
                        segIncrements.push(typeof l.t_dev === "number" ? l.t_dev : null)
                        if (typeof l.t_dev === "number") timedIncrements.push({ session, t_dev: l.t_dev })
                        markers.push({ kind: "increment", t, label: typeof l.index === "number" ? `#${l.index}` : "" })
                        break
                    }
                    case "info":
                        if (l.reason === "cap_override") segOverrides.push(`cap raised to ${l.value} mL`)
                        else if (l.reason === "leak_limit_override") segOverrides.push(`leak limit overridden (after ${l.value} leak pauses)`)
                        break
                    case "level_record": {
                        // TEL-4: the device sends its stored records again after a reconnect
                        const key = `${session}/${levelRecordKey(l)}`
                        if (l.duplicate === true || seenRecords.has(key)) {
                            eventRows[eventRows.length - 1].text += " (sent again by the device; already in the table)"
                            break
                        }
                        seenRecords.add(key)
                        // TEL-4: a record of a level that ended well before the data now
                        // arriving (or before the device restarted) was read back late
                        const late =
                            typeof l.end_time === "number" &&
                            (lastSampleDev === null || lastSampleDev - l.end_time > LATE_MS || (lastRecord !== null && lastRecord.session === session && l.end_time < lastRecord.end_time))
                        if (late) {
                            const inWindow = (x: { session: number; t_dev: number }) => x.t_dev >= l.start_time - 100 && x.t_dev <= l.end_time + 250
                            const row = levelFromRecord(l, n, session, timedPauses.filter(inWindow), [])
                            row.increments = timedIncrements.filter(inWindow).length
                            row.read_back = true
                            row.check.notes.push("record read back from the device after the level ended (TEL-4); pause reasons from the events recorded in its time window; override details not seen")
                            levels.push(row)
                            const off = devOffset.get(session)
                            markers.push({ kind: "level", t: off !== undefined && lastSampleDev !== null ? Math.max(0, l.end_time / 1000 + off) : t, label: `${l.level} ${l.end_state} (read back)` })
                            break
                        }
                        if (openPause) {
                            openPause.t_end = t
                            openPause = null
                        }
                        markers.push({ kind: "level", t, label: `${l.level} ${l.end_state}` })
                        // this level's own: events of an earlier level whose record never came are left out
                        const mine = (tDev: number | null) => tDev === null || typeof l.start_time !== "number" || l.start_time === 0 || tDev >= l.start_time - 100
                        const row = levelFromRecord(l, n, session, segPauses.filter(p => mine(p.t_dev)), segOverrides)
                        row.increments = segIncrements.filter(mine).length
                        levels.push(row)
                        lastRecord = { level_code: l.level_code, end_time: l.end_time, session }
                        segPauses = []
                        segOverrides = []
                        segIncrements = []
                        segFirstActive = null
                        segMaxVolume = null
                        segMaxPressure = null
                        break
                    }
                }
                return
        }
    }

    const stats = await readRecording(file, { onLine, onIssue: o.onIssue, onProgress: o.onProgress })
    if (t1 !== null) {
        const tEnd = rel(t1)
        if (openPause) (openPause as Marker).t_end = tEnd
        if (openGap) (openGap as Marker).t_end = tEnd
    }
    // a level still going when the recording ended: from the samples only
    if (segFirstActive && lastSample) {
        const ls = lastSample as Line
        levels.push({
            level: ls.level,
            level_code: ls.level_code,
            cap: ls.cap,
            delivered: segMaxVolume,
            fill_fraction: ls.fill_fraction,
            peak_pressure: segMaxPressure,
            pauses: ls.pauses,
            leak_pauses: ls.leaks,
            overrides: segOverrides.length,
            pause_reasons: segPauses.map(p => p.reason),
            override_details: segOverrides,
            start_time: (segFirstActive as Line).t_dev,
            end_time: ls.t_dev,
            duration_ms: ls.t_dev - (segFirstActive as Line).t_dev,
            end_state: `${ls.state} (recording ended)`,
            end_reason: ls.reason,
            increments: segIncrements.length,
            read_back: false,
            source: "samples",
            line: null,
            check: { samples: 0, volume_max: null, pressure_max: null, pauses_last: null, pause_transitions: segPauses.length, ok: true, notes: ["no level_record: the recording ended before the level did; figures are from the samples"] },
        })
    }
    for (const row of levels) if (row.source === "level_record") crossCheck(row, samples)
    // in the order the levels were done (records read back late arrive out of order)
    levels.sort((a: any, b: any) => (a.session ?? 0) - (b.session ?? 0) || (a.start_time ?? 0) - (b.start_time ?? 0))
    // time from the start of the injection
    const origin0 = injectionStart ?? 0
    if (origin0 !== 0) {
        const sh = (v: number) => Math.round((v - origin0) * 1e6) / 1e6
        for (let i = 0; i < T.length; ++i) if (T[i] !== null) T[i] = sh(T[i] as number)
        for (const m of markers) {
            m.t = sh(m.t)
            if (m.t_end !== undefined) m.t_end = sh(m.t_end)
        }
        for (const e of eventRows) e.t = sh(e.t)
    }
    const limitPa = o.pressureLimitPa ?? metaLimitPa ?? DEFAULT_PRESSURE_LIMIT_PA
    const limitSource =
        o.pressureLimitPa !== undefined ? "entered for the report" : metaLimitPa !== null ? "from the recording" : "the device's default; a limit lowered on the device is not in the recording: give --pressure-limit"
    return {
        file,
        stats,
        issues: stats.issues,
        t0,
        t1,
        devices,
        transport,
        samples: nSamples,
        events: nEvents,
        gaps: nGaps,
        lost_batches: lost,
        levels,
        procedure: { ...procedure, ...Object.fromEntries(Object.entries(o.procedure ?? {}).filter(([, v]) => typeof v === "string" && v.trim())) },
        pressureLimit: { pa: limitPa, source: limitSource },
        origin: { kind: injectionStart !== null ? "injection" : "recording", t_host: t0 === null ? null : (t0 as number) + origin0 * 1000 },
        increments: nIncrements,
        markers,
        eventRows,
        series: { t: T, pressure: P, volume: V, flow: F, cap: C },
    }
}

function levelFromRecord(l: Line, n: number, session: number, pauses: { reason: string }[], overrides: string[]): LevelRow & { session: number } {
    const start = l.start_time
    const end = l.end_time
    return {
        level: l.level,
        level_code: l.level_code,
        cap: l.cap,
        delivered: l.volume,
        fill_fraction: l.fill_fraction,
        peak_pressure: l.peak_pressure,
        pauses: l.pauses,
        leak_pauses: l.leak_pauses,
        overrides: l.overrides,
        pause_reasons: pauses.map(p => p.reason),
        override_details: overrides,
        start_time: start,
        end_time: end,
        duration_ms: typeof start === "number" && typeof end === "number" ? end - start : null,
        end_state: l.end_state,
        end_reason: l.end_reason,
        increments: 0,
        read_back: false,
        source: "level_record",
        line: n,
        session,
        check: { samples: 0, volume_max: null, pressure_max: null, pauses_last: null, pause_transitions: pauses.length, ok: true, notes: [] },
    }
}

/** Compares a level record with the samples recorded in its time window. */
function crossCheck(row: LevelRow & { session?: number }, samples: SampleRef[]) {
    const c = row.check
    const start = row.start_time ?? 0
    const end = row.end_time ?? 0
    let vmax: number | null = null
    let pmax: number | null = null
    let pausesLast: number | null = null
    let n = 0
    // a record read back after a device restart belongs to the session whose samples hold its level and times
    let sess = row.session
    const fits = (k: number | undefined) => samples.some(s => s.session === k && s.level_code === row.level_code && s.t_dev >= start && s.t_dev <= end)
    if (row.read_back && !fits(sess)) {
        const other = [...new Set(samples.map(s => s.session))].find(k => fits(k))
        if (other !== undefined) sess = other
    }
    for (const s of samples) {
        if (s.session !== sess || s.level_code !== row.level_code) continue
        if (s.t_dev < start || s.t_dev > end + 500) continue
        n++
        if (s.volume !== null && (vmax === null || s.volume > vmax)) vmax = s.volume
        if (s.t_dev <= end && s.pressure !== null && (pmax === null || s.pressure > pmax)) pmax = s.pressure
        if (s.t_dev <= end + 500) pausesLast = s.pauses
    }
    c.samples = n
    c.volume_max = vmax
    c.pressure_max = pmax
    c.pauses_last = pausesLast
    if (start === 0 && end === 0) {
        c.notes.push("the level never started")
        return
    }
    if (n === 0) {
        c.ok = false
        c.notes.push("no samples recorded in this level's time window")
        return
    }
    if (vmax !== null && row.delivered !== null && Math.abs(vmax - row.delivered) > VOLUME_TOL_ML) {
        c.ok = false
        c.notes.push(`samples reach ${vmax} mL, the record says ${row.delivered} mL`)
    }
    if (pmax !== null && row.peak_pressure !== null && row.peak_pressure > 0) {
        if (pmax > row.peak_pressure * (1 + 1e-6) + 1) {
            c.ok = false
            c.notes.push(`a sample shows ${pmax} Pa, above the recorded peak ${row.peak_pressure} Pa`)
        } else if (pmax < row.peak_pressure * (1 - PEAK_TOL)) {
            c.notes.push(`sampled peak ${pmax} Pa is ${(100 * (1 - pmax / row.peak_pressure)).toFixed(1)} % below the record's (the device checks every control step; telemetry samples at 50 Hz)`)
        }
    }
    if (pausesLast !== null && row.pauses !== null && pausesLast !== row.pauses) {
        c.ok = false
        c.notes.push(`samples count ${pausesLast} pauses, the record ${row.pauses}`)
    }
    if (row.pauses !== null && c.pause_transitions !== row.pauses) {
        c.ok = false
        c.notes.push(`${c.pause_transitions} pause transitions recorded, the record counts ${row.pauses}`)
    }
}
