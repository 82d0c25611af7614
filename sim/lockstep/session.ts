// A bench session in one process on the virtual clock (SIM-4): the Jacdac
// bus (jacdac-ts, no hub, no sockets), the bench device and the plant, the
// injector link, and the firmware in the WASM VM behind the transport model.
// Same surface as the real-time BenchSession, so the same ScenarioRunner
// drives both. Every method must run inside runVirtual() (./clock).
import "./clock" // first: the virtual clock must be installed before jacdac-ts loads
import { readFileSync } from "node:fs"
import { createProxyBridge, JDBus } from "jacdac-ts"
import { RigConfig } from "../model"
import { Rng } from "../model/rng"
import { FLAG_ESTOP, InjectorLink, SRV_CEMENT_INJECTOR } from "../harness/injector"
import { RealtimePlant } from "../harness/plant"
import { ensureFirmware, FirmwareFiles } from "../harness/procs"
import { bindRoles, findVmDevice } from "../harness/roles"
import { BenchDevice } from "../harness/servers"
import { BENCH_DEVICE_ID, BENCH_LOAD_CELL, FirmwareStart, SimSession, wantsLiveCell } from "../harness/session"
import { sleepMs } from "./clock"
import { DEFAULT_TRANSPORT, Transport, TransportConfig, TransportStats } from "./transport"
import { LockstepVm } from "./vm"
import { HwPins } from "./hwpins"
import type { Timing } from "../harness/scenario"

export interface LockstepOptions {
    /** every random stream of the run derives from it (device ids, VM entropy, transport) */
    seed: number
    transport?: Partial<TransportConfig>
    log?: (m: string) => void
    /** run this bytecode (.devs) instead of building src/main.ts */
    firmware?: string
    /** keep the VM's log lines (dmesg) in memory, last N */
    keepDmesg?: number
    /**
     * "simulator" (default): src/main.ts, roles on the bus; "hardware":
     * src/main_hwsim.ts, the board's control path with the drive's pins
     * modelled here (./hwpins.ts)
     */
    timing?: Timing
}

/** 16 hex digits from a seed (device ids must not depend on anything else). */
function seededHexId(rng: Rng): string {
    let s = ""
    for (let i = 0; i < 4; i++) s += (rng.nextUint32() & 0xffff).toString(16).padStart(4, "0")
    return s
}

export class LockstepSession implements SimSession {
    readonly clock = "lockstep"
    bus!: JDBus
    device!: BenchDevice
    plant!: RealtimePlant
    link!: InjectorLink
    firmware!: FirmwareFiles
    vm: LockstepVm | undefined
    vmDeviceId = ""
    vmRuns = 0
    /** every VM of this session that stopped on its own: panics and crashes */
    readonly vmFailures: { vmRun: number; tMs: number; panicCode?: number; crash?: string }[] = []
    readonly transportConfig: TransportConfig
    /** transport figures summed over the session's VMs */
    readonly transportStats: TransportStats[] = []
    readonly dmesg: string[] = []
    readonly log: (m: string) => void
    private flash = { data: new Uint8Array(0) }
    private bytecode!: Uint8Array
    private readonly ids: Rng
    readonly timing: Timing
    /** hardware timing: the drive's pins of the current VM (undefined on the simulator timing) */
    hwPins: HwPins | undefined

    private constructor(readonly opts: LockstepOptions) {
        this.log = opts.log ?? (() => {})
        this.transportConfig = { ...DEFAULT_TRANSPORT, ...opts.transport }
        this.ids = new Rng(opts.seed ^ 0x3c6ef372)
        this.timing = opts.timing ?? "simulator"
    }

    static async open(opts: LockstepOptions): Promise<LockstepSession> {
        const s = new LockstepSession(opts)
        s.firmware = ensureFirmware({ quiet: true, entry: s.timing === "hardware" ? "src/main_hwsim.ts" : undefined })
        if (opts.firmware) s.firmware = { ...s.firmware, bytecode: opts.firmware }
        s.bytecode = new Uint8Array(readFileSync(s.firmware.bytecode))
        const services = JSON.parse(readFileSync(s.firmware.services, "utf8"))
        s.bus = new JDBus([], { client: false, disableRoleManager: true, services })
        s.bus.start()
        s.device = new BenchDevice(s.bus, BENCH_DEVICE_ID)
        s.plant = new RealtimePlant(s.device, { loadCell: BENCH_LOAD_CELL })
        s.plant.keepTrace = false
        s.plant.start("event")
        s.link = new InjectorLink(s.bus)
        return s
    }

    vmAlive() {
        return !!this.vm?.isAlive()
    }

    async startFirmware(o: { keepFlash?: boolean; sameDevice?: boolean; loadCellLive?: boolean | (() => boolean) } = {}): Promise<FirmwareStart> {
        if (this.vm) await this.stopFirmware()
        const t0 = performance.now()
        this.vmRuns++
        if (!o.sameDevice || !this.vmDeviceId) this.vmDeviceId = seededHexId(this.ids)
        const stale = new Set(o.sameDevice ? [] : this.bus.devices({ serviceClass: SRV_CEMENT_INJECTOR }).map(d => d.deviceId))
        if (!o.keepFlash) this.flash = { data: new Uint8Array(0) }
        // frames bus -> transport -> VM and VM -> transport -> bus
        const bridge = createProxyBridge((frame: Uint8Array) => transport.busToVm(frame))
        const transport = new Transport(this.transportConfig, this.ids.nextUint32(), f => vm?.receive(f), f => bridge.receiveFrameOrPacket(f))
        this.transportStats.push(transport.stats)
        const keep = this.opts.keepDmesg ?? 400
        // hardware timing: the firmware's pin writes arrive as "#HW ..." log lines (src/hw/bench_io.ts)
        const pins =
            this.timing === "hardware"
                ? new HwPins((enabled, ratio) => {
                      if (this.hwPins !== pins) return
                      this.device.motor.enabled.setValues([enabled])
                      this.device.motor.speed.setValues([ratio])
                  })
                : undefined
        this.hwPins = pins
        let vm: LockstepVm | undefined
        vm = await LockstepVm.start({
            deviceId: this.vmDeviceId,
            bytecode: this.bytecode,
            flash: this.flash,
            seed: this.ids.nextUint32(),
            transport,
            log: line => {
                if (pins) {
                    const at = line.indexOf("#HW ")
                    if (at >= 0 && pins.line(line.slice(at + 4))) return
                }
                this.dmesg.push(`${(performance.now() / 1000).toFixed(3)} ${line}`)
                if (this.dmesg.length > keep) this.dmesg.splice(0, this.dmesg.length - keep)
            },
        })
        bridge.bus = this.bus
        this.vm = vm
        const run = this.vmRuns
        vm.onFailure = () => {
            // a VM that stopped on its own (panic, trap): recorded, and the drive drops as on an MCU reset
            this.vmFailures.push({ vmRun: run, tMs: Math.round(performance.now()), panicCode: vm!.panicCode, crash: vm!.crash })
            if (this.vm === vm) this.powerLossDrive()
        }
        let vmDev = findVmDevice(this.bus, this.vmDeviceId)
        for (let i = 0; !vmDev; i++) {
            if (i > 500 || !vm.isAlive()) throw new Error(`firmware VM ${this.vmDeviceId} did not appear on the bus${vm.crash ? `: ${vm.crash}` : ""}`)
            await sleepMs(10)
            vmDev = findVmDevice(this.bus, this.vmDeviceId)
        }
        const binding = await bindRoles(this.bus, vmDev, this.device.roleTargets(), this.device.deviceId, this.log)
        let srv = InjectorLink.find(this.bus, stale)
        for (let i = 0; !srv || srv.device.lost; i++) {
            if (i > 500) throw new Error("the Cement Injector service did not appear on the bus")
            await sleepMs(10)
            srv = InjectorLink.find(this.bus, stale)
        }
        this.link.attach(srv)
        const since = performance.now()
        await this.link.waitFor(() => `firmware ready (telemetry, e-stop bound, load cell live); latest: ${JSON.stringify(this.link.latest)}`, 10000, () => {
            const t = this.link.latest
            return t && t.tHostMs > since && (t.flags & FLAG_ESTOP) === 0 && t.samples.length > 0 && (!wantsLiveCell(o.loadCellLive) || Number.isFinite(t.samples[t.samples.length - 1].forceN))
        })
        return { vmDeviceId: this.vmDeviceId, startMs: performance.now() - t0, binding }
    }

    async stopFirmware() {
        const vm = this.vm
        this.vm = undefined
        this.powerLossDrive()
        vm?.stop()
        this.link.detach()
    }

    /** The MCU resets: the stepper driver's enable line is released. */
    powerLossDrive() {
        this.hwPins?.reset()
        this.device.motor.enabled.setValues([false])
        this.device.motor.speed.setValues([0])
    }

    async close() {
        this.plant?.stop()
        this.vm?.stop()
        this.vm = undefined
        try {
            this.bus?.stop()
            this.bus?.dispose()
        } catch {
            /* already down */
        }
    }

    installRig(config: RigConfig) {
        this.plant.setRig({ ...config, loadCell: { ...config.loadCell, ...BENCH_LOAD_CELL } })
    }
}
