// Binds the control core to Jacdac roles. Nothing here decides anything:
// sensor values go into Supervisor.step(), its motor command goes out to
// the Motor role from the same step, events go out through the server.
import * as ds from "@devicescript/core"
import { CoreEvent, Inputs, Op, Source, State, Supervisor } from "./core"
import { InjectorServer } from "./server"
import { loadCalibration, loadLevel, saveCalibration, saveLevel } from "./persist"

/** The roles the control code talks to; hardware or simulator behind them. */
export interface InjectorIO {
    loadCell: ds.WeightScale
    encoder: ds.RotaryEncoder
    motor: ds.Motor
    estop: ds.Button
    leakPedal: ds.Button
    confirm: ds.Button
}

/** Roles bound on the bus by the role manager (simulator / bench). */
export function busIO(): InjectorIO {
    return {
        loadCell: new ds.WeightScale("loadCell"),
        encoder: new ds.RotaryEncoder("encoder"),
        motor: new ds.Motor("motor"),
        estop: new ds.Button("estop"),
        leakPedal: new ds.Button("leakPedal"),
        confirm: new ds.Button("confirm"),
    }
}

/** Watchdog step period: stale-sensor detection and ramps between samples. */
export const WATCHDOG_MS = 10
/** Telemetry sample period while active (50 Hz) and idle (5 Hz). */
export const TEL_ACTIVE_MS = 20
export const TEL_IDLE_MS = 200
/** Samples per telemetry report while active (VM budget ~50 packets/s). */
export const TEL_BATCH = 5
/** Most samples one report can carry: 32-byte header + 20 bytes each <= 236. */
export const TEL_MAX_BATCH = 10
/** Same-direction speed-ups are sent at most this often (bus budget). */
const SPEED_MIN_INTERVAL_MS = 100
/** Motor registers are re-sent this often in case a write was lost. */
const MOTOR_REFRESH_MS = 500

export class InjectorApp {
    sup: Supervisor
    server: InjectorServer
    io: InjectorIO
    inp: Inputs = {
        tMs: 0,
        newSample: false,
        loadCellKg: NaN,
        encoderCount: 0,
        encoderPresent: false,
        estop: false,
        estopPresent: false, // fail-safe until the e-stop input is bound
    }
    estopDown = false
    estopBound = false
    encoderSeen = false
    steps = 0
    samples = 0
    /** diagnostics: longest gap between load-cell samples seen, ms */
    maxSampleGapMs = 0
    private lastSampleMs = 0
    // the latest motor command (copied out of the supervisor)
    cmdEnabled = false
    cmdSpeed = 0
    // what the motor was last sent
    private sentEnabled = -1 // -1 unknown, 0 off, 1 on
    private sentSpeed = NaN
    private speedSentMs = 0
    private refreshedMs = 0
    pumpingMotor = false
    // telemetry batch
    private telN = 0
    private telT0 = 0
    private telVals: number[] = []
    private telLastMs = 0
    private sendingTel = false
    private telPeriod = TEL_ACTIVE_MS
    /** telemetry samples dropped because the bus was backed up */
    telDropped = 0

    constructor(server: InjectorServer, io: InjectorIO) {
        this.server = server
        this.sup = server.sup
        this.io = io
    }

    /** One control step; the motor command is sent from this step. */
    async step(newSample: boolean, kg: number) {
        const inp = this.inp
        inp.tMs = ds.millis()
        inp.newSample = newSample
        if (newSample) {
            if (this.samples > 0 && inp.tMs - this.lastSampleMs > this.maxSampleGapMs)
                this.maxSampleGapMs = inp.tMs - this.lastSampleMs
            this.lastSampleMs = inp.tMs
            inp.loadCellKg = kg
            this.samples++
        }
        inp.encoderPresent = this.encoderSeen && this.io.encoder.isBound
        inp.estop = this.estopDown
        inp.estopPresent = this.estopBound
        this.server.estopActive = inp.estop || !inp.estopPresent
        const cmd = this.sup.step(inp)
        this.steps++
        this.cmdEnabled = cmd.enabled
        this.cmdSpeed = cmd.speedRatio
        // events and answers go to the server's bounded outbox (never waits)
        const evs = this.sup.drainEvents()
        for (let i = 0; i < evs.length; ++i) this.server.post(evs[i])
        const ans = this.sup.drainAnswers()
        for (let i = 0; i < ans.length; ++i) this.server.postAnswer(ans[i])
        // bus sends run in their own fibers: a control step never waits on
        // the bus (the VM sends ~50 packets/s; a step that waited for a send
        // delayed the next samples past the 50 ms stale limit)
        const self = this
        if (!this.pumpingMotor) {
            async function pm() {
                await self.pumpMotor()
            }
            pm.start()
        }
        if (this.sampleTelemetry() && !this.sendingTel) {
            async function tl() {
                await self.sendTelemetry()
            }
            tl.start()
        }
    }

    /**
     * The single writer of the Motor role. Concurrent steps only update the
     * latest command; this loop sends it, disable first, until the motor has
     * been told the latest. Stops and reversals go at once; same-direction
     * speed-ups (ramps, trim) at most every 100 ms to save bus budget.
     */
    private async pumpMotor() {
        if (this.pumpingMotor) return
        this.pumpingMotor = true
        try {
            const m = this.io.motor
            for (let guard = 0; guard < 8; ++guard) {
                const now = ds.millis()
                const en = this.cmdEnabled
                const sp = this.cmdSpeed
                const refresh = now - this.refreshedMs >= MOTOR_REFRESH_MS
                if (refresh) this.refreshedMs = now
                let wrote = false
                if (!en && (this.sentEnabled !== 0 || refresh)) {
                    this.sentEnabled = 0
                    await m.enabled.write(false)
                    wrote = true
                }
                const urgent = sp === 0 || this.sentSpeed !== this.sentSpeed || sp * this.sentSpeed <= 0 || sp < this.sentSpeed
                if (sp !== this.sentSpeed && (urgent || now - this.speedSentMs >= SPEED_MIN_INTERVAL_MS)) {
                    this.sentSpeed = sp
                    this.speedSentMs = now
                    await m.speed.write(sp)
                    wrote = true
                } else if (refresh) {
                    await m.speed.write(this.sentSpeed === this.sentSpeed ? this.sentSpeed : 0)
                }
                if (en && this.cmdEnabled && (this.sentEnabled !== 1 || refresh)) {
                    this.sentEnabled = 1
                    await m.enabled.write(true)
                    wrote = true
                }
                if (!wrote) break
            }
        } finally {
            this.pumpingMotor = false
        }
    }

    /**
     * Takes a telemetry sample when one is due (every control step checks,
     * so sampling keeps its rate even when the watchdog timer lags). Returns
     * true when a batch is ready to send (TEL-2).
     */
    sampleTelemetry(): boolean {
        const now = ds.millis()
        const s = this.sup.state
        const active = s === State.Injecting || s === State.Paused || this.cmdEnabled
        const period = active ? TEL_ACTIVE_MS : TEL_IDLE_MS
        if (now - this.telLastMs < period) return false
        // keep the sample grid: advance by whole periods, not to "now"
        this.telLastMs = now - this.telLastMs < 2 * period ? this.telLastMs + period : now
        if (this.telN >= TEL_MAX_BATCH) {
            // the bus is backed up: drop the oldest sample rather than
            // overflow the 236-byte payload
            this.telVals = this.telVals.slice(5)
            this.telN--
            this.telT0 += this.telPeriod
            this.telDropped++
        }
        if (this.telN === 0) {
            this.telT0 = now
            this.telPeriod = period
        }
        this.telVals.push(this.sup.deliveredMl())
        this.telVals.push(this.sup.pressurePa)
        this.telVals.push(this.sup.forceN)
        this.telVals.push(this.sup.measuredFlowMlPerMin)
        this.telVals.push(this.cmdSpeed)
        this.telN++
        return this.telN >= (active ? TEL_BATCH : 1)
    }

    /** Sends the collected batch; runs in its own fiber, never inside a step. */
    async sendTelemetry() {
        if (this.sendingTel || this.telN === 0) return
        const vals = this.telVals
        const t0 = this.telT0
        const period = this.telPeriod
        this.telVals = []
        this.telN = 0
        this.sendingTel = true
        try {
            await this.server.sendTelemetry(t0, period, vals)
        } finally {
            this.sendingTel = false
        }
    }

    /** A local input (leak pedal). */
    async local(op: Op) {
        this.sup.command(ds.millis(), { op }, Source.Local)
        await this.step(false, NaN)
    }

    /** The local confirm button; on a latched fault with nothing pending it is the local reset. */
    async confirmPressed() {
        const now = ds.millis()
        if (this.sup.pendingOp() === 0 && this.sup.state === State.Fault)
            this.sup.command(now, { op: Op.ClearFault }, Source.Local)
        else this.sup.confirmPressed(now)
        await this.step(false, NaN)
    }
}

async function onSample(app: InjectorApp, kg: any) {
    // a malformed sample decodes to something that is not a number
    await app.step(true, typeof kg === "number" ? kg : NaN)
}

function wire(app: InjectorApp) {
    const io = app.io
    app.server.afterCommand = async () => {
        await app.step(false, NaN)
    }
    io.loadCell.reading.subscribe(async (kg: number) => {
        await onSample(app, kg)
    })
    io.loadCell.binding().subscribe(async (bound: boolean) => {
        // ask for 80 Hz samples
        if (bound) await io.loadCell.streamingInterval.write(12)
    })
    io.encoder.reading.subscribe((c: number) => {
        app.inp.encoderCount = c
        app.encoderSeen = true
    })
    io.encoder.binding().subscribe((bound: boolean) => {
        if (!bound) app.encoderSeen = false
    })
    io.estop.binding().subscribe(async (bound: boolean) => {
        app.estopBound = bound
        await app.step(false, NaN)
    })
    io.estop.down.subscribe(async () => {
        app.estopDown = true
        await app.step(false, NaN)
    })
    io.estop.up.subscribe(async () => {
        app.estopDown = false
        await app.step(false, NaN)
    })
    io.leakPedal.down.subscribe(async () => {
        await app.local(Op.LeakSeen)
    })
    io.confirm.down.subscribe(async () => {
        await app.confirmPressed()
    })
    // watchdog: steps between samples (stale detection, ramps, retraction)
    let busy = false
    ds.setInterval(async () => {
        if (busy) return
        busy = true
        try {
            await app.step(false, NaN)
        } finally {
            busy = false
        }
    }, WATCHDOG_MS)
    // persistence, off the control path
    ds.setInterval(async () => {
        const sup = app.sup
        if (!sup.persistDue) return
        sup.persisted()
        await saveLevel(sup.snapshotLevel())
        await saveCalibration(sup.snapshotCalibration())
    }, 100)
}

/** Boot: restore persisted state (never lands in injecting), then run. */
export async function runInjector(server: InjectorServer, io?: InjectorIO): Promise<InjectorApp> {
    const app = new InjectorApp(server, io ? io : busIO())
    const cal = await loadCalibration()
    const lvl = await loadLevel()
    server.sup.restore(ds.millis(), cal, lvl)
    wire(app)
    await app.step(false, NaN)
    return app
}
