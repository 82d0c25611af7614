/**
 * BOARD-4 / FAULT-9 / FAULT-11: the hardware adapter between the drivers and
 * the control step, without the bus in between.
 *
 *   NAU7802 poll loop ──onSample(kg, tMs)──▶ app's control step
 *                                                 │ applyMotor(enabled, speedRatio)
 *   StepperDrive.command() ◀──────────────────────┘  (renews the ≤ 100 ms lease)
 *
 * - every conversion (80/s) reaches `onSample` in the poll loop itself; the
 *   WeightScale server reports only every 4th sample, for observers, in its
 *   own fiber, so the bus budget (≈ 50 packets/s in the VM) delays nothing;
 * - `applyMotor` calls the drive directly: a stop drives EN to disabled
 *   synchronously, inside the same control step as the sample that asked
 *   for it; a run command renews the dead-man lease. The app must call it
 *   from every control step (not only on changes): the lease is ≤ 100 ms;
 * - the Motor and WeightScale servers on the bus are read-only (FAULT-9);
 * - the encoder count arrives on the encoder server's stream
 *   (HW_ENCODER_STREAMING_MS, 20 ms, the C sensor floor); `encoderCount` is
 *   the latest and `encoderAgeMs(now)` its age.
 * No decisions here: the app decides (src/app.ts, `InjectorIO.hw`), this
 * only carries values.
 */
import * as ds from "@devicescript/core"
import { LoadCellServer } from "./loadcell"
import { StepperDrive } from "./stepper"
import { HW_ENCODER_STREAMING_MS } from "./encoder_limits"
import { calCheckReason, checkLoadCellCalibration, loadCellState } from "./calcheck"

/** The control step the adapter feeds: called with every load-cell sample. */
export type ControlStep = (kg: number, tMs: number) => Promise<void>

export class HardwareLoop {
    /** set by the app: one control step per sample (kg as published, tMs of the read) */
    onSample: ControlStep = null
    /** samples handed to onSample */
    samples = 0
    /** control steps that threw (the drive was stopped each time) */
    stepErrors = 0
    /** latest plunger encoder count, and when it arrived */
    encoderCount = 0
    encoderSeen = false
    encoderAtMs = 0
    /** motor commands applied */
    motorCommands = 0

    constructor(
        readonly cell: LoadCellServer,
        readonly drive: StepperDrive,
        readonly encoder?: ds.RotaryEncoder
    ) {
        const self = this
        cell.onSample = async (kg: number, tMs: number) => {
            await self.sample(kg, tMs)
        }
        if (encoder) {
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
                // counts at most one stream period old (the C server's floor is 20 ms)
                await encoder.streamingInterval.write(HW_ENCODER_STREAMING_MS)
            })
        }
    }

    private async sample(kg: number, tMs: number) {
        this.samples++
        if (!this.onSample) return
        try {
            await this.onSample(kg, tMs)
        } catch (e: any) {
            // a control step that fails must not leave the plunger moving
            this.stepErrors++
            console.error(`control step failed: ${e.message}`)
            await this.drive.hardStop()
        }
    }

    /**
     * The control step's motor command, applied directly to the drive.
     * Stops (enabled false, speed 0 or NaN) disable EN before this returns;
     * a run command renews the dead-man lease (DRIVE_LEASE_DEFAULT_MS).
     */
    async applyMotor(enabled: boolean, speedRatio: number): Promise<void> {
        this.motorCommands++
        await this.drive.command(enabled, speedRatio, ds.millis())
    }

    /** the encoder count's age at nowMs, ms (Infinity before the first count) */
    encoderAgeMs(nowMs: number): number {
        return this.encoderSeen ? nowMs - this.encoderAtMs : Infinity
    }

    /** the load cell's full scale (rated capacity), kg: the server publishes exactly this when saturated */
    fullScaleKg(): number {
        return this.cell.scale.maxReadingKg
    }

    /** FAULT-9: CALCHECK_* code of the load cell against a stored calibration (./calcheck.ts) */
    calCheck(tareKg: number, gain: number): number {
        return checkLoadCellCalibration(loadCellState(this.cell), { tareKg, gain })
    }

    calCheckReason(code: number): string {
        return calCheckReason(code)
    }

    /** the encoder role is bound and has reported */
    encoderPresent(): boolean {
        return this.encoderSeen && !!this.encoder && this.encoder.isBound
    }
}
