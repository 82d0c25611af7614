import * as ds from "@devicescript/core"
// A test rig for the control core: the supervisor stepped at the load-cell
// rate against a small lumped plant (plunger -> compliant chamber -> needle
// resistance), so unit tests can assert figures such as overshoot in mL.
// The bench simulator (sim/) has the full physics; this is deliberately
// simple and cheap enough for the VM under --test GC stress.

import {
    Answer,
    CoreEvent,
    Inputs,
    DRIVE_MAX_PLUNGER_MM_PER_S,
    ENCODER_COUNTS_PER_MM,
    EventKind,
    G_MPS2,
    geometricMlPerCount,
    levelIndex,
    MotorCommand,
    Op,
    plungerAreaMm2,
    Reason,
    Source,
    State,
    Supervisor,
    SYRINGES,
} from "../../src/core"

export const SAMPLE_MS = 12.5

export class Plant {
    boreMm = 19.1
    posMm = 0
    /** plunger speed actually achieved = commanded x this (1 = no slip) */
    slip = 1
    stuck = false
    /** chamber pressure, Pa */
    pressurePa = 0
    /** needle + body resistance, Pa per mL/s: 1.5 MPa at 3 mL/min */
    resistance = 30e6
    /** compliance, mL per Pa (0.02 mL/MPa) */
    complianceMlPerPa = 2e-8
    frictionN = 5
    injectedMl = 0
    velMmPerS = 0
    /** FLOW-5: the syringe's end stop, plunger position mm (the plunger cannot pass it) */
    endMm = Infinity
    /** the plunger sat on the end stop at some step */
    hitEnd = false
    /** deterministic noise on the force, N (amplitude of a uniform +/-) */
    noiseN = 0
    private s1 = 12345
    private s2 = 2345
    private s3 = 345

    areaMm2(): number {
        return plungerAreaMm2(this.boreMm)
    }

    rand(): number {
        // Wichmann-Hill, deterministic: every product stays below 2^31. The VM
        // multiplies integers in 32 bits and wraps (an LCG with a larger
        // product gave values outside [0, 1) there)
        this.s1 = (171 * this.s1) % 30269
        this.s2 = (172 * this.s2) % 30307
        this.s3 = (170 * this.s3) % 30323
        const u = this.s1 / 30269 + this.s2 / 30307 + this.s3 / 30323
        return u - Math.floor(u)
    }

    advance(dtMs: number, cmd: MotorCommand) {
        const dtS = dtMs / 1000
        let v = 0
        if (cmd.enabled && !this.stuck) v = cmd.speedRatio * DRIVE_MAX_PLUNGER_MM_PER_S * this.slip
        if (v > 0 && this.posMm + v * dtS > this.endMm) {
            v = Math.max(0, (this.endMm - this.posMm) / dtS)
            this.hitEnd = true
        }
        this.velMmPerS = v
        this.posMm += v * dtS
        const qInMlPerS = (v * this.areaMm2()) / 1000
        // explicit update in 4 sub-steps (tau ~ 0.6 s, so stable)
        const n = 4
        const h = dtS / n
        for (let i = 0; i < n; ++i) {
            const qOut = this.pressurePa > 0 ? this.pressurePa / this.resistance : 0
            this.pressurePa += ((qInMlPerS - qOut) * h) / this.complianceMlPerPa
            if (this.pressurePa < 0) this.pressurePa = 0
            this.injectedMl += qOut * h
        }
    }

    /**
     * FLOW-5: the empty syringe is taken off and a new one with `fillMl` fitted:
     * the pusher is pulled back by hand `backMm` (the drive disabled), the new
     * syringe's chamber starts unpressurised, its end stop `fillMl` further on.
     */
    exchange(fillMl: number, backMm: number) {
        this.posMm -= backMm
        this.pressurePa = 0
        this.endMm = this.posMm + (fillMl * 1000) / this.areaMm2()
    }

    forceN(): number {
        const dir = this.velMmPerS > 0 ? 1 : this.velMmPerS < 0 ? -1 : 0
        const f = (this.pressurePa * this.areaMm2()) / 1e6 + dir * this.frictionN
        return f + (this.noiseN !== 0 ? (this.rand() * 2 - 1) * this.noiseN : 0)
    }

    counts(): number {
        return Math.floor(this.posMm * ENCODER_COUNTS_PER_MM)
    }
}

export class Rig {
    sup = new Supervisor()
    plant = new Plant()
    tMs = 1000
    estop = false
    estopPresent = true
    encoderPresent = true
    /** the leak pedal held down (level) */
    pedal = false
    /** the local confirm button goes down before the next step */
    confirmNext = false
    /** the load cell reports its own saturation */
    saturated = false
    /** load-cell override: NaN or a fixed kg value replaces the plant's force */
    kgOverride: number = undefined
    /** count override for encoder-jump tests */
    countOffset = 0
    sampling = true
    last: MotorCommand = { enabled: false, speedRatio: 0, flowMlPerMin: 0 }
    events: CoreEvent[] = []
    /** deferred answers the steps returned */
    answers: Answer[] = []
    steps = 0

    /** a mass resting on the cell (a calibration weight), kg: adds to the plant's noisy force */
    massKg = 0
    /** the force the last step's telemetry sample reported, N */
    sampleForceN = NaN

    kg(): number {
        if (this.kgOverride !== undefined) return this.kgOverride
        return this.plant.forceN() / G_MPS2 + this.massKg
    }

    private inp: Inputs = {
        tMs: 0,
        newSample: false,
        loadCellKg: 0,
        loadCellSaturated: false,
        encoderCount: 0,
        encoderPresent: true,
        estop: false,
        estopPresent: true,
        pedal: false,
        confirmPressed: false,
    }

    /** One control step with (or without) a new load-cell sample. */
    step(newSample: boolean = true): MotorCommand {
        // one inputs object, reused: every allocation costs a GC under the VM's --test stress
        const i = this.inp
        i.tMs = this.tMs
        i.newSample = newSample && this.sampling
        i.loadCellKg = this.kg()
        i.loadCellSaturated = this.saturated
        i.encoderCount = this.plant.counts() + this.countOffset
        i.encoderPresent = this.encoderPresent
        i.estop = this.estop
        i.estopPresent = this.estopPresent
        i.pedal = this.pedal
        i.confirmPressed = this.confirmNext
        const out = this.sup.step(i)
        this.confirmNext = false
        this.steps++
        this.sampleForceN = out.sample.forceN
        const m = out.motor
        this.last = { enabled: m.enabled, speedRatio: m.speedRatio, flowMlPerMin: m.flowMlPerMin }
        for (let i = 0; i < out.events.length; ++i) this.events.push(out.events[i])
        for (let i = 0; i < out.answers.length; ++i) this.answers.push(out.answers[i])
        // keep test memory bounded on long runs
        if (this.events.length > 400) this.events = this.events.slice(200)
        if (this.answers.length > 100) this.answers = this.answers.slice(50)
        return this.last
    }

    /** Advance the plant by one sample period under the last command, then step. */
    tick(): MotorCommand {
        this.plant.advance(SAMPLE_MS, this.last)
        this.tMs += SAMPLE_MS
        return this.step(true)
    }

    /** The answers the steps returned since the last call (and any not yet stepped out). */
    takeAnswers(): Answer[] {
        const a = this.answers
        const more = this.sup.drainAnswers()
        for (let i = 0; i < more.length; ++i) a.push(more[i])
        this.answers = []
        return a
    }

    /** Presses the local confirm button (it reaches the core with the next step). */
    confirm(): Answer {
        return this.sup.confirmButton(this.tMs)
    }

    /** Runs for ms, or until pred() is true; yields to the VM every 5 ticks (a step costs ~10-20 k VM instructions). */
    async run(ms: number, pred?: () => boolean): Promise<boolean> {
        const end = this.tMs + ms
        let n = 0
        while (this.tMs < end) {
            this.tick()
            if (pred && pred()) return true
            if (++n % 5 === 0) await sleepTick()
        }
        return false
    }

    cmd(op: Op, a?: number, b?: number, src: Source = Source.Local, id?: number): Answer {
        const r = this.sup.command(this.tMs, { op, a, b, id }, src)
        // a command takes effect at once: step again so the motor hears it now
        this.step(false)
        return r
    }

    /** Calibrate (tare, 1 kg gain, geometric volume), set level, mix `cementMl`, arm. */
    prepare(level: string = "C2", flow: number = 3, cementMl: number = 10) {
        const s = this.sup
        this.step(true)
        this.cmd(Op.Tare)
        this.kgOverride = 1
        this.step(true)
        this.cmd(Op.CalibrateGain, 1)
        this.kgOverride = undefined
        const mlpc = geometricMlPerCount(SYRINGES[s.syringe].boreMm)
        this.cmd(Op.CalibrateVolume, 12000, Math.round(12000 * mlpc * 1000 * 1000) / 1000)
        this.cmd(Op.SetLevel, levelIndex(level))
        this.cmd(Op.SetFlow, flow)
        this.cmd(Op.MarkMixing, cementMl, 150) // mixed 150 s ago: past its dough time
        this.step(true)
        this.cmd(Op.Arm)
    }

    async startInjecting(level: string = "C2", flow: number = 3, cementMl: number = 10) {
        await sleepTick() // the VM panics past ~128 k instructions without a yield
        this.prepare(level, flow, cementMl)
        await sleepTick()
        this.cmd(Op.Start)
        if (this.sup.state !== State.Injecting) throw new Error(`start failed, state ${this.sup.state}`)
    }

    plungerMl(): number {
        return (this.plant.posMm * this.plant.areaMm2()) / 1000
    }

    countEvents(kind: EventKind, reason: Reason): number {
        let n = 0
        for (let i = 0; i < this.events.length; ++i)
            if (this.events[i].kind === kind && this.events[i].reason === reason) n++
        return n
    }

    rejected(): number {
        for (let i = this.events.length - 1; i >= 0; --i)
            if (this.events[i].kind === EventKind.Rejected) return this.events[i].b
        return 0
    }
}

export async function sleepTick() {
    await ds.sleep(0)
}
