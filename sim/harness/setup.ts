// Before scenario time 0: calibration through the service commands (tare,
// known mass, geometric volume), then the scenario's settings (syringe,
// level, cap, flow, cement, thresholds, modes) and arming.
import { setThreshold } from "../../src/core/config"
import { levelIndex } from "../../src/core/levels"
import { Op, State } from "../../src/core/types"
import { mlPerCount } from "../model"
import { BenchClient, SENDS_PER_SEQ } from "./client"
import { FLAG_BENCH, FLAG_GAIN, FLAG_REMOTE, FLAG_TARE, FLAG_VOLUME, opName, outcomeName, rejectName } from "./injector"
import { SetupError } from "./result"
import { customSyringeFor, firmwareSyringeId, levelCapMl, Scenario, scenarioBoreMm, THRESHOLD_IDS } from "./scenario"
import { SimSession } from "./session"

/** Known mass for calibrate_gain, kg (~98 N: mid-range of a 2 kN cell's clinical use). */
export const CAL_MASS_KG = 10
/** Encoder counts used for calibrate_volume (µL derived from the model's geometry). */
export const CAL_COUNTS = 100000
export const ENCODER_COUNTS_PER_MM = 1200

const sleep = (ms: number) => new Promise(r => setTimeout(r, ms))

export class BenchSetup {
    /** syringe bore the running firmware was calibrated for (NaN: none yet) */
    calibratedBoreMm = NaN

    constructor(readonly session: SimSession, readonly client: BenchClient) {}

    private get link() {
        return this.session.link
    }

    /** A fresh firmware: nothing calibrated yet. */
    forget() {
        this.calibratedBoreMm = NaN
    }

    private async setupCommand(op: Op, args: number[] = [], what = opName(op)) {
        const r = await this.client.command(op, args)
        if (r.rejected !== undefined) throw new SetupError(`setup: ${what} rejected (${rejectName(r.rejected)})`)
        if (!r.sent) throw new SetupError(`setup: ${what} could not be sent`)
        if (!r.answered) throw new SetupError(`setup: ${what} not answered (seq ${r.seq}, sent ${SENDS_PER_SEQ} times)`)
        if (!r.executed) throw new SetupError(`setup: ${what} ${outcomeName(r.outcome ?? -1)} (seq ${r.seq})`)
    }

    private async waitFlags(mask: number, what: string) {
        await this.link.waitFor(`${what} (flags & ${mask})`, 2000, () => {
            const t = this.link.latest
            return t && (t.flags & mask) === mask
        })
    }

    /** Calibration through the service commands (tare, known mass, geometric volume). */
    async calibrate(boreMm: number) {
        const plant = this.session.plant
        await this.setupCommand(Op.Tare)
        await this.waitFlags(FLAG_TARE, "tare")
        plant.placeMass(CAL_MASS_KG)
        await sleep(120) // several 80 Hz samples with the mass on
        await this.setupCommand(Op.CalibrateGain, [CAL_MASS_KG], "calibrate_gain")
        await this.waitFlags(FLAG_GAIN, "calibrate_gain")
        plant.placeMass(0)
        const ul = CAL_COUNTS * mlPerCount(boreMm, ENCODER_COUNTS_PER_MM) * 1000
        await this.setupCommand(Op.CalibrateVolume, [CAL_COUNTS, ul], "calibrate_volume")
        await this.waitFlags(FLAG_VOLUME, "calibrate_volume")
    }

    /** Bring a running firmware back to idle on a fresh level (benchmark trials). */
    private async resetForTrial(sc: Scenario) {
        const st = this.link.latest?.state
        if (st === State.Fault) {
            await this.setupCommand(Op.ClearFault, [], "clear_fault")
            await this.link.waitFor("fault cleared", 3000, () => this.link.latest?.state !== State.Fault)
        } else if (st === State.Injecting || st === State.Paused || st === State.Ready) await this.setupCommand(Op.Abort, [], "abort")
        await this.setupCommand(Op.SetLevel, [levelIndex(sc.level)], `set_level(${sc.level})`)
        await this.link.waitFor("idle", 2000, () => this.link.latest?.state === State.Idle)
    }

    /** Everything before scenario time 0; `reuse` = the firmware is already up and calibrated. */
    async setup(sc: Scenario, reuse = false) {
        const bore = scenarioBoreMm(sc)
        if (reuse) await this.resetForTrial(sc)
        else {
            this.client.benchMode = !!sc.benchMode
            if (sc.benchMode) {
                await this.setupCommand(Op.SetBenchMode, [1], "set_bench_mode(1)")
                await this.waitFlags(FLAG_BENCH, "bench mode")
            }
        }
        if (!reuse || bore !== this.calibratedBoreMm) {
            const custom = customSyringeFor(sc)
            // FLOW-5: a bore that is none of the presets is set as the custom syringe (its fill as its volume)
            if (custom) await this.setupCommand(Op.SetCustomSyringe, custom, "set_custom_syringe")
            else await this.setupCommand(Op.SetSyringe, [firmwareSyringeId(bore)], "set_syringe")
            await this.calibrate(bore)
            this.calibratedBoreMm = bore
        }
        const li = levelIndex(sc.level)
        await this.setupCommand(Op.SetLevel, [li], `set_level(${sc.level})`)
        const cap = levelCapMl(sc)
        await this.setupCommand(Op.SetCap, [cap, sc.capOverride ? 1 : 0], `set_cap(${cap})`)
        await this.setupCommand(Op.SetFlow, [sc.flowMlPerMin ?? 3], "set_flow")
        // the cement's age at marking: it was mixed mixedAtS before scenario time 0, which is now
        await this.setupCommand(Op.MarkMixing, [sc.cement?.preparedMl ?? 10, -(sc.cement?.mixedAtS ?? 0)], "mark_mixing")
        for (const [name, value] of Object.entries(sc.thresholds ?? {})) {
            await this.setupCommand(Op.SetThreshold, [value, THRESHOLD_IDS[name]], `set_threshold(${name}=${value})`)
            setThreshold(this.client.thresholds, THRESHOLD_IDS[name], value)
        }
        if (sc.remoteMode) {
            await this.setupCommand(Op.SetRemoteMode, [1], "set_remote_mode(1)")
            await this.waitFlags(FLAG_REMOTE, "remote mode")
        }
        await this.link.waitFor(`level ${sc.level} with cap ${cap}`, 2000, () => {
            const t = this.link.latest
            return t && t.level === li && Math.abs(t.capMl - cap) < 1e-4
        })
        if (sc.arm !== false) {
            await this.setupCommand(Op.Arm, [], "arm")
            await this.link.waitFor("state ready", 2000, () => this.link.latest?.state === State.Ready)
        }
    }
}
