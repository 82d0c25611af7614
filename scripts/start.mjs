#!/usr/bin/env node
// `npm start`: runs one scenario closed-loop against the firmware in the
// DeviceScript VM with a live console view (state, volume / cap, pressure,
// flow, events), then prints the result summary and exits 0.
//   npm start                        the default scenario (c2-leak-managed: a small venous
//                                    leak seen early, pedal, resume, cap)
//   npm start -- <name | file.json>  another one (a bare name: sim/scenarios/<name>.json)
//   npm start -- --lockstep          on the virtual clock (fast, no hub: host tools cannot connect)
//   npm start -- --interactive [name]  set up and armed, then driven by hand until Ctrl-C:
//                                    npx injector send ..., npx injector sim press confirm|leak-pedal|estop
// Real time by default: the devtools hub on tcp 127.0.0.1:8082 lets
// `npx injector record / monitor / dashboard` watch the run.
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
const lockstep = args.includes("--lockstep")
const interactive = args.includes("--interactive")
const rest = args.filter((a, i) => i !== at && a !== "--lockstep" && a !== "--interactive")

const argv = interactive
    ? ["--import", "tsx", "sim/interactive.ts", ...(at >= 0 ? [scenario] : []), ...rest]
    : ["--import", "tsx", "sim/run.ts", scenario, "--live", "--out", "out/sim/start-result.json", ...(lockstep ? [] : ["--realtime"]), ...rest]
const child = spawn(process.execPath, argv, { cwd: root, stdio: "inherit" })
// Ctrl-C reaches the child through the terminal; the bench kills its hub and VM
for (const sig of ["SIGINT", "SIGTERM"]) process.on(sig, () => child.kill(sig))
child.on("exit", code => process.exit(code === null ? 1 : code))
