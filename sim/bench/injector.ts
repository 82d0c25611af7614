// Host-side client of the firmware's Cement Injector service
// (services/cementinjector.md): sends commands (never with ACK: DeviceScript
// servers do not ACK; outcomes come back as events and telemetry), decodes
// the batched `telemetry` report and the events.
import { JDBus, JDDevice, JDService, jdpack, jdunpack, Packet, PACKET_PROCESS } from "jacdac-ts"
import { Op, Reason, Reject, State } from "../../src/core/types"

export const SRV_CEMENT_INJECTOR = 0x1c7e1a55

const EV_TRANSITION = 0x81
const EV_ALARM = 0x82
const EV_REJECTED = 0x83
const EV_CONFIRM = 0x84
const EV_INFO = 0x85
const EV_RECORD = 0x86
const REP_TELEMETRY = 0xa0

/** Argument pack formats of the commands that take any (services.json). */
const ARG_FORMATS: Partial<Record<Op, string>> = {
    [Op.SetLevel]: "u8",
    [Op.SetCap]: "f32 u8",
    [Op.SetFlow]: "f32",
    [Op.SetSyringe]: "u8",
    [Op.MarkMixing]: "f32",
    [Op.CalibrateGain]: "f32",
    [Op.CalibrateVolume]: "i32 f32",
    [Op.SetRemoteMode]: "u8",
    [Op.SetBenchMode]: "u8",
    [Op.SetThreshold]: "f32 u8",
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

export type InjectorEventType = "transition" | "alarm" | "rejected" | "confirmRequired" | "info" | "levelRecord"

export interface InjectorEvent {
    tHostMs: number
    type: InjectorEventType
    /** Reason code (transition, alarm, info, level record end reason) */
    reason: number
    from?: State
    to?: State
    /** alarm action 1 warn .. 5 fault */
    action?: number
    /** command code (rejected, confirmRequired) */
    command?: number
    reject?: number
    value?: number
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
export const opName = (op: number) => {
    const full = op < 0x80 ? op | 0x80 : op
    return Op[full] ?? `op0x${op.toString(16)}`
}

export function decodeTelemetry(data: Uint8Array, tHostMs: number): Telemetry {
    const [seq, timeMs, capMl, fillFraction, cementAgeS, pauses, leaks, periodMs, flags, state, reason, level, pending, rep] =
        jdunpack<any[]>(data, "u32 u32 f32 f32 f32 u16 u16 u16 u16 u8 u8 u8 u8 r: f32 f32 f32 f32 f32")
    const samples: TelemetrySample[] = (rep as number[][]).map((r, i) => ({
        tDevMs: timeMs + i * periodMs,
        volumeMl: r[0],
        pressurePa: r[1],
        forceN: r[2],
        flowMlPerMin: r[3],
        motorSpeed: r[4],
    }))
    return { tHostMs, seq, timeMs, capMl, fillFraction, cementAgeS, pauses, leaks, periodMs, flags, state, reason, level, pending, samples }
}

export function decodeEvent(code: number, data: Uint8Array, tHostMs: number): InjectorEvent | undefined {
    switch (code) {
        case EV_TRANSITION: {
            const [from, to, reason] = jdunpack<number[]>(data, "u8 u8 u8")
            return { tHostMs, type: "transition", from, to, reason }
        }
        case EV_ALARM: {
            const [reason, action] = jdunpack<number[]>(data, "u8 u8")
            return { tHostMs, type: "alarm", reason, action }
        }
        case EV_REJECTED: {
            const [command, reject] = jdunpack<number[]>(data, "u8 u8")
            return { tHostMs, type: "rejected", reason: 0, command: command | 0x80, reject }
        }
        case EV_CONFIRM: {
            const [command] = jdunpack<number[]>(data, "u8")
            return { tHostMs, type: "confirmRequired", reason: Reason.ConfirmRequired, command: command | 0x80 }
        }
        case EV_INFO: {
            const [value, reason] = jdunpack<number[]>(data, "f32 u8")
            return { tHostMs, type: "info", reason, value }
        }
        case EV_RECORD: {
            const v = jdunpack<number[]>(data, "f32 f32 f32 f32 u32 u32 u8 u8 u8 u8 u8 u8")
            const record = {
                capMl: v[0],
                volumeMl: v[1],
                fillFraction: v[2],
                peakPressurePa: v[3],
                startMs: v[4],
                endMs: v[5],
                level: v[6],
                endState: v[7],
                endReason: v[8],
                pauses: v[9],
                leakPauses: v[10],
                overrides: v[11],
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
    sent: { tHostMs: number; op: Op; args: number[]; dropped: boolean }[] = []

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

    /** Send a command (no ACK). Returns false when dropped (host disconnected / no service). */
    async send(op: Op, ...args: number[]): Promise<boolean> {
        const fmt = ARG_FORMATS[op]
        const srv = this.service
        const dropped = !this.connected || !srv
        this.sent.push({ tHostMs: performance.now(), op, args, dropped })
        if (dropped) return false
        const data = fmt ? jdpack(fmt, args) : new Uint8Array(0)
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
