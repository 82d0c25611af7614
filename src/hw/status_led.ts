/**
 * Panel status LED (one mono LED on a GPIO, through a resistor or transistor)
 * as a Jacdac Led server with one pixel: the LED is on while intensity > 0 and
 * the pixel colour is not black. Blink patterns are the client's business.
 */
import * as ds from "@devicescript/core"
import { Server, startServer } from "@devicescript/server"
import { DigitalOutput } from "./stepper"

export class MonoLedServer extends Server implements ds.LedServerSpec {
    private _pixels = Buffer.alloc(3)
    private _intensity = 1
    /** LED currently lit */
    lit = false

    constructor(
        readonly out: DigitalOutput,
        readonly activeLow: boolean,
        roleName?: string
    ) {
        super(ds.Led.spec, { roleName })
        this.apply()
    }

    pixels() {
        return this._pixels
    }
    set_pixels(value: Buffer) {
        const p = Buffer.alloc(3)
        p.blitAt(0, value, 0, Math.min(3, value.length))
        this._pixels = p
        this.apply()
    }
    intensity() {
        return this._intensity
    }
    set_intensity(value: number) {
        this._intensity = Math.constrain(value, 0, 1)
        this.apply()
    }
    actualBrightness() {
        return this._intensity
    }
    numPixels() {
        return 1
    }
    ledsPerPixel() {
        return 1
    }

    private apply() {
        const p = this._pixels
        this.lit = this._intensity > 0 && (p[0] | p[1] | p[2]) !== 0
        this.out.write(this.lit !== this.activeLow ? 1 : 0)
    }
}

/** Start the status LED server. Call at top level during boot. */
export function startStatusLed(o: {
    out: DigitalOutput
    activeLow?: boolean
    roleName?: string
}): MonoLedServer {
    const roleName = o.roleName ?? "statusLed"
    const server = new MonoLedServer(o.out, !!o.activeLow, roleName)
    startServer(server, { roleName })
    return server
}
