// The simulated hardware on the Jacdac bus: one bench device serving the
// services the firmware's roles bind to (src/app.ts busIO):
//   loadCell  WeightScale   reading pushed per model sample (u16.16 kg)
//   encoder   RotaryEncoder plunger position, counts (i32)
//   motor     Motor         speed ratio / enabled writes -> plant drive input
//   leakPedal, estop, confirm  Button  down/up events
// Readings are pushed by the bench (one report per sample) rather than
// streamed on a timer, so the firmware steps once per load-cell sample.
// The buttons are deliberately listed in an order the role manager's
// automatic binding would get wrong (it binds roles in name order to
// services in index order: "confirm" would land on the leak pedal); the
// bench binds every role explicitly (roles.ts) and verifies it.
import {
    ButtonEvent,
    CHANGE,
    CMD_GET_REG,
    JDBus,
    JDServerServiceProvider,
    JDServiceServer,
    jdpack,
    MotorReg,
    Packet,
    SRV_BUTTON,
    SRV_MOTOR,
    SRV_ROTARY_ENCODER,
    SRV_WEIGHT_SCALE,
    SystemReg,
} from "jacdac-ts"

const REG_READING = SystemReg.Reading // 0x101

/** WeightScale whose reading goes out only when the bench pushes a sample. */
export class WeightScaleSim extends JDServiceServer {
    readonly reading = this.addRegister<[number]>(REG_READING, [0])
    samplesSent = 0
    constructor() {
        super(SRV_WEIGHT_SCALE, { instanceName: "loadCell" })
        this.addRegister<[number]>(SystemReg.StreamingSamples, [0])
        this.addRegister<[number]>(SystemReg.StreamingInterval, [12])
        this.addRegister<[number]>(SystemReg.MaxReading, [2000 / 9.80665])
    }
    /** One reading report, u16.16 kg (clamped to the format's 0..65535 kg). */
    async push(kg: number) {
        const v = Math.max(0, Math.min(65535, kg))
        this.reading.setValues([v], true)
        this.samplesSent++
        await this.sendPacketAsync(Packet.from(CMD_GET_REG | REG_READING, jdpack("u16.16", [v])))
    }
    /** A malformed reading report (1 byte instead of 4): what a NaN looks like on this wire. */
    async pushMalformed() {
        this.samplesSent++
        await this.sendPacketAsync(Packet.from(CMD_GET_REG | REG_READING, new Uint8Array([0xff])))
    }
}

export class RotaryEncoderSim extends JDServiceServer {
    readonly reading = this.addRegister<[number]>(REG_READING, [0])
    constructor(countsPerTurn: number) {
        super(SRV_ROTARY_ENCODER, { instanceName: "encoder" })
        this.addRegister<[number]>(SystemReg.StreamingSamples, [0])
        this.addRegister<[number]>(SystemReg.StreamingInterval, [12])
        this.addRegister<[number]>(0x180, [Math.min(65535, countsPerTurn)]) // clicks_per_turn
    }
    async push(counts: number) {
        const c = Math.round(counts) | 0
        this.reading.setValues([c], true)
        await this.sendPacketAsync(Packet.from(CMD_GET_REG | REG_READING, jdpack("i32", [c])))
    }
}

export interface MotorWrite {
    tMs: number
    enabled: boolean
    speed: number
}

/** Motor: records every write; `onChange` gets the new (enabled, speed). */
export class MotorSim extends JDServiceServer {
    readonly speed = this.addRegister<[number]>(MotorReg.Speed, [0])
    readonly enabled = this.addRegister<[boolean]>(MotorReg.Enabled, [false])
    onChange: (enabled: boolean, speed: number) => void = () => {}
    writes = 0
    constructor() {
        super(SRV_MOTOR, { instanceName: "motor" })
        this.addRegister<[boolean]>(MotorReg.Reversible, [true])
        const fire = () => this.onChange(!!this.enabled.values()[0], this.speed.values()[0] ?? 0)
        this.speed.on(CHANGE, fire)
        this.enabled.on(CHANGE, fire)
    }
    override async handlePacket(pkt: Packet) {
        if (pkt.isRegisterSet) this.writes++
        return super.handlePacket(pkt)
    }
    state(): { enabled: boolean; speed: number } {
        return { enabled: !!this.enabled.values()[0], speed: this.speed.values()[0] ?? 0 }
    }
}

export class ButtonSim extends JDServiceServer {
    readonly reading = this.addRegister<[number]>(REG_READING, [0])
    private downAt = 0
    pressed = false
    constructor(readonly label: string) {
        super(SRV_BUTTON, { instanceName: label })
        this.addRegister<[number]>(SystemReg.StreamingSamples, [0])
        this.addRegister<[number]>(SystemReg.StreamingInterval, [50])
    }
    async down() {
        if (this.pressed) return
        this.pressed = true
        this.downAt = Date.now()
        this.reading.setValues([1], true)
        await this.sendEvent(ButtonEvent.Down)
    }
    async up() {
        if (!this.pressed) return
        this.pressed = false
        this.reading.setValues([0], true)
        await this.sendEvent(ButtonEvent.Up, jdpack("u32", [Date.now() - this.downAt]))
    }
    /** down, hold `ms`, up */
    async press(ms = 120) {
        await this.down()
        await new Promise(r => setTimeout(r, ms))
        await this.up()
    }
}

/** Which role each bench service must be bound to (service index on the bench device). */
export interface RoleTarget {
    role: string
    serviceClass: number
    serviceIndex: number
}

export class BenchDevice {
    readonly loadCell = new WeightScaleSim()
    readonly encoder: RotaryEncoderSim
    readonly motor = new MotorSim()
    readonly leakPedal = new ButtonSim("leakPedal")
    readonly estop = new ButtonSim("estop")
    readonly confirm = new ButtonSim("confirm")
    readonly provider: JDServerServiceProvider

    constructor(
        readonly bus: JDBus,
        deviceId: string,
        countsPerTurn = 2400
    ) {
        this.encoder = new RotaryEncoderSim(countsPerTurn)
        this.provider = new JDServerServiceProvider(
            "bench",
            [this.loadCell, this.encoder, this.motor, this.leakPedal, this.estop, this.confirm],
            { deviceId, deviceDescription: "cement injector bench simulator" }
        )
        bus.addServiceProvider(this.provider)
    }

    get deviceId() {
        return this.provider.deviceId
    }

    /** The binding the firmware must end up with (src/app.ts busIO role names). */
    roleTargets(): RoleTarget[] {
        const t = (role: string, s: JDServiceServer): RoleTarget => ({
            role,
            serviceClass: s.serviceClass,
            serviceIndex: s.serviceIndex,
        })
        return [
            t("loadCell", this.loadCell),
            t("encoder", this.encoder),
            t("motor", this.motor),
            t("estop", this.estop),
            t("leakPedal", this.leakPedal),
            t("confirm", this.confirm),
        ]
    }

    button(role: "estop" | "leakPedal" | "confirm"): ButtonSim {
        return role === "estop" ? this.estop : role === "leakPedal" ? this.leakPedal : this.confirm
    }
}
