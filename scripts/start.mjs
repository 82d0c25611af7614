#!/usr/bin/env node
// `npm start`: runs one scenario closed-loop against the firmware in the
// DeviceScript VM with a live console view (state, volume / cap, pressure,
// flow, events), then prints the result summary and exits 0.
//   npm start                        the default scenario (c2-leak-managed: a small venous
//                                    leak seen early, pedal, resume, cap)
//   npm start -- <name | file.json>  another one (a bare name: sim/scenarios/<name>.json)
// The firmware is built first when needed (devicescript build src/main.ts).
// Other options are those of `npm run sim -- --help`.
import { spawn } from "node:child_process"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"

const root = join(dirname(fileURLToPath(import.meta.url)), "..")
const args = process.argv.slice(2)
// the scenario: the first argument that is neither an option nor an option's value
const VALUED = new Set(["-o", "--out", "-d", "--out-dir", "-t", "--trace", "-s", "--seed", "--firmware"])
const at = args.findIndex((a, i) => !a.startsWith("-") && !VALUED.has(args[i - 1]))
const scenario = at >= 0 ? args[at] : "c2-leak-managed"
const rest = args.filter((_, i) => i !== at)

const child = spawn(
    process.execPath,
    ["--import", "tsx", "sim/run.ts", scenario, "--live", "--out", "out/sim/start-result.json", ...rest],
    { cwd: root, stdio: "inherit" }
)
// Ctrl-C reaches the child through the terminal; the bench kills its hub and VM
for (const sig of ["SIGINT", "SIGTERM"]) process.on(sig, () => child.kill(sig))
child.on("exit", code => process.exit(code === null ? 1 : code))
