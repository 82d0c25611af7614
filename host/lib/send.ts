// `injector send`: one Cement Injector command, with the FAULT-7 flow. Risk-
// adding commands come back as confirm_required; the person at the host is
// told to press confirm on the device and the outcome is awaited. A rejected
// event is the device's reason, shown by name (HOST-3, FAULT-6).
import { jdpack } from "jacdac-ts"
import { InjectorLink, LinkEvent, LinkTelemetry } from "./link"
import { CommandInfo, REJECT_TEXT, SpecError, commands, findCommand, parseArg, rejectName } from "./spec"

export const EXIT = { ok: 0, rejected: 1, usage: 2, nodevice: 3 } as const

export class UsageError extends Error {}

export interface Prepared {
    cmd: CommandInfo
    values: number[]
    data: Uint8Array
}

export function commandList() {
    return commands()
        .map(c => {
            const args = c.fields.map(f => (f.name === "override" ? "[--override]" : `<${f.name}>`))
            return `  ${(c.cli + " " + args.join(" ")).padEnd(34)} ${c.description.split(/(?<=\.)\s/)[0]}`
        })
        .join("\n")
}

/** Checks the command name and arguments against the spec and packs them. */
export function prepare(name: string, args: string[], opts: { override?: boolean }): Prepared {
    const cmd = findCommand(name)
    if (!cmd)
        throw new UsageError(`unknown command "${name}". Commands of the Cement Injector:\n${commandList()}`)
    const fields = cmd.fields
    const values: number[] = []
    const rest = args.slice()
    for (const f of fields) {
        if (f.name === "override" && rest.length === 0) {
            values.push(opts.override ? 1 : 0)
            continue
        }
        const text = rest.shift()
        if (text === undefined)
            throw new UsageError(`${cmd.cli} needs <${fields.map(f => f.name).join("> <")}>; e.g. injector send ${cmd.cli} ${fields.map(f => (f.name === "level" ? "C2" : "1")).join(" ")}`)
        try {
            values.push(parseArg(f, text))
        } catch (e) {
            if (e instanceof SpecError) throw new UsageError(`${cmd.cli}: ${e.message}`)
            throw e
        }
    }
    if (rest.length) throw new UsageError(`${cmd.cli} takes ${fields.length} argument(s), got extra: ${rest.join(" ")}`)
    if (opts.override && !fields.some(f => f.name === "override")) throw new UsageError(`--override only applies to set-cap`)
    // seq 0 = unsequenced: answered by the rejected / confirm_required events
    const data = jdpack(cmd.packFormat ?? "u32", [0, ...values])
    return { cmd, values, data }
}

export interface SendOptions {
    /** ms to wait for a rejection after the device acknowledged */
    settleMs?: number
    /** ms to wait for the local confirm after confirm_required */
    confirmWaitMs?: number
    out?: (line: string) => void
}

export interface SendResult {
    outcome: "accepted" | "confirmed" | "rejected" | "expired" | "no-confirm" | "no-ack"
    exit: number
    reject?: string
    message: string
    /** ms from sending to the first event about this command (if any) */
    eventLatencyMs?: number
}

export async function sendCommand(link: InjectorLink, p: Prepared, o: SendOptions = {}): Promise<SendResult> {
    const out = o.out ?? (s => console.log(s))
    const code8 = p.cmd.code & 0xff
    const settleMs = o.settleMs ?? 1000
    const confirmWaitMs = o.confirmWaitMs ?? 15000
    let resolveDone!: (r: SendResult) => void
    const done = new Promise<SendResult>(r => (resolveDone = r))
    let pending = false
    let sawPendingInTelemetry = false
    let pendingAt = 0
    let settleTimer: any
    let confirmTimer: any
    let clearedTimer: any
    let sentAt = 0
    let firstEventAt: number | undefined
    let finished = false
    const finish = (r: SendResult) => {
        if (finished) return
        finished = true
        clearTimeout(settleTimer)
        clearTimeout(confirmTimer)
        clearTimeout(clearedTimer)
        link.off("event", onEvent)
        link.off("telemetry", onTel)
        if (firstEventAt !== undefined) r.eventLatencyMs = firstEventAt - sentAt
        resolveDone(r)
    }
    const onEvent = (e: LinkEvent) => {
        const d = e.data
        const mine = d.command_code === code8
        if (mine && firstEventAt === undefined && (e.name === "rejected" || e.name === "confirm_required")) firstEventAt = e.rx
        if (e.name === "rejected" && mine) {
            const why = REJECT_TEXT[d.reject_code] ? ` (${REJECT_TEXT[d.reject_code]})` : ""
            out(`rejected by the device: ${rejectName(d.reject_code)}${why}`)
            finish({ outcome: "rejected", exit: EXIT.rejected, reject: rejectName(d.reject_code), message: `rejected: ${rejectName(d.reject_code)}` })
        } else if (e.name === "confirm_required" && mine && !pending) {
            pending = true
            pendingAt = e.rx
            clearTimeout(settleTimer)
            out(`${p.cmd.cli} adds risk: press confirm on the device (within 10 s) ...`)
            confirmTimer = setTimeout(
                () => finish({ outcome: "no-confirm", exit: EXIT.rejected, message: "no outcome from the device after the confirm request" }),
                confirmWaitMs
            )
        } else if (e.name === "info" && d.reason === "confirm_expired" && pending && (d.value & 0xff) === code8) {
            out(`not confirmed on the device in time: ${p.cmd.cli} was not executed`)
            finish({ outcome: "expired", exit: EXIT.rejected, message: "confirmation expired" })
        } else if (e.name === "transition") {
            out(`state: ${d.from} -> ${d.to} (${d.reason})`)
        } else if (e.name === "info" && pending) {
            out(`device: ${d.reason} ${d.value}`)
        }
    }
    const onTel = (t: LinkTelemetry) => {
        const pend = t.batch.header.pending
        if (pend === code8) {
            sawPendingInTelemetry = true
            if (!pending) onEvent({ name: "confirm_required", data: { command_code: code8 }, rx: t.rx })
        } else if (pending && (sawPendingInTelemetry || t.rx > pendingAt + 50) && !clearedTimer) {
            // the device no longer waits: confirmed, unless a rejection or expiry follows at once.
            // A batch that left after the confirm request and shows nothing pending counts too:
            // a quick press may come before any batch showed the command as pending.
            clearedTimer = setTimeout(() => {
                if (finished) return
                out(`confirmed on the device: ${p.cmd.cli} executed`)
                finish({ outcome: "confirmed", exit: EXIT.ok, message: "confirmed" })
            }, 400)
        }
    }
    link.on("event", onEvent)
    link.on("telemetry", onTel)
    sentAt = performance.timeOrigin + performance.now()
    try {
        await link.sendCommand(p.cmd.code, p.data, true)
    } catch (e: any) {
        finish({ outcome: "no-ack", exit: EXIT.nodevice, message: `the device did not acknowledge ${p.cmd.cli}: ${e?.message ?? e}` })
        return done
    }
    settleTimer = setTimeout(() => {
        if (!pending && !finished) {
            out(`accepted: ${p.cmd.cli}`)
            finish({ outcome: "accepted", exit: EXIT.ok, message: "accepted" })
        }
    }, settleMs)
    return done
}
