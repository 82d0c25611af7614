// Child processes of the bench: the devtools hub (Jacdac bus on ws 8081 /
// tcp 8082 / dbg 8083) and the DeviceScript WASM VM running the firmware.
// Each child is started detached (its own process group) and killed by
// group on stop, on process exit and on SIGINT/SIGTERM, so no hub or VM
// outlives the bench.
import { ChildProcess, spawn, spawnSync } from "node:child_process"
import { copyFileSync, createWriteStream, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync, WriteStream } from "node:fs"
import { connect } from "node:net"
import { basename, join, resolve } from "node:path"

/** Project root (the folder holding package.json, src/ and sim/). */
export const ROOT = resolve(__dirname, "..", "..")
/** Bench outputs: built firmware copy, the VM's private flash, logs. */
export const OUT_DIR = join(ROOT, "out", "sim")
export const HUB_PORTS = [8081, 8082, 8083]
export const HUB_TCP_PORT = 8082

export function cliPath(): string {
    return join(ROOT, "node_modules", "@devicescript", "cli", "built", "devicescript-cli.cjs")
}

// ------------------------------------------------------------------ groups

const live = new Set<ChildProcess>()
let hooked = false

function killGroup(child: ChildProcess, signal: NodeJS.Signals) {
    if (child.pid === undefined) return
    try {
        process.kill(-child.pid, signal)
    } catch {
        try {
            child.kill(signal)
        } catch {
            /* already gone */
        }
    }
}

/** Kill every child group still alive (synchronous: usable from 'exit'). */
export function killAllChildren() {
    for (const c of live) killGroup(c, "SIGKILL")
    live.clear()
}

function hookExit() {
    if (hooked) return
    hooked = true
    process.on("exit", killAllChildren)
    for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as NodeJS.Signals[])
        process.on(sig, () => {
            killAllChildren()
            process.exit(130)
        })
}

export interface Child {
    proc: ChildProcess
    name: string
    exited: Promise<number | null>
    isAlive(): boolean
    /** lines of output kept in memory (last 400) */
    lines: string[]
    stop(): Promise<void>
}

function startChild(name: string, args: string[], cwd: string, logFile?: string): Child {
    hookExit()
    const proc = spawn(process.execPath, args, {
        cwd,
        detached: true,
        stdio: ["ignore", "pipe", "pipe"],
        env: { ...process.env, FORCE_COLOR: "0", NO_COLOR: "1" },
    })
    live.add(proc)
    let log: WriteStream | undefined
    if (logFile) log = createWriteStream(logFile)
    const lines: string[] = []
    let alive = true
    const onData = (d: Buffer) => {
        log?.write(d)
        for (const l of d.toString("utf8").split("\n")) {
            if (!l.trim()) continue
            lines.push(l.replace(/\x1b\[[0-9;]*m/g, ""))
            if (lines.length > 400) lines.splice(0, 200)
        }
    }
    proc.stdout!.on("data", onData)
    proc.stderr!.on("data", onData)
    const exited = new Promise<number | null>(res =>
        proc.on("exit", code => {
            alive = false
            live.delete(proc)
            log?.end()
            res(code)
        })
    )
    return {
        proc,
        name,
        exited,
        lines,
        isAlive: () => alive,
        async stop() {
            if (!alive) return
            killGroup(proc, "SIGTERM")
            const t = setTimeout(() => killGroup(proc, "SIGKILL"), 1500)
            await exited
            clearTimeout(t)
        },
    }
}

// ------------------------------------------------------------------ ports

export function portOpen(port: number, host = "127.0.0.1"): Promise<boolean> {
    return new Promise(res => {
        const s = connect(port, host)
        s.once("connect", () => {
            s.destroy()
            res(true)
        })
        s.once("error", () => res(false))
    })
}

export async function busyPorts(): Promise<number[]> {
    const out: number[] = []
    for (const p of HUB_PORTS) if (await portOpen(p)) out.push(p)
    return out
}

const sleep = (ms: number) => new Promise(r => setTimeout(r, ms))

// ------------------------------------------------------------------ firmware build

function newestMtime(dir: string, exts: string[]): number {
    let t = 0
    if (!existsSync(dir)) return t
    for (const name of readdirSync(dir)) {
        const p = join(dir, name)
        const st = statSync(p)
        if (st.isDirectory()) t = Math.max(t, newestMtime(p, exts))
        else if (exts.some(e => name.endsWith(e))) t = Math.max(t, st.mtimeMs)
    }
    return t
}

export interface FirmwareFiles {
    bytecode: string
    services: string
}

/**
 * Build src/main.ts with `devicescript build` when the bench's copy is
 * missing or older than any source, then copy bytecode and service specs
 * into out/sim (so a concurrent build elsewhere cannot swap them mid-run).
 */
export function ensureFirmware(opts: { force?: boolean; quiet?: boolean; entry?: string } = {}): FirmwareFiles {
    mkdirSync(OUT_DIR, { recursive: true })
    // the bench's firmware is src/main.ts; the lockstep "hardware" timing model builds src/main_hwsim.ts
    const entry = opts.entry ?? "src/main.ts"
    const tag = entry === "src/main.ts" ? "" : "-" + basename(entry, ".ts")
    const bytecode = join(OUT_DIR, `firmware${tag}.devs`)
    const services = join(OUT_DIR, "services.json")
    const srcT = Math.max(
        newestMtime(join(ROOT, "src"), [".ts"]),
        newestMtime(join(ROOT, "services"), [".md"]),
        existsSync(join(ROOT, "devsconfig.json")) ? statSync(join(ROOT, "devsconfig.json")).mtimeMs : 0
    )
    const fresh = existsSync(bytecode) && existsSync(services) && statSync(bytecode).mtimeMs >= srcT
    if (fresh && !opts.force) return { bytecode, services }
    // builds share .devicescript/bin: a concurrent build of the other entry can
    // swap the output between build and copy, so the copy is checked (only the
    // hardware-timing build prints the bench's "#HW" pin lines) and retried
    const wantHw = tag !== ""
    for (let attempt = 1; ; attempt++) {
        if (!opts.quiet) console.error(`bench: building firmware (devicescript build ${entry})...`)
        const r = spawnSync(process.execPath, [cliPath(), "build", entry, "--quiet"], {
            cwd: ROOT,
            encoding: "utf8",
            env: { ...process.env, FORCE_COLOR: "0" },
        })
        if (r.status !== 0) throw new Error(`firmware build failed:\n${r.stdout}\n${r.stderr}`)
        const built = readFileSync(join(ROOT, ".devicescript", "bin", "bytecode.devs"))
        if (built.includes("#HW") === wantHw) {
            const tmp = `${bytecode}.${process.pid}.tmp`
            writeFileSync(tmp, built)
            renameSync(tmp, bytecode)
            break
        }
        if (attempt >= 3) throw new Error(`firmware build of ${entry}: the output was replaced by a concurrent build 3 times`)
    }
    copyFileSync(join(ROOT, ".devicescript", "services.json"), services)
    return { bytecode, services }
}

// ------------------------------------------------------------------ hub and VM

/**
 * Start the devtools hub. Its ports are fixed (8081-8083), so only one bench
 * can run at a time on a machine: with `waitMs` > 0 a busy port is waited
 * for (another bench finishing), otherwise it is an error.
 */
export async function startHub(opts: { waitMs?: number; log?: (m: string) => void } = {}, logDir = join(OUT_DIR, "logs")): Promise<Child> {
    let busy = await busyPorts()
    const tWait = Date.now()
    if (busy.length && opts.waitMs) opts.log?.(`bench: port(s) ${busy.join(", ")} in use (another bench or devtools hub); waiting up to ${Math.round(opts.waitMs / 1000)} s`)
    while (busy.length && Date.now() - tWait < (opts.waitMs ?? 0)) {
        await sleep(1000)
        busy = await busyPorts()
    }
    if (busy.length)
        throw new Error(
            `bench: port(s) ${busy.join(", ")} already in use: another devtools hub (or bench) is running. ` +
                `Stop it first (ss -ltnp | grep 808).`
        )
    mkdirSync(logDir, { recursive: true })
    // -r nodelay.cjs: TCP_NODELAY on the hub's sockets (see that file)
    const hub = startChild("hub", ["-r", join(__dirname, "nodelay.cjs"), cliPath(), "devtools"], ROOT, join(logDir, "hub.log"))
    const t0 = Date.now()
    while (!(await portOpen(HUB_TCP_PORT))) {
        if (!hub.isAlive()) throw new Error(`devtools hub exited:\n${hub.lines.join("\n")}`)
        if (Date.now() - t0 > 20000) {
            await hub.stop()
            throw new Error(`devtools hub did not open tcp ${HUB_TCP_PORT} within 20 s`)
        }
        await sleep(100)
    }
    return hub
}

export interface VmOptions {
    bytecode: string
    /** 16 hex digits; keep it across a restart so the device is the same */
    deviceId: string
    /** folder whose .devicescript/flash/sim.bin is the VM's flash */
    cwd: string
    /** delete the simulated flash first (settings and last program) */
    clearFlash: boolean
    logFile?: string
}

export function vmFlashFile(cwd: string) {
    return join(cwd, ".devicescript", "flash", "sim.bin")
}

export async function startVm(o: VmOptions): Promise<Child> {
    mkdirSync(o.cwd, { recursive: true })
    if (o.clearFlash) rmSync(vmFlashFile(o.cwd), { force: true })
    const vm = startChild(
        "vm",
        [cliPath(), "run", o.bytecode, "--tcp", "--device-id", o.deviceId, "--ignore-missing-config"],
        o.cwd,
        o.logFile
    )
    const t0 = Date.now()
    while (!vm.lines.some(l => /self-deployed/.test(l))) {
        if (!vm.isAlive()) throw new Error(`firmware VM exited:\n${vm.lines.join("\n")}`)
        if (Date.now() - t0 > 20000) {
            await vm.stop()
            throw new Error(`firmware VM did not deploy within 20 s:\n${vm.lines.join("\n")}`)
        }
        await sleep(20)
    }
    return vm
}
