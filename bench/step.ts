// Cost of one control step in the VM (normal mode, no GC stress):
//   npm run bench:step
// Steps the supervisor while injecting at 3 mL/min against the test rig's
// plant (80 Hz samples), 10 ticks between awaits (the VM panics after ~128 k
// instructions without one), on fresh rigs of 4000 ticks (50 s of injection,
// well inside the cap). The plant alone is timed the same way and
// subtracted, so the figure is Supervisor.step() plus draining its events.
import * as ds from "@devicescript/core"
import { Op, State } from "../src/core"
import { Rig, SAMPLE_MS } from "../test/lib/rig"

const TICKS = 4000

async function timeRun(withSupervisor: boolean): Promise<number> {
    const r = new Rig()
    r.prepare("L1", 3)
    r.cmd(Op.Start)
    if (r.sup.state !== State.Injecting) throw new Error("not injecting")
    await ds.sleep(1)
    const t0 = ds.millis()
    for (let n = 0; n < TICKS; n += 10) {
        for (let i = 0; i < 10; ++i) {
            if (withSupervisor) r.tick()
            else {
                r.plant.advance(SAMPLE_MS, r.last)
                r.tMs += SAMPLE_MS
                r.kg()
                r.plant.counts()
            }
        }
        await ds.sleep(0)
    }
    const ms = ds.millis() - t0
    if (withSupervisor && r.sup.state !== State.Injecting) throw new Error(`left injecting: ${r.sup.state}/${r.sup.reason}`)
    return ms
}

ds.setTimeout(async () => {
    let plantMs = 0
    let fullMs = 0
    for (let k = 0; k < 3; ++k) {
        plantMs += await timeRun(false)
        fullMs += await timeRun(true)
    }
    const n = 3 * TICKS
    const stepUs = Math.round(((fullMs - plantMs) * 1000000) / n) / 1000
    console.log(`BENCH plant + supervisor: ${Math.round((fullMs * 1000000) / n) / 1000} us/tick; plant alone: ${Math.round((plantMs * 1000000) / n) / 1000} us/tick`)
    console.log(`BENCH control step (Supervisor.step while injecting, with a new sample): ${stepUs} us/step over ${n} steps`)
    console.log("BENCH done")
}, 100)
