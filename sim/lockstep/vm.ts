// The DeviceScript WASM VM inside this process, on the virtual clock.
//
// The VM module comes from the build step scripts/extract-vm.mjs (out/vm/,
// made on first use when missing or stale). Its wasm is compiled once per
// process; every VM is a fresh, synchronously created instance, so starting
// one needs no real I/O and fits in virtual time.
//
// Scheduling is ours, not the module's: wake() runs _jd_em_process() and
// re-arms a virtual timer for the delay it returns (rounded up to whole ms:
// the clock's resolution). Frames in both directions go through the
// Transport (latency, budget, stalls) and are handed to the wasm from a
// microtask, never from inside a wasm call (em_send_frame runs inside
// _jd_em_process; delivering synchronously could re-enter the VM).
import { spawnSync } from "node:child_process"
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { Rng } from "../model/rng"
import { Transport } from "./transport"

const ROOT = join(__dirname, "..", "..")
const VM_DIR = join(ROOT, "out", "vm")

interface VmModule {
    HEAPU8: Uint8Array
    _malloc(n: number): number
    _free(p: number): void
    _jd_em_process(): number
    _jd_em_frame_received(p: number): number
    devsSetDeviceId(id: string): void
    devsDeploy(bytecode: Uint8Array): number
    [k: string]: unknown
}
type VmFactory = (m: Record<string, unknown>) => Promise<VmModule>

let factory: VmFactory | undefined
let wasm: WebAssembly.Module | undefined

/**
 * The extracted VM (build step): run scripts/extract-vm.mjs, which checks its
 * stamp against the installed CLI and extracts only when needed, failing
 * loudly when the CLI is not the pinned one.
 */
export function loadVmModule(): { factory: VmFactory; wasm: WebAssembly.Module } {
    if (!factory || !wasm) {
        const r = spawnSync(process.execPath, [join(ROOT, "scripts", "extract-vm.mjs")], { encoding: "utf8" })
        if (r.status !== 0) throw new Error(`VM build step failed (scripts/extract-vm.mjs):\n${r.stderr}${r.stdout}`)
        // eslint-disable-next-line @typescript-eslint/no-require-imports
        factory = require(join(VM_DIR, "devicescript-vm.cjs")) as VmFactory
        wasm = new WebAssembly.Module(readFileSync(join(VM_DIR, "devicescript-vm.wasm")))
    }
    return { factory, wasm }
}

export interface VmOptions {
    deviceId: string
    bytecode: Uint8Array
    /** the VM's flash; the same object across a restart keeps settings */
    flash: { data: Uint8Array }
    /** entropy seed (the VM draws random bytes, e.g. for ids) */
    seed: number
    transport: Transport
    log?: (line: string) => void
}

export class LockstepVm {
    private mod: VmModule | undefined
    private timer: ReturnType<typeof setTimeout> | undefined
    private inbox: Uint8Array[] = []
    private flushQueued = false
    private alive = false
    /** the exit / panic code when the VM stopped on its own */
    panicCode: number | undefined
    /** a JS exception out of the wasm (a VM crash) */
    crash: string | undefined
    /** called once when the VM stops on its own (panic or crash) */
    onFailure: () => void = () => {}
    wakes = 0
    /** real ms spent inside the wasm */
    wasmMs = 0

    private constructor(readonly transport: Transport) {}

    static async start(o: VmOptions): Promise<LockstepVm> {
        const { factory, wasm } = loadVmModule()
        const vm = new LockstepVm(o.transport)
        const rng = new Rng(o.seed)
        const log = o.log ?? (() => {})
        const mod = await factory({
            instantiateWasm(imports: WebAssembly.Imports, receive: (i: WebAssembly.Instance) => void) {
                const inst = new WebAssembly.Instance(wasm, imports)
                receive(inst)
                return inst.exports
            },
            timeNow: () => Date.now(),
            getRandom: (n: number) => {
                const b = new Uint8Array(n)
                for (let i = 0; i < n; i++) b[i] = rng.nextUint32() & 0xff
                return b
            },
            print: log,
            printErr: log,
        })
        vm.mod = mod
        mod.dmesg = log
        mod.log = (...a: unknown[]) => log(a.join(" "))
        mod.error = (...a: unknown[]) => log("ERROR " + a.join(" "))
        mod.panicHandler = (code: number) => {
            vm.panicCode = code
            log(`PANIC ${code}`)
        }
        mod.flashLoad = () => o.flash.data.slice()
        mod.flashSave = (buf: Uint8Array) => {
            o.flash.data = new Uint8Array(buf)
        }
        mod.sendPacket = (frame: Uint8Array) => {
            if (vm.alive) o.transport.vmToBus(frame)
        }
        o.transport.onStallEnd = () => vm.wake()
        mod.devsSetDeviceId(o.deviceId) // also initialises the runtime
        const r = mod.devsDeploy(o.bytecode)
        if (r) throw new Error(`devsDeploy failed: ${r}`)
        vm.alive = true
        o.transport.start()
        vm.timer = setTimeout(() => vm.wake(), 10) // the module's devsStart waits 10 ms too
        return vm
    }

    isAlive() {
        return this.alive
    }

    /** A frame from the bus (after the transport's delay). */
    receive(frame: Uint8Array) {
        if (!this.alive) return
        this.inbox.push(frame)
        if (this.flushQueued) return
        this.flushQueued = true
        queueMicrotask(() => {
            this.flushQueued = false
            this.flush()
        })
    }

    private flush() {
        if (!this.alive || this.transport.isStalled() || !this.inbox.length) return
        const mod = this.mod!
        while (this.inbox.length && this.alive) {
            const f = this.inbox.shift()!
            const p = mod._malloc(f.length)
            mod.HEAPU8.set(f, p)
            this.inWasm(() => mod._jd_em_frame_received(p))
            mod._free(p)
        }
        this.wake()
    }

    private inWasm<T>(f: () => T): T | undefined {
        const t0 = performanceNowReal()
        try {
            return f()
        } catch (e) {
            // a trap in the wasm is a VM crash: the firmware is gone, as after a hard fault
            this.crash = (e as Error).message ?? String(e)
            this.stop()
            this.onFailure()
            return undefined
        } finally {
            this.wasmMs += performanceNowReal() - t0
        }
    }

    wake() {
        if (!this.alive) return
        if (this.timer) clearTimeout(this.timer)
        this.timer = undefined
        if (this.transport.isStalled()) return // onStallEnd wakes it
        if (this.inbox.length) {
            this.flush() // calls wake() again with an empty inbox
            return
        }
        this.wakes++
        const us = this.inWasm(() => this.mod!._jd_em_process())
        if (!this.alive || us === undefined) return
        if (this.panicCode !== undefined) {
            this.stop()
            this.onFailure()
            return
        }
        this.timer = setTimeout(() => this.wake(), Math.max(0, Math.ceil(us / 1000)))
    }

    stop() {
        this.alive = false
        if (this.timer) clearTimeout(this.timer)
        this.timer = undefined
        this.transport.stop()
        this.inbox = []
    }
}

const hr = process.hrtime.bigint
function performanceNowReal(): number {
    return Number(hr()) / 1e6
}
