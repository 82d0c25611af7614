// injector: host tools for the smart bone-cement injector (HOST-1..3).
// Run as `npx injector ...` (host/bin/injector.mjs) or `npx tsx host/cli.ts ...`.
import { existsSync, statSync, writeFileSync } from "node:fs"
import { Command, CommanderError, InvalidArgumentError, Option } from "commander"
import { analyse } from "./lib/analysis"
import { COUNTS_DEFAULT, calibrate, checkOptions } from "./lib/calibrate"
import { Dashboard } from "./lib/dashboard"
import { InjectorLink, LinkOptions, describeTransport, parseTcp } from "./lib/link"
import { monitor } from "./lib/monitor"
import { Archiver } from "./lib/mqtt-archive"
import { Bridge } from "./lib/mqtt-bridge"
import { MqttSource, TelemetrySource } from "./lib/mqtt-source"
import { mqttUrlProblem } from "./lib/mqtt-topics"
import { reportHtml } from "./lib/report-html"
import { Recording } from "./lib/recorder"
import { EXIT, UsageError, commandList, prepare, sendCommand } from "./lib/send"
import { SpecError, injectorSpec } from "./lib/spec"

const VERSION = "0.1.0"

const SEND_EXITS = `Each command carries a request id; a re-send (no answer yet) re-uses it, so the device executes it once.
Exit: 0 executed, 1 rejected by the device (reason and values printed), 2 unknown command or bad arguments,
3 no injector / no answer (whether it executed is unknown), 4 the local confirm was not pressed in time
(not executed), 5 cancelled by a safety action before the confirm (not executed).`

function seconds(v: string) {
    const n = Number(v)
    if (!Number.isFinite(n) || n < 0) throw new InvalidArgumentError("expects a number of seconds")
    return n
}
function port(v: string) {
    const n = Number(v)
    if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError("expects a TCP port (0-65535)")
    return n
}

function linkOptions(cmd: Command): LinkOptions {
    const o = cmd.optsWithGlobals()
    if (o.serial && o.tcpGiven) throw new UsageError("give either --tcp or --serial, not both")
    if (!o.serial)
        try {
            parseTcp(o.tcp)
        } catch (e: any) {
            throw new UsageError(e.message)
        }
    return { tcp: o.tcp, serial: o.serial, device: o.device, verbose: o.verbose }
}

function fail(code: number, msg: string): never {
    console.error(`injector: ${msg}`)
    process.exit(code)
}

function mqttUrl(v: string) {
    const why = mqttUrlProblem(v)
    if (why) throw new InvalidArgumentError(why)
    return v
}

/** The live views' source: the bus (--tcp / --serial) or a broker (--mqtt). */
function source(cmd: Command, mqtt: string | undefined): TelemetrySource {
    if (!mqtt) return new InjectorLink(linkOptions(cmd))
    const o = cmd.optsWithGlobals()
    if (o.serial || o.tcpGiven) throw new UsageError("give either --mqtt or --tcp / --serial, not both")
    return new MqttSource({ mqttUrl: mqtt, device: o.device })
}

function stamp(m: string) {
    console.error(`${new Date().toISOString().slice(11, 19)} ${m}`)
}

async function finish(link: TelemetrySource | undefined, code: number): Promise<never> {
    if (link) await link.stop()
    process.exit(code)
}

const program = new Command()
program
    .name("injector")
    .description(
        "Host tools for the smart bone-cement injector: watch, record, report, send commands, live dashboard.\n" +
            "Connects to the simulator / devtools hub over TCP (default) or to a board on USB serial."
    )
    .version(VERSION)
    .addOption(new Option("--tcp <host:port>", "simulator or devtools hub").default("127.0.0.1:8082"))
    .option("--serial <path>", "a board on USB serial instead of TCP, e.g. /dev/ttyACM0")
    .option("--device <id>", "only this injector (device id or short id) if several are on the bus")
    .option("--verbose", "print jacdac-ts diagnostics")
    .showHelpAfterError("(run with --help for usage)")
    .exitOverride()
    .addHelpText(
        "after",
        `
Examples:
  npx injector monitor                          live values from the simulator on 127.0.0.1:8082
  npx injector record -o run.jsonl --csv run.csv
  npx injector report run.jsonl -o report.html
  npx injector send set-level C2
  npx injector send set-cap 3.8 --override      (the device asks for its local confirm: FAULT-7)
  npx injector calibrate                        guided tare / gain / volume calibration (BOARD-3)
  npx injector --serial /dev/ttyACM0 dashboard --port 8090

Exit codes: 0 done, 1 rejected by the device / nothing usable, 2 usage error, 3 no injector or no answer,
4 not confirmed on the device in time, 5 cancelled by a safety action before the confirm.
Recording format: docs/host.md.`
    )
program.on("option:tcp", () => (program.setOptionValue("tcpGiven", true)))

program
    .command("monitor")
    .description("find the injector and show its state, level, volume/cap, fill, pressure, flow, cement age and alarms live")
    .option("--once", "print the current values once and exit")
    .option("--duration <s>", "stop after this many seconds", seconds)
    .option("--find-timeout <s>", "give up if no injector answers within this many seconds (0 = wait)", seconds, 10)
    .option("--mqtt <url>", "read the injector from an MQTT broker (published by `injector bridge`) instead of the bus", mqttUrl)
    .action(async (o, cmd) => {
        const link = source(cmd, o.mqtt)
        const code = await monitor(link, { once: o.once, findTimeoutS: o.findTimeout, durationS: o.duration })
        await finish(link, code)
    })

program
    .command("record")
    .description("record every telemetry sample (one line each) and every event to JSON Lines, flushed as it goes; survives disconnects")
    .requiredOption("-o, --out <file.jsonl>", "recording to write (JSON Lines, see docs/host.md)")
    .option("--csv <file.csv>", "also write a CSV export (one row per sample or event)")
    .option("--append", "append to an existing recording (a gap is marked)")
    .option("--force", "overwrite an existing file")
    .option("--duration <s>", "stop after this many seconds (default: until Ctrl-C)", seconds)
    .option("--find-timeout <s>", "exit if no injector is found within this many seconds at the start (0 = wait)", seconds, 30)
    .addHelpText("after", "\nStop with Ctrl-C: the file is complete up to the last sample. Load it with pandas: pd.read_json(path, lines=True).")
    .action(async (o, cmd) => {
        const lo = linkOptions(cmd)
        for (const f of [o.out, o.csv].filter(Boolean))
            if (existsSync(f) && !o.append && !o.force) fail(EXIT.usage, `${f} exists: use --append to continue it or --force to overwrite it`)
        const link = new InjectorLink(lo)
        const log = (m: string) => console.error(`${new Date().toISOString().slice(11, 19)} ${m}`)
        let rec: Recording
        try {
            rec = new Recording(link, { out: o.out, csv: o.csv, append: o.append, force: o.force, durationS: o.duration, findTimeoutS: o.findTimeout, log })
        } catch (e: any) {
            fail(EXIT.usage, `cannot write ${o.out}: ${e.message}`)
        }
        log(`recording to ${o.out}${o.csv ? ` and ${o.csv}` : ""} from ${link.description} (Ctrl-C to stop)`)
        process.once("SIGINT", () => rec.stop("stopped by the user"))
        process.once("SIGTERM", () => rec.stop("terminated"))
        const progress = setInterval(() => {
            const s = rec.summary
            log(`${s.samples} samples, ${s.events} events, ${s.gaps} gaps so far`)
        }, 30000)
        link.start()
        await rec.finished
        clearInterval(progress)
        const s = rec.summary
        log(`recorded ${s.samples} samples, ${s.events} events, ${s.gaps} gap(s), ${s.lostBatches} lost batch(es) to ${o.out} (${rec.stopReason})`)
        if (!s.found) {
            console.error(`injector: no Cement Injector found on ${link.description} within ${o.findTimeout} s (${link.statusDetail}); ${o.out} holds only its header lines`)
            await finish(link, EXIT.nodevice)
        }
        await finish(link, EXIT.ok)
    })

program
    .command("report")
    .description("build an offline HTML procedure report (per-level table, pressure/volume/flow plots with pauses, leaks and alarms) from a recording")
    .argument("<recording.jsonl>", "a recording made by `injector record`")
    .option("-o, --out <report.html>", "report to write (default: the recording's name with .html)")
    .option("--json <file.json>", "also write the per-level table and summary as JSON")
    .option("--quiet", "no progress output")
    .action(async (file: string, o) => {
        if (!existsSync(file)) fail(EXIT.usage, `${file}: no such file`)
        if (statSync(file).isDirectory()) fail(EXIT.usage, `${file} is a directory`)
        const out = o.out || file.replace(/\.jsonl?$/i, "") + ".html"
        const t0 = Date.now()
        const big = statSync(file).size > 4 << 20
        let shown = 0
        const a = await analyse(file, {
            onIssue: i => console.error(`${file}:${i.line}: ${i.message} - line skipped`),
            // long files: a line at every tenth read
            onProgress:
                o.quiet || !big
                    ? undefined
                    : (f, n) => {
                          const step = Math.floor(f * 10)
                          if (step > shown && step < 10) {
                              shown = step
                              console.error(`reading ${file}: ${step * 10} % (${n} lines)`)
                          }
                      },
        })
        if (a.samples === 0 && a.events === 0) {
            fail(
                EXIT.rejected,
                `nothing usable in ${file}: ${a.stats.lines} line(s), ${a.issues.length} skipped, no samples or events (is it a recording made by injector record?)`
            )
        }
        if (!o.quiet && big) console.error(`analysed ${a.stats.lines} lines in ${((Date.now() - t0) / 1000).toFixed(1)} s, writing ${out}`)
        writeFileSync(out, reportHtml(a))
        if (o.json) {
            const { levels, issues, samples, events, gaps, lost_batches, t0: start, t1: end, devices } = a
            writeFileSync(o.json, JSON.stringify({ file, start, end, devices, samples, events, gaps, lost_batches, skipped: issues, levels }, null, 1))
        }
        const skipped = a.issues.length ? `; ${a.issues.length} line(s) skipped (listed above and in the report)` : ""
        console.error(`${out}: ${a.levels.length} level(s), ${a.samples} samples, ${a.events} events${skipped} (${((Date.now() - t0) / 1000).toFixed(2)} s)`)
        process.exit(EXIT.ok)
    })

program
    .command("send")
    .description("send a Cement Injector command; waits for the device's local confirm where it asks for one (FAULT-7) and shows why it rejects one")
    .argument("<command>", "command name as in the service spec, e.g. set-level, set-cap, start (see below)")
    .argument("[args...]", "the command's arguments")
    .option("--override", "set-cap: a cap above the level's preset (logged by the device; needs its local confirm)")
    .option("--find-timeout <s>", "give up if no injector answers within this many seconds", seconds, 5)
    .option("--confirm-timeout <s>", "how long to wait for the outcome of a command waiting for the local confirm", seconds, 15)
    .option("--answer-timeout <s>", "how long to wait for the device's answer, re-sending the same request id", seconds, 5)
    .addHelpText("after", () => {
        try {
            return `\nCommands (levels by name, C1 ... S1; on/off for switches):\n${commandList()}\n\n${SEND_EXITS}`
        } catch (e: any) {
            return `\n(${e.message})`
        }
    })
    .action(async (name: string, args: string[], o, cmd) => {
        let prepared
        try {
            prepared = prepare(name, args, { override: o.override })
        } catch (e: any) {
            if (e instanceof UsageError || e instanceof SpecError) fail(EXIT.usage, e.message)
            throw e
        }
        const link = new InjectorLink(linkOptions(cmd)).start()
        if (!(await link.waitConnected(o.findTimeout * 1000))) {
            console.error(`injector: no Cement Injector found on ${link.description} within ${o.findTimeout} s (${link.statusDetail}); nothing was sent`)
            await finish(link, EXIT.nodevice)
        }
        const r = await sendCommand(link, prepared, { confirmWaitMs: o.confirmTimeout * 1000, answerTimeoutMs: o.answerTimeout * 1000 })
        if (r.outcome === "no-answer") console.error(`injector: ${r.message}`)
        await finish(link, r.exit)
    })

program
    .command("calibrate")
    .description("guided calibration (BOARD-3): tare, gain with a known mass, mL per encoder count; each step needs the local confirm unless bench mode")
    .option("--step <step>", "run one step only: tare, gain or volume")
    .option("--mass <kg>", "gain step: the known mass on the load cell, kg (asked if not given)")
    .option("--counts <n>", `volume step: encoder counts the plunger moves (whole number, 100-60000)`, String(COUNTS_DEFAULT))
    .option("--volume <uL>", "volume step: the collected volume, µL (asked if not given)")
    .option("--grams <g>", "volume step: the collected mass, g, instead of --volume (converted with --density)")
    .option("--density <g/mL>", "density of the collected liquid", "1.0")
    .option("-y, --yes", "no questions, no Enter between steps: every value from the flags")
    .option("--find-timeout <s>", "give up if no injector answers within this many seconds", seconds, 5)
    .option("--confirm-timeout <s>", "how long to wait for the local confirm at each step", seconds, 15)
    .option("--drive-timeout <s>", "how long the calibration drive may take", seconds, 120)
    .addHelpText(
        "after",
        `
Steps: (1) tare with the syringe removed and the plunger unloaded; (2) gain with a
known mass on the load cell; (3) volume: the plunger moves --counts encoder counts
into a collection cup, then the collected volume (µL, or --grams at --density g/mL)
calibrates mL per count. The device checks each result for plausibility and stores
it; at the end the flags register shows which calibrations it holds.

Examples:
  npx injector calibrate                                   interactive, all three steps
  npx injector calibrate --step gain --mass 1
  npx injector calibrate --yes --mass 1 --counts 6000 --grams 1.43

Exit: 0 done, 1 rejected by the device (reason printed) or stopped, 2 bad option, 3 no injector / no answer,
4 not confirmed on the device in time, 5 cancelled by a safety action.`
    )
    .action(async (o, cmd) => {
        let co
        try {
            co = checkOptions(o, !!process.stdin.isTTY)
        } catch (e: any) {
            if (e instanceof UsageError) fail(EXIT.usage, e.message)
            throw e
        }
        const link = new InjectorLink(linkOptions(cmd)).start()
        if (!(await link.waitConnected(o.findTimeout * 1000))) {
            console.error(`injector: no Cement Injector found on ${link.description} within ${o.findTimeout} s (${link.statusDetail}); nothing was sent`)
            await finish(link, EXIT.nodevice)
        }
        console.log(`calibrating ${link.statusDetail}`)
        const r = await calibrate(link, co)
        await finish(link, r.exit)
    })

program
    .command("dashboard")
    .description("serve a live web page (localhost only) with charts and the alarm state, fed over a WebSocket")
    .option("--port <n>", "HTTP port on 127.0.0.1", port, 8090)
    .option("--mqtt <url>", "read the injector from an MQTT broker (published by `injector bridge`) instead of the bus", mqttUrl)
    .action(async (o, cmd) => {
        const link = source(cmd, o.mqtt)
        const d = new Dashboard(link, { port: o.port })
        let p: number
        try {
            p = await d.listen()
        } catch (e: any) {
            fail(EXIT.nodevice, `cannot listen on 127.0.0.1:${o.port}: ${e.message}`)
        }
        link.on("status", (s: string, det: string) => console.error(`${new Date().toISOString().slice(11, 19)} ${s}: ${det}`))
        link.start()
        console.log(`dashboard on http://127.0.0.1:${p}/ (injector via ${link.description}; Ctrl-C to stop)`)
        const stop = async () => {
            await d.close()
            await finish(link, EXIT.ok)
        }
        process.once("SIGINT", stop)
        process.once("SIGTERM", stop)
    })

program
    .command("bridge")
    .description("publish every sample, event and level record of every injector on the bus to an MQTT broker (HOST-5)")
    .requiredOption("--mqtt <url>", "the broker, e.g. mqtt://127.0.0.1:1883", mqttUrl)
    .option("--topic-root <root>", "topic root", "injector")
    .option("--samples-qos <0|1>", "QoS of the samples stream (1 lets an archiver's persistent session keep them)", "1")
    .option("--duration <s>", "stop after this many seconds (default: until Ctrl-C)", seconds)
    .addHelpText(
        "after",
        `
Topics (docs/host.md): <root>/<deviceId>/status (retained; "offline" is the bridge's last will),
<root>/<deviceId>/samples (one telemetry batch per message, numbered), <root>/<deviceId>/events/<name>
(every event, level records as events/level_record), QoS 1.`
    )
    .action(async (o, cmd) => {
        if (o.samplesQos !== "0" && o.samplesQos !== "1") fail(EXIT.usage, "--samples-qos expects 0 or 1")
        const bridge = new Bridge({ mqttUrl: o.mqtt, link: linkOptions(cmd), root: o.topicRoot, samplesQos: +o.samplesQos as 0 | 1, log: stamp }).start()
        stamp(`bridging ${describeTransport(linkOptions(cmd))} to ${o.mqtt} under ${o.topicRoot}/<deviceId>/ (Ctrl-C to stop)`)
        const progress = setInterval(() => {
            for (const [id, d] of bridge.devices) stamp(`${id}: ${d.published.samples} samples, ${d.published.events} events published`)
        }, 30000)
        await new Promise<void>(resolve => {
            process.once("SIGINT", resolve)
            process.once("SIGTERM", resolve)
            if (o.duration) setTimeout(resolve, o.duration * 1000)
        })
        clearInterval(progress)
        await bridge.stop("bridge stopped")
        for (const [id, d] of bridge.devices) stamp(`${id}: ${d.published.samples} samples in ${d.published.batches} batches, ${d.published.events} events published`)
        process.exit(EXIT.ok)
    })

program
    .command("archive")
    .description("subscribe with a persistent MQTT session and write each injector's recording (the JSON Lines of `record`) into a folder")
    .requiredOption("--mqtt <url>", "the broker, e.g. mqtt://127.0.0.1:1883", mqttUrl)
    .requiredOption("-o, --out <dir>", "folder for <deviceId>.jsonl (appended to) and <deviceId>.state.json")
    .option("--client-id <id>", "the persistent session's client id: the same on every restart (default injector-archive-<host>)")
    .option("--topic-root <root>", "topic root", "injector")
    .option("--duration <s>", "stop after this many seconds (default: until Ctrl-C)", seconds)
    .addHelpText(
        "after",
        `
A restart loses nothing: the broker queues the session's QoS 1 messages while the archiver is away
(raise Mosquitto's max_queued_messages for long outages, see docs/host.md). Messages delivered twice
are dropped; missing ones are written as gap lines (lost_messages, lost_batches) with exact counts.
Each file is a recording: npx injector report <dir>/<deviceId>.jsonl`
    )
    .action(async o => {
        if (existsSync(o.out) && !statSync(o.out).isDirectory()) fail(EXIT.usage, `${o.out} exists and is not a folder`)
        let arch: Archiver
        try {
            arch = new Archiver({ mqttUrl: o.mqtt, dir: o.out, clientId: o.clientId, root: o.topicRoot, log: stamp }).start()
        } catch (e: any) {
            fail(EXIT.usage, `cannot write to ${o.out}: ${e.message}`)
        }
        stamp(`archiving ${o.mqtt} ${o.topicRoot}/+/... into ${o.out} (Ctrl-C to stop)`)
        const line = () => {
            for (const [id, d] of arch.devices) {
                const s = d.summary
                stamp(`${id}: ${s.samples} samples, ${s.events} events, ${s.lostBatches} lost batch(es), ${s.lostMessages} lost message(s), ${s.duplicates} duplicate(s) dropped`)
            }
        }
        const progress = setInterval(line, 30000)
        await new Promise<void>(resolve => {
            process.once("SIGINT", resolve)
            process.once("SIGTERM", resolve)
            if (o.duration) setTimeout(resolve, o.duration * 1000)
        })
        clearInterval(progress)
        await arch.stop("stopped")
        line()
        process.exit(EXIT.ok)
    })

/** the simulator's control port (sim/interactive.ts) */
const SIM_CONTROL_PORT = 8084
const SIM_INPUTS = ["confirm", "leak-pedal", "estop"]

program
    .command("sim")
    .description("simulator only: press the simulated device's local inputs (confirm button, leak pedal, e-stop) of `npm start -- --interactive`")
    .argument("<action>", "press")
    .argument("<input>", SIM_INPUTS.join(" | "))
    .option("--release", "release a held input (the e-stop stays pressed until released)")
    .option("--ms <ms>", "how long a momentary press lasts, ms", "150")
    .option("--sim-port <n>", "the simulator's control port", port, SIM_CONTROL_PORT)
    .addHelpText(
        "after",
        `
Examples:
  npx injector sim press confirm              the local confirm button (after \`injector send start\` asked for it)
  npx injector sim press leak-pedal           the leak-seen pedal
  npx injector sim press estop                e-stop, held down ...
  npx injector sim press estop --release      ... until released

A real device has no such port: press its buttons. Exit: 0 pressed, 2 usage, 3 no simulator running.`
    )
    .action(async (action: string, input: string, o, cmd) => {
        const g = cmd.optsWithGlobals()
        if (action !== "press") fail(EXIT.usage, `sim: unknown action "${action}" (only: press)`)
        if (!SIM_INPUTS.includes(input)) fail(EXIT.usage, `sim press: unknown input "${input}": one of ${SIM_INPUTS.join(", ")}`)
        if (g.serial)
            fail(EXIT.usage, `sim press works with the simulator only; ${g.serial} is a real device: press its ${input} yourself`)
        let host = "127.0.0.1"
        try {
            host = parseTcp(g.tcp).host
        } catch (e: any) {
            fail(EXIT.usage, e.message)
        }
        const base = `http://${host}:${o.simPort}`
        let info: any
        try {
            info = await (await fetch(`${base}/`, { signal: AbortSignal.timeout(3000) })).json()
        } catch {
            fail(
                EXIT.nodevice,
                `no simulator on ${host}:${o.simPort}: \`injector sim\` presses the simulated inputs of \`npm start -- --interactive\` only; on a real device press its ${input} yourself`
            )
        }
        if (!info?.simulator) fail(EXIT.nodevice, `${host}:${o.simPort} is not the simulator's control port`)
        const q = o.release ? "?release=1" : `?ms=${encodeURIComponent(o.ms)}`
        const r = await fetch(`${base}/press/${input}${q}`, { method: "POST", signal: AbortSignal.timeout(8000) })
        const body: any = await r.json().catch(() => ({}))
        if (!r.ok) fail(EXIT.usage, `sim press ${input}: ${body.error ?? r.status}`)
        console.log(`simulated ${input}: ${body.action}`)
        process.exit(EXIT.ok)
    })

async function main() {
    try {
        injectorSpec()
    } catch (e: any) {
        if (e instanceof SpecError) fail(EXIT.usage, e.message)
        throw e
    }
    try {
        await program.parseAsync(process.argv)
    } catch (e: any) {
        if (e instanceof CommanderError) process.exit(e.exitCode === 0 ? 0 : EXIT.usage)
        if (e instanceof UsageError) fail(EXIT.usage, e.message)
        fail(1, e?.stack ?? String(e))
    }
}

main()
