// A fake Cement Injector for host-tool tests: a jacdac-ts server of the
// service spec (services/cementinjector.md) that pushes telemetry batches and
// events in the firmware's wire format (src/server.ts, src/app.ts): batches of
// 5 samples every 100 ms while active (50 Hz), single samples at 5 Hz
// otherwise; events re-sent at +20/+100 ms with jacdac's event counter.
// It validates commands like the firmware for the cases the host shows
// (reject codes, FAULT-7 confirmation), but its physics is a toy: it exists
// so the host can be tested before the closed-loop simulator. Everything it
// emitted is kept (`emitted`) so tests compare the host's output with it.
//
// Why it remains (issue 9): send, calibrate, record/report and monitor are
// tested against the real firmware (host/test/firmware.ts). The fake stays
// only where the firmware in the VM cannot play the part, or not yet:
// - USB serial (monitor-serial.test.ts): the VM has no USB CDC; the fake
//   speaks JDUSB over a socat pseudo-terminal pair;
// - reconnect.test.ts: a device that vanishes from the bus and comes back
//   without restarting, a hub that drops every connection, two devices;
// - alarms.test.ts, dashboard.test.ts: an overpressure alarm, a fault or a
//   lost device on demand, at any moment (the firmware needs the physics to
//   get there); telemetry.test.ts: bus timing without the VM's load;
// - the MQTT bench (mqtt.test.ts).
// Its command rules are a copy and may drift from the firmware's: no test
// relies on them for what the device decides.
//
// Run alone:  npx tsx host/test/fake-injector.ts [--tcp 127.0.0.1:8082 | --serial /dev/pts/N]
//                 [--bench] [--scenario demo] [--loop]
import {
    ConnectionState,
    JDBus,
    JDServerServiceProvider,
    JDServiceServer,
    Packet,
    Transport,
    createNodeSocketTransport,
    jdunpack,
} from "jacdac-ts"
import { DEFAULT_SYRINGE, SYRINGES, geometricMlPerCount } from "../../src/core/geometry"
import { LEVELS } from "../../src/core/levels"
import { Op, Reason, Reject, State } from "../../src/core/types"
import {
    CEMENT_INJECTOR_CLASS,
    EventName,
    TELEMETRY_REPORT,
    TelemetryHeader,
    TelemetrySample,
    commands,
    encodeEvent,
    encodeTelemetry,
    f32,
    injectorSpec,
} from "../lib/spec"

export const ACTIVE_PERIOD_MS = 20
export const IDLE_PERIOD_MS = 200
export const BATCH = 5
const PLUNGER_AREA_M2 = Math.PI * 0.00955 * 0.00955
const FRICTION_N = 5

export interface FakeOptions {
    /** "host:port" of a hub */
    tcp?: string
    /** a ready transport (e.g. the serial peer) instead of tcp */
    transport?: Transport
    bench?: boolean
    minHoldMs?: number
    confirmTimeoutMs?: number
    deviceId?: string
    /** ms of device clock at start (a board that has been up a while) */
    clockStartMs?: number
    /** calibration flag bits held at start (bit 0 tare, 1 gain, 2 volume); default 7 */
    calFlags?: number
    /** ms a calibration_drive takes before CalDriveDone (default 300) */
    calDriveMs?: number
}

/** BOARD-3: geometric mL per encoder count of the default (20 mL) syringe, as the firmware. */
export const GEOMETRIC_ML_PER_COUNT = geometricMlPerCount(SYRINGES[DEFAULT_SYRINGE].boreMm)
const FLAGS_REGISTER = 0x18c

export interface EmittedSample extends TelemetryHeader, TelemetrySample {
    t_dev: number
    i: number
    online: boolean
}
export interface EmittedEvent {
    name: EventName
    fields: Record<string, number | null>
    /** device clock when emitted */
    t_dev: number
    /** host clock (same process) when handed to the bus, performance.now() */
    sentAt: number
    online: boolean
}

class FakeServer extends JDServiceServer {
    constructor(onCommand: (code: number, pkt: Packet) => void) {
        super(CEMENT_INJECTOR_CLASS)
        for (const c of commands()) this.addCommand(c.code, pkt => onCommand(c.code, pkt))
    }
}

/** Deterministic noise, so runs are repeatable. */
function rng(seed: number) {
    let s = seed >>> 0
    return () => {
        s = (s * 1664525 + 1013904223) >>> 0
        return s / 4294967296 - 0.5
    }
}

export class FakeInjector {
    readonly bus: JDBus
    readonly server: FakeServer
    readonly transport: Transport
    readonly emitted = { samples: [] as EmittedSample[], events: [] as EmittedEvent[] }
    /** commands received: [code, args] */
    readonly received: { code: number; args: number[] }[] = []
    // ---- device state
    state = State.Idle
    reason = Reason.None
    level = 255
    cap = 0
    flowSet = 3
    volume = 0
    pressure = 0
    force = 0
    flow = 0
    motor = 0
    mixedAtMs = -1
    pauses = 0
    leaks = 0
    overrides = 0
    peak = 0
    levelStartMs = -1
    pauseMs = 0
    bench: boolean
    pending: { op: number; a: number; b: number; at: number; seq: number } | null = null
    /** answers given per request id (a repeat is answered, not executed) */
    private answered = new Map<number, { op: number; outcome: number; reject: number }>()
    capWarned = false
    decompressUntil = 0
    // ---- options
    minHoldMs: number
    confirmTimeoutMs: number
    // ---- calibration (BOARD-3)
    calFlags: number
    calDriveMs: number
    calDriving = false
    private calTimer: any
    private flagsReg: any
    // ---- telemetry
    private seq = 0
    private nextSampleMs = 0
    private batch: TelemetrySample[] = []
    private batchT0 = 0
    private batchPeriod = IDLE_PERIOD_MS
    private lastPhysMs = 0
    private t0: number
    private clockStartMs: number
    private timer: any
    private noise = rng(42)
    private running = false

    constructor(opts: FakeOptions = {}) {
        injectorSpec()
        this.bench = !!opts.bench
        this.minHoldMs = opts.minHoldMs ?? 3000
        this.confirmTimeoutMs = opts.confirmTimeoutMs ?? 10000
        this.clockStartMs = opts.clockStartMs ?? 1000
        this.calFlags = opts.calFlags ?? 7
        this.calDriveMs = opts.calDriveMs ?? 300
        this.t0 = performance.now()
        if (opts.transport) this.transport = opts.transport
        else {
            const m = /^(?:(.+):)?(\d+)$/.exec(opts.tcp || "127.0.0.1:8082")
            this.transport = createNodeSocketTransport(+m![2], m![1] || "127.0.0.1")
        }
        this.bus = new JDBus([this.transport], { client: false, disableRoleManager: true })
        this.server = new FakeServer((code, pkt) => this.onCommand(code, pkt))
        this.flagsReg = this.server.addRegister(FLAGS_REGISTER, [this.flags()])
        this.bus.addServiceProvider(
            new JDServerServiceProvider("cement-injector-fake", [this.server], {
                deviceId: opts.deviceId,
            })
        )
    }

    /** Device clock, ms (like ds.millis()). */
    millis() {
        return Math.floor(performance.now() - this.t0) + this.clockStartMs
    }

    get online() {
        return this.transport.connectionState === ConnectionState.Connected
    }

    get deviceId() {
        return this.server.device?.deviceId
    }

    async start() {
        this.running = true
        this.bus.start()
        this.bus.backgroundRefreshRegisters = false
        this.transport.connect(true)
        this.nextSampleMs = this.millis()
        this.lastPhysMs = this.nextSampleMs
        this.timer = setInterval(() => this.tick(), 5)
        await this.waitOnline(5000)
        return this
    }

    async waitOnline(ms: number) {
        const end = performance.now() + ms
        while (!this.online && performance.now() < end) await sleep(20)
        return this.online
    }

    /** Drop the connection (a cable pulled); the device keeps running. */
    async goOffline() {
        await this.transport.disconnect()
    }

    async goOnline() {
        this.transport.connect(true)
        return this.waitOnline(5000)
    }

    async stop() {
        this.running = false
        clearInterval(this.timer)
        clearTimeout(this.calTimer)
        await Promise.race([this.bus.dispose(), sleep(1000)])
    }

    // ------------------------------------------------------------ local inputs

    /** The local confirm button (FAULT-7). */
    pressConfirm() {
        const p = this.pending
        if (!p) return Reject.NothingToConfirm
        this.pending = null
        const now = this.millis()
        if (now - p.at > this.confirmTimeoutMs) {
            this.event("info", { value: p.op, reason: Reason.ConfirmExpired })
            if (p.seq > 0) this.answer(p.seq, p.op, 3, Reject.Ok)
            return Reject.NothingToConfirm
        }
        const r = this.validate(p.op, p.a, p.b, true)
        if (r !== Reject.Ok) {
            if (p.seq > 0) this.answer(p.seq, p.op, 2, r)
            else this.event("rejected", { command: p.op & 0xff, reject: r })
            return r
        }
        this.exec(p.op, p.a, p.b)
        if (p.seq > 0) this.answer(p.seq, p.op, 0, Reject.Ok)
        return Reject.Ok
    }

    /** Leak pedal (LEAK-1). */
    leakPedal() {
        this.exec(Op.LeakSeen, NaN, NaN)
    }

    /** An over-pressure trip (PRS-2) as the firmware reports it. */
    overpressure() {
        if (this.state !== State.Injecting) return
        this.event("alarm", { reason: Reason.Overpressure, action: 2 })
        this.pause(Reason.Overpressure)
    }

    /** A fault (FAULT-1/2, FLOW-2) as the firmware reports it: alarm with action fault, then the transition. */
    fault(reason: Reason = Reason.Stall) {
        this.event("alarm", { reason, action: 5 })
        this.enter(State.Fault, reason)
    }

    /**
     * TEL-4 as the host expects it: after a reconnect the device sends its
     * stored level records again, as ordinary level_record events with the
     * same fields (the host dedupes by level + start time + end time).
     */
    replayRecords() {
        for (const r of this.records.slice()) this.event("level_record", r as Record<string, number>)
    }

    /** Operator actions that normally arrive as commands, applied locally. */
    local(op: Op, a = NaN, b = NaN) {
        const r = this.validate(op, a, b, true)
        if (r !== Reject.Ok) throw new Error(`fake: local ${Op[op]} rejected ${Reject[r]}`)
        this.exec(op, a, b)
    }

    // ------------------------------------------------------------ commands

    private onCommand(code: number, pkt: Packet) {
        const info = commands().find(c => c.code === code)
        // the first field is the request id (seq)
        const args: number[] = info?.packFormat ? jdunpack<number[]>(pkt.data, info.packFormat).slice(1) : []
        const seq: number = info?.packFormat ? jdunpack<number[]>(pkt.data, info.packFormat)[0] ?? 0 : 0
        this.received.push({ code, args })
        const prev = seq > 0 ? this.answered.get(seq) : undefined
        if (prev && prev.op === code) return this.answer(seq, code, prev.outcome, prev.reject)
        const a = args[0] ?? NaN
        const b = args[1] ?? NaN
        // set_threshold's wire order is (value, id); the core takes (id, value)
        const [ca, cb] = code === Op.SetThreshold ? [b, a] : [a, b]
        const r = this.validate(code, ca, cb, false)
        if (r !== Reject.Ok) {
            if (seq > 0) this.answer(seq, code, 2, r)
            else this.event("rejected", { command: code & 0xff, reject: r })
            return
        }
        if (this.needsConfirm(code, ca)) {
            this.pending = { op: code, a: ca, b: cb, at: this.millis(), seq }
            if (seq > 0) this.answer(seq, code, 1, Reject.Ok)
            else this.event("confirm_required", { command: code & 0xff })
            return
        }
        this.exec(code, ca, cb)
        if (seq > 0) this.answer(seq, code, 0, Reject.Ok)
    }

    /** command_result (outcome 0 executed, 1 pending, 2 rejected, 3 expired), remembered for repeats. */
    private answer(seq: number, op: number, outcome: number, reject: number) {
        this.answered.set(seq, { op, outcome, reject })
        // the answer leaves after the effect, as the firmware's does
        this.flagsReg.setValues([this.flags()])
        this.event("command_result", { seq, lo: NaN, hi: NaN, command: op & 0xff, outcome, reject, state: this.state })
    }

    private needsConfirm(op: number, a: number) {
        if (op === Op.ClearFault) return true
        if (op === Op.SetBenchMode) return a === 1
        if (this.bench) return false
        switch (op) {
            case Op.Start:
            case Op.Resume:
            case Op.OverrideLeakLimit:
            case Op.Tare:
            case Op.CalibrateGain:
            case Op.CalibrateVolume:
            case Op.SetThreshold:
            case Op.CalibrationDrive:
                return true
            case Op.SetCap:
                return a > LEVELS[this.level].capMl
            case Op.SetFlow:
                return this.state === State.Injecting && a > this.flowSet
            default:
                return false
        }
    }

    private validate(op: number, a: number, b: number, local: boolean): Reject {
        const s = this.state
        const setup = s === State.Idle || s === State.Ready || s === State.Completed || s === State.Aborted
        const fin = (v: number) => Number.isFinite(v)
        switch (op) {
            case Op.Pause:
            case Op.LeakSeen:
            case Op.Abort:
            case Op.Finish:
            case Op.Heartbeat:
            case Op.Disarm:
                return Reject.Ok
            case Op.Start:
                if (s !== State.Ready) return Reject.WrongState
                if (this.mixedAtMs < 0) return Reject.CementNotMixed
                return this.volume >= this.cap ? Reject.CapReached : Reject.Ok
            case Op.Resume:
                if (s !== State.Paused) return Reject.WrongState
                if (this.millis() - this.pauseMs < this.minHoldMs) return Reject.HoldNotElapsed
                return Reject.Ok
            case Op.Arm:
                if (s !== State.Idle) return Reject.WrongState
                if (this.level === 255) return Reject.UnknownLevel
                if (this.mixedAtMs < 0) return Reject.CementNotMixed
                return this.volume >= this.cap ? Reject.CapReached : Reject.Ok
            case Op.SetLevel:
                if (!Number.isInteger(a)) return Reject.BadNumber
                if (a < 0 || a >= LEVELS.length) return Reject.UnknownLevel
                return setup ? Reject.Ok : Reject.WrongState
            case Op.SetCap:
                if (!fin(a)) return Reject.BadNumber
                if (this.level === 255) return Reject.UnknownLevel
                if (a <= 0) return Reject.OutOfRange
                if (a > 10 || a > LEVELS[this.level].ceilingMl) return Reject.AboveCeiling
                if (a > this.cap && !setup && s !== State.Paused) return Reject.WrongState
                if (a > LEVELS[this.level].capMl && b !== 1) return Reject.OverrideRequired
                return Reject.Ok
            case Op.SetFlow:
                if (!fin(a)) return Reject.BadNumber
                if (a < 0.5 || a > 6) return Reject.OutOfRange
                return s === State.Fault ? Reject.WrongState : Reject.Ok
            case Op.SetSyringe:
                if (!Number.isInteger(a)) return Reject.BadNumber
                if (a < 0 || a > 3) return Reject.OutOfRange
                return s === State.Idle ? Reject.Ok : Reject.WrongState
            case Op.MarkMixing:
                if (!fin(a)) return Reject.BadNumber
                if (a < 0 || a > 100) return Reject.OutOfRange
                return s === State.Injecting ? Reject.WrongState : Reject.Ok
            case Op.ClearFault:
                return s === State.Fault ? Reject.Ok : Reject.WrongState
            case Op.SetBenchMode:
            case Op.SetRemoteMode:
                if (a !== 0 && a !== 1) return Reject.BadNumber
                if (op === Op.SetBenchMode && a === 1 && s !== State.Idle) return Reject.WrongState
                return Reject.Ok
            case Op.SetThreshold:
                if (!Number.isInteger(a) || !fin(b)) return Reject.BadNumber
                return a < 0 || a > 9 ? Reject.OutOfRange : Reject.Ok
            case Op.Tare:
                return s === State.Idle && !this.calDriving ? Reject.Ok : Reject.WrongState
            case Op.CalibrateGain:
                // like the firmware: range, then state, then tare first
                if (!fin(a)) return Reject.BadNumber
                if (s !== State.Idle || this.calDriving) return Reject.WrongState
                if (a < 0.05 || a > 100) return Reject.OutOfRange
                return this.calFlags & 1 ? Reject.Ok : Reject.NotCalibrated
            case Op.CalibrateVolume: {
                if (!Number.isInteger(a) || !fin(b)) return Reject.BadNumber
                if (s !== State.Idle) return Reject.WrongState
                if (a < 100 || a > 10000000 || b <= 0 || b > 100000) return Reject.OutOfRange
                // measured / geometric volume (20 mL syringe), as the firmware's volumeScaleFor
                const k = b / 1000 / (a * GEOMETRIC_ML_PER_COUNT)
                return k < 0.8 || k > 1.25 ? Reject.Implausible : Reject.Ok
            }
            case Op.CalibrationDrive:
                if (!Number.isInteger(a)) return Reject.BadNumber
                if (a < 100 || a > 50 * 1200) return Reject.OutOfRange
                return s === State.Idle && !this.calDriving && this.levelStartMs < 0 ? Reject.Ok : Reject.WrongState
            case Op.OverrideLeakLimit:
                return this.level === 255 ? Reject.WrongState : Reject.Ok
            case Op.ResendRecords:
                return Reject.Ok // TEL-4: reads only, as the firmware
            default:
                return Reject.UnknownCommand
        }
    }

    private exec(op: number, a: number, b: number) {
        const s = this.state
        const now = this.millis()
        switch (op) {
            case Op.ResendRecords:
                this.replayRecords()
                break
            case Op.Pause:
                if (s === State.Injecting) this.pause(Reason.OperatorPause)
                else if (this.calDriving) this.stopCalDrive(Reason.OperatorPause)
                break
            case Op.LeakSeen:
                if (s === State.Injecting) {
                    this.leaks++
                    this.event("alarm", { reason: Reason.LeakSeen, action: 2 })
                    this.pause(Reason.LeakSeen)
                }
                break
            case Op.Abort:
                if (s === State.Injecting || s === State.Paused || s === State.Ready)
                    this.endLevel(State.Aborted, Reason.OperatorAbort)
                else if (this.calDriving) this.stopCalDrive(Reason.OperatorAbort)
                break
            case Op.Finish:
                if (s === State.Injecting || s === State.Paused) this.endLevel(State.Completed, Reason.Finished)
                break
            case Op.Disarm:
                if (s === State.Ready) this.enter(State.Idle, Reason.Disarmed)
                break
            case Op.Arm:
                this.enter(State.Ready, Reason.Armed)
                break
            case Op.Start:
                if (this.levelStartMs < 0) this.levelStartMs = now
                this.enter(State.Injecting, Reason.Started)
                break
            case Op.Resume:
                this.enter(State.Injecting, Reason.Resumed)
                break
            case Op.SetLevel:
                if (this.levelStartMs >= 0 && (s === State.Injecting || s === State.Paused || s === State.Ready))
                    this.endLevel(State.Aborted, Reason.OperatorAbort)
                this.level = a
                this.cap = LEVELS[a].capMl
                this.volume = 0
                this.pauses = this.leaks = this.overrides = 0
                this.peak = 0
                this.levelStartMs = -1
                this.capWarned = false
                if (this.state !== State.Idle) this.enter(State.Idle, Reason.Disarmed)
                break
            case Op.SetCap:
                if (a > LEVELS[this.level].capMl) {
                    this.overrides++
                    this.event("info", { value: a, reason: Reason.CapOverride })
                }
                this.cap = a
                break
            case Op.SetFlow:
                this.flowSet = a
                break
            case Op.MarkMixing:
                this.mixedAtMs = now
                break
            case Op.SetBenchMode:
                this.bench = a === 1
                this.event("info", { value: a, reason: Reason.BenchMode })
                break
            case Op.SetThreshold:
                this.event("info", { value: a, reason: Reason.ThresholdChanged })
                break
            case Op.ClearFault:
                this.enter(State.Idle, Reason.FaultCleared)
                break
            case Op.OverrideLeakLimit:
                this.overrides++
                this.event("info", { value: this.leaks, reason: Reason.LeakLimitOverride })
                break
            case Op.Tare:
                this.calFlags |= 1
                break
            case Op.CalibrateGain:
                this.calFlags |= 2
                break
            case Op.CalibrateVolume:
                this.calFlags |= 4
                break
            case Op.CalibrationDrive:
                // the plunger advances `a` counts, then stops and says how far it went
                this.calDriving = true
                this.calTimer = setTimeout(() => {
                    this.calDriving = false
                    this.event("info", { value: a, reason: Reason.CalDriveDone })
                }, this.calDriveMs)
                break
        }
    }

    /** a calibration drive cut short: CalDriveStopped with the reason (as the firmware) */
    private stopCalDrive(reason: Reason) {
        clearTimeout(this.calTimer)
        this.calDriving = false
        this.event("info", { value: reason, reason: Reason.CalDriveStopped })
    }

    private pause(reason: Reason) {
        this.pauses++
        this.pauseMs = this.millis()
        this.decompressUntil = this.pauseMs + 150
        this.enter(State.Paused, reason)
        this.event("info", { value: 12.5, reason: Reason.Decompressed })
    }

    private enter(to: State, reason: Reason) {
        const from = this.state
        this.state = to
        this.reason = reason
        this.event("transition", { from, to, reason })
    }

    private endLevel(end: State, reason: Reason) {
        this.enter(end, reason)
        this.event("level_record", {
            cap: this.cap,
            volume: this.volume,
            fill_fraction: this.fillFraction(),
            peak_pressure: this.peak,
            start_time: Math.max(0, this.levelStartMs),
            end_time: this.millis(),
            level: this.level,
            end_state: end,
            end_reason: reason,
            pauses: this.pauses,
            leak_pauses: this.leaks,
            overrides: this.overrides,
        })
    }

    fillFraction() {
        const body = this.level === 255 ? 0 : LEVELS[this.level].bodyMl
        return body > 0 ? this.volume / body : NaN
    }

    /** Sends an event now; keeps what was sent (values as the wire carries them). */
    event(name: EventName, values: Record<string, number>) {
        const { code, data } = encodeEvent(name, values)
        const fields: Record<string, number | null> = {}
        for (const k of Object.keys(values)) {
            const f = injectorSpec().packets.find(p => p.name === name)!.fields.find(f => f.name === k)!
            fields[k] = f.type === "f32" ? f32(Math.fround(values[k])) : values[k]
        }
        this.emitted.events.push({ name, fields, t_dev: this.millis(), sentAt: performance.now(), online: this.online })
        this.server.sendEvent(code, data)
    }

    // ------------------------------------------------------------ physics and telemetry

    private active() {
        return this.state === State.Injecting || this.state === State.Paused || this.motor !== 0
    }

    private physics(t: number) {
        const dt = Math.max(0, t - this.lastPhysMs)
        this.lastPhysMs = t
        const noise = this.noise() * 2000 * Math.min(1, dt / 20)
        if (this.state === State.Injecting) {
            this.flow += (this.flowSet - this.flow) * Math.min(1, dt / 150)
            this.motor = this.flowSet / 6
            this.volume = Math.fround(this.volume + (this.flow / 60000) * dt)
            const target = 250e3 + 400e3 * this.volume + 300e3 * (this.flow / 6)
            this.pressure = Math.max(0, this.pressure + (target - this.pressure) * Math.min(1, dt / 200) + noise)
            this.force = this.pressure * PLUNGER_AREA_M2 + FRICTION_N
            if (this.levelStartMs >= 0 && Math.fround(this.pressure) > this.peak) this.peak = Math.fround(this.pressure)
            if (!this.capWarned && this.volume >= 0.8 * this.cap) {
                this.capWarned = true
                this.event("alarm", { reason: Reason.CapWarning, action: 1 })
            }
            if (this.volume >= this.cap) {
                this.volume = Math.fround(this.cap)
                this.event("alarm", { reason: Reason.CapReached, action: 3 })
                this.decompressUntil = t + 150
                this.endLevel(State.Completed, Reason.CapReached)
            }
        } else {
            this.flow *= Math.max(0, 1 - dt / 60)
            this.motor = t < this.decompressUntil ? -0.2 : 0
            // decompression and relaxation: pressure only falls once the plunger stops
            this.pressure = Math.max(0, this.pressure * Math.max(0, 1 - dt / 300) + Math.min(0, noise))
            this.force = this.pressure * PLUNGER_AREA_M2 + (this.motor !== 0 ? FRICTION_N : 0)
        }
    }

    private cementAge(t: number) {
        return this.mixedAtMs < 0 ? -1 : (t - this.mixedAtMs) / 1000
    }

    private tick() {
        if (!this.running) return
        const now = this.millis()
        if (this.pending && now - this.pending.at > this.confirmTimeoutMs) {
            const { op, seq } = this.pending
            this.pending = null
            this.event("info", { value: op, reason: Reason.ConfirmExpired })
            if (seq > 0) this.answer(seq, op, 3, Reject.Ok)
        }
        if (this.transport.connectionState === ConnectionState.Disconnected && this.autoReconnect)
            this.transport.connect(true)
        while (now >= this.nextSampleMs) {
            const t = this.nextSampleMs
            this.physics(t)
            const period = this.active() ? ACTIVE_PERIOD_MS : IDLE_PERIOD_MS
            if (this.batch.length && period !== this.batchPeriod) this.flush()
            if (this.batch.length === 0) {
                this.batchT0 = t
                this.batchPeriod = period
            }
            this.batch.push({
                volume: this.volume,
                pressure: this.pressure,
                force: this.force,
                flow: this.flow,
                motor_speed: this.motor,
            })
            if (this.batch.length >= (period === ACTIVE_PERIOD_MS ? BATCH : 1)) this.flush()
            this.nextSampleMs = t + period
        }
    }

    /** reconnect by itself when the hub drops it (true unless a test pulls the cable) */
    autoReconnect = true

    /** the `flags` register: calibration bits 0-2, bench mode bit 4 */
    flags() {
        return (this.calFlags & 7) | (this.bench ? 16 : 0)
    }

    private flush() {
        this.flagsReg?.setValues([this.flags()])
        if (!this.batch.length) return
        const t = this.batchT0 + (this.batch.length - 1) * this.batchPeriod
        const header: TelemetryHeader = {
            seq: ++this.seq,
            time: this.batchT0,
            cap: this.cap,
            fill_fraction: this.fillFraction(),
            cement_age: this.cementAge(t),
            pauses: this.pauses,
            leaks: this.leaks,
            period: this.batchPeriod,
            flags: this.flags(),
            state: this.state,
            reason: this.reason,
            level: this.level,
            pending: this.pending ? this.pending.op & 0xff : 0,
        }
        const data = encodeTelemetry(header, this.batch)
        const online = this.online
        const fh: any = {}
        for (const k of Object.keys(header)) {
            const v = (header as any)[k]
            fh[k] = ["cap", "fill_fraction", "cement_age"].includes(k) ? f32(Math.fround(v)) : v
        }
        this.batch.forEach((s, i) => {
            const fs: any = {}
            for (const k of Object.keys(s)) fs[k] = f32(Math.fround((s as any)[k]))
            this.emitted.samples.push({ ...fh, ...fs, t_dev: this.batchT0 + i * this.batchPeriod, i, online })
        })
        this.batch = []
        this.server.sendPacketAsync(Packet.from(TELEMETRY_REPORT, data))
    }

    // ------------------------------------------------------------ scripted procedures

    /**
     * A short procedure over three levels, driven as a local operator would
     * (bench mode, short caps and fast flow so it runs in seconds): C2 with a
     * leak pause, an over-pressure pause and a cap override, ending at its cap;
     * C3 finished by the operator; T12 aborted. Resolves when done.
     */
    async demoProcedure(opts: { speed?: number } = {}) {
        const k = opts.speed ?? 1
        const wait = (ms: number) => sleep(ms / k)
        const hold = this.minHoldMs
        this.minHoldMs = Math.min(hold, 300)
        try {
            this.local(Op.SetLevel, 1) // C2
            this.local(Op.SetBenchMode, 1)
            this.local(Op.MarkMixing, 10)
            this.local(Op.SetFlow, 6)
            this.local(Op.SetCap, 3.8, 1) // above the 3.5 mL preset: an override
            this.local(Op.SetCap, 0.3, 0)
            this.local(Op.Arm)
            await wait(300)
            this.local(Op.Start)
            await wait(900)
            this.leakPedal()
            await wait(600)
            this.local(Op.Resume)
            await wait(700)
            this.overpressure()
            await wait(500)
            this.local(Op.Resume)
            await this.until(() => this.state === State.Completed, 10000)
            await wait(400)
            this.local(Op.SetLevel, 2) // C3
            this.local(Op.SetCap, 0.25, 0)
            this.local(Op.Arm)
            this.local(Op.Start)
            await wait(1200)
            this.local(Op.Finish)
            await wait(400)
            this.local(Op.SetLevel, 18) // T12
            this.local(Op.SetCap, 0.5, 0)
            this.local(Op.Arm)
            this.local(Op.Start)
            await wait(800)
            this.local(Op.Pause)
            await wait(400)
            this.local(Op.Abort)
            await wait(500)
        } finally {
            this.minHoldMs = hold
        }
    }

    async until(cond: () => boolean, ms: number) {
        const end = performance.now() + ms
        while (!cond()) {
            if (performance.now() > end) throw new Error("fake: timed out waiting")
            await sleep(10)
        }
    }

    /** Level records as emitted. */
    get records() {
        return this.emitted.events.filter(e => e.name === "level_record").map(e => e.fields)
    }
}

export function sleep(ms: number) {
    return new Promise<void>(r => setTimeout(r, ms))
}

async function main() {
    const argv = process.argv.slice(2)
    const opt = (name: string) => {
        const i = argv.indexOf(name)
        return i >= 0 ? argv[i + 1] : undefined
    }
    console.debug = () => {}
    let transport: Transport | undefined
    const serial = opt("--serial")
    if (serial) {
        const { JdUsbDeviceTransport } = await import("./serial-peer")
        transport = new JdUsbDeviceTransport(serial)
    }
    const fake = new FakeInjector({ tcp: opt("--tcp") || "127.0.0.1:8082", transport, bench: argv.includes("--bench") })
    await fake.start()
    console.log(`fake injector ${fake.deviceId} on ${serial ? "serial " + serial : "tcp " + (opt("--tcp") || "127.0.0.1:8082")}`)
    const scenario = opt("--scenario")
    process.on("SIGINT", async () => {
        await fake.stop()
        process.exit(0)
    })
    process.on("SIGTERM", async () => {
        await fake.stop()
        process.exit(0)
    })
    // a test driving this process over stdin: "confirm", "leak", "overpressure"
    process.stdin.on("data", d => {
        for (const line of d.toString().split("\n")) {
            const cmd = line.trim()
            if (cmd === "confirm") console.log(`confirm -> ${Reject[fake.pressConfirm()]}`)
            else if (cmd === "leak") fake.leakPedal()
            else if (cmd === "overpressure") fake.overpressure()
        }
    })
    if (scenario === "demo") {
        do {
            await fake.demoProcedure()
            console.log(`demo done: ${fake.records.length} level records`)
        } while (argv.includes("--loop"))
    }
}

if (require.main === module) main()
