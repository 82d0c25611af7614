// jacdac-ts logs transport chatter ("tcp: connecting", "bus: disposing.")
// and a "crc mismatch" warning for each large multi-packet frame the WASM
// VM sends (e.g. the role list); none of it matters to a bench user.
// jacdac-ts copies console.warn/debug when it loads, so import this module
// before anything that imports jacdac-ts (it installs itself on import).
const NOISE = /crc mismatch|^tcp: (connecting|disconnecting)|^bus: disposing|unexpected packet len|got only \d+ bytes/

let installed = false

export function quietJacdacLogs() {
    if (installed) return
    installed = true
    for (const k of ["log", "warn", "debug", "info"] as const) {
        const orig = console[k].bind(console)
        console[k] = (...args: unknown[]) => {
            if (typeof args[0] === "string" && NOISE.test(args[0])) return
            orig(...args)
        }
    }
}

quietJacdacLogs()
