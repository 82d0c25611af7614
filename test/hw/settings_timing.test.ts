// FAULT-11: how long a settings write (the persistence path of src/persist.ts,
// @devicescript/settings) holds up the VM, and whether a 12.5 ms control
// tick keeps its period meanwhile. Records shaped like persist.ts's (an array
// of 8 numbers under a short key). Figures only; the VM's flash is RAM, so
// a board's flash erase (tens of ms) must be measured on the board.
import * as ds from "@devicescript/core"
import { describe, test } from "@devicescript/test"
import { readSetting, writeSetting } from "@devicescript/settings"
import { eq, figure, ok } from "../lib/assert"

describe("settings write duration", () => {
    test("FAULT-11: settings write durations and a 12 ms control tick's longest gap meanwhile (figures)", async () => {
        // a 12.5 ms "control tick" running beside the writes
        let lastTick = ds.millis()
        let maxGap = 0
        let ticks = 0
        const timer = setInterval(() => {
            const now = ds.millis()
            if (now - lastTick > maxGap) maxGap = now - lastTick
            lastTick = now
            ticks++
        }, 12)
        await ds.sleep(100)
        maxGap = 0
        const n = 40
        let total = 0
        let worst = 0
        let worstAt = -1
        for (let i = 0; i < n; ++i) {
            const rec = [7, 2.5, 1.234 + i / 1000, 3, 1, 0, 0, 1234567]
            const t0 = ds.millis()
            await writeSetting("inj.tlvl", rec)
            const dt = ds.millis() - t0
            total += dt
            if (dt > worst) {
                worst = dt
                worstAt = i
            }
            await ds.sleep(25)
        }
        clearInterval(timer)
        const back: number[] = await readSetting("inj.tlvl", null)
        eq(back[2], 1.234 + (n - 1) / 1000, "last record reads back")
        figure("hw_settings_write_mean_ms", Math.round((total / n) * 10) / 10, "ms")
        figure("hw_settings_write_max_ms", worst, "ms")
        figure("hw_control_tick_max_gap_during_writes_ms", maxGap, "ms")
        console.log(`slowest write: #${worstAt}`)
        // durations and the tick gap are figures (the machine's load shows in
        // them); what is asserted is that every write landed
        ok(ticks > 0, "the tick ran during the writes")
    })
})
