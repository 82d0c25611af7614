// One bench session: devtools hub + Jacdac bus in this process + simulated
// hardware (bench device + real-time plant) + the firmware VM, which can be
// (re)started any number of times while the hub and the bus stay up.
import { randomBytes } from "node:crypto"
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { createNodeSocketTransport, JDBus, Packet, PACKET_PROCESS } from "jacdac-ts"
import { RigConfig } from "../model"
import { FLAG_ESTOP, InjectorLink, SRV_CEMENT_INJECTOR } from "./injector"
import { RealtimePlant } from "./plant"
import { Child, ensureFirmware, FirmwareFiles, HUB_TCP_PORT, OUT_DIR, startHub, startVm } from "./procs"
import { bindRoles, findVmDevice, RoleBinding } from "./roles"
import { BenchDevice } from "./servers"

export const BENCH_DEVICE_ID = "bec0de1a55000001"

/** Load cell of the bench: a zero offset and a gain error the firmware calibration must remove. */
export const BENCH_LOAD_CELL = { offsetN: 40, gain: 0.985 }

const sleep = (ms: number) => new Promise(r => setTimeout(r, ms))

export interface SessionOptions {
    log?: (m: string) => void
    rebuild?: boolean
    /** run this bytecode (.devs) instead of building src/main.ts (diagnostics) */
    firmware?: string
    /** wait this long for the hub's ports when another bench holds them (default 0: fail at once) */
    waitForPortsMs?: number
}

/**
 * Whether the firmware's readiness waits for a live force. A function is
 * asked at every telemetry: a load-cell fault the scenario starts while the
 * restarted firmware comes up ends that wait (campaign seed 9021000121: NaN
 * from 2.83 s, the restart ended at 2.64 s).
 */
export function wantsLiveCell(o: boolean | (() => boolean) | undefined): boolean {
    return typeof o === "function" ? o() : o !== false
}

export interface FirmwareStart {
    vmDeviceId: string
    /** ms from spawning the VM to the firmware reporting ready */
    startMs: number
    binding: RoleBinding[]
}

/**
 * What the scenario runner needs from a bench: the bus with the simulated
 * hardware and the plant, the injector link, and a firmware it can
 * (re)start. Two implementations: BenchSession (real time: devtools hub and
 * a VM process) and LockstepSession (sim/lockstep: one process, virtual time).
 */
export interface SimSession {
    readonly clock: "realtime" | "lockstep"
    readonly bus: JDBus
    readonly device: BenchDevice
    readonly plant: RealtimePlant
    readonly link: InjectorLink
    readonly log: (m: string) => void
    vmAlive(): boolean
    /** `loadCellLive` false: ready without a live force (a restart while the scenario holds the load cell faulted) */
    startFirmware(opts?: { keepFlash?: boolean; sameDevice?: boolean; loadCellLive?: boolean | (() => boolean) }): Promise<FirmwareStart>
    /** kill the firmware like a power loss (the drive's enable line drops) */
    stopFirmware(): Promise<void>
    installRig(config: RigConfig): void
    close(): Promise<void>
}

export class BenchSession implements SimSession {
    readonly clock = "realtime"
    hub!: Child
    bus!: JDBus
    device!: BenchDevice
    plant!: RealtimePlant
    link!: InjectorLink
    firmware!: FirmwareFiles
    vm: Child | undefined
    vmDeviceId = ""
    vmRuns = 0
    /** packets from the VM's devices and commands to the bench device (the VM sends ~50 packets/s at most) */
    vmPackets = 0
    /** set to [] to log every such packet (diagnostics of the VM's bus load) */
    packetLog: { tMs: number; dev: string; srv: number; cmd: number; dst: boolean }[] | undefined
    readonly vmCwd = join(OUT_DIR, "vm")
    readonly log: (m: string) => void

    private constructor(opts: SessionOptions) {
        this.log = opts.log ?? (() => {})
    }

    static async open(opts: SessionOptions = {}): Promise<BenchSession> {
        const s = new BenchSession(opts)
        s.firmware = ensureFirmware({ force: opts.rebuild })
        if (opts.firmware) s.firmware = { ...s.firmware, bytecode: opts.firmware }
        s.hub = await startHub({ waitMs: opts.waitForPortsMs, log: m => console.error(m) })
        try {
            const services = JSON.parse(readFileSync(s.firmware.services, "utf8"))
            s.bus = new JDBus([createNodeSocketTransport(HUB_TCP_PORT, "127.0.0.1")], {
                client: false,
                disableRoleManager: true,
                services,
            })
            s.bus.start()
            await s.bus.connect()
            s.device = new BenchDevice(s.bus, BENCH_DEVICE_ID)
            s.plant = new RealtimePlant(s.device, { loadCell: BENCH_LOAD_CELL })
            s.plant.keepTrace = false
            s.plant.start()
            s.link = new InjectorLink(s.bus)
            s.bus.on(PACKET_PROCESS, (pkt: Packet) => {
                const d = pkt.deviceIdentifier
                if (d === s.vmDeviceId || d === s.link.deviceId || (pkt.isCommand && d === BENCH_DEVICE_ID)) {
                    s.vmPackets++
                    if (s.packetLog) s.packetLog.push({ tMs: performance.now(), dev: d === s.vmDeviceId ? "vm" : d === BENCH_DEVICE_ID ? "bench" : "inj", srv: pkt.serviceIndex, cmd: pkt.serviceCommand, dst: pkt.isCommand })
                }
            })
        } catch (e) {
            await s.close()
            throw e
        }
        return s
    }

    /**
     * Start the firmware VM (fresh flash unless `keepFlash`), bind its roles
     * to the bench device and wait until it reports with every sensor live.
     */
    async startFirmware(opts: { keepFlash?: boolean; sameDevice?: boolean; loadCellLive?: boolean | (() => boolean) } = {}): Promise<FirmwareStart> {
        if (this.vm?.isAlive()) await this.stopFirmware()
        const t0 = performance.now()
        if (!opts.sameDevice || !this.vmDeviceId) this.vmDeviceId = randomBytes(8).toString("hex")
        // injector devices of earlier VMs may linger on the bus for a moment
        const stale = new Set(opts.sameDevice ? [] : this.bus.devices({ serviceClass: SRV_CEMENT_INJECTOR }).map(d => d.deviceId))
        this.vmRuns++
        this.vm = await startVm({
            bytecode: this.firmware.bytecode,
            deviceId: this.vmDeviceId,
            cwd: this.vmCwd,
            clearFlash: !opts.keepFlash,
            logFile: join(OUT_DIR, "logs", `vm-${this.vmRuns % 4}.log`),
        })
        // the VM device (with its Role Manager) appears on the bus
        let vmDev = findVmDevice(this.bus, this.vmDeviceId)
        for (let i = 0; !vmDev; i++) {
            if (i > 500) throw new Error(`firmware VM ${this.vmDeviceId} did not appear on the bus`)
            if (!this.vm.isAlive()) throw new Error(`firmware VM exited:\n${this.vm.lines.join("\n")}`)
            await sleep(10)
            vmDev = findVmDevice(this.bus, this.vmDeviceId)
        }
        const binding = await bindRoles(this.bus, vmDev, this.device.roleTargets(), this.device.deviceId, this.log)
        // the injector server (its own device id, derived by the VM)
        let srv = InjectorLink.find(this.bus, stale)
        for (let i = 0; !srv || srv.device.lost; i++) {
            if (i > 500) throw new Error("the Cement Injector service did not appear on the bus")
            await sleep(10)
            srv = InjectorLink.find(this.bus, stale)
        }
        this.link.attach(srv)
        const since = performance.now()
        // ready: telemetry flowing, e-stop input bound (flag clear), load cell live (force is a number)
        await this.link.waitFor(() => `firmware ready (telemetry with e-stop bound and load cell live); latest: ${JSON.stringify(this.link.latest)}; devices: ${this.bus.devices().map(d => d.deviceId + (d.lost ? "(lost)" : "") + ":" + d.serviceClasses.map(c => c.toString(16)).join("/"))}`, 10000, () => {
            const t = this.link.latest
            return t && t.tHostMs > since && (t.flags & FLAG_ESTOP) === 0 && t.samples.length > 0 && (!wantsLiveCell(opts.loadCellLive) || Number.isFinite(t.samples[t.samples.length - 1].forceN))
        })
        return { vmDeviceId: this.vmDeviceId, startMs: performance.now() - t0, binding }
    }

    vmAlive() {
        return !!this.vm?.isAlive()
    }

    /** Kill the VM (like a power loss: the drive's enable line drops with the MCU). */
    async stopFirmware() {
        const vm = this.vm
        this.vm = undefined
        this.powerLossDrive()
        if (vm) await vm.stop()
        this.link.detach()
    }

    /** The MCU resets: the stepper driver's enable line is released. */
    powerLossDrive() {
        this.device.motor.enabled.setValues([false])
        this.device.motor.speed.setValues([0])
    }

    async close() {
        try {
            this.plant?.stop()
            if (this.vm) await this.vm.stop()
            this.vm = undefined
            try {
                await this.bus?.disconnect()
                this.bus?.stop()
                this.bus?.dispose()
            } catch {
                /* ignore */
            }
        } finally {
            if (this.hub) await this.hub.stop()
        }
    }

    installRig(config: RigConfig) {
        this.plant.setRig({ ...config, loadCell: { ...config.loadCell, ...BENCH_LOAD_CELL } })
    }
}
