// HOST-6: the Python module (python/injector_data) reads a recording into
// pandas and the broker live through paho-mqtt, and the example notebook
// (notebooks/procedure.ipynb) runs headless with Debian's python3 packages
// (.ci/run installs them; /usr/bin/python3 and /usr/bin/jupyter are called by
// path because a python3 earlier on PATH may lack them).
import { strict as assert } from "node:assert"
import { execFile } from "node:child_process"
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { after, before, describe, test } from "node:test"
import { promisify } from "node:util"
import { Bench, ROOT, bench, cli, readLines, runCli, sleep, tmp } from "./helpers"
import { Broker, startBroker } from "./mosquitto"

const run = promisify(execFile)
const PY = "/usr/bin/python3"
const JUPYTER = "/usr/bin/jupyter"
const env = { ...process.env, PYTHONPATH: join(ROOT, "python"), PYDEVD_DISABLE_FILE_VALIDATION: "1" }

describe("Python module and notebook (HOST-6)", () => {
    let b: Bench
    let broker: Broker
    const file = tmp("procedure.jsonl")

    before(async () => {
        b = await bench()
        broker = await startBroker()
        // a recorded procedure: the fake injector's demo (three levels, pauses, alarms)
        const rec = cli("--tcp", b.tcp, "record", "-o", file)
        await rec.waitFor(/connected: injector/)
        await b.fake.demoProcedure()
        await sleep(400)
        rec.signal("SIGINT")
        assert.equal((await rec.result()).code, 0)
    })
    after(async () => {
        await b.close()
        await broker.stop()
    })

    test("HOST-6: read_recording gives the samples, events and pauses of a recording as DataFrames", async () => {
        const code = `
import injector_data as inj, json
r = inj.read_recording(${JSON.stringify(file)})
p = r.pauses()
print(json.dumps({"samples": len(r.samples), "events": len(r.events), "pauses": len(p),
  "reasons": sorted(set(p["reason"])), "max_volume": float(r.samples["volume"].max()),
  "records": int((r.events["event"] == "level_record").sum())}))`
        const { stdout } = await run(PY, ["-c", code], { env })
        const got = JSON.parse(stdout)
        const lines = readLines(file)
        assert.equal(got.samples, lines.filter(l => l.type === "sample").length)
        assert.equal(got.events, lines.filter(l => l.type === "event").length)
        assert.equal(got.records, 3)
        // the demo pauses for a leak, an over-pressure and an operator pause
        assert.deepEqual(got.reasons, ["leak_seen", "operator_pause", "overpressure"])
        assert.equal(got.max_volume, Math.max(...lines.filter(l => l.type === "sample").map(l => l.volume)))
    })

    test("HOST-6, HOST-5: live() reads the bridge's samples from the broker with paho-mqtt, numbered without gaps", async () => {
        const br = cli("--tcp", b.tcp, "bridge", "--mqtt", broker.url)
        await br.waitFor(/connected: injector/)
        const demo = b.fake.demoProcedure()
        const code = `
import injector_data as inj, json
df = inj.live(${JSON.stringify(broker.url)}, seconds=3)
seqs = sorted(set(df["mqtt_seq"]))
print(json.dumps({"rows": len(df), "devices": sorted(set(df["device"])), "consecutive": seqs == list(range(seqs[0], seqs[-1] + 1)),
  "cols": [c for c in ["volume", "pressure", "flow", "t_dev", "state"] if c in df]}))`
        const { stdout } = await run(PY, ["-c", code], { env })
        await demo
        br.signal("SIGINT")
        await br.result()
        const got = JSON.parse(stdout)
        assert.ok(got.rows >= 50, `only ${got.rows} samples in 3 s of a 50 Hz procedure`)
        assert.deepEqual(got.devices, [b.fake.deviceId])
        assert.equal(got.consecutive, true)
        assert.deepEqual(got.cols, ["volume", "pressure", "flow", "t_dev", "state"])
    })

    test("HOST-6: the example notebook runs headless (jupyter nbconvert --execute) and plots pressure, volume and flow with the pauses", async () => {
        const out = tmp("procedure.ipynb")
        const fig = tmp("procedure.png")
        const t0 = Date.now()
        await run(JUPYTER, ["nbconvert", "--to", "notebook", "--execute", join(ROOT, "notebooks", "procedure.ipynb"), "--output", out], {
            env: { ...env, INJECTOR_RECORDING: file, INJECTOR_FIGURE: fig },
            cwd: ROOT,
            timeout: 240000,
        })
        const s = (Date.now() - t0) / 1000
        const nb = JSON.parse(readFileSync(out, "utf8"))
        const outputs = nb.cells.flatMap((c: any) => c.outputs ?? [])
        assert.equal(outputs.filter((o: any) => o.output_type === "error").length, 0)
        const text = outputs.map((o: any) => [].concat(o.text ?? o.data?.["text/plain"] ?? []).join("")).join("\n")
        // three levels; one pause per transition into paused
        const pausesSent = readLines(file).filter(l => l.event === "transition" && l.to === "paused").length
        assert.match(text, new RegExp(`LEVELS 3 PAUSES ${pausesSent}\\b`))
        assert.ok(outputs.some((o: any) => o.data?.["image/png"]), "the notebook shows the figure")
        assert.equal(readFileSync(fig).subarray(1, 4).toString(), "PNG")
        console.log(`FIGURE notebook: procedure.ipynb executed headless in ${s.toFixed(1)} s`)
    })
})
