#!/usr/bin/env node
// `npm start`: runs one scenario closed-loop against the firmware in the
// DeviceScript VM with a live console view (state, volume / cap, pressure,
// flow, events), then prints the result summary and exits 0.
//   npm start                        the default scenario (C2, venous leak, pedal, resume, cap)
//   npm start -- <scenario.json>     another one (sim/scenarios/*.json)
// The firmware is built first when needed (devicescript build src/main.ts).
// Other options are those of `npm run sim -- --help`.
import { spawn } from "node:child_process"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"

const root = join(dirname(fileURLToPath(import.meta.url)), "..")
const args = process.argv.slice(2)
const scenario = args.find(a => a.endsWith(".json")) ?? "sim/scenarios/c2-venous-leak.json"
const rest = args.filter(a => a !== scenario)

const child = spawn(
    process.execPath,
    ["--import", "tsx", "sim/run.ts", scenario, "--live", "--out", "out/sim/start-result.json", ...rest],
    { cwd: root, stdio: "inherit" }
)
// Ctrl-C reaches the child through the terminal; the bench kills its hub and VM
for (const sig of ["SIGINT", "SIGTERM"]) process.on(sig, () => child.kill(sig))
child.on("exit", code => process.exit(code === null ? 1 : code))
