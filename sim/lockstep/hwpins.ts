// The "hardware" timing model's pins (scenario `"timing": "hardware"`,
// firmware src/main_hwsim.ts): the firmware's StepperDrive writes EN, DIR and
// the STEP square wave as "#HW ..." console lines (src/hw/bench_io.ts); the
// VM hands them over synchronously, at the virtual instant of the write, with
// no Jacdac packet (the board's pins are not on the bus). This module is the
// drive's hardware end on the bench:
//   - EN at its disabled level stops the plunger at once (the driver's EN);
//   - a `play <periodUs> <durMs>` runs pulses for durMs, then they stop by
//     themselves (the PWM tone's duration: the C side of the dead-man lease,
//     FAULT-11) unless a later play extends them;
//   - the step rate becomes the plant's drive input (speed ratio of 10 mm/s).
// It also records the control-step marks ("smp" per load-cell sample reaching
// the control step, "cmd" per motor command applied) for the figures.

/** Plunger mm/s at drive input 1.0 (sim/harness/plant.ts DRIVE_MM_PER_S_AT_FULL) */
const MM_PER_S_AT_FULL = 10

export interface HwDriveGeometry {
    stepsPerMm: number
    enableActiveLow: boolean
    dirInverted: boolean
}

/** src/hw/hwconfig.ts HW_DRIVE until the firmware's "cfg" line says otherwise */
const DEFAULT_GEOMETRY: HwDriveGeometry = { stepsPerMm: (200 * 16) / 2, enableActiveLow: true, dirInverted: false }

export interface PulseStop {
    /** when the pulses stopped, ms (virtual clock) */
    tMs: number
    /** why: "stop" (the firmware stopped them), "en" (EN disabled), "lease" (the tone ran out) */
    cause: "stop" | "en" | "lease"
    /** the last motor command before it, ms */
    lastCmdMs: number
}

export class HwPins {
    geometry: HwDriveGeometry = { ...DEFAULT_GEOMETRY }
    enOn = false
    dirForward = true
    periodUs = 0
    pulsesUntilMs = 0
    /** times (ms) of samples reaching the control step, and of motor commands */
    readonly sampleMs: number[] = []
    readonly cmdMs: number[] = []
    /** times (ms) EN went to its disabled level */
    readonly enOffMs: number[] = []
    readonly pulseStops: PulseStop[] = []
    lines = 0
    private leaseTimer: ReturnType<typeof setTimeout> | undefined
    private lastRatio = NaN
    private lastEnabled: boolean | undefined

    /** `apply(enabled, speedRatio)` sets the plant's drive input */
    constructor(private readonly apply: (enabled: boolean, speedRatio: number) => void) {}

    /** One "#HW ..." line (without the prefix); false when it is not one of ours. */
    line(text: string): boolean {
        const f = text.trim().split(/\s+/)
        const now = Date.now()
        this.lines++
        switch (f[0]) {
            case "smp":
                this.sampleMs.push(now)
                return true
            case "cmd":
                this.cmdMs.push(now)
                return true
            case "cfg":
                this.geometry = { stepsPerMm: +f[1], enableActiveLow: f[2] === "1", dirInverted: f[3] === "1" }
                return true
            case "en": {
                const on = (f[1] === "1") !== this.geometry.enableActiveLow
                if (this.enOn && !on) {
                    this.enOffMs.push(now)
                    if (this.pulsing(now)) this.pulseStops.push({ tMs: now, cause: "en", lastCmdMs: this.lastCmd() })
                }
                this.enOn = on
                break
            }
            case "dir":
                this.dirForward = (f[1] === "1") !== this.geometry.dirInverted
                break
            case "play": {
                this.periodUs = +f[1]
                this.pulsesUntilMs = now + +f[2]
                if (this.leaseTimer) clearTimeout(this.leaseTimer)
                this.leaseTimer = setTimeout(() => this.leaseEnd(), +f[2])
                break
            }
            case "stop":
                if (this.pulsing(now)) this.pulseStops.push({ tMs: now, cause: "stop", lastCmdMs: this.lastCmd() })
                this.pulsesUntilMs = 0
                this.periodUs = 0
                if (this.leaseTimer) clearTimeout(this.leaseTimer)
                this.leaseTimer = undefined
                break
            default:
                this.lines--
                return false
        }
        this.push(now)
        return true
    }

    private lastCmd(): number {
        return this.cmdMs.length ? this.cmdMs[this.cmdMs.length - 1] : -1
    }

    pulsing(nowMs: number): boolean {
        return this.periodUs > 0 && nowMs < this.pulsesUntilMs
    }

    private leaseEnd() {
        this.leaseTimer = undefined
        const now = Date.now()
        this.pulseStops.push({ tMs: now, cause: "lease", lastCmdMs: this.lastCmd() })
        this.periodUs = 0
        this.pulsesUntilMs = 0
        this.push(now)
    }

    /** the plant's drive input from the pins: EN, and the pulse rate with DIR */
    private push(nowMs: number) {
        const mmPerS = this.pulsing(nowMs) ? 1e6 / this.periodUs / this.geometry.stepsPerMm : 0
        const ratio = ((this.dirForward ? 1 : -1) * mmPerS) / MM_PER_S_AT_FULL
        const enabled = this.enOn
        if (enabled === this.lastEnabled && ratio === this.lastRatio) return
        this.lastEnabled = enabled
        this.lastRatio = ratio
        this.apply(enabled, enabled ? ratio : 0)
    }

    /** power loss / VM gone: EN released, pulses off (no record: not the firmware's doing) */
    reset() {
        if (this.leaseTimer) clearTimeout(this.leaseTimer)
        this.leaseTimer = undefined
        this.enOn = false
        this.periodUs = 0
        this.pulsesUntilMs = 0
        this.lastEnabled = undefined
        this.lastRatio = NaN
    }
}
