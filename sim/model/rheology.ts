// Cement rheology in the needle (SIM-6): power-law (Ostwald-de Waele) fluid,
// tau = K gamma^n, in laminar pipe flow.
//
// PMMA dough is shear-thinning: "moderate pseudoplasticity" (Ferracane &
// Greener 1981), power-law index roughly 0.4-0.6 (CLINICAL-BASIS, "Rheology
// and trapped air"); vertebroplasty models fit it with a power law (Trivedi
// et al. 2022/2023, Landgraf et al. 2015). The default index 0.5 is the
// middle of that range. n = 1 is the Newtonian (Hagen-Poiseuille) case and
// reproduces the SIM-1 model exactly.
//
// Pipe solution (Rabinowitsch-Mooney for a power law, radius R, length L):
//   Q  = (pi n / (3n+1)) R^3 (R dP / (2 K L))^(1/n)
//   dP = (2 K L / R) ((3n+1) Q / (pi n R^3))^n
// so dP ~ Q^n and, at a given flow, dP ~ R^-(3n+1): a 14 G vs 11 G needle
// differs by (2.388/1.6)^(3n+1) = 2.72x at n = 0.5 (4.96x Newtonian), and
// doubling the flow raises dP by 2^n = 1.41x (2x Newtonian).
//
// Consistency from the viscosity curves: the cement presets (cement.ts) give
// a Newtonian-equivalent viscosity mu_eq(age) calibrated at the CLINICAL-BASIS
// reference condition (14 G regular wall, ID 1.6 mm, 3 mL/min). K is chosen
// so the power-law needle gives the same pressure drop there:
//   K = mu_eq gammaN^(1-n) ((3n+1)/(4n))^-n,  gammaN = 32 Q_ref / (pi D_ref^3)
// (gammaN = 124 1/s, the Newtonian wall shear rate). The reference figures
// (1.55 MPa at 50 Pa.s, Krebs peaks, Reidy pressures) are therefore unchanged
// at the reference condition; gauge and flow act through n. K rises with age
// and temperature exactly as mu_eq does (cement.ts: curve x Arrhenius clock).
//
// Not modelled: yield stress (Herschel-Bulkley), wall slip (Trivedi et al.
// 2023 saw slip in rotational rheometry; slip lowers needle pressure further),
// entrance/contraction losses at steps (small against the long-tube term for
// L/D > 20), inertia (Re << 1).

/** Reference condition of the viscosity curves: 14 G regular wall, 3 mL/min. */
export const RHEOLOGY_REFERENCE_DIAMETER_MM = 1.6
export const RHEOLOGY_REFERENCE_FLOW_ML_PER_S = 3 / 60
/** Default power-law index (middle of 0.4-0.6, Ferracane & Greener 1981 via CLINICAL-BASIS). */
export const DEFAULT_FLOW_INDEX = 0.5
export const MIN_FLOW_INDEX = 0.1

const M3_PER_ML = 1e-6

export function checkFlowIndex(name: string, n: number): number {
    if (typeof n !== "number" || !(n >= MIN_FLOW_INDEX && n <= 1))
        throw new RangeError(`${name} must be between ${MIN_FLOW_INDEX} and 1 (1 = Newtonian), got ${n}`)
    return n
}

/** Newtonian wall shear rate at the reference condition, 1/s (~124). */
export function referenceWallShearRatePerS(): number {
    const d = RHEOLOGY_REFERENCE_DIAMETER_MM * 1e-3
    return (32 * RHEOLOGY_REFERENCE_FLOW_ML_PER_S * M3_PER_ML) / (Math.PI * d * d * d)
}

/**
 * Consistency K, Pa.s^n, of a power-law cement that gives the same needle
 * pressure at the reference condition as a Newtonian cement of viscosity
 * `equivalentViscosityPaS`. n = 1 returns the viscosity itself.
 */
export function consistencyPaSn(equivalentViscosityPaS: number, flowIndex: number): number {
    if (flowIndex === 1) return equivalentViscosityPaS
    const n = flowIndex
    const gammaN = referenceWallShearRatePerS()
    return equivalentViscosityPaS * Math.pow(gammaN, 1 - n) * Math.pow((3 * n + 1) / (4 * n), -n)
}

/**
 * Geometric factor of one straight tube: dP = K x factor x Q^n (SI: Pa, m^3/s).
 * factor = (2 L / R) ((3n+1) / (pi n R^3))^n; n = 1 gives 8 L / (pi R^4).
 */
export function pipeGeometryFactor(innerDiameterMm: number, lengthMm: number, flowIndex: number): number {
    const r = (innerDiameterMm * 1e-3) / 2
    const l = lengthMm * 1e-3
    const n = flowIndex
    return ((2 * l) / r) * Math.pow((3 * n + 1) / (Math.PI * n * r * r * r), n)
}

/** Pressure drop of a power-law fluid in a tube, Pa, for a flow in mL/s (signed). */
export function powerLawPipeDeltaPPa(
    innerDiameterMm: number,
    lengthMm: number,
    consistency: number,
    flowIndex: number,
    flowMlPerS: number
): number {
    const q = flowMlPerS * M3_PER_ML
    return consistency * pipeGeometryFactor(innerDiameterMm, lengthMm, flowIndex) * Math.sign(q) * Math.pow(Math.abs(q), flowIndex)
}

/** Flow of a power-law fluid in a tube, mL/s, for a pressure drop in Pa (signed). */
export function powerLawPipeFlowMlPerS(
    innerDiameterMm: number,
    lengthMm: number,
    consistency: number,
    flowIndex: number,
    deltaPPa: number
): number {
    const a = consistency * pipeGeometryFactor(innerDiameterMm, lengthMm, flowIndex)
    return (Math.sign(deltaPPa) * Math.pow(Math.abs(deltaPPa) / a, 1 / flowIndex)) / M3_PER_ML
}

/** Wall shear rate of a power-law fluid in a tube, 1/s. */
export function powerLawWallShearRatePerS(innerDiameterMm: number, flowMlPerS: number, flowIndex: number): number {
    const r = (innerDiameterMm * 1e-3) / 2
    const q = Math.abs(flowMlPerS) * M3_PER_ML
    return (((3 * flowIndex + 1) / (4 * flowIndex)) * 4 * q) / (Math.PI * r * r * r)
}

/** One straight part of the flow path, listed from syringe to needle tip. */
export interface TubeSegment {
    innerDiameterMm: number
    lengthMm: number
}
