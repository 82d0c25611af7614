// `npm run bench:mqtt`: the MQTT path's figures (HOST-5), printed, not asserted.
// Two fake injectors on one hub -> `injector bridge` (its own process) -> a
// Mosquitto of its own on a loopback port -> three subscribers. Prints the
// latency from the device handing a telemetry batch to the bus to a
// subscriber receiving it (median, p99), and the samples per second each
// subscriber receives per injector, against what the devices sent.
import { spawn } from "node:child_process"
import { join } from "node:path"
import { FakeInjector } from "../host/test/fake-injector"
import { startHub } from "../host/test/hub"
import { startBroker } from "../host/test/mosquitto"
import { Subscriber } from "../host/test/mqtt-helpers"

console.debug = () => {}
const IDS = ["d4d4d4d4d4d4d4d4", "e5e5e5e5e5e5e5e5"]
const SECONDS = Number(process.argv[2] ?? 20)
const now = () => performance.timeOrigin + performance.now()
const sleep = (ms: number) => new Promise(r => setTimeout(r, ms))

function pct(xs: number[], p: number) {
    const s = [...xs].sort((a, b) => a - b)
    return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]
}

async function main() {
    const broker = await startBroker()
    const hub = await startHub()
    const tcp = `127.0.0.1:${hub.port}`
    const fakes = await Promise.all(IDS.map(id => new FakeInjector({ tcp, deviceId: id, bench: true }).start()))
    // when each batch left the device: wrap the fake's flush (the bench's own clock = the subscribers' clock)
    const sentAt = IDS.map(() => new Map<number, number>())
    fakes.forEach((f, k) => {
        const orig = (f as any).flush.bind(f)
        ;(f as any).flush = () => {
            const seq = (f as any).seq + 1
            const had = (f as any).batch.length
            orig()
            if (had) sentAt[k].set(seq, now())
        }
    })
    const subs = await Promise.all([0, 1, 2].map(() => Subscriber.start(broker.url, ["injector/+/samples"])))
    const bridge = spawn(process.execPath, [join(__dirname, "bin", "injector.mjs"), "--tcp", tcp, "bridge", "--mqtt", broker.url], { stdio: "ignore", detached: true })
    const t0 = Date.now()
    while (subs[0].messages.length < 2 * IDS.length && Date.now() - t0 < 20000) await sleep(50)
    const from = subs.map(s => s.messages.length)
    const sentFrom = fakes.map(f => f.emitted.samples.length)
    let running = true
    const demos = fakes.map(async f => {
        while (running) await f.demoProcedure()
    })
    const start = now()
    await sleep(SECONDS * 1000)
    running = false
    const dur = (now() - start) / 1000
    const sent = fakes.map((f, k) => f.emitted.samples.length - sentFrom[k])
    await sleep(500)
    const lat: number[] = []
    const got = subs.map(() => IDS.map(() => 0))
    subs.forEach((s, j) => {
        for (const m of s.messages.slice(from[j])) {
            if (m.at > start + dur * 1000) continue
            const k = IDS.indexOf(m.topic.split("/")[1])
            if (k < 0) continue
            got[j][k] += m.payload.samples.length
            const t = sentAt[k].get(m.payload.header.seq)
            if (t !== undefined) lat.push(m.at - t)
        }
    })
    await Promise.all(demos)
    console.log(`MQTT bench: ${IDS.length} injectors on one hub -> injector bridge -> mosquitto -> ${subs.length} subscribers, ${dur.toFixed(1)} s`)
    console.log(`FIGURE mqtt latency device -> broker subscriber: median ${pct(lat, 50).toFixed(1)} ms, p99 ${pct(lat, 99).toFixed(1)} ms, max ${Math.max(...lat).toFixed(1)} ms (${lat.length} batches)`)
    IDS.forEach((id, k) => {
        const rates = got.map(g => (g[k] / dur).toFixed(1)).join(" / ")
        console.log(`FIGURE mqtt ${id}: sent ${(sent[k] / dur).toFixed(1)} samples/s, received per subscriber ${rates} samples/s`)
    })
    process.kill(-bridge.pid!, "SIGKILL")
    await Promise.all(subs.map(s => s.stop()))
    await Promise.all(fakes.map(f => f.stop()))
    await hub.close()
    await broker.stop()
    process.exit(0)
}

main()
