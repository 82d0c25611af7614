// Telemetry rate and event latency as the host sees them (TEL-2).
//   npm run bench:bus --                      own hub + fake injector (50 Hz while injecting)
//   npm run bench:bus -- --tcp 127.0.0.1:8082 --seconds 10 [--probe]
//                                                  any bus, e.g. the simulator during a scenario
// Rate: samples received per second of host time while the device reports
// 20 ms periods, batches lost (sequence gaps). Latency: with the fake, from
// the fake handing an event to its bus to the host decoding it (one process,
// one clock); with --probe, the round trip of a command the device rejects
// without changing anything (`resume` while not paused -> rejected event),
// an upper bound of the one-way firmware -> host event latency.
import { jdpack } from "jacdac-ts"
import { Op } from "../src/core/types"
import { InjectorLink, LinkEvent, LinkTelemetry, nowMs } from "../host/lib/link"
import { FakeInjector, sleep } from "../host/test/fake-injector"
import { startHub } from "../host/test/hub"

export interface BusFigures {
    seconds: number
    samples: number
    activeSamplesPerS: number
    batchesPerS: number
    lostBatches: number
    latencyMs: number[]
    latencyKind: "one-way" | "round-trip" | "none"
}

function pct(a: number[], p: number) {
    if (!a.length) return NaN
    const s = [...a].sort((x, y) => x - y)
    return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]
}

export function summary(f: BusFigures) {
    const l = f.latencyMs
    const lat = l.length
        ? `event latency (${f.latencyKind}, n=${l.length}): median ${pct(l, 50).toFixed(1)} ms, p95 ${pct(l, 95).toFixed(1)} ms, max ${Math.max(...l).toFixed(1)} ms`
        : "event latency: not measured"
    return `telemetry: ${f.activeSamplesPerS.toFixed(1)} samples/s while active (${f.samples} samples in ${f.seconds.toFixed(1)} s), ${f.batchesPerS.toFixed(1)} batches/s, ${f.lostBatches} batches lost; ${lat}`
}

/** Listens on a started link for `seconds`; optionally probes with commands. */
export async function measure(link: InjectorLink, seconds: number, o: { probe?: number; fake?: FakeInjector; events?: number } = {}): Promise<BusFigures> {
    let samples = 0
    let active = 0
    let activeT0 = 0
    let activeT1 = 0
    let batches = 0
    const lost0 = link.lostBatches
    const lat: number[] = []
    const onTel = (t: LinkTelemetry) => {
        batches++
        samples += t.batch.samples.length
        if (t.batch.header.period === 20) {
            if (!activeT0) activeT0 = t.rx
            else active += t.batch.samples.length // the first batch starts the clock
            activeT1 = t.rx
        }
    }
    link.on("telemetry", onTel)
    const t0 = nowMs()
    let kind: BusFigures["latencyKind"] = "none"
    if (o.fake) {
        kind = "one-way"
        const fake = o.fake
        const pending = new Map<number, number>()
        const onEv = (e: LinkEvent) => {
            if (e.name === "info" && e.data.reason === "threshold_changed" && pending.has(e.data.value)) {
                lat.push(e.rx - pending.get(e.data.value)!)
                pending.delete(e.data.value)
            }
        }
        link.on("event", onEv)
        const n = o.events ?? 40
        const gap = (seconds * 1000) / (n + 1)
        for (let i = 1; i <= n; ++i) {
            await sleep(gap)
            pending.set(1000 + i, performance.timeOrigin + performance.now())
            fake.event("info", { value: 1000 + i, reason: 32 /* threshold_changed */ })
        }
        await sleep(300)
        link.off("event", onEv)
    } else if (o.probe) {
        kind = "round-trip"
        for (let i = 0; i < o.probe; ++i) {
            const got = new Promise<number>(resolve => {
                const on = (e: LinkEvent) => {
                    if ((e.name === "rejected" || e.name === "confirm_required") && e.data.command_code === (Op.Resume & 0xff)) {
                        link.off("event", on)
                        resolve(e.rx)
                    }
                }
                link.on("event", on)
                setTimeout(() => {
                    link.off("event", on)
                    resolve(NaN)
                }, 1000)
            })
            const sent = nowMs()
            try {
                await link.sendCommand(Op.Resume, jdpack("u32", [0])) // unsequenced: answered by the rejected event
            } catch {
                await sleep(200) // the injector is gone for now
                continue
            }
            const rx = await got
            if (Number.isFinite(rx)) lat.push(rx - sent)
            await sleep((seconds * 1000) / o.probe - 50)
        }
    } else await sleep(seconds * 1000)
    link.off("telemetry", onTel)
    const span = (nowMs() - t0) / 1000
    return {
        seconds: span,
        samples,
        activeSamplesPerS: activeT1 > activeT0 ? active / ((activeT1 - activeT0) / 1000) : 0,
        batchesPerS: batches / span,
        lostBatches: link.lostBatches - lost0,
        latencyMs: lat,
        latencyKind: kind,
    }
}

async function main() {
    console.debug = () => {}
    const argv = process.argv.slice(2)
    const opt = (n: string) => (argv.includes(n) ? argv[argv.indexOf(n) + 1] : undefined)
    const seconds = +(opt("--seconds") ?? 10)
    if (opt("--tcp")) {
        const link = new InjectorLink({ tcp: opt("--tcp") }).start()
        if (!(await link.waitConnected(30000))) throw new Error("no injector")
        const f = await measure(link, seconds, { probe: argv.includes("--probe") ? 20 : 0 })
        console.log(summary(f))
        await link.stop()
        process.exit(0)
    }
    const hub = await startHub()
    const fake = await new FakeInjector({ tcp: `127.0.0.1:${hub.port}`, bench: true }).start()
    fake.local(Op.SetLevel, 19)
    fake.local(Op.MarkMixing, 10)
    fake.local(Op.SetFlow, 0.5)
    fake.local(Op.Arm)
    fake.local(Op.Start)
    const link = new InjectorLink({ tcp: `127.0.0.1:${hub.port}` }).start()
    await link.waitConnected(5000)
    const f = await measure(link, seconds, { fake })
    console.log(`fake injector through a TCP hub: ${summary(f)}`)
    await link.stop()
    await fake.stop()
    await hub.close()
    process.exit(0)
}

if (require.main === module) main()
