// `npm start -- --interactive [scenario]`: the firmware in the DeviceScript VM
// with the bench hardware and physics, set up (calibrated, level, cap, flow,
// cement mixed, armed) and then left to a person: drive it with
// `npx injector send ...` from another terminal, and press its simulated
// local inputs with `npx injector sim press confirm|leak-pedal|estop`.
// Runs until Ctrl-C. A scenario file or name gives the setup and the physics
// (its actions and duration are not used); the default is a lumbar level
// with room for a few minutes of injection.
//
// The simulated buttons are reachable from other processes through a small
// HTTP endpoint on 127.0.0.1:8084 (SIM_CONTROL_PORT), loopback only, which
// exists only here: on a real device `injector sim` finds nothing and says so.
import "./harness/quiet" // first: filters jacdac-ts log noise
import { createServer, IncomingMessage, Server, ServerResponse } from "node:http"
import { existsSync } from "node:fs"
import { join } from "node:path"
import { parseArgs } from "node:util"
import { ScenarioRunner } from "./harness/runner"
import { loadScenario, rigConfig, Scenario, ScenarioError, validateScenario } from "./harness/scenario"
import { BenchSession } from "./harness/session"
import { formatLive } from "./harness/view"

export const SIM_CONTROL_PORT = 8084
/** the inputs `injector sim press` can reach, by their CLI names */
export const SIM_BUTTONS = { confirm: "confirm", "leak-pedal": "leakPedal", estop: "estop" } as const

// validated as a scenario (at most 600 s), then open-ended: only the live view reads durationS
const DEFAULT: Scenario = {
    ...validateScenario({
    name: "interactive",
    description: "L1, 20 mL syringe, 14 G needle, cement mixed 4 min ago, 5 mL cap at 2 mL/min: 2.5 min of injection",
    durationS: 600,
    level: "L1",
    syringe: { preset: "20mL" },
    needle: { gauge: 14, lengthMm: 100 },
    cement: { mixedAtS: -240 },
    benchMode: false,
    flowMlPerMin: 2,
    actions: [],
    }),
    durationS: 3600,
}

const HELP = `usage: npm start -- --interactive [scenario name or file] [--port 8084]

Sets the simulated injector up (calibrated, level, cap, flow, cement mixed,
armed: state ready) and leaves it to you until Ctrl-C. From another terminal:

  npx injector monitor                   watch it
  npx injector send start                asks for the local confirm ...
  npx injector sim press confirm         ... pressed on the simulated device
  npx injector send leak-seen            a leak pause (or: npx injector sim press leak-pedal)
  npx injector send resume               after the 3 s hold, then press confirm again
  npx injector sim press estop           e-stop (held until: npx injector sim press estop --release)

Default setup: ${DEFAULT.description}.`

/** Resolves a scenario name (sim/scenarios/<name>.json) or a path. */
export function scenarioPath(nameOrFile: string): string {
    if (existsSync(nameOrFile)) return nameOrFile
    const p = join(__dirname, "scenarios", `${nameOrFile.replace(/\.json$/, "")}.json`)
    if (existsSync(p)) return p
    throw new ScenarioError([`no scenario "${nameOrFile}" (neither a file nor sim/scenarios/${nameOrFile}.json)`])
}

/** The control endpoint: POST /press/<button>[?release=1][&ms=150]. */
export function controlServer(session: BenchSession, port: number): Promise<Server> {
    const server = createServer(async (req: IncomingMessage, res: ServerResponse) => {
        const reply = (code: number, body: object) => {
            res.writeHead(code, { "content-type": "application/json" })
            res.end(JSON.stringify(body))
        }
        try {
            const url = new URL(req.url ?? "/", "http://127.0.0.1")
            if (req.method === "GET" && url.pathname === "/") {
                return reply(200, { simulator: true, injector: session.link.deviceId ?? null, buttons: Object.keys(SIM_BUTTONS) })
            }
            const m = /^\/press\/([a-z-]+)$/.exec(url.pathname)
            if (req.method !== "POST" || !m) return reply(404, { error: "POST /press/<confirm|leak-pedal|estop>" })
            const role = SIM_BUTTONS[m[1] as keyof typeof SIM_BUTTONS]
            if (!role) return reply(400, { error: `unknown input "${m[1]}": one of ${Object.keys(SIM_BUTTONS).join(", ")}` })
            const b = session.device.button(role)
            const release = url.searchParams.get("release") === "1"
            if (release) {
                const was = b.pressed
                await b.up()
                return reply(200, { button: m[1], action: was ? "released" : "was not held" })
            }
            if (role === "estop") {
                // an e-stop stays pressed until released
                await b.down()
                return reply(200, { button: m[1], action: "held down (release with --release)" })
            }
            const ms = Math.max(20, Math.min(5000, Number(url.searchParams.get("ms") ?? 150) || 150))
            await b.press(ms)
            return reply(200, { button: m[1], action: `pressed for ${ms} ms` })
        } catch (e) {
            return reply(500, { error: (e as Error).message })
        }
    })
    return new Promise((resolve, reject) => {
        server.once("error", reject)
        server.listen(port, "127.0.0.1", () => resolve(server))
    })
}

async function main(): Promise<number> {
    let args
    try {
        args = parseArgs({
            allowPositionals: true,
            options: {
                port: { type: "string", default: String(SIM_CONTROL_PORT) },
                help: { type: "boolean", short: "h", default: false },
                rebuild: { type: "boolean", default: false },
            },
        })
    } catch (e) {
        console.error(`${(e as Error).message}\n\n${HELP}`)
        return 2
    }
    if (args.values.help) {
        console.log(HELP)
        return 0
    }
    let sc = DEFAULT
    if (args.positionals.length > 1) {
        console.error(`one scenario at most\n\n${HELP}`)
        return 2
    }
    if (args.positionals.length === 1) {
        try {
            // its setup and physics; not its actions, faults or duration
            sc = { ...loadScenario(scenarioPath(args.positionals[0])), actions: [], faults: [], durationS: 3600 }
        } catch (e) {
            if (e instanceof ScenarioError) {
                console.error(`invalid scenario: ${e.message}`)
                return 2
            }
            throw e
        }
    }
    const port = Number(args.values.port)
    const log = (m: string) => console.error(m)
    const session = await BenchSession.open({ log, rebuild: args.values.rebuild })
    let control: Server | undefined
    try {
        control = await controlServer(session, port).catch(e => {
            throw new Error(`cannot open the simulator's control port 127.0.0.1:${port}: ${(e as Error).message}`)
        })
        const runner = new ScenarioRunner(session)
        log(`${sc.name}: starting firmware`)
        await session.startFirmware()
        session.installRig({ seed: 1001 })
        log(`${sc.name}: calibrating and setting up (level ${sc.level})`)
        for (let attempt = 1; ; attempt++) {
            try {
                // a retry first clears a fault (e.g. a stale sensor after a VM stall on a loaded machine)
                await runner.setup(sc, attempt > 1)
                break
            } catch (e) {
                if (attempt >= 3) throw e
                log(`${sc.name}: setup failed (${(e as Error).message}); again`)
            }
        }
        session.installRig(rigConfig(sc))
        console.log(
            `\nready: the injector is armed on tcp 127.0.0.1:8082 (level ${sc.level}). In another terminal:\n` +
                `  npx injector send start    then   npx injector sim press confirm\n` +
                `  npx injector send leak-seen | pause | resume | abort ...   (Ctrl-C here ends the simulation)\n`
        )
        const tty = !!process.stdout.isTTY
        const view = setInterval(() => formatLive({ ...runner.view(sc), durationS: Infinity }, tty), 200)
        await new Promise<void>(resolve => {
            process.once("SIGINT", () => resolve())
            process.once("SIGTERM", () => resolve())
        })
        clearInterval(view)
        return 0
    } finally {
        control?.close()
        await session.close()
    }
}

if (require.main === module)
    main().then(
        code => process.exit(code),
        e => {
            console.error(`simulator error: ${(e as Error).stack ?? e}`)
            process.exit(1)
        }
    )
