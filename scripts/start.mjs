#!/usr/bin/env node
// `npm start`: runs one scenario closed-loop against the firmware in the
// DeviceScript VM with a live console view (state, volume / cap, pressure,
// flow, events), then prints the result summary and exits 0.
//   npm start                          the default scenario (C2, venous leak, pedal, resume, cap)
//   npm start -- <name>                sim/scenarios/<name>.json (or a path to a scenario file)
//   npm start -- --interactive [name]  set up and armed, then driven by hand until Ctrl-C:
//                                      npx injector send ..., npx injector sim press confirm|leak-pedal|estop
// The firmware is built first when needed (devicescript build src/main.ts).
// Other options are those of `npm run sim -- --help`.
import { spawn } from "node:child_process"
import { existsSync } from "node:fs"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"

const root = join(dirname(fileURLToPath(import.meta.url)), "..")
const args = process.argv.slice(2)
const interactive = args.includes("--interactive")
const rest = args.filter(a => a !== "--interactive")

/** A scenario by name (sim/scenarios/<name>.json) or by path. */
function scenarioFile(a) {
    if (a.endsWith(".json")) return a
    const p = join("sim", "scenarios", `${a}.json`)
    if (existsSync(join(root, p))) return p
    return undefined
}

// the first argument that is not an option (or an option's value) names the scenario
const valued = new Set(["-o", "--out", "-d", "--out-dir", "-t", "--trace", "-s", "--seed", "--firmware", "--port"])
let scenarioIdx = -1
for (let i = 0; i < rest.length; i++) {
    if (valued.has(rest[i])) i++
    else if (!rest[i].startsWith("-")) {
        scenarioIdx = i
        break
    }
}
let scenario
if (scenarioIdx >= 0) {
    scenario = scenarioFile(rest[scenarioIdx])
    if (!scenario) {
        console.error(`npm start: no scenario "${rest[scenarioIdx]}": neither a .json file nor sim/scenarios/${rest[scenarioIdx]}.json`)
        process.exit(2)
    }
    rest.splice(scenarioIdx, 1)
}

const argv = interactive
    ? ["--import", "tsx", "sim/interactive.ts", ...(scenario ? [scenario] : []), ...rest]
    : ["--import", "tsx", "sim/run.ts", scenario ?? "sim/scenarios/c2-venous-leak.json", "--live", "--out", "out/sim/start-result.json", ...rest]
const child = spawn(process.execPath, argv, { cwd: root, stdio: "inherit" })
// Ctrl-C reaches the child through the terminal; the bench kills its hub and VM
for (const sig of ["SIGINT", "SIGTERM"]) process.on(sig, () => child.kill(sig))
child.on("exit", code => process.exit(code === null ? 1 : code))
