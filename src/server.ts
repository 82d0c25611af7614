// The Cement Injector Jacdac server (TEL-1): registers read the supervisor,
// commands go to the supervisor as host commands, and the app pushes
// telemetry reports and events through it. No safety logic lives here.
import * as ds from "@devicescript/core"
import { Server } from "@devicescript/server"
import { Answer, CoreEvent, EventKind, LevelRecord, Op, Reject, Source, Supervisor, CAL_ALL } from "./core"

/**
 * Command handlers get the decoded payload as one value: an array for
 * multi-field commands, the bare value for one field. Anything that is not
 * a number becomes NaN, which the supervisor rejects (FAULT-6).
 */
function arg(args: any, i: number): number {
    const v = Array.isArray(args) ? args[i] : i === 0 ? args : undefined
    return typeof v === "number" ? v : NaN
}

/** An optional field: undefined when absent (an older host), NaN when not a number. */
function opt(args: any, i: number): number {
    const v = Array.isArray(args) ? args[i] : i === 0 ? args : undefined
    if (v === undefined || v === null) return undefined
    return typeof v === "number" ? v : NaN
}

/** pause after each event sent, ms: at most ~25 events/s of the VM's ~50 packets/s */
const EVENT_GAP_MS = 40

/** events waiting to be sent at most (FAULT-10) */
export const OUTBOX_MAX = 24

type EventSender = { _serverSend(serviceIndex: number, pkt: ds.Packet): Promise<void> }

export class InjectorServer extends Server implements ds.CementInjectorServerSpec {
    sup: Supervisor
    /** set by the app: runs a control step at once after each command */
    afterCommand: () => Promise<void> = null
    estopActive = false
    lastRejectCode = 0
    private seq = 0
    private telSpec = ds.CementInjector.spec.lookup("telemetry")
    private evTransition = ds.CementInjector.spec.lookup("transition")
    private evAlarm = ds.CementInjector.spec.lookup("alarm")
    private evRejected = ds.CementInjector.spec.lookup("rejected")
    private evConfirm = ds.CementInjector.spec.lookup("confirmRequired")
    private evInfo = ds.CementInjector.spec.lookup("info")
    private evRecord = ds.CementInjector.spec.lookup("levelRecord")
    private evResult = ds.CementInjector.spec.lookup("commandResult")
    private evIncrement = ds.CementInjector.spec.lookup("increment")
    private outbox: ds.Packet[] = []
    private outboxKeep: boolean[] = []
    private pumping = false
    /** events dropped because the outbox was full (FAULT-10) */
    eventsDropped = 0

    constructor(sup: Supervisor) {
        super(ds.CementInjector.spec)
        this.sup = sup
    }

    // ---- registers
    state() {
        return this.sup.state as number as ds.CementInjectorState
    }
    reason() {
        return this.sup.reason
    }
    level() {
        return this.sup.lvl.level < 0 ? 255 : this.sup.lvl.level
    }
    volume() {
        return this.sup.deliveredMl()
    }
    cap() {
        return this.sup.lvl.capMl
    }
    fillFraction() {
        return this.sup.fillFraction()
    }
    pressure() {
        return this.sup.pressurePa()
    }
    force() {
        return this.sup.forceN()
    }
    flow() {
        return this.sup.measuredFlowMlPerMin
    }
    cementAge() {
        return this.sup.cementAgeS(ds.millis())
    }
    pauseCount() {
        return this.sup.lvl.pauses
    }
    leakCount() {
        return this.sup.lvl.leakPauses
    }
    flags() {
        const s = this.sup
        return (s.calFlags & CAL_ALL) | (s.benchMode ? 16 : 0) | (s.remoteMode ? 32 : 0) | (this.estopActive ? 64 : 0)
    }
    pendingCommand() {
        return this.sup.pendingOp()
    }
    lastReject() {
        return this.lastRejectCode
    }
    eventsLost() {
        return Math.min(0xffff, this.eventsDropped + this.sup.desk.dropped + this.sup.eventsDropped)
    }

    // ---- commands: every one goes through the supervisor's validation.
    // Each starts with the host's request id `seq` (0 = unsequenced),
    // followed by `n` arguments.
    private async run(op: Op, args: any, n: number) {
        const seq = arg(args, 0)
        const a = n >= 1 ? arg(args, 1) : undefined
        const b = n >= 2 ? opt(args, 2) : undefined
        this.sup.command(ds.millis(), { op, a, b, id: seq === seq ? seq : 0 }, Source.Host)
        if (this.afterCommand) await this.afterCommand()
    }
    async arm(args: any) {
        await this.run(Op.Arm, args, 0)
    }
    async start(args: any) {
        await this.run(Op.Start, args, 0)
    }
    async pause(args: any) {
        await this.run(Op.Pause, args, 0)
    }
    async leakSeen(args: any) {
        await this.run(Op.LeakSeen, args, 0)
    }
    async resume(args: any) {
        await this.run(Op.Resume, args, 0)
    }
    async abort(args: any) {
        await this.run(Op.Abort, args, 0)
    }
    async finish(args: any) {
        await this.run(Op.Finish, args, 0)
    }
    async setLevel(args: any) {
        await this.run(Op.SetLevel, args, 1)
    }
    async setCap(args: any) {
        await this.run(Op.SetCap, args, 2)
    }
    async setFlow(args: any) {
        await this.run(Op.SetFlow, args, 1)
    }
    async setSyringe(args: any) {
        await this.run(Op.SetSyringe, args, 1)
    }
    async markMixing(args: any) {
        await this.run(Op.MarkMixing, args, 2)
    }
    async tare(args: any) {
        await this.run(Op.Tare, args, 0)
    }
    async calibrateGain(args: any) {
        await this.run(Op.CalibrateGain, args, 1)
    }
    async calibrateVolume(args: any) {
        await this.run(Op.CalibrateVolume, args, 2)
    }
    async clearFault(args: any) {
        await this.run(Op.ClearFault, args, 0)
    }
    async heartbeat(args: any) {
        await this.run(Op.Heartbeat, args, 0)
    }
    async setRemoteMode(args: any) {
        await this.run(Op.SetRemoteMode, args, 1)
    }
    async setBenchMode(args: any) {
        await this.run(Op.SetBenchMode, args, 1)
    }
    async setThreshold(args: any) {
        // wire order is (seq, value, threshold id); the core takes (id, value)
        const seq = arg(args, 0)
        const v = arg(args, 1)
        const id = arg(args, 2)
        this.sup.command(ds.millis(), { op: Op.SetThreshold, a: id, b: v, id: seq === seq ? seq : 0 }, Source.Host)
        if (this.afterCommand) await this.afterCommand()
    }
    async overrideLeakLimit(args: any) {
        await this.run(Op.OverrideLeakLimit, args, 0)
    }
    async disarm(args: any) {
        await this.run(Op.Disarm, args, 0)
    }
    async calibrationDrive(args: any) {
        await this.run(Op.CalibrationDrive, args, 1)
    }
    async setIncrement(args: any) {
        await this.run(Op.SetIncrement, args, 2)
    }
    async nextIncrement(args: any) {
        await this.run(Op.NextIncrement, args, 0)
    }
    async syringeExchanged(args: any) {
        await this.run(Op.SyringeExchanged, args, 1)
    }
    async resendRecords(args: any) {
        await this.run(Op.ResendRecords, args, 0)
    }
    async setCustomSyringe(args: any) {
        await this.run(Op.SetCustomSyringe, args, 2)
    }

    // ---- pushed data
    /** One unsolicited telemetry batch (TEL-2); `samples` holds 5 values per sample. */
    async sendTelemetry(t0Ms: number, periodMs: number, samples: number[]) {
        const s = this.sup
        this.seq++
        const v: any[] = [
            this.seq,
            t0Ms,
            s.lvl.capMl,
            s.fillFraction(),
            s.cementAgeS(ds.millis()),
            s.lvl.pauses,
            s.lvl.leakPauses,
            periodMs,
            this.flags(),
            s.state as number as ds.CementInjectorState,
            s.reason,
            this.level(),
            s.pendingOp() & 0xff,
        ]
        for (let i = 0; i < samples.length; ++i) v.push(samples[i])
        await this._send(this.telSpec.encode(v))
    }

    /**
     * Queues an event for sending; never waits. The queue is bounded
     * (FAULT-10): when full, the oldest droppable entry (a command answer or
     * an info) goes and `eventsDropped` counts it; transitions, alarms and
     * level records are kept while anything else can go, and are sent
     * before any queued answer or info.
     */
    post(e: CoreEvent) {
        let pkt: ds.Packet = null
        let keep = false
        switch (e.kind) {
            case EventKind.Transition:
                pkt = this.evTransition.encode([e.a, e.b, e.reason])
                keep = true
                break
            case EventKind.Alarm:
                pkt = this.evAlarm.encode([e.reason, e.a])
                keep = true
                break
            case EventKind.Rejected:
                this.lastRejectCode = (e.a & 0xff) | ((e.b & 0xff) << 8)
                pkt = this.evRejected.encode([e.a & 0xff, e.b])
                break
            case EventKind.ConfirmRequired:
                pkt = this.evConfirm.encode(e.a & 0xff)
                break
            case EventKind.Info:
                pkt = this.evInfo.encode([e.a, e.reason])
                break
            case EventKind.LevelRecord: {
                const r: LevelRecord = this.sup.lastRecord()
                if (r) {
                    pkt = this.recordPacket(r)
                    keep = true
                }
                break
            }
            case EventKind.ResendRecord: {
                // TEL-4: a kept record, sent again exactly as it was (hosts dedupe by level + start + end)
                const kept = this.sup.book.records
                if (e.a >= 0 && e.a < kept.length) {
                    pkt = this.recordPacket(kept[e.a])
                    keep = true
                }
                break
            }
            case EventKind.Increment: {
                const inc = this.sup.lastIncrement
                pkt = this.evIncrement.encode([inc.volumeMl, inc.totalMl, inc.index, inc.level < 0 ? 255 : inc.level])
                keep = true
                break
            }
        }
        if (pkt) this.enqueue(pkt, keep)
    }

    private recordPacket(r: LevelRecord): ds.Packet {
        return this.evRecord.encode([
            r.capMl,
            r.deliveredMl,
            r.fillFraction,
            r.peakPressurePa,
            r.startMs,
            r.endMs,
            r.level,
            r.endState as number as ds.CementInjectorState,
            r.endReason,
            Math.min(255, r.pauses),
            Math.min(255, r.leakPauses),
            Math.min(255, r.overrides),
        ])
    }

    /** The answer to a sequenced command (event command_result). */
    postAnswer(a: Answer) {
        if (a.reject !== Reject.Ok) this.lastRejectCode = (a.op & 0xff) | ((a.reject & 0xff) << 8)
        this.enqueue(
            this.evResult.encode([
                a.id,
                a.lo,
                a.hi,
                a.op & 0xff,
                a.outcome,
                a.reject,
                a.state as number as ds.CementInjectorState,
            ]),
            false
        )
    }

    /** kept for callers that publish one event and wait */
    async publish(e: CoreEvent) {
        this.post(e)
    }

    private enqueue(pkt: ds.Packet, keep: boolean) {
        if (this.outbox.length >= OUTBOX_MAX) {
            let victim = 0
            for (let i = 0; i < this.outbox.length; ++i)
                if (!this.outboxKeep[i]) {
                    victim = i
                    break
                }
            this.outbox.insert(victim, -1)
            this.outboxKeep.insert(victim, -1)
            this.eventsDropped++
        }
        // transitions, alarms and records go ahead of queued answers and infos:
        // a burst of answers must not hold a state change back (a host saw
        // injecting 0.5 s late behind 12 Busy answers)
        let at = this.outbox.length
        if (keep)
            for (let i = 0; i < this.outbox.length; ++i)
                if (!this.outboxKeep[i]) {
                    at = i
                    break
                }
        if (at === this.outbox.length) {
            this.outbox.push(pkt)
            this.outboxKeep.push(keep)
        } else {
            this.outbox.insert(at, 1)
            this.outboxKeep.insert(at, 1)
            this.outbox[at] = pkt
            this.outboxKeep[at] = keep
        }
        if (!this.pumping) {
            const self = this
            async function pump() {
                await self.pumpOutbox()
            }
            pump.start()
        }
    }

    /**
     * Sends queued events one at a time, paced; waiting on each send keeps
     * the only queue ours and bounded (the platform's event worker, which
     * repeats each event three times, is unbounded).
     */
    private async pumpOutbox() {
        if (this.pumping) return
        this.pumping = true
        try {
            while (this.outbox.length > 0) {
                const pkt = this.outbox.shift()
                this.outboxKeep.shift()
                await (ds as any as EventSender)._serverSend(0x100, pkt) // stamps it as an event
                // once, not three times: the VM's ~50 packets/s are shared with
                // the motor commands (BOARD-4); a host that misses an answer asks
                // again under the same seq, and the recorder marks lost events
                await this._send(pkt)
                await ds.sleep(EVENT_GAP_MS)
            }
        } finally {
            this.pumping = false
        }
    }
}
