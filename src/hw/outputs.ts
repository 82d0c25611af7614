/**
 * Hardware adapters for the output interfaces in ./stepper.ts:
 * - GPIO logic outputs (DIR, EN, status LED) through @devicescript/gpio;
 * - STEP pulses from the C buzzer service, i.e. the chip's PWM peripheral
 *   (ESP32 LEDC, RP2040 PWM slice): `playTone(period µs, duty µs, duration ms)`
 *   gives a square wave of a set period that the VM does not have to time.
 *
 * Limits of the PWM path (docs/hardware.md, "Step pulses"):
 * - period is a u16 in µs: 15.26 Hz .. ~500 kHz, quantised to 1 µs;
 * - each playTone re-initialises the PWM timer, so the step in progress is
 *   cut short (about +0.5 step per command); commands are only re-sent on a
 *   frequency change or lease refresh (every pulseLeaseMs / 2);
 * - the tone stops by itself at the end of its duration: a lease, so a hung
 *   VM cannot keep stepping for longer than pulseLeaseMs;
 * - a stop (duration 0) can leave up to one main-loop pass (~1 ms) of
 *   pulses; EN is already disabled by then.
 */
import * as ds from "@devicescript/core"
import "@devicescript/gpio"
import { DigitalOutput, StepPulseOutput } from "./stepper"

/** A GPIO pin as a DigitalOutput; sets output mode at `initialLevel`. */
export class GpioOutput implements DigitalOutput {
    constructor(
        readonly pin: ds.OutputPin,
        initialLevel: number
    ) {
        pin.setMode(
            initialLevel !== 0 ? ds.GPIOMode.OutputHigh : ds.GPIOMode.OutputLow
        )
    }
    write(level: number) {
        this.pin.write(level !== 0 ? 1 : 0)
    }
}

/**
 * STEP pulses through a buzzer service bound to the STEP pin. The role must
 * be the one returned by `startBuzzer({ pin: pins.STEP })` (its name carries
 * an `[int:0]` hint, so no other role can take that service).
 */
export class BuzzerStepPulses implements StepPulseOutput {
    constructor(readonly buzzer: ds.Buzzer) {}

    ready() {
        return this.buzzer.isBound
    }

    async play(periodUs: number, leaseMs: number) {
        const p = Math.constrain(Math.round(periodUs), 2, 65535)
        await this.buzzer.playTone(
            p,
            p >> 1,
            Math.constrain(Math.round(leaseMs), 1, 65535)
        )
    }

    async stop() {
        // duration 0: the service turns the PWM off on its next pass
        await this.buzzer.playTone(1000, 500, 0)
    }
}
