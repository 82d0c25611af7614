#!/usr/bin/env node
// Runs every DeviceScript VM test file (test/**/*.test.ts) in its own VM
// (`devicescript run --test`), two at a time, and prints one summary line
// "vm: N passed, M failed". Measured figures (lines "FIGURE name = value unit")
// are gathered into out/figures.txt for the closing notes.
import { spawn } from "node:child_process"
import { mkdirSync, readdirSync, statSync, writeFileSync } from "node:fs"
import { join, relative } from "node:path"
import { parseArgs } from "node:util"

const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
        jobs: { type: "string", short: "j", default: "2" },
        timeout: { type: "string", short: "T", default: "600000" },
        verbose: { type: "boolean", short: "v", default: false },
        help: { type: "boolean", short: "h", default: false },
    },
})
if (values.help) {
    console.log(`usage: node scripts/test-vm.mjs [-j jobs] [-T ms] [-v] [files or filters...]
Runs test/**/*.test.ts in the DeviceScript VM. A filter selects files whose path contains it.`)
    process.exit(0)
}

function walk(dir) {
    const out = []
    for (const name of readdirSync(dir)) {
        const p = join(dir, name)
        if (p === join("test", "node")) continue // Node tests (scripts/test.mjs)
        if (statSync(p).isDirectory()) out.push(...walk(p))
        else if (name.endsWith(".test.ts")) out.push(p)
    }
    return out
}

let files = walk("test").sort()
if (positionals.length) files = files.filter(f => positionals.some(p => f.includes(p)))
if (!files.length) {
    console.error("no VM test files matched")
    process.exit(2)
}

const strip = s => s.replace(/\x1b\[[0-9;]*m/g, "")

function runOne(file) {
    return new Promise(resolve => {
        const t0 = Date.now()
        const child = spawn(
            "npx",
            ["devicescript", "run", file, "--test", "--test-self-exit", "-T", values.timeout],
            { stdio: ["ignore", "pipe", "pipe"] }
        )
        let out = ""
        child.stdout.on("data", d => (out += d))
        child.stderr.on("data", d => (out += d))
        child.on("close", code => {
            const text = strip(out)
            const m = /tests: (\d+), pass: (\d+), error: (\d+)/.exec(text)
            const total = m ? +m[1] : 0
            const pass = m ? +m[2] : 0
            // a file that crashed before its summary counts as one failure
            const failed = m ? +m[3] : 1
            const ok = code === 0 && m && failed === 0 && total > 0
            resolve({ file, text, total, pass, failed: ok ? 0 : Math.max(1, failed), ok, ms: Date.now() - t0 })
        })
    })
}

const results = []
let next = 0
async function worker() {
    while (next < files.length) {
        const f = files[next++]
        const r = await runOne(f)
        results.push(r)
        const tag = r.ok ? "ok  " : "FAIL"
        console.log(`${tag} ${relative(".", f)}  ${r.pass}/${r.total} tests  ${(r.ms / 1000).toFixed(1)} s`)
        if (!r.ok || values.verbose)
            console.log(
                r.text
                    .split("\n")
                    .filter(l => !/nodedir|using devs/.test(l))
                    .map(l => "    " + l)
                    .join("\n")
            )
    }
}
await Promise.all(Array.from({ length: Math.max(1, +values.jobs) }, worker))

const figures = results
    .flatMap(r => r.text.split("\n").filter(l => l.includes("FIGURE ")))
    .map(l => l.replace(/^.*FIGURE /, "").trim())
    .sort()
mkdirSync("out", { recursive: true })
writeFileSync("out/figures.txt", figures.join("\n") + "\n")
if (figures.length) console.log(`\nfigures (out/figures.txt):\n  ` + figures.join("\n  "))

const passed = results.reduce((a, r) => a + r.pass, 0)
const failed = results.reduce((a, r) => a + r.failed, 0)
console.log(`\nvm: ${passed} passed, ${failed} failed`)
process.exit(failed ? 1 : 0)
