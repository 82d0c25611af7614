// One injector's telemetry read from an MQTT broker instead of the bus, for
// `monitor --mqtt` and `dashboard --mqtt`: it emits what an InjectorLink
// emits ("status", "device", "telemetry", "event"), so the live views take
// either. A live view needs no persistent session: it starts from now.
import { EventEmitter } from "node:events"
import mqtt, { MqttClient } from "mqtt"
import { LinkStatus, waitForConnected } from "./link"
import { EventMessage, SamplesMessage, StatusMessage, TOPIC_ROOT, parseTopic } from "./mqtt-topics"

/** What the live views need from their source: an InjectorLink or an MqttSource. */
export interface TelemetrySource extends EventEmitter {
    readonly description: string
    status: LinkStatus
    statusDetail: string
    lostBatches: number
    start(): unknown
    stop(): Promise<void>
    waitConnected(ms: number): Promise<boolean>
}

export interface MqttSourceOptions {
    mqttUrl: string
    /** only this injector (device id or its start); default: the first one heard */
    device?: string
    root?: string
}

export class MqttSource extends EventEmitter implements TelemetrySource {
    readonly description: string
    status: LinkStatus = "connecting"
    statusDetail = ""
    lostBatches = 0
    deviceId: string | undefined
    client: MqttClient | undefined
    private session: string | undefined
    private lastSeq = 0
    private lastDeviceSeq = -1

    constructor(readonly opts: MqttSourceOptions) {
        super()
        this.description = `mqtt ${opts.mqttUrl}`
    }

    private setStatus(s: LinkStatus, detail: string) {
        if (s === this.status && detail === this.statusDetail) return
        this.status = s
        this.statusDetail = detail
        this.emit("status", s, detail)
    }

    start() {
        const root = this.opts.root ?? TOPIC_ROOT
        const dev = this.opts.device ? this.opts.device.toLowerCase() : "+"
        this.setStatus("connecting", this.description)
        this.client = mqtt.connect(this.opts.mqttUrl, { clean: true, reconnectPeriod: 1000, connectTimeout: 5000, keepalive: 10 })
        this.client.on("connect", () => {
            if (this.status === "connecting") this.setStatus("searching", `connected to ${this.description}, waiting for an injector`)
            this.client!.subscribe([`${root}/${dev}/status`, `${root}/${dev}/samples`, `${root}/${dev}/events/+`], { qos: 1 })
        })
        this.client.on("offline", () => {
            if (this.status === "connected") this.setStatus("lost", `${this.description} not reachable`)
            else this.setStatus("connecting", `${this.description} not reachable, retrying`)
        })
        this.client.on("error", () => {})
        this.client.on("message", (topic, payload) => {
            const t = parseTopic(topic, root)
            if (!t) return
            if (this.deviceId && t.deviceId !== this.deviceId) return
            let m: any
            try {
                m = JSON.parse(payload.toString("utf8"))
            } catch {
                return
            }
            if (t.kind === "status") return this.onStatus(t.deviceId, m as StatusMessage)
            if (!this.deviceId) this.choose(t.deviceId, "")
            if (t.kind === "samples") this.onSamples(m as SamplesMessage)
            else if (typeof m?.name === "string") this.emit("event", { name: m.name, data: (m as EventMessage).data, rx: m.rx })
        })
        return this
    }

    private choose(id: string, detail: string) {
        this.deviceId = id
        this.emit("device", id)
        this.setStatus("connected", `injector ${id} via ${this.description}${detail ? ` (${detail})` : ""}`)
    }

    private onStatus(id: string, m: StatusMessage) {
        if (m?.status === "online") {
            if (!this.deviceId) this.choose(id, m.detail)
            else this.setStatus("connected", `injector ${id} via ${this.description} (${m.detail})`)
        } else if (m?.status === "offline" && this.deviceId === id) {
            this.lastDeviceSeq = -1
            this.setStatus("lost", m.detail)
        }
    }

    private onSamples(m: SamplesMessage) {
        if (!m?.header || !Array.isArray(m.samples)) return
        if (this.status !== "connected") this.setStatus("connected", `injector ${this.deviceId} via ${this.description}`)
        if (m.session === this.session && m.seq <= this.lastSeq) return // delivered twice
        this.session = m.session
        this.lastSeq = m.seq
        const seq = m.header.seq
        if (this.lastDeviceSeq >= 0 && seq > this.lastDeviceSeq + 1) this.lostBatches += seq - this.lastDeviceSeq - 1
        this.lastDeviceSeq = seq
        this.emit("telemetry", { batch: { header: m.header, samples: m.samples }, rx: m.rx })
    }

    waitConnected(ms: number): Promise<boolean> {
        return waitForConnected(this, ms)
    }

    async stop() {
        if (this.client) await Promise.race([this.client.endAsync(true), new Promise(r => setTimeout(r, 1000))]).catch(() => {})
    }
}
