// Evaluate the plant for given conditions (SIM-6, `npm run model`): steady
// injection at a constant flow, then a hard stop (afterflow) and, on a copy,
// a full needle occlusion (pressure rise rate). Pure: the CLI (cli.ts) reads
// the file and prints.
//
// The cement is frozen at the given age (its Newtonian-equivalent viscosity at
// that age and temperature, with the preset's rheology), so the figures
// describe one operating point, not a drift.

import { CEMENT_PRESETS, CementModel, CementPresetName, CementRheology } from "./cement"
import { InjectorPlant, LEAK_KINDS, LeakKind, NeedleConfig, PhysicsVersion, PlantConfig, SyringeConfig, VertebraConfig, plungerSpeedMmPerS } from "./physics"
import { ChamberCompliance } from "./compliance"
import { consistencyPaSn, powerLawWallShearRatePerS } from "./rheology"

export interface ModelConditions {
    /** default "v2" */
    physics?: PhysicsVersion
    needle?: NeedleConfig
    /** default: 20 mL preset filled with 10 mL of cement */
    syringe?: SyringeConfig
    /** shorthand for syringe.airFraction (0.01 = 1 %) */
    airFraction?: number
    cement?: {
        preset?: CementPresetName
        /** age since mixing, s (default: the preset's dough age at 22 C) */
        ageS?: number
        /** age since mixing, min (alternative to ageS) */
        ageMin?: number
        temperatureC?: number
        /** Newtonian-equivalent viscosity at the reference condition, Pa.s (overrides preset/age) */
        viscosityPaS?: number
        viscosityScale?: number
        rheology?: CementRheology
        flowIndex?: number
    }
    /** default 3 */
    flowMlPerMin?: number
    vertebra?: VertebraConfig
    /** one leak path, open from the start */
    leak?: { kind?: LeakKind; resistanceFactor: number; viscosityExponent?: number }
    /** how long the hard stop is held to measure afterflow, s; default 30 */
    afterflowWindowS?: number
}

export interface ModelResult {
    flowMlPerMin: number
    airFraction: number
    flowIndex: number
    /** Newtonian-equivalent viscosity at the reference condition, Pa.s */
    viscosityPaS: number
    /** power-law consistency K, Pa.s^n */
    consistencyPaSn: number
    /** wall shear rate in the narrowest needle part, 1/s */
    wallShearRatePerS: number
    plungerPressureMPa: number
    plungerForceN: number
    needlePressureDropMPa: number
    intravertebralPressureKPa: number
    /** leak flow / needle flow at steady state (0 without a leak) */
    leakShare: number
    /** volume stored by syringe elasticity + air at the plunger pressure, mL */
    storedVolumeMl: number
    /** stored volume / plunger pressure, mL/MPa */
    secantComplianceMlPerMPa: number
    /** dS/dP at the plunger pressure, mL/MPa */
    tangentComplianceMlPerMPa: number
    /** volume out of the needle after a hard stop (drive disabled, no decompression), mL */
    afterflowMl: number
    afterflowWindowS: number
    /** the part of it within the first second, mL */
    afterflow1sMl: number
    /** full occlusion at the operating point: flow / tangent compliance, MPa/s */
    occlusionRiseMPaPerS: number
    /** full occlusion: mean plunger-pressure rise over the first second, MPa/s */
    occlusionRise1sMPaPerS: number
    /**
     * full occlusion from rest (needle blocked before or right after a
     * decompressed restart): mean rise rate from 0 to 1 MPa, MPa/s = Q / S(1 MPa)
     */
    occlusionFromRestMPaPerS: number
    /** time to steady state (flow within 0.1 %, pressure moving < 0.1 % per 2 s), s */
    settleS: number
}

const TOP_KEYS = ["physics", "needle", "syringe", "airFraction", "cement", "flowMlPerMin", "vertebra", "leak", "afterflowWindowS", "comment"]
const NEEDLE_KEYS = ["gauge", "wall", "innerDiameterMm", "lengthMm", "segments", "insertedLengthMm"]
const SYRINGE_KEYS = ["preset", "boreMm", "fillMl", "frictionDynamicN", "frictionStaticN", "breakawayMm", "complianceMlPerMPa", "airFraction", "tip"]
const CEMENT_KEYS = ["preset", "ageS", "ageMin", "temperatureC", "viscosityPaS", "viscosityScale", "rheology", "flowIndex"]
const VERTEBRA_KEYS = ["resistancePaSPerMl", "tumorFactor", "complianceMlPerKPa", "viscosityExponent", "leakViscosityExponent", "temperatureC"]
const LEAK_KEYS = ["kind", "resistanceFactor", "viscosityExponent"]

export class ConditionsError extends Error {}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v)

function checkObject(v: unknown, path: string, keys: string[]): Record<string, unknown> | undefined {
    if (v === undefined) return undefined
    if (!isObj(v)) throw new ConditionsError(`${path}: must be an object`)
    for (const k of Object.keys(v))
        if (!keys.includes(k) && k !== "comment") throw new ConditionsError(`${path}.${k}: unknown field (allowed: ${keys.join(", ")})`)
    return v
}

function checkNumber(o: Record<string, unknown> | undefined, k: string, path: string, min: number, max: number): void {
    if (!o || o[k] === undefined) return
    const v = o[k]
    if (typeof v !== "number" || !Number.isFinite(v)) throw new ConditionsError(`${path}${k}: must be a finite number, got ${JSON.stringify(v)}`)
    if (v < min || v > max) throw new ConditionsError(`${path}${k}: must be between ${min} and ${max}, got ${v}`)
}

/** Validate a parsed conditions object; throws ConditionsError naming the field. */
export function validateConditions(raw: unknown): ModelConditions {
    const c = checkObject(raw, "conditions", TOP_KEYS)
    if (!c) throw new ConditionsError("conditions: must be an object")
    checkNumber(c, "flowMlPerMin", "", 0.01, 60)
    checkNumber(c, "airFraction", "", 0, 0.3)
    checkNumber(c, "afterflowWindowS", "", 0.1, 600)
    if (c.physics !== undefined && c.physics !== "v1" && c.physics !== "v2")
        throw new ConditionsError(`physics: must be "v1" or "v2", got ${JSON.stringify(c.physics)}`)
    const n = checkObject(c.needle, "needle", NEEDLE_KEYS)
    checkNumber(n, "gauge", "needle.", 10, 16)
    checkNumber(n, "lengthMm", "needle.", 1, 1000)
    checkNumber(n, "insertedLengthMm", "needle.", 0, 1000)
    checkNumber(n, "innerDiameterMm", "needle.", 0.1, 20)
    if (n?.segments !== undefined) {
        if (!Array.isArray(n.segments) || n.segments.length === 0) throw new ConditionsError("needle.segments: must be a non-empty list")
        n.segments.forEach((s, i) => {
            const o = checkObject(s, `needle.segments[${i}]`, ["innerDiameterMm", "lengthMm"])
            for (const k of ["innerDiameterMm", "lengthMm"])
                if (o?.[k] === undefined) throw new ConditionsError(`needle.segments[${i}].${k}: is required`)
            checkNumber(o, "innerDiameterMm", `needle.segments[${i}].`, 0.1, 20)
            checkNumber(o, "lengthMm", `needle.segments[${i}].`, 0.1, 1000)
        })
    }
    const s = checkObject(c.syringe, "syringe", SYRINGE_KEYS)
    checkNumber(s, "airFraction", "syringe.", 0, 0.3)
    checkNumber(s, "fillMl", "syringe.", 0.01, 100)
    checkNumber(s, "complianceMlPerMPa", "syringe.", 1e-6, 10)
    const tip = checkObject(s?.tip, "syringe.tip", ["innerDiameterMm", "lengthMm"])
    if (tip) for (const k of ["innerDiameterMm", "lengthMm"]) if (tip[k] === undefined) throw new ConditionsError(`syringe.tip.${k}: is required`)
    checkNumber(tip, "innerDiameterMm", "syringe.tip.", 0.1, 20)
    checkNumber(tip, "lengthMm", "syringe.tip.", 0.1, 200)
    const ce = checkObject(c.cement, "cement", CEMENT_KEYS)
    if (ce?.preset !== undefined && !Object.keys(CEMENT_PRESETS).includes(ce.preset as string))
        throw new ConditionsError(`cement.preset: must be one of ${Object.keys(CEMENT_PRESETS).join(", ")}, got ${JSON.stringify(ce.preset)}`)
    checkNumber(ce, "ageS", "cement.", 0, 3600)
    checkNumber(ce, "ageMin", "cement.", 0, 60)
    if (ce?.ageS !== undefined && ce?.ageMin !== undefined) throw new ConditionsError("cement.ageMin: give ageS or ageMin, not both")
    checkNumber(ce, "temperatureC", "cement.", 0, 60)
    checkNumber(ce, "viscosityPaS", "cement.", 1e-3, 1e8)
    checkNumber(ce, "viscosityScale", "cement.", 1e-3, 1e3)
    checkNumber(ce, "flowIndex", "cement.", 0.1, 1)
    if (ce?.rheology !== undefined && ce.rheology !== "newtonian" && ce.rheology !== "powerLaw")
        throw new ConditionsError(`cement.rheology: must be "newtonian" or "powerLaw", got ${JSON.stringify(ce.rheology)}`)
    const ve = checkObject(c.vertebra, "vertebra", VERTEBRA_KEYS)
    checkNumber(ve, "tumorFactor", "vertebra.", 0.01, 100)
    checkNumber(ve, "viscosityExponent", "vertebra.", 0, 2)
    checkNumber(ve, "leakViscosityExponent", "vertebra.", 0, 2)
    checkNumber(ve, "temperatureC", "vertebra.", 20, 45)
    const le = checkObject(c.leak, "leak", LEAK_KEYS)
    if (le) {
        if (le.resistanceFactor === undefined) throw new ConditionsError("leak.resistanceFactor: is required")
        checkNumber(le, "resistanceFactor", "leak.", 1e-4, 1e4)
        checkNumber(le, "viscosityExponent", "leak.", 0, 2)
        if (le.kind !== undefined && !LEAK_KINDS.includes(le.kind as LeakKind))
            throw new ConditionsError(`leak.kind: must be one of ${LEAK_KINDS.join(", ")}, got ${JSON.stringify(le.kind)}`)
    }
    return c as ModelConditions
}

/** The plant configuration the conditions describe (cement frozen at its age). */
export function conditionsToPlantConfig(c: ModelConditions): PlantConfig {
    const ce = c.cement ?? {}
    const preset = ce.preset ?? "lowViscosity"
    let viscosityPaS = ce.viscosityPaS
    if (viscosityPaS === undefined) {
        const temperatureC = ce.temperatureC
        const ageS = ce.ageS ?? (ce.ageMin !== undefined ? ce.ageMin * 60 : CEMENT_PRESETS[preset].doughAgeS)
        const model = new CementModel({ preset, mixedAtS: -ageS, temperatureC, viscosityScale: ce.viscosityScale })
        viscosityPaS = model.viscosityPaS(0)
    }
    const syringe: SyringeConfig = { fillMl: 10, ...c.syringe }
    if (c.airFraction !== undefined) syringe.airFraction = c.airFraction
    return {
        physics: c.physics ?? "v2",
        syringe,
        needle: c.needle,
        cement: { preset, viscosityPaS, rheology: ce.rheology, flowIndex: ce.flowIndex },
        vertebra: c.vertebra,
        leaks: c.leak
            ? [{ kind: c.leak.kind ?? "venous", resistanceFactor: c.leak.resistanceFactor, viscosityExponent: c.leak.viscosityExponent, atS: 0 }]
            : [],
        // the evaluation pushes at a constant flow whatever the force: no stall
        drive: { stallForceN: 1e9 },
    }
}

const CHUNK_S = 2
const MAX_SETTLE_S = 900

function driveTo(plant: InjectorPlant, untilS: number, speedMmPerS: number, enabled: boolean): void {
    while (plant.timeS() < untilS - 1e-9) plant.step(Math.min(0.05, untilS - plant.timeS()), { enabled, speedCmdMmPerS: speedMmPerS })
}

/** Run to steady state at the flow; returns the settling time, s. */
function settle(plant: InjectorPlant, speedMmPerS: number): number {
    let prev = NaN
    while (plant.timeS() < MAX_SETTLE_S) {
        driveTo(plant, plant.timeS() + CHUNK_S, speedMmPerS, true)
        const s = plant.state()
        const p = s.chamberPressurePa
        const flowMlPerS = speedMmPerS * plant.params.mlPerMm
        if (Math.abs(s.needleFlowMlPerS - flowMlPerS) <= 1e-3 * flowMlPerS && Math.abs(p - prev) <= 1e-3 * Math.abs(p))
            return plant.timeS()
        prev = p
    }
    throw new ConditionsError(`no steady state within ${MAX_SETTLE_S} s (pressure still changing): check the conditions`)
}

/** Evaluate the model for one set of conditions. */
export function evaluateConditions(raw: unknown): ModelResult {
    const c = validateConditions(raw)
    let config: PlantConfig
    let plant: InjectorPlant
    try {
        config = conditionsToPlantConfig(c)
        plant = new InjectorPlant(config)
    } catch (e) {
        throw new ConditionsError((e as Error).message)
    }
    const flowMlPerMin = c.flowMlPerMin ?? 3
    const speed = plungerSpeedMmPerS(flowMlPerMin, plant.params.boreMm)
    const windowS = c.afterflowWindowS ?? 30
    const settleS = settle(plant, speed)
    const s = plant.state()
    const leakFlow = s.leaks.reduce((a, l) => a + l.flowMlPerS, 0)

    // occlusion on an identical plant brought to the same state
    const occluded = new InjectorPlant(config)
    driveTo(occluded, plant.timeS(), speed, true)
    const p0 = occluded.state().chamberPressurePa
    occluded.setNeedleOcclusionFactor(Infinity)
    driveTo(occluded, occluded.timeS() + 1, speed, true)
    const rise1s = (occluded.state().chamberPressurePa - p0) / 1e6

    // hard stop: drive disabled, plunger held
    const injectedAtStop = s.injectedMl
    driveTo(plant, plant.timeS() + 1, 0, false)
    const after1s = plant.state().injectedMl - injectedAtStop
    driveTo(plant, plant.timeS() + windowS - 1, 0, false)
    const afterflowMl = plant.state().injectedMl - injectedAtStop

    const chamber = new ChamberCompliance({
        syringeComplianceMlPerMPa: plant.params.complianceMlPerMPa,
        airFraction: plant.params.airFraction,
        cementVolumeMl: plant.params.fillMl,
    })
    const n = plant.cement.flowIndex
    const mu = s.viscosityPaS
    const pMPa = s.chamberPressurePa / 1e6
    return {
        flowMlPerMin,
        airFraction: plant.params.airFraction,
        flowIndex: n,
        viscosityPaS: mu,
        consistencyPaSn: consistencyPaSn(mu, n),
        wallShearRatePerS: powerLawWallShearRatePerS(plant.params.needleInnerDiameterMm, flowMlPerMin / 60, n),
        plungerPressureMPa: pMPa,
        plungerForceN: s.forceN,
        needlePressureDropMPa: (s.chamberPressurePa - s.bodyPressurePa) / 1e6,
        intravertebralPressureKPa: s.bodyPressurePa / 1e3,
        leakShare: s.needleFlowMlPerS > 0 ? leakFlow / s.needleFlowMlPerS : 0,
        storedVolumeMl: s.storedMl,
        secantComplianceMlPerMPa: pMPa > 0 ? s.storedMl / pMPa : s.chamberComplianceMlPerMPa,
        tangentComplianceMlPerMPa: s.chamberComplianceMlPerMPa,
        afterflowMl,
        afterflowWindowS: windowS,
        afterflow1sMl: after1s,
        occlusionRiseMPaPerS: flowMlPerMin / 60 / s.chamberComplianceMlPerMPa,
        occlusionRise1sMPaPerS: rise1s,
        occlusionFromRestMPaPerS: flowMlPerMin / 60 / (chamber.storedM3(1e6) * 1e6),
        settleS,
    }
}

/** Expand {"base": {...}, "sweep": {"airFraction": [..], "cement.ageMin": [..]}} or a list into single conditions. */
export function expandConditions(raw: unknown): unknown[] {
    if (Array.isArray(raw)) {
        if (raw.length === 0) throw new ConditionsError("conditions: the list is empty")
        return raw.flatMap(r => expandConditions(r))
    }
    if (!isObj(raw)) throw new ConditionsError("conditions: must be an object or a list of objects")
    if (raw.sweep === undefined) {
        if (raw.base !== undefined) throw new ConditionsError("base: only allowed together with sweep")
        return [raw]
    }
    for (const k of Object.keys(raw))
        if (!["base", "sweep", "comment"].includes(k)) throw new ConditionsError(`${k}: unknown field beside sweep (allowed: base, sweep)`)
    const base = raw.base ?? {}
    if (!isObj(base)) throw new ConditionsError("base: must be an object")
    if (!isObj(raw.sweep)) throw new ConditionsError("sweep: must be an object of field path -> list of values")
    let rows: Record<string, unknown>[] = [structuredClone(base)]
    for (const [path, values] of Object.entries(raw.sweep)) {
        if (!Array.isArray(values) || values.length === 0) throw new ConditionsError(`sweep.${path}: must be a non-empty list`)
        const next: Record<string, unknown>[] = []
        for (const row of rows)
            for (const v of values) {
                const r = structuredClone(row)
                setPath(r, path, v)
                next.push(r)
            }
        rows = next
    }
    return rows
}

function setPath(o: Record<string, unknown>, path: string, v: unknown): void {
    const parts = path.split(".")
    let cur = o
    for (let i = 0; i < parts.length - 1; i++) {
        const k = parts[i]
        if (cur[k] === undefined) cur[k] = {}
        if (!isObj(cur[k])) throw new ConditionsError(`sweep.${path}: ${parts.slice(0, i + 1).join(".")} is not an object`)
        cur = cur[k] as Record<string, unknown>
    }
    cur[parts[parts.length - 1]] = v
}
