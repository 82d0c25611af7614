// The whole bench: plant + load cell + encoder sharing one seeded RNG, so a
// run is reproducible from (config, seed, inputs). This is what the Jacdac
// simulator wraps: WeightScale <- loadCellSamples, RotaryEncoder <-
// encoderCounts, Motor -> DriveInput.

import { DriveInput, InjectorPlant, PlantConfig, PlantState } from "./physics"
import { Rng } from "./rng"
import { Encoder, EncoderConfig, LoadCell, LoadCellConfig, LoadCellSample } from "./sensors"

export const DEFAULT_SEED = 1

export interface RigConfig extends PlantConfig {
    /** RNG seed for sensor noise; default 1 */
    seed?: number
    loadCell?: LoadCellConfig
    encoder?: EncoderConfig
}

export interface RigStepResult {
    /** load-cell samples whose instants fell inside the step, oldest first */
    loadCellSamples: LoadCellSample[]
    /** encoder count at the end of the step */
    encoderCounts: number
}

export class InjectorRig {
    readonly plant: InjectorPlant
    readonly loadCell: LoadCell
    readonly encoder: Encoder
    readonly seed: number

    constructor(config: RigConfig = {}) {
        this.seed = config.seed ?? DEFAULT_SEED
        const rng = new Rng(this.seed)
        this.plant = new InjectorPlant(config)
        this.loadCell = new LoadCell(rng, config.loadCell)
        this.encoder = new Encoder(config.encoder)
    }

    /**
     * Advance plant and sensors by dtS. Load-cell samples interpolate the
     * force linearly across the step, so keep dtS at or below the sample
     * period (12.5 ms at 80 Hz) when force changes quickly.
     */
    step(dtS: number, input: DriveInput): RigStepResult {
        const t0S = this.plant.timeS()
        const f0N = this.plant.forceN()
        this.plant.step(dtS, input)
        const loadCellSamples = this.loadCell.poll(t0S, this.plant.timeS(), f0N, this.plant.forceN())
        return { loadCellSamples, encoderCounts: this.encoder.read(this.plant.plungerPosMm()) }
    }

    state(): PlantState {
        return this.plant.state()
    }

    /** Encoder fault: freeze (true) or release (false) the count. */
    setEncoderStuck(stuck: boolean): void {
        this.encoder.setStuck(stuck, this.plant.plungerPosMm())
    }
}
