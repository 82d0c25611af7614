#!/usr/bin/env node
// npm run bench:step — cost of one control step in the DeviceScript VM in
// normal mode (no --test GC stress). Outside test mode the VM must connect to
// a devtools hub, so this starts one (ports 8081-8083 must be free), runs
// bench/step.ts, prints its BENCH lines and stops the hub.
import { spawn } from "node:child_process"
import { createConnection } from "node:net"

function portOpen(port) {
    return new Promise(resolve => {
        const s = createConnection({ port, host: "127.0.0.1" })
        s.on("connect", () => {
            s.destroy()
            resolve(true)
        })
        s.on("error", () => resolve(false))
    })
}

if (await portOpen(8081)) {
    console.error("port 8081 is in use: stop the other devtools hub first")
    process.exit(2)
}
const hub = spawn("npx", ["devicescript", "devtools"], { detached: true, stdio: "ignore" })
const stopHub = () => {
    try {
        process.kill(-hub.pid, "SIGTERM")
    } catch {}
}
process.on("exit", stopHub)
for (let i = 0; i < 100 && !(await portOpen(8081)); ++i) await new Promise(r => setTimeout(r, 100))

const vm = spawn("npx", ["devicescript", "run", "bench/step.ts"], { detached: true, stdio: ["ignore", "pipe", "pipe"] })
let buf = ""
const timer = setTimeout(() => finish(1, "timeout"), 60000)
function finish(code, why) {
    clearTimeout(timer)
    try {
        process.kill(-vm.pid, "SIGTERM")
    } catch {}
    stopHub()
    if (why) console.error(why)
    process.exit(code)
}
vm.stdout.on("data", d => {
    buf += d
    const lines = buf.split("\n")
    buf = lines.pop()
    for (const l of lines) {
        const clean = l.replace(/\x1b\[[0-9;]*m/g, "")
        const m = /BENCH (.*)/.exec(clean)
        if (!m) continue
        if (m[1] === "done") finish(0)
        else console.log(m[1])
    }
})
vm.stderr.on("data", () => {})
