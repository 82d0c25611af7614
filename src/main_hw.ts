/**
 * Hardware entry point: starts the drivers and the injector's Jacdac servers
 * on a real board, then runs the same control code as the simulator
 * (runInjector from ./app).
 *
 * Control path (BOARD-4, FAULT-9, FAULT-11; src/hw/hw_loop.ts): every
 * load-cell sample runs a control step directly from the NAU7802 poll loop,
 * and the step's motor command goes straight to the drive (renewing its
 * ≤ 100 ms lease). The Motor and WeightScale servers on the bus are
 * read-only, for observers.
 *
 * The app takes the adapter as `InjectorIO.hw` (src/app.ts): samples,
 * encoder counts and motor commands go between the drivers and the control
 * step directly; the load cell's calibration is cross-checked at boot,
 * after every command and once a second (FAULT-9); the flow limits the
 * encoder can track per syringe go into the core's config (FLOW-2).
 * Build for every board: `node scripts/build-boards.mjs`.
 *
 * The board import below only provides pin *types*: pins are compiled as
 * labels ("STEP", "ESTOP"...) and resolved on the device from the board
 * config its runtime was flashed with (`devs flash --board <id>`). Every
 * boards/*.board.json defines the same labels, so one bytecode serves all;
 * scripts/build-boards.mjs compiles this file once per board with this
 * import swapped, to check each board's labels.
 *
 * Role binding (docs/hardware.md): every client handed to the control code
 * is the one returned by its server's start call, so its name carries a
 * hint ("estop[int:1]", "loadCell[app:0]") and it binds to that service
 * only; a plain role name would bind to any free service of its class.
 * Servers must be started here at top level, during boot.
 */
import * as ds from "@devicescript/core"
import "@devicescript/gpio"
import { pins } from "@dsboard/injector_esp32s3"
import { startServer } from "@devicescript/server"
import {
    startButton,
    startBuzzer,
    startRotaryEncoder,
} from "@devicescript/servers"
import { i2c } from "@devicescript/i2c"
import { HW_BOARD_NAME_PREFIX, HW_DRIVE, HW_LOAD_CELL } from "./hw/hwconfig"
import { applyHardwareLimits } from "./hw/encoder_limits"
import { HardwareLoop } from "./hw/hw_loop"
import { startLoadCell } from "./hw/loadcell"
import { BuzzerStepPulses, GpioOutput } from "./hw/outputs"
import { startStepperDrive } from "./hw/stepper_server"
import { startStatusLed } from "./hw/status_led"
import { Supervisor } from "./core"
import { InjectorServer } from "./server"
import { runInjector } from "./app"

if (ds.isSimulator())
    console.warn("main_hw.ts is the hardware entry; the simulator runs src/main.ts")

// the runtime must carry one of our board configs, or the labels resolve to nothing
const devName = ds._dcfgString("devName") || ""
const boardOk = devName.startsWith(HW_BOARD_NAME_PREFIX)
if (!boardOk)
    console.error(
        `board config "${devName}" is not an injector board: flash with --board <boards/*.board.json id>`
    )

// ---- C servers (pins by label) ---------------------------------------------
// confirm: NO push button to GND, internal pull-up
const confirm = startButton({ pin: pins.CONFIRM, name: "confirm" })
// estop: NC contact to GND + external 4.7 kΩ pull-up (open or broken wire = pressed)
const estop = startButton({ pin: pins.ESTOP, name: "estop", activeHigh: true })
// leakPedal: NC foot switch to GND + external 4.7 kΩ pull-up (fail-safe = pause)
const leakPedal = startButton({
    pin: pins.LEAK_PEDAL,
    name: "leakPedal",
    activeHigh: true,
})

// plunger encoder, counts = whole quadrature cycles (HW_ENCODER_PPR = 200 per rev)
const encoder = startRotaryEncoder({
    pin0: pins.ENC_A,
    pin1: pins.ENC_B,
    clicksPerTurn: 200,
    name: "plungerEncoder",
})

// STEP square wave from the PWM peripheral (buzzer service #0, kept here)
const stepPulse = startBuzzer({ pin: pins.STEP, name: "stepPulse" })
// alarm buzzer (service #1); its client is dropped, so a plain ds.Buzzer role can bind it
startBuzzer({ pin: pins.BUZZER, name: "alarm" })

// ---- DeviceScript servers --------------------------------------------------
const enOut = new GpioOutput(pins.STEP_EN, HW_DRIVE.enableActiveLow ? 1 : 0)
const dirOut = new GpioOutput(pins.DIR, 0)
const started = startStepperDrive({
    ...HW_DRIVE,
    step: new BuzzerStepPulses(stepPulse),
    dir: dirOut,
    en: enOut,
    lockReason: boardOk ? "" : "wrong board config",
})

const drive = started.drive

// observers get every 4th sample on the bus; the control step gets all (BOARD-4)
const loadCell = startLoadCell({ ...HW_LOAD_CELL, port: i2c })

const hw = new HardwareLoop(loadCell, drive, encoder)

startStatusLed({ out: new GpioOutput(pins.STATUS_LED, 0) })

// the injector's own service (telemetry and commands), as in src/main.ts
const supervisor = new Supervisor()
// FLOW-2 / VOL-1: the board's encoder (100 counts/mm) and the flows it tracks per syringe
applyHardwareLimits(supervisor.cfg)
const injector = new InjectorServer(supervisor)
startServer(injector, { roleName: "injector" })

// BOARD-4 / FAULT-9 / FAULT-11: the app runs a control step per sample and
// applies each step's motor command to the drive (src/app.ts, InjectorIO.hw)
await runInjector(injector, { estop, leakPedal, confirm, hw })
