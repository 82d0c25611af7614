#!/usr/bin/env node
// `npm test`: every suite, then one closing line "total: N passed, M failed".
//   1. board builds (scripts/build-boards.mjs) - a broken board config fails CI
//   2. DeviceScript VM tests (scripts/test-vm.mjs: test/**/*.test.ts)
//   3. Node tests (node --test: sim/test, host/test)
import { spawn } from "node:child_process"
import { existsSync, readdirSync } from "node:fs"

function run(cmd, args) {
    return new Promise(resolve => {
        const child = spawn(cmd, args, { stdio: ["ignore", "pipe", "inherit"] })
        let out = ""
        child.stdout.on("data", d => {
            out += d
            process.stdout.write(d)
        })
        child.on("close", code => resolve({ code, out }))
    })
}

let passed = 0
let failed = 0
const stages = []
let t0 = Date.now()
const stageDone = name => {
    stages.push(`${name} ${((Date.now() - t0) / 1000).toFixed(0)} s`)
    t0 = Date.now()
}

console.log("== board builds")
const boards = await run("node", ["scripts/build-boards.mjs"])
const mb = /boards: (\d+) built, (\d+) failed/.exec(boards.out)
passed += mb ? +mb[1] : 0
failed += mb ? +mb[2] : 1
if (boards.code !== 0 && !(mb && +mb[2] > 0)) failed++
stageDone("boards")

console.log("\n== DeviceScript VM tests")
const vm = await run("node", ["scripts/test-vm.mjs"])
const mv = /vm: (\d+) passed, (\d+) failed/.exec(vm.out)
passed += mv ? +mv[1] : 0
failed += mv ? +mv[2] : 1
stageDone("VM")

const nodeTests = ["test/node", "sim/test", "host/test"]
    .filter(d => existsSync(d))
    .flatMap(d => readdirSync(d).filter(f => f.endsWith(".test.ts")).map(f => `${d}/${f}`))
if (nodeTests.length) {
    console.log("\n== Node tests")
    // one file at a time: the closed-loop and host tests share the devtools hub ports
    const nt = await run("node", ["--import", "tsx", "--test", "--test-concurrency=1", "--test-force-exit", "--test-timeout=600000", "--test-reporter=spec", ...nodeTests])
    const np = /ℹ pass (\d+)/.exec(nt.out)
    const nf = /ℹ fail (\d+)/.exec(nt.out)
    passed += np ? +np[1] : 0
    failed += nf ? +nf[1] : 1
    if (nt.code !== 0 && !(nf && +nf[1] > 0)) failed++
    stageDone("Node")
}

console.log(`\nstages: ${stages.join(", ")}`)
console.log(`\ntotal: ${passed} passed, ${failed} failed`)
process.exit(failed ? 1 : 0)
