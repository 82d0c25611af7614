// The bench's host client of the injector: sends commands, presses the
// simulated confirm button when the firmware asks for it (FAULT-7), keeps
// the heartbeat going. One per runner; reset at the start of every run.
import { Config, defaultConfig, getThreshold, THRESHOLDS } from "../../src/core/config"
import { LEVELS } from "../../src/core/levels"
import { Op, Outcome, Reject, State } from "../../src/core/types"
import { InjectorEvent, opName } from "./injector"
import { SimSession } from "./session"

export const HEARTBEAT_MS = 200

/** How long to wait for a command's answer before sending the same seq again, ms. */
export const ANSWER_TIMEOUT_MS = 250
/** Sends of one seq before giving up on an answer (the first and the retries). */
export const SENDS_PER_SEQ = 3
/** How long the firmware may take to answer a pressed confirm, ms (press 100 ms + a control step + transport). */
export const CONFIRM_ANSWER_MS = 600

export interface CommandOutcome {
    /** the command went out (false: host disconnected or no firmware on the bus) */
    sent: boolean
    /** the firmware's request id for it (0: unsequenced) */
    seq: number
    /** what became of it, as far as the client knows */
    outcome?: Outcome
    rejected?: Reject
    /** waiting for the local confirm (not pressed: `confirm: false`) */
    pending: boolean
    /** the firmware executed it (an unsequenced command: no rejection seen) */
    executed: boolean
    /** the firmware answered (a sequenced command that got no command_result on any send: false) */
    answered: boolean
}

export class BenchClient {
    confirmPresses = 0
    /** host times (ms) of every confirm press of the current run */
    confirmTimesMs: number[] = []
    /** the firmware's thresholds as the runner set them (to predict FAULT-7 confirms of unsequenced commands) */
    thresholds: Config = defaultConfig()
    benchMode = false
    private heartbeat: NodeJS.Timeout | undefined
    /**
     * The next request id. Never reset while the client lives: the firmware
     * answers a repeated seq without executing it, so a seq must not come
     * back for a new command (benchmark trials reuse one firmware).
     */
    private nextSeq = 1

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

    /** A fresh request id. */
    takeSeq(): number {
        const s = this.nextSeq
        this.nextSeq = this.nextSeq >= 0x7fffffff ? 1 : this.nextSeq + 1
        return s
    }

    /**
     * Send a command with a fresh request id and wait for its command_result;
     * when the answer is `pending` (FAULT-7), press the simulated confirm
     * button (unless `confirm` is false) and wait for the final answer. A
     * missing answer (dropped by the bounded outbox, FAULT-10, or lost in
     * transit) is asked for again by re-sending the same seq: the firmware
     * answers a repeat without executing it twice. `sequenced: false` sends
     * seq 0 like an old host (answered by rejected / confirm_required).
     */
    async command(op: Op, args: number[] = [], opts: { confirm?: boolean; sequenced?: boolean } = {}): Promise<CommandOutcome> {
        if (opts.sequenced === false) return this.unsequenced(op, args, opts)
        const seq = this.takeSeq()
        const first = await this.exchange(seq, op, args, () => true)
        if (!first.sent || !first.answer) return { sent: first.sent, seq, pending: false, executed: false, answered: false }
        let ans = first.answer
        if (ans.outcome === Outcome.Pending) {
            if (opts.confirm === false) return { sent: true, seq, outcome: Outcome.Pending, pending: true, executed: false, answered: true }
            const after = performance.now()
            await this.pressConfirm()
            // the answer to the press (executed, or rejected by the re-validation at confirm time)
            const fin = await this.link
                .waitEvent(`answer to the confirmed ${opName(op)} (seq ${seq})`, CONFIRM_ANSWER_MS, after, e => isAnswer(e, seq) && e.outcome !== Outcome.Pending)
                .catch(() => undefined)
            const final = fin ?? (await this.exchange(seq, op, args, e => e.outcome !== Outcome.Pending)).answer
            if (!final) return { sent: true, seq, outcome: Outcome.Pending, pending: true, executed: false, answered: true }
            ans = final
        }
        return {
            sent: true,
            seq,
            outcome: ans.outcome,
            rejected: ans.outcome === Outcome.Rejected ? (ans.reject as Reject) : undefined,
            pending: ans.outcome === Outcome.Pending,
            executed: ans.outcome === Outcome.Executed,
            answered: true,
        }
    }

    /** Send `seq` until an answer matching `want` arrives (at most SENDS_PER_SEQ sends). */
    private async exchange(seq: number, op: Op, args: number[], want: (e: InjectorEvent) => boolean): Promise<{ sent: boolean; answer?: InjectorEvent }> {
        let sent = false
        for (let i = 0; i < SENDS_PER_SEQ; i++) {
            const since = performance.now()
            if (!(await this.link.sendSeq(seq, op, args))) return { sent }
            sent = true
            const answer = await this.link
                .waitEvent(`command_result for ${opName(op)} (seq ${seq})`, ANSWER_TIMEOUT_MS, since, e => isAnswer(e, seq) && want(e))
                .catch(() => undefined)
            if (answer) return { sent, answer }
        }
        return { sent }
    }

    /** The old host's path: seq 0, only a rejection or a confirm request comes back. */
    private async unsequenced(op: Op, args: number[], opts: { confirm?: boolean }): Promise<CommandOutcome> {
        const since = performance.now()
        const sent = await this.link.send(op, ...args)
        const out = (o: Partial<CommandOutcome>): CommandOutcome => ({ sent, seq: 0, pending: false, executed: false, answered: false, ...o })
        if (!sent) return out({})
        const waitMs = this.predictConfirm(op, args) ? 700 : 60
        const ev = await this.link
            .waitEvent(`reply to ${opName(op)}`, waitMs, since, e => (e.type === "confirmRequired" || e.type === "rejected") && e.command === op)
            .catch(() => undefined)
        if (ev?.type === "rejected") return out({ rejected: ev.reject as Reject, outcome: Outcome.Rejected, answered: true })
        if (ev?.type === "confirmRequired") {
            if (opts.confirm === false) return out({ pending: true, outcome: Outcome.Pending, answered: true })
            await this.pressConfirm()
            const after = performance.now() - 5
            // a re-validation at confirm time can still reject it
            const rej = await this.link
                .waitEvent("confirm result", 150, after, e => e.type === "rejected" && e.command === op)
                .catch(() => undefined)
            if (rej) return out({ rejected: rej.reject as Reject, outcome: Outcome.Rejected, answered: true })
        }
        // no news is good news for an unsequenced command
        return out({ executed: true })
    }

    /** Whether the firmware will ask for the local confirm (FAULT-7) for an unsequenced command; only sets how long to wait for its request. */
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
            case Op.SetLevel: // FAULT-7: level, syringe and the cement clock add risk
            case Op.SetSyringe:
            case Op.MarkMixing:
                return true
            case Op.SetCap:
                return t !== undefined && t.level < LEVELS.length && args[0] > LEVELS[t.level].capMl
            case Op.SetFlow:
                return true // FAULT-7: any change of the flow waits for the confirm
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

    /**
     * The keep-alive goes unsequenced: it needs no answer, and answering it
     * five times a second would spend a tenth of the VM's ~50 packets/s.
     */
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

const isAnswer = (e: InjectorEvent, seq: number) => e.type === "commandResult" && e.seq === seq
