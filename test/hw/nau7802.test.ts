// NAU7802 driver against the register-level fake: init sequence, gain/rate/LDO
// bits, PUR and calibration failures, data-ready, 24-bit conversion.
import * as ds from "@devicescript/core"
import { describe, test } from "@devicescript/test"
import {
    Nau7802,
    Nau7802Error,
    nau7802CodeFromBytes,
    nau7802GainBits,
    nau7802LdoBits,
    nau7802RateBits,
} from "../../src/hw/nau7802"
import { FakeNau7802 } from "./fake_nau7802"
import { eq, fail, ok, rejects } from "./check"

function fastChip(fake: FakeNau7802, extra?: any) {
    return new Nau7802(fake, {
        ldoSettleMs: 0,
        powerUpTimeoutMs: 300, // generous: a loaded VM polls slowly
        calibrationTimeoutMs: 300,
        pollMs: 1,
        ...(extra || {}),
    })
}

function writesText(fake: FakeNau7802) {
    return fake.writes.map(w => `${w[0]}=${w[1]}`).join(" ")
}

describe("NAU7802 init", () => {
    test("BOARD-1: init writes reset, power-up, LDO+gain, rate, chopper off, PGA cap, analog up + cycle start, then CALS (in order)", async () => {
        const fake = new FakeNau7802()
        await fastChip(fake).init()
        // PU_CTRL=RR, PU_CTRL=PUD, CTRL1=VLDO 3.0 V (5<<3) | gain 128 (7),
        // CTRL2=80 SPS (3<<4), ADC=0x30, PGA_PWR=0x80,
        // PU_CTRL=AVDDS|CS|PUA|PUD (0x96), CTRL2=80 SPS|CALS (0x34)
        eq(writesText(fake), "0=1 0=2 1=47 2=48 21=48 28=128 0=150 2=52", "write sequence")
    })

    test("BOARD-1: configuration waits for PUR and checks the revision first", async () => {
        const fake = new FakeNau7802()
        fake.purAfterReads = 3
        await fastChip(fake).init()
        const firstConfig = fake.log.indexOf("W 1 47")
        const revRead = fake.log.indexOf("R 31 1")
        let purPolls = 0
        for (let i = 0; i < firstConfig; ++i) if (fake.log[i] === "R 0 1") purPolls++
        ok(purPolls >= 4, `PU_CTRL polled ${purPolls} times before configuring`)
        ok(revRead > 0 && revRead < firstConfig, "DEVICE_REV read before configuration")
    })

    test("BOARD-1: calibration polls CALS until it clears", async () => {
        const fake = new FakeNau7802()
        fake.calReads = 4
        await fastChip(fake).init()
        const calStart = fake.log.indexOf("W 2 52")
        let polls = 0
        for (let i = calStart; i < fake.log.length; ++i) if (fake.log[i] === "R 2 1") polls++
        eq(polls, 4, "CTRL2 polls after CALS")
    })

    test("FAULT-1: no PUR -> Nau7802Error no_pur, nothing configured", async () => {
        const fake = new FakeNau7802()
        fake.purAfterReads = -1
        const e = await rejects(async () => await fastChip(fake).init(), "init without PUR")
        ok(e instanceof Nau7802Error, "error type")
        eq((e as Nau7802Error).fault, "no_pur", "fault")
        eq(writesText(fake), "0=1 0=2", "writes before giving up")
    })

    test("FAULT-1: CAL_ERR after internal offset calibration -> cal_err", async () => {
        const fake = new FakeNau7802()
        fake.calError = true
        const e = await rejects(async () => await fastChip(fake).init(), "init with CAL_ERR")
        eq((e as Nau7802Error).fault, "cal_err", "fault")
    })

    test("FAULT-1: CALS never clears -> cal_timeout", async () => {
        const fake = new FakeNau7802()
        fake.calReads = -1
        const e = await rejects(async () => await fastChip(fake).init(), "init with stuck CALS")
        eq((e as Nau7802Error).fault, "cal_timeout", "fault")
    })

    test("FAULT-1: wrong revision id -> bad_revision; missing chip -> I2C error", async () => {
        const fake = new FakeNau7802()
        fake.revision = 0x05
        const e = await rejects(async () => await fastChip(fake).init(), "wrong revision")
        eq((e as Nau7802Error).fault, "bad_revision", "fault")
        const gone = new FakeNau7802()
        gone.present = false
        const e2 = await rejects(async () => await fastChip(gone).init(), "no chip")
        eq((e2 as Error).name, "I2CError", "error name")
    })
})

describe("NAU7802 gain and rate", () => {
    test("BOARD-1: gain, rate and LDO field values", () => {
        eq(nau7802GainBits(1), 0, "gain 1")
        eq(nau7802GainBits(64), 6, "gain 64")
        eq(nau7802GainBits(128), 7, "gain 128")
        eq(nau7802RateBits(10), 0, "10 SPS")
        eq(nau7802RateBits(80), 3, "80 SPS")
        eq(nau7802RateBits(320), 7, "320 SPS")
        eq(nau7802LdoBits(4.5), 0, "4.5 V")
        eq(nau7802LdoBits(3.3), 4, "3.3 V")
        eq(nau7802LdoBits(3.0), 5, "3.0 V")
        eq(nau7802LdoBits(2.4), 7, "2.4 V")
    })

    test("BOARD-1: gain 64, 10 SPS, LDO 3.3 V reach CTRL1/CTRL2", async () => {
        const fake = new FakeNau7802()
        await fastChip(fake, { gain: 64, samplesPerSecond: 10, ldoVolts: 3.3 }).init()
        // CTRL1 = 4<<3 | 6 = 38, CTRL2 = 0<<4 = 0, CALS -> 4
        eq(writesText(fake), "0=1 0=2 1=38 2=0 21=48 28=128 0=150 2=4", "write sequence")
    })

    test("BOARD-1: unsupported gain / rate / LDO are rejected before any I2C traffic", () => {
        const fake = new FakeNau7802()
        for (const bad of [{ gain: 3 }, { samplesPerSecond: 100 }, { ldoVolts: 3.1 }]) {
            let threw = false
            try {
                fastChip(fake, bad)
            } catch (e) {
                threw = e instanceof RangeError
            }
            if (!threw) fail(`accepted ${JSON.stringify(bad)}`)
        }
        eq(fake.log.length, 0, "I2C transfers")
    })
})

describe("NAU7802 conversion", () => {
    test("BOARD-1: 24-bit two's complement codes", () => {
        eq(nau7802CodeFromBytes(0x00, 0x00, 0x00), 0, "zero")
        eq(nau7802CodeFromBytes(0x00, 0x00, 0x01), 1, "+1")
        eq(nau7802CodeFromBytes(0x12, 0x34, 0x56), 0x123456, "positive")
        eq(nau7802CodeFromBytes(0xff, 0xff, 0xff), -1, "-1")
        eq(nau7802CodeFromBytes(0xed, 0xcb, 0xaa), -0x123456, "negative")
        eq(nau7802CodeFromBytes(0x7f, 0xff, 0xff), 8388607, "+full scale")
        eq(nau7802CodeFromBytes(0x80, 0x00, 0x00), -8388608, "-full scale")
    })

    test("BOARD-1: data-ready polling and code read through the fake (CR set, then cleared by the read)", async () => {
        const fake = new FakeNau7802()
        const chip = fastChip(fake, { samplesPerSecond: 80 })
        await chip.init()
        const codes = [123456, -98765, 8388607, -8388608]
        for (const c of codes) {
            fake.code = c
            let tries = 0
            while (!(await chip.isDataReady())) {
                if (++tries > 200) fail("no data ready")
                await ds.sleep(1)
            }
            eq(await chip.readCode(), c, "code")
            eq(await chip.isDataReady(), false, "CR after read")
        }
    })
})
