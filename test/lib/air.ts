// A rig plant with entrained air (issue 12, SIM-6): hand-mixed cement holds
// a few % of air, an isothermal gas that stores S(P) = C P + V0 P / (pa + P):
// very soft at low pressure, stiffening as it is compressed.

import { DRIVE_MAX_PLUNGER_MM_PER_S, MotorCommand } from "../../src/core"
import { Plant, Rig } from "./rig"

const PA_ATM = 101325

/** The rig's plant with air in the cement: the chamber's stored volume follows Boyle's law. */
export class AirPlant extends Plant {
    /** air volume at atmospheric pressure, mL (5 % of 10 mL) */
    airMl = 0.5
    /** plunger volume not yet out of the needle, mL */
    storedMl = 0
    /** needle resistance grows by this fraction per second (curing) */
    creepPerS = 0
    /**
     * power-law index of the cement (1: Newtonian). Shear-thinning cement
     * (n ~ 0.5) flows as (P / refPa)^(1/n) around the steady point refPa,
     * so a stored volume drains far more slowly at low pressure.
     */
    flowIndex = 1
    refPa = 1e6

    /** Needle flow at the present chamber pressure, mL/s. */
    outflowMlPerS(): number {
        const p = this.pressurePa
        if (p <= 0) return 0
        const q = p / this.resistance
        return this.flowIndex === 1 ? q : q * Math.pow(p / this.refPa, 1 / this.flowIndex - 1)
    }

    /** Gauge pressure at which the chamber stores storedMl (root of C P^2 + (C pa + V0 - y) P - y pa = 0). */
    pressureFor(yMl: number): number {
        const c = this.complianceMlPerPa
        const b = c * PA_ATM + this.airMl - yMl
        const disc = Math.sqrt(b * b + 4 * c * yMl * PA_ATM)
        return b > 0 ? (2 * yMl * PA_ATM) / (b + disc) : (-b + disc) / (2 * c)
    }

    override advance(dtMs: number, cmd: MotorCommand) {
        const dtS = dtMs / 1000
        let v = 0
        if (cmd.enabled && !this.stuck) v = cmd.speedRatio * DRIVE_MAX_PLUNGER_MM_PER_S * this.slip
        this.velMmPerS = v
        this.posMm += v * dtS
        const qIn = (v * this.areaMm2()) / 1000
        this.resistance *= 1 + this.creepPerS * dtS
        const n = 8
        const h = dtS / n
        for (let i = 0; i < n; ++i) {
            const qOut = this.outflowMlPerS()
            this.storedMl += (qIn - qOut) * h
            if (this.storedMl < 0) this.storedMl = 0
            this.pressurePa = this.pressureFor(this.storedMl)
            this.injectedMl += qOut * h
        }
    }
}

/** A rig whose plant holds `airMl` of air, needle + body giving `steadyPa` at `flow`. */
export function airRig(airMl: number, flow: number, steadyPa: number): Rig {
    const r = new Rig()
    const p = new AirPlant()
    p.airMl = airMl
    p.resistance = steadyPa / (flow / 60)
    p.refPa = steadyPa
    p.noiseN = 0.87 // uniform +/-0.87 N: sigma 0.5 N
    r.plant = p
    return r
}

