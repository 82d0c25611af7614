// `injector calibrate` (BOARD-3): the guided calibration flow. Three steps,
// each told to the person at the bench, then sent as the service's command
// with the FAULT-7 confirm flow of `injector send`:
//   tare    - syringe removed, plunger unloaded            -> tare
//   gain    - a known mass on the load cell                -> calibrate_gain {mass kg}
//   volume  - empty syringe + collection cup; the plunger   -> calibration_drive {counts}
//             moves N counts (info CalDriveDone = counts),     then calibrate_volume
//             the collected volume is measured                 {counts, volume µL}
// The device validates and stores every result (plausibility, checksum); the
// host only guides and shows its answers. At the end the `flags` register
// says which calibrations the device now holds (bits 0-2).
import { createInterface, Interface } from "node:readline"
import { DEFAULT_SYRINGE, SYRINGES, geometricMlPerCount } from "../../src/core/geometry"
import { InjectorLink, LinkEvent, LinkTelemetry } from "./link"
import { EXIT, UsageError, prepare, sendCommand } from "./send"
import { Reason, injectorSpec, packet, reasonName } from "./spec"

export type CalStep = "tare" | "gain" | "volume"
export const CAL_STEPS: CalStep[] = ["tare", "gain", "volume"]
/** bits of the `flags` register */
export const CAL_BITS: Record<CalStep, number> = { tare: 1, gain: 2, volume: 4 }
export const COUNTS_MIN = 100
export const COUNTS_MAX = 60000
export const COUNTS_DEFAULT = 6000

export interface CalibrateOptions {
    steps: CalStep[]
    /** kg */
    mass?: number
    counts: number
    /** µL */
    volume?: number
    /** g, converted with density */
    grams?: number
    /** g/mL */
    density: number
    interactive: boolean
    confirmWaitMs: number
    driveWaitMs: number
}

/** Raw option text as commander hands it over. */
export interface CalibrateArgs {
    step?: string
    mass?: string
    counts?: string
    volume?: string
    grams?: string
    density?: string
    yes?: boolean
    confirmTimeout?: number
    driveTimeout?: number
}

function num(name: string, text: string, unit: string): number {
    if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(text.trim())) throw new UsageError(`${name}: "${text}" is not a number (${unit})`)
    return Number(text)
}

function positive(name: string, text: string, unit: string): number {
    const v = num(name, text, unit)
    if (!(v > 0) || !Number.isFinite(v)) throw new UsageError(`${name} must be greater than 0 (${unit}), got ${text}`)
    return v
}

export function checkCounts(text: string): number {
    const v = num("--counts", text, "encoder counts")
    if (!Number.isInteger(v) || v < COUNTS_MIN || v > COUNTS_MAX)
        throw new UsageError(`--counts must be a whole number of encoder counts from ${COUNTS_MIN} to ${COUNTS_MAX}, got ${text}`)
    return v
}

/**
 * Checks every option before anything is sent (usage errors exit 2). Non-
 * interactive runs (--yes, or stdin not a terminal) need every value as a flag.
 */
export function checkOptions(a: CalibrateArgs, stdinIsTTY: boolean): CalibrateOptions {
    let steps = CAL_STEPS
    if (a.step !== undefined) {
        if (!CAL_STEPS.includes(a.step as CalStep)) throw new UsageError(`--step must be one of ${CAL_STEPS.join(", ")}, got "${a.step}"`)
        steps = [a.step as CalStep]
    }
    const o: CalibrateOptions = {
        steps,
        counts: checkCounts(a.counts ?? String(COUNTS_DEFAULT)),
        density: positive("--density", a.density ?? "1.0", "g/mL"),
        interactive: !a.yes,
        confirmWaitMs: (a.confirmTimeout ?? 15) * 1000,
        driveWaitMs: (a.driveTimeout ?? 120) * 1000,
    }
    if (a.mass !== undefined) o.mass = positive("--mass", a.mass, "kg")
    if (a.volume !== undefined) o.volume = positive("--volume", a.volume, "µL")
    if (a.grams !== undefined) o.grams = positive("--grams", a.grams, "g")
    if (o.volume !== undefined && o.grams !== undefined) throw new UsageError("give either --volume (µL) or --grams (g), not both")
    if (!a.yes && !stdinIsTTY)
        throw new UsageError("input is not a terminal: run with --yes and give the values as flags (--mass, --volume or --grams)")
    if (a.yes) {
        const missing: string[] = []
        if (steps.includes("gain") && o.mass === undefined) missing.push("--mass <kg> (the known mass for the gain step)")
        if (steps.includes("volume") && o.volume === undefined && o.grams === undefined)
            missing.push("--volume <µL> or --grams <g> (what the calibration drive delivers)")
        if (missing.length) throw new UsageError(`--yes runs without questions, so it needs ${missing.join(" and ")}`)
    }
    return o
}

/** An answer to "collected volume": "1432" or "1432 uL" (µL), "1.43 mL", "1.43 g" (with the density). */
export function parseVolumeAnswer(text: string, density: number): number {
    const m = /^\s*([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)\s*(ul|µl|μl|ml|g)?\s*$/i.exec(text)
    if (!m) throw new UsageError(`"${text.trim()}" is not a volume: give µL (e.g. 1432), or mL / g with the unit (1.43 mL, 1.43 g)`)
    const v = Number(m[1])
    if (!(v > 0) || !Number.isFinite(v)) throw new UsageError(`the volume must be greater than 0, got ${text.trim()}`)
    const unit = (m[2] || "ul").toLowerCase()
    if (unit === "ml") return v * 1000
    if (unit === "g") return (v / density) * 1000
    return v
}

export function flagsList(flags: number) {
    return CAL_STEPS.map(s => `${s} ${flags & CAL_BITS[s] ? "yes" : "NO"}`).join(", ")
}

class Stopped extends Error {}

/** Questions on the terminal; Ctrl-C stops the flow. */
class Asker {
    private rl: Interface | undefined
    private stop: ((e: Error) => void) | undefined

    private get iface() {
        if (!this.rl) {
            this.rl = createInterface({ input: process.stdin, output: process.stdout })
            this.rl.on("SIGINT", () => this.stop?.(new Stopped("stopped by the user (Ctrl-C)")))
            this.rl.on("close", () => this.stop?.(new Stopped("input closed")))
        }
        return this.rl
    }

    ask(q: string): Promise<string> {
        const rl = this.iface
        return new Promise((resolve, reject) => {
            this.stop = reject
            rl.question(q, a => {
                this.stop = undefined
                resolve(a)
            })
        })
    }

    close() {
        this.stop = undefined
        this.rl?.close()
    }
}

export interface CalibrateResult {
    exit: number
    flags?: number
}

/** Runs the flow on a connected link; returns the exit code. */
export async function calibrate(link: InjectorLink, o: CalibrateOptions, out: (s: string) => void = s => console.log(s)): Promise<CalibrateResult> {
    injectorSpec()
    const asker = new Asker()
    let lastFlags: number | undefined
    const onTel = (t: LinkTelemetry) => (lastFlags = t.batch.header.flags)
    link.on("telemetry", onTel)
    const total = o.steps.length
    const done: CalStep[] = []
    const send = async (name: string, args: string[]) => {
        const r = await sendCommand(link, prepare(name, args, {}), { confirmWaitMs: o.confirmWaitMs, out, transitions: false })
        if (r.outcome === "no-answer") out(`injector: ${r.message}`)
        return r
    }
    const waitEnter = async (what: string) => {
        if (o.interactive) await asker.ask(`  ${what} - press Enter to go on (Ctrl-C stops) `)
    }
    const stoppedAt = (step: CalStep, exit: number): CalibrateResult => {
        out(`calibration stopped at the ${step} step; ${done.length ? `done before it: ${done.join(", ")}` : "nothing was changed by this run"}`)
        return { exit }
    }
    try {
        for (let i = 0; i < total; i++) {
            const step = o.steps[i]
            const head = total > 1 ? `Step ${i + 1}/${total}` : "Step"
            out("")
            if (step === "tare") {
                out(`${head} - tare: remove the syringe and unload the plunger (nothing may press on the load cell).`)
                await waitEnter("unloaded?")
                out("taring the load cell ...")
                const r = await send("tare", [])
                if (r.exit !== EXIT.ok) return stoppedAt(step, r.exit)
                out("tare done: the load cell's zero is set.")
            } else if (step === "gain") {
                out(`${head} - gain: place a known mass on the load cell (a calibration weight, e.g. 1 kg).`)
                let mass = o.mass
                if (mass === undefined) {
                    for (;;) {
                        const a = (await asker.ask("  its mass in kg: ")).trim()
                        try {
                            mass = positive("the mass", a, "kg")
                            break
                        } catch (e: any) {
                            out(`  ${e.message}`)
                        }
                    }
                } else await waitEnter(`${mass} kg in place?`)
                out(`calibrating the gain with ${mass} kg ...`)
                const r = await send("calibrate_gain", [String(mass)])
                if (r.exit !== EXIT.ok) return stoppedAt(step, r.exit)
                out("gain done: you can take the mass off the load cell.")
            } else {
                const estMl = o.counts * geometricMlPerCount(SYRINGES[DEFAULT_SYRINGE].boreMm)
                out(
                    `${head} - volume: fit a clean syringe (no cement) filled with water, without air, and put a collection cup at its outlet;` +
                        ` the plunger will move ${o.counts} encoder counts (about ${estMl.toFixed(2)} mL from a ${SYRINGES[DEFAULT_SYRINGE].name} syringe).`
                )
                await waitEnter("syringe and cup in place?")
                const moved = await drive(link, o, send, out)
                if (typeof moved !== "number") return stoppedAt(step, moved.exit)
                out(`the plunger moved ${moved} counts: measure what was collected.`)
                let ul: number
                if (o.volume !== undefined) ul = o.volume
                else if (o.grams !== undefined) ul = (o.grams / o.density) * 1000
                else {
                    for (;;) {
                        const a = await asker.ask(`  collected volume in µL (or "1.43 g" by weight at ${o.density} g/mL, or "1.43 mL"): `)
                        try {
                            ul = parseVolumeAnswer(a, o.density)
                            break
                        } catch (e: any) {
                            out(`  ${e.message}`)
                        }
                    }
                }
                if (o.grams !== undefined) out(`${o.grams} g at ${o.density} g/mL = ${round(ul)} µL`)
                out(`calibrating the volume: ${moved} counts delivered ${round(ul)} µL ...`)
                const r = await send("calibrate_volume", [String(moved), String(ul)])
                if (r.exit !== EXIT.ok) return stoppedAt(step, r.exit)
                out("volume done.")
            }
            done.push(step)
        }
        out("")
        const read = await readFlags(link, () => lastFlags)
        if (read === undefined) {
            out("could not read the flags register: check the calibration with `injector monitor`")
            return { exit: EXIT.nodevice }
        }
        const flags = read.flags
        out(`the device holds: ${flagsList(flags)} (${read.source} 0x${flags.toString(16)}, calibration bits ${flags & 7})`)
        const missing = done.filter(s => !(flags & CAL_BITS[s]))
        if (missing.length) {
            out(`the device does not report ${missing.join(", ")} as calibrated although it accepted it`)
            return { exit: EXIT.rejected, flags }
        }
        out((flags & 7) === 7 ? "calibration complete." : `calibrated in this run: ${done.join(", ")}; still missing: ${CAL_STEPS.filter(s => !(flags & CAL_BITS[s])).join(", ")}`)
        return { exit: EXIT.ok, flags }
    } catch (e) {
        if (e instanceof Stopped) {
            out(`\n${e.message}`)
            return { exit: EXIT.rejected }
        }
        throw e
    } finally {
        asker.close()
        link.off("telemetry", onTel)
    }
}

function round(v: number) {
    return Math.round(v * 100) / 100
}

/**
 * calibration_drive, then waits for CalDriveDone (counts moved) or
 * CalDriveStopped. The listener is on before sending: the drive can end
 * before sendCommand settles. On a timeout the plunger is stopped (pause).
 */
async function drive(
    link: InjectorLink,
    o: CalibrateOptions,
    send: (name: string, args: string[]) => Promise<{ exit: number }>,
    out: (s: string) => void
): Promise<number | { exit: number }> {
    let result: { moved?: number; stopped?: number } | undefined
    let wake: (() => void) | undefined
    const onEvent = (e: LinkEvent) => {
        if (e.name !== "info" || result) return
        if (e.data.reason_code === Reason.CalDriveDone) result = { moved: Math.round(e.data.value) }
        else if (e.data.reason_code === Reason.CalDriveStopped) result = { stopped: Math.round(e.data.value) }
        else return
        wake?.()
    }
    link.on("event", onEvent)
    try {
        out(`driving the plunger ${o.counts} counts ...`)
        const r = await send("calibration_drive", [String(o.counts)])
        if (r.exit !== EXIT.ok) return { exit: r.exit }
        if (!result) {
            out("waiting for the drive to finish ...")
            await new Promise<void>(resolve => {
                const t = setTimeout(resolve, o.driveWaitMs)
                wake = () => {
                    clearTimeout(t)
                    resolve()
                }
            })
        }
        if (!result) {
            out(`the drive did not report its end within ${o.driveWaitMs / 1000} s: stopping the plunger (pause)`)
            await send("pause", [])
            return { exit: EXIT.rejected }
        }
        if (result.stopped !== undefined) {
            out(`the device stopped the calibration drive: ${reasonName(result.stopped)}; nothing was calibrated`)
            return { exit: EXIT.rejected }
        }
        return result.moved!
    } finally {
        link.off("event", onEvent)
    }
}

/** The `flags` register (fresh read), else the flags of the latest telemetry batch. */
async function readFlags(link: InjectorLink, fromTelemetry: () => number | undefined): Promise<{ flags: number; source: string } | undefined> {
    const srv = link.service
    if (srv) {
        try {
            const reg = srv.register(packet("flags").identifier)
            const ok = await Promise.race([reg.refresh(), new Promise<boolean>(r => setTimeout(() => r(false), 1500))])
            if (ok !== false && reg.data?.length) return { flags: Number(reg.unpackedValue[0]), source: "flags register" }
        } catch {
            // fall back to telemetry
        }
    }
    const t = fromTelemetry()
    return t === undefined ? undefined : { flags: t, source: "telemetry flags; the register did not answer" }
}
