// The host's connection to one Cement Injector: a jacdac-ts bus over TCP (the
// simulator / devtools hub) or USB serial (a board), the injector found by its
// service class, its telemetry batches and events decoded, and reconnection
// when the transport or the device goes away (HOST-1).
import { EventEmitter } from "node:events"
import {
    CONNECTION_STATE,
    ConnectionState,
    DEVICE_ANNOUNCE,
    JDBus,
    JDDevice,
    JDService,
    PACKET_RECEIVE,
    Packet,
    Transport,
    createNodeSocketTransport,
    createNodeWebSerialTransport,
} from "jacdac-ts"
import {
    CEMENT_INJECTOR_CLASS,
    TELEMETRY_REPORT,
    TelemetryBatch,
    decodeEventFields,
    decodeTelemetry,
    describeEvent,
    injectorSpec,
} from "./spec"

export interface LinkOptions {
    /** "host:port" of a devtools / simulator hub */
    tcp?: string
    /** serial device path of a board, e.g. /dev/ttyACM0 */
    serial?: string
    /** only this device id (hex) */
    device?: string
    /** ms without a packet from the injector before it counts as lost */
    lostMs?: number
    /** print jacdac-ts debug output */
    verbose?: boolean
}

export interface LinkEvent {
    name: string
    /** readable fields (names of codes added) */
    data: Record<string, any>
    /** host receive time, ms since the epoch */
    rx: number
}

export interface LinkTelemetry {
    batch: TelemetryBatch
    rx: number
}

export type LinkStatus = "connecting" | "searching" | "connected" | "lost"

/** Resolves true once `src` reports "connected" (at once if it is), false after `ms`. */
export function waitForConnected(src: EventEmitter & { status: LinkStatus }, ms: number): Promise<boolean> {
    if (src.status === "connected") return Promise.resolve(true)
    return new Promise(resolve => {
        const t = setTimeout(() => {
            src.off("status", on)
            resolve(false)
        }, ms)
        const on = (s: LinkStatus) => {
            if (s === "connected") {
                clearTimeout(t)
                src.off("status", on)
                resolve(true)
            }
        }
        src.on("status", on)
    })
}

/** Host wall clock with sub-millisecond resolution, ms since the epoch. */
export function nowMs() {
    return performance.timeOrigin + performance.now()
}

export function parseTcp(text: string): { host: string; port: number } {
    const m = /^(?:([^:]+):)?(\d+)$/.exec(text.trim())
    if (!m) throw new Error(`--tcp expects host:port, got "${text}"`)
    const port = +m[2]
    if (port <= 0 || port > 65535) throw new Error(`--tcp port out of range: ${port}`)
    return { host: m[1] || "127.0.0.1", port }
}

/**
 * jacdac-ts's Node serial transport scans for Jacdac boards; a path given on
 * the command line is offered as the only port, with a Jacdac-style serial
 * number so the transport takes it (the board need not be enumerated by
 * udev: a pseudo-terminal works too).
 */
export function serialPortFor(path: string) {
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    const { SerialPort } = require("serialport")
    class OnePort extends SerialPort {
        constructor(opts: any, cb?: any) {
            super({ ...opts, path }, cb)
        }
        static async list() {
            return [
                {
                    path,
                    manufacturer: "injector",
                    serialNumber: "JD-" + path,
                    pnpId: path,
                    locationId: "",
                    vendorId: "0",
                    productId: "0",
                },
            ]
        }
    }
    return OnePort
}

export function describeTransport(o: LinkOptions) {
    if (o.serial) return `serial ${o.serial}`
    const { host, port } = parseTcp(o.tcp || "127.0.0.1:8082")
    return `tcp ${host}:${port}`
}

let debugSilenced = false
/** jacdac-ts logs a lot through console.debug; keep it for --verbose. */
export function quietJacdac(verbose?: boolean) {
    if (verbose || debugSilenced) return
    debugSilenced = true
    console.debug = () => {}
}

/**
 * Emits "status" (LinkStatus, detail), "telemetry" (LinkTelemetry),
 * "event" (LinkEvent), "device" (device id) and "error" never (problems
 * become status changes: a host tool must keep running).
 */
export class InjectorLink extends EventEmitter {
    readonly bus: JDBus
    readonly transport: Transport
    readonly description: string
    status: LinkStatus = "connecting"
    statusDetail = ""
    device: JDDevice | undefined
    lastPacketRx = 0
    /** counts for diagnostics */
    packets = 0
    batches = 0
    lostBatches = 0
    private lastSeq = -1
    private timer: any
    private stopped = false
    private lostMs: number

    constructor(readonly opts: LinkOptions = {}) {
        super()
        injectorSpec()
        quietJacdac(opts.verbose)
        this.lostMs = opts.lostMs ?? 1500
        this.description = describeTransport(opts)
        if (opts.serial) {
            this.transport = createNodeWebSerialTransport(serialPortFor(opts.serial))
        } else {
            const { host, port } = parseTcp(opts.tcp || "127.0.0.1:8082")
            this.transport = createNodeSocketTransport(port, host)
        }
        this.bus = new JDBus([this.transport], { client: false, disableRoleManager: true })
        this.bus.backgroundRefreshRegisters = false
        this.bus.on(DEVICE_ANNOUNCE, (d: JDDevice) => {
            this.consider(d)
            this.replayHeld(d)
        })
        this.bus.on(PACKET_RECEIVE, (p: Packet) => this.onPacket(p))
        this.bus.on(CONNECTION_STATE, () => this.onTransportState())
    }

    start() {
        this.bus.start()
        this.bus.backgroundRefreshRegisters = false
        this.transport.connect(true)
        this.timer = setInterval(() => this.tick(), 250)
        this.setStatus("connecting", this.description)
        return this
    }

    async stop() {
        this.stopped = true
        clearInterval(this.timer)
        try {
            await Promise.race([this.bus.dispose(), new Promise(r => setTimeout(r, 1000))])
        } catch {
            // closing anyway
        }
    }

    /** The injector's service (undefined while none is found). */
    get service(): JDService | undefined {
        return this.device?.services({ serviceClass: CEMENT_INJECTOR_CLASS })[0]
    }

    /** Resolves when an injector is connected, or false after `ms`. */
    waitConnected(ms: number): Promise<boolean> {
        return waitForConnected(this, ms)
    }

    /**
     * Puts one command packet on the bus. No Jacdac ACK is asked for:
     * DeviceScript servers never send one; the device answers each sequenced
     * command with a `command_result` event instead (lib/send.ts).
     */
    async sendCommand(code: number, data: Uint8Array) {
        const srv = this.service
        if (!srv) throw new Error("no Cement Injector connected")
        await srv.sendCmdAsync(code, data.length ? data : undefined, false)
    }

    private setStatus(s: LinkStatus, detail: string) {
        if (s === this.status && detail === this.statusDetail) return
        this.status = s
        this.statusDetail = detail
        this.emit("status", s, detail)
    }

    private onTransportState() {
        if (this.stopped) return
        const st = this.transport.connectionState
        if (st === ConnectionState.Connected) {
            if (this.status === "connecting") this.setStatus("searching", `connected to ${this.description}, looking for the injector`)
        } else if (st === ConnectionState.Disconnected) {
            if (this.status === "connected") this.lostDevice(`${this.description} closed`)
            else this.setStatus("connecting", `${this.description} not reachable, retrying`)
        }
    }

    private lastTick = 0

    private tick() {
        if (this.stopped) return
        const now = nowMs()
        // after a stall of this process, let queued packets in before blaming the device
        const stalled = this.lastTick > 0 && now - this.lastTick > 750
        this.lastTick = now
        const st = this.transport.connectionState
        if (st === ConnectionState.Disconnected) {
            // reconnect in the background; the socket transport never gives up on its own
            this.transport.connect(true)
        }
        if (this.status === "connected" && !stalled && now - this.lastPacketRx > this.lostMs)
            this.lostDevice(`no packet from the injector for ${this.lostMs} ms`)
        if (this.status !== "connected" && st === ConnectionState.Connected) {
            for (const d of this.bus.devices({ serviceClass: CEMENT_INJECTOR_CLASS })) this.consider(d)
        }
    }

    private lostDevice(why: string) {
        this.device = undefined
        this.lastSeq = -1
        this.setStatus("lost", why)
    }

    private consider(d: JDDevice) {
        if (this.stopped) return
        if (!d.hasService(CEMENT_INJECTOR_CLASS)) return
        if (this.opts.device && d.deviceId.toLowerCase() !== this.opts.device.toLowerCase() && d.shortId !== this.opts.device) return
        if (this.device && this.device !== d && this.status === "connected") return
        if (d.lastSeen !== undefined && this.bus.timestamp - d.lastSeen > this.lostMs) return
        const fresh = this.device !== d || this.status !== "connected"
        this.device = d
        this.lastPacketRx = nowMs()
        if (fresh) {
            this.emit("device", d.deviceId)
            this.setStatus("connected", `injector ${d.shortId} (${d.deviceId}) on ${this.description}`)
        }
    }

    /**
     * Packets from a device the bus does not know yet. After a drop longer
     * than jacdac-ts's 3 s device timeout the injector comes back as a new
     * device with no service list, and its packets cannot be read until its
     * next announce (up to 500 ms later): they are held, then replayed, so a
     * reconnect loses no telemetry (HOST-1).
     */
    private held = new Map<string, Packet[]>()
    static readonly HELD_MAX = 256

    private replayHeld(d: JDDevice) {
        const ps = this.held.get(d.deviceId)
        if (!ps) return
        this.held.delete(d.deviceId)
        for (const p of ps) this.onPacket(p)
    }

    private onPacket(p: Packet) {
        const d = p.device
        if (!d || p.isCommand) return
        if (!d.announced && p.serviceIndex > 0) {
            const ps = this.held.get(d.deviceId) ?? []
            if (ps.length < InjectorLink.HELD_MAX) ps.push(p)
            this.held.set(d.deviceId, ps)
            return
        }
        if (p.serviceClass !== CEMENT_INJECTOR_CLASS) {
            if (d === this.device) this.lastPacketRx = nowMs()
            return
        }
        if (this.opts.device && d.deviceId.toLowerCase() !== this.opts.device.toLowerCase() && d.shortId !== this.opts.device) return
        if (d !== this.device || this.status !== "connected") this.consider(d)
        if (d !== this.device) return
        const rx = nowMs()
        this.lastPacketRx = rx
        this.packets++
        if (p.isEvent) {
            if (p.isRepeatedEvent) return
            let dec: ReturnType<typeof decodeEventFields>
            try {
                dec = decodeEventFields(p.eventCode, p.data)
            } catch {
                dec = undefined // a payload that does not fit the spec: kept raw below
            }
            if (!dec) {
                // not in this host's spec (a newer firmware): kept as sent, not dropped
                const code = p.eventCode
                this.emit("event", { name: "unknown", data: { event: "unknown", code, payload: Buffer.from(p.data).toString("hex") }, rx } as LinkEvent)
                return
            }
            this.emit("event", { name: dec.name, data: describeEvent(dec.name, dec.fields), rx } as LinkEvent)
        } else if (p.isReport && p.serviceCommand === TELEMETRY_REPORT) {
            let batch: TelemetryBatch
            try {
                batch = decodeTelemetry(p.data)
            } catch {
                return
            }
            const seq = batch.header.seq
            if (seq === this.lastSeq) return // a duplicate frame
            if (this.lastSeq >= 0 && seq > this.lastSeq + 1) this.lostBatches += seq - this.lastSeq - 1
            this.lastSeq = seq
            this.batches++
            this.emit("telemetry", { batch, rx } as LinkTelemetry)
        }
    }
}
