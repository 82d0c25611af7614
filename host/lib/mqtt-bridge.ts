// `injector bridge --mqtt url` (HOST-5): every Cement Injector on the bus,
// published to an MQTT broker. Each injector gets its own InjectorLink (the
// same finding, decoding and loss detection as record/monitor) and its own
// MQTT connection, whose last will marks that injector `offline` when the
// bridge dies. Samples and events go out at QoS 1 with consecutive sequence
// numbers per bridge session, so a subscriber can prove nothing was lost.
import { EventEmitter } from "node:events"
import mqtt, { MqttClient } from "mqtt"
import { ConnectionState, DEVICE_ANNOUNCE, JDBus, JDDevice, createNodeSocketTransport } from "jacdac-ts"
import { InjectorLink, LinkEvent, LinkOptions, LinkStatus, LinkTelemetry, nowMs, parseTcp, quietJacdac } from "./link"
import {
    EventMessage,
    MQTT_FORMAT,
    MQTT_FORMAT_VERSION,
    QUANTITIES,
    SamplesMessage,
    StatusMessage,
    TOPIC_ROOT,
    bridgeName,
    eventTopic,
    newSession,
    samplesTopic,
    statusTopic,
} from "./mqtt-topics"
import { CEMENT_INJECTOR_CLASS, injectorSpec } from "./spec"

export interface BridgeOptions {
    mqttUrl: string
    link: LinkOptions
    /** topic root (default "injector") */
    root?: string
    /** QoS of the samples stream (default 1: an archiver's persistent session keeps them) */
    samplesQos?: 0 | 1
    log?: (msg: string) => void
}

/** One injector on the bus and its MQTT connection. */
export class DeviceBridge extends EventEmitter {
    readonly session = newSession()
    client: MqttClient | undefined
    deviceId: string | undefined
    samplesSeq = 0
    eventsSeq = 0
    published = { samples: 0, batches: 0, events: 0 }
    private online = false

    constructor(readonly link: InjectorLink, readonly opts: BridgeOptions, deviceId?: string) {
        super()
        if (deviceId) this.connect(deviceId)
        link.on("device", (id: string) => {
            if (!this.client) this.connect(id)
        })
        link.on("status", (s: LinkStatus, detail: string) => this.onLinkStatus(s, detail))
        link.on("telemetry", (t: LinkTelemetry) => this.onTelemetry(t))
        link.on("event", (e: LinkEvent) => this.onEvent(e))
    }

    private get root() {
        return this.opts.root ?? TOPIC_ROOT
    }

    private status(status: "online" | "offline", detail: string, timed = true): StatusMessage {
        return {
            format: MQTT_FORMAT,
            version: MQTT_FORMAT_VERSION,
            status,
            device: this.deviceId!,
            session: this.session,
            ...(timed ? { t_host: nowMs() } : {}),
            bridge: bridgeName(),
            transport: this.link.description,
            detail,
            quantities: QUANTITIES,
        }
    }

    private connect(deviceId: string) {
        this.deviceId = deviceId
        const will = this.status("offline", "the bridge's connection to the broker was lost (last will)", false)
        this.client = mqtt.connect(this.opts.mqttUrl, {
            clientId: `injector-bridge-${deviceId}-${this.session}`,
            clean: true,
            keepalive: 10,
            reconnectPeriod: 1000,
            connectTimeout: 5000,
            will: { topic: statusTopic(deviceId, this.root), payload: Buffer.from(JSON.stringify(will)), qos: 1, retain: true },
        })
        this.client.on("connect", () => {
            this.opts.log?.(`${deviceId}: connected to ${this.opts.mqttUrl}`)
            // after a broker reconnect the will may have fired: say again where we are
            if (this.link.status === "connected") this.publishStatus("online", this.link.statusDetail)
        })
        this.client.on("error", e => this.opts.log?.(`${deviceId}: broker: ${e.message}`))
        this.client.on("offline", () => this.opts.log?.(`${deviceId}: broker ${this.opts.mqttUrl} not reachable, retrying`))
        if (this.link.status === "connected") this.publishStatus("online", this.link.statusDetail)
    }

    private publishStatus(s: "online" | "offline", detail: string) {
        if (!this.client || !this.deviceId) return
        this.online = s === "online"
        this.client.publish(statusTopic(this.deviceId, this.root), JSON.stringify(this.status(s, detail)), { qos: 1, retain: true })
    }

    private onLinkStatus(s: LinkStatus, detail: string) {
        this.opts.log?.(`${this.deviceId ?? "injector"}: ${s}: ${detail}`)
        if (s === "connected") this.publishStatus("online", detail)
        else if (this.online) this.publishStatus("offline", `injector lost by the bridge: ${detail}`)
    }

    private onTelemetry(t: LinkTelemetry) {
        if (!this.client || !this.deviceId) return
        const m: SamplesMessage = { session: this.session, seq: ++this.samplesSeq, rx: t.rx, header: t.batch.header, samples: t.batch.samples }
        this.published.batches++
        this.published.samples += t.batch.samples.length
        // mqtt.js keeps QoS 1 messages until the broker acknowledges them, across reconnects
        this.client.publish(samplesTopic(this.deviceId, this.root), JSON.stringify(m), { qos: this.opts.samplesQos ?? 1 })
    }

    private onEvent(e: LinkEvent) {
        if (!this.client || !this.deviceId) return
        const m: EventMessage = { session: this.session, seq: ++this.eventsSeq, rx: e.rx, name: e.name, data: e.data }
        this.published.events++
        this.client.publish(eventTopic(this.deviceId, e.name, this.root), JSON.stringify(m), { qos: 1 })
    }

    /** Marks the injector offline (a clean stop, not the will), waits for the broker's acks, closes. */
    async stop(reason: string) {
        const c = this.client
        if (c) {
            if (c.connected && this.deviceId) {
                await Promise.race([
                    c.publishAsync(statusTopic(this.deviceId, this.root), JSON.stringify(this.status("offline", reason)), { qos: 1, retain: true }),
                    new Promise(r => setTimeout(r, 2000)),
                ]).catch(() => {})
            }
            await Promise.race([c.endAsync(false), new Promise(r => setTimeout(r, 2000))]).catch(() => {})
        }
        await this.link.stop()
    }
}

/**
 * Finds every injector on the bus (TCP: one discovery bus, then one link per
 * device; serial: the board's one injector) and bridges each.
 */
export class Bridge {
    readonly devices = new Map<string, DeviceBridge>()
    private discovery: JDBus | undefined
    private timer: any
    private single: DeviceBridge | undefined

    constructor(readonly opts: BridgeOptions) {
        injectorSpec()
        quietJacdac(opts.link.verbose)
    }

    start() {
        const o = this.opts.link
        if (o.serial) {
            // one port, one link: the board's injector
            const link = new InjectorLink(o)
            this.single = new DeviceBridge(link, this.opts)
            link.on("device", (id: string) => this.devices.set(id, this.single!))
            link.start()
            return this
        }
        const { host, port } = parseTcp(o.tcp || "127.0.0.1:8082")
        const transport = createNodeSocketTransport(port, host)
        this.discovery = new JDBus([transport], { client: false, disableRoleManager: true })
        this.discovery.on(DEVICE_ANNOUNCE, (d: JDDevice) => this.consider(d))
        this.discovery.start()
        this.discovery.backgroundRefreshRegisters = false
        transport.connect(true)
        this.timer = setInterval(() => {
            if (transport.connectionState === ConnectionState.Disconnected) transport.connect(true)
            for (const d of this.discovery!.devices({ serviceClass: CEMENT_INJECTOR_CLASS })) this.consider(d)
        }, 500)
        return this
    }

    private consider(d: JDDevice) {
        if (!d.hasService(CEMENT_INJECTOR_CLASS)) return
        const id = d.deviceId
        if (this.devices.has(id)) return
        const o = this.opts.link
        if (o.device && id.toLowerCase() !== o.device.toLowerCase() && d.shortId !== o.device) return
        this.opts.log?.(`found injector ${d.shortId} (${id}): bridging to ${this.opts.mqttUrl} under ${this.opts.root ?? TOPIC_ROOT}/${id}/`)
        const link = new InjectorLink({ ...o, device: id })
        this.devices.set(id, new DeviceBridge(link, this.opts, id))
        link.start()
    }

    async stop(reason = "bridge stopped") {
        clearInterval(this.timer)
        const all = new Set(this.devices.values())
        if (this.single) all.add(this.single)
        await Promise.all([...all].map(b => b.stop(reason)))
        if (this.discovery) await Promise.race([this.discovery.dispose(), new Promise(r => setTimeout(r, 1000))]).catch(() => {})
    }
}
