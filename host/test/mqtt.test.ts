// HOST-5: two injectors on one bus -> `injector bridge` -> a real Mosquitto
// (started here, on a loopback port of its own) -> `injector archive`, with
// the archiver and then the bridge killed (SIGKILL) and restarted mid-run.
// The archive must hold every sample the devices sent while a bridge ran,
// once and unchanged; what the devices sent while no bridge ran must be
// reported as lost batches, exactly; retained status and the last will must
// be seen by a subscriber; `injector report` must read the archive.
import { strict as assert } from "node:assert"
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { after, before, describe, test } from "node:test"
import { FakeInjector } from "./fake-injector"
import { CliProcess, cli, killAllCli, readLines, runCli, sleep, tmp } from "./helpers"
import { Hub, startHub } from "./hub"
import { Broker, startBroker } from "./mosquitto"
import { Subscriber, checkArchive } from "./mqtt-helpers"

const IDS = ["a1a1a1a1a1a1a1a1", "b2b2b2b2b2b2b2b2"]

describe("MQTT bridge and archiver with a real broker (two fake injectors on one hub)", () => {
    let broker: Broker
    let hub: Hub
    let fakes: FakeInjector[] = []
    let watch: Subscriber
    const dir = tmp("archive")

    before(async () => {
        broker = await startBroker()
        hub = await startHub()
        const tcp = `127.0.0.1:${hub.port}`
        fakes = await Promise.all(IDS.map(id => new FakeInjector({ tcp, deviceId: id, bench: true }).start()))
        watch = await Subscriber.start(broker.url, ["injector/#"])
    })
    after(async () => {
        killAllCli()
        await watch?.stop()
        await Promise.all(fakes.map(f => f.stop()))
        await hub?.close()
        await broker?.stop()
    })

    test("HOST-5: bridge and archiver each killed and restarted mid-run: 0 messages lost, the bridge's downtime reported as exactly the batches missing; retained status and last will seen", async () => {
        const tcp = `127.0.0.1:${hub.port}`
        const archive = () => cli("archive", "--mqtt", broker.url, "-o", dir, "--client-id", "test-archive")
        const bridge = () => cli("--tcp", tcp, "bridge", "--mqtt", broker.url)
        let arch: CliProcess = archive()
        await arch.waitFor(/new session/)
        let br: CliProcess = bridge()
        for (const id of IDS) await watch.waitFor(`injector/${id}/status`, m => m.payload.status === "online")
        await sleep(500)

        // retained: a subscriber that comes later still learns both are online
        const late = await Subscriber.start(broker.url, ["injector/+/status"])
        for (const id of IDS) {
            const m = await late.waitFor(`injector/${id}/status`, () => true, 3000)
            assert.equal(m.retain, true, "status must be retained")
            assert.equal(m.payload.status, "online")
            assert.equal(m.payload.quantities.volume.mdc, "MDC_VOL_FLUID_DELIV")
        }
        await late.stop()

        let running = true
        const demos = fakes.map(async f => {
            while (running) await f.demoProcedure()
        })
        await sleep(2000)
        arch.kill() // SIGKILL: no goodbye; the broker keeps the session's messages
        await arch.exited
        await sleep(2500)
        arch = archive()
        await arch.waitFor(/session resumed/)
        await sleep(2000)

        const mark = watch.messages.length
        const killedAt = fakes.map(f => f.millis())
        br.kill()
        await br.exited
        // the broker publishes each injector's last will
        for (const id of IDS) {
            const m = await watch.waitFor(`injector/${id}/status`, m => m.payload.status === "offline", 5000, mark)
            assert.match(m.payload.detail, /last will/)
        }
        await sleep(1500)
        br = bridge()
        for (const id of IDS) await watch.waitFor(`injector/${id}/status`, m => m.payload.status === "online", 15000, mark)
        const backAt = fakes.map(f => f.millis())
        await sleep(3000)
        running = false
        await Promise.all(demos)
        await sleep(800)

        const endMark = watch.messages.length
        br.signal("SIGINT")
        assert.equal((await br.result()).code, 0, br.all)
        for (const id of IDS) {
            const m = await watch.waitFor(`injector/${id}/status`, m => m.payload.status === "offline", 5000, endMark)
            assert.match(m.payload.detail, /bridge stopped/)
        }
        await sleep(1000)
        arch.signal("SIGINT")
        assert.equal((await arch.result()).code, 0, arch.all)

        fakes.forEach((f, k) => {
            const file = join(dir, `${IDS[k]}.jsonl`)
            const c = checkArchive(file, f.emitted.samples)
            assert.equal(c.duplicates, 0, `${IDS[k]}: samples archived twice`)
            assert.equal(c.mismatched, 0, `${IDS[k]}: archived values differ from the emitted ones`)
            assert.equal(c.lostMessages, 0, `${IDS[k]}: MQTT messages lost`)
            assert.ok(c.expected > 500, `${IDS[k]}: only ${c.expected} samples in the run`)
            // what is missing is exactly what the gap lines report, and only from the bridge's downtime
            assert.deepEqual(c.missingBatches, c.reportedBatches, `${IDS[k]}: missing batches vs reported`)
            assert.ok(c.missingBatches.length > 0, `${IDS[k]}: the bridge was down ~2 s yet no batch is missing`)
            for (const t of c.missingSampleTimes)
                assert.ok(t >= killedAt[k] - 500 && t <= backAt[k] + 500, `${IDS[k]}: sample at ${t} ms missing outside the bridge's downtime (${killedAt[k]}..${backAt[k]})`)
            // every event sent while a bridge ran is archived, in order
            const lines = readLines(file)
            const archived = lines.filter(l => l.type === "event").map(l => `${l.event}:${l.from_code ?? ""}:${l.to_code ?? ""}:${l.level_code ?? ""}`)
            const t0 = Math.min(...lines.filter(l => l.type === "sample").map(l => l.t_dev))
            const sent = f.emitted.events
                .filter(e => e.t_dev >= t0 && !(e.t_dev >= killedAt[k] - 100 && e.t_dev <= backAt[k] + 500))
                .map(e => `${e.name}:${e.fields.from ?? ""}:${e.fields.to ?? ""}:${e.fields.level ?? ""}`)
            const rest = [...archived]
            for (const e of sent) {
                const i = rest.indexOf(e)
                assert.ok(i >= 0, `${IDS[k]}: event ${e} sent while the bridge ran is not in the archive`)
                rest.splice(0, i + 1)
            }
            assert.ok(lines.some(l => l.type === "gap" && l.phase === "start" && /last will/.test(l.reason)), "the will is a gap start in the archive")
            assert.ok(lines.some(l => l.type === "gap" && l.phase === "end"), "the bridge's return ends the gap")
            console.log(`FIGURE mqtt ${IDS[k]}: ${c.archived} samples archived, ${c.missingBatches.length} batches not bridged (bridge down), reported ${c.reportedBatches.length}, MQTT messages lost ${c.lostMessages}`)
        })
    })

    test("HOST-5, HOST-2: `injector report` reads an archived recording unchanged (levels, lost batches)", async () => {
        const file = join(dir, `${IDS[0]}.jsonl`)
        const out = tmp("levels.json")
        const r = await runCli(["report", file, "-o", out.replace(/json$/, "html"), "--json", out])
        assert.equal(r.code, 0, r.err)
        const rep = JSON.parse(readFileSync(out, "utf8"))
        const lostReported = readLines(file)
            .filter(l => l.type === "gap" && l.phase === "lost_batches")
            .reduce((n, l) => n + l.missing, 0)
        assert.equal(rep.lost_batches, lostReported)
        assert.ok(rep.levels.length >= 3, `expected the demo's levels, got ${rep.levels.length}`)
        assert.deepEqual(rep.devices, [IDS[0]])
    })

    test("HOST-5: monitor --mqtt shows an injector from the broker", async () => {
        const br = cli("--tcp", `127.0.0.1:${hub.port}`, "bridge", "--mqtt", broker.url)
        await watch.waitFor(`injector/${IDS[1]}/samples`, () => true, 15000, watch.messages.length)
        const r = await runCli(["monitor", "--mqtt", broker.url, "--device", IDS[1], "--once", "--find-timeout", "10"])
        br.signal("SIGINT")
        await br.result()
        assert.equal(r.code, 0, r.err)
        assert.match(r.out, new RegExp(`injector ${IDS[1]} via mqtt`))
        assert.match(r.out, /state\s+\S+/)
        assert.match(r.out, /volume\s+[\d.]+ \/ [\d.]+ mL/)
    })

    test("HOST-5: bad --mqtt URLs and an archive path that is a file are refused with a clear message", async () => {
        let r = await runCli(["bridge", "--mqtt", "http://x"])
        assert.equal(r.code, 2)
        assert.match(r.err, /unsupported scheme http:/)
        r = await runCli(["archive", "--mqtt", "not a url", "-o", dir])
        assert.equal(r.code, 2)
        assert.match(r.err, /--mqtt expects a broker URL/)
        const f = tmp("plain.txt")
        require("node:fs").writeFileSync(f, "x")
        r = await runCli(["archive", "--mqtt", broker.url, "-o", f])
        assert.equal(r.code, 2)
        assert.match(r.err, /is not a folder/)
        r = await runCli(["--tcp", "127.0.0.1:1", "monitor", "--mqtt", broker.url])
        assert.equal(r.code, 2)
        assert.match(r.err, /either --mqtt or --tcp/)
    })
})
