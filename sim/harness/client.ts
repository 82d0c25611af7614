// The bench's host client of the injector: sends commands, presses the
// simulated confirm button when the firmware asks for it (FAULT-7), keeps
// the heartbeat going. One per runner; reset at the start of every run.
import { Config, defaultConfig, getThreshold, THRESHOLDS } from "../../src/core/config"
import { LEVELS } from "../../src/core/levels"
import { Op, Reject, State } from "../../src/core/types"
import { opName } from "./injector"
import { SimSession } from "./session"

export const HEARTBEAT_MS = 200

export interface CommandOutcome {
    rejected?: Reject
    pending: boolean
    sent: boolean
}

export class BenchClient {
    confirmPresses = 0
    /** host times (ms) of every confirm press of the current run */
    confirmTimesMs: number[] = []
    /** the firmware's thresholds as the runner set them (to predict FAULT-7 confirms) */
    thresholds: Config = defaultConfig()
    benchMode = false
    private heartbeat: NodeJS.Timeout | undefined

    constructor(readonly session: SimSession) {}

    private get link() {
        return this.session.link
    }

    /** A new run: no presses yet, the firmware's default thresholds. */
    reset() {
        this.confirmPresses = 0
        this.confirmTimesMs = []
        this.thresholds = defaultConfig()
    }

    /**
     * Send a command; when the firmware asks for the local confirm (FAULT-7),
     * press the simulated confirm button (unless `confirm` is false).
     * Resolves with the rejection reason if the firmware rejected it.
     */
    async command(op: Op, args: number[] = [], opts: { confirm?: boolean; waitMs?: number } = {}): Promise<CommandOutcome> {
        const since = performance.now()
        const sent = await this.link.send(op, ...args)
        if (!sent) return { pending: false, sent }
        const waitMs = opts.waitMs ?? (this.predictConfirm(op, args) ? 700 : 60)
        const ev = await this.link
            .waitEvent(`reply to ${opName(op)}`, waitMs, since, e => (e.type === "confirmRequired" || e.type === "rejected") && e.command === op)
            .catch(() => undefined)
        if (ev?.type === "rejected") return { rejected: ev.reject as Reject, pending: false, sent }
        if (ev?.type === "confirmRequired") {
            if (opts.confirm === false) return { pending: true, sent }
            await this.pressConfirm()
            const after = performance.now() - 5
            // a re-validation at confirm time can still reject it
            const rej = await this.link
                .waitEvent("confirm result", 150, after, e => e.type === "rejected" && e.command === op)
                .catch(() => undefined)
            return { rejected: rej?.reject as Reject | undefined, pending: false, sent }
        }
        return { pending: false, sent }
    }

    /** Whether the firmware will ask for the local confirm (FAULT-7); only sets how long to wait for its request. */
    predictConfirm(op: Op, args: number[]): boolean {
        if (op === Op.ClearFault) return true
        if (op === Op.SetBenchMode) return args[0] === 1
        if (this.benchMode) return false
        const t = this.link.latest
        switch (op) {
            case Op.Start:
            case Op.Resume:
            case Op.OverrideLeakLimit:
            case Op.Tare:
            case Op.CalibrateGain:
            case Op.CalibrateVolume:
                return true
            case Op.SetCap:
                return t !== undefined && t.level < LEVELS.length && args[0] > LEVELS[t.level].capMl
            case Op.SetFlow:
                return t?.state === State.Injecting
            case Op.SetRemoteMode:
                return args[0] === 0
            case Op.SetThreshold: {
                const spec = THRESHOLDS[args[1]]
                return !spec || (args[0] - getThreshold(this.thresholds, args[1])) * spec.safer < 0
            }
        }
        return false
    }

    async pressConfirm() {
        this.confirmPresses++
        this.confirmTimesMs.push(performance.now())
        await this.session.device.confirm.press(100)
    }

    startHeartbeat() {
        this.stopHeartbeat()
        this.heartbeat = setInterval(() => {
            if (this.link.connected && this.link.deviceId) void this.link.send(Op.Heartbeat)
        }, HEARTBEAT_MS)
    }

    stopHeartbeat() {
        if (this.heartbeat) clearInterval(this.heartbeat)
        this.heartbeat = undefined
    }
}
