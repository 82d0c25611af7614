// The MQTT side of the host tools (HOST-5): topic names, message payloads and
// the names of the published quantities. One place, so the bridge, the
// archiver, `monitor --mqtt`, the Python module and docs/host.md agree.
//
//   injector/<deviceId>/status           retained, QoS 1: online / offline (the bridge's last will)
//   injector/<deviceId>/samples          QoS 1: one telemetry batch per message, numbered
//   injector/<deviceId>/events/<name>    QoS 1: every event the service spec knows, numbered
//                                        (level records: events/level_record)
import { hostname } from "node:os"
import type { TelemetryBatch } from "./spec"

export const TOPIC_ROOT = "injector"
export const MQTT_FORMAT = "injector-mqtt"
export const MQTT_FORMAT_VERSION = 1

export function statusTopic(deviceId: string, root = TOPIC_ROOT) {
    return `${root}/${deviceId}/status`
}
export function samplesTopic(deviceId: string, root = TOPIC_ROOT) {
    return `${root}/${deviceId}/samples`
}
export function eventTopic(deviceId: string, name: string, root = TOPIC_ROOT) {
    return `${root}/${deviceId}/events/${name}`
}

export type TopicKind = "status" | "samples" | "event"

/** Which device and stream a topic belongs to, or undefined for a foreign topic. */
export function parseTopic(topic: string, root = TOPIC_ROOT): { deviceId: string; kind: TopicKind; event?: string } | undefined {
    const parts = topic.split("/")
    if (parts[0] !== root || parts.length < 3 || !parts[1]) return undefined
    if (parts.length === 3 && parts[2] === "status") return { deviceId: parts[1], kind: "status" }
    if (parts.length === 3 && parts[2] === "samples") return { deviceId: parts[1], kind: "samples" }
    if (parts.length === 4 && parts[2] === "events" && parts[3]) return { deviceId: parts[1], kind: "event", event: parts[3] }
    return undefined
}

/**
 * Published quantities and their ISO/IEEE 11073-10101 (MDC) reference ids
 * where the nomenclature has a term for them: the infusion-pump terms for
 * delivered volume and flow rate. Plunger / cement pressure has no MDC term
 * we could verify, so it carries a private name an SDC gateway maps to a
 * manufacturer-specific code. Numeric term codes are deliberately not given:
 * take them from the NIST RTMMS when the gateway is built.
 */
export const QUANTITIES = {
    volume: { unit: "mL", ucum: "mL", mdc: "MDC_VOL_FLUID_DELIV", what: "delivered cement volume of the current level (encoder high-water mark)" },
    flow: { unit: "mL/min", ucum: "mL/min", mdc: "MDC_FLOW_FLUID_PUMP", what: "cement flow rate" },
    pressure: { unit: "Pa", ucum: "Pa", mdc: null, private: "X_INJECTOR_PRESS_CEMENT", what: "cement pressure at the plunger (force / plunger area)" },
    force: { unit: "N", ucum: "N", mdc: null, private: "X_INJECTOR_FORCE_PLUNGER", what: "load-cell force on the plunger" },
    motor_speed: { unit: "1", ucum: "1", mdc: null, private: "X_INJECTOR_MOTOR_SPEED", what: "commanded drive speed, fraction of full speed" },
} as const

export interface StatusMessage {
    format: typeof MQTT_FORMAT
    version: number
    status: "online" | "offline"
    device: string
    /** bridge session: changes when the bridge restarts; `seq` counts within it */
    session: string
    /** bridge host time, ms since the epoch (absent in the last will, which is set at connect) */
    t_host?: number
    bridge: string
    transport?: string
    detail: string
    quantities?: typeof QUANTITIES
}

export interface SamplesMessage {
    session: string
    /** consecutive from 1 within a session, over the samples stream of this device */
    seq: number
    /** bridge host receive time of the batch, ms since the epoch */
    rx: number
    header: TelemetryBatch["header"]
    samples: TelemetryBatch["samples"]
}

export interface EventMessage {
    session: string
    /** consecutive from 1 within a session, over the events stream of this device */
    seq: number
    rx: number
    name: string
    /** the event's fields with readable names of its codes, as the recorder writes them */
    data: Record<string, any>
}

export function bridgeName() {
    return `${hostname()}:${process.pid}`
}

export function newSession() {
    return `${Date.now().toString(36)}-${Math.floor(Math.random() * 0xffffff).toString(16).padStart(6, "0")}`
}

/** Checks an mqtt://, mqtts://, ws:// or wss:// broker URL; returns why not, or "". */
export function mqttUrlProblem(url: string): string {
    let u: URL
    try {
        u = new URL(url)
    } catch {
        return `--mqtt expects a broker URL such as mqtt://127.0.0.1:1883, got "${url}"`
    }
    if (!["mqtt:", "mqtts:", "ws:", "wss:", "tcp:"].includes(u.protocol)) return `--mqtt: unsupported scheme ${u.protocol} (mqtt:, mqtts:, ws:, wss:)`
    if (!u.hostname) return `--mqtt: no host in "${url}"`
    return ""
}
