// Scenario files (SIM-2): the JSON format, its validation (every error names
// the offending field) and the mapping to the physics model's RigConfig.
// docs/simulator.md documents every field.
import { readFileSync } from "node:fs"
import { LEVELS, levelIndex } from "../../src/core/levels"
import { SYRINGES } from "../../src/core/geometry"
import { defaultConfig, THRESHOLDS } from "../../src/core/config"
import { Op } from "../../src/core/types"
import { DEVICE_MAX_CAP_ML } from "../../src/core/levels"
import { TRANSPORT_KEYS, TransportConfig } from "../lockstep/transport"
import { CEMENT_PRESETS, LEAK_KINDS, NEEDLE_GAUGES, RigConfig, SYRINGE_PRESETS } from "../model"

export const ACTIONS = [
    "mix",
    "arm",
    "disarm",
    "start",
    "pause",
    "leakSeen",
    "resume",
    "finish",
    "abort",
    "estop",
    "reset",
    "confirm",
    "setLevel",
    "setCap",
    "setFlow",
    "setThreshold",
    "setRemoteMode",
    "setBenchMode",
    "overrideLeakLimit",
    "burst",
    "exchangeSyringe",
    "syringeExchanged",
    "setIncrement",
] as const
export type ActionName = (typeof ACTIONS)[number]

export const FAULTS = [
    "loadCellStale",
    "loadCellSaturated",
    "loadCellNaN",
    "encoderStuck",
    "encoderJump",
    "hostDisconnect",
    "restart",
    "encoderReset",
    "encoderScale",
    "handMove",
    "loadCellLow",
] as const
export type FaultKind = (typeof FAULTS)[number]

/** set_threshold ids by name (the firmware's table, src/core/config.ts THRESHOLDS: id = index). */
export const THRESHOLD_IDS: Record<string, number> = Object.fromEntries(THRESHOLDS.map((t, i) => [t.key, i]))

export interface ScenarioAction {
    atS: number
    do: ActionName
    /** leakSeen: "pedal" (default, local foot pedal) or "command" (host); reset: "command" (default: host clear_fault + confirm) or "button" */
    via?: "pedal" | "command" | "button"
    /** press the confirm button when the firmware asks for it (default true) */
    confirm?: boolean
    /** send the command with a fresh request id and wait for its command_result (default true); false: seq 0, like an old host */
    sequenced?: boolean
    /** estop: how long the button is held, s (default 0.3) */
    holdS?: number
    /** setCap */
    capMl?: number
    override?: boolean
    /** setFlow */
    flowMlPerMin?: number
    /** setThreshold: name in THRESHOLD_IDS */
    name?: string
    value?: number
    /** setRemoteMode / setBenchMode */
    on?: boolean
    /** setLevel */
    level?: string
    /** mix: cement prepared, mL */
    preparedMl?: number
    /** mix: age of the cement at marking, s (mark_mixing's second argument) */
    ageS?: number
    /** syringeExchanged: the new syringe's fill, mL (0 or absent: full, the syringe's nominal volume) */
    fillMl?: number
    /** setIncrement: the increment, mL (0.05-1); on: increment mode on (default true) */
    incrementMl?: number
    /** burst: the command (Op name, e.g. "Start", "SetCap"), its arguments, how many, how fast; no confirm presses */
    command?: string
    args?: number[]
    count?: number
    rateHz?: number
}

export interface ScenarioFault {
    atS: number
    kind: FaultKind
    /** how long the fault lasts, s (default: to the end); restart: time the VM is down (default 0.3) */
    forS?: number
    /** encoderJump: counts added once (default 20000; negative = a backward step) */
    counts?: number
    /** encoderScale: counts per motion x factor (under-reading < 1); loadCellLow: reading x factor */
    factor?: number
    /** handMove: volume the plunger is pushed by hand while the drive is off, mL (over forS, default 0.5 s) */
    volumeMl?: number
}

export interface StopExpectation {
    maxLatencyMs?: number
    maxAfterflowMl?: number
    firmwareReason?: string
}

export interface ScenarioExpect {
    finalState?: string
    finalReason?: string
    /** reasons that must appear in transition events */
    transitions?: string[]
    /** alarm reasons that must / must not appear */
    alarms?: string[]
    noAlarms?: string[]
    maxOvershootMl?: number
    minInjectedMl?: number
    maxInjectedMl?: number
    /** at most this much cement out of the needle went into leaks (all kinds), mL */
    maxLeakedMl?: number
    maxPeakPressurePa?: number
    /** |reportedMl - encoder truth| at the end, mL */
    reportedWithinMl?: number
    /** stop triggers that must occur, with limits */
    stops?: Record<string, StopExpectation>
    /** commands that must have been rejected: [{command, reason}] */
    rejected?: { command: string; reason?: string }[]
    /** no rejection may occur (besides those listed in `rejected`) */
    noOtherRejections?: boolean
}

export const TIMINGS = ["simulator", "hardware"] as const
export type Timing = (typeof TIMINGS)[number]

export interface Scenario {
    name: string
    description?: string
    durationS: number
    seed?: number
    level: string
    capMl?: number
    capOverride?: boolean
    flowMlPerMin?: number
    benchMode?: boolean
    remoteMode?: boolean
    arm?: boolean
    /** end as soon as the level is over (completed/aborted/fault with nothing left to do) + settleS */
    endWhenDone?: boolean
    settleS?: number
    /** physics model: "v1" (SIM-1, default) or "v2" (SIM-6 fidelity defaults; docs/simulator.md) */
    physics?: "v1" | "v2"
    syringe?: {
        preset?: string
        boreMm?: number
        complianceMlPerMPa?: number
        frictionDynamicN?: number
        frictionStaticN?: number
        fillMl?: number
        /** SIM-6: air volume fraction of the cement at atmospheric pressure, 0..0.05 */
        airFraction?: number
        /** SIM-6: restrictive syringe nozzle / Luer tip upstream of the needle */
        tip?: { innerDiameterMm: number; lengthMm: number }
    }
    needle?: {
        gauge?: number
        lengthMm?: number
        wall?: "regular" | "thin"
        innerDiameterMm?: number
        /** SIM-6: stepped cannula, parts from hub to tip (replaces gauge/wall/innerDiameterMm/lengthMm) */
        segments?: { innerDiameterMm: number; lengthMm: number }[]
        /** SIM-6: needle length inside the body (at body temperature), mm */
        insertedLengthMm?: number
    }
    cement?: {
        mixedAtS?: number
        preset?: string
        temperatureC?: number
        viscosityPaS?: number
        viscosityScale?: number
        preparedMl?: number
        /** SIM-6: needle flow law */
        rheology?: "newtonian" | "powerLaw"
        /** SIM-6: power-law index n (implies powerLaw) */
        flowIndex?: number
    }
    vertebra?: {
        tumorFactor?: number
        complianceMlPerKPa?: number
        resistancePaSPerMl?: number
        /** body resistance x (mu / 50 Pa.s)^exponent: 0 = fixed (default), 1 = Darcy */
        viscosityExponent?: number
        /** SIM-6: leak resistance x (mu / 50 Pa.s)^exponent for every leak */
        leakViscosityExponent?: number
        /** SIM-6: temperature of the needle part inside the body, C */
        temperatureC?: number
    }
    leaks?: { atMl?: number; atS?: number; kind: string; resistanceFactor: number; viscosityExponent?: number }[]
    blockage?: { atS?: number; atMl?: number; factor: number }
    loadCell?: { noiseN?: number; sampleRateHz?: number; lsbN?: number }
    drive?: { maxSpeedMmPerS?: number; maxAccelMmPerS2?: number; stallForceN?: number }
    thresholds?: Record<string, number>
    /** lockstep transport model overrides (sim/lockstep/transport.ts) */
    transport?: Partial<TransportConfig>
    /**
     * lockstep timing model: "simulator" (default; src/main.ts, samples and
     * motor through roles on the bus, the VM's send budget on the motor
     * path) or "hardware" (src/main_hwsim.ts: the board's control path, a
     * step per sample, the motor applied in the step through pins, the
     * drive's lease; sim/lockstep/hwpins.ts)
     */
    timing?: Timing
    actions: ScenarioAction[]
    faults?: ScenarioFault[]
    expect?: ScenarioExpect
}

export class ScenarioError extends Error {
    constructor(readonly errors: string[]) {
        super(errors.join("\n"))
    }
}
/** One field's error; validateScenario collects them all. */
class FieldError extends Error {}

type Obj = Record<string, unknown>

/** A structural error (not an object, not an array): the checks below it cannot run. */
function fail(path: string, msg: string): never {
    throw new FieldError(`${path}: ${msg}`)
}
/** Errors of the current validation; null outside one (report then throws like fail). */
let collected: string[] | null = null
/** A field's error: recorded, and the other fields (of the same action too) are still checked. */
function report(path: string, msg: string): void {
    const m = `${path}: ${msg}`
    if (collected) collected.push(m)
    else throw new FieldError(m)
}
const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v)

function checkKeys(o: Obj, path: string, allowed: string[]) {
    for (const k of Object.keys(o))
        if (!allowed.includes(k) && !k.startsWith("$") && k !== "comment")
            report(`${path}${path ? "." : ""}${k}`, `unknown field (allowed: ${allowed.join(", ")})`)
}
function num(o: Obj, k: string, path: string, opt: { min?: number; max?: number; int?: boolean; required?: boolean; gt?: number } = {}) {
    const v = o[k]
    const p = `${path}${path ? "." : ""}${k}`
    if (v === undefined) {
        if (opt.required) report(p, "is required")
        return
    }
    // one error per field: the first that applies
    if (typeof v !== "number" || !Number.isFinite(v)) return report(p, `must be a finite number, got ${JSON.stringify(v)}`)
    if (opt.int && !Number.isInteger(v)) return report(p, `must be an integer, got ${v}`)
    if (opt.min !== undefined && v < opt.min) return report(p, `must be >= ${opt.min}, got ${v}`)
    if (opt.gt !== undefined && v <= opt.gt) return report(p, `must be > ${opt.gt}, got ${v}`)
    if (opt.max !== undefined && v > opt.max) report(p, `must be <= ${opt.max}, got ${v}`)
}
function str(o: Obj, k: string, path: string, opt: { oneOf?: readonly string[]; required?: boolean } = {}) {
    const v = o[k]
    const p = `${path}${path ? "." : ""}${k}`
    if (v === undefined) {
        if (opt.required) report(p, "is required")
        return
    }
    if (typeof v !== "string") return report(p, `must be a string, got ${JSON.stringify(v)}`)
    if (opt.oneOf && !opt.oneOf.includes(v)) report(p, `must be one of ${opt.oneOf.join(", ")}, got "${v}"`)
}
function bool(o: Obj, k: string, path: string) {
    const v = o[k]
    if (v !== undefined && typeof v !== "boolean") report(`${path}${path ? "." : ""}${k}`, `must be true or false, got ${JSON.stringify(v)}`)
}
function obj(o: Obj, k: string, path: string, keys: string[]): Obj | undefined {
    const v = o[k]
    const p = `${path}${path ? "." : ""}${k}`
    if (v === undefined) return undefined
    if (!isObj(v)) fail(p, "must be an object")
    checkKeys(v, p, keys)
    return v
}

const STATE_NAMES = ["idle", "ready", "injecting", "paused", "completed", "aborted", "fault"]

/** Op names a burst may send (the firmware's command set). */
export const OP_NAMES: string[] = Object.keys(Op).filter(k => Number.isNaN(Number(k)))

/** Validate a parsed scenario; throws ScenarioError listing every bad field (each error names it). */
export function validateScenario(raw: unknown): Scenario {
    const errors: string[] = []
    const check = (f: () => void) => {
        try {
            f()
        } catch (e) {
            if (e instanceof FieldError) errors.push(e.message)
            else throw e
        }
    }
    check(() => validateInto(raw))
    // validateInto stops at the first error of a field group; run the groups separately
    if (isObj(raw)) {
        errors.length = 0
        collected = errors
        try {
            for (const g of GROUPS) check(() => g(raw, check))
        } finally {
            collected = null
        }
    }
    if (errors.length) throw new ScenarioError(errors)
    return raw as unknown as Scenario
}

type Group = (s: Obj, check: (f: () => void) => void) => void
const GROUPS: Group[] = []

function validateInto(raw: unknown) {
    if (!isObj(raw)) fail("(file)", "must hold a JSON object")
}

GROUPS.push(s =>
    checkKeys(s, "", [
        "name", "description", "durationS", "seed", "level", "capMl", "capOverride", "flowMlPerMin", "benchMode",
        "remoteMode", "arm", "endWhenDone", "settleS", "physics", "syringe", "needle", "cement", "vertebra", "leaks", "blockage",
        "loadCell", "drive", "thresholds", "transport", "timing", "actions", "faults", "expect",
    ])
)
GROUPS.push((s, check) => {
    str(s, "name", "", { required: true })
    if (typeof s.name === "string" && !/^[A-Za-z0-9._-]+$/.test(s.name)) report("name", "use letters, digits, '.', '_' and '-' only")
    str(s, "description", "")
})
GROUPS.push((s, check) => {
    num(s, "durationS", "", { required: true, gt: 0, max: 600 })
    num(s, "seed", "", { int: true, min: 0 })
})
GROUPS.push((s, check) => {
    str(s, "level", "", { required: true })
    if (typeof s.level === "string" && levelIndex(s.level) < 0) report("level", `unknown level "${s.level}" (C1..C7, T1..T12, L1..L5, S1)`)
})
GROUPS.push((s, check) => {
    num(s, "capMl", "", { gt: 0, max: DEVICE_MAX_CAP_ML })
    const li = levelIndex(String(s.level))
    if (li >= 0 && typeof s.capMl === "number") {
        if (s.capMl > LEVELS[li].ceilingMl) report("capMl", `must be <= ${LEVELS[li].ceilingMl} (the ceiling of level ${s.level}), got ${s.capMl}`)
        if (s.capMl > LEVELS[li].capMl && s.capOverride !== true)
            report("capMl", `${s.capMl} is above level ${s.level}'s preset cap ${LEVELS[li].capMl}: set "capOverride": true (confirmed at setup)`)
    }
    bool(s, "capOverride", "")
})
GROUPS.push((s, check) => {
    // the firmware's own range (set_flow rejects anything else after the firmware started)
    const cfg = defaultConfig()
    num(s, "flowMlPerMin", "", { min: cfg.flowMinMlPerMin, max: cfg.flowMaxMlPerMin })
})
GROUPS.push((s, check) => {
    for (const k of ["benchMode", "remoteMode", "arm", "endWhenDone"]) bool(s, k, "")
})
GROUPS.push((s, check) => {
    num(s, "settleS", "", { min: 0, max: 30 })
})
GROUPS.push((s, check) => {
    str(s, "physics", "", { oneOf: ["v1", "v2"] })
})

/** SIM-6 range of entrained air (issue 12): 0-5 % of the cement volume. */
export const MAX_SCENARIO_AIR_FRACTION = 0.05

/** A tube part {innerDiameterMm, lengthMm} (stepped cannula, syringe tip). */
function tube(v: unknown, p: string) {
    if (!isObj(v)) return report(p, "must be an object {innerDiameterMm, lengthMm}")
    checkKeys(v, p, ["innerDiameterMm", "lengthMm"])
    num(v, "innerDiameterMm", p, { required: true, gt: 0, max: 20 })
    num(v, "lengthMm", p, { required: true, gt: 0, max: 500 })
}
GROUPS.push((s, check) => {
    const sy = obj(s, "syringe", "", ["preset", "boreMm", "complianceMlPerMPa", "frictionDynamicN", "frictionStaticN", "fillMl", "airFraction", "tip"])
    if (sy) {
        str(sy, "preset", "syringe", { oneOf: Object.keys(SYRINGE_PRESETS) })
        num(sy, "boreMm", "syringe", { gt: 0, max: 40 })
        num(sy, "complianceMlPerMPa", "syringe", { gt: 0 })
        num(sy, "frictionDynamicN", "syringe", { min: 0 })
        num(sy, "frictionStaticN", "syringe", { min: 0 })
        num(sy, "fillMl", "syringe", { gt: 0 })
        // a fraction, not a percentage: 0.03 = 3 %
        num(sy, "airFraction", "syringe", { min: 0, max: MAX_SCENARIO_AIR_FRACTION })
        if (sy.tip !== undefined) tube(sy.tip, "syringe.tip")
    }
})
GROUPS.push((s, check) => {
    const nd = obj(s, "needle", "", ["gauge", "lengthMm", "wall", "innerDiameterMm", "segments", "insertedLengthMm"])
    if (nd) {
        num(nd, "gauge", "needle", { int: true })
        if (nd.gauge !== undefined && !NEEDLE_GAUGES[nd.gauge as number])
            report("needle.gauge", `no preset for gauge ${nd.gauge} (known: ${Object.keys(NEEDLE_GAUGES).join(", ")}); give innerDiameterMm`)
        num(nd, "lengthMm", "needle", { gt: 0, max: 500 })
        str(nd, "wall", "needle", { oneOf: ["regular", "thin"] })
        num(nd, "innerDiameterMm", "needle", { gt: 0, max: 10 })
        if (nd.segments !== undefined) {
            if (!Array.isArray(nd.segments) || nd.segments.length === 0) report("needle.segments", "must be a non-empty array of {innerDiameterMm, lengthMm}")
            else {
                nd.segments.forEach((t, i) => tube(t, `needle.segments[${i}]`))
                for (const k of ["gauge", "wall", "innerDiameterMm", "lengthMm"])
                    if (nd[k] !== undefined) report(`needle.${k}`, "cannot be combined with needle.segments (the segments give the whole cannula)")
            }
        }
        num(nd, "insertedLengthMm", "needle", { min: 0 })
        if (typeof nd.insertedLengthMm === "number") {
            const segs = Array.isArray(nd.segments) ? (nd.segments as Obj[]) : undefined
            const lengthMm = segs
                ? segs.reduce((a, t) => a + (isObj(t) && typeof t.lengthMm === "number" ? t.lengthMm : 0), 0)
                : typeof nd.lengthMm === "number" ? nd.lengthMm : 100
            if (nd.insertedLengthMm > lengthMm) report("needle.insertedLengthMm", `must be <= the needle length (${lengthMm} mm), got ${nd.insertedLengthMm}`)
        }
    }
})
GROUPS.push((s, check) => {
    const ce = obj(s, "cement", "", ["mixedAtS", "preset", "temperatureC", "viscosityPaS", "viscosityScale", "preparedMl", "rheology", "flowIndex"])
    if (ce) {
        num(ce, "mixedAtS", "cement", { max: 0 })
        // setup marks the cement with its age; the firmware refuses an age beyond its working time
        const limitS = defaultConfig().workingLimitS
        if (typeof ce.mixedAtS === "number" && ce.mixedAtS < -limitS)
            report("cement.mixedAtS", `${ce.mixedAtS} s: the firmware refuses cement older than its working time (mark_mixing age 0..${limitS} s)`)
        str(ce, "preset", "cement", { oneOf: Object.keys(CEMENT_PRESETS) })
        num(ce, "temperatureC", "cement", { min: 0, max: 60 })
        num(ce, "viscosityPaS", "cement", { gt: 0 })
        num(ce, "viscosityScale", "cement", { gt: 0 })
        num(ce, "preparedMl", "cement", { min: 0, max: 100 })
        str(ce, "rheology", "cement", { oneOf: ["newtonian", "powerLaw"] })
        num(ce, "flowIndex", "cement", { min: 0.1, max: 1 })
        if (ce.flowIndex !== undefined && ce.rheology === "newtonian") report("cement.flowIndex", 'needs rheology "powerLaw" (a flow index is a power law)')
    }
})
GROUPS.push((s, check) => {
    const ve = obj(s, "vertebra", "", ["tumorFactor", "complianceMlPerKPa", "resistancePaSPerMl", "viscosityExponent", "leakViscosityExponent", "temperatureC"])
    if (ve) {
        num(ve, "tumorFactor", "vertebra", { gt: 0 })
        num(ve, "complianceMlPerKPa", "vertebra", { gt: 0 })
        num(ve, "resistancePaSPerMl", "vertebra", { gt: 0 })
        num(ve, "viscosityExponent", "vertebra", { min: 0, max: 2 })
        num(ve, "leakViscosityExponent", "vertebra", { min: 0, max: 2 })
        num(ve, "temperatureC", "vertebra", { min: 20, max: 45 })
    }
})
GROUPS.push((s, check) => {
    if (s.leaks !== undefined) {
        if (!Array.isArray(s.leaks)) fail("leaks", "must be an array")
        s.leaks.forEach((l, i) => check(() => {
            const p = `leaks[${i}]`
            if (!isObj(l)) fail(p, "must be an object")
            checkKeys(l, p, ["atMl", "atS", "kind", "resistanceFactor", "viscosityExponent"])
            num(l, "viscosityExponent", p, { min: 0, max: 2 })
            str(l, "kind", p, { required: true, oneOf: LEAK_KINDS })
            num(l, "resistanceFactor", p, { required: true, gt: 0 })
            num(l, "atMl", p, { min: 0 })
            num(l, "atS", p, { min: 0 })
            if (l.atMl === undefined && l.atS === undefined) report(p, "needs atMl or atS")
        }))
    }
})
GROUPS.push((s, check) => {
    const bl = obj(s, "blockage", "", ["atS", "atMl", "factor"])
    if (bl) {
        num(bl, "factor", "blockage", { required: true, gt: 0 })
        num(bl, "atS", "blockage", { min: 0 })
        num(bl, "atMl", "blockage", { min: 0 })
        if (bl.atS === undefined && bl.atMl === undefined) report("blockage", "needs atS or atMl")
    }
})
GROUPS.push((s, check) => {
    const lc = obj(s, "loadCell", "", ["noiseN", "sampleRateHz", "lsbN"])
    if (lc) {
        num(lc, "noiseN", "loadCell", { min: 0 })
        num(lc, "sampleRateHz", "loadCell", { gt: 0, max: 320 })
        num(lc, "lsbN", "loadCell", { min: 0 })
    }
})
GROUPS.push((s, check) => {
    const dr = obj(s, "drive", "", ["maxSpeedMmPerS", "maxAccelMmPerS2", "stallForceN"])
    if (dr) for (const k of ["maxSpeedMmPerS", "maxAccelMmPerS2", "stallForceN"]) num(dr, k, "drive", { gt: 0 })
})
GROUPS.push((s, check) => {
    const th = obj(s, "thresholds", "", Object.keys(THRESHOLD_IDS))
    if (th)
        for (const [k, id] of Object.entries(THRESHOLD_IDS)) {
            const spec = THRESHOLDS[id]
            num(th, k, "thresholds", { min: spec.min, max: spec.max, int: spec.integer })
        }
})
GROUPS.push(s => {
    str(s, "timing", "", { oneOf: TIMINGS })
})
GROUPS.push((s, check) => {
    const tr = obj(s, "transport", "", TRANSPORT_KEYS)
    if (tr) for (const k of TRANSPORT_KEYS) num(tr, k, "transport", { min: 0, max: k === "vmPacketsPerS" || k === "vmBurstPackets" ? 10000 : 1000 })
})
GROUPS.push((s, check) => {
    if (!Array.isArray(s.actions)) fail("actions", "is required (an array, may be empty)")
    ;(s.actions as unknown[]).forEach((a, i) => check(() => {
        const p = `actions[${i}]`
        if (!isObj(a)) fail(p, "must be an object")
        checkKeys(a, p, ["atS", "do", "via", "confirm", "holdS", "capMl", "override", "flowMlPerMin", "name", "value", "on", "level", "preparedMl", "ageS", "command", "args", "count", "rateHz", "sequenced", "fillMl", "incrementMl"])
        num(a, "atS", p, { required: true, min: 0 })
        if (typeof a.atS === "number" && a.atS > (s.durationS as number)) report(`${p}.atS`, `is after durationS (${s.durationS})`)
        str(a, "do", p, { required: true, oneOf: ACTIONS })
        str(a, "via", p, { oneOf: ["pedal", "command", "button"] })
        bool(a, "confirm", p)
        bool(a, "sequenced", p)
        bool(a, "override", p)
        bool(a, "on", p)
        num(a, "holdS", p, { min: 0.02, max: 30 })
        num(a, "preparedMl", p, { min: 0, max: 100 })
        if (a.do === "setCap") num(a, "capMl", p, { required: true })
        if (a.do === "setFlow") num(a, "flowMlPerMin", p, { required: true })
        if (a.do === "setThreshold") {
            str(a, "name", p, { required: true, oneOf: Object.keys(THRESHOLD_IDS) })
            num(a, "value", p, { required: true })
        }
        if (a.do === "setRemoteMode" || a.do === "setBenchMode") if (a.on === undefined) report(`${p}.on`, "is required")
        if (a.do === "setLevel") {
            str(a, "level", p, { required: true })
            if (typeof a.level === "string" && levelIndex(a.level) < 0) report(`${p}.level`, `unknown level "${a.level}"`)
        }
        if (a.do === "burst") {
            str(a, "command", p, { required: true, oneOf: OP_NAMES })
            if (a.args !== undefined && !(Array.isArray(a.args) && a.args.every(x => typeof x === "number")))
                report(`${p}.args`, "must be an array of numbers")
            num(a, "count", p, { required: true, int: true, min: 1, max: 1000 })
            num(a, "rateHz", p, { required: true, gt: 0, max: 1000 })
        }
        num(a, "ageS", p, { min: 0, max: 3600 })
        // the firmware judges the range (a rejection is a result); the file only needs a number
        num(a, "fillMl", p, {})
        if (a.do === "setIncrement") num(a, "incrementMl", p, { required: true })
    }))
})
GROUPS.push((s, check) => {
    if (s.faults !== undefined) {
        if (!Array.isArray(s.faults)) fail("faults", "must be an array")
        s.faults.forEach((f, i) => check(() => {
            const p = `faults[${i}]`
            if (!isObj(f)) fail(p, "must be an object")
            checkKeys(f, p, ["atS", "kind", "forS", "counts", "factor", "volumeMl"])
            num(f, "atS", p, { required: true, min: 0 })
            if (typeof f.atS === "number" && f.atS > (s.durationS as number)) report(`${p}.atS`, `is after durationS (${s.durationS})`)
            str(f, "kind", p, { required: true, oneOf: FAULTS })
            num(f, "forS", p, { gt: 0 })
            num(f, "counts", p, { int: true })
            if (f.kind === "encoderScale" || f.kind === "loadCellLow") num(f, "factor", p, { required: true, gt: 0, max: 2 })
            if (f.kind === "handMove") num(f, "volumeMl", p, { required: true, gt: 0, max: 5 })
        }))
    }
})
GROUPS.push((s, check) => {
    const ex = obj(s, "expect", "", [
        "finalState", "finalReason", "transitions", "alarms", "noAlarms", "maxOvershootMl", "minInjectedMl", "maxInjectedMl", "maxLeakedMl",
        "maxPeakPressurePa", "reportedWithinMl", "stops", "rejected", "noOtherRejections",
    ])
    if (ex) {
        str(ex, "finalState", "expect", { oneOf: STATE_NAMES })
        str(ex, "finalReason", "expect")
        for (const k of ["maxOvershootMl", "minInjectedMl", "maxInjectedMl", "maxLeakedMl", "maxPeakPressurePa", "reportedWithinMl"]) num(ex, k, "expect", { min: 0 })
        for (const k of ["transitions", "alarms", "noAlarms"])
            if (ex[k] !== undefined && !(Array.isArray(ex[k]) && (ex[k] as unknown[]).every(x => typeof x === "string")))
                fail(`expect.${k}`, "must be an array of reason names")
        if (ex.stops !== undefined) {
            if (!isObj(ex.stops)) fail("expect.stops", "must be an object keyed by trigger")
            for (const [k, v] of Object.entries(ex.stops)) {
                if (!STOP_TRIGGERS.includes(k as StopTrigger)) report(`expect.stops.${k}`, `unknown trigger (one of ${STOP_TRIGGERS.join(", ")})`)
                if (!isObj(v)) fail(`expect.stops.${k}`, "must be an object")
                checkKeys(v, `expect.stops.${k}`, ["maxLatencyMs", "maxAfterflowMl", "firmwareReason"])
            }
        }
        if (ex.rejected !== undefined && !Array.isArray(ex.rejected)) fail("expect.rejected", "must be an array of {command, reason}")
        bool(ex, "noOtherRejections", "expect")
    }
})


export const STOP_TRIGGERS = [
    "cap",
    "leakSeen",
    "pause",
    "finish",
    "abort",
    "estop",
    "overpressure",
    "blockage",
    "loadCellStale",
    "loadCellSaturated",
    "loadCellNaN",
    "encoderStuck",
    "encoderJump",
    "hostDisconnect",
    "restart",
] as const
export type StopTrigger = (typeof STOP_TRIGGERS)[number]

export function loadScenario(file: string): Scenario {
    let text: string
    try {
        text = readFileSync(file, "utf8")
    } catch (e) {
        throw new ScenarioError([`${file}: cannot read (${(e as Error).message})`])
    }
    let raw: unknown
    try {
        raw = JSON.parse(text)
    } catch (e) {
        throw new ScenarioError([`${file}: not valid JSON: ${jsonErrorWhere(text, (e as Error).message)}`])
    }
    try {
        return validateScenario(raw)
    } catch (e) {
        if (e instanceof ScenarioError) throw new ScenarioError(e.errors.map(m => `${file}: ${m}`))
        throw e
    }
}

/** Firmware syringe preset (set_syringe id) nearest to the scenario's bore. */
export function firmwareSyringeId(boreMm: number): number {
    let best = 0
    for (let i = 1; i < SYRINGES.length; i++)
        if (Math.abs(SYRINGES[i].boreMm - boreMm) < Math.abs(SYRINGES[best].boreMm - boreMm)) best = i
    return best
}

/**
 * FLOW-5: [bore mm, volume mL] of set_custom_syringe when the scenario's bore is
 * none of the firmware's presets (within 0.01 mm), else undefined. The volume is
 * the syringe's fill (default: the preset's nominal volume).
 */
export function customSyringeFor(s: Scenario): [number, number] | undefined {
    const bore = scenarioBoreMm(s)
    if (SYRINGES.some(p => Math.abs(p.boreMm - bore) <= 0.01)) return undefined
    const preset = SYRINGE_PRESETS[(s.syringe?.preset ?? "20mL") as keyof typeof SYRINGE_PRESETS]
    return [bore, s.syringe?.fillMl ?? preset.nominalMl]
}

export function scenarioBoreMm(s: Scenario): number {
    const preset = SYRINGE_PRESETS[(s.syringe?.preset ?? "20mL") as keyof typeof SYRINGE_PRESETS]
    return s.syringe?.boreMm ?? preset.boreMm
}

export function levelCapMl(s: Scenario): number {
    return s.capMl ?? LEVELS[levelIndex(s.level)].capMl
}

/** The physics model's configuration for a scenario (time 0 = scenario start). */
export function rigConfig(s: Scenario, seedOverride?: number): RigConfig {
    return {
        seed: seedOverride ?? s.seed ?? 1,
        physics: s.physics,
        syringe: { ...(s.syringe as RigConfig["syringe"]) },
        // a stepped cannula replaces the default 14 G x 100 mm tube
        needle: s.needle?.segments ? { ...s.needle } : { gauge: 14, lengthMm: 100, ...s.needle },
        cement: {
            mixedAtS: s.cement?.mixedAtS,
            preset: s.cement?.preset as "lowViscosity" | "highViscosity" | undefined,
            temperatureC: s.cement?.temperatureC,
            viscosityPaS: s.cement?.viscosityPaS,
            viscosityScale: s.cement?.viscosityScale,
            rheology: s.cement?.rheology,
            flowIndex: s.cement?.flowIndex,
        },
        vertebra: { ...s.vertebra },
        leaks: (s.leaks ?? []).map(l => ({ ...l, kind: l.kind as "venous" | "softTissue" | "epidural" })),
        occlusion: s.blockage ? { ...s.blockage } : undefined,
        drive: { ...s.drive },
        loadCell: { ...s.loadCell },
    }
}

/** "line L, column C: <message>" from JSON.parse's "... at position N" (Node 20). */
export function jsonErrorWhere(text: string, message: string): string {
    const m = /at position (\d+)/.exec(message)
    if (!m) return message
    const pos = Number(m[1])
    const before = text.slice(0, pos)
    const line = before.split("\n").length
    const col = pos - before.lastIndexOf("\n")
    return `line ${line}, column ${col}: ${message.replace(/ in JSON at position \d+/, "")}`
}
