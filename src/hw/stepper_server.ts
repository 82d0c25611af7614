/**
 * Jacdac Motor server for the plunger stepper (see ./stepper.ts for the
 * rules), published for observers only (FAULT-9).
 *
 * The bus has no authentication, so a writable Motor service would let any
 * host move the plunger (one `speed` write ≈ 1.4 mL before the next refresh).
 * Here `speed` and `enabled` read the drive's state, and writes to them from
 * anywhere are refused: counted in `refusedWrites`, logged, and nothing
 * changes. The firmware's control step commands the drive directly through
 * `StepperDrive.command(enabled, speedRatio, nowMs)` (src/hw/hw_loop.ts).
 *
 * - `speed` −1..1, 1.0 = DRIVE_MAX_PLUNGER_MM_PER_S of plunger travel,
 *   negative retracts; `enabled`: the drive may move (lease running);
 * - statusCode vendor code: DRIVE_* from ./stepper (1 locked, 2 no pulse output).
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
    /** FAULT-9: refused; the drive is commanded by the control step only */
    set_speed(value: number) {
        this.refuse("speed")
    }
    enabled() {
        return this.drive.enabled
    }
    /** FAULT-9: refused, including `false` (stops come from the control step, e-stop and lease) */
    set_enabled(value: boolean) {
        this.refuse("enabled")
    }
    /** bus writes refused so far */
    refusedWrites = 0
    private refuse(what: string) {
        this.refusedWrites++
        // a flood of writes must not flood the log (FAULT-10)
        if (this.refusedWrites <= 3 || this.refusedWrites % 1000 === 0)
            console.warn(`plunger drive: bus write to ${what} refused (${this.refusedWrites})`)
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

/** what startStepperDrive returns */
export interface StartedStepperDrive {
    drive: StepperDrive
    server: StepperMotorServer
    /** role name of a client bound to the (read-only) Motor server */
    clientRoleName: string
}

export interface StepperDriveStartOptions extends StepperDriveOptions {
    step: StepPulseOutput
    dir: DigitalOutput
    en: DigitalOutput
    /** ramp and lease-expiry tick, ms; default 10 (never renews the lease) */
    tickMs?: number
    /** if set, the drive starts locked out with this reason (EN held disabled) */
    lockReason?: string
    /** Jacdac instance name; default "plungerDrive" */
    roleName?: string
}

/**
 * Start the read-only Motor server and the drive's tick timer (ramp and
 * lease expiry). Call at top level during boot.
 */
export function startStepperDrive(o: StepperDriveStartOptions): StartedStepperDrive {
    const drive = new StepperDrive(o.step, o.dir, o.en, o)
    if (o.lockReason) {
        drive.lockReason = o.lockReason
        console.error(`plunger drive locked: ${o.lockReason}`)
    }
    const server = new StepperMotorServer(drive)
    server.leadMmPerRev = o.leadMmPerRev ?? 2
    const clientRoleName = startServer(server, {
        roleName: o.roleName ?? "plungerDrive",
    })
    setInterval(async () => {
        await drive.tick(ds.millis())
    }, o.tickMs ?? 10)
    return { drive, server, clientRoleName }
}
