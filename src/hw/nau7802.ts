/**
 * Nuvoton NAU7802 24-bit bridge-sensor ADC: register-level driver.
 *
 * Datasheet: https://www.nuvoton.com/export/resource-files/en-us--DS_NAU7802_DataSheet_EN_Rev2.6.pdf
 * (section "Power on sequencing" for the start-up order, "Device register map
 * details" for every constant below).
 *
 * The driver only talks to an {@link I2CPort}. On hardware that is `i2c` from
 * `@devicescript/i2c`; the VM tests pass a register-level fake
 * (test/hw/fake_nau7802.ts), so the init sequence and conversions are tested
 * without a chip.
 */
import * as ds from "@devicescript/core"

/** 7-bit I²C address (fixed). */
export const NAU7802_I2C_ADDRESS = 0x2a

// ---- register addresses -------------------------------------------------
export const NAU7802_REG_PU_CTRL = 0x00
export const NAU7802_REG_CTRL1 = 0x01
export const NAU7802_REG_CTRL2 = 0x02
export const NAU7802_REG_OCAL1_B2 = 0x03
export const NAU7802_REG_GCAL1_B3 = 0x06
export const NAU7802_REG_I2C_CONTROL = 0x11
export const NAU7802_REG_ADCO_B2 = 0x12
export const NAU7802_REG_ADCO_B1 = 0x13
export const NAU7802_REG_ADCO_B0 = 0x14
/** "ADC" register; shares its address with OTP_B2 (see RD_OTP_SEL in PGA). */
export const NAU7802_REG_ADC = 0x15
export const NAU7802_REG_PGA = 0x1b
export const NAU7802_REG_PGA_PWR = 0x1c
export const NAU7802_REG_DEVICE_REV = 0x1f

// ---- PU_CTRL (0x00) bits -------------------------------------------------
/** RR: register reset (all registers except RR to defaults) */
export const NAU7802_PU_CTRL_RR = 0x01
/** PUD: power up digital */
export const NAU7802_PU_CTRL_PUD = 0x02
/** PUA: power up analog */
export const NAU7802_PU_CTRL_PUA = 0x04
/** PUR: power up ready (read only) */
export const NAU7802_PU_CTRL_PUR = 0x08
/** CS: cycle start (run conversions) */
export const NAU7802_PU_CTRL_CS = 0x10
/** CR: cycle ready, a conversion result is waiting in ADCO (read only) */
export const NAU7802_PU_CTRL_CR = 0x20
/** OSCS: 1 = external crystal, 0 = internal RC oscillator */
export const NAU7802_PU_CTRL_OSCS = 0x40
/** AVDDS: 1 = AVDD from the internal LDO */
export const NAU7802_PU_CTRL_AVDDS = 0x80

// ---- CTRL1 (0x01) fields -------------------------------------------------
/** GAINS, bits 2:0: PGA gain 1..128 as log2 */
export const NAU7802_CTRL1_GAINS_SHIFT = 0
/** VLDO, bits 5:3: LDO output voltage */
export const NAU7802_CTRL1_VLDO_SHIFT = 3
export const NAU7802_CTRL1_DRDY_SEL = 0x40
export const NAU7802_CTRL1_CRP = 0x80

// ---- CTRL2 (0x02) fields -------------------------------------------------
/** CALMOD, bits 1:0; 00 = internal offset calibration */
export const NAU7802_CTRL2_CALMOD_MASK = 0x03
export const NAU7802_CTRL2_CALMOD_OFFSET_INTERNAL = 0x00
/** CALS: start calibration; the chip clears it when done */
export const NAU7802_CTRL2_CALS = 0x04
/** CAL_ERR: the last calibration failed (read only) */
export const NAU7802_CTRL2_CAL_ERR = 0x08
/** CRS, bits 6:4: conversion rate */
export const NAU7802_CTRL2_CRS_SHIFT = 4
/** CHS: 0 = channel 1 (VIN1P/VIN1N) */
export const NAU7802_CTRL2_CHS = 0x80

// ---- ADC (0x15) and PGA_PWR (0x1C) ---------------------------------------
/** REG_CHPS bits 5:4 = 11: chopper clock off, as the power-on sequence asks */
export const NAU7802_ADC_REG_CHPS_OFF = 0x30
/** PGA_CAP_EN: enable the decoupling capacitor on VIN2P/VIN2N (CH1-only use) */
export const NAU7802_PGA_PWR_PGA_CAP_EN = 0x80

// ---- DEVICE_REV (0x1F) ---------------------------------------------------
export const NAU7802_REVISION_ID_MASK = 0x0f
export const NAU7802_REVISION_ID = 0x0f

// ---- conversion codes ----------------------------------------------------
/** largest 24-bit two's complement code (positive full scale) */
export const NAU7802_CODE_MAX = 0x7fffff
/** smallest 24-bit two's complement code (negative full scale) */
export const NAU7802_CODE_MIN = -0x800000

/** PGA gains, index = GAINS field value */
const GAINS = [1, 2, 4, 8, 16, 32, 64, 128]
/** conversion rates in samples/s and their CRS codes */
const RATES = [10, 20, 40, 80, 320]
const RATE_CODES = [0, 1, 2, 3, 7]
/** LDO output voltages (V), index = VLDO field value */
const LDO_VOLTS = [4.5, 4.2, 3.9, 3.6, 3.3, 3.0, 2.7, 2.4]

/** The part of an I²C master the driver needs; `i2c` from @devicescript/i2c fits. */
export interface I2CPort {
    /** write `writeBuf`, then read `numRead` bytes (repeated start) */
    xfer(devAddr: number, writeBuf: Buffer, numRead?: number): Promise<Buffer>
}

export interface Nau7802Options {
    /** 7-bit address, default 0x2A */
    address?: number
    /** PGA gain 1, 2, 4, ... 128; default 128 */
    gain?: number
    /** 10, 20, 40, 80 or 320 samples/s; default 80 */
    samplesPerSecond?: number
    /**
     * LDO (AVDD, bridge excitation) voltage; default 3.0 V. The datasheet wants
     * DVDD at least 0.3 V above it, so 3.0 V is the highest for a 3.3 V supply.
     */
    ldoVolts?: number
    /** how long to wait for PUR after power-up, ms; default 100 */
    powerUpTimeoutMs?: number
    /** wait after analog power-up / LDO on, before calibrating, ms; default 250 */
    ldoSettleMs?: number
    /** how long to wait for CALS to clear, ms; default 1000 */
    calibrationTimeoutMs?: number
    /** register poll interval during power-up and calibration, ms; default 2 */
    pollMs?: number
}

/** Why the chip could not be brought up. */
export type Nau7802Fault =
    | "no_pur" // PUR never set after power-up
    | "bad_revision" // DEVICE_REV low nibble is not 0xF: not an NAU7802
    | "cal_timeout" // CALS never cleared
    | "cal_err" // CAL_ERR set after internal offset calibration

export class Nau7802Error extends Error {
    constructor(
        message: string,
        readonly fault: Nau7802Fault
    ) {
        super(message)
        this.name = "Nau7802Error"
    }
}

/** GAINS field value for a PGA gain; RangeError if the chip has no such gain. */
export function nau7802GainBits(gain: number): number {
    const i = GAINS.indexOf(gain)
    if (i < 0) throw new RangeError(`NAU7802 gain ${gain} not in 1,2,4..128`)
    return i
}

/** CRS field value for a conversion rate; RangeError if unsupported. */
export function nau7802RateBits(samplesPerSecond: number): number {
    const i = RATES.indexOf(samplesPerSecond)
    if (i < 0)
        throw new RangeError(
            `NAU7802 rate ${samplesPerSecond} not in 10,20,40,80,320`
        )
    return RATE_CODES[i]
}

/** VLDO field value for an LDO voltage; RangeError if unsupported. */
export function nau7802LdoBits(volts: number): number {
    for (let i = 0; i < LDO_VOLTS.length; ++i)
        if (Math.abs(LDO_VOLTS[i] - volts) < 0.01) return i
    throw new RangeError(`NAU7802 LDO ${volts} V not in 2.4..4.5 (0.3 V steps)`)
}

/** 24-bit two's complement (ADCO_B2 = MSB) to a signed integer. */
export function nau7802CodeFromBytes(b2: number, b1: number, b0: number) {
    const u = ((b2 & 0xff) << 16) | ((b1 & 0xff) << 8) | (b0 & 0xff)
    return u & 0x800000 ? u - 0x1000000 : u
}

/**
 * One NAU7802 on one I²C port, channel 1, internal LDO, internal oscillator.
 */
export class Nau7802 {
    readonly address: number
    readonly gain: number
    readonly samplesPerSecond: number
    readonly ldoVolts: number
    private readonly powerUpTimeoutMs: number
    private readonly ldoSettleMs: number
    private readonly calibrationTimeoutMs: number
    private readonly pollMs: number

    constructor(
        readonly port: I2CPort,
        options?: Nau7802Options
    ) {
        const o = options || {}
        this.address = o.address ?? NAU7802_I2C_ADDRESS
        this.gain = o.gain ?? 128
        this.samplesPerSecond = o.samplesPerSecond ?? 80
        this.ldoVolts = o.ldoVolts ?? 3.0
        this.powerUpTimeoutMs = o.powerUpTimeoutMs ?? 100
        this.ldoSettleMs = o.ldoSettleMs ?? 250
        this.calibrationTimeoutMs = o.calibrationTimeoutMs ?? 1000
        this.pollMs = o.pollMs ?? 2
        // validate now, not halfway through init
        nau7802GainBits(this.gain)
        nau7802RateBits(this.samplesPerSecond)
        nau7802LdoBits(this.ldoVolts)
    }

    /** sample period in ms at the configured rate */
    samplePeriodMs() {
        return 1000 / this.samplesPerSecond
    }

    async readRegister(reg: number): Promise<number> {
        const b = await this.port.xfer(this.address, Buffer.from([reg]), 1)
        return b[0]
    }

    async writeRegister(reg: number, value: number): Promise<void> {
        await this.port.xfer(this.address, Buffer.from([reg, value & 0xff]))
    }

    /**
     * Power-on sequence, then internal offset calibration:
     * 1. PU_CTRL = RR (register reset), 2. PU_CTRL = PUD (leave reset, digital on),
     * 3. wait for PUR, 4. check DEVICE_REV, 5. CTRL1 = LDO | gain,
     * 6. CTRL2 = rate, CH1, CALMOD internal offset, 7. ADC = chopper clock off,
     * 8. PGA_PWR = PGA_CAP_EN, 9. PU_CTRL = AVDDS | CS | PUA | PUD,
     * 10. wait for the LDO, 11. CALS and wait, check CAL_ERR.
     * @throws Nau7802Error, or the port's I²C error
     */
    async init(): Promise<void> {
        await this.writeRegister(NAU7802_REG_PU_CTRL, NAU7802_PU_CTRL_RR)
        await this.writeRegister(NAU7802_REG_PU_CTRL, NAU7802_PU_CTRL_PUD)
        const t0 = ds.millis()
        while (
            !((await this.readRegister(NAU7802_REG_PU_CTRL)) &
                NAU7802_PU_CTRL_PUR)
        ) {
            if (ds.millis() - t0 > this.powerUpTimeoutMs)
                throw new Nau7802Error("NAU7802: no PUR after power-up", "no_pur")
            await ds.sleep(this.pollMs)
        }
        const rev = await this.readRegister(NAU7802_REG_DEVICE_REV)
        if ((rev & NAU7802_REVISION_ID_MASK) !== NAU7802_REVISION_ID)
            throw new Nau7802Error(
                `NAU7802: revision register ${rev}, expected low nibble 0xF`,
                "bad_revision"
            )
        await this.writeRegister(
            NAU7802_REG_CTRL1,
            (nau7802LdoBits(this.ldoVolts) << NAU7802_CTRL1_VLDO_SHIFT) |
                (nau7802GainBits(this.gain) << NAU7802_CTRL1_GAINS_SHIFT)
        )
        await this.writeRegister(
            NAU7802_REG_CTRL2,
            (nau7802RateBits(this.samplesPerSecond) <<
                NAU7802_CTRL2_CRS_SHIFT) |
                NAU7802_CTRL2_CALMOD_OFFSET_INTERNAL
        )
        await this.writeRegister(NAU7802_REG_ADC, NAU7802_ADC_REG_CHPS_OFF)
        await this.writeRegister(
            NAU7802_REG_PGA_PWR,
            NAU7802_PGA_PWR_PGA_CAP_EN
        )
        await this.writeRegister(
            NAU7802_REG_PU_CTRL,
            NAU7802_PU_CTRL_AVDDS |
                NAU7802_PU_CTRL_CS |
                NAU7802_PU_CTRL_PUA |
                NAU7802_PU_CTRL_PUD
        )
        if (this.ldoSettleMs > 0) await ds.sleep(this.ldoSettleMs)
        await this.calibrateOffset()
    }

    /**
     * Internal offset calibration (CALMOD = 00): set CALS, wait for the chip to
     * clear it, then check CAL_ERR. Repeat after a gain or rate change.
     * @throws Nau7802Error
     */
    async calibrateOffset(): Promise<void> {
        const ctrl2 =
            (await this.readRegister(NAU7802_REG_CTRL2)) &
            ~(NAU7802_CTRL2_CALMOD_MASK | NAU7802_CTRL2_CALS)
        await this.writeRegister(
            NAU7802_REG_CTRL2,
            ctrl2 | NAU7802_CTRL2_CALMOD_OFFSET_INTERNAL | NAU7802_CTRL2_CALS
        )
        const t0 = ds.millis()
        let v = 0
        for (;;) {
            v = await this.readRegister(NAU7802_REG_CTRL2)
            if (!(v & NAU7802_CTRL2_CALS)) break
            if (ds.millis() - t0 > this.calibrationTimeoutMs)
                throw new Nau7802Error(
                    "NAU7802: offset calibration did not finish",
                    "cal_timeout"
                )
            await ds.sleep(this.pollMs)
        }
        if (v & NAU7802_CTRL2_CAL_ERR)
            throw new Nau7802Error(
                "NAU7802: offset calibration error (CAL_ERR)",
                "cal_err"
            )
    }

    /**
     * FAULT-9 cross-check of the chip's own gain: read CTRL1 and CTRL2 back
     * and compare the PGA gain, LDO and conversion-rate fields with what
     * init() wrote. A brown-out or glitch that resets the chip puts the PGA
     * back to gain 1, which would make every force read 128 times too small.
     * @returns true when they match
     */
    async verifyConfig(): Promise<boolean> {
        const c1 = await this.readRegister(NAU7802_REG_CTRL1)
        const c2 = await this.readRegister(NAU7802_REG_CTRL2)
        const want1 =
            (nau7802LdoBits(this.ldoVolts) << NAU7802_CTRL1_VLDO_SHIFT) |
            (nau7802GainBits(this.gain) << NAU7802_CTRL1_GAINS_SHIFT)
        const want2 = nau7802RateBits(this.samplesPerSecond)
        return (c1 & 0x3f) === want1 && ((c2 >> NAU7802_CTRL2_CRS_SHIFT) & 7) === want2
    }

    /** true when PU_CTRL.CR says a new conversion is waiting */
    async isDataReady(): Promise<boolean> {
        return !!(
            (await this.readRegister(NAU7802_REG_PU_CTRL)) & NAU7802_PU_CTRL_CR
        )
    }

    /** Read ADCO_B2..B0 in one transfer (address auto-increments); clears CR. */
    async readCode(): Promise<number> {
        const b = await this.port.xfer(
            this.address,
            Buffer.from([NAU7802_REG_ADCO_B2]),
            3
        )
        return nau7802CodeFromBytes(b[0], b[1], b[2])
    }
}
