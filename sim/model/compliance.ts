// Compressibility of the syringe-cement system (SIM-6): the syringe's own
// elasticity (linear, complianceMlPerMPa; presets.ts) plus air entrained in
// hand-mixed cement, as an isothermal ideal gas.
//
// Air: volume fraction phi of the cement at atmospheric pressure, cement
// volume Vc (the syringe fill), so V_air0 = phi Vc at p_atm. At gauge
// pressure P (Boyle, isothermal): V_air = V_air0 p_atm / (p_atm + P), so the
// volume the chamber "stores" (plunger travel not yet delivered) is
//   S(P) = C_syr P + V_air0 P / (p_atm + P)
// and the tangent compliance dS/dP = C_syr + V_air0 p_atm / (p_atm + P)^2 is
// largest at low pressure. Secant compliance S/P at 1.5-3 MPa for 10 mL:
// 1 % air 0.06-0.03 mL/MPa, 5 % air 0.31-0.16 mL/MPa (CLINICAL-BASIS, "by
// calculation"). Isothermal: bubbles ~0.1-1 mm in a paste exchange heat in
// well under a second; adiabatic (gamma 1.4) would be ~30 % stiffer.
// Simplification: the air volume stays V_air0 of the whole fill while the
// cement is delivered (bubbles that leave with the cement are not
// subtracted), so late in a syringe the model overstates compliance: the
// conservative side for blockage detection and afterflow.
// Negative gauge pressure (vacuum, retraction) expands the air; the plant's
// vacuum floor (-90 kPa) keeps P well above -p_atm.

/** Standard atmosphere, Pa (air-fraction reference state). */
export const ATMOSPHERIC_PRESSURE_PA = 101_325
/** Largest air fraction accepted (SIM-6 range is 0-5 %; beyond 30 % it is foam, not cement). */
export const MAX_AIR_FRACTION = 0.3

const M3_PER_ML = 1e-6

export interface ChamberComplianceConfig {
    /** syringe elasticity, mL/MPa */
    syringeComplianceMlPerMPa: number
    /** air volume fraction of the cement at atmospheric pressure, 0..0.3 */
    airFraction: number
    /** cement volume the air fraction applies to, mL */
    cementVolumeMl: number
}

/** Stored volume S(P) of the chamber, its tangent compliance and its inverse (SI: m^3, Pa). */
export class ChamberCompliance {
    /** linear part, m^3/Pa */
    readonly linearM3PerPa: number
    /** air volume at atmospheric pressure, m^3 */
    readonly airVolumeM3: number
    readonly pAtmPa = ATMOSPHERIC_PRESSURE_PA

    constructor(c: ChamberComplianceConfig) {
        if (!(c.syringeComplianceMlPerMPa > 0))
            throw new RangeError(`syringe.complianceMlPerMPa must be > 0, got ${c.syringeComplianceMlPerMPa}`)
        if (typeof c.airFraction !== "number" || !(c.airFraction >= 0 && c.airFraction <= MAX_AIR_FRACTION))
            throw new RangeError(`syringe.airFraction must be between 0 and ${MAX_AIR_FRACTION} (a fraction: 0.01 = 1 %), got ${c.airFraction}`)
        this.linearM3PerPa = c.syringeComplianceMlPerMPa * M3_PER_ML * 1e-6
        this.airVolumeM3 = c.airFraction * c.cementVolumeMl * M3_PER_ML
    }

    get isLinear(): boolean {
        return this.airVolumeM3 === 0
    }

    /** Volume stored at gauge pressure pPa, m^3 (air part: V0 P / (pa + P)). */
    storedM3(pPa: number): number {
        const air = this.airVolumeM3 === 0 ? 0 : (this.airVolumeM3 * pPa) / (this.pAtmPa + pPa)
        return this.linearM3PerPa * pPa + air
    }

    /** Tangent compliance dS/dP at pPa, m^3/Pa. */
    tangentM3PerPa(pPa: number): number {
        if (this.airVolumeM3 === 0) return this.linearM3PerPa
        const d = this.pAtmPa + pPa
        return this.linearM3PerPa + (this.airVolumeM3 * this.pAtmPa) / (d * d)
    }

    /**
     * Gauge pressure at which the stored volume is yM3 (inverse of storedM3,
     * on P > -p_atm where S rises from -inf to +inf). Closed form: the root of
     * C P^2 + (C pa + V0 - y) P - y pa = 0 above -pa.
     */
    pressureForStoredPa(yM3: number): number {
        const c = this.linearM3PerPa
        if (this.airVolumeM3 === 0) return yM3 / c
        const pa = this.pAtmPa
        const b = c * pa + this.airVolumeM3 - yM3
        const disc = Math.sqrt(b * b + 4 * c * yM3 * pa)
        // larger root, in the form that avoids cancellation
        return b > 0 ? (2 * yM3 * pa) / (b + disc) : (-b + disc) / (2 * c)
    }
}

/** Secant compliance of the air part alone, mL/MPa: stored air volume / P. */
export function airSecantComplianceMlPerMPa(airFraction: number, cementVolumeMl: number, pressurePa: number): number {
    const v0Ml = airFraction * cementVolumeMl
    return (v0Ml / (ATMOSPHERIC_PRESSURE_PA + pressurePa)) * 1e6
}
