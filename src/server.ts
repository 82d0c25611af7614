// The Cement Injector Jacdac server (TEL-1): registers read the supervisor,
// commands go to the supervisor as host commands, and the app pushes
// telemetry reports and events through it. No safety logic lives here.
import * as ds from "@devicescript/core"
import { Server } from "@devicescript/server"
import { Answer, CoreEvent, EventKind, LevelRecord, Op, Source, Supervisor, CAL_ALL } from "./core"

/**
 * Command handlers get the decoded payload as one value: an array for
 * multi-field commands, the bare value for one field. Anything that is not
 * a number becomes NaN, which the supervisor rejects (FAULT-6).
 */
function arg(args: any, i: number): number {
    const v = Array.isArray(args) ? args[i] : i === 0 ? args : undefined
    return typeof v === "number" ? v : NaN
}

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

    // ---- commands: every one goes through the supervisor's validation
    private async run(op: Op, a?: number, b?: number) {
        this.sup.command(ds.millis(), { op, a, b }, Source.Host)
        if (this.afterCommand) await this.afterCommand()
    }
    async arm() {
        await this.run(Op.Arm)
    }
    async start() {
        await this.run(Op.Start)
    }
    async pause() {
        await this.run(Op.Pause)
    }
    async leakSeen() {
        await this.run(Op.LeakSeen)
    }
    async resume() {
        await this.run(Op.Resume)
    }
    async abort() {
        await this.run(Op.Abort)
    }
    async finish() {
        await this.run(Op.Finish)
    }
    async setLevel(args: any) {
        const level = arg(args, 0)
        await this.run(Op.SetLevel, level)
    }
    async setCap(args: any) {
        await this.run(Op.SetCap, arg(args, 0), arg(args, 1))
    }
    async setFlow(args: any) {
        const flow = arg(args, 0)
        await this.run(Op.SetFlow, flow)
    }
    async setSyringe(args: any) {
        const syringe = arg(args, 0)
        await this.run(Op.SetSyringe, syringe)
    }
    async markMixing(args: any) {
        const cement = arg(args, 0)
        await this.run(Op.MarkMixing, cement)
    }
    async tare() {
        await this.run(Op.Tare)
    }
    async calibrateGain(args: any) {
        const mass = arg(args, 0)
        await this.run(Op.CalibrateGain, mass)
    }
    async calibrateVolume(args: any) {
        await this.run(Op.CalibrateVolume, arg(args, 0), arg(args, 1))
    }
    async clearFault() {
        await this.run(Op.ClearFault)
    }
    async heartbeat() {
        await this.run(Op.Heartbeat)
    }
    async setRemoteMode(args: any) {
        const on = arg(args, 0)
        await this.run(Op.SetRemoteMode, on)
    }
    async setBenchMode(args: any) {
        const on = arg(args, 0)
        await this.run(Op.SetBenchMode, on)
    }
    async setThreshold(args: any) {
        await this.run(Op.SetThreshold, arg(args, 1), arg(args, 0))
    }
    async overrideLeakLimit() {
        await this.run(Op.OverrideLeakLimit)
    }
    async disarm() {
        await this.run(Op.Disarm)
    }
    async calibrationDrive(args: any) {
        await this.run(Op.CalibrationDrive, arg(args, 0))
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
     * A deferred answer (a pending command executed, rejected, expired or
     * cancelled). Until the command contract lands, a rejection at confirm
     * time goes out as a `rejected` event; the rest are already visible as
     * transitions and info events.
     */
    async publishAnswer(a: Answer) {
        if (a.outcome === 2) {
            this.lastRejectCode = (a.op & 0xff) | ((a.reject & 0xff) << 8)
            await this.sendEvent(this.evRejected.encode([a.op & 0xff, a.reject]))
        }
    }

    async publish(e: CoreEvent) {
        switch (e.kind) {
            case EventKind.Transition:
                await this.sendEvent(this.evTransition.encode([e.a, e.b, e.reason]))
                break
            case EventKind.Alarm:
                await this.sendEvent(this.evAlarm.encode([e.reason, e.a]))
                break
            case EventKind.Rejected:
                this.lastRejectCode = (e.a & 0xff) | ((e.b & 0xff) << 8)
                await this.sendEvent(this.evRejected.encode([e.a & 0xff, e.b]))
                break
            case EventKind.ConfirmRequired:
                await this.sendEvent(this.evConfirm.encode(e.a & 0xff))
                break
            case EventKind.Info:
                await this.sendEvent(this.evInfo.encode([e.a, e.reason]))
                break
            case EventKind.LevelRecord: {
                const r: LevelRecord = this.sup.lastRecord()
                if (r)
                    await this.sendEvent(
                        this.evRecord.encode([
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
                    )
                break
            }
        }
    }
}
