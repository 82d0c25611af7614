/**
 * The injector's hardware choices in one place (docs/hardware.md explains
 * each). Pins are not here: they come from boards/*.board.json by label, and
 * every board defines the same labels (HW_PIN_LABELS).
 */
import { LoadCellOptions } from "./loadcell"
import { DRIVE_LEASE_DEFAULT_MS, StepperDriveOptions } from "./stepper"

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
 * Plunger encoder: 200 PPR quadrature on the lead screw, counted in whole
 * cycles by the DeviceScript encoder server = 100 counts/mm at a 2 mm lead
 * (2.9 µL per count on a 20 mL syringe). Why 200 and not 600 PPR, and the
 * speed limits per syringe: ./encoder_limits.ts (FLOW-2).
 * (main_hw.ts repeats 200 as a literal: server configs must be literals.)
 */
// HW_ENCODER_PPR, HW_ENCODER_COUNTS_PER_MM, HW_ENCODER_STREAMING_MS live there.

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
    // FAULT-11: pulses stop ≤ 80 ms after the last control-step command
    pulseLeaseMs: DRIVE_LEASE_DEFAULT_MS,
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
    // observers (hosts) get every 4th sample = 20/s; the control step gets all 80
    observerEvery: 4,
}
