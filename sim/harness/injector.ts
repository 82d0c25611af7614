// Host-side client of the firmware's Cement Injector service
// (services/cementinjector.md): sends commands (never with ACK: DeviceScript
// servers do not ACK; every sequenced command is answered by a
// `command_result` event, unsequenced ones by `rejected` / `confirm_required`),
// decodes the batched `telemetry` report and the events.
import { JDBus, JDDevice, JDService, jdpack, Packet, PACKET_PROCESS } from "jacdac-ts"
import { Op, Outcome, Reason, Reject, State } from "../../src/core/types"
import { decodeEventFields, decodeTelemetry as hostDecodeTelemetry } from "../../host/lib/spec"

export const SRV_CEMENT_INJECTOR = 0x1c7e1a55

const REP_TELEMETRY = 0xa0

/** Argument pack formats of the commands that take any (services.json). */
const ARG_FORMATS: Partial<Record<Op, string>> = {
    [Op.SetLevel]: "u8",
    [Op.SetCap]: "f32 u8",
    [Op.SetFlow]: "f32",
    [Op.SetSyringe]: "u8",
    [Op.MarkMixing]: "f32 f32", // cement mL, age at marking s (a firmware that takes one field ignores the second)
    [Op.CalibrateGain]: "f32",
    [Op.CalibrateVolume]: "i32 f32",
    [Op.SetRemoteMode]: "u8",
    [Op.SetBenchMode]: "u8",
    [Op.SetThreshold]: "f32 u8",
    [Op.SetIncrement]: "f32 u8",
    [Op.SyringeExchanged]: "f32",
    [Op.SetCustomSyringe]: "f32 f32",
}

export interface TelemetrySample {
    /** device clock, ms */
    tDevMs: number
    volumeMl: number
    pressurePa: number
    forceN: number
    flowMlPerMin: number
    motorSpeed: number
}

export interface Telemetry {
    /** host receive time, ms (performance.now) */
    tHostMs: number
    seq: number
    timeMs: number
    capMl: number
    fillFraction: number
    cementAgeS: number
    pauses: number
    leaks: number
    periodMs: number
    flags: number
    state: State
    reason: Reason
    level: number
    pending: number
    samples: TelemetrySample[]
}

export type InjectorEventType = "transition" | "alarm" | "rejected" | "confirmRequired" | "commandResult" | "info" | "levelRecord" | "increment"

export interface InjectorEvent {
    tHostMs: number
    type: InjectorEventType
    /** Reason code (transition, alarm, info, level record end reason) */
    reason: number
    from?: State
    to?: State
    /** alarm action 1 warn .. 5 fault */
    action?: number
    /** command code (rejected, confirmRequired, commandResult) */
    command?: number
    reject?: number
    value?: number
    /** commandResult: the request id it answers, what became of the command, the state after it */
    seq?: number
    outcome?: Outcome
    state?: State
    /** commandResult: the allowed range (out_of_range / above_ceiling) or the hold left, ms (hold_not_elapsed); NaN otherwise */
    lo?: number
    hi?: number
    /** increment (FLOW-4): its index within the level and the level's total, mL (`value` = its volume, mL) */
    index?: number
    totalMl?: number
    record?: {
        capMl: number
        volumeMl: number
        fillFraction: number
        peakPressurePa: number
        startMs: number
        endMs: number
        level: number
        endState: State
        endReason: number
        pauses: number
        leakPauses: number
        overrides: number
    }
}

export const stateName = (s: number) => State[s] ?? `state${s}`
export const reasonName = (r: number) => Reason[r] ?? `reason${r}`
export const rejectName = (r: number) => Reject[r] ?? `reject${r}`
export const outcomeName = (o: number) => (Outcome[o] ?? `outcome${o}`).toLowerCase()
export const opName = (op: number) => {
    const full = op < 0x80 ? op | 0x80 : op
    return Op[full] ?? `op0x${op.toString(16)}`
}

// The wire formats come from the generated spec (.devicescript/services.json)
// through the host tools' decoder, so the bench and the host read the
// service the same way; this maps them onto the bench's own shapes.
const num = (v: number | null | undefined) => (v === null || v === undefined ? NaN : v)

export function decodeTelemetry(data: Uint8Array, tHostMs: number): Telemetry {
    const { header: h, samples: rows } = hostDecodeTelemetry(data)
    const samples: TelemetrySample[] = rows.map((r, i) => ({
        tDevMs: h.time + i * h.period,
        volumeMl: num(r.volume),
        pressurePa: num(r.pressure),
        forceN: num(r.force),
        flowMlPerMin: num(r.flow),
        motorSpeed: num(r.motor_speed),
    }))
    return {
        tHostMs,
        seq: h.seq,
        timeMs: h.time,
        capMl: num(h.cap),
        fillFraction: num(h.fill_fraction),
        cementAgeS: num(h.cement_age),
        pauses: h.pauses,
        leaks: h.leaks,
        periodMs: h.period,
        flags: h.flags,
        state: h.state,
        reason: h.reason,
        level: h.level,
        pending: h.pending,
        samples,
    }
}

export function decodeEvent(code: number, data: Uint8Array, tHostMs: number): InjectorEvent | undefined {
    const d = decodeEventFields(code, data)
    if (!d) return undefined
    const f = d.fields as Record<string, number>
    switch (d.name) {
        case "transition":
            return { tHostMs, type: "transition", from: f.from, to: f.to, reason: f.reason }
        case "alarm":
            return { tHostMs, type: "alarm", reason: f.reason, action: f.action }
        case "rejected":
            return { tHostMs, type: "rejected", reason: 0, command: f.command | 0x80, reject: f.reject }
        case "confirm_required":
            return { tHostMs, type: "confirmRequired", reason: Reason.ConfirmRequired, command: f.command | 0x80 }
        case "command_result":
            return {
                tHostMs,
                type: "commandResult",
                reason: 0,
                seq: f.seq,
                command: f.command | 0x80,
                outcome: f.outcome,
                reject: f.reject,
                state: f.state,
                lo: num(f.lo),
                hi: num(f.hi),
            }
        case "info":
            return { tHostMs, type: "info", reason: f.reason, value: num(f.value) }
        case "increment":
            return { tHostMs, type: "increment", reason: Reason.IncrementDone, value: num(f.volume), index: f.index, totalMl: num(f.total) }
        case "level_record": {
            const record = {
                capMl: num(f.cap),
                volumeMl: num(f.volume),
                fillFraction: num(f.fill_fraction),
                peakPressurePa: num(f.peak_pressure),
                startMs: f.start_time,
                endMs: f.end_time,
                level: f.level,
                endState: f.end_state,
                endReason: f.end_reason,
                pauses: f.pauses,
                leakPauses: f.leak_pauses,
                overrides: f.overrides,
            }
            return { tHostMs, type: "levelRecord", reason: record.endReason, record }
        }
    }
    return undefined
}

/** Flags register bits (services/cementinjector.md). */
export const FLAG_TARE = 1
export const FLAG_GAIN = 2
export const FLAG_VOLUME = 4
export const FLAG_BENCH = 16
export const FLAG_REMOTE = 32
export const FLAG_ESTOP = 64

export class InjectorLink {
    /** device id of the injector server the link listens to and commands */
    deviceId: string | undefined
    latest: Telemetry | undefined
    telemetryCount = 0
    events: InjectorEvent[] = []
    onTelemetry: (t: Telemetry) => void = () => {}
    onEvent: (e: InjectorEvent) => void = () => {}
    /** when false, host commands are dropped (hostDisconnect fault) */
    connected = true
    sent: { tHostMs: number; op: Op; args: number[]; dropped: boolean; seq: number }[] = []

    constructor(readonly bus: JDBus) {
        // listen at bus level: jacdac-ts may re-create a device's service
        // objects when the device restarts, a bus listener survives that
        bus.on(PACKET_PROCESS, (pkt: Packet) => {
            if (this.deviceId && pkt.isReport && pkt.device?.deviceId === this.deviceId) this.handle(pkt)
        })
    }

    /** The injector service on a device (the newest one announcing it when several). */
    static find(bus: JDBus, exclude: Set<string> = new Set()): JDService | undefined {
        const devs = bus.devices({ serviceClass: SRV_CEMENT_INJECTOR }).filter((d: JDDevice) => !d.lost && !exclude.has(d.deviceId))
        const d = devs[devs.length - 1]
        return d?.services({ serviceClass: SRV_CEMENT_INJECTOR })[0]
    }

    get service(): JDService | undefined {
        if (!this.deviceId) return undefined
        const d = this.bus.device(this.deviceId, true)
        return d?.services({ serviceClass: SRV_CEMENT_INJECTOR })[0]
    }

    attach(service: JDService) {
        this.deviceId = service.device.deviceId
    }

    detach() {
        this.deviceId = undefined
    }

    private handle(pkt: Packet) {
        if (pkt.device?.serviceClassAt(pkt.serviceIndex) !== SRV_CEMENT_INJECTOR) return
        if (pkt.isRepeatedEvent) return
        const now = performance.now()
        if (pkt.isEvent) {
            const e = decodeEvent(pkt.eventCode, pkt.data, now)
            if (e) {
                this.events.push(e)
                this.onEvent(e)
            }
        } else if (pkt.serviceCommand === REP_TELEMETRY) {
            try {
                const t = decodeTelemetry(pkt.data, now)
                this.latest = t
                this.telemetryCount++
                this.onTelemetry(t)
            } catch {
                /* malformed report: ignore */
            }
        }
    }

    /** Send an unsequenced command (seq 0: answered only by rejected / confirm_required events). */
    send(op: Op, ...args: number[]): Promise<boolean> {
        return this.sendSeq(0, op, args)
    }

    /**
     * Send a command with request id `seq` (no ACK; a sequenced command is
     * answered by command_result, a repeat of the same seq is answered
     * again, never executed twice). Returns false when dropped (host
     * disconnected / no service).
     */
    async sendSeq(seq: number, op: Op, args: number[] = []): Promise<boolean> {
        const fmt = ARG_FORMATS[op]
        // the command's own fields, whatever a caller (an adversarial burst) offers:
        // extra values are not sent, missing ones are 0 (jdpack refuses a mismatch,
        // which silently cost 45 of 200 campaign runs their adversarial bursts)
        const n = fmt ? fmt.split(" ").length : 0
        const vals = args.slice(0, n)
        while (vals.length < n) vals.push(0)
        const srv = this.service
        const dropped = !this.connected || !srv
        this.sent.push({ tHostMs: performance.now(), op, args: vals, dropped, seq })
        if (dropped) return false
        // every command starts with the request id
        const data = jdpack(fmt ? `u32 ${fmt}` : "u32", [seq, ...vals])
        await srv!.sendPacketAsync(Packet.from(op, data), false)
        return true
    }

    state(): State | undefined {
        return this.latest?.state
    }

    /** Latest firmware volume, mL (last telemetry sample). */
    volumeMl(): number {
        const s = this.latest?.samples
        return s && s.length ? s[s.length - 1].volumeMl : NaN
    }

    /** Resolve when `pred` holds on an event or telemetry, or reject after timeoutMs. */
    waitFor<T>(what: string | (() => string), timeoutMs: number, pred: () => T | undefined | false): Promise<T> {
        return new Promise((resolve, reject) => {
            let timer: NodeJS.Timeout | undefined
            let to: NodeJS.Timeout | undefined
            const done = () => {
                if (timer) clearInterval(timer)
                if (to) clearTimeout(to)
            }
            const check = () => {
                try {
                    const v = pred()
                    if (v) {
                        done()
                        resolve(v)
                        return true
                    }
                } catch (e) {
                    done()
                    reject(e)
                    return true
                }
                return false
            }
            if (check()) return
            timer = setInterval(check, 10)
            to = setTimeout(() => {
                done()
                reject(new Error(`timeout (${timeoutMs} ms) waiting for ${typeof what === "string" ? what : what()}`))
            }, timeoutMs)
        })
    }

    /** Wait for an event matching pred that arrives after `sinceMs` (host clock). */
    waitEvent(what: string, timeoutMs: number, sinceMs: number, pred: (e: InjectorEvent) => boolean) {
        return this.waitFor(what, timeoutMs, () => this.events.find(e => e.tHostMs >= sinceMs && pred(e)))
    }
}
