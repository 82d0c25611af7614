// Model-versus-literature figures (issue 3: "the model's steady-state numbers
// must land near the published ones"). A CLI can print `literatureChecks()`;
// the tests assert every entry is within its range.

import { CEMENT_PRESETS, CementModel, CementPresetName, cementTimeFactor, interpolateViscosityPaS } from "./cement"
import { evaluateConditions } from "./evaluate"
import {
    DriveInput,
    InjectorPlant,
    METASTATIC_TUMOR_FACTOR,
    PhysicsVersion,
    PlantConfig,
    PlantState,
    REIDY_METASTATIC_PRESSURE_PA,
    REIDY_NORMAL_PRESSURE_PA,
    plungerSpeedMmPerS,
} from "./physics"
import { SYRINGE_PRESETS, syringeAreaMm2 } from "./presets"
import { Encoder, mlPerCount } from "./sensors"

export interface LiteratureCheck {
    name: string
    modelValue: number
    literatureValue: number
    unit: string
    source: string
    /** acceptance range for modelValue */
    lowerBound: number
    upperBound: number
    withinRange: boolean
    /** a published figure the model is known not to reproduce (listed, not asserted) */
    knownMiss?: boolean
}

/**
 * Drive the plant at a constant flow for durationS (enabled, accelerating
 * from rest) and return its state. dtS is the outer step (sub-stepped inside).
 */
export function runConstantFlow(
    plant: InjectorPlant,
    flowMlPerMin: number,
    durationS: number,
    dtS = 0.01
): PlantState {
    const input: DriveInput = { enabled: true, speedCmdMmPerS: plungerSpeedMmPerS(flowMlPerMin, plant.params.boreMm) }
    const end = plant.timeS() + durationS
    while (plant.timeS() < end - 1e-9) plant.step(Math.min(dtS, end - plant.timeS()), input)
    return plant.state()
}

/** Hold the plunger (driver disabled) for durationS. */
export function runHold(plant: InjectorPlant, durationS: number, dtS = 0.01): PlantState {
    const end = plant.timeS() + durationS
    while (plant.timeS() < end - 1e-9) plant.step(Math.min(dtS, end - plant.timeS()), { enabled: false, speedCmdMmPerS: 0 })
    return plant.state()
}

const referenceConfigOf = (viscosityPaS: number, tumorFactor: number, extra: PlantConfig) =>
    referenceConfig(viscosityPaS, tumorFactor, extra)

/** The CLINICAL-BASIS reference set-up: 20 mL syringe, 14 G x 100 mm, fixed viscosity. */
export function referenceConfig(viscosityPaS: number, tumorFactor = 1, extra: PlantConfig = {}): PlantConfig {
    return {
        syringe: { preset: "20mL" },
        needle: { gauge: 14, lengthMm: 100 },
        cement: { viscosityPaS },
        vertebra: { tumorFactor },
        ...extra,
    }
}

interface CheckSpec {
    name: string
    model: number
    lit: number
    unit: string
    source: string
    /** acceptance range; default lit +/- relTol */
    range?: [number, number]
    /** relative tolerance around lit when no range is given; default 0.05 */
    relTol?: number
    knownMiss?: boolean
}

function check(c: CheckSpec): LiteratureCheck {
    const relTol = c.relTol ?? 0.05
    const [lowerBound, upperBound] = c.range ?? [c.lit * (1 - relTol), c.lit * (1 + relTol)]
    return {
        name: c.name,
        modelValue: c.model,
        literatureValue: c.lit,
        unit: c.unit,
        source: c.source,
        lowerBound,
        upperBound,
        withinRange: c.model >= lowerBound && c.model <= upperBound,
        ...(c.knownMiss ? { knownMiss: true } : {}),
    }
}

const STEADY_S = 20
const FLOW_ML_PER_MIN = 3
const HP = "CLINICAL-BASIS (calc., Hagen-Poiseuille, ~31 kPa per Pa.s)"
const REIDY = "Reidy 2003 (mean max., 3 mL/min)"
const CURING = "CLINICAL-BASIS: sets at ~11-13 min"

/**
 * Model figures against the published / derived ones they must land near
 * (SIM-1). `physics` "v2" runs the same checks on the SIM-6 model: the
 * power-law consistency is calibrated at this reference condition, so they
 * must still hold.
 */
export function literatureChecks(physics: PhysicsVersion = "v1"): LiteratureCheck[] {
    const referenceConfig = (viscosityPaS: number, tumorFactor = 1, extra: PlantConfig = {}) =>
        referenceConfigOf(viscosityPaS, tumorFactor, { physics, ...extra })
    const steady = (viscosityPaS: number, tumorFactor = 1) =>
        runConstantFlow(new InjectorPlant(referenceConfig(viscosityPaS, tumorFactor)), FLOW_ML_PER_MIN, STEADY_S)
    const s50 = steady(50)
    const s100 = steady(100)
    const met = steady(50, METASTATIC_TUMOR_FACTOR)
    const needleDpMPa = (s: PlantState) => (s.chamberPressurePa - s.bodyPressurePa) / 1e6

    // leak opening in a metastatic body: venous path 5x easier than the body
    const leakPlant = new InjectorPlant(
        referenceConfig(50, METASTATIC_TUMOR_FACTOR, {
            leaks: [{ kind: "venous", atS: STEADY_S, resistanceFactor: 0.2 }],
        })
    )
    const beforeLeak = runConstantFlow(leakPlant, FLOW_ML_PER_MIN, STEADY_S)
    const afterLeak = runConstantFlow(leakPlant, FLOW_ML_PER_MIN, STEADY_S)

    // hard stop at ~1.5 MPa, no decompression
    const stopPlant = new InjectorPlant(referenceConfig(50))
    const atStop = runConstantFlow(stopPlant, FLOW_ML_PER_MIN, STEADY_S)
    const settled = runHold(stopPlant, 30)

    const area20Mm2 = syringeAreaMm2(SYRINGE_PRESETS["20mL"].boreMm)
    const uLPerCount = mlPerCount(SYRINGE_PRESETS["20mL"].boreMm, new Encoder().countsPerMm) * 1000
    const low = CEMENT_PRESETS.lowViscosity
    const high = CEMENT_PRESETS.highViscosity

    return [
        check({ name: "needle dp, 14 G x 100 mm, 50 Pa.s, 3 mL/min", model: needleDpMPa(s50), lit: 1.55, unit: "MPa", source: HP }),
        check({
            name: "plunger pressure, 14 G x 100 mm, 50 Pa.s, 3 mL/min",
            model: s50.chamberPressurePa / 1e6,
            lit: 1.5,
            unit: "MPa",
            source: "issue 3 (~1.5 MPa)",
            relTol: 0.1,
        }),
        check({ name: "needle dp, 14 G x 100 mm, 100 Pa.s, 3 mL/min", model: needleDpMPa(s100), lit: 3.1, unit: "MPa", source: HP }),
        check({
            name: "plunger pressure at 100 Pa.s (14 G) within clinical peaks (mean-1SD..max)",
            model: s100.chamberPressurePa / 1e6,
            lit: 1.693,
            unit: "MPa",
            source: "Krebs 2005: mean peak 1693 +/- 653 kPa, max 3215 kPa",
            range: [1.693 - 0.653, 3.215],
        }),
        check({
            name: "intravertebral pressure, normal body",
            model: s50.bodyPressurePa / 1e3,
            lit: REIDY_NORMAL_PRESSURE_PA / 1e3,
            unit: "kPa",
            source: REIDY,
        }),
        check({
            name: "intravertebral pressure, metastatic body",
            model: met.bodyPressurePa / 1e3,
            lit: REIDY_METASTATIC_PRESSURE_PA / 1e3,
            unit: "kPa",
            source: REIDY,
        }),
        check({
            name: "share of plunger pressure lost in the needle, metastatic",
            model: (100 * needleDpMPa(met) * 1e6) / met.chamberPressurePa,
            lit: 95,
            unit: "%",
            source: "Baroud & Steffen 2005 (~95 % in the cannula)",
        }),
        check({
            name: "plunger force change when a venous leak opens (metastatic)",
            model: (100 * (beforeLeak.forceN - afterLeak.forceN)) / beforeLeak.forceN,
            lit: 2,
            unit: "%",
            source: "CLINICAL-BASIS: a leak moves the plunger signal by 1-3 %",
            range: [1, 3],
        }),
        check({
            name: "afterflow after a hard stop at ~1.5 MPa (no decompression)",
            model: settled.injectedMl - atStop.injectedMl,
            lit: 0.5,
            unit: "mL",
            source: "ECRI: infusion-pump bolus after occlusion release <= 0.5 mL (upper bound)",
            range: [0, 0.5],
        }),
        check({
            name: "plunger force at 1 MPa, 20 mL syringe",
            model: area20Mm2,
            lit: 300,
            unit: "N",
            source: "CLINICAL-BASIS (calc.): 285-315 N",
            range: [285, 315],
        }),
        check({
            name: "plunger force at 3.2 MPa, 20 mL syringe",
            model: 3.2 * area20Mm2,
            lit: 1000,
            unit: "N",
            source: "CLINICAL-BASIS (calc.): ~1 kN (912-1008 N for 19-20 mm)",
            range: [912, 1008],
        }),
        check({
            name: "volume per encoder edge, 20 mL syringe",
            model: uLPerCount,
            lit: 0.25,
            unit: "uL",
            source: "CLINICAL-BASIS (calc.): ~0.25 uL per edge",
            relTol: 0.1,
        }),
        check({
            name: "viscosity at dough (lowViscosity preset)",
            model: interpolateViscosityPaS(low.points, low.doughAgeS),
            lit: 50,
            unit: "Pa.s",
            source: "CLINICAL-BASIS: ~50 Pa.s at dough",
            relTol: 0.1,
        }),
        check({
            name: "viscosity at dough (highViscosity preset)",
            model: interpolateViscosityPaS(high.points, high.doughAgeS),
            lit: 50,
            unit: "Pa.s",
            source: "CLINICAL-BASIS: ~50 Pa.s at dough",
            relTol: 0.1,
        }),
        check({
            name: "age at which highViscosity reaches 500 Pa.s",
            model: ageAtViscosity(high.points, 500) / 60,
            lit: 4,
            unit: "min",
            source: "CLINICAL-BASIS: ~500 Pa.s after 3-4 min (brief: 4-6 min)",
            range: [3, 6],
        }),
        check({
            name: "setting time, lowViscosity preset, 22 C",
            model: new CementModel({ preset: "lowViscosity" }).settingAgeS() / 60,
            lit: 12,
            unit: "min",
            source: CURING,
            range: [11, 13],
        }),
        check({
            name: "setting time, highViscosity preset, 22 C",
            model: new CementModel({ preset: "highViscosity" }).settingAgeS() / 60,
            lit: 12,
            unit: "min",
            source: CURING,
            range: [11, 13],
        }),
        check({
            name: "setting-time ratio, 28 C vs 22 C",
            model: 1 / cementTimeFactor(28),
            lit: 381 / 534,
            unit: "-",
            source: "PMC4650370: 534 s -> 381 s at 28 C",
            relTol: 0.02,
        }),
    ]
}

const HABIB = "Habib et al. 2010 (SAS J 4:26), leaked mass, benchmark model"
const CALC_N = "CLINICAL-BASIS/issue 12 (calc.): power-law n 0.4-0.6 (Ferracane & Greener 1981)"
const CALC_AIR = "CLINICAL-BASIS (calc.): isothermal air in 10 mL cement, 1.5-3 MPa"

/**
 * SIM-6 figures (issue 12) for the v2 model: shear thinning, entrained air,
 * viscosity-dependent leaks, temperature. Each entry names its source; the
 * tests assert every entry that is not a known miss.
 */
export function fidelityChecks(): LiteratureCheck[] {
    // no stall: late cement through 14 G needs more than the bench drive's 2500 N
    const v2 = (viscosityPaS: number, extra: PlantConfig = {}) =>
        referenceConfig(viscosityPaS, 1, { physics: "v2", drive: { stallForceN: 1e9 }, ...extra })
    const steady = (config: PlantConfig, flowMlPerMin = FLOW_ML_PER_MIN) =>
        runConstantFlow(new InjectorPlant(config), flowMlPerMin, STEADY_S)
    const needleDp = (s: PlantState) => s.chamberPressurePa - s.bodyPressurePa
    const g14 = steady(v2(50))
    const g11 = steady(v2(50, { needle: { gauge: 11, lengthMm: 100 } }))
    const flow6 = steady(v2(50), 6)

    // air: secant compliance of the air alone at the reference set-up's plunger pressures
    const airSecant = (airFraction: number, viscosityPaS: number) => {
        const s = steady(v2(viscosityPaS, { syringe: { preset: "20mL", fillMl: 10, airFraction } }), FLOW_ML_PER_MIN)
        const pMPa = s.chamberPressurePa / 1e6
        return (s.storedMl - 0.02 * pMPa) / pMPa
    }

    // leaks: share of the flow leaving by a leak path (factor 1) for cement of a class and age
    const mu = (preset: CementPresetName, ageMin: number) => new CementModel({ preset, mixedAtS: -ageMin * 60 }).viscosityPaS(0)
    const leakShare = (viscosityPaS: number) => {
        const s = steady(v2(viscosityPaS, { leaks: [{ kind: "venous", atS: 0, resistanceFactor: 1 }] }))
        return s.leaks[0].flowMlPerS / s.needleFlowMlPerS
    }
    const lv35 = leakShare(mu("lowViscosity", 3.5))
    const lv95 = leakShare(mu("lowViscosity", 9.5))
    const hv35 = leakShare(mu("highViscosity", 3.5))
    const hv65 = leakShare(mu("highViscosity", 6.5))
    const bodyP = (viscosityPaS: number) => steady(v2(viscosityPaS)).bodyPressurePa

    const hardStop = (airFraction: number) =>
        evaluateConditions({ physics: "v2", airFraction, cement: { viscosityPaS: 50 }, flowMlPerMin: 3 }).afterflowMl

    return [
        check({
            name: "needle dp ratio 14 G / 11 G (x 100 mm, 50 Pa.s-equivalent, 3 mL/min)",
            model: needleDp(g14) / needleDp(g11),
            lit: 2.72,
            unit: "x",
            source: `${CALC_N}: (2.388/1.6)^(3n+1); Newtonian 4.96`,
            range: [2.4, 3.1],
        }),
        check({
            name: "plunger pressure ratio, 6 vs 3 mL/min (14 G)",
            model: flow6.chamberPressurePa / g14.chamberPressurePa,
            lit: 1.41,
            unit: "x",
            source: `${CALC_N}: 2^n; Newtonian 2`,
            range: [1.3, 1.5],
        }),
        check({
            name: "air compliance (secant), 1 % air, 1.56 MPa (50 Pa.s)",
            model: airSecant(0.01, 50),
            lit: 0.06,
            unit: "mL/MPa",
            source: CALC_AIR,
            range: [0.03, 0.065],
        }),
        check({
            name: "air compliance (secant), 1 % air, 3.1 MPa (100 Pa.s)",
            model: airSecant(0.01, 100),
            lit: 0.03,
            unit: "mL/MPa",
            source: CALC_AIR,
            range: [0.03 * 0.95, 0.06],
        }),
        check({
            name: "air compliance (secant), 5 % air, 1.56 MPa (50 Pa.s)",
            model: airSecant(0.05, 50),
            lit: 0.31,
            unit: "mL/MPa",
            source: CALC_AIR,
            range: [0.16, 0.31 * 1.05],
        }),
        check({
            name: "air compliance (secant), 5 % air, 3.1 MPa (100 Pa.s)",
            model: airSecant(0.05, 100),
            lit: 0.16,
            unit: "mL/MPa",
            source: CALC_AIR,
            range: [0.16 * 0.95, 0.31],
        }),
        check({
            name: "afterflow, hard stop at 1.56 MPa held 30 s, no air",
            model: hardStop(0),
            lit: 0.04,
            unit: "mL",
            source: "issue 12 (calc.): ~0.04 mL with 0.02 mL/MPa",
            range: [0.02, 0.05],
        }),
        check({
            name: "afterflow, hard stop at 1.56 MPa held 30 s, 5 % air",
            model: hardStop(0.05),
            lit: 0.2,
            unit: "mL",
            source: "issue 12 (calc.): 0.1-0.3 mL with entrained air",
            range: [0.1, 0.3],
        }),
        check({
            name: "cure-rate ratio 37 C vs 25 C (Arrhenius B = 5000 K)",
            model: cementTimeFactor(37) / cementTimeFactor(25),
            lit: 2,
            unit: "x",
            source: "Nicholas et al. 2007 via CLINICAL-BASIS: curing roughly doubles 25 -> 37 C",
            range: [1.7, 2.3],
        }),
        check({
            name: "leak share ratio, low-viscosity cement at 9.5 vs 3.5 min",
            model: lv95 / lv35,
            lit: 2.6 / 4.0,
            unit: "x",
            source: `${HABIB}: 2.6 g vs 4.0 g`,
            relTol: 0.3,
        }),
        check({
            name: "leak share ratio, high-viscosity cement at 6.5 vs 3.5 min",
            model: hv65 / hv35,
            lit: 0.92 / 1.5,
            unit: "x",
            source: `${HABIB}: 0.92 g vs 1.5 g`,
            relTol: 0.3,
        }),
        check({
            name: "leak share ratio, high- vs low-viscosity cement at 3.5 min",
            model: hv35 / lv35,
            lit: 1.5 / 4.0,
            unit: "x",
            source: `${HABIB}: 1.5 g vs 4.0 g (different product and delivery system)`,
            relTol: 0.3,
            knownMiss: true,
        }),
        check({
            name: "intravertebral pressure ratio, low-viscosity cement 9.5 vs 3.5 min (no leak)",
            model: bodyP(mu("lowViscosity", 9.5)) / bodyP(mu("lowViscosity", 3.5)),
            lit: 1,
            unit: "x",
            source: `${HABIB}: no significant change of intravertebral pressure (body not Darcy by default)`,
            range: [0.67, 1.5],
        }),
    ]
}

function ageAtViscosity(points: ReadonlyArray<readonly [number, number]>, viscosityPaS: number): number {
    for (let i = 1; i < points.length; i++) {
        const [t0, v0] = points[i - 1]
        const [t1, v1] = points[i]
        if (v1 >= viscosityPaS && v0 <= viscosityPaS)
            return t0 + ((t1 - t0) * Math.log(viscosityPaS / v0)) / Math.log(v1 / v0)
    }
    return NaN
}

/** Printable table of the checks. */
export function formatLiteratureChecks(checks: LiteratureCheck[] = literatureChecks()): string {
    const lines = checks.map(c => {
        const mark = c.knownMiss ? "MISS" : c.withinRange ? "ok  " : "OUT "
        const range = `[${fmt(c.lowerBound)}..${fmt(c.upperBound)}]`
        const values = `model ${fmt(c.modelValue)} ${c.unit} vs ${fmt(c.literatureValue)} ${c.unit} ${range}`
        return `${mark} ${c.name}: ${values} (${c.source})`
    })
    return lines.join("\n")
}

function fmt(v: number): string {
    return Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 1 ? v.toFixed(3) : v.toPrecision(3)
}
