// The plant: stepper-driven plunger -> syringe (bore, seal friction,
// compliance) -> needle (Hagen-Poiseuille, cement viscosity by age) ->
// vertebral body (resistance x tumour factor, compliance) -> leak paths.
// SIM-1 in REQUIREMENTS.md; numbers in CLINICAL-BASIS.md.
//
// Lumped hydraulic circuit (gauge pressures, SI inside, units in names at
// the boundary):
//
//   plunger --Qp--> [chamber Pc, Cc] --needle Rn--> [body Pb, Cb] --Rb--> marrow outflow
//                                                          |--Rb*f1--> leak 1 (opens at atMl)
//                                                          |--Rb*f2--> leak 2 ...
//
//   Cc dPc/dt = Qp - (Pc - Pb)/Rn
//   Cb dPb/dt = (Pc - Pb)/Rn - Pb/Rb - sum(Pb/(Rb*fi))   (open leaks, Pb > 0)
//   Rn = 128 mu L / (pi d^4) x occlusion,  Rb = Rb0 x tumorFactor
//
// Rb0 is fitted to Reidy 2003: 6.83 kPa in a normal body at 3 mL/min
// (tumorFactor 5.8 -> 39.6 kPa, the metastatic mean). Rb is the resistance of
// the paths by which marrow and fat leave the body as cement displaces them;
// it does not depend on the cement viscosity by default
// (`vertebra.viscosityExponent` = 0; set 1 to make it Darcy-like in mu).
// With ~1.55 MPa across a 14 G x 100 mm needle at 50 Pa.s, the body is
// 0.4 % (normal) to 2.5 % (metastatic) of the plunger pressure, so a leak that
// collapses the body pressure moves the plunger signal by at most a few %
// (CLINICAL-BASIS: ~95 % of the pressure is lost in the cannula).
//
// Integration: fixed sub-steps (default 0.5 ms; a step of any dt is split
// into equal sub-steps no longer than that). The two pressures are advanced
// by backward Euler, solving the 2x2 linear system exactly each sub-step:
// unconditionally stable for any stiffness (1 mL syringe with a 10 G needle
// and liquid cement has a time constant of microseconds; set cement has one
// of hours) and volume-conserving to rounding, because every flow is
// evaluated at the same new pressures that the compliance terms use.
//
// Vacuum and gap: the chamber cannot go below `minChamberPressurePa`
// (default -90 kPa gauge, near vacuum). Retracting further opens a gap
// between plunger and cement (`gapMl`) which a later advance must take up
// before pressure builds again (the slack LEAK-3 speaks of); while a gap is
// open, cement may be drawn back from the body through the needle.
// Volume bookkeeping: plungerVolumeMl = injectedMl + storedMl - gapMl.
//
// Fidelity v2 (SIM-6, issue 12), each part opt-in so SIM-1 scenarios keep
// their numbers; `physics: "v2"` switches the fitted defaults on together:
// - power-law cement in the needle (rheology.ts; cement.rheology/flowIndex):
//   dP = A sgn(Q)|Q|^n, A = occlusion x sum over tube parts of K x geometry;
// - stepped cannula (`needle.segments`) and a restrictive syringe/Luer tip
//   (`syringe.tip`): tube parts in series, pressure drops add;
// - entrained air (`syringe.airFraction`, compliance.ts): the chamber stores
//   S(P) = C P + V_air0 P / (p_atm + P) instead of C P;
// - two-zone needle temperature (`needle.insertedLengthMm`, `vertebra.
//   temperatureC`): the column inside the body ages on the 37 C clock (about
//   2.3x the 22 C one) and is flushed by the flow (well-mixed column: d(age)/dt
//   = f_body - Q/V (age - age_syringe)), so a long pause thickens the tip;
// - leak share depending on the cement/marrow viscosity ratio
//   (`vertebra.leakViscosityExponent`, per leak `viscosityExponent`): leak
//   resistance x (mu / 50 Pa.s)^alpha, alpha 0.45 fitted to Habib et al. 2010;
//   the body resistance stays independent of mu unless
//   `vertebra.viscosityExponent` = 1 (Darcy).
// With a nonlinear needle or chamber the backward-Euler step solves one
// monotone scalar equation (the needle pressure drop) by safeguarded Newton;
// the linear SIM-1 case converges in one step to the same answer. Volume is
// conserved exactly either way: the chamber pressure is taken from the stored
// volume S0 + dV - h Q.

import { CementConfig, CementModel, CementPhase, cementTimeFactor } from "./cement"
import { ChamberCompliance } from "./compliance"
import { TubeSegment, consistencyPaSn, pipeGeometryFactor } from "./rheology"
import {
    NeedleWall,
    SYRINGE_PRESETS,
    SyringePresetName,
    defaultComplianceMlPerMPa,
    defaultFrictionDynamicN,
    defaultFrictionStaticN,
    needleInnerDiameterMm,
    syringeAreaMm2,
} from "./presets"

export type LeakKind = "venous" | "softTissue" | "epidural"
export const LEAK_KINDS: ReadonlyArray<LeakKind> = ["venous", "softTissue", "epidural"]

/** Drive input applied for the whole of a step. */
export interface DriveInput {
    /** driver enable line; false: the plunger holds position at once (detent) */
    enabled: boolean
    /** commanded plunger speed, mm/s; negative retracts */
    speedCmdMmPerS: number
}

export interface LeakPathConfig {
    kind: LeakKind
    /** leak resistance = body resistance x this factor (0.2: a 5x easier path) */
    resistanceFactor: number
    /** opens when injectedMl reaches this volume */
    atMl?: number
    /** or opens at this simulation time */
    atS?: number
    /** leak resistance x (mu / 50 Pa.s)^exponent; default vertebra.leakViscosityExponent */
    viscosityExponent?: number
}

export interface OcclusionConfig {
    /** needle resistance multiplier once triggered (e.g. 50; Infinity = fully blocked) */
    factor: number
    atS?: number
    atMl?: number
}

export interface SyringeConfig {
    /** default "20mL" */
    preset?: SyringePresetName
    /** overrides the preset's bore */
    boreMm?: number
    /** cement loaded, mL: the plunger bottoms out after delivering it (default: preset nominal) */
    fillMl?: number
    frictionDynamicN?: number
    frictionStaticN?: number
    /** travel over which breakaway (static) friction decays to dynamic, mm */
    breakawayMm?: number
    /** syringe elasticity (with cement bulk and drive take-up), mL/MPa */
    complianceMlPerMPa?: number
    /** air volume fraction of the cement at atmospheric pressure, 0..0.3 (SIM-6: 0-5 %); default 0 */
    airFraction?: number
    /** restrictive syringe nozzle / Luer connector upstream of the needle, at syringe temperature */
    tip?: TubeSegment
}

export interface NeedleConfig {
    /** default 14 */
    gauge?: number
    /** default "regular" */
    wall?: NeedleWall
    /** overrides gauge/wall */
    innerDiameterMm?: number
    /** default 100 */
    lengthMm?: number
    /** stepped cannula: tube parts from hub to tip; overrides gauge/wall/innerDiameterMm/lengthMm */
    segments?: ReadonlyArray<TubeSegment>
    /** length inside the body (from the tip) whose cement is at body temperature; default 0 (v1) / 60 (v2) */
    insertedLengthMm?: number
}

export interface VertebraConfig {
    /** normal-body resistance, Pa per (mL/s); default fitted to 6.83 kPa at 3 mL/min */
    resistancePaSPerMl?: number
    /** default 1 (normal); 5.8 ~ metastatic (Reidy 2003) */
    tumorFactor?: number
    /** mL per kPa; default 0.002 */
    complianceMlPerKPa?: number
    /** body resistance x (mu / 50 Pa.s)^exponent; default 0; 1 = Darcy */
    viscosityExponent?: number
    /** leak resistance x (mu / 50 Pa.s)^exponent (all leaks); default 0 (v1) / fitted (v2) */
    leakViscosityExponent?: number
    /** temperature of the needle part inside the body, C; default 37 */
    temperatureC?: number
}

export interface DriveConfig {
    /** default 10 */
    maxSpeedMmPerS?: number
    /** default 20 */
    maxAccelMmPerS2?: number
    /** the stepper loses steps (does not advance) above this plunger force; default 2500 N */
    stallForceN?: number
}

export type PhysicsVersion = "v1" | "v2"

export interface PlantConfig {
    /**
     * "v1" (default): SIM-1 model. "v2": SIM-6 defaults on (power-law cement,
     * 60 mm of needle at 37 C, viscosity-dependent leaks); air stays
     * `syringe.airFraction` (default 0).
     */
    physics?: PhysicsVersion
    syringe?: SyringeConfig
    needle?: NeedleConfig
    cement?: CementConfig
    vertebra?: VertebraConfig
    leaks?: ReadonlyArray<LeakPathConfig>
    occlusion?: OcclusionConfig
    drive?: DriveConfig
    /** internal integration sub-step, s; default 0.0005 */
    subStepS?: number
    /** chamber pressure floor (vacuum), Pa gauge; default -90 kPa */
    minChamberPressurePa?: number
}

// ---- defaults (see the header comment and presets.ts for sources) ----

/** 3 mL/min in mL/s. */
export const REFERENCE_FLOW_ML_PER_S = 3 / 60
/** Reidy 2003, mean maximum intravertebral pressure at 3 mL/min, Pa. */
export const REIDY_NORMAL_PRESSURE_PA = 6830
export const REIDY_METASTATIC_PRESSURE_PA = 39660
/** Normal-body resistance, Pa per (mL/s): 6830 Pa / 0.05 mL/s = 136 600. */
export const DEFAULT_BODY_RESISTANCE_PA_S_PER_ML = REIDY_NORMAL_PRESSURE_PA / REFERENCE_FLOW_ML_PER_S
/** Metastatic / normal = 39.66 / 6.83 = 5.8. */
export const METASTATIC_TUMOR_FACTOR = 5.8
/**
 * Body compliance, mL per kPa. Not measured: chosen so the body settles in
 * ~0.3 s (normal) to ~1.6 s (metastatic) and stores < 0.1 mL at 40 kPa.
 */
export const DEFAULT_BODY_COMPLIANCE_ML_PER_KPA = 0.002
export const BODY_VISCOSITY_REFERENCE_PA_S = 50
export const DEFAULT_MAX_SPEED_MM_PER_S = 10
export const DEFAULT_MAX_ACCEL_MM_PER_S2 = 20
/**
 * Stall force: a NEMA 17 stepper (~0.4 N.m) on a 2 mm lead screw at ~30-40 %
 * efficiency pushes ~400-500 N; a geared or NEMA 23 drive several kN. 2500 N
 * (8.7 MPa in a 20 mL syringe) keeps blockage scenarios bounded above the
 * load cell's 2000 N full scale.
 */
export const DEFAULT_STALL_FORCE_N = 2500
export const DEFAULT_BREAKAWAY_MM = 0.05
export const DEFAULT_SUB_STEP_S = 0.0005
export const DEFAULT_MIN_CHAMBER_PRESSURE_PA = -90_000
export const DEFAULT_NEEDLE_GAUGE = 14
export const DEFAULT_NEEDLE_LENGTH_MM = 100
/**
 * v2: needle length inside the body. Skin to vertebral-body centre is
 * ~50-80 mm on transpedicular and anterolateral C2 routes (estimate, not a
 * measured figure): 60 mm of a 100 mm needle.
 */
export const V2_INSERTED_LENGTH_MM = 60
export const DEFAULT_BODY_TEMPERATURE_C = 37
/**
 * v2 leak viscosity exponent alpha: leak resistance x (mu / 50 Pa.s)^alpha,
 * so the leak share falls as the cement/marrow viscosity ratio rises (the
 * body path displaces marrow, the leak path fills with cement). Fitted
 * (least squares on log leak-share ratios, leak factor 1) to the leaked
 * masses of Habib et al. 2010 (SAS J 4:26, benchmark model): low-viscosity
 * cement 4.0 g at 3.5 min vs 2.6 g at 9.5 min; high-viscosity 1.5 g at
 * 3.5 min vs 0.92 g at 6.5 min, and vs the low-viscosity 4.0 g. Within one
 * cement the fit is -27 % / -2 %; the high- vs low-viscosity product ratio
 * (0.375) is not reproduced (model ~0.68): that difference is more than
 * viscosity. literature.ts fidelityChecks() prints the comparison.
 */
export const V2_LEAK_VISCOSITY_EXPONENT = 0.45

const M3_PER_ML = 1e-6

/** Hagen-Poiseuille resistance of a round tube, Pa.s/m^3. */
export function poiseuilleResistancePaSPerM3(innerDiameterMm: number, lengthMm: number, viscosityPaS: number): number {
    const d = innerDiameterMm * 1e-3
    const l = lengthMm * 1e-3
    return (128 * viscosityPaS * l) / (Math.PI * d * d * d * d)
}

/** Hagen-Poiseuille pressure drop, Pa, for a flow in mL/s. */
export function poiseuilleDeltaPPa(
    innerDiameterMm: number,
    lengthMm: number,
    viscosityPaS: number,
    flowMlPerS: number
): number {
    return poiseuilleResistancePaSPerM3(innerDiameterMm, lengthMm, viscosityPaS) * flowMlPerS * M3_PER_ML
}

/** All parameters after defaults, in the units their names say. */
export interface PlantParams {
    physics: PhysicsVersion
    boreMm: number
    areaMm2: number
    mlPerMm: number
    fillMl: number
    maxPosMm: number
    frictionDynamicN: number
    frictionStaticN: number
    breakawayMm: number
    complianceMlPerMPa: number
    airFraction: number
    /** narrowest needle part */
    needleInnerDiameterMm: number
    /** total needle length (without the syringe tip) */
    needleLengthMm: number
    /** flow path from syringe to tip: optional syringe tip, then the needle parts */
    flowPath: ReadonlyArray<TubeSegment>
    insertedLengthMm: number
    bodyTemperatureC: number
    leakViscosityExponent: number
    bodyResistancePaSPerMl: number
    tumorFactor: number
    bodyComplianceMlPerKPa: number
    bodyViscosityExponent: number
    maxSpeedMmPerS: number
    maxAccelMmPerS2: number
    stallForceN: number
    subStepS: number
    minChamberPressurePa: number
    leaks: ReadonlyArray<LeakPathConfig>
    occlusion: OcclusionConfig | undefined
}

export interface LeakState {
    kind: LeakKind
    resistanceFactor: number
    atMl: number | undefined
    atS: number | undefined
    open: boolean
    openedAtS: number | null
    flowMlPerS: number
    leakedMl: number
}

export interface PlantState {
    tS: number
    enabled: boolean
    plungerPosMm: number
    plungerVelMmPerS: number
    /** plunger displacement x area, mL (of the mounted syringe: 0 again after an exchange) */
    plungerVolumeMl: number
    /** FLOW-5: plunger volume pushed in the syringes exchanged before this one (each its furthest travel), mL */
    exchangedMl: number
    chamberPressurePa: number
    bodyPressurePa: number
    /** force the drive exerts on the plunger (what the load cell sees), N */
    forceN: number
    /** seal friction part of forceN, N (signed) */
    frictionN: number
    needleFlowMlPerS: number
    /** out of the needle tip: bodyFilledMl + leakedMl */
    injectedMl: number
    bodyFilledMl: number
    leakedMl: number
    leakedMlByKind: Record<LeakKind, number>
    leaks: LeakState[]
    /** volume held by the syringe/cement compliance (Cc x Pc; with air S(Pc)), mL; negative under vacuum */
    storedMl: number
    /** tangent compliance of syringe + air at the chamber pressure, mL/MPa */
    chamberComplianceMlPerMPa: number
    /** void between plunger and cement after retracting past vacuum, mL */
    gapMl: number
    /** volume held by the body compliance (Cb x Pb), mL */
    bodyStoredMl: number
    /** Newtonian-equivalent viscosity of the syringe cement (reference condition), Pa.s */
    viscosityPaS: number
    /** same for the cement at the needle tip (two-zone needle: aged at body temperature) */
    needleTipViscosityPaS: number
    cementAgeS: number
    cementPhase: CementPhase
    /** needle dP / Q at the reference flow (3 mL/min), Pa per (mL/s) */
    needleResistancePaSPerMl: number
    needleOcclusionFactor: number
    /** the drive could not advance against the load during the last sub-step */
    stalled: boolean
    atEndOfTravel: boolean
}

function positive(name: string, v: number, allowZero = false): number {
    if (typeof v !== "number" || Number.isNaN(v) || (allowZero ? v < 0 : v <= 0))
        throw new RangeError(`${name} must be ${allowZero ? ">= 0" : "> 0"}, got ${v}`)
    return v
}

function segment(name: string, t: TubeSegment): TubeSegment {
    if (typeof t !== "object" || t === null) throw new RangeError(`${name} must be an object with innerDiameterMm and lengthMm`)
    return {
        innerDiameterMm: positive(`${name}.innerDiameterMm`, t.innerDiameterMm),
        lengthMm: positive(`${name}.lengthMm`, t.lengthMm),
    }
}

export function resolvePlantParams(config: PlantConfig = {}): PlantParams {
    const physics = config.physics ?? "v1"
    if (physics !== "v1" && physics !== "v2") throw new RangeError(`physics must be "v1" or "v2", got ${JSON.stringify(physics)}`)
    const v2 = physics === "v2"
    const s = config.syringe ?? {}
    const preset = SYRINGE_PRESETS[s.preset ?? "20mL"]
    if (!preset) throw new RangeError(`syringe.preset: unknown preset "${s.preset}"`)
    const boreMm = positive("syringe.boreMm", s.boreMm ?? preset.boreMm)
    const areaMm2 = syringeAreaMm2(boreMm)
    const fillMl = positive("syringe.fillMl", s.fillMl ?? preset.nominalMl)
    const n = config.needle ?? {}
    let needleParts: TubeSegment[]
    if (n.segments !== undefined) {
        if (!Array.isArray(n.segments) || n.segments.length === 0)
            throw new RangeError("needle.segments must be a non-empty list of {innerDiameterMm, lengthMm}")
        needleParts = n.segments.map((t, i) => segment(`needle.segments[${i}]`, t))
    } else {
        const needleId =
            n.innerDiameterMm ?? needleInnerDiameterMm(n.gauge ?? DEFAULT_NEEDLE_GAUGE, n.wall ?? "regular")
        needleParts = [
            {
                innerDiameterMm: positive("needle.innerDiameterMm", needleId),
                lengthMm: positive("needle.lengthMm", n.lengthMm ?? DEFAULT_NEEDLE_LENGTH_MM),
            },
        ]
    }
    const needleLengthMm = needleParts.reduce((a, t) => a + t.lengthMm, 0)
    const flowPath = s.tip !== undefined ? [segment("syringe.tip", s.tip), ...needleParts] : needleParts
    const insertedLengthMm = positive(
        "needle.insertedLengthMm",
        n.insertedLengthMm ?? (v2 ? Math.min(V2_INSERTED_LENGTH_MM, needleLengthMm) : 0),
        true
    )
    if (insertedLengthMm > needleLengthMm)
        throw new RangeError(`needle.insertedLengthMm (${insertedLengthMm}) exceeds the needle length (${needleLengthMm} mm)`)
    const v = config.vertebra ?? {}
    const bodyTemperatureC = v.temperatureC ?? DEFAULT_BODY_TEMPERATURE_C
    if (typeof bodyTemperatureC !== "number" || !(bodyTemperatureC >= 20 && bodyTemperatureC <= 45))
        throw new RangeError(`vertebra.temperatureC must be between 20 and 45, got ${bodyTemperatureC}`)
    const exponent = (name: string, e: number | undefined, dflt: number): number => {
        const x = e ?? dflt
        if (typeof x !== "number" || !(x >= 0 && x <= 2)) throw new RangeError(`${name} must be between 0 and 2, got ${x}`)
        return x
    }
    const leakViscosityExponent = exponent("vertebra.leakViscosityExponent", v.leakViscosityExponent, v2 ? V2_LEAK_VISCOSITY_EXPONENT : 0)
    const d = config.drive ?? {}
    const leaks = config.leaks ?? []
    leaks.forEach((l, i) => {
        if (!["venous", "softTissue", "epidural"].includes(l.kind))
            throw new RangeError(`leaks[${i}].kind must be venous, softTissue or epidural, got ${l.kind}`)
        positive(`leaks[${i}].resistanceFactor`, l.resistanceFactor)
        if (l.atMl === undefined && l.atS === undefined)
            throw new RangeError(`leaks[${i}] needs atMl or atS`)
        if (l.viscosityExponent !== undefined) exponent(`leaks[${i}].viscosityExponent`, l.viscosityExponent, 0)
    })
    if (config.occlusion) positive("occlusion.factor", config.occlusion.factor)
    const frictionDynamicN = positive("syringe.frictionDynamicN", s.frictionDynamicN ?? defaultFrictionDynamicN(boreMm), true)
    const frictionStaticN = positive("syringe.frictionStaticN", s.frictionStaticN ?? defaultFrictionStaticN(boreMm), true)
    return {
        physics,
        boreMm,
        areaMm2,
        mlPerMm: areaMm2 / 1000,
        fillMl,
        maxPosMm: (fillMl * 1000) / areaMm2,
        frictionDynamicN,
        frictionStaticN: Math.max(frictionStaticN, frictionDynamicN),
        breakawayMm: positive("syringe.breakawayMm", s.breakawayMm ?? DEFAULT_BREAKAWAY_MM),
        complianceMlPerMPa: positive("syringe.complianceMlPerMPa", s.complianceMlPerMPa ?? defaultComplianceMlPerMPa(boreMm)),
        airFraction: s.airFraction ?? 0,
        needleInnerDiameterMm: Math.min(...needleParts.map(t => t.innerDiameterMm)),
        needleLengthMm,
        flowPath,
        insertedLengthMm,
        bodyTemperatureC,
        leakViscosityExponent,
        bodyResistancePaSPerMl: positive(
            "vertebra.resistancePaSPerMl",
            v.resistancePaSPerMl ?? DEFAULT_BODY_RESISTANCE_PA_S_PER_ML
        ),
        tumorFactor: positive("vertebra.tumorFactor", v.tumorFactor ?? 1),
        bodyComplianceMlPerKPa: positive(
            "vertebra.complianceMlPerKPa",
            v.complianceMlPerKPa ?? DEFAULT_BODY_COMPLIANCE_ML_PER_KPA
        ),
        bodyViscosityExponent: exponent("vertebra.viscosityExponent", v.viscosityExponent, 0),
        maxSpeedMmPerS: positive("drive.maxSpeedMmPerS", d.maxSpeedMmPerS ?? DEFAULT_MAX_SPEED_MM_PER_S),
        maxAccelMmPerS2: positive("drive.maxAccelMmPerS2", d.maxAccelMmPerS2 ?? DEFAULT_MAX_ACCEL_MM_PER_S2),
        stallForceN: positive("drive.stallForceN", d.stallForceN ?? DEFAULT_STALL_FORCE_N),
        subStepS: positive("subStepS", config.subStepS ?? DEFAULT_SUB_STEP_S),
        minChamberPressurePa: config.minChamberPressurePa ?? DEFAULT_MIN_CHAMBER_PRESSURE_PA,
        leaks,
        occlusion: config.occlusion,
    }
}

export class InjectorPlant {
    readonly params: PlantParams
    readonly cement: CementModel

    // SI internals: m^3, Pa, s
    private readonly areaM2: number
    private readonly chamber: ChamberCompliance
    private readonly bodyComplianceM3PerPa: number
    /** power-law index the needle sees (1 = Newtonian) */
    private readonly flowIndex: number
    /** geometry factors (dP = K x factor x Q^n) of the flow path outside / inside the body */
    private readonly geomOutside: number
    private readonly geomInside: number
    /** cement volume of the needle part inside the body, m^3 */
    private readonly insideVolumeM3: number
    /** cure-clock rate of the body zone relative to 22 C */
    private readonly bodyTimeFactor: number

    private tS = 0
    private enabled = false
    private posMm = 0
    /** plunger velocity imposed by hand while the drive is disabled, mm/s */
    handVelMmPerS = 0
    private velMmPerS = 0
    private pChamberPa = 0
    private pBodyPa = 0
    private gapM3 = 0
    private injectedM3 = 0
    private bodyFilledM3 = 0
    private needleFlowM3PerS = 0
    private readonly leakOpen: boolean[]
    private readonly leakOpenedAtS: (number | null)[]
    private readonly leakedM3: number[]
    private readonly leakFlowM3PerS: number[]
    private occlusionFactor = 1
    private occlusionTriggered = false
    private frictionN = 0
    private motionDir = 0
    private travelSinceStartMm = 0
    private stalled = false
    private atEndOfTravel = false
    /** FLOW-5: furthest plunger position in the mounted syringe, mm; syringes exchanged, their pushed volume */
    private furthestMm = 0
    private exchangedM3 = 0
    private exchanges = 0
    private viscosityNowPaS: number
    /** reference-clock age of the cement in the needle part inside the body, s */
    private insideAgeS: number
    private tipViscosityPaS: number
    private needleCoefficient = 0
    private readonly leakConductance: number[]

    constructor(config: PlantConfig = {}) {
        this.params = resolvePlantParams(config)
        const cementConfig: CementConfig =
            this.params.physics === "v2" && config.cement?.rheology === undefined && config.cement?.flowIndex === undefined
                ? { ...config.cement, rheology: "powerLaw" }
                : config.cement ?? {}
        this.cement = new CementModel(cementConfig)
        const p = this.params
        this.areaM2 = p.areaMm2 * 1e-6
        this.chamber = new ChamberCompliance({
            syringeComplianceMlPerMPa: p.complianceMlPerMPa,
            airFraction: p.airFraction,
            cementVolumeMl: p.fillMl,
        })
        this.bodyComplianceM3PerPa = p.bodyComplianceMlPerKPa * M3_PER_ML * 1e-3
        this.flowIndex = this.cement.flowIndex
        // split the flow path at the body surface: the last insertedLengthMm (from the tip) is inside
        let inside = p.insertedLengthMm
        let geomOutside = 0
        let geomInside = 0
        let insideVolumeM3 = 0
        for (let i = p.flowPath.length - 1; i >= 0; i--) {
            const t = p.flowPath[i]
            const inMm = Math.min(inside, t.lengthMm)
            inside -= inMm
            if (inMm > 0) {
                geomInside += pipeGeometryFactor(t.innerDiameterMm, inMm, this.flowIndex)
                insideVolumeM3 += (Math.PI / 4) * t.innerDiameterMm * t.innerDiameterMm * inMm * 1e-9
            }
            if (t.lengthMm - inMm > 0) geomOutside += pipeGeometryFactor(t.innerDiameterMm, t.lengthMm - inMm, this.flowIndex)
        }
        this.geomOutside = geomOutside
        this.geomInside = geomInside
        this.insideVolumeM3 = insideVolumeM3
        this.bodyTimeFactor = cementTimeFactor(p.bodyTemperatureC)
        const nLeaks = p.leaks.length
        this.leakOpen = new Array(nLeaks).fill(false)
        this.leakOpenedAtS = new Array(nLeaks).fill(null)
        this.leakedM3 = new Array(nLeaks).fill(0)
        this.leakFlowM3PerS = new Array(nLeaks).fill(0)
        this.leakConductance = new Array(nLeaks).fill(0)
        this.viscosityNowPaS = this.cement.viscosityPaS(0)
        this.insideAgeS = this.cement.effectiveAgeS(0)
        this.tipViscosityPaS = this.viscosityNowPaS
        this.needleCoefficient = this.needleCoefficientFor(this.viscosityNowPaS, this.tipViscosityPaS)
    }

    /** Set the needle occlusion factor now (1 = clear). Overrides `occlusion`. */
    setNeedleOcclusionFactor(factor: number): void {
        positive("needle occlusion factor", factor)
        this.occlusionFactor = factor
        this.occlusionTriggered = true
    }

    /**
     * Needle coefficient A, SI: dP = A sgn(Q) |Q|^n (n = 1: the resistance,
     * Pa.s/m^3), from the viscosities outside and inside the body, with occlusion.
     */
    private needleCoefficientFor(outsideViscosityPaS: number, insideViscosityPaS: number): number {
        const n = this.flowIndex
        const k = consistencyPaSn(outsideViscosityPaS, n) * this.geomOutside +
            (this.geomInside === 0 ? 0 : consistencyPaSn(insideViscosityPaS, n) * this.geomInside)
        return k * this.occlusionFactor
    }

    /** Needle flow, m^3/s, for a pressure drop dpPa. */
    private needleFlowM3(dpPa: number, a: number): number {
        if (!Number.isFinite(a)) return 0
        if (this.flowIndex === 1) return dpPa / a
        return Math.sign(dpPa) * Math.pow(Math.abs(dpPa) / a, 1 / this.flowIndex)
    }

    /** d(needle flow)/d(dP), m^3/(s.Pa). */
    private needleFlowSlope(dpPa: number, a: number): number {
        if (!Number.isFinite(a)) return 0
        const n = this.flowIndex
        if (n === 1) return 1 / a
        return Math.pow(Math.abs(dpPa) / a, 1 / n - 1) / (n * a)
    }

    private bodyResistancePaSPerM3(viscosityPaS: number): number {
        const p = this.params
        const visc =
            p.bodyViscosityExponent === 0
                ? 1
                : Math.pow(viscosityPaS / BODY_VISCOSITY_REFERENCE_PA_S, p.bodyViscosityExponent)
        return (p.bodyResistancePaSPerMl / M3_PER_ML) * p.tumorFactor * visc
    }

    /** Leak i's resistance factor on the body resistance at cement viscosity mu. */
    private leakFactor(i: number, viscosityPaS: number): number {
        const l = this.params.leaks[i]
        const e = l.viscosityExponent ?? this.params.leakViscosityExponent
        return e === 0 ? l.resistanceFactor : l.resistanceFactor * Math.pow(viscosityPaS / BODY_VISCOSITY_REFERENCE_PA_S, e)
    }

    /** Advance by dtS (any size) with the drive input held constant. */
    step(dtS: number, input: DriveInput): void {
        if (!(dtS >= 0) || !Number.isFinite(dtS)) throw new RangeError(`dtS must be finite and >= 0, got ${dtS}`)
        if (!Number.isFinite(input.speedCmdMmPerS))
            throw new RangeError(`speedCmdMmPerS must be finite, got ${input.speedCmdMmPerS}`)
        if (dtS === 0) return
        const n = Math.max(1, Math.ceil(dtS / this.params.subStepS - 1e-9))
        const h = dtS / n
        for (let i = 0; i < n; i++) this.subStep(h, input)
    }

    private triggerEvents(): void {
        const injectedMl = this.injectedM3 / M3_PER_ML
        const p = this.params
        for (let i = 0; i < p.leaks.length; i++) {
            if (this.leakOpen[i]) continue
            const l = p.leaks[i]
            if ((l.atMl !== undefined && injectedMl >= l.atMl) || (l.atS !== undefined && this.tS >= l.atS)) {
                this.leakOpen[i] = true
                this.leakOpenedAtS[i] = this.tS
            }
        }
        const occ = p.occlusion
        if (occ && !this.occlusionTriggered) {
            if ((occ.atMl !== undefined && injectedMl >= occ.atMl) || (occ.atS !== undefined && this.tS >= occ.atS)) {
                this.occlusionFactor = occ.factor
                this.occlusionTriggered = true
            }
        }
    }

    // One sub-step's hydraulic solution (fields, not a returned tuple: this
    // runs 2000 times per simulated second).
    private solQ = 0
    private solPc = 0
    private solPb = 0
    // the equation being solved (set by solve())
    private eqH = 0
    private eqCb = 0
    private eqGOut = 0
    private eqStoredM3 = 0
    private eqClampedPcPa = NaN

    /**
     * Backward-Euler step for the needle flow q, chamber and body pressures.
     * Body (linear in q): Pb = (Cb Pb0 + h q) / (Cb + h gOut). Chamber: keeps
     * the stored volume `storedM3` - h q, i.e. Pc = S^-1(storedM3 - h q), or is
     * clamped at `clampedPcPa` (vacuum floor) when that is a number.
     */
    private solve(h: number, a: number, cb: number, gOut: number, storedM3: number, clampedPcPa: number): void {
        const gn = Number.isFinite(a) ? 1 / a : 0
        const clamped = !Number.isNaN(clampedPcPa)
        if (this.flowIndex === 1 && (clamped || this.chamber.isLinear)) {
            // linear (SIM-1) case in closed form
            const hgn = h * gn
            if (clamped) {
                const y = (cb * this.pBodyPa + hgn * clampedPcPa) / (cb + hgn + h * gOut)
                this.solQ = gn * (clampedPcPa - y)
                this.solPc = clampedPcPa
                this.solPb = y
                return
            }
            const cc = this.chamber.linearM3PerPa
            const a11 = cc + hgn
            const a22 = cb + hgn + h * gOut
            const b1 = storedM3
            const b2 = cb * this.pBodyPa
            const det = a11 * a22 - hgn * hgn
            const x = (b1 * a22 + hgn * b2) / det
            const y = (a11 * b2 + hgn * b1) / det
            this.solQ = gn * (x - y)
            this.solPc = x
            this.solPb = y
            return
        }
        this.eqH = h
        this.eqCb = cb
        this.eqGOut = gOut
        this.eqStoredM3 = storedM3
        this.eqClampedPcPa = clampedPcPa
        const q = this.solveNeedleFlow(a)
        this.solQ = q
        this.solPc = clamped ? clampedPcPa : this.chamber.pressureForStoredPa(storedM3 - h * q)
        this.solPb = (cb * this.pBodyPa + h * q) / (cb + h * gOut)
    }

    /** D(q): pressure difference across the needle the compliances leave for a needle flow q. */
    private dpForFlow(q: number): number {
        const pb = (this.eqCb * this.pBodyPa + this.eqH * q) / (this.eqCb + this.eqH * this.eqGOut)
        const pc = Number.isNaN(this.eqClampedPcPa)
            ? this.chamber.pressureForStoredPa(this.eqStoredM3 - this.eqH * q)
            : this.eqClampedPcPa
        return pc - pb
    }

    /** dD/dq (negative). */
    private dpSlope(q: number): number {
        const body = -this.eqH / (this.eqCb + this.eqH * this.eqGOut)
        if (!Number.isNaN(this.eqClampedPcPa)) return body
        const pc = this.chamber.pressureForStoredPa(this.eqStoredM3 - this.eqH * q)
        return body - this.eqH / this.chamber.tangentM3PerPa(pc)
    }

    /**
     * Needle pressure drop x solving H(x) = x - D(G(x)) = 0, G the needle flow
     * law. H rises monotonically and H(0) = -D(0), so the root lies between 0
     * and D(0): safeguarded Newton (bisection when a step leaves the bracket).
     * Returns the needle flow, m^3/s.
     */
    private solveNeedleFlow(a: number): number {
        const x0 = this.dpForFlow(0)
        if (x0 === 0 || !Number.isFinite(a)) return 0
        let lo = Math.min(0, x0)
        let hi = Math.max(0, x0)
        let x = x0
        for (let it = 0; it < 100; it++) {
            const q = this.needleFlowM3(x, a)
            const hx = x - this.dpForFlow(q)
            if (hx === 0) return q
            if (hx > 0) hi = x
            else lo = x
            const slope = 1 - this.dpSlope(q) * this.needleFlowSlope(x, a)
            let next = x - hx / slope
            if (!(next > lo && next < hi)) next = 0.5 * (lo + hi)
            const tol = 1e-12 * Math.abs(x) + 1e-9
            if (Math.abs(next - x) <= tol || hi - lo <= tol) return this.needleFlowM3(next, a)
            x = next
        }
        return this.needleFlowM3(x, a)
    }

    private subStep(h: number, input: DriveInput): void {
        const p = this.params
        this.triggerEvents()

        // ---- drive: acceleration-limited velocity; disabled = hold at once ----
        if (input.enabled && !this.enabled) {
            // an energised stepper locks the rotor to its step position: whatever a
            // hand did while it was off, it starts from rest
            this.velMmPerS = 0
        }
        this.enabled = input.enabled
        if (!input.enabled) {
            // a disabled drive holds, unless a hand pushes the plunger (campaign fault)
            this.velMmPerS = this.handVelMmPerS
        } else {
            const target = Math.max(-p.maxSpeedMmPerS, Math.min(p.maxSpeedMmPerS, input.speedCmdMmPerS))
            const maxDv = p.maxAccelMmPerS2 * h
            const dv = target - this.velMmPerS
            this.velMmPerS += Math.max(-maxDv, Math.min(maxDv, dv))
        }
        // stall: the stepper cannot push against more than its stall force
        this.stalled = false
        if (this.velMmPerS > 0 && this.pChamberPa * this.areaM2 + p.frictionDynamicN > p.stallForceN) {
            this.velMmPerS = 0
            this.stalled = true
        }
        let newPosMm = this.posMm + this.velMmPerS * h
        this.atEndOfTravel = false
        if (newPosMm >= p.maxPosMm && this.velMmPerS >= 0) {
            if (newPosMm > p.maxPosMm) this.velMmPerS = 0
            newPosMm = Math.max(this.posMm, p.maxPosMm)
            this.atEndOfTravel = true
        }
        const dxMm = newPosMm - this.posMm
        const dVM3 = dxMm * p.areaMm2 * 1e-9 // mm^3 -> m^3

        // ---- seal friction: breakaway (static) decaying to dynamic; held when still ----
        if (dxMm !== 0) {
            const dir = dxMm > 0 ? 1 : -1
            if (dir !== this.motionDir) {
                this.motionDir = dir
                this.travelSinceStartMm = 0
            }
            this.travelSinceStartMm += Math.abs(dxMm)
            const extra = (p.frictionStaticN - p.frictionDynamicN) * Math.exp(-this.travelSinceStartMm / p.breakawayMm)
            this.frictionN = dir * (p.frictionDynamicN + extra)
        } else {
            // stuck seal keeps the shear it had (within static friction); the
            // next motion starts with breakaway again
            this.motionDir = 0
            this.frictionN = Math.max(-p.frictionStaticN, Math.min(p.frictionStaticN, this.frictionN))
        }

        // ---- hydraulics: backward Euler on (Pc, Pb) ----
        const muOutside = this.cement.viscosityPaS(this.tS + h)
        const muTip = this.geomInside === 0 ? muOutside : this.cement.viscosityAtEffectiveAgePaS(this.insideAgeS)
        this.viscosityNowPaS = muOutside
        this.tipViscosityPaS = muTip
        const a = this.needleCoefficientFor(muOutside, muTip)
        this.needleCoefficient = a
        const rb = this.bodyResistancePaSPerM3(muTip)
        const leakG = this.leakConductance
        let gLeaks = 0
        for (let i = 0; i < leakG.length; i++) {
            leakG[i] = this.leakOpen[i] ? 1 / (rb * this.leakFactor(i, muTip)) : 0
            gLeaks += leakG[i]
        }
        const cb = this.bodyComplianceM3PerPa
        const gb = 1 / rb
        const chamber = this.chamber
        const s0 = chamber.storedM3(this.pChamberPa)

        // Leaks act as check valves (cement that left does not come back):
        // they conduct only while Pb > 0.
        // mode A: no gap after this sub-step (any existing gap is closed first)
        const dVEff = dVM3 - this.gapM3
        let leaksConduct = gLeaks > 0
        this.solve(h, a, cb, gb + gLeaks, s0 + dVEff, NaN)
        if (leaksConduct && this.solPb < 0) {
            leaksConduct = false
            this.solve(h, a, cb, gb, s0 + dVEff, NaN)
        }
        if (this.solPc >= p.minChamberPressurePa) {
            this.gapM3 = 0
        } else {
            // mode B: chamber held at the vacuum floor, the gap absorbs the difference
            const floor = p.minChamberPressurePa
            leaksConduct = gLeaks > 0
            this.solve(h, a, cb, gb + gLeaks, 0, floor)
            if (leaksConduct && this.solPb < 0) {
                leaksConduct = false
                this.solve(h, a, cb, gb, 0, floor)
            }
            // dV = h Qn + dS - dGap
            this.gapM3 += h * this.solQ + chamber.storedM3(floor) - s0 - dVM3
            if (this.gapM3 < 0) this.gapM3 = 0 // rounding only
        }
        const qn = this.solQ
        const pc = this.solPc
        const pb = this.solPb

        this.needleFlowM3PerS = qn
        this.injectedM3 += h * qn
        let qLeaks = 0
        for (let i = 0; i < p.leaks.length; i++) {
            const q = leaksConduct ? pb * leakG[i] : 0
            this.leakFlowM3PerS[i] = q
            this.leakedM3[i] += h * q
            qLeaks += q
        }
        this.bodyFilledM3 += h * (qn - qLeaks)
        this.pChamberPa = pc
        this.pBodyPa = pb
        this.posMm = newPosMm
        if (newPosMm > this.furthestMm) this.furthestMm = newPosMm
        this.tS += h

        // ---- two-zone needle: the column inside the body ages on the body's
        // clock and is replaced by syringe cement at the forward flow rate ----
        if (this.geomInside !== 0) {
            const syringeAgeS = this.cement.effectiveAgeS(this.tS)
            const flush = qn > 0 ? qn / this.insideVolumeM3 : 0
            this.insideAgeS = (this.insideAgeS + h * this.bodyTimeFactor + h * flush * syringeAgeS) / (1 + h * flush)
            if (this.insideAgeS < syringeAgeS) this.insideAgeS = syringeAgeS
        }
    }

    /**
     * FLOW-5 syringe exchange (an operator action, drive disabled): the empty
     * syringe comes off the needle (what its chamber still held under pressure
     * goes with it, not into the patient), the pusher goes back, and a syringe
     * like the first (same bore and fill) goes on, its plunger at the start and
     * the chamber at ambient. The needle stays full (cement continuity): its
     * flow path and the cement's age in it carry on. The encoder sees the
     * pusher's way back as one backward move.
     */
    exchangeSyringe(): void {
        this.exchangedM3 += this.furthestMm * this.params.areaMm2 * 1e-9
        this.exchanges++
        this.posMm = 0
        this.furthestMm = 0
        this.velMmPerS = 0
        this.pChamberPa = 0
        this.gapM3 = 0
        this.frictionN = 0
        this.motionDir = 0
        this.travelSinceStartMm = 0
        this.stalled = false
        this.atEndOfTravel = false
    }

    /** Syringes exchanged so far (FLOW-5). */
    syringesExchanged(): number {
        return this.exchanges
    }

    /** Simulation time, s. */
    timeS(): number {
        return this.tS
    }

    plungerPosMm(): number {
        return this.posMm
    }

    /** Force the drive exerts on the plunger, N: chamber pressure x area + seal friction. */
    forceN(): number {
        return this.pChamberPa * this.areaM2 + this.frictionN
    }

    state(): PlantState {
        const p = this.params
        const leakedMlByKind: Record<LeakKind, number> = { venous: 0, softTissue: 0, epidural: 0 }
        const leaks: LeakState[] = p.leaks.map((l, i) => {
            const leakedMl = this.leakedM3[i] / M3_PER_ML
            leakedMlByKind[l.kind] += leakedMl
            return {
                kind: l.kind,
                resistanceFactor: l.resistanceFactor,
                atMl: l.atMl,
                atS: l.atS,
                open: this.leakOpen[i],
                openedAtS: this.leakOpenedAtS[i],
                flowMlPerS: this.leakFlowM3PerS[i] / M3_PER_ML,
                leakedMl,
            }
        })
        const leakedMl = leaks.reduce((a, l) => a + l.leakedMl, 0)
        const qRef = REFERENCE_FLOW_ML_PER_S * M3_PER_ML
        const a = this.needleCoefficient
        return {
            tS: this.tS,
            enabled: this.enabled,
            plungerPosMm: this.posMm,
            plungerVelMmPerS: this.velMmPerS,
            plungerVolumeMl: this.posMm * p.mlPerMm,
            exchangedMl: this.exchangedM3 / M3_PER_ML,
            chamberPressurePa: this.pChamberPa,
            bodyPressurePa: this.pBodyPa,
            forceN: this.forceN(),
            frictionN: this.frictionN,
            needleFlowMlPerS: this.needleFlowM3PerS / M3_PER_ML,
            injectedMl: this.injectedM3 / M3_PER_ML,
            bodyFilledMl: this.bodyFilledM3 / M3_PER_ML,
            leakedMl,
            leakedMlByKind,
            leaks,
            storedMl: this.chamber.storedM3(this.pChamberPa) / M3_PER_ML,
            chamberComplianceMlPerMPa: (this.chamber.tangentM3PerPa(this.pChamberPa) / M3_PER_ML) * 1e6,
            gapMl: this.gapM3 / M3_PER_ML,
            bodyStoredMl: (this.bodyComplianceM3PerPa * this.pBodyPa) / M3_PER_ML,
            viscosityPaS: this.viscosityNowPaS,
            needleTipViscosityPaS: this.tipViscosityPaS,
            cementAgeS: this.cement.ageS(this.tS),
            cementPhase: this.cement.phase(this.tS),
            needleResistancePaSPerMl: a * Math.pow(qRef, this.flowIndex - 1) * M3_PER_ML,
            needleOcclusionFactor: this.occlusionFactor,
            stalled: this.stalled,
            atEndOfTravel: this.atEndOfTravel,
        }
    }
}

/** Plunger speed that displaces `flowMlPerMin` in a syringe of this bore, mm/s. */
export function plungerSpeedMmPerS(flowMlPerMin: number, boreMm: number): number {
    return (flowMlPerMin / 60) * 1000 / syringeAreaMm2(boreMm)
}
