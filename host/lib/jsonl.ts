// Reads a recording (docs/host.md) line by line. A line that is not valid
// JSON, or not a recording line, is reported with its line number and
// skipped; every other line is kept (HOST-1: nothing else is lost).
import { createReadStream, closeSync, fstatSync, openSync, readSync } from "node:fs"
import { createInterface } from "node:readline"
import type { Line } from "./recorder"

export interface LineIssue {
    line: number
    kind: "truncated" | "corrupted" | "invalid"
    message: string
}

export interface ReadStats {
    lines: number
    used: number
    blank: number
    issues: LineIssue[]
    bytes: number
}

export interface ReadOptions {
    onLine: (l: Line, lineNo: number) => void
    onIssue?: (i: LineIssue) => void
    /** called about every `progressMs` (default 0: every 4096 lines) with the fraction read */
    onProgress?: (fraction: number, lines: number) => void
    progressMs?: number
}

function endsWithNewline(path: string, size: number) {
    if (size === 0) return true
    const fd = openSync(path, "r")
    try {
        const b = Buffer.alloc(1)
        readSync(fd, b, 0, 1, size - 1)
        return b[0] === 0x0a
    } finally {
        closeSync(fd)
    }
}

function shorten(s: string, n = 60) {
    return s.length > n ? s.slice(0, n) + "..." : s
}

/** Checks a parsed value is a recording line; returns why not, or "". */
export function lineProblem(v: any): string {
    if (v === null || typeof v !== "object" || Array.isArray(v)) return "not a JSON object"
    switch (v.type) {
        case "sample":
            if (typeof v.t_host !== "number") return "sample without a numeric t_host"
            if (typeof v.t_dev !== "number") return "sample without a numeric t_dev"
            return ""
        case "event":
            if (typeof v.event !== "string") return "event without an event name"
            if (typeof v.t_host !== "number") return "event without a numeric t_host"
            return ""
        case "gap":
        case "meta":
            return typeof v.t_host === "number" ? "" : `${v.type} line without a numeric t_host`
        default:
            return v.type === undefined ? "no \"type\" field" : `unknown type ${JSON.stringify(v.type)}`
    }
}

export async function readRecording(path: string, o: ReadOptions): Promise<ReadStats> {
    const fd = openSync(path, "r")
    const size = fstatSync(fd).size
    closeSync(fd)
    const finalNewline = endsWithNewline(path, size)
    const stream = createReadStream(path, { encoding: "utf8", highWaterMark: 1 << 20 })
    const rl = createInterface({ input: stream, crlfDelay: Infinity })
    const stats: ReadStats = { lines: 0, used: 0, blank: 0, issues: [], bytes: size }
    const progressMs = o.progressMs ?? 0
    let lastProgress = Date.now()
    let pendingLast: string | undefined
    const issue = (i: LineIssue) => {
        stats.issues.push(i)
        o.onIssue?.(i)
    }
    const handle = (text: string, n: number, isLast: boolean) => {
        if (text.trim() === "") {
            stats.blank++
            return
        }
        let v: any
        try {
            v = JSON.parse(text)
        } catch (e: any) {
            if (isLast && !finalNewline)
                issue({ line: n, kind: "truncated", message: `truncated: the file ends in the middle of this line (${shorten(text)})` })
            else issue({ line: n, kind: "corrupted", message: `corrupted: not valid JSON (${e.message}): ${shorten(text)}` })
            return
        }
        const why = lineProblem(v)
        if (why) {
            issue({ line: n, kind: "invalid", message: `not a recording line: ${why}` })
            return
        }
        stats.used++
        o.onLine(v, n)
    }
    // one line of look-ahead, to know which line is the last
    for await (const text of rl) {
        stats.lines++
        if (pendingLast !== undefined) handle(pendingLast, stats.lines - 1, false)
        pendingLast = text
        if (o.onProgress && (stats.lines & 4095) === 0) {
            const now = Date.now()
            if (now - lastProgress >= progressMs) {
                lastProgress = now
                o.onProgress(size ? Math.min(1, stream.bytesRead / size) : 1, stats.lines)
            }
        }
    }
    if (pendingLast !== undefined) handle(pendingLast, stats.lines, true)
    return stats
}
