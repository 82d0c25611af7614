// The procedure report's content (HOST-2, TEL-3): per-level rows taken
// verbatim from the device's level_record events and cross-checked against
// the recorded samples; plot series (the recorded values, unchanged) and
// markers for pauses, leaks, alarms, level ends and gaps.
import { LineIssue, ReadStats, readRecording } from "./jsonl"
import type { Line } from "./recorder"
import { detail, levelRecordKey } from "./recorder"

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
    source: "level_record" | "samples"
    /** line of the level_record in the file */
    line: number | null
    check: LevelCheck
}

export interface Marker {
    kind: "pause" | "leak" | "alarm" | "level" | "gap" | "lost" | "reject"
    /** seconds since the recording's first line */
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
    markers: Marker[]
    eventRows: EventRow[]
    /** columns of the plots; null breaks a line at a gap */
    series: { t: (number | null)[]; pressure: (number | null)[]; volume: (number | null)[]; flow: (number | null)[]; cap: (number | null)[] }
}

const LEAK_REASONS = new Set(["leak_seen", "leak_suspected"])
const VOLUME_TOL_ML = 0.005 // VOL-1 resolution
const PEAK_TOL = 0.05 // samples are 50 Hz, the record's peak is every control step

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
    let segPauses: { reason: string }[] = []
    let segOverrides: string[] = []
    let openPause: Marker | null = null
    let openGap: Marker | null = null
    let lastSample: Line | null = null
    let segFirstActive: Line | null = null
    let segMaxVolume: number | null = null
    let segMaxPressure: number | null = null
    let lastRecord: { level_code: number; end_time: number; session: number } | null = null
    const seenRecords = new Set<string>()

    const rel = (t: number) => Math.round((t - (t0 as number)) * 1000) / 1e6 // s, to the µs

    const onLine = (l: Line, n: number) => {
        if (t0 === null) t0 = l.t_host
        t1 = l.t_host
        const t = rel(l.t_host)
        switch (l.type) {
            case "meta":
                if (l.transport && !transport) transport = l.transport
                if (l.device && !devices.includes(l.device)) devices.push(l.device)
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
                    markers.push({ kind: "gap", t, label: "device restarted" })
                } else if (l.phase === "lost_batches") {
                    lost += l.missing || 0
                    markers.push({ kind: "lost", t, label: `${l.missing} batch(es) lost` })
                }
                return
            }
            case "event":
                nEvents++
                eventRows.push({ t, line: n, kind: l.event, text: detail(l) })
                switch (l.event) {
                    case "transition":
                        if (l.to === "paused") {
                            segPauses.push({ reason: l.reason })
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
                        if (openPause) {
                            openPause.t_end = t
                            openPause = null
                        }
                        markers.push({ kind: "level", t, label: `${l.level} ${l.end_state}` })
                        levels.push(levelFromRecord(l, n, session, segPauses, segOverrides))
                        lastRecord = { level_code: l.level_code, end_time: l.end_time, session }
                        segPauses = []
                        segOverrides = []
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
            source: "samples",
            line: null,
            check: { samples: 0, volume_max: null, pressure_max: null, pauses_last: null, pause_transitions: segPauses.length, ok: true, notes: ["no level_record: the recording ended before the level did; figures are from the samples"] },
        })
    }
    for (const row of levels) if (row.source === "level_record") crossCheck(row, samples)
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
    for (const s of samples) {
        if (s.session !== row.session || s.level_code !== row.level_code) continue
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
