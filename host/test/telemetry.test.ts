// TEL-2 on the host side: through a TCP hub the host takes in the device's
// 50 Hz telemetry without loss and decodes its events well within 50 ms.
// (The firmware's own rate and latency are measured on the simulator bus;
// this proves the host is not the bottleneck.) Figures go to
// out/host-figures.txt.
import { strict as assert } from "node:assert"
import { appendFileSync, mkdirSync } from "node:fs"
import { join } from "node:path"
import { after, before, describe, test } from "node:test"
import { Op } from "../../src/core/types"
import { measure, summary } from "../../bench/bus"
import { InjectorLink } from "../lib/link"
import { Bench, OUT, bench } from "./helpers"

describe("telemetry through the hub (fake injector)", () => {
    let b: Bench
    let link: InjectorLink
    before(async () => {
        b = await bench({ bench: true })
        b.fake.local(Op.SetLevel, 19)
        b.fake.local(Op.MarkMixing, 10)
        b.fake.local(Op.SetFlow, 0.5)
        b.fake.local(Op.Arm)
        b.fake.local(Op.Start)
        link = new InjectorLink({ tcp: b.tcp }).start()
        assert.ok(await link.waitConnected(5000))
    })
    after(async () => {
        await link.stop()
        await b.close()
    })

    test("TEL-2: the host receives 50 Hz telemetry with no batch lost and events within 50 ms (one-way)", async () => {
        const f = await measure(link, 5, { fake: b.fake, events: 30 })
        mkdirSync(OUT, { recursive: true })
        appendFileSync(join(OUT, "host-figures.txt"), `${new Date().toISOString()} TEL-2 host, fake injector through a TCP hub: ${summary(f)}\n`)
        assert.equal(f.lostBatches, 0)
        assert.ok(f.activeSamplesPerS > 45 && f.activeSamplesPerS < 55, `rate ${f.activeSamplesPerS}`)
        assert.equal(f.latencyMs.length, 30, "every event arrived")
        const sorted = [...f.latencyMs].sort((a, b) => a - b)
        assert.ok(sorted[Math.floor(sorted.length * 0.95)] <= 50, `p95 latency ${sorted[Math.floor(sorted.length * 0.95)]} ms`)
    })
})
