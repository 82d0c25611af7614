// The transport between the firmware VM and the rest of the bench, modelled
// (SIM-4): in lockstep, compute takes no virtual time and frames would cross
// instantly, which would make every closed-loop figure look better than the
// bench (and the board) can do. The model, all of it seeded:
//   - latency per hop (bus -> VM, VM -> bus): base + uniform jitter, whole
//     ms (the virtual clock's resolution), FIFO per direction (a frame never
//     overtakes the one before it, as on a serial link);
//   - the VM's send budget. The ~50 packets/s the real-time bench measured
//     is the VM runtime's own throttle (jacdac-c in the wasm logs "N packets
//     throttled"), and it runs here unchanged on the virtual clock, so the
//     default adds nothing on top (vmPacketsPerS 0); a scenario can set a
//     token bucket (packets/s, burst) to model a slower link;
//   - VM stalls: now and then the VM does not run for a few ms (the WASM VM
//     on a shared host; an MCU busy in a flash write). Frames queue meanwhile.
//
// Defaults are the real-time bench's measurements (docs/simulator.md,
// "Transport"): host<->VM round trip 1-2 ms through the hub with TCP_NODELAY,
// max gap between samples at the VM 13-15 ms at 80 Hz (a few ms of jitter),
// about 50 packets/s from the VM, and short stalls now and then.
import { Rng } from "../model/rng"

export interface TransportConfig {
    /** bus -> VM latency, ms (base) */
    toVmLatencyMs: number
    /** bus -> VM jitter, ms (uniform 0..jitter added to the base) */
    toVmJitterMs: number
    /** VM -> bus latency, ms */
    fromVmLatencyMs: number
    fromVmJitterMs: number
    /** VM send budget, packets per second (0 = unlimited) */
    vmPacketsPerS: number
    /** VM send budget: burst size (bucket depth), packets */
    vmBurstPackets: number
    /** mean number of VM stalls per second (Poisson) */
    stallsPerS: number
    /** stall duration, ms: uniform in [min, max] */
    stallMinMs: number
    stallMaxMs: number
}

export const DEFAULT_TRANSPORT: Readonly<TransportConfig> = Object.freeze({
    toVmLatencyMs: 1,
    toVmJitterMs: 2,
    fromVmLatencyMs: 1,
    fromVmJitterMs: 2,
    vmPacketsPerS: 0,
    vmBurstPackets: 20,
    stallsPerS: 0.05,
    stallMinMs: 5,
    stallMaxMs: 20,
})

export const TRANSPORT_KEYS = Object.keys(DEFAULT_TRANSPORT) as (keyof TransportConfig)[]

export interface TransportStats {
    framesToVm: number
    framesFromVm: number
    packetsFromVm: number
    /** packets held back by the send budget */
    packetsDelayedByBudget: number
    maxBudgetDelayMs: number
    stalls: number
    stalledMs: number
}

type Deliver = (frame: Uint8Array) => void

/** Number of Jacdac packets in a frame (12-byte header, then [size, svc, cmd lo, cmd hi, data...] padded to 4). */
export function packetsInFrame(frame: Uint8Array): number {
    const end = Math.min(frame.length, 12 + (frame[2] ?? 0))
    let n = 0
    for (let p = 12; p + 4 <= end; ) {
        n++
        p += (4 + frame[p] + 3) & ~3
    }
    return Math.max(n, 1)
}

/**
 * One direction of the link: frames in, frames out after a seeded delay, in
 * order. `budget` (packets/s) applies to the VM's sends only.
 */
class Hop {
    private lastDueMs = -Infinity
    private tokens: number
    private tokensAtMs = 0
    constructor(
        private readonly rng: Rng,
        private readonly latencyMs: number,
        private readonly jitterMs: number,
        private readonly deliver: Deliver,
        private readonly stats: TransportStats,
        private readonly budget?: { perS: number; burst: number }
    ) {
        this.tokens = budget?.burst ?? 0
    }

    send(frame: Uint8Array) {
        const now = Date.now()
        let due = now + this.latencyMs + Math.floor(this.rng.next() * (this.jitterMs + 1))
        if (this.budget) this.stats.packetsFromVm += packetsInFrame(frame)
        if (this.budget && this.budget.perS > 0) {
            const n = packetsInFrame(frame)
            // refill, then spend; when short, the frame waits for its tokens
            const perMs = this.budget.perS / 1000
            this.tokens = Math.min(this.budget.burst, this.tokens + (now - this.tokensAtMs) * perMs)
            this.tokensAtMs = now
            this.tokens -= n
            if (this.tokens < 0) {
                const waitMs = Math.ceil(-this.tokens / perMs)
                due += waitMs
                this.stats.packetsDelayedByBudget += n
                this.stats.maxBudgetDelayMs = Math.max(this.stats.maxBudgetDelayMs, waitMs)
            }
        }
        due = Math.max(due, this.lastDueMs) // FIFO
        this.lastDueMs = due
        const copy = frame.slice()
        setTimeout(() => this.deliver(copy), due - now)
    }
}

/** Both hops and the stall schedule of one firmware VM. */
export class Transport {
    readonly stats: TransportStats = {
        framesToVm: 0,
        framesFromVm: 0,
        packetsFromVm: 0,
        packetsDelayedByBudget: 0,
        maxBudgetDelayMs: 0,
        stalls: 0,
        stalledMs: 0,
    }
    private readonly toVm: Hop
    private readonly fromVm: Hop
    private readonly stallRng: Rng
    private stallTimer: ReturnType<typeof setTimeout> | undefined
    /** the VM may not run before this instant (Date.now() ms) */
    stalledUntilMs = -Infinity
    onStallEnd: () => void = () => {}

    constructor(
        readonly config: TransportConfig,
        seed: number,
        toVm: Deliver,
        toBus: Deliver
    ) {
        const rng = new Rng(seed)
        this.stallRng = new Rng(seed ^ 0x2545f491)
        this.toVm = new Hop(rng, config.toVmLatencyMs, config.toVmJitterMs, f => {
            this.stats.framesToVm++
            toVm(f)
        }, this.stats)
        this.fromVm = new Hop(new Rng(seed ^ 0x5851f42d), config.fromVmLatencyMs, config.fromVmJitterMs, f => {
            this.stats.framesFromVm++
            toBus(f)
        }, this.stats, { perS: config.vmPacketsPerS, burst: config.vmBurstPackets })
    }

    busToVm(frame: Uint8Array) {
        this.toVm.send(frame)
    }

    vmToBus(frame: Uint8Array) {
        this.fromVm.send(frame)
    }

    isStalled(): boolean {
        return Date.now() < this.stalledUntilMs
    }

    /** Start the stall schedule (Poisson arrivals). */
    start() {
        this.armStall()
    }

    stop() {
        if (this.stallTimer) clearTimeout(this.stallTimer)
        this.stallTimer = undefined
    }

    private armStall() {
        const rate = this.config.stallsPerS
        if (!(rate > 0)) return
        const gapMs = Math.max(1, Math.round((-Math.log(1 - this.stallRng.next()) / rate) * 1000))
        this.stallTimer = setTimeout(() => {
            const c = this.config
            const ms = Math.round(c.stallMinMs + this.stallRng.next() * (c.stallMaxMs - c.stallMinMs))
            this.stats.stalls++
            this.stats.stalledMs += ms
            this.stalledUntilMs = Date.now() + ms
            this.stallTimer = setTimeout(() => {
                this.onStallEnd()
                this.armStall()
            }, ms)
        }, gapMs)
    }
}
