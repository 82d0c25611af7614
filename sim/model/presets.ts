// Needle and syringe geometry presets for the physics model.
//
// NEEDLES
// Regular-wall inner diameters are the nominal IDs of stainless hypodermic
// tubing sized by the Stubs (Birmingham) iron-wire gauge, as tabulated for
// US needle tubing (ASTM A908, "Standard Specification for Stainless Steel
// Needle Tubing"; the same nominal OD/ID figures appear in the common
// "needle gauge comparison chart"): e.g. 14 G = 0.083 in OD / 0.063 in ID
// (2.108 / 1.600 mm), 11 G = 0.120 / 0.094 in (3.048 / 2.388 mm).
// Thin-wall IDs are the nominal thin-wall (TW) IDs of the same US tubing
// tables, rounded to 0.01 mm. Only 10 G TW (0.112-0.116 in) was
// cross-checked while writing this; treat the other TW figures as
// approximate (+/- 0.05 mm) and prefer the needle maker's datasheet.
// ISO 9626:2016 (stainless steel needle tubing, 10 G to 34 G) specifies OD
// ranges and *minimum* IDs per wall type (normal, thin, extra-thin); the
// nominal US IDs used here sit at or above those minima.
// CLINICAL-BASIS uses 14 G x 100 mm with ID ~= 1.6 mm (regular wall).
//
// Vertebroplasty / kyphoplasty trocars are 10-15 G (11 and 13 G most often);
// 8-9 G kyphoplasty cannulas can be modelled with `innerDiameterMm`.
//
// SYRINGES
// Bores are the inner diameters syringe-pump makers tabulate for BD Plastipak
// Luer syringes (1 mL 4.78 mm, 3 mL 8.66 mm, 10 mL 14.5 mm, 20 mL 19.13 mm;
// the 20 mL figure is rounded to 19.1 mm to match the firmware's geometry
// table and CLINICAL-BASIS "19-20 mm"). Measure the actual barrel with
// calipers for a bench rig: volume scales with bore squared.

export type NeedleWall = "regular" | "thin"

export interface NeedleGaugeSpec {
    gauge: number
    outerDiameterMm: number
    innerDiameterMm: { regular: number; thin: number }
}

/** Nominal needle tubing dimensions, 10-16 G (see header for sources). */
export const NEEDLE_GAUGES: Readonly<Record<number, NeedleGaugeSpec>> = {
    10: { gauge: 10, outerDiameterMm: 3.404, innerDiameterMm: { regular: 2.692, thin: 2.9 } },
    11: { gauge: 11, outerDiameterMm: 3.048, innerDiameterMm: { regular: 2.388, thin: 2.59 } },
    12: { gauge: 12, outerDiameterMm: 2.769, innerDiameterMm: { regular: 2.159, thin: 2.36 } },
    13: { gauge: 13, outerDiameterMm: 2.413, innerDiameterMm: { regular: 1.803, thin: 1.96 } },
    14: { gauge: 14, outerDiameterMm: 2.108, innerDiameterMm: { regular: 1.6, thin: 1.7 } },
    15: { gauge: 15, outerDiameterMm: 1.829, innerDiameterMm: { regular: 1.372, thin: 1.52 } },
    16: { gauge: 16, outerDiameterMm: 1.651, innerDiameterMm: { regular: 1.194, thin: 1.35 } },
}

export function needleInnerDiameterMm(gauge: number, wall: NeedleWall = "regular"): number {
    const spec = NEEDLE_GAUGES[gauge]
    if (!spec) {
        const known = Object.keys(NEEDLE_GAUGES).join(", ")
        throw new RangeError(`needle gauge ${gauge} has no preset (known: ${known}); give innerDiameterMm instead`)
    }
    return spec.innerDiameterMm[wall]
}

export type SyringePresetName = "1mL" | "3mL" | "10mL" | "20mL"

export interface SyringePreset {
    name: SyringePresetName
    nominalMl: number
    boreMm: number
}

export const SYRINGE_PRESETS: Readonly<Record<SyringePresetName, SyringePreset>> = {
    "1mL": { name: "1mL", nominalMl: 1, boreMm: 4.78 },
    "3mL": { name: "3mL", nominalMl: 3, boreMm: 8.66 },
    "10mL": { name: "10mL", nominalMl: 10, boreMm: 14.5 },
    "20mL": { name: "20mL", nominalMl: 20, boreMm: 19.1 },
}

/** Reference bore for the friction and compliance defaults (20 mL syringe). */
export const REFERENCE_BORE_MM = 19.1

/** Plunger seal friction of the 20 mL reference syringe, N (SIM-1 defaults). */
export const REFERENCE_FRICTION_DYNAMIC_N = 5
export const REFERENCE_FRICTION_STATIC_N = 8

/**
 * Compliance of the reference 20 mL cement syringe (+ cement + needle hub),
 * mL per MPa. 0.02 mL/MPa stores 0.03 mL at 1.5 MPa, i.e. a hard stop at a
 * typical injection pressure leaves a few hundredths of a mL of afterflow.
 * Rough budget for that figure:
 * - cement bulk compressibility: K ~ 3 GPa, ~10 mL in the barrel
 *   -> ~0.003 mL/MPa;
 * - barrel hoop expansion of a dedicated high-pressure cement syringe
 *   (thick polycarbonate or metal barrel, radius/wall ~ 1-2, E ~ 2.4 GPa for
 *   PC, ~10 mL wetted) -> ~0.01 mL/MPa;
 * - plunger seal and drive-train take-up -> a few 0.001 mL/MPa.
 * A thin-walled disposable polypropylene 20 mL syringe (radius/wall ~ 5,
 * E ~ 1.5 GPa) would store ~0.1 mL/MPa, and entrained air in hand-mixed
 * cement (a few % porosity) more again: set `complianceMlPerMPa` to probe
 * those worst cases. To be measured on the bench rig (CLINICAL-BASIS marks
 * afterflow as provisional).
 */
export const REFERENCE_COMPLIANCE_ML_PER_MPA = 0.02

/**
 * Part of the compliance that does not scale with the bore (needle hub,
 * cement column in the needle, drive-train take-up), mL per MPa.
 */
export const FIXED_COMPLIANCE_ML_PER_MPA = 0.002

export function syringeAreaMm2(boreMm: number): number {
    return (Math.PI * boreMm * boreMm) / 4
}

/** Dynamic seal friction scales with seal circumference, i.e. with bore. */
export function defaultFrictionDynamicN(boreMm: number): number {
    return (REFERENCE_FRICTION_DYNAMIC_N * boreMm) / REFERENCE_BORE_MM
}

export function defaultFrictionStaticN(boreMm: number): number {
    return (REFERENCE_FRICTION_STATIC_N * boreMm) / REFERENCE_BORE_MM
}

/**
 * Default compliance for a bore: a fixed part plus a part scaling with the
 * plunger area (seal and barrel wall under pressure), so that the 20 mL
 * reference gives REFERENCE_COMPLIANCE_ML_PER_MPA and a 1 mL syringe ~0.003.
 */
export function defaultComplianceMlPerMPa(boreMm: number): number {
    const scaled = REFERENCE_COMPLIANCE_ML_PER_MPA - FIXED_COMPLIANCE_ML_PER_MPA
    const ratio = boreMm / REFERENCE_BORE_MM
    return FIXED_COMPLIANCE_ML_PER_MPA + scaled * ratio * ratio
}
