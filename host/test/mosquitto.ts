// A Mosquitto broker of the test's own: Debian's /usr/sbin/mosquitto (installed
// by .ci/run) on a free loopback port with a config in a temporary folder,
// never the system service. Unlimited queues, so an archiver's persistent
// session keeps everything while it is away.
import { ChildProcess, spawn } from "node:child_process"
import { existsSync, mkdtempSync, writeFileSync } from "node:fs"
import { AddressInfo, createServer, connect } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"

export const MOSQUITTO = ["/usr/sbin/mosquitto", "/usr/bin/mosquitto"].find(p => existsSync(p))

export interface Broker {
    port: number
    url: string
    log: () => string
    stop(): Promise<void>
}

function freePort(): Promise<number> {
    return new Promise((resolve, reject) => {
        const s = createServer()
        s.once("error", reject)
        s.listen(0, "127.0.0.1", () => {
            const p = (s.address() as AddressInfo).port
            s.close(() => resolve(p))
        })
    })
}

function reachable(port: number): Promise<boolean> {
    return new Promise(resolve => {
        const c = connect(port, "127.0.0.1")
        c.once("connect", () => {
            c.destroy()
            resolve(true)
        })
        c.once("error", () => resolve(false))
    })
}

export async function startBroker(): Promise<Broker> {
    if (!MOSQUITTO) throw new Error("mosquitto is not installed (.ci/run installs Debian's mosquitto package)")
    const dir = mkdtempSync(join(tmpdir(), "injector-mosquitto-"))
    const port = await freePort()
    const conf = join(dir, "mosquitto.conf")
    writeFileSync(
        conf,
        [
            `listener ${port} 127.0.0.1`,
            "allow_anonymous true",
            "persistence false",
            // an archiver away for minutes must find everything queued
            "max_queued_messages 0",
            "max_inflight_messages 100",
            "log_dest stderr",
            "log_type error",
            "log_type warning",
            "",
        ].join("\n")
    )
    let log = ""
    const child: ChildProcess = spawn(MOSQUITTO, ["-c", conf], { stdio: ["ignore", "pipe", "pipe"], detached: true })
    child.stdout!.on("data", d => (log += d))
    child.stderr!.on("data", d => (log += d))
    let exited = false
    child.on("exit", () => (exited = true))
    const end = Date.now() + 5000
    while (!(await reachable(port))) {
        if (exited || Date.now() > end) {
            try {
                process.kill(-child.pid!, "SIGKILL")
            } catch {}
            throw new Error(`mosquitto did not start on 127.0.0.1:${port}:\n${log}`)
        }
        await new Promise(r => setTimeout(r, 50))
    }
    return {
        port,
        url: `mqtt://127.0.0.1:${port}`,
        log: () => log,
        async stop() {
            if (exited) return
            const gone = new Promise(r => child.once("exit", r))
            try {
                process.kill(-child.pid!, "SIGTERM")
            } catch {}
            await Promise.race([gone, new Promise(r => setTimeout(r, 2000))])
            if (!exited)
                try {
                    process.kill(-child.pid!, "SIGKILL")
                } catch {}
        },
    }
}
