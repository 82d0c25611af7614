#!/usr/bin/env node
// Builds the hardware entry point (src/main_hw.ts) once per board config in
// boards/*.board.json and prints the bytecode size per board. Exits non-zero
// if any board config is invalid or any build fails.
//
// How a board is chosen: `devicescript build` has no --board flag. A program
// picks its board by importing `@dsboard/<id>` (ids = built-in boards plus
// boards/*.board.json). Pins are compiled as labels ("STEP", "ESTOP"...)
// resolved on the device from the board config flashed with the runtime, so
// the same bytecode runs on every board that defines the same labels. This
// script compiles main_hw.ts with its `@dsboard/...` import swapped for each
// board (in the copy), which type-checks that board's labels, and checks what `devs build`
// does not: required labels present, no GPIO used twice, no strapping /
// flash / USB / internal pins, RP2040 I2C and PWM-slice rules.
//
// Builds run in a throw-away copy of the project (os tmpdir), so they neither
// race with other builds in this checkout (which share .devicescript/bin) nor
// touch files in src/.
//
// usage: node scripts/build-boards.mjs [board-id...] [--stub-app] [--keep] [-v]
//   --stub-app  if src/app.ts is missing, compile against a stub runInjector()
//               (hardware-layer development only; never written to the repo)
//   --keep      keep the temporary project and print its path
import { spawnSync } from "node:child_process"
import { createHash } from "node:crypto"
import {
    cpSync,
    existsSync,
    mkdirSync,
    mkdtempSync,
    readdirSync,
    readFileSync,
    rmSync,
    statSync,
    symlinkSync,
    writeFileSync,
} from "node:fs"
import { tmpdir } from "node:os"
import { join, resolve } from "node:path"
import { parseArgs } from "node:util"

const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
        "stub-app": { type: "boolean", default: false },
        keep: { type: "boolean", default: false },
        verbose: { type: "boolean", short: "v", default: false },
        help: { type: "boolean", short: "h", default: false },
    },
})
if (values.help) {
    console.log(
        "usage: node scripts/build-boards.mjs [board-id...] [--stub-app] [--keep] [-v]"
    )
    process.exit(0)
}

const root = resolve(new URL("..", import.meta.url).pathname)
const ENTRY = "src/main_hw.ts"

// ---- board checks ----------------------------------------------------------

// Pins a board must not use for our functions, by arch, with the reason.
const RESERVED = {
    esp32s3: [
        [[0, 3, 45, 46], "strapping pin"],
        [[19, 20], "USB D-/D+"],
        [[26, 27, 28, 29, 30, 31, 32], "SPI flash/PSRAM"],
        [[33, 34, 35, 36, 37], "octal flash/PSRAM on -R8 modules"],
        [[39, 40, 41, 42], "JTAG"],
        [[43, 44], "UART0 console (log)"],
    ],
    esp32c3: [
        [[2, 8, 9], "strapping pin"],
        [[11, 12, 13, 14, 15, 16, 17], "SPI flash"],
        [[18, 19], "USB D-/D+"],
        [[20, 21], "UART0 console (log)"],
    ],
    rp2040: [[[23, 24, 25, 29], "used on the Pico board (SMPS, VBUS sense, LED, VSYS/3)"]],
}
// pins a board's own "led"/"log" entries may use even though reserved above
const ALLOWED_FOR = { log: [43, 20, 21], led: [25, 48] }

function requiredLabels() {
    const src = readFileSync(join(root, "src/hw/hwconfig.ts"), "utf8")
    const m = /HW_PIN_LABELS\s*=\s*\[([^\]]*)\]/.exec(src)
    if (!m) throw new Error("HW_PIN_LABELS not found in src/hw/hwconfig.ts")
    return [...m[1].matchAll(/"([A-Z0-9_]+)"/g)].map(x => x[1])
}

function pinNumber(v) {
    return typeof v === "number" ? v : NaN
}

function checkBoard(id, cfg, labels) {
    const errors = []
    const pins = cfg.pins || {}
    for (const l of labels) if (pins[l] === undefined) errors.push(`missing pin label ${l}`)
    const uses = [] // [gpio, what]
    for (const [k, v] of Object.entries(pins)) if (!k.startsWith("#")) uses.push([pinNumber(v), `pins.${k}`])
    if (cfg.i2c) {
        uses.push([pinNumber(cfg.i2c.pinSDA), "i2c.pinSDA"])
        uses.push([pinNumber(cfg.i2c.pinSCL), "i2c.pinSCL"])
    } else errors.push("no i2c section (the NAU7802 needs it)")
    if (cfg.led?.pin !== undefined) uses.push([pinNumber(cfg.led.pin), "led.pin"])
    if (cfg.log?.pinTX !== undefined) uses.push([pinNumber(cfg.log.pinTX), "log.pinTX"])
    const seen = new Map()
    for (const [g, what] of uses) {
        if (!Number.isInteger(g)) {
            errors.push(`${what}: use a GPIO number (got ${JSON.stringify(g)})`)
            continue
        }
        if (seen.has(g)) errors.push(`GPIO${g} used twice: ${seen.get(g)} and ${what}`)
        else seen.set(g, what)
        for (const [list, why] of RESERVED[cfg.archId] || []) {
            if (!list.includes(g)) continue
            const kind = what.split(".")[0]
            if ((ALLOWED_FOR[kind] || []).includes(g)) continue
            errors.push(`${what} on GPIO${g}: ${why}`)
        }
    }
    for (const k of Object.keys(cfg.sPin || {}))
        if (!k.startsWith("#") && pins[k] === undefined) errors.push(`sPin.${k} has no pin label`)
    if (cfg.archId === "rp2040") {
        const sda = pinNumber(cfg.i2c?.pinSDA)
        const scl = pinNumber(cfg.i2c?.pinSCL)
        // runtime rule (devicescript-pico i2c.c): SDA even, SCL odd, same I2C instance
        if (sda % 2 !== 0 || scl % 2 !== 1 || ((sda >> 1) & 1) !== ((scl >> 1) & 1))
            errors.push(`RP2040 I2C needs SDA even, SCL odd, same instance (SDA ${sda}, SCL ${scl})`)
        // PWM slice = (gpio >> 1) & 7; STEP and BUZZER need their own frequency
        const slice = g => (g >> 1) & 7
        if (slice(pins.STEP) === slice(pins.BUZZER))
            errors.push(`STEP (GPIO${pins.STEP}) and BUZZER (GPIO${pins.BUZZER}) share PWM slice ${slice(pins.STEP)}`)
    }
    if (cfg.sPin?.STEP_EN === undefined)
        errors.push("sPin.STEP_EN missing: the driver must be disabled from boot")
    if (!String(cfg.devName || "").startsWith("Cement Injector"))
        errors.push('devName must start with "Cement Injector" (main_hw.ts checks it at boot)')
    return errors
}

// ---- throw-away project ----------------------------------------------------

function makeTempProject() {
    const dir = mkdtempSync(join(tmpdir(), "injector-boards-"))
    for (const f of ["package.json", "devsconfig.json"]) cpSync(join(root, f), join(dir, f))
    for (const d of ["src", "boards", "services"])
        if (existsSync(join(root, d))) cpSync(join(root, d), join(dir, d), { recursive: true })
    // node_modules: links, except @devicescript/* which the build rewrites
    // (generated .d.ts files) and therefore gets copied; the CLI stays linked.
    const nm = join(root, "node_modules")
    const tnm = join(dir, "node_modules")
    mkdirSync(join(tnm, "@devicescript"), { recursive: true })
    for (const name of readdirSync(nm)) {
        if (name === "@devicescript") continue
        symlinkSync(join(nm, name), join(tnm, name))
    }
    for (const name of readdirSync(join(nm, "@devicescript"))) {
        const src = join(nm, "@devicescript", name)
        if (name === "cli") symlinkSync(src, join(tnm, "@devicescript", name))
        else cpSync(src, join(tnm, "@devicescript", name), { recursive: true })
    }
    return dir
}

// ---- main ------------------------------------------------------------------

const strip = s => s.replace(/\x1b\[[0-9;]*m/g, "")
const boardFiles = readdirSync(join(root, "boards"))
    .filter(f => f.endsWith(".board.json"))
    .sort()
let ids = boardFiles.map(f => f.replace(/\.board\.json$/, ""))
if (positionals.length) {
    const unknown = positionals.filter(p => !ids.includes(p))
    if (unknown.length) {
        console.error(`unknown board(s): ${unknown.join(", ")}; boards/: ${ids.join(", ")}`)
        process.exit(2)
    }
    ids = positionals
}
if (!ids.length) {
    console.error("no boards/*.board.json")
    process.exit(2)
}

let failed = 0
const labels = requiredLabels()
const configs = {}
for (const id of ids) {
    let cfg
    try {
        cfg = JSON.parse(readFileSync(join(root, "boards", id + ".board.json"), "utf8"))
    } catch (e) {
        console.log(`FAIL ${id}: ${e.message}`)
        failed++
        continue
    }
    const errors = checkBoard(id, cfg, labels)
    if (errors.length) {
        console.log(`FAIL ${id}: board config`)
        for (const e of errors) console.log(`     ${e}`)
        failed++
        continue
    }
    configs[id] = cfg
}

const entrySrc = readFileSync(join(root, ENTRY), "utf8")
const boardImport = /(["'])@dsboard\/[A-Za-z0-9_]+\1/
if (!boardImport.test(entrySrc)) {
    console.error(`${ENTRY} has no @dsboard/... import to swap`)
    process.exit(1)
}

const tmp = makeTempProject()
let stubbed = false
if (!existsSync(join(tmp, "src/app.ts"))) {
    if (values["stub-app"]) {
        writeFileSync(
            join(tmp, "src/app.ts"),
            "// stub written by build-boards.mjs --stub-app\nexport async function runInjector(): Promise<void> {}\n"
        )
        stubbed = true
    } else {
        console.error(
            "src/app.ts is missing (the core's runInjector); main_hw.ts cannot be built. " +
                "Hardware-layer development only: pass --stub-app."
        )
        rmSync(tmp, { recursive: true, force: true })
        process.exit(1)
    }
}

const rows = []
for (const id of Object.keys(configs)) {
    // same entry path for every board (its name is part of the bytecode)
    const entry = ENTRY
    writeFileSync(join(tmp, entry), entrySrc.replace(boardImport, `"@dsboard/${id}"`))
    const bin = join(tmp, ".devicescript/bin/bytecode.devs")
    rmSync(bin, { force: true })
    const r = spawnSync(
        process.execPath,
        [join(tmp, "node_modules/@devicescript/cli/devicescript"), "build", entry],
        { cwd: tmp, encoding: "utf8" }
    )
    const out = strip((r.stdout || "") + (r.stderr || ""))
        .split("\n")
        .filter(l => l.trim() && !/nodedir|using devs:/.test(l))
        .join("\n")
    if (r.status !== 0 || !existsSync(bin)) {
        console.log(`FAIL ${id}: devicescript build ${ENTRY} (exit ${r.status})`)
        console.log(out.replace(/^/gm, "     "))
        failed++
        continue
    }
    if (values.verbose && out) console.log(out.replace(/^/gm, "     "))
    const data = readFileSync(bin)
    const sha = createHash("sha256").update(data).digest("hex").slice(0, 12)
    const cfg = configs[id]
    // DeviceScript's verifier refuses an image whose function code ends at or past
    // 64 KiB; the VM tests of the whole hardware app add ~4 KB of rig on top
    const sizes = join(tmp, ".devicescript/bin/bytecode-sizes.md")
    const fm = existsSync(sizes) ? /^\s*(\d+) \| Function TOTAL/m.exec(readFileSync(sizes, "utf8")) : null
    rows.push({ id, arch: cfg.archId, bytes: statSync(bin).size, sha, fnBytes: fm ? +fm[1] : NaN })
}

if (rows.length) {
    console.log("board                        arch      bytecode   function code (of 65536 B)   sha256")
    for (const r of rows)
        console.log(
            `${r.id.padEnd(28)} ${r.arch.padEnd(9)} ${String(r.bytes).padStart(6)} B   ${String(r.fnBytes).padStart(6)} B (${(65536 - r.fnBytes).toString().padStart(5)} B left)      ${r.sha}`
        )
    const shas = new Set(rows.map(r => r.sha))
    if (rows.length > 1)
        console.log(
            shas.size === 1
                ? "identical bytecode on every board (pins are resolved by label on the device)"
                : "bytecode differs between boards"
        )
}
if (stubbed) console.log("NOTE: built against a stub src/app.ts (--stub-app)")
if (values.keep) console.log(`temporary project kept: ${tmp}`)
else rmSync(tmp, { recursive: true, force: true })

console.log(`boards: ${rows.length} built, ${failed} failed`)
process.exit(failed ? 1 : 0)
