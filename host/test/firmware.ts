// The real firmware for host-tool tests: src/main.ts in the DeviceScript VM on
// the devtools hub (tcp 127.0.0.1:8082, ports 8081-8083: run the tests in a
// private network namespace, `unshare -n`), with the bench simulator's
// hardware (load cell, encoder, motor, buttons) and physics. States are
// reached through the public interface only: the simulator's own setup
// commands (unsequenced), the simulated buttons, the rig.
//
// Everything on the bus is watched: each command packet to the injector
// (code and request id) and each command_result the firmware sends, so a
// test counts what the CLI sent and what the device did. Every telemetry
// batch (by the firmware's own sequence number) and every event the firmware
// sent are kept too, so a recording can be checked against the source.
import "../../sim/harness/quiet" // first: filters jacdac-ts log noise
import { setPriority } from "node:os"
import { JDBus, Packet, PACKET_PROCESS, jdunpack } from "jacdac-ts"
import { ScenarioRunner } from "../../sim/harness/runner"
import { rigConfig, Scenario, validateScenario } from "../../sim/harness/scenario"
import { BenchSession } from "../../sim/harness/session"
import { Telemetry, InjectorEvent } from "../../sim/harness/injector"
import { Op, Reason, State } from "../../src/core/types"
import { CEMENT_INJECTOR_CLASS, TELEMETRY_REPORT, commands, decodeEventFields, decodeTelemetry, describeEvent, opName } from "../lib/spec"

export const FIRMWARE_TCP = "127.0.0.1:8082"

export interface SeenCommand {
    /** full command code (0x80 ...) and its spec name */
    code: number
    name: string
    /** request id (0 = unsequenced) */
    seq: number
    tMs: number
}

export interface SeenAnswer {
    seq: number
    command: string
    outcome: string
    reject: string
    state: string
    lo: number | null
    hi: number | null
    tMs: number
}

/** One telemetry batch as the firmware sent it (decoded by the spec). */
export interface SentBatch {
    seq: number
    header: Record<string, any>
    samples: Record<string, any>[]
    tMs: number
}

/** One event as the firmware sent it (each counted once, not its repeats). */
export interface SentEvent {
    name: string
    fields: Record<string, number | null>
    tMs: number
}

const sleep = (ms: number) => new Promise(r => setTimeout(r, ms))

/** A level ready to start: C2, 20 mL syringe, cement mixed, armed, local mode. */
export function baseScenario(o: Partial<Scenario> = {}): Scenario {
    return validateScenario({
        name: "host-test",
        durationS: 600,
        level: "C2",
        syringe: { preset: "20mL" },
        needle: { gauge: 14, lengthMm: 100 },
        cement: { mixedAtS: -240 },
        benchMode: false,
        flowMlPerMin: 3,
        actions: [],
        ...o,
    })
}

export class Firmware {
    session!: BenchSession
    runner!: ScenarioRunner
    readonly tcp = FIRMWARE_TCP
    /** command packets to the injector seen on the bus */
    commands: SeenCommand[] = []
    /** command_result events seen on the bus (one per answer, repeats of one event counted once) */
    answers: SeenAnswer[] = []
    /** every telemetry batch the firmware sent (kept across ready(): select a window by tMs) */
    batches: SentBatch[] = []
    /** every event the firmware sent (kept across ready(): select a window by tMs) */
    sentEvents: SentEvent[] = []
    private calibrated = false

    static async open(): Promise<Firmware> {
        const f = new Firmware()
        f.session = await BenchSession.open({ waitForPortsMs: 120000 })
        try {
            f.runner = new ScenarioRunner(f.session)
            f.watch(f.session.bus)
            await f.session.startFirmware()
            // the real-time parts (hub, firmware VM, this process with the
            // plant) before the CLI processes a test starts: on a loaded
            // machine a CLI's start-up must not starve the VM into a
            // stale-sensor fault. Needs privilege; without it nothing changes.
            for (const pid of [process.pid, f.session.hub.proc.pid, f.session.vm?.proc.pid])
                try {
                    if (pid) setPriority(pid, -10)
                } catch {
                    // not permitted: the normal priority
                }
        } catch (e) {
            await f.session.close()
            throw e
        }
        return f
    }

    get events(): InjectorEvent[] {
        return this.session.link.events
    }
    get latest(): Telemetry | undefined {
        return this.session.link.latest
    }
    get deviceId() {
        return this.session.link.deviceId!
    }
    get state(): State | undefined {
        return this.latest?.state
    }

    private watch(bus: JDBus) {
        const lastCounter = new Map<string, number>()
        bus.on(PACKET_PROCESS, (pkt: Packet) => {
            const id = this.session.link.deviceId
            if (!id || pkt.deviceIdentifier !== id) return
            if (pkt.device?.serviceClassAt(pkt.serviceIndex) !== CEMENT_INJECTOR_CLASS) return
            if (pkt.isCommand) {
                const info = commands().find(c => c.code === pkt.serviceCommand)
                if (!info) return
                const seq = pkt.data.length >= 4 ? jdunpack<[number]>(pkt.data, "u32")[0] : 0
                this.commands.push({ code: pkt.serviceCommand, name: info.name, seq, tMs: performance.now() })
            } else if (pkt.isEvent) {
                // the firmware sends each event three times with one counter
                const key = `${pkt.serviceIndex}`
                const counter = (pkt.serviceCommand >> 8) & 0x7f
                if (lastCounter.get(key) === counter) return
                lastCounter.set(key, counter)
                const d = decodeEventFields(pkt.eventCode, pkt.data)
                if (!d) return
                const tMs = performance.now()
                this.sentEvents.push({ name: d.name, fields: d.fields, tMs })
                if (pkt.eventCode !== 0x87) return
                const e = describeEvent(d.name, d.fields)
                this.answers.push({ seq: e.seq, command: e.command, outcome: e.outcome, reject: e.reject, state: e.state, lo: e.lo, hi: e.hi, tMs })
            } else if (pkt.isReport && pkt.serviceCommand === TELEMETRY_REPORT) {
                try {
                    const b = decodeTelemetry(pkt.data)
                    this.batches.push({ seq: b.header.seq, header: b.header, samples: b.samples, tMs: performance.now() })
                } catch {
                    // a malformed report is the recorder's problem to flag, not the fixture's
                }
            }
        })
    }

    /** Commands of one name seen since index `from` of `commands`. */
    sent(name: string, from = 0) {
        return this.commands.slice(from).filter(c => c.name === name)
    }

    /** Transitions (by reason name, e.g. "LeakSeen") since host time `sinceMs`. */
    transitions(sinceMs: number, reason?: Reason) {
        return this.events.filter(e => e.type === "transition" && e.tHostMs >= sinceMs && (reason === undefined || e.reason === reason))
    }

    /**
     * Brings the firmware to a fresh level, ready to start (through the
     * simulator's setup commands and its confirm button), and installs the
     * scenario's physics.
     */
    async ready(o: Partial<Scenario> = {}) {
        const sc = baseScenario(o)
        for (let attempt = 1; ; attempt++) {
            try {
                if (!this.calibrated) this.session.installRig({ seed: 1001 })
                await this.runner.bench.setup(sc, this.calibrated)
                break
            } catch (e) {
                // the simulator's setup waits briefly for each answer; on a loaded machine it can miss one
                if (attempt >= 3) throw e
                console.error(`firmware fixture: setup failed (${(e as Error).message}); again`)
                this.calibrated = this.calibrated && this.latest !== undefined
                await sleep(500)
                // a spurious stale fault latched while the VM stalled: cleared as an operator would
                await this.clearFault().catch(err => console.error(`firmware fixture: ${(err as Error).message}`))
            }
        }
        this.calibrated = true
        this.session.installRig(rigConfig(sc))
        this.commands.length = 0
        this.answers.length = 0
    }

    /**
     * The bench at rest for a calibration by hand (`injector calibrate`): the
     * simulator's rig (a load cell with a zero offset and a gain error, a
     * syringe on the drive), the firmware left as it is.
     */
    benchAtRest() {
        this.session.installRig({ seed: 1001 })
    }

    /** A known mass on the simulated load cell (0 takes it off). */
    placeMass(kg: number) {
        this.session.plant.placeMass(kg)
    }

    /** What the plunger has displaced so far on the bench, mL (what a collection cup holds). */
    displacedMl() {
        this.session.plant.advanceToNow()
        return this.session.plant.state().plungerVolumeMl
    }

    /**
     * Runs `body` (which starts from ready()) until it runs without a spurious
     * sensor-stale fault: the WASM VM on a loaded machine is not real-time,
     * and a stall of 50+ ms is a FAULT-1 stale load cell the bench did not
     * cause (sim/harness/runner.ts repeats scenarios for the same reason).
     * Any other failure fails at once; every retry is printed.
     */
    async attempt<T>(what: string, body: () => Promise<T>, tries = 4): Promise<T> {
        for (let i = 1; ; i++) {
            const t0 = performance.now()
            try {
                const r = await body()
                if (!this.staleSince(t0) || i >= tries) return r
            } catch (e) {
                if (!this.staleSince(t0) || i >= tries) throw e
            }
            console.error(`# ${what}: spurious sensor-stale fault (VM stall on a loaded machine); attempt ${i + 1}`)
        }
    }

    /** What happened since `t0`: transitions and alarms, for failure messages. */
    story(t0: number) {
        return this.events
            .filter(e => e.tHostMs >= t0 && (e.type === "transition" || e.type === "alarm"))
            .map(e => `${Math.round(e.tHostMs - t0)} ms ${e.type} ${e.type === "transition" ? `${State[e.from!]}->${State[e.to!]} ` : ""}${Reason[e.reason]}`)
            .join("; ")
    }

    private staleSince(t0: number) {
        return this.events.some(
            e =>
                e.tHostMs >= t0 &&
                ((e.type === "transition" && e.to === State.Fault && e.reason === Reason.SensorStale) ||
                    // the calibration drive stops on the same stall (BOARD-3)
                    (e.type === "info" && e.reason === Reason.CalDriveStopped && e.value === Reason.SensorStale))
        )
    }

    /**
     * Out of a latched fault, the way an operator would: clear_fault, held
     * for the local confirm, which the fixture presses. For a retry after a
     * spurious stale fault in a test that does not start from ready().
     */
    async clearFault() {
        if (this.state !== State.Fault) return
        console.error(`firmware fixture: clearing a ${this.latest ? Reason[this.latest.reason] : ""} fault for the retry`)
        await this.runner.client.command(Op.ClearFault, [], { confirm: true })
        await this.waitFor("fault cleared", 5000, t => t.state !== State.Fault)
    }

    /** Waits until `pred` holds on the latest telemetry. */
    async waitFor(what: string, ms: number, pred: (t: Telemetry) => boolean) {
        await this.session.link.waitFor(() => `${what}; latest state ${this.latest ? State[this.latest.state] : "none"}`, ms, () => {
            const t = this.latest
            return t !== undefined && pred(t)
        })
    }

    async waitState(s: State, ms = 5000) {
        await this.waitFor(`state ${State[s]} (latest reason ${this.latest ? Reason[this.latest.reason] : "none"})`, ms, t => t.state === s)
    }

    /** Telemetry batches arriving after now (fresh values, not the one already here). */
    async fresh(): Promise<Telemetry> {
        const n = this.session.link.telemetryCount
        await this.session.link.waitFor("fresh telemetry", 3000, () => this.session.link.telemetryCount > n + 1)
        return this.latest!
    }

    pressConfirm() {
        return this.session.device.confirm.press(100)
    }
    pressPedal() {
        return this.session.device.leakPedal.press(150)
    }

    async close() {
        await this.session.close()
    }
}

export { opName, sleep }
