// `injector monitor`: live values in the terminal (HOST-1). On a terminal the
// screen is redrawn ten times a second; piped, one status line a second and
// one line per event, so it can be logged.
import { LinkEvent } from "./link"
import type { TelemetrySource } from "./mqtt-source"
import { Live, ageText, flagsText } from "./live"
import { opName } from "./spec"
import { detail } from "./recorder"

const tty = () => !!process.stdout.isTTY
const C = {
    red: (s: string) => (tty() ? `\x1b[31;1m${s}\x1b[0m` : s),
    yellow: (s: string) => (tty() ? `\x1b[33m${s}\x1b[0m` : s),
    green: (s: string) => (tty() ? `\x1b[32m${s}\x1b[0m` : s),
    dim: (s: string) => (tty() ? `\x1b[2m${s}\x1b[0m` : s),
    bold: (s: string) => (tty() ? `\x1b[1m${s}\x1b[0m` : s),
}

function n(v: number | null | undefined, d: number) {
    return v === null || v === undefined ? "n/a" : v.toFixed(d)
}

function bar(frac: number, width = 30) {
    const k = Math.max(0, Math.min(width, Math.round(frac * width)))
    return "[" + "#".repeat(k) + "-".repeat(width - k) + "]"
}

function stateText(s: string) {
    if (s === "fault" || s === "aborted") return C.red(s.toUpperCase())
    if (s === "paused") return C.yellow(s.toUpperCase())
    if (s === "injecting") return C.green(s.toUpperCase())
    return C.bold(s.toUpperCase())
}

export function frame(live: Live, link: TelemetrySource): string {
    const v = live.values
    const lines: string[] = []
    const conn =
        live.status === "connected" ? C.green("connected") : live.status === "lost" ? C.red("DISCONNECTED") : C.yellow(live.status)
    lines.push(`${C.bold("Cement Injector")}  ${conn}  ${C.dim(live.detail)}`)
    if (!v) {
        lines.push("", "  waiting for telemetry ...")
        return lines.join("\n")
    }
    const stale = live.status !== "connected" ? C.dim("  (last values before the connection was lost)") : ""
    lines.push(`  state      ${stateText(v.state)} (${v.reason})${stale}`)
    lines.push(`  level      ${v.level}`)
    const frac = v.cap && v.volume !== null ? v.volume / v.cap : 0
    lines.push(`  volume     ${n(v.volume, 3)} / ${n(v.cap, 2)} mL  ${bar(frac)} ${(frac * 100).toFixed(0)} % of cap`)
    lines.push(`  fill       ${v.fill_fraction === null ? "n/a (no body volume published)" : (v.fill_fraction * 100).toFixed(1) + " % of the vertebral body"}`)
    lines.push(`  pressure   ${v.pressure === null ? "n/a" : (v.pressure / 1e6).toFixed(3)} MPa   force ${n(v.force, 1)} N`)
    lines.push(`  flow       ${n(v.flow, 2)} mL/min   motor ${n(v.motor_speed, 2)}`)
    lines.push(`  cement age ${ageText(v.cement_age)}   pauses ${v.pauses} (leaks ${v.leaks})`)
    const flags = flagsText(v.flags)
    if (flags) lines.push(`  flags      ${flags.includes("E-STOP") ? C.red(flags) : flags}`)
    if (v.pending) lines.push(`  ${C.yellow(`waiting for the local confirm: ${opName(v.pending)}`)}`)
    const alarm = live.activeAlarm()
    lines.push(`  alarm      ${alarm ? (alarm.action === "warn" ? C.yellow : C.red)(`${alarm.reason} (${alarm.action})`) : "none"}`)
    lines.push(C.dim(`  telemetry  ${live.rate().toFixed(1)} samples/s, ${link.lostBatches} batches lost`))
    lines.push("", "  recent events:")
    for (const e of live.events.slice(-8)) {
        const t = new Date(e.rx).toISOString().slice(11, 23)
        const text = detail({ type: "event", ...e.data } as any)
        lines.push(`   ${C.dim(t)} ${e.name === "alarm" || e.name === "rejected" ? C.red(text) : text}`)
    }
    return lines.join("\n")
}

export function statusLine(live: Live): string {
    const v = live.values
    const t = new Date().toISOString().slice(11, 19)
    if (live.status !== "connected" || !v) return `${t} ${live.status}: ${live.detail}`
    return (
        `${t} ${v.state} level=${v.level} volume=${n(v.volume, 3)}/${n(v.cap, 2)}mL fill=${v.fill_fraction === null ? "n/a" : (v.fill_fraction * 100).toFixed(1) + "%"}` +
        ` pressure=${v.pressure === null ? "n/a" : (v.pressure / 1e6).toFixed(3)}MPa flow=${n(v.flow, 2)}mL/min age=${ageText(v.cement_age)}` +
        ` pauses=${v.pauses} leaks=${v.leaks}${live.activeAlarm() ? " alarm=" + live.activeAlarm()!.reason : ""}`
    )
}

export async function monitor(link: TelemetrySource, o: { once?: boolean; findTimeoutS: number; durationS?: number }): Promise<number> {
    const live = new Live(link)
    link.start()
    const found = await link.waitConnected(o.findTimeoutS > 0 ? o.findTimeoutS * 1000 : 1e9)
    if (!found) {
        console.error(`no Cement Injector found on ${link.description} within ${o.findTimeoutS} s (${link.statusDetail}). Is the simulator (npm start) or the board running?`)
        return 3
    }
    // the first full set of values
    const t0 = Date.now()
    while (!live.values && Date.now() - t0 < 5000) await new Promise(r => setTimeout(r, 50))
    if (o.once) {
        console.log(frame(live, link))
        return live.values ? 0 : 3
    }
    const stop = new Promise<void>(resolve => {
        process.once("SIGINT", () => resolve())
        process.once("SIGTERM", () => resolve())
        if (o.durationS) setTimeout(resolve, o.durationS * 1000)
    })
    let timer: any
    if (tty()) {
        process.stdout.write("\x1b[?25l")
        timer = setInterval(() => process.stdout.write("\x1b[H\x1b[2J" + frame(live, link) + "\n"), 100)
    } else {
        link.on("event", (e: LinkEvent) => console.log(`event ${new Date(e.rx).toISOString().slice(11, 23)} ${detail({ type: "event", ...e.data } as any)}`))
        link.on("status", (s: string, d: string) => console.log(`link ${s}: ${d}`))
        console.log(statusLine(live))
        timer = setInterval(() => console.log(statusLine(live)), 1000)
    }
    await stop
    clearInterval(timer)
    if (tty()) process.stdout.write("\x1b[?25h\n")
    return 0
}
