// Synthetic recordings in the exact format `injector record` writes (made by
// the recorder's own LineMaker from encoded-then-decoded telemetry and
// events), for report tests and the report benchmark. The device runs at
// 50 Hz throughout: N levels, each with a leak pause, an over-pressure pause
// and a cap override on the first, ending at its cap.
import { LEVELS } from "../../src/core/levels"
import { Reason, State } from "../../src/core/types"
import { LineMaker } from "../lib/recorder"
import { decodeEventFields, decodeTelemetry, describeEvent, encodeEvent, encodeTelemetry, EventName } from "../lib/spec"

export interface SynthOptions {
    /** samples in all (50 Hz) */
    samples: number
    /** levels to spread them over */
    levels: number
    /** first host time, ms since the epoch */
    t0?: number
    /** FLOW-4 (assumed event): an `increment` event each time the volume passes a multiple of this, mL */
    incrementMl?: number
    /** procedure fields as a meta line (phase "procedure") */
    procedure?: Record<string, string>
    /** TEL-4: after the last level, a disconnect, then the device sends every level record again */
    resend?: boolean
    /** TEL-4: the live record of this level (0-based) is lost; only the resend brings it */
    withholdRecord?: number
}

export interface SynthLevel {
    level: string
    level_code: number
    cap: number
    volume: number
    fill_fraction: number | null
    peak_pressure: number
    start_time: number
    end_time: number
    pauses: number
    leak_pauses: number
    overrides: number
    end_state: string
    end_reason: string
}

const PERIOD = 20
const BATCH = 5
const LEVEL_IDS = [1, 2, 3, 4, 5, 6, 7, 9, 11, 13, 15, 17, 18, 19, 20, 21, 22, 23, 24]

/** Yields recording lines (without newlines); `expected` is filled as it goes. */
export function* synthLines(o: SynthOptions, expected: SynthLevel[] = []): Generator<string> {
    const maker = new LineMaker()
    const t0 = o.t0 ?? Date.UTC(2026, 10, 21, 9, 0, 0)
    const perLevel = Math.floor(o.samples / o.levels)
    let seq = 0
    let n = 0
    const devStart = 5000
    yield JSON.stringify({ ...maker.meta({ phase: "start", transport: "synthetic", tool: "synth" }), t_host: t0 - 1 })
    yield JSON.stringify({ ...maker.meta({ phase: "device", device: "5e7e5e7e5e7e5e7e" }), t_host: t0 })
    if (o.procedure) yield JSON.stringify({ ...maker.meta({ phase: "procedure", ...o.procedure }), t_host: t0 })
    const records: string[] = []
    const ev = (name: EventName, values: Record<string, number>, tDev: number) => {
        const { code, data } = encodeEvent(name, values)
        const dec = decodeEventFields(code, data)!
        return JSON.stringify(maker.event({ name: dec.name, data: describeEvent(dec.name, dec.fields), rx: t0 + (tDev - devStart) + 3 }))
    }
    for (let L = 0; L < o.levels; ++L) {
        const id = LEVEL_IDS[L % LEVEL_IDS.length]
        const preset = LEVELS[id]
        const cap = Math.fround(L === 0 ? Math.min(preset.ceilingMl, preset.capMl + 0.3) : preset.capMl)
        const count = L === o.levels - 1 ? o.samples - n : perLevel
        const levelT0 = devStart + n * PERIOD
        // phases as fractions of the level: idle 5 %, inject to 80 % with two pauses, then completed
        const injectFrom = Math.floor(count * 0.05)
        const injectTo = Math.floor(count * 0.8)
        const leakAt = Math.floor(count * 0.3)
        const leakEnd = leakAt + Math.floor(count * 0.03)
        const opAt = Math.floor(count * 0.55)
        const opEnd = opAt + Math.floor(count * 0.02)
        const activeSamples = injectTo - injectFrom - (leakEnd - leakAt) - (opEnd - opAt)
        let vol = 0
        let pressure = 0
        let peak = 0
        let state = State.Idle
        let reason = Reason.None
        let pauses = 0
        let leaks = 0
        let overrides = 0
        const body = preset.bodyMl
        if (L > 0) yield ev("transition", { from: State.Completed, to: State.Idle, reason: Reason.Disarmed }, levelT0)
        if (L === 0) {
            overrides = 1
            yield ev("info", { value: cap, reason: Reason.CapOverride }, levelT0)
        }
        yield ev("transition", { from: State.Idle, to: State.Ready, reason: Reason.Armed }, levelT0)
        let startTime = 0
        for (let k = 0; k < count; k += BATCH) {
            const m = Math.min(BATCH, count - k)
            const samples: any[] = []
            const events: string[] = []
            const batchT = levelT0 + k * PERIOD
            for (let j = 0; j < m; ++j) {
                const i = k + j
                const tDev = levelT0 + i * PERIOD
                if (i === injectFrom) {
                    state = State.Injecting
                    reason = Reason.Started
                    startTime = tDev
                    events.push(ev("transition", { from: State.Ready, to: State.Injecting, reason }, tDev))
                } else if (i === leakAt || i === opAt) {
                    const r = i === leakAt ? Reason.LeakSeen : Reason.Overpressure
                    events.push(ev("alarm", { reason: r, action: 2 }, tDev))
                    events.push(ev("transition", { from: State.Injecting, to: State.Paused, reason: r }, tDev))
                    state = State.Paused
                    reason = r
                    pauses++
                    if (r === Reason.LeakSeen) leaks++
                } else if (i === leakEnd || i === opEnd) {
                    events.push(ev("transition", { from: State.Paused, to: State.Injecting, reason: Reason.Resumed }, tDev))
                    state = State.Injecting
                    reason = Reason.Resumed
                }
                let flow = 0
                if (state === State.Injecting) {
                    flow = 3
                    const was = vol
                    vol = Math.fround(Math.min(cap, vol + cap / activeSamples))
                    const step = o.incrementMl
                    if (step && Math.floor(vol / step + 1e-9) > Math.floor(was / step + 1e-9) && vol < cap) {
                        const index = Math.floor(vol / step + 1e-9)
                        const data = { event: "increment", index, volume: step, total: vol, level_code: id, level: levelNameOf(id) }
                        events.push(JSON.stringify(maker.event({ name: "increment", data, rx: t0 + (tDev - devStart) + 3 })))
                    }
                    pressure = Math.fround(300e3 + 500e3 * (vol / cap) + 20e3 * Math.sin(i / 7))
                    if (pressure > peak) peak = pressure
                } else pressure = Math.fround(pressure * 0.97)
                if (i === injectTo || (state === State.Injecting && vol >= cap)) {
                    if (state === State.Injecting) {
                        vol = cap
                        events.push(ev("alarm", { reason: Reason.CapReached, action: 3 }, tDev))
                        events.push(ev("transition", { from: State.Injecting, to: State.Completed, reason: Reason.CapReached }, tDev))
                        const rec = {
                            cap,
                            volume: vol,
                            fill_fraction: body > 0 ? vol / body : NaN,
                            peak_pressure: peak,
                            start_time: startTime,
                            end_time: tDev,
                            level: id,
                            end_state: State.Completed,
                            end_reason: Reason.CapReached,
                            pauses,
                            leak_pauses: leaks,
                            overrides,
                        }
                        const line = ev("level_record", rec, tDev)
                        if (o.withholdRecord !== L) events.push(line)
                        records.push(JSON.stringify(rec))
                        const d = JSON.parse(line)
                        expected.push({
                            level: d.level,
                            level_code: d.level_code,
                            cap: d.cap,
                            volume: d.volume,
                            fill_fraction: d.fill_fraction,
                            peak_pressure: d.peak_pressure,
                            start_time: d.start_time,
                            end_time: d.end_time,
                            pauses: d.pauses,
                            leak_pauses: d.leak_pauses,
                            overrides: d.overrides,
                            end_state: d.end_state,
                            end_reason: d.end_reason,
                        })
                        state = State.Completed
                        reason = Reason.CapReached
                    }
                }
                samples.push({ volume: vol, pressure, force: pressure * 2.865e-4, flow, motor_speed: flow / 6 })
            }
            const header = {
                seq: ++seq,
                time: batchT,
                cap,
                fill_fraction: body > 0 ? vol / body : NaN,
                cement_age: 60 + (batchT - devStart) / 1000,
                pauses,
                leaks,
                period: PERIOD,
                flags: 7,
                state,
                reason,
                level: id,
                pending: 0,
            }
            const batch = decodeTelemetry(encodeTelemetry(header as any, samples as any))
            const lastDev = batchT + (m - 1) * PERIOD
            const rx = t0 + (lastDev - devStart) + 4
            // events reach the host before the batch that holds their sample
            for (const e of events) yield e
            for (const l of maker.telemetry({ batch, rx })) yield JSON.stringify(l)
            n += m
        }
    }
    if (o.resend) {
        // a cable pulled for 2 s after the last level; on the reconnect the device sends its records again
        const devEnd = devStart + n * PERIOD
        const tLost = t0 + (devEnd - devStart) + 500
        yield JSON.stringify({ type: "gap", phase: "start", t_host: tLost, t_dev: null, reason: "no packet from the injector for 1500 ms" })
        yield JSON.stringify({ type: "gap", phase: "end", t_host: tLost + 2000, t_dev: null, gap_ms: 2000, device: "5e7e5e7e5e7e5e7e", reason: "injector" })
        for (const r of records) yield ev("level_record", JSON.parse(r), devEnd + 2600)
    }
}

function levelNameOf(id: number) {
    return describeEvent("level_record", { level: id }).level as string
}

/** A whole synthetic recording as text (small ones, for tests). */
export function synthText(o: SynthOptions, expected: SynthLevel[] = []) {
    let s = ""
    for (const l of synthLines(o, expected)) s += l + "\n"
    return s
}
