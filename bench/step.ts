// Cost of one control step in the VM (normal mode, no GC stress):
//   npm run bench:step
// Runs Supervisor.step() while injecting at 3 mL/min against the test rig's
// plant, in chunks of 50 steps between awaits (the VM panics after ~128 k
// instructions without one; a step is several hundred), and prints microseconds per step.
import * as ds from "@devicescript/core"
import { Op, Source, State } from "../src/core"
import { Rig } from "../test/lib/rig"

async function measure(label: string, withPlant: boolean) {
    const r = new Rig()
    r.prepare("L1", 3)
    r.cmd(Op.Start)
    if (r.sup.state !== State.Injecting) throw new Error("not injecting")
    // pre-build inputs so only the supervisor is timed
    const inp = {
        tMs: r.tMs,
        newSample: true,
        loadCellKg: 50,
        encoderCount: 0,
        encoderPresent: true,
        estop: false,
        estopPresent: true,
    }
    await ds.sleep(1)
    let n = 0
    const t0 = ds.millis()
    while (ds.millis() - t0 < 3000) {
        for (let i = 0; i < 50; ++i) {
            if (withPlant) r.tick()
            else {
                inp.tMs += 12.5
                inp.encoderCount += 4 // 3 mL/min on a 20 mL bore ~ 2.6 counts per 12.5 ms
                r.sup.step(inp)
                r.sup.drainEvents()
            }
        }
        n += 50
        await ds.sleep(0)
    }
    const dt = ds.millis() - t0
    console.log(`BENCH ${label}: ${n} steps in ${dt} ms = ${Math.round((dt * 1000000) / n) / 1000} us/step (state ${r.sup.state})`)
}

ds.setTimeout(async () => {
    await measure("supervisor step (injecting, new sample)", false)
    await measure("supervisor step + test plant", true)
    console.log("BENCH done")
}, 100)
