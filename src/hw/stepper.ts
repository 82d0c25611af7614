/**
 * Plunger stepper drive: speed ratio → step frequency, acceleration limit,
 * DIR and EN handling. No DeviceScript roles or pins in here: the outputs are
 * interfaces (hardware adapters in ./outputs.ts, recording fakes in the tests)
 * and time is passed in, so the VM tests drive it tick by tick.
 *
 * Rules:
 * - speed ratio 1.0 = DRIVE_MAX_PLUNGER_MM_PER_S (10 mm/s) of plunger travel,
 *   negative = retract; steps/mm = fullStepsPerRev × microsteps × gearRatio / lead;
 * - step frequency is clamped to maxStepHz and quantised to whole µs periods
 *   (the PWM output takes a u16 period in µs, so below ~15.26 Hz it cannot step);
 * - velocity changes at most accelMmPerS2 (a reversal ramps through zero,
 *   stops the pulses, flips DIR, and starts again on the next tick);
 * - any stop (speed 0, enabled = false, lock, lease expiry) drives EN to
 *   "disabled" FIRST, synchronously, before the pulse output is told to stop;
 *   a stop also clears the speed set-point;
 * - FAULT-9: the only way to make it move is command(), called by the
 *   firmware's control step (the Motor server on the bus is read-only);
 * - FAULT-11 dead man: every command() renews a lease of pulseLeaseMs
 *   (≤ 100 ms). The PWM output is only ever played for the rest of that
 *   lease, so the pulses stop by themselves (in C) ≤ pulseLeaseMs after the
 *   last command even if the VM stalls; the drive's own tick() never renews
 *   it, and when it finds the lease expired it disables EN.
 *
 * Numbers are never used as conditions here (`x !== 0`, not `x`): the
 * DeviceScript 2.16.4 runtime treats every non-integer number as false
 * (runtime/devicescript/value.c, devs_value_to_bool), e.g. `if (0.5)` is false.
 */
import { DRIVE_MAX_PLUNGER_MM_PER_S } from "../core/geometry"

export { DRIVE_MAX_PLUNGER_MM_PER_S }

/** A logic-level output (EN, DIR, LED): level 0 or 1. */
export interface DigitalOutput {
    write(level: number): void
}

/** A square-wave output of a set period on the STEP pin. */
export interface StepPulseOutput {
    /** true when pulses can actually be produced (e.g. the PWM service is bound) */
    ready(): boolean
    /**
     * 50 % square wave with this period (µs, 1..65535) for `leaseMs`; it stops
     * by itself when the lease runs out unless play() is called again.
     */
    play(periodUs: number, leaseMs: number): Promise<void>
    /** stop the square wave */
    stop(): Promise<void>
}

export interface StepperGeometry {
    /** lead screw travel per revolution, mm; default 2 */
    leadMmPerRev?: number
    /** motor full steps per revolution; default 200 */
    fullStepsPerRev?: number
    /** driver microstepping (MS pins on the driver board); default 16 */
    microsteps?: number
    /** motor revolutions per lead-screw revolution; default 1 (direct) */
    gearRatio?: number
}

export interface StepperDriveOptions extends StepperGeometry {
    /** driver / PWM step-rate limit, Hz; default 20000 */
    maxStepHz?: number
    /** acceleration limit of the plunger, mm/s²; default 20 */
    accelMmPerS2?: number
    /** EN input is active-low (A4988, DRV8825, TMC2209); default true */
    enableActiveLow?: boolean
    /** swap the DIR level that means "forward" (inject); default false */
    dirInverted?: boolean
    /**
     * dead-man lease renewed by each command(), ms (20..DRIVE_LEASE_MAX_MS);
     * default DRIVE_LEASE_DEFAULT_MS
     */
    pulseLeaseMs?: number
    /** longest time step used for the ramp, ms (after a stall); default 50 */
    maxTickMs?: number
}

/** FAULT-11: the drive stops within this long of the last control command */
export const DRIVE_LEASE_MAX_MS = 100
/**
 * default lease: 80 ms leaves 20 ms for the runtime's main loop to notice the
 * end of the tone (buzzer_process runs every pass, ~1 ms) within the 100 ms bound
 */
export const DRIVE_LEASE_DEFAULT_MS = 80

/** longest and shortest period the PWM output takes, µs */
export const STEP_PERIOD_MAX_US = 65535
export const STEP_PERIOD_MIN_US = 2
/** lowest producible step rate, Hz (period 65535 µs) */
export const STEP_HZ_MIN = 1e6 / STEP_PERIOD_MAX_US

/** microsteps per mm of plunger travel */
export function stepsPerMm(g: StepperGeometry): number {
    const lead = g.leadMmPerRev ?? 2
    const steps = g.fullStepsPerRev ?? 200
    const micro = g.microsteps ?? 16
    const gear = g.gearRatio ?? 1
    return (steps * micro * gear) / lead
}

/** Jacdac Motor speed ratio → signed plunger speed, mm/s (clamped to ±1, NaN → 0) */
export function speedRatioToMmPerS(ratio: number): number {
    if (isNaN(ratio)) return 0
    return Math.constrain(ratio, -1, 1) * DRIVE_MAX_PLUNGER_MM_PER_S
}

/** signed plunger speed → signed step frequency, |Hz| clamped to maxStepHz */
export function mmPerSToStepHz(
    mmPerS: number,
    g: StepperGeometry,
    maxStepHz: number
): number {
    const hz = mmPerS * stepsPerMm(g)
    return Math.constrain(hz, -maxStepHz, maxStepHz)
}

/**
 * |step frequency| → PWM period in whole µs; 0 when the frequency is below
 * what a u16 period can produce (no pulses).
 */
export function stepHzToPeriodUs(hz: number): number {
    const a = Math.abs(hz)
    if (!(a >= STEP_HZ_MIN)) return 0
    const p = Math.round(1e6 / a)
    return Math.constrain(p, STEP_PERIOD_MIN_US, STEP_PERIOD_MAX_US)
}

/**
 * Move `current` toward `target` by at most `maxDelta`, never jumping across
 * zero in one step (a reversal lands on 0 first).
 */
export function rampToward(
    current: number,
    target: number,
    maxDelta: number
): number {
    let next: number
    if (target > current) next = Math.min(target, current + maxDelta)
    else next = Math.max(target, current - maxDelta)
    if ((current > 0 && next < 0) || (current < 0 && next > 0)) return 0
    return next
}

/** Why the drive refuses to run (0 = it may run). */
export const DRIVE_OK = 0
export const DRIVE_LOCKED = 1
export const DRIVE_NO_PULSE_OUTPUT = 2

export class StepperDrive {
    readonly stepsPerMm: number
    readonly maxStepHz: number
    readonly accelMmPerS2: number
    readonly enableActiveLow: boolean
    readonly dirInverted: boolean
    readonly pulseLeaseMs: number
    readonly maxTickMs: number

    /** enabled as last commanded */
    enabled = false
    /** speed set-point, ratio −1..1 (0 after any stop) */
    targetRatio = 0
    /** ramped plunger velocity, mm/s (signed) */
    velocityMmPerS = 0
    /** PWM period now playing, µs (0 = no pulses) */
    playingPeriodUs = 0
    /** direction last written to DIR: +1 forward, −1 retract, 0 never */
    dirSign = 0
    /** EN currently at its "enabled" level */
    enOn = false
    /** non-empty: the drive is locked out (e.g. wrong board) */
    lockReason = ""
    /** time of the last command(), ms */
    lastCommandMs = -1
    /** the lease runs out at this time (last command + pulseLeaseMs) */
    leaseUntilMs = 0
    /** the PWM output was last played until this time (never past leaseUntilMs) */
    pwmUntilMs = 0
    /** diagnostics: commands received, PWM plays, expiries seen by tick() */
    commands = 0
    plays = 0
    leaseExpiries = 0

    private lastTickMs = -1
    private busy = false
    /** bumped by every stop; a tick that awaited across a stop gives up */
    private gen = 0

    constructor(
        readonly step: StepPulseOutput,
        readonly dir: DigitalOutput,
        readonly en: DigitalOutput,
        options?: StepperDriveOptions
    ) {
        const o = options || {}
        this.stepsPerMm = stepsPerMm(o)
        this.maxStepHz = Math.constrain(o.maxStepHz ?? 20000, 1, 250000)
        this.accelMmPerS2 = o.accelMmPerS2 ?? 20
        this.enableActiveLow = o.enableActiveLow ?? true
        this.dirInverted = o.dirInverted ?? false
        const lease = o.pulseLeaseMs ?? DRIVE_LEASE_DEFAULT_MS
        if (!(lease >= 20 && lease <= DRIVE_LEASE_MAX_MS))
            throw new RangeError(
                `pulseLeaseMs ${lease} not in 20..${DRIVE_LEASE_MAX_MS} (FAULT-11)`
            )
        this.pulseLeaseMs = lease
        this.maxTickMs = o.maxTickMs ?? 50
        // boot state: disabled, forward
        this.en.write(this.enLevel(false))
    }

    /** EN pin level for the enabled / disabled state */
    enLevel(on: boolean): number {
        return on !== this.enableActiveLow ? 1 : 0
    }

    /** DIR pin level for a direction sign */
    dirLevel(sign: number): number {
        const fwd = sign >= 0
        return fwd !== this.dirInverted ? 1 : 0
    }

    /** signed step rate now playing, Hz (0 when stopped) */
    stepHz(): number {
        if (this.playingPeriodUs === 0) return 0
        return (this.dirSign * 1e6) / this.playingPeriodUs
    }

    /** why the drive cannot run now (DRIVE_*) */
    inhibit(): number {
        if (this.lockReason) return DRIVE_LOCKED
        if (!this.step.ready()) return DRIVE_NO_PULSE_OUTPUT
        return DRIVE_OK
    }

    /**
     * The hard stop: EN to "disabled" first (synchronously), set-point and
     * velocity to 0, then stop the pulses.
     */
    async hardStop(): Promise<void> {
        this.gen++
        this.en.write(this.enLevel(false))
        this.enOn = false
        this.enabled = false
        this.targetRatio = 0
        this.velocityMmPerS = 0
        this.playingPeriodUs = 0
        this.leaseUntilMs = 0
        this.pwmUntilMs = 0
        // an unbound output gets no command (its lease runs out by itself)
        if (this.step.ready()) await this.step.stop()
    }

    /**
     * The control step's motor command (the only way to make the drive move;
     * call it from every control step, moving or not). `enabled` false,
     * speed 0 or NaN is a hard stop, EN first, before this returns its
     * promise. Otherwise it renews the dead-man lease to nowMs + pulseLeaseMs
     * and applies the set-point.
     */
    async command(enabled: boolean, speedRatio: number, nowMs: number): Promise<void> {
        this.commands++
        this.lastCommandMs = nowMs
        const r = isNaN(speedRatio) ? 0 : Math.constrain(speedRatio, -1, 1)
        if (!enabled || r === 0) {
            if (this.enabled || this.enOn || this.playingPeriodUs !== 0 || this.targetRatio !== 0)
                await this.hardStop()
            return
        }
        this.enabled = true
        this.targetRatio = r
        this.leaseUntilMs = nowMs + this.pulseLeaseMs
        await this.tick(nowMs)
    }

    /** true while the last command's lease is running */
    leaseValid(nowMs: number): boolean {
        return this.enabled && nowMs < this.leaseUntilMs
    }

    /** lock the drive out (EN held disabled) until unlock() */
    async lock(reason: string): Promise<void> {
        this.lockReason = reason || "locked"
        await this.hardStop()
    }

    unlock() {
        this.lockReason = ""
    }

    /**
     * Advance the ramp to `nowMs` and update EN, DIR and the PWM output.
     * Never renews the lease: a tick past leaseUntilMs is a hard stop.
     */
    async tick(nowMs: number): Promise<void> {
        if (this.busy) return
        this.busy = true
        try {
            await this.tickInner(nowMs)
        } finally {
            this.busy = false
        }
    }

    private async tickInner(nowMs: number) {
        const gen = this.gen
        let dtMs = this.lastTickMs < 0 ? 0 : nowMs - this.lastTickMs
        this.lastTickMs = nowMs
        dtMs = Math.constrain(dtMs, 0, this.maxTickMs)

        if (this.enabled && !(nowMs < this.leaseUntilMs)) {
            // dead man: no fresh command within the lease
            this.leaseExpiries++
            await this.hardStop()
            return
        }
        const running =
            this.enabled && this.targetRatio !== 0 && this.inhibit() === DRIVE_OK
        if (!running) {
            // an inhibited drive (locked, no pulse output) also drops its
            // set-point, so it cannot start by itself once the cause clears
            const inhibited = this.inhibit() !== DRIVE_OK
            if (
                this.enOn ||
                this.playingPeriodUs !== 0 ||
                this.velocityMmPerS !== 0 ||
                (inhibited && this.targetRatio !== 0)
            )
                await this.hardStop()
            return
        }

        const targetMmPerS = speedRatioToMmPerS(this.targetRatio)
        const v = rampToward(
            this.velocityMmPerS,
            targetMmPerS,
            (this.accelMmPerS2 * dtMs) / 1000
        )
        this.velocityMmPerS = v
        const hz = Math.constrain(
            v * this.stepsPerMm,
            -this.maxStepHz,
            this.maxStepHz
        )
        const period = stepHzToPeriodUs(hz)
        const sign = v > 0 ? 1 : v < 0 ? -1 : 0

        if (!this.enOn) {
            this.en.write(this.enLevel(true))
            this.enOn = true
        }

        if (sign !== 0 && sign !== this.dirSign) {
            if (this.playingPeriodUs !== 0) {
                this.playingPeriodUs = 0
                this.pwmUntilMs = 0
                await this.step.stop()
                if (gen !== this.gen) return
            }
            this.dir.write(this.dirLevel(sign))
            const first = this.dirSign === 0
            this.dirSign = sign
            // after a reversal, give DIR a tick before the first new pulse
            if (!first) return
        }

        if (period === 0) {
            if (this.playingPeriodUs !== 0) {
                this.playingPeriodUs = 0
                this.pwmUntilMs = 0
                await this.step.stop()
            }
            return
        }
        // Re-play on a new period, or to extend the PWM toward the lease once
        // less than half a lease of pulses is left. Every play re-initialises
        // the PWM timer (a cut step), so it is not sent on every command.
        const remainingMs = this.leaseUntilMs - nowMs
        const extend =
            this.leaseUntilMs > this.pwmUntilMs &&
            this.pwmUntilMs - nowMs < this.pulseLeaseMs / 2
        if (period !== this.playingPeriodUs || extend) {
            // the tone lasts the rest of the lease, never longer
            const durMs = Math.floor(remainingMs)
            if (durMs < 1) return
            await this.step.play(period, durMs)
            this.plays++
            if (gen !== this.gen) {
                // a stop came in while the command was on its way
                await this.step.stop()
                return
            }
            this.playingPeriodUs = period
            this.pwmUntilMs = nowMs + durMs
        }
    }
}
