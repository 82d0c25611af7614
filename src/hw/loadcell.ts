/**
 * Load cell on an NAU7802 → the control step directly, and a Jacdac
 * WeightScale server for observers.
 *
 * Contract with the control core (see docs/hardware.md, "Load cell"):
 * - BOARD-4: every conversion (80/s by default) goes to `onSample(kg, tMs)`
 *   in the poll loop itself, before anything is sent on the bus; the poll
 *   loop waits for the callback (the control step) to finish;
 * - observers get a `reading` report every `observerEvery`-th sample (default
 *   every 4th = 20/s), sent in its own fiber and skipped while one is still
 *   on its way, so the bus budget never delays a sample; 0 = no reports
 *   (the registers can still be read);
 * - FAULT-9: `zeroOffset` and `gain` are fixed at boot (the core applies its
 *   own tare and gain from the stored calibration); bus writes to them and
 *   the calibrate commands are refused and counted in `refusedWrites`;
 * - a saturated conversion (|code| ≥ saturationFraction × 2²³) or a load
 *   above the rated capacity is pushed as exactly `maxReading` (full scale);
 * - no conversion for more than `staleMs` (default 3 sample periods), a
 *   stuck ADC (the same code `stuckSamples` times) or an I²C failure: no
 *   callback and nothing pushed at all (the core's "no sample for > 50 ms" check fires), and a
 *   register read of `reading` answers `maxReading`;
 * - the cause is in `statusCode` (vendor code, LOADCELL_* below).
 * NaN cannot be used as the fault signal: the WeightScale reading is u16.16
 * on the wire and NaN (like any negative value) arrives as 0.
 */
import * as ds from "@devicescript/core"
import { SensorServer, startServer } from "@devicescript/server"
import {
    I2CPort,
    Nau7802,
    Nau7802Error,
    Nau7802Options,
    NAU7802_CODE_MAX,
} from "./nau7802"

// vendor status codes (statusCode register, second field)
export const LOADCELL_OK = 0
export const LOADCELL_SATURATED = 1
export const LOADCELL_STALE = 2
export const LOADCELL_STUCK = 3
export const LOADCELL_I2C_ERROR = 4
export const LOADCELL_INIT_FAILED = 5
export const LOADCELL_CAL_FAILED = 6
/** informational: the reading was clipped at 0 by more than 1 % of capacity */
export const LOADCELL_UNDER_RANGE = 7
/** FAULT-9: the chip's gain / rate / LDO registers no longer hold what init wrote */
export const LOADCELL_CONFIG_LOST = 8

export interface LoadCellScaleOptions {
    /** rated capacity of the load cell, kg; this is `maxReading` (full scale) */
    capacityKg: number
    /** rated output at capacity, mV/V (typ. 1..3) */
    sensitivityMvPerV: number
    /** PGA gain the ADC runs at; default 128 */
    gain?: number
    /** |code| at or above this fraction of 2²³ counts as saturated; default 0.98 */
    saturationFraction?: number
    /**
     * initial zeroOffset, kg; default −2 % of capacity, so a bridge whose
     * unloaded output sits slightly below zero is not clipped at 0 (the
     * reading cannot go negative on the wire). Tare replaces it.
     */
    initialZeroOffsetKg?: number
}

/**
 * Pure conversion and classification: ADC code → kg, no I/O, no clock.
 * Nominal scale, ratiometric (bridge excited from AVDD = reference):
 * full-scale input ±0.5·VREF/gain (datasheet, "Input range"), so
 * kg per code = capacity · 0.5 / (2²³ · gain · sensitivity).
 * The calibration flow (BOARD-3) replaces the nominal scale through
 * zeroOffset / gain or its own tare and gain.
 */
export class LoadCellScale {
    readonly kgPerCode: number
    readonly maxReadingKg: number
    readonly saturationCode: number
    zeroOffsetKg: number
    /** WeightScale `gain`: multiplies (raw − zeroOffset); default 1 */
    gain = 1

    constructor(o: LoadCellScaleOptions) {
        const adcGain = o.gain ?? 128
        if (!(o.capacityKg > 0) || !(o.sensitivityMvPerV > 0))
            throw new RangeError("load cell capacity and sensitivity must be > 0")
        this.kgPerCode =
            (o.capacityKg * 0.5) /
            (0x800000 * adcGain * (o.sensitivityMvPerV / 1000))
        this.maxReadingKg = o.capacityKg
        this.saturationCode = Math.floor(
            (o.saturationFraction ?? 0.98) * (NAU7802_CODE_MAX + 1)
        )
        this.zeroOffsetKg = o.initialZeroOffsetKg ?? -0.02 * o.capacityKg
    }

    /** code at or beyond the saturation threshold (either sign) */
    isSaturated(code: number) {
        return code >= this.saturationCode || code <= -this.saturationCode
    }

    /** nominal kg for a code, before zero offset and gain */
    rawKg(code: number) {
        return code * this.kgPerCode
    }

    /** (raw − zeroOffset) × gain, not clamped */
    unclampedKg(code: number) {
        return (this.rawKg(code) - this.zeroOffsetKg) * this.gain
    }

    /**
     * The value to publish: full scale when saturated or at/above capacity,
     * else the kg value clamped at 0 (the wire format is unsigned).
     */
    readingKg(code: number) {
        if (this.isSaturated(code)) return this.maxReadingKg
        const kg = this.unclampedKg(code)
        if (!(kg < this.maxReadingKg)) return this.maxReadingKg
        return kg > 0 ? kg : 0
    }

    /** smallest step of the published reading, kg */
    resolutionKg() {
        return this.kgPerCode * this.gain
    }
}

export interface LoadCellOptions extends Nau7802Options, LoadCellScaleOptions {
    /** I²C master: `i2c` from @devicescript/i2c on hardware, a fake in tests */
    port: I2CPort
    /** no conversion for longer than this → stale, ms; default ceil(3 sample periods) */
    staleMs?: number
    /** this many identical codes in a row → stuck; default 25; 0 = off */
    stuckSamples?: number
    /**
     * data-ready poll interval, ms; default max(2, floor(period / 4)). After a
     * sample the loop sleeps period − 2 × pollMs before polling again.
     */
    pollMs?: number
    /** wait before re-initialising after a failure, ms; default 1000 */
    retryMs?: number
    /** consecutive I²C errors before re-initialising; default 3 */
    maxI2CErrors?: number
    /** Jacdac instance name; default "loadCell" */
    roleName?: string
    /** read the chip's gain registers back every N samples; default 80 (1 s); 0 = never */
    verifyEvery?: number
    /** report every N-th sample to bus observers; default 4; 0 = none */
    observerEvery?: number
}

/** BOARD-4: the control step's sample input (kg as published, time of the conversion read) */
export type SampleCallback = (kg: number, tMs: number) => Promise<void>

/** Samples averaged by calibrateZeroOffset / calibrateGain. */
const AVERAGE_SAMPLES = 16

/**
 * WeightScale server fed by an NAU7802 poll loop (see the file comment for
 * how faults reach the core).
 */
export class LoadCellServer
    extends SensorServer
    implements ds.WeightScaleServerSpec
{
    readonly chip: Nau7802
    readonly scale: LoadCellScale
    readonly staleMs: number
    readonly stuckSamples: number
    readonly pollMs: number
    readonly retryMs: number
    readonly maxI2CErrors: number
    /** sleep after a sample, before polling again, ms */
    readonly quietMs: number

    /** vendor status (LOADCELL_*) */
    status = LOADCELL_INIT_FAILED
    initialized = false
    /** set by startLoadCell once the server has a service index */
    attached = false
    /** role name that binds a client to exactly this server ("loadCell[app:0]") */
    clientRoleName = ""
    lastCode = 0
    lastReadingKg = 0
    lastSampleMs = 0
    samples = 0
    /** readings published (sent to the bus once attached) */
    pushed = 0
    private sameCount = 0
    private i2cErrors = 0
    private stopped = false
    private recent: number[] = []
    private statusAnnounced = -1
    /** BOARD-4: called with every published sample, before any bus traffic */
    onSample: SampleCallback = null
    /** observer reports: every N-th sample, 0 = none */
    observerEvery = 4
    /** observer reports skipped because the previous one was still being sent */
    observerSkipped = 0
    /** FAULT-9: bus writes to zeroOffset / gain / calibrate refused */
    refusedWrites = 0
    /** zeroOffset and gain as fixed at boot (FAULT-9 cross-check) */
    readonly bootZeroOffsetKg: number
    readonly bootGain: number
    private sendingObserver = false
    /** FAULT-9: read CTRL1/CTRL2 back every N samples */
    verifyEvery = 80
    /** the last read-back matched (false until the first one) */
    chipConfigOk = false
    configChecks = 0

    constructor(options: LoadCellOptions) {
        super(ds.WeightScale.spec, { roleName: options.roleName ?? "loadCell" })
        const port = options.port
        if (!port) throw new TypeError("LoadCellServer needs an I2C port")
        this.chip = new Nau7802(port, options)
        this.scale = new LoadCellScale(options)
        const period = this.chip.samplePeriodMs()
        this.staleMs = options.staleMs ?? Math.ceil(3 * period)
        this.stuckSamples = options.stuckSamples ?? 25
        this.pollMs = options.pollMs ?? Math.max(2, Math.floor(period / 4))
        this.retryMs = options.retryMs ?? 1000
        this.maxI2CErrors = options.maxI2CErrors ?? 3
        this.quietMs = Math.max(this.pollMs, Math.floor(period - 2 * this.pollMs))
        this.observerEvery = options.observerEvery ?? 4
        this.verifyEvery = options.verifyEvery ?? 80
        this.bootZeroOffsetKg = this.scale.zeroOffsetKg
        this.bootGain = this.scale.gain
    }

    // ---- WeightScale registers -------------------------------------------

    reading() {
        return this.status === LOADCELL_OK || this.status === LOADCELL_UNDER_RANGE
            ? this.lastReadingKg
            : this.scale.maxReadingKg
    }
    readingError() {
        return this.scale.resolutionKg()
    }
    zeroOffset() {
        return this.scale.zeroOffsetKg
    }
    /** FAULT-9: refused (a gain of 0.1 would make 3.5 MPa read as 0.35 MPa) */
    set_zeroOffset(value: number) {
        this.refuse("zeroOffset")
    }
    gain() {
        return this.scale.gain
    }
    /** FAULT-9: refused */
    set_gain(value: number) {
        this.refuse("gain")
    }
    maxReading() {
        return this.scale.maxReadingKg
    }
    minReading() {
        return 0
    }
    readingResolution() {
        return this.scale.resolutionKg()
    }
    /** FAULT-9: refused; tare is the core's calibration flow (BOARD-3) */
    calibrateZeroOffset() {
        this.refuse("calibrateZeroOffset")
    }
    /** FAULT-9: refused; span is the core's calibration flow (BOARD-3) */
    calibrateGain(weight: number) {
        this.refuse("calibrateGain")
    }

    private refuse(what: string) {
        this.refusedWrites++
        if (this.refusedWrites <= 3 || this.refusedWrites % 1000 === 0)
            console.warn(`loadcell: bus write to ${what} refused (${this.refusedWrites})`)
    }

    /** mean raw kg (nominal scale) of the last 16 fresh samples; NaN if none */
    meanRecentRawKg() {
        if (!this.isPublishing() || this.recent.length === 0) return NaN
        let s = 0
        for (const v of this.recent) s += v
        return s / this.recent.length
    }

    // ---- sensor streaming: every sample is pushed by the poll loop --------

    override async set_streamingSamples(value: number) {
        // remember the request, but no extra timer: samples are pushed as they come
        this._streamingSamples = value
    }

    override statusCode(): ds.AsyncValue<[number, number]> {
        const code = !this.initialized
            ? ds.SystemStatusCodes.Initializing
            : this.status === LOADCELL_CAL_FAILED
              ? ds.SystemStatusCodes.CalibrationNeeded
              : ds.SystemStatusCodes.Ready
        return [code, this.status]
    }

    // ---- sample handling (synchronous, testable with explicit times) ------

    /** Handle one conversion result taken at `nowMs`; returns the kg to publish. */
    onCode(code: number, nowMs: number): number {
        this.samples++
        this.lastSampleMs = nowMs
        if (this.samples > 1 && code === this.lastCode) this.sameCount++
        else this.sameCount = 0
        this.lastCode = code
        this.recent.push(this.scale.rawKg(code))
        if (this.recent.length > AVERAGE_SAMPLES) this.recent.shift()

        const kg = this.scale.readingKg(code)
        if (this.scale.isSaturated(code)) {
            // a clipped ADC repeats its code: report saturation, not "stuck"
            this.lastReadingKg = kg
            this.setStatus(LOADCELL_SATURATED)
            return kg
        }
        if (this.stuckSamples > 0 && this.sameCount + 1 >= this.stuckSamples) {
            this.setStatus(LOADCELL_STUCK)
            return NaN // nothing to publish
        }
        this.lastReadingKg = kg
        if (
            this.scale.unclampedKg(code) < -0.01 * this.scale.maxReadingKg
        )
            this.setStatus(LOADCELL_UNDER_RANGE)
        else this.setStatus(LOADCELL_OK)
        return kg
    }

    /** Stale check at `nowMs` (no conversion since lastSampleMs); true if stale. */
    checkStale(nowMs: number): boolean {
        if (!this.initialized) return false
        if (nowMs - this.lastSampleMs > this.staleMs) {
            if (this.status !== LOADCELL_I2C_ERROR) this.setStatus(LOADCELL_STALE)
            return true
        }
        return false
    }

    /** true while samples are being published (OK, saturated or under-range) */
    isPublishing() {
        return (
            this.initialized &&
            (this.status === LOADCELL_OK ||
                this.status === LOADCELL_SATURATED ||
                this.status === LOADCELL_UNDER_RANGE)
        )
    }

    private setStatus(s: number) {
        this.status = s
        if (s !== this.statusAnnounced) {
            this.statusAnnounced = s
            if (s === LOADCELL_OK) console.log("loadcell: ok")
            else console.warn(`loadcell: status ${s}`)
        }
    }

    // ---- poll loop ---------------------------------------------------------

    /** bring the chip up; false (and a status) on failure */
    async initChip(): Promise<boolean> {
        this.initialized = false
        try {
            await this.chip.init()
        } catch (e: any) {
            const cal =
                e instanceof Nau7802Error &&
                ((e as Nau7802Error).fault === "cal_err" ||
                    (e as Nau7802Error).fault === "cal_timeout")
            this.setStatus(cal ? LOADCELL_CAL_FAILED : LOADCELL_INIT_FAILED)
            console.warn(`loadcell: init failed: ${e.message}`)
            return false
        }
        this.initialized = true
        this.i2cErrors = 0
        this.sameCount = 0
        this.samples = 0
        this.recent = []
        this.lastSampleMs = ds.millis()
        this.chipConfigOk = true // init() has just written and calibrated it
        this.setStatus(LOADCELL_OK)
        return true
    }

    /** one poll: read CR, read the code if ready, check staleness */
    async pollOnce(): Promise<void> {
        let code = 0
        let ready = false
        try {
            ready = await this.chip.isDataReady()
            if (ready) code = await this.chip.readCode()
            this.i2cErrors = 0
        } catch (e: any) {
            this.i2cErrors++
            this.setStatus(LOADCELL_I2C_ERROR)
            if (this.i2cErrors >= this.maxI2CErrors) this.initialized = false
            return
        }
        const now = ds.millis()
        if (ready && this.verifyEvery > 0 && (this.samples + 1) % this.verifyEvery === 0) {
            // after a sample is read: a conversion takes 12.5 ms, this takes < 1
            let same = false
            try {
                same = await this.chip.verifyConfig()
            } catch (e: any) {
                same = false
            }
            this.configChecks++
            this.chipConfigOk = same
            if (!same) {
                // no sample from a chip at an unknown gain; re-init (the core's stale check fires)
                this.setStatus(LOADCELL_CONFIG_LOST)
                this.initialized = false
                return
            }
        }
        if (ready) {
            const kg = this.onCode(code, now)
            if (!isNaN(kg)) await this.publish(kg, now)
        } else this.checkStale(now)
    }

    /** the control step first (awaited), then an observer report that never waits */
    private async publish(kg: number, nowMs: number) {
        this.pushed++
        if (this.onSample) await this.onSample(kg, nowMs)
        if (!this.attached || this.observerEvery <= 0) return
        if (this.pushed % this.observerEvery !== 0) return
        if (this.sendingObserver) {
            this.observerSkipped++
            return
        }
        this.sendingObserver = true
        const self = this
        async function send() {
            try {
                await self._send(self.spec.lookup("reading").encode(kg))
            } finally {
                self.sendingObserver = false
            }
        }
        send.start()
    }

    /** poll forever (until stop()); re-initialises after failures */
    async run(): Promise<void> {
        while (!this.stopped) {
            if (!this.initialized) {
                if (!(await this.initChip())) {
                    await ds.sleep(this.retryMs)
                    continue
                }
            }
            const before = this.samples
            await this.pollOnce()
            if (this.samples !== before) {
                // nothing new before most of a period has passed; the report
                // send may already have used that time (≈ 16 ms in the WASM VM)
                const wait = this.quietMs - (ds.millis() - this.lastSampleMs)
                await ds.sleep(Math.max(1, wait))
            } else await ds.sleep(this.pollMs)
        }
    }

    stop() {
        this.stopped = true
    }
}

/**
 * Start the WeightScale server for an NAU7802 load cell and its poll loop.
 * Call at top level during boot (servers started later stay unbound).
 * `new ds.WeightScale(server.clientRoleName)` is a client bound to it.
 * @returns the server (for status and tests)
 */
export function startLoadCell(options: LoadCellOptions): LoadCellServer {
    const server = new LoadCellServer(options)
    server.clientRoleName = startServer(server, {
        roleName: options.roleName ?? "loadCell",
    })
    server.attached = true
    setTimeout(async () => {
        await server.run()
    }, 0)
    return server
}
