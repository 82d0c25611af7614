// The physics model (sim/model InjectorRig) stepped in real time against the
// firmware VM (which runs in real time too). The plant advances in ≤ 1 ms
// chunks on a 1 ms timer and, whenever a Motor write arrives, first catches
// up to "now" with the old drive input and then applies the new one.
// Every load-cell sample the model produces (80 Hz grid) goes on the bus as
// one encoder report followed by one WeightScale reading report, so the
// firmware steps once per sample with a fresh encoder count.
import { DriveInput, InjectorRig, PlantState, RigConfig } from "../model"
import { BenchDevice } from "./servers"

/** Motor speed ratio 1.0 = this plunger speed (src/core/geometry.ts DRIVE_MAX_PLUNGER_MM_PER_S). */
export const DRIVE_MM_PER_S_AT_FULL = 10
const G = 9.80665
const CHUNK_S = 0.001

export interface TraceRow {
    tS: number
    posMm: number
    velMmPerS: number
    enabled: boolean
    speedCmdMmPerS: number
    chamberPa: number
    bodyPa: number
    trueForceN: number
    /** what went on the bus (N before the WeightScale kg conversion); NaN = malformed, undefined = not sent */
    sentForceN: number | null
    encoder: number
    injectedMl: number
    leakedMl: number
    displacementMl: number
    viscosityPaS: number
    /** send delay of this sample behind its model instant, ms */
    lateMs: number
}

export interface MotionChange {
    tS: number
    forward: boolean
}

/** Dense plant history (one point per ≤ 1 ms chunk) for the stop analysis. */
export class PlantSeries {
    t: number[] = []
    injected: number[] = []
    leaked: number[] = []
    disp: number[] = []
    /** plunger volume pushed across syringes (disp + the exchanged syringes' furthest travel, FLOW-5), mL */
    pushed: number[] = []
    pc: number[] = []
    vel: number[] = []
    occl: number[] = []
    push(s: PlantState) {
        this.t.push(s.tS)
        this.injected.push(s.injectedMl)
        this.leaked.push(s.leakedMl)
        this.disp.push(s.plungerVolumeMl)
        this.pushed.push(s.plungerVolumeMl + s.exchangedMl)
        this.pc.push(s.chamberPressurePa)
        this.vel.push(s.enabled ? s.plungerVelMmPerS : 0)
        this.occl.push(s.needleOcclusionFactor)
    }
    /** index of the first point with t >= tS (length when none) */
    indexAt(tS: number): number {
        let lo = 0
        let hi = this.t.length
        while (lo < hi) {
            const m = (lo + hi) >> 1
            if (this.t[m] < tS) lo = m + 1
            else hi = m
        }
        return lo
    }
    valueAt(arr: number[], tS: number): number {
        if (!this.t.length) return NaN
        const i = Math.min(this.indexAt(tS), this.t.length - 1)
        return arr[i]
    }
}

export class RealtimePlant {
    rig: InjectorRig
    /** performance.now() at rig time 0 */
    t0Wall = 0
    input: DriveInput = { enabled: false, speedCmdMmPerS: 0 }
    series = new PlantSeries()
    motion: MotionChange[] = []
    trace: TraceRow[] = []
    keepTrace = true
    /** extra force on the load cell (a calibration mass), N */
    private massN = 0
    private baseOffsetN: number
    private timer: NodeJS.Timeout | undefined
    private eventTimer: NodeJS.Timeout | undefined
    /** event-driven: one timer per load-cell sample instant instead of a 1 ms poll (lockstep) */
    private eventDriven = false
    private forward = false
    /** the load cell is the model's; the bench also drops samples when this is set */
    loadCellMalformed = false
    samplesPushed = 0
    maxLateMs = 0
    /** called after each pushed sample */
    onSample: (row: TraceRow) => void = () => {}

    constructor(
        readonly device: BenchDevice,
        config: RigConfig
    ) {
        this.rig = new InjectorRig(config)
        this.baseOffsetN = this.rig.loadCell.offsetN
        this.t0Wall = performance.now()
        device.motor.onChange = (enabled, speed) => this.onMotor(enabled, speed)
    }

    /** Replace the model (scenario start): its time 0 is now. */
    setRig(config: RigConfig) {
        this.advanceToNow()
        this.rig = new InjectorRig(config)
        this.baseOffsetN = this.rig.loadCell.offsetN
        this.massN = 0
        this.t0Wall = performance.now()
        this.series = new PlantSeries()
        this.motion = []
        this.trace = []
        this.forward = false
        this.maxLateMs = 0
        this.samplesPushed = 0
        const m = this.device.motor.state()
        this.input = { enabled: m.enabled, speedCmdMmPerS: m.speed * DRIVE_MM_PER_S_AT_FULL }
        if (this.eventDriven) this.armSampleTimer()
    }

    nowS(): number {
        return (performance.now() - this.t0Wall) / 1000
    }

    state(): PlantState {
        return this.rig.state()
    }

    /**
     * Real time: advance on a 1 ms timer. Event-driven (lockstep, virtual
     * time): wake only at each load-cell sample instant; nothing needs the
     * plant in between (motor writes, faults and masses call advanceToNow()
     * first, and advanceToNow() steps in <= 1 ms chunks either way).
     */
    start(mode: "poll" | "event" = "poll") {
        if (this.timer || this.eventTimer) return
        this.eventDriven = mode === "event"
        if (this.eventDriven) this.armSampleTimer()
        else this.timer = setInterval(() => this.advanceToNow(), 1)
    }

    stop() {
        if (this.timer) clearInterval(this.timer)
        if (this.eventTimer) clearTimeout(this.eventTimer)
        this.timer = undefined
        this.eventTimer = undefined
    }

    private armSampleTimer() {
        if (this.eventTimer) clearTimeout(this.eventTimer)
        const dueMs = this.t0Wall + this.rig.loadCell.nextSampleTS() * 1000
        this.eventTimer = setTimeout(() => {
            this.eventTimer = undefined
            this.advanceToNow()
            this.armSampleTimer()
        }, Math.max(1, Math.ceil(dueMs - performance.now() - 1e-9)))
    }

    /** Put a known mass on the load cell (calibration), or take it off (0). */
    placeMass(kg: number) {
        this.advanceToNow()
        this.massN = kg * G
        this.rig.loadCell.offsetN = this.baseOffsetN + this.massN
    }

    onMotor(enabled: boolean, speedRatio: number) {
        this.advanceToNow()
        this.input = { enabled, speedCmdMmPerS: speedRatio * DRIVE_MM_PER_S_AT_FULL }
        this.noteMotion()
    }

    private noteMotion() {
        const s = this.rig.plant
        const st = { enabled: this.input.enabled }
        // forward = enabled and the plunger advancing (or commanded to, from rest)
        const vel = st.enabled ? s.state().plungerVelMmPerS : 0
        const fwd = st.enabled && (vel > 1e-6 || (vel >= 0 && this.input.speedCmdMmPerS > 0))
        if (fwd !== this.forward) {
            this.forward = fwd
            this.motion.push({ tS: s.timeS(), forward: fwd })
        }
    }

    advanceToNow() {
        const target = this.nowS()
        const plant = this.rig.plant
        while (plant.timeS() < target - 1e-9) {
            const dt = Math.min(CHUNK_S, target - plant.timeS())
            const grid0 = this.rig.loadCell.nextSampleTS()
            const r = this.rig.step(dt, this.input)
            const st = plant.state()
            this.series.push(st)
            this.noteMotion()
            for (const smp of r.loadCellSamples) this.pushSample(smp.tS, smp.forceN, r.encoderCounts, st)
            // a stale load cell sends nothing, but the encoder keeps its own cadence
            if (!r.loadCellSamples.length && this.rig.loadCell.nextSampleTS() !== grid0) void this.device.encoder.push(r.encoderCounts)
        }
    }

    private pushSample(tS: number, forceN: number, counts: number, st: PlantState) {
        const lateMs = (performance.now() - this.t0Wall) - tS * 1000
        if (lateMs > this.maxLateMs) this.maxLateMs = lateMs
        void this.device.encoder.push(counts)
        let sent: number | null = forceN
        if (this.loadCellMalformed || !Number.isFinite(forceN)) {
            sent = NaN
            void this.device.loadCell.pushMalformed()
        } else void this.device.loadCell.push(forceN / G)
        this.samplesPushed++
        const row: TraceRow = {
            tS,
            posMm: st.plungerPosMm,
            velMmPerS: st.plungerVelMmPerS,
            enabled: st.enabled,
            speedCmdMmPerS: this.input.speedCmdMmPerS,
            chamberPa: st.chamberPressurePa,
            bodyPa: st.bodyPressurePa,
            trueForceN: st.forceN,
            sentForceN: sent,
            encoder: counts,
            injectedMl: st.injectedMl,
            leakedMl: st.leakedMl,
            displacementMl: st.plungerVolumeMl,
            viscosityPaS: st.viscosityPaS,
            lateMs,
        }
        if (this.keepTrace) this.trace.push(row)
        this.onSample(row)
    }
}
