// Test helpers: run the real CLI (host/bin/injector.mjs) as a separate
// process, a hub and a fake injector on a free loopback port, and cleanup
// that ends every process a test started (its whole process group).
import { ChildProcess, spawn } from "node:child_process"
import { mkdtempSync, readFileSync } from "node:fs"
import { setPriority, tmpdir } from "node:os"
import { join } from "node:path"
import { FakeInjector, FakeOptions, sleep } from "./fake-injector"
import { Hub, startHub } from "./hub"

export const ROOT = join(__dirname, "..", "..")
export const BIN = join(ROOT, "host", "bin", "injector.mjs")
export const OUT = join(ROOT, "out")

// jacdac-ts is chatty on console.debug; tests read what the CLI prints instead
console.debug = () => {}

const live = new Set<CliProcess>()

export class CliProcess {
    readonly child: ChildProcess
    out = ""
    err = ""
    code: number | null = null
    readonly exited: Promise<number>

    constructor(args: string[]) {
        this.child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, detached: true, stdio: ["pipe", "pipe", "pipe"] })
        try {
            // below the simulator's real-time parts (host/test/firmware.ts)
            if (this.child.pid) setPriority(this.child.pid, 5)
        } catch {
            // not permitted
        }
        this.child.stdout!.on("data", d => (this.out += d))
        this.child.stderr!.on("data", d => (this.err += d))
        this.exited = new Promise(resolve =>
            this.child.on("exit", (code, sig) => {
                this.code = code ?? (sig ? 128 : 1)
                live.delete(this)
                resolve(this.code)
            })
        )
        live.add(this)
    }

    get all() {
        return this.out + this.err
    }

    /** Waits until stdout or stderr matches, or fails with what was printed. */
    async waitFor(re: RegExp, ms = 15000): Promise<RegExpMatchArray> {
        const end = Date.now() + ms
        for (;;) {
            const m = this.all.match(re)
            if (m) return m
            if (this.code !== null) throw new Error(`injector exited (${this.code}) before printing ${re}:\n${this.all}`)
            if (Date.now() > end) throw new Error(`timed out waiting for ${re}; injector printed:\n${this.all}`)
            await sleep(25)
        }
    }

    signal(sig: NodeJS.Signals = "SIGINT") {
        if (this.code === null && this.child.pid) this.child.kill(sig)
    }

    /** Ends the whole process group (the CLI and anything it started). */
    kill() {
        if (this.code === null && this.child.pid) {
            try {
                process.kill(-this.child.pid, "SIGKILL")
            } catch {
                // already gone
            }
        }
    }

    async result(ms = 30000) {
        const t = setTimeout(() => this.kill(), ms)
        const code = await this.exited
        clearTimeout(t)
        return { code, out: this.out, err: this.err }
    }
}

export function cli(...args: string[]) {
    return new CliProcess(args)
}

export async function runCli(args: string[], ms = 30000) {
    return cli(...args).result(ms)
}

export function killAllCli() {
    for (const p of live) p.kill()
}

export function tmp(name: string) {
    return join(mkdtempSync(join(tmpdir(), "injector-test-")), name)
}

export interface Bench {
    hub: Hub
    fake: FakeInjector
    tcp: string
    close(): Promise<void>
}

/** A hub on a free port with a fake injector on it. */
export async function bench(opts: FakeOptions = {}): Promise<Bench> {
    const hub = await startHub()
    const tcp = `127.0.0.1:${hub.port}`
    const fake = await new FakeInjector({ ...opts, tcp }).start()
    const b: Bench = {
        hub,
        fake,
        tcp,
        async close() {
            killAllCli()
            await b.fake.stop() // the one on the bus now (a test may have replaced it)
            await hub.close()
        },
    }
    return b
}

export function readLines(path: string): any[] {
    return readFileSync(path, "utf8")
        .split("\n")
        .filter(l => l.trim())
        .map(l => JSON.parse(l))
}

export { sleep }
