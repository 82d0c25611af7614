// FAULT-5 / TEL-3 / BOARD-3: what survives a restart, in the settings store.
// Keys <= 13 chars, values well under ~200 B (TOOLCHAIN.md): short field
// names, one record per key, each with a checksum so a torn or corrupt write
// reads as "missing" rather than as wrong numbers.
import { readSetting, writeSetting } from "@devicescript/settings"
import { CalibrationSnapshot, LevelSnapshot, SetupSnapshot, Snapshot, THRESHOLDS } from "./core"

export const KEY_CAL = "inj.cal"
export const KEY_LEVEL = "inj.lvl"
export const KEY_SETUP = "inj.set"

/**
 * Polynomial hash of the text, kept below 2^24 so it stays exact in plain
 * number arithmetic (no 32-bit bit operations, whose wrap-around differs
 * between runtimes): any changed digit changes it.
 */
export function checksum(text: string): number {
    let h = 5381
    for (let i = 0; i < text.length; ++i) h = (h * 31 + text.charCodeAt(i)) % 16777213
    return h
}

function seal(fields: number[]): number[] {
    const out = fields.slice(0)
    out.push(checksum(JSON.stringify(fields)))
    return out
}

function unseal(v: any, n: number): number[] {
    if (!Array.isArray(v) || v.length !== n + 1) return null
    const fields = (v as number[]).slice(0, n)
    for (let i = 0; i < n; ++i) if (typeof fields[i] !== "number" || isNaN(fields[i])) return null
    return checksum(JSON.stringify(fields)) === v[n] ? fields : null
}

export function encodeCalibration(c: CalibrationSnapshot): number[] {
    return seal([c.tareKg, c.gain, c.volumeScale, c.flags])
}

export function decodeCalibration(v: any): CalibrationSnapshot {
    const f = unseal(v, 4)
    if (!f) return null
    return { tareKg: f[0], gain: f[1], volumeScale: f[2], flags: f[3] }
}

export function encodeLevel(l: LevelSnapshot): number[] {
    return seal([l.level, l.capMl, l.deliveredMl, l.state, l.ended, l.pauses, l.leakPauses, l.overrides, l.leakLimitOverride])
}

export function decodeLevel(v: any): LevelSnapshot {
    const f = unseal(v, 9)
    if (!f) return null
    return {
        level: f[0],
        capMl: f[1],
        deliveredMl: f[2],
        state: f[3],
        ended: f[4],
        pauses: f[5],
        leakPauses: f[6],
        overrides: f[7],
        leakLimitOverride: f[8],
    }
}

/** Rounded so the record stays well under the store's ~200 B per value. */
function r4(v: number): number {
    return Math.round(v * 10000) / 10000
}

export function encodeSetup(s: SetupSnapshot): number[] {
    const f = [s.syringe, r4(s.flowMlPerMin), Math.floor(s.cementAgeS), r4(s.preparedMl), r4(s.usedMl)]
    for (let i = 0; i < s.thresholds.length; ++i) f.push(r4(s.thresholds[i]))
    // FLOW-5: the custom syringe (0, 0 when none)
    f.push(r4(s.customBoreMm), r4(s.customVolumeMl))
    return seal(f)
}

export function decodeSetup(v: any): SetupSnapshot {
    const n = 5 + THRESHOLDS.length
    // a record written before the custom syringe (FLOW-5) has no bore and volume: none set
    let f = unseal(v, n + 2)
    const custom = f !== null
    if (!custom) f = unseal(v, n)
    if (!f) return null
    return {
        syringe: f[0],
        flowMlPerMin: f[1],
        cementAgeS: f[2],
        preparedMl: f[3],
        usedMl: f[4],
        thresholds: f.slice(5, n),
        customBoreMm: custom ? f[n] : 0,
        customVolumeMl: custom ? f[n + 1] : 0,
    }
}

export async function loadSnapshot(): Promise<Snapshot> {
    return {
        cal: decodeCalibration(await readSetting(KEY_CAL, null)),
        level: decodeLevel(await readSetting(KEY_LEVEL, null)),
        setup: decodeSetup(await readSetting(KEY_SETUP, null)),
    }
}

export async function saveSnapshot(s: Snapshot) {
    await writeSetting(KEY_LEVEL, encodeLevel(s.level))
    await writeSetting(KEY_SETUP, encodeSetup(s.setup))
    await writeSetting(KEY_CAL, encodeCalibration(s.cal))
}
