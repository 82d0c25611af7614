// `npm run sim -- <scenario.json> [--out result.json] [--trace trace.csv]`
// Runs one scenario closed-loop against the firmware in the DeviceScript VM
// (devtools hub + VM + simulated hardware in this process). Exits 0 when the
// scenario ran, whatever its verdict (the verdict is in the result); 2 for a
// bad scenario file or bad arguments; 1 when the bench itself failed.
import "./harness/quiet" // first: filters jacdac-ts log noise
import { mkdirSync, writeFileSync } from "node:fs"
import { dirname, join } from "node:path"
import { parseArgs } from "node:util"
import { loadScenario, ScenarioError } from "./harness/scenario"
import { ScenarioRunner, traceCsv } from "./harness/runner"
import { BenchSession } from "./harness/session"
import { formatLive, formatSummary } from "./harness/view"

const HELP = `usage: npm run sim -- <scenario.json>... [options]

Runs one scenario closed-loop against the firmware (src/main.ts) in the
DeviceScript VM, with the physics model serving the load cell, encoder,
motor and buttons on the Jacdac bus. Scenario format: docs/simulator.md.

Several files run one after the other on one hub (a fresh firmware VM each).

options:
  -o, --out <file>     write the result (JSON) here (one scenario)
  -d, --out-dir <dir>  write <name>.json results (and traces) into <dir>
  -t, --trace <file>   write a per-sample trace (CSV) here
  -s, --seed <n>       override the scenario's noise seed
  -l, --live           show a live console view while it runs
  -q, --quiet          print only the verdict line
      --rebuild        rebuild the firmware even if it looks current
      --firmware <f>   run this compiled bytecode (.devs) instead of src/main.ts
      --validate       only validate the scenario file
  -h, --help           this text

exit status: 0 the scenario ran (see "verdict" in the result), 1 the bench
failed (hub, VM, role binding), 2 bad arguments or scenario file.`

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
    const seed = values.seed === undefined ? undefined : Number(values.seed)
    if (seed !== undefined && !(Number.isInteger(seed) && seed >= 0)) {
        console.error(`--seed must be a non-negative integer, got ${values.seed}`)
        return 2
    }
    const scenarios = []
    for (const file of positionals) {
        try {
            scenarios.push({ file, sc: loadScenario(file) })
        } catch (e) {
            if (e instanceof ScenarioError) {
                console.error(`invalid scenario: ${e.message}`)
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
    const session = await BenchSession.open({ log: values.quiet ? undefined : log, rebuild: values.rebuild, firmware: values.firmware })
    let failed = false
    try {
        const runner = new ScenarioRunner(session)
        const live = values.live && process.stdout.isTTY
        for (const { file, sc } of scenarios) {
            const { result, trace, telemetry } = await runner.run(sc, {
                file,
                trace: !!values.trace || !!values["out-dir"],
                seed,
                log,
                onView: values.live ? v => formatLive(v, !!live) : undefined,
            })
            const dir = values["out-dir"]
            const out = values.out ?? (dir ? join(dir, `${result.name}.json`) : undefined)
            const tracePath = values.trace ?? (dir ? join(dir, `${result.name}.trace.csv`) : undefined)
            if (out) {
                mkdirSync(dirname(out), { recursive: true })
                writeFileSync(out, JSON.stringify(result, null, 2) + "\n")
            }
            if (tracePath) {
                mkdirSync(dirname(tracePath), { recursive: true })
                writeFileSync(tracePath, traceCsv(trace, telemetry, session.plant.t0Wall))
            }
            if (values.quiet) console.log(`${result.name}: ${result.verdict.pass ? "PASS" : "FAIL"}${result.verdict.pass ? "" : "  " + result.verdict.failures.join("; ")}`)
            else console.log(formatSummary(result))
            if (!result.ok) failed = true
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
