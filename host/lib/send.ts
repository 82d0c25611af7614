// `injector send`: one Cement Injector command, one effect (HOST-3, FAULT-6/7/8).
//
// Every command carries a request id (`seq`): a random start per process, +1
// per command. The device executes a given (seq, command) once and answers it,
// and every repeat of it, with the event `command_result`. DeviceScript servers
// send no Jacdac ACK, so the host never waits for one: it waits for the
// answer and, when none comes (the device's event outbox is bounded and paced,
// an answer can be dropped), re-sends the SAME seq with backoff. A retry is
// therefore harmless: it is answered, never executed twice. A command that
// needs the local confirm is answered `pending`; the person at the host is told
// to press confirm on the device, and the final answer (executed, rejected at
// the press, expired, cancelled) is awaited under the same seq.
import { randomInt } from "node:crypto"
import { jdpack } from "jacdac-ts"
import { Outcome, Reject } from "../../src/core/types"
import { InjectorLink, LinkEvent, LinkTelemetry, nowMs } from "./link"
import { CommandInfo, REJECT_TEXT, SpecError, commands, findCommand, parseArg, rejectName, stateName } from "./spec"

/**
 * Exit codes of the commands that send (docs/host.md): 0 executed, 1 rejected
 * (reason printed), 2 usage error, 3 the device could not be reached (no
 * answer), 4 the confirm was not pressed in time (expired: not executed),
 * 5 cancelled by a safety action before the confirm (not executed).
 */
export const EXIT = { ok: 0, rejected: 1, usage: 2, nodevice: 3, expired: 4, cancelled: 5 } as const

export class UsageError extends Error {}

export interface Prepared {
    cmd: CommandInfo
    values: number[]
}

export function commandList() {
    return commands()
        .map(c => {
            const args = c.fields.map(f => (f.name === "override" ? "[--override]" : `<${f.name}>`))
            return `  ${(c.cli + " " + args.join(" ")).padEnd(34)} ${c.description.split(/(?<=\.)\s/)[0]}`
        })
        .join("\n")
}

/** Checks the command name and arguments against the spec (nothing is sent). */
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
    return { cmd, values }
}

/** The wire payload of a command: its request id first, then its fields. */
export function pack(p: Prepared, seq: number): Uint8Array {
    return jdpack(p.cmd.packFormat ?? "u32", [seq, ...p.values])
}

/** Highest request id the device accepts (1 .. 2^31-1; 0 = unsequenced). */
export const SEQ_MAX = 0x7fffffff
let nextSeqValue = 0

/**
 * The next request id of this process: a random start (two host processes
 * almost never share ids within the device's memory of 32 answers), then +1
 * per command. One id per intent: retries re-use it.
 */
export function nextSeq(): number {
    if (nextSeqValue === 0 || nextSeqValue > SEQ_MAX) nextSeqValue = randomInt(1, SEQ_MAX - 1_000_000)
    return nextSeqValue++
}

export interface SendOptions {
    /** the request id to use (default: nextSeq()) */
    seq?: number
    /** ms to wait for the device's first answer, re-sending with backoff (default 5000) */
    answerTimeoutMs?: number
    /** ms to wait for the outcome of a pending command (default 15000; the device's own expiry is 10 s) */
    confirmWaitMs?: number
    /** first re-send after this many ms; doubles up to 2 s (default 250) */
    retryMs?: number
    /** print state transitions seen while waiting (default true) */
    transitions?: boolean
    out?: (line: string) => void
}

export type SendOutcome = "executed" | "rejected" | "expired" | "cancelled" | "no-answer" | "still-pending"

export interface SendResult {
    outcome: SendOutcome
    exit: number
    seq: number
    /** the reject reason by name (rejected) */
    reject?: string
    /** state after the command, by name (from the answer) */
    state?: string
    /** the allowed range / hold left, as the device gave them */
    lo?: number | null
    hi?: number | null
    message: string
    /** command packets put on the bus (1 + retries) */
    sends: number
    /** whether the device answered pending first (a local confirm was asked) */
    confirmAsked: boolean
    /** ms from the first send to the device's first answer */
    answerMs?: number
    /** ms from the first send to the final answer */
    totalMs?: number
}

const UNITS: Record<string, string> = { set_flow: "mL/min", set_cap: "mL", mark_mixing: "mL", calibrate_gain: "kg", calibration_drive: "counts" }

function num(v: number) {
    return String(Math.round(v * 1000) / 1000)
}

/** One line with the reason and the values that matter (FAULT-6). */
export function rejectLine(cmdName: string, reject: number, state: number, lo: number | null, hi: number | null): string {
    const name = rejectName(reject)
    const why = REJECT_TEXT[reject] ? ` (${REJECT_TEXT[reject]})` : ""
    let detail = ""
    if (reject === Reject.WrongState || reject === Reject.Busy) detail = `; the device is ${stateName(state)}`
    else if ((reject === Reject.OutOfRange || reject === Reject.AboveCeiling) && lo !== null && hi !== null)
        detail = `; allowed: ${num(lo)} to ${num(hi)}${UNITS[cmdName] ? " " + UNITS[cmdName] : ""}`
    else if (reject === Reject.BoreOutOfRange && lo !== null && hi !== null) detail = `; allowed bore: ${num(lo)} to ${num(hi)} mm`
    else if (reject === Reject.SyringeVolumeOutOfRange && lo !== null && hi !== null) detail = `; allowed volume: ${num(lo)} to ${num(hi)} mL`
    else if (reject === Reject.HoldNotElapsed && lo !== null) detail = `; hold left: ${(lo / 1000).toFixed(1)} s`
    return `rejected by the device: ${name}${why}${detail}`
}

/**
 * Sends one command and waits for its answer (command_result with its seq).
 * Never throws for device trouble: the result says what happened.
 */
export async function sendCommand(link: InjectorLink, p: Prepared, o: SendOptions = {}): Promise<SendResult> {
    const out = o.out ?? (s => console.log(s))
    const seq = o.seq ?? nextSeq()
    const code8 = p.cmd.code & 0xff
    const data = pack(p, seq)
    const answerTimeoutMs = o.answerTimeoutMs ?? 5000
    const confirmWaitMs = o.confirmWaitMs ?? 15000
    const retryMs = o.retryMs ?? 250
    const showTransitions = o.transitions ?? true
    const r: SendResult = { outcome: "no-answer", exit: EXIT.nodevice, seq, message: "", sends: 0, confirmAsked: false }

    let wake: (() => void) | undefined
    let answer: LinkEvent | undefined
    let pendingGone = false
    const onEvent = (e: LinkEvent) => {
        if (e.name === "command_result" && e.data.seq === seq && e.data.command_code === code8) {
            answer = e
            wake?.()
        } else if (e.name === "transition" && showTransitions) out(`state: ${e.data.from} -> ${e.data.to} (${e.data.reason})`)
    }
    // a pending command that no longer shows in telemetry has an outcome: ask for it at once
    let sawPending = false
    const onTel = (t: LinkTelemetry) => {
        if (!r.confirmAsked) return
        if (t.batch.header.pending === code8) sawPending = true
        else if (sawPending && !pendingGone) {
            pendingGone = true
            wake?.()
        }
    }
    link.on("event", onEvent)
    link.on("telemetry", onTel)
    const t0 = nowMs()
    const send = async () => {
        r.sends++
        try {
            await link.sendCommand(p.cmd.code, data)
        } catch {
            // not connected right now: the next re-send tries again
        }
    }
    /** waits until an answer arrives, the pending command clears, or `ms` passes */
    const nap = (ms: number) =>
        new Promise<void>(resolve => {
            const t = setTimeout(() => {
                wake = undefined
                resolve()
            }, ms)
            wake = () => {
                clearTimeout(t)
                wake = undefined
                resolve()
            }
        })
    try {
        // 1. the first answer: executed, rejected or pending
        let backoff = retryMs
        await send()
        while (!answer && nowMs() - t0 < answerTimeoutMs) {
            await nap(Math.min(backoff, Math.max(1, answerTimeoutMs - (nowMs() - t0))))
            if (!answer && nowMs() - t0 < answerTimeoutMs) {
                await send()
                backoff = Math.min(backoff * 2, 2000)
            }
        }
        if (!answer) {
            r.message = `no answer from the device to ${p.cmd.cli} (request ${seq}, sent ${r.sends} time(s) over ${(answerTimeoutMs / 1000).toFixed(1)} s): it cannot be reached; whether it executed is unknown (check with injector monitor)`
            return r
        }
        r.answerMs = answer.rx - t0
        // 2. pending: the final answer comes when confirm is pressed, the request expires or is cancelled
        if (answer.data.outcome_code === Outcome.Pending) {
            r.confirmAsked = true
            out(`${p.cmd.cli} adds risk: press confirm on the device (within 10 s) ...`)
            const tp = nowMs()
            let lastSend = tp
            while (answer.data.outcome_code === Outcome.Pending && nowMs() - tp < confirmWaitMs) {
                const seen = answer
                await nap(1000)
                if (answer !== seen) continue
                if (pendingGone) {
                    // the device no longer waits: its final answer is on the way
                    await nap(300)
                    if (answer !== seen) continue
                }
                // no news: ask again (same seq) - the pushed final answer may have been dropped
                if (pendingGone || nowMs() - lastSend >= 2000) {
                    pendingGone = false
                    sawPending = false
                    lastSend = nowMs()
                    await send()
                }
            }
            if (answer.data.outcome_code === Outcome.Pending) {
                r.outcome = "still-pending"
                r.exit = EXIT.expired
                r.message = `${p.cmd.cli} still waits for the confirm on the device after ${(confirmWaitMs / 1000).toFixed(0)} s: it runs if confirm is pressed before the device lets it expire`
                out(r.message)
                return r
            }
        }
        const d = answer.data
        r.totalMs = answer.rx - t0
        r.state = d.state
        r.lo = d.lo
        r.hi = d.hi
        switch (d.outcome_code) {
            case Outcome.Executed:
                r.outcome = "executed"
                r.exit = EXIT.ok
                r.message = r.confirmAsked ? `confirmed on the device: ${p.cmd.cli} executed (state: ${d.state})` : `executed: ${p.cmd.cli} (state: ${d.state})`
                break
            case Outcome.Rejected:
                r.outcome = "rejected"
                r.exit = EXIT.rejected
                r.reject = d.reject
                r.message = rejectLine(p.cmd.name, d.reject_code, d.state_code, d.lo, d.hi)
                break
            case Outcome.Expired:
                r.outcome = "expired"
                r.exit = EXIT.expired
                r.message = `not confirmed on the device in time: ${p.cmd.cli} was not executed (state: ${d.state})`
                break
            case Outcome.Cancelled:
                r.outcome = "cancelled"
                r.exit = EXIT.cancelled
                r.message = `cancelled on the device by a safety action before the confirm: ${p.cmd.cli} was not executed (state: ${d.state})`
                break
            default:
                r.outcome = "no-answer"
                r.exit = EXIT.nodevice
                r.message = `the device answered ${p.cmd.cli} with an unknown outcome ${d.outcome_code}`
        }
        out(r.message)
        return r
    } finally {
        link.off("event", onEvent)
        link.off("telemetry", onTel)
    }
}
