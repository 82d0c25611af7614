/**
 * The hardware control path on the bench (lockstep "hardware" timing model,
 * sim/lockstep/hwpins.ts): the same app path and the same StepperDrive as
 * src/main_hw.ts, with the drivers' ends replaced so the lockstep plant can
 * feed them and see them:
 *
 * - load-cell samples: the bench's WeightScale (the plant's load cell, 80/s)
 *   arrives *into* the VM, where nothing is throttled; each report runs one
 *   control step at once, as an NAU7802 conversion does on the board
 *   (HardwareLoop). The VM's ~50 packets/s send budget is never on this path;
 * - pins: EN, DIR and the STEP square wave (the PWM tone with its duration,
 *   i.e. the lease) are written as "#HW ..." console lines, which the
 *   lockstep VM hands to Node synchronously, at the virtual instant the
 *   firmware writes them, without a Jacdac packet. The bench turns them into
 *   the plant's drive input and stops the pulses itself when a tone's
 *   duration runs out (the C side of the lease, FAULT-11);
 * - "#HW cmd" marks every motor command applied by a control step, "#HW smp"
 *   every sample reaching the control step (the bench measures from them).
 *
 * Not on the board: this file is only imported by src/main_hwsim.ts.
 */
import * as ds from "@devicescript/core"
import { HwPath } from "../app"
import { DigitalOutput, StepPulseOutput, StepperDrive } from "./stepper"

/** line prefix the lockstep session intercepts (sim/lockstep/hwpins.ts) */
export const BENCH_PIN_PREFIX = "#HW"

/** EN or DIR written as a console line */
export class BenchPinOutput implements DigitalOutput {
    constructor(readonly name: string) {}
    write(level: number) {
        console.log(`${BENCH_PIN_PREFIX} ${this.name} ${level !== 0 ? 1 : 0}`)
    }
}

/** STEP pulses as console lines: a period and how long it plays (the lease) */
export class BenchStepPulses implements StepPulseOutput {
    ready() {
        return true
    }
    async play(periodUs: number, leaseMs: number) {
        const p = Math.constrain(Math.round(periodUs), 2, 65535)
        const d = Math.constrain(Math.round(leaseMs), 1, 65535)
        console.log(`${BENCH_PIN_PREFIX} play ${p} ${d}`)
    }
    async stop() {
        console.log(`${BENCH_PIN_PREFIX} stop`)
    }
}

/**
 * Full scale of the bench's load cell, kg (sim/harness/servers.ts: 2000 N):
 * the app reads fullScaleKg() once at boot, before the role binds
 */
const BENCH_FULL_SCALE_KG = 2000 / 9.80665

/**
 * HwPath over the bench: samples from the bench's load cell run the control
 * step directly; the motor command goes to the StepperDrive at once.
 */
export class BenchHwLoop implements HwPath {
    onSample: (kg: number, tMs: number) => Promise<void> = null
    encoderCount = 0
    encoderSeen = false
    encoderAtMs = 0
    fullScale = BENCH_FULL_SCALE_KG
    samples = 0

    constructor(
        readonly loadCell: ds.WeightScale,
        readonly encoder: ds.RotaryEncoder,
        readonly drive: StepperDrive,
        encoderStreamingMs: number
    ) {
        const self = this
        loadCell.reading.subscribe(async (kg: number) => {
            self.samples++
            console.log(`${BENCH_PIN_PREFIX} smp`)
            if (!self.onSample) return
            try {
                await self.onSample(typeof kg === "number" ? kg : NaN, ds.millis())
            } catch (e: any) {
                console.error(`control step failed: ${e.message}`)
                await self.drive.hardStop()
            }
        })
        loadCell.binding().subscribe(async (bound: boolean) => {
            if (!bound) return
            // the plant's converter rate (80/s); its full scale (PRS-5)
            await loadCell.streamingInterval.write(12)
            const fs = await loadCell.maxReading.read()
            if (typeof fs === "number" && fs > 0) self.fullScale = fs
        })
        encoder.reading.subscribe((c: number) => {
            self.encoderCount = c
            self.encoderSeen = true
            self.encoderAtMs = ds.millis()
        })
        encoder.binding().subscribe(async (bound: boolean) => {
            if (!bound) {
                self.encoderSeen = false
                return
            }
            await encoder.streamingInterval.write(encoderStreamingMs)
        })
    }

    async applyMotor(enabled: boolean, speedRatio: number): Promise<void> {
        console.log(`${BENCH_PIN_PREFIX} cmd ${enabled ? 1 : 0} ${speedRatio}`)
        await this.drive.command(enabled, speedRatio, ds.millis())
    }
    encoderPresent(): boolean {
        return this.encoderSeen && this.encoder.isBound
    }
    encoderAgeMs(nowMs: number): number {
        return this.encoderSeen ? nowMs - this.encoderAtMs : Infinity
    }
    fullScaleKg(): number {
        return this.fullScale
    }
    /** the bench's cell has no chip registers to cross-check: consistent (0) */
    calCheck(tareKg: number, gain: number): number {
        return 0
    }
    calCheckReason(code: number): string {
        return code === 0 ? "bench load cell (no chip registers)" : `code ${code}`
    }
}
