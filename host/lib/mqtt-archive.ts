// `injector archive --mqtt url -o dir/` (HOST-5): subscribes with a
// persistent MQTT session (QoS 1) and writes, per injector, the recorder's
// JSON Lines (dir/<deviceId>.jsonl) so `injector report` reads it unchanged.
// A restart of the archiver loses nothing: the broker keeps the session's
// messages while it is away, and a small state file per device
// (dir/<deviceId>.state.json: last bridge session and sequence numbers,
// written right after the lines of each message and before its ack) drops
// messages delivered twice and reports any gap exactly:
//   - lost_messages: sequence numbers of one bridge session skipped (the
//     broker dropped messages, e.g. its queue limit was reached)
//   - lost_batches: device telemetry batches nobody bridged (the bridge was
//     down or the bus lost them), by the device's own batch sequence numbers
import { closeSync, existsSync, fstatSync, mkdirSync, openSync, readFileSync, readSync, renameSync, writeFileSync } from "node:fs"
import { hostname } from "node:os"
import { join } from "node:path"
import mqtt, { MqttClient } from "mqtt"
import { nowMs } from "./link"
import { EventMessage, SamplesMessage, StatusMessage, TOPIC_ROOT, parseTopic } from "./mqtt-topics"
import { JsonlWriter, Line, LineMaker } from "./recorder"

export interface ArchiveOptions {
    mqttUrl: string
    dir: string
    /** the persistent session's client id: keep it across restarts (default injector-archive-<host>) */
    clientId?: string
    root?: string
    log?: (msg: string) => void
}

interface DeviceState {
    session: string | null
    samplesSeq: number
    eventsSeq: number
    /** device telemetry batch sequence and device time of its last sample */
    deviceSeq: number
    deviceTimeMs: number
    online: boolean
    lastRx: number | null
    gapStart: number | null
}

export interface DeviceSummary {
    samples: number
    batches: number
    events: number
    gaps: number
    lostBatches: number
    lostMessages: number
    duplicates: number
}

function us(t: number) {
    return Math.round(t * 1000) / 1000
}

const isDeviceId = (id: string) => /^[0-9a-zA-Z_-]{1,64}$/.test(id)

/** The device batch sequence number and time of the last sample line in an archive file (its last 256 KB). */
function lastSampleLine(path: string): { seq: number; tDev: number } | null {
    if (!existsSync(path)) return null
    let fd = -1
    try {
        fd = openSync(path, "r")
        const size = fstatSync(fd).size
        const len = Math.min(size, 256 * 1024)
        const buf = Buffer.alloc(len)
        readSync(fd, buf, 0, len, size - len)
        const lines = buf.toString("utf8").split("\n")
        for (let i = lines.length - 1; i >= 0; i--) {
            if (!lines[i].startsWith('{"type":"sample"')) continue
            try {
                const l = JSON.parse(lines[i])
                if (Number.isInteger(l.seq) && typeof l.t_dev === "number") return { seq: l.seq, tDev: l.t_dev }
            } catch {
                // a torn last line: look further back
            }
        }
    } catch {
        // unreadable: no recovery, the state file decides
    } finally {
        if (fd >= 0) closeSync(fd)
    }
    return null
}

/** One injector's recording in the archive. */
export class DeviceArchive {
    readonly maker = new LineMaker()
    readonly path: string
    readonly statePath: string
    readonly jsonl: JsonlWriter
    state: DeviceState
    summary: DeviceSummary = { samples: 0, batches: 0, events: 0, gaps: 0, lostBatches: 0, lostMessages: 0, duplicates: 0 }
    /** no batch seen yet by this process: the state file, not the line maker, knows the last one */
    private fresh = true
    /**
     * The last sample line already in the file when this process started. A
     * batch written just before a SIGKILL, whose state was not yet saved, is
     * redelivered by the broker: it is recognised by its sequence number and
     * last sample time, and not written twice.
     */
    private fileLast: { seq: number; tDev: number } | null = null

    constructor(readonly dir: string, readonly deviceId: string, readonly url: string) {
        this.path = join(dir, `${deviceId}.jsonl`)
        this.statePath = join(dir, `${deviceId}.state.json`)
        this.state = { session: null, samplesSeq: 0, eventsSeq: 0, deviceSeq: -1, deviceTimeMs: -1, online: false, lastRx: null, gapStart: null }
        if (existsSync(this.statePath)) {
            try {
                this.state = { ...this.state, ...JSON.parse(readFileSync(this.statePath, "utf8")) }
            } catch {
                // a torn state file: start over; duplicates are then possible, losses are not
            }
        }
        this.fileLast = lastSampleLine(this.path)
        this.jsonl = new JsonlWriter(this.path, "a")
        this.put(this.maker.meta({ phase: "start", transport: `mqtt ${url}`, tool: "injector archive", argv: process.argv.slice(2) }))
        this.put(this.maker.meta({ phase: "device", device: deviceId }))
    }

    private put(l: Line) {
        this.jsonl.write(l)
        if (l.type === "gap") this.summary.gaps++
    }

    private save() {
        const tmp = this.statePath + ".tmp"
        writeFileSync(tmp, JSON.stringify(this.state))
        renameSync(tmp, this.statePath)
    }

    /** Checks a message's place in its stream; false for one already written. */
    private sequence(stream: "samples" | "events", session: string, seq: number, rx: number): boolean {
        const st = this.state
        const last = stream === "samples" ? st.samplesSeq : st.eventsSeq
        if (session === st.session) {
            if (seq <= last) {
                this.summary.duplicates++
                return false
            }
            if (seq > last + 1) this.lostMessages(stream, session, last + 1, seq - 1, rx)
        } else if (st.session !== null && seq > 1) {
            // a new bridge session whose first messages never arrived
            this.lostMessages(stream, session, 1, seq - 1, rx)
        }
        return true
    }

    private lostMessages(stream: string, session: string, from: number, to: number, rx: number) {
        const missing = to - from + 1
        this.summary.lostMessages += missing
        this.put({
            type: "gap",
            phase: "lost_messages",
            t_host: us(rx),
            t_dev: null,
            stream,
            session,
            missing,
            seq_from: from,
            seq_to: to,
            reason: `MQTT ${stream} messages missing (bridge sequence numbers skipped)`,
        })
    }

    /** A new bridge session starts both streams again from 1. */
    private enterSession(session: string) {
        if (session === this.state.session) return
        this.state.session = session
        this.state.samplesSeq = 0
        this.state.eventsSeq = 0
    }

    samples(m: SamplesMessage) {
        if (!this.sequence("samples", m.session, m.seq, m.rx)) return
        this.enterSession(m.session)
        const st = this.state
        const h = m.header
        const lastTDev = h.time + (m.samples.length - 1) * h.period
        const fl = this.fileLast
        if (this.fresh && fl && fl.seq > st.deviceSeq && h.seq === fl.seq && lastTDev === fl.tDev) {
            // archived before a kill that came before its state was saved
            this.summary.duplicates++
            this.fileLast = null
            st.samplesSeq = m.seq
            st.deviceSeq = h.seq
            st.deviceTimeMs = lastTDev
            st.lastRx = m.rx
            this.save()
            return
        }
        if (this.fresh && st.deviceSeq >= 0) {
            // the line maker starts empty in this process: compare with the last batch archived before
            if (h.time < st.deviceTimeMs - 1000)
                this.put({ type: "gap", phase: "device_restart", t_host: us(m.rx), t_dev: h.time, reason: "device clock went back: the injector restarted" })
            else if (h.seq > st.deviceSeq + 1) {
                this.summary.lostBatches += h.seq - st.deviceSeq - 1
                this.put({
                    type: "gap",
                    phase: "lost_batches",
                    t_host: us(m.rx),
                    t_dev: h.time,
                    missing: h.seq - st.deviceSeq - 1,
                    seq_from: st.deviceSeq + 1,
                    seq_to: h.seq - 1,
                    reason: "telemetry batches missing (sequence numbers skipped)",
                })
            }
        }
        this.fresh = false
        for (const l of this.maker.telemetry({ batch: { header: h, samples: m.samples }, rx: m.rx })) {
            if (l.type === "sample") this.summary.samples++
            else if (l.phase === "lost_batches") this.summary.lostBatches += l.missing
            this.put(l)
        }
        this.summary.batches++
        st.samplesSeq = m.seq
        st.deviceSeq = h.seq
        st.deviceTimeMs = h.time + (m.samples.length - 1) * h.period
        st.lastRx = m.rx
        this.save()
    }

    event(m: EventMessage) {
        if (!this.sequence("events", m.session, m.seq, m.rx)) return
        this.enterSession(m.session)
        this.put(this.maker.event({ name: m.name, data: m.data, rx: m.rx }))
        this.summary.events++
        this.state.eventsSeq = m.seq
        this.state.lastRx = m.rx
        this.save()
    }

    status(m: StatusMessage) {
        const st = this.state
        if (m.status === "offline" && st.online) {
            // the gap starts at the last data archived (a will carries no time)
            const t = m.t_host ?? st.lastRx ?? nowMs()
            st.online = false
            st.gapStart = t
            this.put({ type: "gap", phase: "start", t_host: us(t), t_dev: null, reason: m.detail })
        } else if (m.status === "online" && !st.online) {
            const t = m.t_host ?? nowMs()
            if (st.gapStart !== null) {
                this.put({ type: "gap", phase: "end", t_host: us(t), t_dev: null, gap_ms: Math.round(t - st.gapStart), device: this.deviceId, reason: m.detail })
                st.gapStart = null
            }
            st.online = true
        } else return
        this.save()
    }

    close(reason: string) {
        this.put(this.maker.meta({ phase: "end", reason, samples: this.summary.samples, events: this.summary.events }))
        this.jsonl.close()
    }
}

export class Archiver {
    readonly devices = new Map<string, DeviceArchive>()
    client: MqttClient | undefined
    /** messages that were not ours or not readable, with why */
    skipped = 0
    private connected!: () => void
    readonly ready = new Promise<void>(r => (this.connected = r))

    constructor(readonly opts: ArchiveOptions) {
        mkdirSync(opts.dir, { recursive: true })
    }

    get clientId() {
        return this.opts.clientId ?? `injector-archive-${hostname()}`
    }

    start() {
        const root = this.opts.root ?? TOPIC_ROOT
        this.client = mqtt.connect(this.opts.mqttUrl, {
            clientId: this.clientId,
            // a persistent session: the broker queues QoS 1 messages while the archiver is away
            clean: false,
            keepalive: 10,
            reconnectPeriod: 1000,
            connectTimeout: 5000,
        })
        this.client.on("connect", ack => {
            this.opts.log?.(`connected to ${this.opts.mqttUrl} as ${this.clientId} (${ack.sessionPresent ? "session resumed" : "new session"})`)
            this.client!.subscribe([`${root}/+/status`, `${root}/+/samples`, `${root}/+/events/+`], { qos: 1 }, err => {
                if (err) this.opts.log?.(`subscribe failed: ${err.message}`)
                else this.connected()
            })
        })
        this.client.on("offline", () => this.opts.log?.(`broker ${this.opts.mqttUrl} not reachable, retrying`))
        this.client.on("error", e => this.opts.log?.(`broker: ${e.message}`))
        // synchronous: the lines are written before mqtt.js acknowledges the message
        this.client.on("message", (topic, payload) => this.onMessage(topic, payload, root))
        return this
    }

    private device(id: string) {
        let d = this.devices.get(id)
        if (!d) {
            d = new DeviceArchive(this.opts.dir, id, this.opts.mqttUrl)
            this.devices.set(id, d)
            this.opts.log?.(`archiving ${id} to ${d.path}`)
        }
        return d
    }

    private stopped = false

    private onMessage(topic: string, payload: Buffer, root: string) {
        if (this.stopped) return
        const t = parseTopic(topic, root)
        if (!t || !isDeviceId(t.deviceId)) {
            this.skipped++
            return
        }
        let m: any
        try {
            m = JSON.parse(payload.toString("utf8"))
        } catch {
            this.skipped++
            this.opts.log?.(`${topic}: not JSON, skipped`)
            return
        }
        if (t.kind === "status") {
            if (m?.status !== "online" && m?.status !== "offline") return void this.skipped++
            this.device(t.deviceId).status(m)
        } else if (typeof m?.session !== "string" || !Number.isInteger(m?.seq) || typeof m?.rx !== "number") {
            this.skipped++
            this.opts.log?.(`${topic}: no session / seq / rx, skipped`)
        } else if (t.kind === "samples") {
            if (!m.header || !Array.isArray(m.samples)) return void this.skipped++
            this.device(t.deviceId).samples(m)
        } else {
            if (typeof m.name !== "string" || typeof m.data !== "object") return void this.skipped++
            this.device(t.deviceId).event(m)
        }
    }

    /** Closes the files and the connection; the broker keeps the session for the next start. */
    async stop(reason: string) {
        const c = this.client
        // forced: the socket closes now; a message not yet acknowledged comes again next session
        if (c) await Promise.race([c.endAsync(true), new Promise(r => setTimeout(r, 2000))]).catch(() => {})
        this.stopped = true
        for (const d of this.devices.values()) d.close(reason)
    }
}
