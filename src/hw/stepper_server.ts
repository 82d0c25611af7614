/**
 * Jacdac Motor server for the plunger stepper (see ./stepper.ts for the rules).
 *
 * Motor contract with the control core:
 * - `speed` −1..1, 1.0 = DRIVE_MAX_PLUNGER_MM_PER_S of plunger travel,
 *   negative retracts; 0 is a hard stop (EN disabled first);
 * - `enabled` false is a hard stop; a stop clears the speed set-point;
 * - statusCode vendor code: DRIVE_* from ./stepper (1 locked, 2 no pulse output).
 * The wire format of `speed` is i1.15: +1.0 arrives as 0.99997, and NaN
 * written by a client arrives as −1 (full retract). Clients must not write NaN.
 */
import * as ds from "@devicescript/core"
import { Server, ServerOptions, startServer } from "@devicescript/server"
import {
    DigitalOutput,
    DRIVE_MAX_PLUNGER_MM_PER_S,
    StepPulseOutput,
    StepperDrive,
    StepperDriveOptions,
} from "./stepper"

export class StepperMotorServer extends Server implements ds.MotorServerSpec {
    constructor(
        readonly drive: StepperDrive,
        options?: ServerOptions
    ) {
        super(ds.Motor.spec, options)
    }
    speed() {
        return this.drive.targetRatio
    }
    async set_speed(value: number) {
        await this.drive.setSpeed(value, ds.millis())
    }
    enabled() {
        return this.drive.enabled
    }
    async set_enabled(value: boolean) {
        await this.drive.setEnabled(!!value)
        if (value) await this.drive.tick(ds.millis())
    }
    reversible() {
        return true
    }
    /** lead-screw rpm at speed 1.0 (assuming the configured lead) */
    loadRotationSpeed() {
        return (DRIVE_MAX_PLUNGER_MM_PER_S / this.leadMmPerRev) * 60
    }
    leadMmPerRev = 2
    override statusCode(): ds.AsyncValue<[number, number]> {
        const why = this.drive.inhibit()
        return [why !== 0 ? ds.SystemStatusCodes.WaitingForInput : 0, why]
    }
}

export interface StepperDriveStartOptions extends StepperDriveOptions {
    step: StepPulseOutput
    dir: DigitalOutput
    en: DigitalOutput
    /** ramp / lease tick, ms; default 10 */
    tickMs?: number
    /** if set, the drive starts locked out with this reason (EN held disabled) */
    lockReason?: string
    /** Jacdac instance name; default "plungerDrive" */
    roleName?: string
}

/**
 * Start the Motor server and its tick timer. Call at top level during boot.
 * `new ds.Motor(drive.clientRoleName)` is a client bound to it.
 * @returns the drive (for status and tests)
 */
export function startStepperDrive(o: StepperDriveStartOptions): StepperDrive {
    const drive = new StepperDrive(o.step, o.dir, o.en, o)
    if (o.lockReason) {
        drive.lockReason = o.lockReason
        console.error(`plunger drive locked: ${o.lockReason}`)
    }
    const server = new StepperMotorServer(drive)
    server.leadMmPerRev = o.leadMmPerRev ?? 2
    drive.clientRoleName = startServer(server, {
        roleName: o.roleName ?? "plungerDrive",
    })
    setInterval(async () => {
        await drive.tick(ds.millis())
    }, o.tickMs ?? 10)
    return drive
}
