// Panel status LED served as a one-pixel Jacdac Led (BOARD-1 buzzer/LED outputs).
import { describe, test } from "@devicescript/test"
import { MonoLedServer } from "../../src/hw/status_led"
import { DigitalOutput } from "../../src/hw/stepper"
import { eq } from "./check"

class Pin implements DigitalOutput {
    level = -1
    write(level: number) {
        this.level = level
    }
}

describe("status LED", () => {
    test("BOARD-1: LED on for a non-black pixel at intensity > 0, off otherwise", () => {
        const pin = new Pin()
        const led = new MonoLedServer(pin, false)
        eq(pin.level, 0, "off at start")
        led.set_pixels(Buffer.from([0, 40, 0]))
        eq(pin.level, 1, "green pixel")
        led.set_intensity(0)
        eq(pin.level, 0, "intensity 0")
        led.set_intensity(0.3)
        eq(pin.level, 1, "intensity back")
        led.set_pixels(Buffer.from([0, 0, 0]))
        eq(pin.level, 0, "black pixel")
        eq(led.numPixels(), 1, "one pixel")
    })

    test("BOARD-1: active-low LED wiring inverts the pin", () => {
        const pin = new Pin()
        const led = new MonoLedServer(pin, true)
        eq(pin.level, 1, "off = high")
        led.set_pixels(Buffer.from([255, 0, 0]))
        eq(pin.level, 0, "on = low")
    })
})
