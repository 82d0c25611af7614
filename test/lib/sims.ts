// Minimal Jacdac servers that stand in for the hardware inside the VM
// (load cell, plunger encoder, plunger drive, buttons), so integration tests
// drive the firmware through its real roles. The VM's own sensor streaming
// is >= 100 ms apart, so readings are pushed explicitly with push().
import * as ds from "@devicescript/core"
import { SensorServer, Server } from "@devicescript/server"

export class WeightScaleSim extends SensorServer implements ds.WeightScaleServerSpec {
    kg = 0
    private spec0 = ds.WeightScale.spec.lookup("reading")
    constructor() {
        super(ds.WeightScale.spec, { interval: 100 })
    }
    reading() {
        return this.kg
    }
    calibrateZeroOffset() {}
    calibrateGain(w: number) {}
    async push() {
        await this._send(this.spec0.encode(this.kg))
    }
}

export class RotaryEncoderSim extends SensorServer implements ds.RotaryEncoderServerSpec {
    position = 0
    private spec0 = ds.RotaryEncoder.spec.lookup("reading")
    constructor() {
        super(ds.RotaryEncoder.spec, { interval: 100 })
    }
    reading() {
        return this.position
    }
    clicksPerTurn() {
        return 2400
    }
    async push() {
        await this._send(this.spec0.encode(this.position))
    }
}

export class MotorSim extends Server implements ds.MotorServerSpec {
    spd = 0
    en = false
    writes = 0
    constructor() {
        super(ds.Motor.spec)
    }
    speed() {
        return this.spd
    }
    set_speed(v: number) {
        this.spd = v
        this.writes++
    }
    enabled() {
        return this.en
    }
    set_enabled(v: boolean) {
        this.en = v
        this.writes++
    }
}

export class ButtonSim extends SensorServer implements ds.ButtonServerSpec {
    private p = false
    private t0 = 0
    constructor() {
        super(ds.Button.spec)
    }
    reading() {
        return this.p ? 1 : 0
    }
    async press() {
        if (this.p) return
        this.p = true
        this.t0 = ds.millis()
        await this.sendEvent(this.spec.lookup("down").encode(undefined))
    }
    async release() {
        if (!this.p) return
        this.p = false
        await this.sendEvent(this.spec.lookup("up").encode(ds.millis() - this.t0))
    }
    async click() {
        await this.press()
        await ds.sleep(60)
        await this.release()
    }
}

/** Waits for cond; on timeout the error names what and, when given, the state it ended in. */
export async function until(cond: () => boolean, ms: number, what: string, state?: () => string) {
    const t0 = ds.millis()
    while (!cond()) {
        if (ds.millis() - t0 > ms) throw new Error(`timeout after ${ms} ms waiting for ${what}${state ? ` (${state()})` : ""}`)
        await ds.sleep(10)
    }
}
