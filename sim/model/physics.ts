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

import { CementConfig, CementModel, CementPhase } from "./cement"
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
    complianceMlPerMPa?: number
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
}

export interface VertebraConfig {
    /** normal-body resistance, Pa per (mL/s); default fitted to 6.83 kPa at 3 mL/min */
    resistancePaSPerMl?: number
    /** default 1 (normal); 5.8 ~ metastatic (Reidy 2003) */
    tumorFactor?: number
    /** mL per kPa; default 0.002 */
    complianceMlPerKPa?: number
    /** body resistance x (mu / 50 Pa.s)^exponent; default 0 */
    viscosityExponent?: number
}

export interface DriveConfig {
    /** default 10 */
    maxSpeedMmPerS?: number
    /** default 20 */
    maxAccelMmPerS2?: number
    /** the stepper loses steps (does not advance) above this plunger force; default 2500 N */
    stallForceN?: number
}

export interface PlantConfig {
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
    boreMm: number
    areaMm2: number
    mlPerMm: number
    fillMl: number
    maxPosMm: number
    frictionDynamicN: number
    frictionStaticN: number
    breakawayMm: number
    complianceMlPerMPa: number
    needleInnerDiameterMm: number
    needleLengthMm: number
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
    /** plunger displacement x area, mL */
    plungerVolumeMl: number
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
    /** volume held by the syringe/cement compliance (Cc x Pc), mL; slightly negative under vacuum */
    storedMl: number
    /** void between plunger and cement after retracting past vacuum, mL */
    gapMl: number
    /** volume held by the body compliance (Cb x Pb), mL */
    bodyStoredMl: number
    viscosityPaS: number
    cementAgeS: number
    cementPhase: CementPhase
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

export function resolvePlantParams(config: PlantConfig = {}): PlantParams {
    const s = config.syringe ?? {}
    const preset = SYRINGE_PRESETS[s.preset ?? "20mL"]
    if (!preset) throw new RangeError(`syringe.preset: unknown preset "${s.preset}"`)
    const boreMm = positive("syringe.boreMm", s.boreMm ?? preset.boreMm)
    const areaMm2 = syringeAreaMm2(boreMm)
    const fillMl = positive("syringe.fillMl", s.fillMl ?? preset.nominalMl)
    const n = config.needle ?? {}
    const needleId =
        n.innerDiameterMm ?? needleInnerDiameterMm(n.gauge ?? DEFAULT_NEEDLE_GAUGE, n.wall ?? "regular")
    const v = config.vertebra ?? {}
    const d = config.drive ?? {}
    const leaks = config.leaks ?? []
    leaks.forEach((l, i) => {
        if (!["venous", "softTissue", "epidural"].includes(l.kind))
            throw new RangeError(`leaks[${i}].kind must be venous, softTissue or epidural, got ${l.kind}`)
        positive(`leaks[${i}].resistanceFactor`, l.resistanceFactor)
        if (l.atMl === undefined && l.atS === undefined)
            throw new RangeError(`leaks[${i}] needs atMl or atS`)
    })
    if (config.occlusion) positive("occlusion.factor", config.occlusion.factor)
    const frictionDynamicN = positive("syringe.frictionDynamicN", s.frictionDynamicN ?? defaultFrictionDynamicN(boreMm), true)
    const frictionStaticN = positive("syringe.frictionStaticN", s.frictionStaticN ?? defaultFrictionStaticN(boreMm), true)
    return {
        boreMm,
        areaMm2,
        mlPerMm: areaMm2 / 1000,
        fillMl,
        maxPosMm: (fillMl * 1000) / areaMm2,
        frictionDynamicN,
        frictionStaticN: Math.max(frictionStaticN, frictionDynamicN),
        breakawayMm: positive("syringe.breakawayMm", s.breakawayMm ?? DEFAULT_BREAKAWAY_MM),
        complianceMlPerMPa: positive("syringe.complianceMlPerMPa", s.complianceMlPerMPa ?? defaultComplianceMlPerMPa(boreMm)),
        needleInnerDiameterMm: positive("needle.innerDiameterMm", needleId),
        needleLengthMm: positive("needle.lengthMm", n.lengthMm ?? DEFAULT_NEEDLE_LENGTH_MM),
        bodyResistancePaSPerMl: positive(
            "vertebra.resistancePaSPerMl",
            v.resistancePaSPerMl ?? DEFAULT_BODY_RESISTANCE_PA_S_PER_ML
        ),
        tumorFactor: positive("vertebra.tumorFactor", v.tumorFactor ?? 1),
        bodyComplianceMlPerKPa: positive(
            "vertebra.complianceMlPerKPa",
            v.complianceMlPerKPa ?? DEFAULT_BODY_COMPLIANCE_ML_PER_KPA
        ),
        bodyViscosityExponent: v.viscosityExponent ?? 0,
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
    private readonly chamberComplianceM3PerPa: number
    private readonly bodyComplianceM3PerPa: number

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
    private viscosityNowPaS: number

    constructor(config: PlantConfig = {}) {
        this.params = resolvePlantParams(config)
        this.cement = new CementModel(config.cement)
        this.areaM2 = this.params.areaMm2 * 1e-6
        this.chamberComplianceM3PerPa = this.params.complianceMlPerMPa * M3_PER_ML * 1e-6
        this.bodyComplianceM3PerPa = this.params.bodyComplianceMlPerKPa * M3_PER_ML * 1e-3
        const nLeaks = this.params.leaks.length
        this.leakOpen = new Array(nLeaks).fill(false)
        this.leakOpenedAtS = new Array(nLeaks).fill(null)
        this.leakedM3 = new Array(nLeaks).fill(0)
        this.leakFlowM3PerS = new Array(nLeaks).fill(0)
        this.viscosityNowPaS = this.cement.viscosityPaS(0)
    }

    /** Set the needle occlusion factor now (1 = clear). Overrides `occlusion`. */
    setNeedleOcclusionFactor(factor: number): void {
        positive("needle occlusion factor", factor)
        this.occlusionFactor = factor
        this.occlusionTriggered = true
    }

    /** Needle resistance at viscosity mu, Pa.s/m^3 (with occlusion). */
    private needleResistancePaSPerM3(viscosityPaS: number): number {
        const p = this.params
        return poiseuilleResistancePaSPerM3(p.needleInnerDiameterMm, p.needleLengthMm, viscosityPaS) * this.occlusionFactor
    }

    private bodyResistancePaSPerM3(viscosityPaS: number): number {
        const p = this.params
        const visc =
            p.bodyViscosityExponent === 0
                ? 1
                : Math.pow(viscosityPaS / BODY_VISCOSITY_REFERENCE_PA_S, p.bodyViscosityExponent)
        return (p.bodyResistancePaSPerMl / M3_PER_ML) * p.tumorFactor * visc
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

    private subStep(h: number, input: DriveInput): void {
        const p = this.params
        this.triggerEvents()

        // ---- drive: acceleration-limited velocity; disabled = hold at once ----
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
        const mu = this.cement.viscosityPaS(this.tS + h)
        this.viscosityNowPaS = mu
        const rn = this.needleResistancePaSPerM3(mu)
        const gn = Number.isFinite(rn) ? 1 / rn : 0
        const rb = this.bodyResistancePaSPerM3(mu)
        let gLeaks = 0
        for (let i = 0; i < p.leaks.length; i++) if (this.leakOpen[i]) gLeaks += 1 / (rb * p.leaks[i].resistanceFactor)
        const cc = this.chamberComplianceM3PerPa
        const cb = this.bodyComplianceM3PerPa
        const hgn = h * gn

        // Solve for new (x = Pc, y = Pb). Leaks act as check valves (cement
        // that left does not come back): they conduct only while Pb > 0.
        const solveFree = (dVEffM3: number, gOut: number): [number, number] => {
            const a11 = cc + hgn
            const a12 = -hgn
            const a22 = cb + hgn + h * gOut
            const b1 = cc * this.pChamberPa + dVEffM3
            const b2 = cb * this.pBodyPa
            const det = a11 * a22 - a12 * a12
            return [(b1 * a22 - a12 * b2) / det, (a11 * b2 - a12 * b1) / det]
        }
        const solveClamped = (pc: number, gOut: number): number => (cb * this.pBodyPa + hgn * pc) / (cb + hgn + h * gOut)
        const gb = 1 / rb

        let leaksConduct = gLeaks > 0
        // mode A: no gap after this sub-step (any existing gap is closed first)
        const dVEff = dVM3 - this.gapM3
        let [pc, pb] = solveFree(dVEff, gb + gLeaks)
        if (leaksConduct && pb < 0) {
            leaksConduct = false
            ;[pc, pb] = solveFree(dVEff, gb)
        }
        if (pc >= p.minChamberPressurePa) {
            this.gapM3 = 0
        } else {
            // mode B: chamber held at the vacuum floor, the gap absorbs the difference
            pc = p.minChamberPressurePa
            leaksConduct = gLeaks > 0
            pb = solveClamped(pc, gb + gLeaks)
            if (leaksConduct && pb < 0) {
                leaksConduct = false
                pb = solveClamped(pc, gb)
            }
            const qn = gn * (pc - pb)
            // dV = h Qn + Cc dPc - dGap
            this.gapM3 += h * qn + cc * (pc - this.pChamberPa) - dVM3
            if (this.gapM3 < 0) this.gapM3 = 0 // rounding only
        }

        const qn = gn * (pc - pb)
        this.needleFlowM3PerS = qn
        this.injectedM3 += h * qn
        let qLeaks = 0
        for (let i = 0; i < p.leaks.length; i++) {
            const q = this.leakOpen[i] && leaksConduct ? pb / (rb * p.leaks[i].resistanceFactor) : 0
            this.leakFlowM3PerS[i] = q
            this.leakedM3[i] += h * q
            qLeaks += q
        }
        this.bodyFilledM3 += h * (qn - qLeaks)
        this.pChamberPa = pc
        this.pBodyPa = pb
        this.posMm = newPosMm
        this.tS += h
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
        const mu = this.viscosityNowPaS
        return {
            tS: this.tS,
            enabled: this.enabled,
            plungerPosMm: this.posMm,
            plungerVelMmPerS: this.velMmPerS,
            plungerVolumeMl: this.posMm * p.mlPerMm,
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
            storedMl: (this.chamberComplianceM3PerPa * this.pChamberPa) / M3_PER_ML,
            gapMl: this.gapM3 / M3_PER_ML,
            bodyStoredMl: (this.bodyComplianceM3PerPa * this.pBodyPa) / M3_PER_ML,
            viscosityPaS: mu,
            cementAgeS: this.cement.ageS(this.tS),
            cementPhase: this.cement.phase(this.tS),
            needleResistancePaSPerMl: this.needleResistancePaSPerM3(mu) * M3_PER_ML,
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
