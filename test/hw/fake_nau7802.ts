// Register-level fake of an NAU7802 behind an I2CPort, for VM tests of
// src/hw/nau7802.ts and src/hw/loadcell.ts. It keeps a register file, logs
// every transfer, models PUR after power-up, CALS/CAL_ERR, and conversions
// that set CR once per sample period (ds.millis()) while PUD|PUA|CS are on.
// Not a test file itself (no .test.ts suffix).
import * as ds from "@devicescript/core"
import { I2CPort } from "../../src/hw/nau7802"

export const FAKE_ADDR = 0x2a

export class FakeI2CError extends Error {
    constructor(message: string) {
        super(message)
        this.name = "I2CError"
    }
}

export class FakeNau7802 implements I2CPort {
    regs = Buffer.alloc(0x20)
    /** "W reg value" and "R reg count" entries, in order (while logging) */
    log: string[] = []
    logging = true
    /** only register writes, as [reg, value] */
    writes: number[][] = []
    /** false: every transfer fails like a missing device (NACK) */
    present = true
    /** the next N transfers fail */
    failNext = 0
    /** PU_CTRL reads after PUD before PUR shows up; -1 = never */
    purAfterReads = 1
    /** CTRL2 reads while CALS stays set; -1 = never clears */
    calReads = 2
    /** set CAL_ERR when a calibration finishes */
    calError = false
    /** DEVICE_REV value */
    revision = 0x0f
    /** code returned by the next conversions (24-bit two's complement range) */
    code = 0
    /** ± this many LSB of deterministic dither on each conversion (a real ADC is never constant) */
    noiseLsb = 0
    /** no conversions complete while true (stale sensor) */
    halted = false
    /** conversions so far */
    conversions = 0

    private purReads = 0
    private calLeft = 0
    private nextConvMs = 0
    private latched = 0

    constructor() {
        this.reset()
    }

    private reset() {
        this.regs = Buffer.alloc(0x20)
        this.regs[0x1f] = this.revision
        this.regs[0x06] = 0x80 // GCAL1 default 0x00800000 (gain 1.0)
        this.purReads = 0
        this.calLeft = 0
    }

    private periodMs() {
        const crs = (this.regs[0x02] >> 4) & 7
        const sps = crs === 7 ? 320 : [10, 20, 40, 80][crs] || 10
        return 1000 / sps
    }

    private running() {
        const pu = this.regs[0x00]
        return (pu & 0x1e) === 0x1e // PUD | PUA | PUR | CS
    }

    private readByte(reg: number): number {
        if (reg === 0x00) {
            const pu = this.regs[0x00]
            if (pu & 0x02 && !(pu & 0x08) && this.purAfterReads >= 0) {
                if (this.purReads++ >= this.purAfterReads)
                    this.regs[0x00] = pu | 0x08
            }
            if (this.running() && !this.halted) {
                const now = ds.millis()
                if (this.nextConvMs === 0) this.nextConvMs = now + this.periodMs()
                if (now >= this.nextConvMs) {
                    this.nextConvMs += this.periodMs()
                    if (this.nextConvMs < now) this.nextConvMs = now + this.periodMs()
                    this.latched = this.code + ((this.conversions % 3) - 1) * this.noiseLsb
                    this.conversions++
                    this.regs[0x00] |= 0x20
                }
            }
            const v = this.regs[0x00]
            // the first read after PUR shows it; return the pre-update value otherwise
            return v
        }
        if (reg === 0x02 && this.calLeft !== 0) {
            if (this.calLeft > 0) this.calLeft--
            if (this.calLeft === 0) {
                this.regs[0x02] &= ~0x04
                if (this.calError) this.regs[0x02] |= 0x08
            }
        }
        if (reg >= 0x12 && reg <= 0x14) {
            const u = this.latched < 0 ? this.latched + 0x1000000 : this.latched
            const b = reg === 0x12 ? (u >> 16) & 0xff : reg === 0x13 ? (u >> 8) & 0xff : u & 0xff
            if (reg === 0x14) this.regs[0x00] &= ~0x20 // reading B0 clears CR
            return b
        }
        return this.regs[reg & 0x1f]
    }

    private writeByte(reg: number, v: number) {
        this.writes.push([reg, v])
        if (reg === 0x00) {
            if (v & 0x01) {
                this.reset()
                this.regs[0x00] = 0x01
                return
            }
            const keep = this.regs[0x00] & 0x28 // PUR, CR are read only
            const pud = v & 0x02
            this.regs[0x00] = (v & ~0x28) | (pud ? keep : 0)
            if (!pud) this.purReads = 0
            return
        }
        if (reg === 0x02) {
            const ro = this.regs[0x02] & 0x08
            this.regs[0x02] = (v & ~0x08) | (v & 0x04 ? 0 : ro)
            if (v & 0x04) this.calLeft = this.calReads < 0 ? -1 : this.calReads
            return
        }
        if (reg === 0x1f) return // read only
        this.regs[reg & 0x1f] = v
    }

    async xfer(devAddr: number, writeBuf: Buffer, numRead?: number): Promise<Buffer> {
        if (!this.present || devAddr !== FAKE_ADDR)
            throw new FakeI2CError(`I2C error 1 dev=${devAddr}`)
        if (this.failNext > 0) {
            this.failNext--
            throw new FakeI2CError(`I2C error 2 dev=${devAddr}`)
        }
        let reg = writeBuf[0]
        for (let i = 1; i < writeBuf.length; ++i) {
            if (this.logging) this.log.push(`W ${reg} ${writeBuf[i]}`)
            this.writeByte(reg, writeBuf[i])
            reg++
        }
        const n = numRead || 0
        const out = Buffer.alloc(n)
        if (n && this.logging) this.log.push(`R ${reg} ${n}`)
        for (let i = 0; i < n; ++i) out[i] = this.readByte(reg + i)
        return out
    }
}
