/**
 * The injector's hardware choices in one place (docs/hardware.md explains
 * each). Pins are not here: they come from boards/*.board.json by label, and
 * every board defines the same labels (HW_PIN_LABELS).
 */
import { LoadCellOptions } from "./loadcell"
import { StepperDriveOptions } from "./stepper"

/** Pin labels every boards/*.board.json must define (checked by scripts/build-boards.mjs). */
export const HW_PIN_LABELS = [
    "ENC_A",
    "ENC_B",
    "STEP",
    "DIR",
    "STEP_EN",
    "ESTOP",
    "LEAK_PEDAL",
    "CONFIRM",
    "BUZZER",
    "STATUS_LED",
]

/** devName prefix of our board configs; any other runtime image locks the drive */
export const HW_BOARD_NAME_PREFIX = "Cement Injector"

/**
 * Plunger encoder: 600 PPR quadrature on the lead screw (CLINICAL-BASIS).
 * The DeviceScript encoder server counts whole quadrature cycles, so this is
 * 600 counts/rev = 300 counts/mm at a 2 mm lead (≈ 1 µL per count on a 20 mL
 * syringe). It samples about every 0.9 ms: fast enough for ≲ 0.9 mm/s of
 * plunger travel (1100 edges/s); faster moves lose counts.
 * (main_hw.ts repeats 600 as a literal: server configs must be literals.)
 */
export const HW_ENCODER_PPR = 600
export const HW_ENCODER_COUNTS_PER_MM = HW_ENCODER_PPR / 2

/** Stepper drive: 2 mm lead screw, 1.8° motor, 1/16 microstepping, A4988/TMC2209 style EN. */
export const HW_DRIVE: StepperDriveOptions = {
    leadMmPerRev: 2,
    fullStepsPerRev: 200,
    microsteps: 16,
    gearRatio: 1,
    maxStepHz: 20000,
    accelMmPerS2: 20,
    enableActiveLow: true,
    dirInverted: false,
    pulseLeaseMs: 2000,
}

/**
 * Load cell: 200 kg (≈ 2 kN) compression cell, 2 mV/V, on an NAU7802 at gain
 * 128 and 80 samples/s, LDO 3.0 V (module supplied with 3.3 V).
 * 3.5 MPa on a 20 mL plunger is ≈ 1.05 kN, so the cell has ~2x headroom.
 */
export const HW_LOAD_CELL: LoadCellOptions = {
    port: undefined, // set in main_hw.ts (i2c)
    capacityKg: 200,
    sensitivityMvPerV: 2,
    gain: 128,
    samplesPerSecond: 80,
    ldoVolts: 3.0,
}
