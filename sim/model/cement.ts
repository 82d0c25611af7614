// PMMA bone cement: effective (Newtonian) viscosity against age since mixing.
//
// Figures the curves are built on (CLINICAL-BASIS, "Pressure and flow"):
// - ~50 Pa.s at the dough stage;
// - ~500 Pa.s after 3-4 min for a high-viscosity vertebroplasty cement
//   (Kyphon patent figures);
// - setting at ~11-13 min (Hindawi 2011: "hardening time of around 11 min"
//   for a medium-viscosity cement shifted to 37 C);
// - storage at 28 C shortens setting from ~534 s to ~381 s (PMC4650370).
// Between the anchor points the curves interpolate log(viscosity) linearly in
// time: PMMA viscosity grows roughly exponentially through the working phase,
// then runs away as the polymerisation gels.
//
// The values are *effective needle viscosities* for Hagen-Poiseuille. Real
// PMMA dough is shear-thinning (and slips at walls), so a rheometer's
// low-shear figure overstates what the needle sees at ~100 1/s; a curve here
// is a starting point to fit to bench pressure traces, not material data.
//
// Two presets:
// - "lowViscosity" (default): a conventional liquid vertebroplasty cement,
//   ~10-20 Pa.s in the first ~2-3 min, dough (~50 Pa.s) at 4 min, working
//   phase to ~10 min, set at ~13 min. With a 14 G x 100 mm needle at
//   3 mL/min it gives ~1.5 MPa at dough (the CLINICAL-BASIS check) rising to
//   ~3 MPa a few minutes later, as clinical traces do (mean peak 1.7 MPa,
//   max 3.2 MPa, rising late; Krebs 2005).
// - "highViscosity": dough at ~2 min (~50 Pa.s), ~500 Pa.s by 5 min, set at
//   ~11.5 min. Through a 14 G needle it exceeds 3.5 MPa at 3 mL/min within
//   ~1 min of dough; pair it with 11-13 G needles or lower flow.
//
// Temperature: cure kinetics speed up with temperature. The model scales the
// age clock by an Arrhenius factor exp(B (1/Tref - 1/T)), Tref = 22 C
// (operating-room cement temperature, the curves' reference). B = 5000 K is
// fitted to the 28 C data point: 534 s / 381 s = 1.40 for +6 K, assuming the
// study's baseline was ~22 C (B ~ 5000 K is an activation energy of
// ~42 kJ/mol, in the range reported for PMMA cure). Setting at 28 C is then
// ~0.71 x the 22 C time. The cement's temperature is the syringe's, not the
// body's: the needle transit time is seconds. The part of the needle inside
// the body is the exception when flow stops: physics.ts ages that column on
// the body's clock (two-zone needle, SIM-6).
//
// Rheology (SIM-6, rheology.ts): the curves are Newtonian-equivalent
// viscosities at the reference condition (14 G, 3 mL/min). With
// `rheology: "powerLaw"` the needle sees a shear-thinning cement with the
// preset's flow index (0.5: middle of 0.4-0.6, Ferracane & Greener 1981) and
// a consistency that follows the same curve, so pressures at the reference
// condition are unchanged and gauge/flow act as a power law. Default
// "newtonian" (SIM-1 behaviour) unless the plant runs with physics "v2".

import { checkFlowIndex } from "./rheology"

export type CementPresetName = "lowViscosity" | "highViscosity"

export type CementPhase = "liquid" | "working" | "setting" | "set"

export type CementRheology = "newtonian" | "powerLaw"

export interface CementCurve {
    name: string
    /** (age since mixing s, viscosity Pa.s) at the reference temperature, ages ascending */
    points: ReadonlyArray<readonly [number, number]>
    /** dough time: the curve crosses ~50 Pa.s */
    doughAgeS: number
    /** end of the working phase (viscosity climbing steeply) */
    workingEndAgeS: number
    /** set: viscosity >= 1e5 Pa.s, the cement no longer flows */
    settingAgeS: number
    /** power-law index used with rheology "powerLaw" */
    flowIndex: number
    /** where the curve's figures come from */
    source: string
}

export const CEMENT_REFERENCE_TEMPERATURE_C = 22
/** Arrhenius B = Ea / R, K (fitted to 534 s -> 381 s at 28 C, see header). */
export const CEMENT_ARRHENIUS_B_K = 5000
/** Viscosity ceiling: set cement. Keeps the needle resistance finite. */
export const CEMENT_MAX_VISCOSITY_PA_S = 1e8

export const CEMENT_PRESETS: Readonly<Record<CementPresetName, CementCurve>> = {
    lowViscosity: {
        name: "lowViscosity",
        points: [
            [0, 5],
            [60, 8],
            [120, 12],
            [180, 25],
            [240, 50], // dough
            [360, 110],
            [480, 250],
            [600, 700],
            [690, 3000],
            [750, 2e4],
            [780, 1e5], // set, 13 min
            [840, 1e7],
            [900, 1e8],
        ],
        doughAgeS: 240,
        workingEndAgeS: 600,
        settingAgeS: 780,
        flowIndex: 0.5,
        source:
            "CLINICAL-BASIS: ~50 Pa.s at dough, sets ~11-13 min; fitted to 1.5 MPa at dough (14 G, 3 mL/min) and Krebs 2005 peaks; n: Ferracane & Greener 1981 (0.4-0.6)",
    },
    highViscosity: {
        name: "highViscosity",
        points: [
            [0, 12],
            [60, 20],
            [120, 50], // dough
            [180, 120],
            [240, 250],
            [300, 500], // ~500 Pa.s by 5 min
            [420, 1000],
            [540, 2500],
            [630, 8000],
            [690, 1e5], // set, 11.5 min
            [750, 1e7],
            [810, 1e8],
        ],
        doughAgeS: 120,
        workingEndAgeS: 540,
        settingAgeS: 690,
        flowIndex: 0.5,
        source:
            "CLINICAL-BASIS: ~500 Pa.s after 3-4 min (Kyphon patent), sets ~11.5 min (Hindawi 2011); n: Ferracane & Greener 1981 (0.4-0.6)",
    },
}

export interface CementConfig {
    /** default "lowViscosity" */
    preset?: CementPresetName
    /** custom curve, replaces the preset's points (phases still from the preset) */
    points?: ReadonlyArray<readonly [number, number]>
    /**
     * Simulation time of mixing, s (negative: mixed before t = 0). Default:
     * mixed so that the cement reaches dough at t = 0.
     */
    mixedAtS?: number
    /** cement (syringe) temperature, C; default 22 */
    temperatureC?: number
    /** fixed viscosity, Pa.s: overrides the curve (literature checks, unit tests) */
    viscosityPaS?: number
    /** multiplies the curve (batch-to-batch variation), default 1 */
    viscosityScale?: number
    /** needle flow law: "newtonian" (default) or "powerLaw" (SIM-6) */
    rheology?: CementRheology
    /** power-law index, 0.1..1 (implies rheology "powerLaw"); default: the preset's (0.5) */
    flowIndex?: number
}

/** How much faster the cement cures at `temperatureC` than at 22 C. */
export function cementTimeFactor(temperatureC: number): number {
    const tK = temperatureC + 273.15
    const refK = CEMENT_REFERENCE_TEMPERATURE_C + 273.15
    return Math.exp(CEMENT_ARRHENIUS_B_K * (1 / refK - 1 / tK))
}

/** Log-linear interpolation of a curve at `ageS` (reference temperature). */
export function interpolateViscosityPaS(points: ReadonlyArray<readonly [number, number]>, ageS: number): number {
    if (points.length === 0) throw new RangeError("viscosity curve has no points")
    if (ageS <= points[0][0]) return points[0][1]
    for (let i = 1; i < points.length; i++) {
        const [t1, v1] = points[i]
        if (ageS <= t1) {
            const [t0, v0] = points[i - 1]
            const f = (ageS - t0) / (t1 - t0)
            return Math.exp(Math.log(v0) + f * (Math.log(v1) - Math.log(v0)))
        }
    }
    return points[points.length - 1][1]
}

export class CementModel {
    readonly curve: CementCurve
    readonly points: ReadonlyArray<readonly [number, number]>
    readonly mixedAtS: number
    readonly temperatureC: number
    readonly timeFactor: number
    readonly fixedViscosityPaS: number | undefined
    readonly viscosityScale: number
    readonly rheology: CementRheology
    /** power-law index the needle sees (1 = Newtonian) */
    readonly flowIndex: number

    constructor(config: CementConfig = {}) {
        const presetName = config.preset ?? "lowViscosity"
        const curve = CEMENT_PRESETS[presetName]
        if (!curve) throw new RangeError(`cement.preset: unknown preset "${presetName}"`)
        this.curve = curve
        this.points = config.points ?? curve.points
        for (let i = 0; i < this.points.length; i++) {
            const [t, v] = this.points[i]
            if (!(v > 0) || !Number.isFinite(t) || (i > 0 && t <= this.points[i - 1][0]))
                throw new RangeError(`cement.points[${i}]: ages must ascend and viscosities be > 0`)
        }
        this.temperatureC = config.temperatureC ?? CEMENT_REFERENCE_TEMPERATURE_C
        this.timeFactor = cementTimeFactor(this.temperatureC)
        this.mixedAtS = config.mixedAtS ?? -curve.doughAgeS / this.timeFactor
        this.fixedViscosityPaS = config.viscosityPaS
        if (this.fixedViscosityPaS !== undefined && !(this.fixedViscosityPaS > 0))
            throw new RangeError(`cement.viscosityPaS must be > 0`)
        this.viscosityScale = config.viscosityScale ?? 1
        if (!(this.viscosityScale > 0)) throw new RangeError(`cement.viscosityScale must be > 0`)
        if (config.rheology !== undefined && config.rheology !== "newtonian" && config.rheology !== "powerLaw")
            throw new RangeError(`cement.rheology must be "newtonian" or "powerLaw", got ${JSON.stringify(config.rheology)}`)
        this.rheology = config.rheology ?? (config.flowIndex !== undefined ? "powerLaw" : "newtonian")
        if (this.rheology === "newtonian" && config.flowIndex !== undefined && config.flowIndex !== 1)
            throw new RangeError(`cement.flowIndex ${config.flowIndex} contradicts rheology "newtonian"`)
        this.flowIndex =
            this.rheology === "newtonian" ? 1 : checkFlowIndex("cement.flowIndex", config.flowIndex ?? curve.flowIndex)
    }

    /** Wall-clock age since mixing at simulation time tS. */
    ageS(tS: number): number {
        return tS - this.mixedAtS
    }

    /** Age on the reference-temperature clock (what the curve is indexed by). */
    effectiveAgeS(tS: number): number {
        return this.ageS(tS) * this.timeFactor
    }

    viscosityPaS(tS: number): number {
        return this.viscosityAtEffectiveAgePaS(this.effectiveAgeS(tS))
    }

    /**
     * Newtonian-equivalent viscosity of cement whose reference-clock age is
     * `effectiveAgeS` (used for cement that aged at another temperature, e.g.
     * in the part of the needle inside the body).
     */
    viscosityAtEffectiveAgePaS(effectiveAgeS: number): number {
        if (this.fixedViscosityPaS !== undefined) return this.fixedViscosityPaS
        const v = this.viscosityScale * interpolateViscosityPaS(this.points, effectiveAgeS)
        return Math.min(v, CEMENT_MAX_VISCOSITY_PA_S)
    }

    phase(tS: number): CementPhase {
        const a = this.effectiveAgeS(tS)
        if (a < this.curve.doughAgeS) return "liquid"
        if (a < this.curve.workingEndAgeS) return "working"
        if (a < this.curve.settingAgeS) return "setting"
        return "set"
    }

    /** Wall-clock age at which the cement sets at this temperature, s. */
    settingAgeS(): number {
        return this.curve.settingAgeS / this.timeFactor
    }
}
