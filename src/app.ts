// Binds the control core to Jacdac roles. Nothing here decides anything:
// sensor values and input levels go into Supervisor.step(); what it returns
// is forwarded: the motor command to the Motor role from the same step, the
// sample to telemetry, events and answers through the server, the snapshot
// to flash. Nothing here queues per command (FAULT-10): the server's outbox
// is the one bounded queue.
//
// Two adapters feed the same control code (BOARD-2):
// - simulator / bench: roles on the bus (load-cell samples from the
//   WeightScale role, the motor command through one Motor-role writer);
// - hardware (`io.hw`, src/hw/hw_loop.ts): every NAU7802 conversion runs a
//   control step directly (BOARD-4), every control step ends with the motor
//   command applied to the drive (renewing its dead-man lease, FAULT-11),
//   the encoder count comes with its age, the load cell's calibration is
//   cross-checked (FAULT-9), and nothing is written to flash while the drive
//   is enabled.
import * as ds from "@devicescript/core"
import { CAL_GAIN, CAL_TARE, Inputs, State, StepOutput, Supervisor } from "./core"
import { InjectorServer } from "./server"
import { loadSnapshot, saveSnapshot } from "./persist"

/**
 * The hardware control path (src/hw/hw_loop.ts HardwareLoop implements it):
 * samples in, motor commands out, without the bus in between.
 */
export interface HwPath {
    /** set by the app: one control step per load-cell sample */
    onSample: (kg: number, tMs: number) => Promise<void>
    /** the step's motor command, applied to the drive at once (a run command renews the lease) */
    applyMotor(enabled: boolean, speedRatio: number): Promise<void>
    /** latest plunger encoder count */
    encoderCount: number
    encoderPresent(): boolean
    /** age of encoderCount at nowMs, ms */
    encoderAgeMs(nowMs: number): number
    /** the load cell's full scale, kg (a reading at it is saturated, PRS-5) */
    fullScaleKg(): number
    /** FAULT-9: the load cell against the stored calibration; 0 = consistent, 3 = nothing stored, else a fault code */
    calCheck(tareKg: number, gain: number): number
    /** a sentence for a calCheck code */
    calCheckReason(code: number): string
}

/** calCheck codes the app treats as consistent: OK, and "nothing stored" (start is refused anyway, FAULT-6) */
const CALCHECK_OK = 0
const CALCHECK_MISSING = 3
/** calCheck codes for stored values that do not fit the cell (src/hw/calcheck.ts: gain, tare out of range) */
const CALCHECK_GAIN_RANGE = 4
const CALCHECK_TARE_RANGE = 5
/**
 * FAULT-9 / BOARD-3: holding the local confirm button this long, with the
 * drive idle, clears a stored load-cell calibration that does not fit the
 * cell (codes 4, 5): with such a calibration no force reaches the core, so
 * tare and gain could not be redone any other way (docs/hardware.md).
 */
export const CAL_CLEAR_HOLD_MS = 5000
/** FAULT-9: the cross-check runs this often (and at boot and after every command) */
export const CALCHECK_PERIOD_MS = 1000
/**
 * FLOW-2 on hardware: an encoder count is up to one stream period (20 ms,
 * the C sensor framework's floor) old when a step uses it; the stall
 * check's latency allowance grows by the count's age, up to this. (A stream
 * that stops altogether shows up as commanded motion without counts: FLOW-2
 * stall, or an unbound role: FAULT-2.)
 */
export const HW_ENCODER_MAX_AGE_MS = 100

/** The roles the control code talks to; hardware or simulator behind them. */
export interface InjectorIO {
    /** simulator: load-cell samples (unused when `hw` is set) */
    loadCell?: ds.WeightScale
    /** simulator: plunger encoder (unused when `hw` is set) */
    encoder?: ds.RotaryEncoder
    /** simulator: the drive (unused when `hw` is set) */
    motor?: ds.Motor
    estop: ds.Button
    leakPedal: ds.Button
    confirm: ds.Button
    /** hardware: samples, encoder and drive without the bus */
    hw?: HwPath
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
/** A WeightScale without a readable full scale: the board's cell (src/hw/hwconfig.ts), kg. */
const DEFAULT_FULL_SCALE_KG = 200

export class InjectorApp {
    sup: Supervisor
    server: InjectorServer
    io: InjectorIO
    /** the hardware path, or null on the simulator */
    hw: HwPath = null
    /** FAULT-9: last calibration cross-check code (0 ok); non-zero other than MISSING turns samples into NaN */
    calCheckCode = 0
    /** FLOW-2: the configured stall latency allowances, before the encoder age is added */
    private baseStallLagMs = 0
    private baseRetractStallLagMs = 0
    /** hardware: the encoder count's age at the last step, ms */
    encoderAgeMs = 0
    /** when the last control step ran, ms */
    lastStepMs = -1
    /** the local confirm button has been held since this time, ms (-1: not held) */
    confirmHeldSinceMs = -1
    /** FAULT-9: stored calibrations cleared by the confirm hold */
    calCleared = 0
    /** persistence writes held back because the drive was enabled (hardware path) */
    persistDeferred = 0
    /** snapshots written to flash */
    persistWrites = 0
    inp: Inputs = {
        tMs: 0,
        newSample: false,
        loadCellKg: NaN,
        loadCellSaturated: false,
        encoderCount: 0,
        encoderPresent: false,
        estop: false,
        estopPresent: false, // fail-safe until the e-stop input is bound
        pedal: false,
        confirmPressed: false,
    }
    // input levels (FAULT-12): read at bind, kept current by reading reports and edges
    estopDown = false
    estopBound = false
    pedalDown = false
    confirmDown = false
    encoderSeen = false
    /** the load cell's own full scale, kg (its maxReading register); at it the cell is saturated */
    fullScaleKg = DEFAULT_FULL_SCALE_KG
    steps = 0
    samples = 0
    /** diagnostics: longest gap between load-cell samples seen, ms */
    maxSampleGapMs = 0
    /** diagnostics: longest control step (step() call), ms */
    maxStepMs = 0
    private lastSampleMs = 0
    // the latest motor command (copied out of the step output)
    cmdEnabled = false
    cmdSpeed = 0
    // what the motor was last sent
    private sentEnabled = -1 // -1 unknown, 0 off, 1 on
    private sentSpeed = NaN
    private speedSentMs = 0
    private refreshedMs = 0
    pumpingMotor = false
    private stopping = false
    persistDue = false
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
        if (io.hw) {
            this.hw = io.hw
            this.baseStallLagMs = this.sup.cfg.stallLagMs
            this.baseRetractStallLagMs = this.sup.cfg.retractStallLagMs
        }
    }

    /** One control step; the motor command is sent from this step. */
    async step(newSample: boolean, kg: number) {
        const inp = this.inp
        const hw = this.hw
        const t0 = ds.millis()
        inp.tMs = t0
        this.lastStepMs = t0
        inp.newSample = newSample
        // FAULT-9: a load cell that disagrees with its calibration gives no force
        if (newSample && this.calCheckCode !== CALCHECK_OK && this.calCheckCode !== CALCHECK_MISSING) kg = NaN
        if (newSample) {
            if (this.samples > 0 && inp.tMs - this.lastSampleMs > this.maxSampleGapMs)
                this.maxSampleGapMs = inp.tMs - this.lastSampleMs
            this.lastSampleMs = inp.tMs
            inp.loadCellKg = kg
            // PRS-5: the cell's own status: a reading at its full scale is saturated
            inp.loadCellSaturated = kg >= this.fullScaleKg * 0.999
            this.samples++
        }
        if (hw) this.hwEncoder(hw, t0)
        else inp.encoderPresent = this.encoderSeen && this.io.encoder.isBound
        inp.estop = this.estopDown
        inp.estopPresent = this.estopBound
        inp.pedal = this.pedalDown
        inp.confirmPressed = this.confirmDown
        this.confirmDown = false
        this.server.estopActive = inp.estop || !inp.estopPresent
        const out = this.sup.step(inp)
        this.steps++
        if (hw) {
            // BOARD-4 / FAULT-11: the command leaves in this step, every step
            // (each run command renews the drive's lease; a stop disables EN
            // before applyMotor returns). Copied first: a concurrent step may
            // reuse the output object while this one awaits.
            const en = out.motor.enabled
            const sp = out.motor.speedRatio
            this.forward(out)
            await hw.applyMotor(en, sp)
        } else this.forward(out)
        const took = ds.millis() - t0
        if (took > this.maxStepMs) this.maxStepMs = took
    }

    /**
     * FLOW-2 / BOARD-4: the encoder count from the hardware path with its
     * age: the stall check's latency allowance grows by the age (capped).
     */
    private hwEncoder(hw: HwPath, nowMs: number) {
        const ageMs = hw.encoderAgeMs(nowMs)
        this.inp.encoderCount = hw.encoderCount
        this.inp.encoderPresent = hw.encoderPresent()
        this.encoderAgeMs = ageMs
        const extraMs = ageMs > 0 ? Math.min(ageMs, HW_ENCODER_MAX_AGE_MS) : 0
        const cfg = this.sup.cfg
        cfg.stallLagMs = this.baseStallLagMs + extraMs
        cfg.retractStallLagMs = this.baseRetractStallLagMs + extraMs
    }

    /**
     * FAULT-9: cross-checks the load cell against the stored calibration.
     * A bad code is a sensor fault: samples reach the core as NaN (arming is
     * refused as "sensor not ready"; a level in progress stops and faults).
     */
    checkCalibration(): number {
        const hw = this.hw
        if (!hw) return CALCHECK_OK
        const c = this.sup.snapshotCalibration()
        const code = hw.calCheck(c.tareKg, c.gain)
        if (code !== this.calCheckCode) {
            if (code !== CALCHECK_OK && code !== CALCHECK_MISSING)
                console.error(`load cell: ${hw.calCheckReason(code)}; treated as a sensor fault`)
            else if (this.calCheckCode !== CALCHECK_OK && this.calCheckCode !== CALCHECK_MISSING)
                console.log(`load cell: calibration check ${hw.calCheckReason(code)}`)
            this.calCheckCode = code
        }
        return code
    }

    /**
     * FAULT-9 / BOARD-3 (hardware): the stored tare and gain are cleared when
     * they do not fit the cell (cross-check code 4 or 5, not a live fault of
     * the chip), the confirm button has been held for CAL_CLEAR_HOLD_MS, the
     * drive is off and nothing is in progress (idle, ready, completed,
     * aborted). The core's own defaults (tare 0, gain 1) fit the nominal
     * cell, so force flows again, but the calibration is incomplete: arming
     * is refused (NotCalibrated, FAULT-6) until tare and gain are redone.
     * The cleared calibration is written at the next persistence pass.
     * Returns true when it cleared.
     */
    clearMisfitCalibration(nowMs: number): boolean {
        if (!this.hw) return false
        const code = this.calCheckCode
        if (code !== CALCHECK_GAIN_RANGE && code !== CALCHECK_TARE_RANGE) return false
        if (this.confirmHeldSinceMs < 0 || nowMs - this.confirmHeldSinceMs < CAL_CLEAR_HOLD_MS) return false
        const st = this.sup.state
        if (this.cmdEnabled || st === State.Injecting || st === State.Paused || st === State.Fault) return false
        const sup = this.sup
        sup.cell.tareKg = 0
        sup.cell.gain = 1
        sup.calFlags = sup.calFlags & ~(CAL_TARE | CAL_GAIN)
        this.calCleared++
        this.persistDue = true
        console.warn("load cell: stored tare and gain cleared (confirm held); calibrate tare and gain again")
        this.checkCalibration()
        return true
    }

    /** Forwards one step's output: motor, events, answers, telemetry, persistence. */
    private forward(out: StepOutput) {
        this.cmdEnabled = out.motor.enabled
        this.cmdSpeed = out.motor.speedRatio
        // events and answers go to the server's bounded outbox (never waits)
        for (let i = 0; i < out.events.length; ++i) this.server.post(out.events[i])
        for (let i = 0; i < out.answers.length; ++i) this.server.postAnswer(out.answers[i])
        if (out.persist) this.persistDue = true
        // bus sends run in their own fibers: a control step never waits on
        // the bus (the VM sends ~50 packets/s; a step that waited for a send
        // delayed the next samples past the 50 ms stale limit)
        const self = this
        if (this.hw) {
            // the hardware path applies the command in the step itself
        } else if (!out.motor.enabled && this.sentEnabled !== 0 && this.pumpingMotor && !this.stopping) {
            // a stop never waits behind a refresh the pump is sending
            async function st() {
                await self.stopNow()
            }
            st.start()
        }
        if (!this.hw && !this.pumpingMotor) {
            async function pm() {
                await self.pumpMotor()
            }
            pm.start()
        }
        if (this.sampleTelemetry(out) && !this.sendingTel) {
            async function tl() {
                await self.sendTelemetry()
            }
            tl.start()
        }
    }

    private async stopNow() {
        this.stopping = true
        try {
            this.sentEnabled = 0
            await this.io.motor.enabled.write(false)
        } finally {
            this.stopping = false
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
                    // enable only on a speed the latest command allows (same way, no
                    // faster): the writes above took this iteration's command, and a
                    // pause's retraction re-enabling meanwhile once ran the drive
                    // forward at the ramp's last speed for 75 ms (campaign seed
                    // 3133700038); otherwise the next iteration sends the speed first
                    const c = this.cmdSpeed
                    const s = this.sentSpeed
                    if (c === s || (c * s > 0 && Math.abs(s) <= Math.abs(c))) {
                        this.sentEnabled = 1
                        await m.enabled.write(true)
                    }
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
    sampleTelemetry(out: StepOutput): boolean {
        const now = out.sample.tMs
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
        const sm = out.sample
        this.telVals.push(sm.deliveredMl)
        this.telVals.push(sm.pressurePa)
        this.telVals.push(sm.forceN)
        this.telVals.push(sm.flowMlPerMin)
        this.telVals.push(sm.speedRatio)
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

    /** The local confirm button went down: consumed by the next step. */
    async confirmPressed() {
        this.confirmDown = true
        await this.step(false, NaN)
        // FAULT-9: the confirmed command may have been a calibration
        this.checkCalibration()
    }

    async persist() {
        if (!this.persistDue) return
        // hardware: no flash write while the drive is enabled (a write can
        // stall the chip for tens of ms, FAULT-11); persistDue stays set, so
        // the write happens once the drive is off, with the state then
        if (this.hw && this.cmdEnabled) {
            this.persistDeferred++
            return
        }
        this.persistDue = false
        const snap = this.sup.snapshot(ds.millis())
        this.sup.persisted()
        this.persistWrites++
        await saveSnapshot(snap)
        // FAULT-5: a drive held for this write (a start or resume on the board) may go
        this.sup.runWritten(snap.level.state)
    }
}

async function onSample(app: InjectorApp, kg: any) {
    // a malformed sample decodes to something that is not a number
    await app.step(true, typeof kg === "number" ? kg : NaN)
}

/** FAULT-12: a button's level from its reading register (pressure 0..1). */
async function readLevel(b: ds.Button): Promise<boolean> {
    const v = await b.reading.read()
    return typeof v === "number" && v > 0.5
}

function wire(app: InjectorApp) {
    app.server.afterCommand = async () => {
        await app.step(false, NaN)
        // FAULT-9: a calibration command may have changed what the cell must match
        app.checkCalibration()
    }
    if (app.hw) wireHw(app, app.hw)
    else wireBus(app)
    wireButtons(app)
    // watchdog: steps between samples (stale detection, ramps, retraction);
    // on hardware a sample step within the period stands in for it
    let busy = false
    ds.setInterval(async () => {
        if (busy) return
        if (app.hw && app.lastStepMs >= 0 && ds.millis() - app.lastStepMs < WATCHDOG_MS) return
        busy = true
        try {
            await app.step(false, NaN)
        } finally {
            busy = false
        }
    }, WATCHDOG_MS)
    // persistence, off the control path
    ds.setInterval(async () => {
        await app.persist()
    }, 100)
}

/** Hardware: every load-cell sample is a control step (BOARD-4); FAULT-9 check once a second. */
function wireHw(app: InjectorApp, hw: HwPath) {
    app.fullScaleKg = hw.fullScaleKg()
    hw.onSample = async (kg: number, tMs: number) => {
        await onSample(app, kg)
    }
    ds.setInterval(async () => {
        app.checkCalibration()
        app.clearMisfitCalibration(ds.millis())
    }, CALCHECK_PERIOD_MS)
}

/** Simulator: samples and counts from roles on the bus. */
function wireBus(app: InjectorApp) {
    const io = app.io
    io.loadCell.reading.subscribe(async (kg: number) => {
        await onSample(app, kg)
    })
    io.loadCell.binding().subscribe(async (bound: boolean) => {
        if (!bound) return
        // ask for 80 Hz samples; learn the cell's full scale (PRS-5)
        await io.loadCell.streamingInterval.write(12)
        const fs = await io.loadCell.maxReading.read()
        if (typeof fs === "number" && fs > 0) app.fullScaleKg = fs
    })
    io.encoder.reading.subscribe((c: number) => {
        app.inp.encoderCount = c
        app.encoderSeen = true
    })
    io.encoder.binding().subscribe((bound: boolean) => {
        if (!bound) app.encoderSeen = false
    })
}

function wireButtons(app: InjectorApp) {
    const io = app.io
    // FAULT-12: e-stop and pedal by level: read at bind, kept by reports and edges
    io.estop.binding().subscribe(async (bound: boolean) => {
        app.estopBound = bound
        if (bound) app.estopDown = await readLevel(io.estop)
        await app.step(false, NaN)
    })
    io.estop.reading.subscribe(async (v: number) => {
        app.estopDown = v > 0.5
    })
    io.estop.down.subscribe(async () => {
        app.estopDown = true
        await app.step(false, NaN)
    })
    io.estop.up.subscribe(async () => {
        app.estopDown = false
        await app.step(false, NaN)
    })
    io.leakPedal.binding().subscribe(async (bound: boolean) => {
        app.pedalDown = bound ? await readLevel(io.leakPedal) : false
        await app.step(false, NaN)
    })
    io.leakPedal.reading.subscribe(async (v: number) => {
        app.pedalDown = v > 0.5
    })
    io.leakPedal.down.subscribe(async () => {
        app.pedalDown = true
        await app.step(false, NaN)
    })
    io.leakPedal.up.subscribe(async () => {
        app.pedalDown = false
    })
    io.confirm.down.subscribe(async () => {
        app.confirmHeldSinceMs = ds.millis()
        await app.confirmPressed()
    })
    io.confirm.up.subscribe(async () => {
        app.confirmHeldSinceMs = -1
    })
    // no reading subscription for the confirm level: its reports would cost
    // the VM's send budget on the board (the button is a server in the VM).
    // A lost "up" (events are sent three times) could leave a hold standing;
    // the hold only acts on a calibration that already blocks arming.
}

/** Boot: restore persisted state (never lands in injecting), then run. */
export async function runInjector(server: InjectorServer, io?: InjectorIO): Promise<InjectorApp> {
    const app = new InjectorApp(server, io ? io : busIO())
    // FAULT-5: on the board a level stored as injecting ran a segment nothing recorded
    server.sup.restore(ds.millis(), await loadSnapshot(), app.hw ? true : false)
    // FAULT-9: at boot, before the first step
    app.checkCalibration()
    wire(app)
    await app.step(false, NaN)
    return app
}
