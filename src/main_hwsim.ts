/**
 * The hardware entry's control path on the bench (lockstep scenarios with
 * `"timing": "hardware"`, docs/simulator.md): what src/main_hw.ts runs on a
 * board (InjectorIO.hw: a control step per load-cell sample, the step's motor
 * command applied to the StepperDrive at once, the drive's ≤ 100 ms lease
 * renewed only by those commands), with the drivers' ends on the bench
 * (src/hw/bench_io.ts): samples from the bench's load cell, pins as console
 * lines the lockstep plant reads. Buttons are the bench's, as in src/main.ts.
 *
 * Not a board entry: no pins, no I²C; the encoder and flow limits stay the
 * simulator's (the bench's encoder model), only the timing is the board's.
 */
import * as ds from "@devicescript/core"
import { startServer } from "@devicescript/server"
import { Supervisor } from "./core"
import { InjectorServer } from "./server"
import { runInjector } from "./app"
import { HW_DRIVE } from "./hw/hwconfig"
import { HW_ENCODER_STREAMING_MS } from "./hw/encoder_limits"
import { startStepperDrive } from "./hw/stepper_server"
import { stepsPerMm } from "./hw/stepper"
import { BENCH_PIN_PREFIX, BenchHwLoop, BenchPinOutput, BenchStepPulses } from "./hw/bench_io"

// the drive's geometry for the bench's pin model (sim/lockstep/hwpins.ts), before any pin is written
console.log(
    `${BENCH_PIN_PREFIX} cfg ${stepsPerMm(HW_DRIVE)} ${HW_DRIVE.enableActiveLow !== false ? 1 : 0} ${HW_DRIVE.dirInverted ? 1 : 0}`
)
// servers must start at top level during boot (TOOLCHAIN.md)
const started = startStepperDrive({
    ...HW_DRIVE,
    step: new BenchStepPulses(),
    dir: new BenchPinOutput("dir"),
    en: new BenchPinOutput("en"),
})
const supervisor = new Supervisor()
const injector = new InjectorServer(supervisor)
startServer(injector, { roleName: "injector" })

// the bench binds these role names (sim/harness/roles.ts); "motor" is bound
// but never written: the drive is commanded through the pins
const motorRole = new ds.Motor("motor")
const hw = new BenchHwLoop(
    new ds.WeightScale("loadCell"),
    new ds.RotaryEncoder("encoder"),
    started.drive,
    HW_ENCODER_STREAMING_MS
)
await runInjector(injector, {
    estop: new ds.Button("estop"),
    leakPedal: new ds.Button("leakPedal"),
    confirm: new ds.Button("confirm"),
    hw,
})
