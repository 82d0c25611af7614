// `npm run sim -- <scenario.json|name>... [--seed N] [--out result.json] [--realtime]`
// Runs scenarios closed-loop against the firmware in the DeviceScript VM.
// Lockstep by default (SIM-4: one process, one virtual clock, deterministic:
// the same scenario and seed give the same result file byte for byte);
// --realtime runs the devtools hub and a VM process in wall-clock time.
// Exits 0 when the scenarios ran, whatever their verdict (the verdict is in
// the result); 2 for a bad scenario file or bad arguments; 1 when the bench
// itself failed. Nothing here imports jacdac-ts statically: the lockstep
// clock must be installed before it loads, and only in lockstep runs.
import { existsSync, mkdirSync, writeFileSync } from "node:fs"
import { dirname, join } from "node:path"
import { parseArgs } from "node:util"
import { loadScenario, ScenarioError } from "./harness/scenario"
import type { ScenarioResult } from "./harness/runner"

const HELP = `usage: npm run sim -- <scenario.json | library name>... [options]

Runs scenarios closed-loop against the firmware (src/main.ts) in the
DeviceScript VM, with the physics model serving the load cell, encoder,
motor and buttons on the Jacdac bus. Scenario format: docs/simulator.md.
A bare name (c2-normal) means sim/scenarios/<name>.json.

Lockstep by default: the VM, the bus, the plant and the timeline share one
virtual clock in this process, with the transport modelled (seeded); a run
takes a fraction of its duration and the result file is the same byte for
byte for the same scenario and seed.

options:
  -o, --out <file>     write the result (JSON) here (one scenario)
  -d, --out-dir <dir>  write <name>.json results (and traces) into <dir>
  -t, --trace <file>   write a per-sample trace (CSV) here
  -s, --seed <n>       override the scenario's seed (noise, transport, ids)
  -l, --live           show a live console view while it runs
  -q, --quiet          print only the verdict line
      --realtime       wall-clock run: devtools hub + VM process (ports 8081-8083)
      --rebuild        rebuild the firmware even if it looks current
      --firmware <f>   run this compiled bytecode (.devs) instead of src/main.ts
                       (default: $SIM_FIRMWARE when set)
      --validate       only validate the scenario files
  -h, --help           this text

exit status: 0 the scenario ran (see "verdict" in the result), 1 the bench
failed (hub, VM, role binding), 2 bad arguments or scenario file.`

/** A library name (c2-normal) or a path. */
export function resolveScenarioPath(arg: string): string {
    if (existsSync(arg) || arg.includes("/") || arg.endsWith(".json")) return arg
    return join(__dirname, "scenarios", `${arg}.json`)
}

async function main(): Promise<number> {
    let args
    try {
        args = parseArgs({
            allowPositionals: true,
            options: {
                out: { type: "string", short: "o" },
                "out-dir": { type: "string", short: "d" },
                trace: { type: "string", short: "t" },
                seed: { type: "string", short: "s" },
                live: { type: "boolean", short: "l", default: false },
                quiet: { type: "boolean", short: "q", default: false },
                rebuild: { type: "boolean", default: false },
                realtime: { type: "boolean", default: false },
                firmware: { type: "string" },
                validate: { type: "boolean", default: false },
                help: { type: "boolean", short: "h", default: false },
            },
        })
    } catch (e) {
        console.error(`${(e as Error).message}\n\n${HELP}`)
        return 2
    }
    const { values, positionals } = args
    if (values.help) {
        console.log(HELP)
        return 0
    }
    if (positionals.length < 1) {
        console.error(`expected a scenario file\n\n${HELP}`)
        return 2
    }
    if (positionals.length > 1 && (values.out || values.trace)) {
        console.error("--out and --trace take one scenario; use --out-dir for several")
        return 2
    }
    // SIM_FIRMWARE: the same override as the tests' (a host test runs this CLI)
    values.firmware ??= process.env.SIM_FIRMWARE
    const seed = values.seed === undefined ? undefined : Number(values.seed)
    if (seed !== undefined && !(Number.isInteger(seed) && seed >= 0)) {
        console.error(`--seed must be a non-negative integer, got ${values.seed}`)
        return 2
    }
    const scenarios = []
    for (const arg of positionals) {
        const file = resolveScenarioPath(arg)
        try {
            scenarios.push({ file, sc: loadScenario(file) })
        } catch (e) {
            if (e instanceof ScenarioError) {
                console.error(`invalid scenario ${file}:\n${e.message}`)
                return 2
            }
            throw e
        }
    }
    if (values.validate) {
        for (const { file, sc } of scenarios) console.log(`${file}: ok (${sc.name})`)
        return 0
    }
    const log = values.quiet ? () => {} : (m: string) => console.error(m)
    const live = values.live && process.stdout.isTTY
    const { formatLive, formatSummary, leakWarning } = await import("./harness/view")
    const { traceCsv } = await import("./harness/runner")
    let failed = false
    const report = (result: ScenarioResult, trace: Parameters<typeof traceCsv>[0], telemetry: Parameters<typeof traceCsv>[1], t0Wall: number) => {
        const dir = values["out-dir"]
        const out = values.out ?? (dir ? join(dir, `${result.name}.json`) : undefined)
        const tracePath = values.trace ?? (dir ? join(dir, `${result.name}.trace.csv`) : undefined)
        if (out) {
            mkdirSync(dirname(out), { recursive: true })
            writeFileSync(out, JSON.stringify(result, null, 2) + "\n")
        }
        if (tracePath) {
            mkdirSync(dirname(tracePath), { recursive: true })
            writeFileSync(tracePath, traceCsv(trace, telemetry, t0Wall))
        }
        if (values.quiet) console.log(`${result.name}: ${result.verdict.pass ? "PASS" : "FAIL"}${result.verdict.pass ? "" : "  " + result.verdict.failures.join("; ")}${leakWarning(result)}`)
        else console.log(formatSummary(result))
        if (!result.ok) failed = true
    }
    const runOpts = (file: string) => ({
        file,
        trace: !!values.trace || !!values["out-dir"],
        seed,
        log,
        onView: values.live ? (v: import("./harness/runner").LiveView) => formatLive(v, !!live) : undefined,
    })
    if (!values.realtime) {
        const { runLockstep } = await import("./lockstep/run")
        for (const { file, sc } of scenarios) {
            const r = await runLockstep(sc, { ...runOpts(file), firmware: values.firmware })
            report(r.result, r.trace, r.telemetry, r.t0Wall)
            if (!values.quiet)
                console.log(`  lockstep: ${(r.virtualMs / 1000).toFixed(1)} s virtual in ${(r.wallMs / 1000).toFixed(2)} s wall (${(r.virtualMs / r.wallMs).toFixed(1)}x real time)`)
        }
        return failed ? 1 : 0
    }
    // the hardware timing model exists only on the virtual clock (sim/lockstep/hwpins.ts)
    const hwTimed = scenarios.filter(x => (x.sc.timing ?? process.env.SIM_TIMING) === "hardware")
    if (hwTimed.length) {
        console.error(`${hwTimed.map(x => x.file).join(", ")}: timing "hardware" is a lockstep model; run without --realtime`)
        return 2
    }
    await import("./harness/quiet")
    const { ScenarioRunner } = await import("./harness/runner")
    const { BenchSession } = await import("./harness/session")
    const session = await BenchSession.open({ log: values.quiet ? undefined : log, rebuild: values.rebuild, firmware: values.firmware })
    try {
        const runner = new ScenarioRunner(session)
        for (const { file, sc } of scenarios) {
            const { result, trace, telemetry } = await runner.run(sc, runOpts(file))
            report(result, trace, telemetry, session.plant.t0Wall)
        }
        return failed ? 1 : 0
    } finally {
        await session.close()
    }
}

main().then(
    code => process.exit(code),
    e => {
        console.error(`bench error: ${(e as Error).stack ?? e}`)
        process.exit(1)
    }
)
