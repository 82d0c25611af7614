// Helpers for the MQTT tests and the benchmark: a subscriber that keeps every
// message, and checks of an archive against what a device really sent.
import mqtt, { MqttClient } from "mqtt"
import { readLines, sleep } from "./helpers"

export interface Received {
    topic: string
    payload: any
    retain: boolean
    /** receive time, ms since the epoch */
    at: number
}

export class Subscriber {
    readonly messages: Received[] = []
    client!: MqttClient

    static async start(url: string, topics: string[], opts: mqtt.IClientOptions = {}) {
        const s = new Subscriber()
        s.client = await mqtt.connectAsync(url, { reconnectPeriod: 500, ...opts })
        s.client.on("message", (topic, payload, packet) => {
            let p: any
            try {
                p = JSON.parse(payload.toString())
            } catch {
                p = payload.toString()
            }
            s.messages.push({ topic, payload: p, retain: !!packet.retain, at: performance.timeOrigin + performance.now() })
        })
        await s.client.subscribeAsync(topics, { qos: 1 })
        return s
    }

    on(topic: string) {
        return this.messages.filter(m => m.topic === topic)
    }

    /** Waits for a message on `topic` matching `pred` (among those after index `from`). */
    async waitFor(topic: string, pred: (m: Received) => boolean, ms = 15000, from = 0): Promise<Received> {
        const end = Date.now() + ms
        for (;;) {
            const m = this.messages.slice(from).find(m => m.topic === topic && pred(m))
            if (m) return m
            if (Date.now() > end) {
                const seen = this.messages.filter(m => m.topic === topic).map(m => JSON.stringify(m.payload).slice(0, 160))
                throw new Error(`no message on ${topic} as expected within ${ms} ms; seen:\n${seen.join("\n")}`)
            }
            await sleep(20)
        }
    }

    async stop() {
        await Promise.race([this.client.endAsync(true), sleep(1000)])
    }
}

export interface ArchiveCheck {
    /** samples the device emitted from the first archived one to the last */
    expected: number
    archived: number
    duplicates: number
    /** batches missing from the archive, by the device's batch sequence numbers */
    missingBatches: number[]
    /** batches the archive's gap lines report lost */
    reportedBatches: number[]
    lostMessages: number
    /** archived samples whose values differ from what was emitted */
    mismatched: number
    missingSampleTimes: number[]
}

/**
 * Compares an archived recording with the samples a device emitted
 * ({t_dev, seq, volume, pressure}): every emitted sample between the first
 * and the last archived one is archived once with the same values, or its
 * batch is in a reported lost_batches range.
 */
export function checkArchive(file: string, emitted: { t_dev: number; seq: number; volume: number | null; pressure: number | null }[]): ArchiveCheck {
    const lines = readLines(file)
    const samples = lines.filter(l => l.type === "sample")
    const byT = new Map<number, any>()
    let duplicates = 0
    for (const s of samples) {
        if (byT.has(s.t_dev)) duplicates++
        byT.set(s.t_dev, s)
    }
    const t0 = Math.min(...samples.map(s => s.t_dev))
    const t1 = Math.max(...samples.map(s => s.t_dev))
    const inWindow = emitted.filter(e => e.t_dev >= t0 && e.t_dev <= t1)
    const missing = new Set<number>()
    const missingT: number[] = []
    let mismatched = 0
    for (const e of inWindow) {
        const a = byT.get(e.t_dev)
        if (!a) {
            missing.add(e.seq)
            missingT.push(e.t_dev)
        } else if (a.volume !== e.volume || a.pressure !== e.pressure || a.seq !== e.seq) mismatched++
    }
    const reported: number[] = []
    for (const g of lines.filter(l => l.type === "gap" && l.phase === "lost_batches")) for (let s = g.seq_from; s <= g.seq_to; s++) reported.push(s)
    const lostMessages = lines.filter(l => l.type === "gap" && l.phase === "lost_messages").reduce((n, l) => n + l.missing, 0)
    return {
        expected: inWindow.length,
        archived: samples.length,
        duplicates,
        missingBatches: [...missing].sort((a, b) => a - b),
        reportedBatches: reported.sort((a, b) => a - b),
        lostMessages,
        mismatched,
        missingSampleTimes: missingT,
    }
}
