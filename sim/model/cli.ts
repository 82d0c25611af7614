// npm run model -- <conditions.json> [--json]   (SIM-6)
//
// Evaluates the plant for the conditions in the file (one object, a list, or
// {"base": {...}, "sweep": {"airFraction": [0, 0.01], "flowMlPerMin": [0.5, 3]}})
// and prints plunger and intravertebral pressure, leak share, stored volume,
// afterflow after a hard stop and the full-occlusion pressure rise. Field
// reference: docs/simulator.md, "Model fidelity v2".
import { readFileSync } from "node:fs"
import { ConditionsError, ModelResult, evaluateConditions, expandConditions } from "./evaluate"

const COLUMNS: [keyof ModelResult, string, number][] = [
    ["airFraction", "air", 3],
    ["flowMlPerMin", "mL/min", 2],
    ["flowIndex", "n", 2],
    ["viscosityPaS", "mu_eq Pa.s", 1],
    ["plungerPressureMPa", "P plunger MPa", 3],
    ["intravertebralPressureKPa", "P body kPa", 2],
    ["leakShare", "leak share", 3],
    ["storedVolumeMl", "stored mL", 4],
    ["secantComplianceMlPerMPa", "C sec mL/MPa", 4],
    ["tangentComplianceMlPerMPa", "C tan mL/MPa", 4],
    ["afterflow1sMl", "afterflow 1s mL", 4],
    ["afterflowMl", "afterflow mL", 4],
    ["occlusionRiseMPaPerS", "occl. rise MPa/s", 3],
    ["occlusionRise1sMPaPerS", "occl. 1st s MPa/s", 3],
    ["occlusionFromRestMPaPerS", "occl. 0-1 MPa MPa/s", 3],
]

function usage(msg: string): never {
    console.error(`${msg}\nusage: npm run model -- <conditions.json> [--json]`)
    process.exit(2)
}

function main(argv: string[]): void {
    const json = argv.includes("--json")
    const files = argv.filter(a => a !== "--json")
    if (files.length !== 1) usage("give exactly one conditions file")
    let raw: unknown
    try {
        raw = JSON.parse(readFileSync(files[0], "utf8"))
    } catch (e) {
        usage(`${files[0]}: ${(e as Error).message}`)
    }
    try {
        const rows = expandConditions(raw)
        const results = rows.map((r, i) => {
            try {
                return evaluateConditions(r)
            } catch (e) {
                if (e instanceof ConditionsError || e instanceof RangeError)
                    throw new ConditionsError(rows.length > 1 ? `condition ${i + 1}: ${e.message}` : e.message)
                throw e
            }
        })
        if (json) {
            console.log(JSON.stringify(results.map((r, i) => ({ conditions: rows[i], result: r })), null, 2))
            return
        }
        const header = COLUMNS.map(([, h]) => h)
        const body = results.map(r => COLUMNS.map(([k, , d]) => (r[k] as number).toFixed(d)))
        const widths = header.map((h, i) => Math.max(h.length, ...body.map(b => b[i].length)))
        const line = (cells: string[]) => cells.map((c, i) => c.padStart(widths[i])).join("  ")
        console.log(line(header))
        for (const b of body) console.log(line(b))
        const w = results[0].afterflowWindowS
        console.log(`afterflow: hard stop (drive disabled, no decompression) held ${w} s; occl. rise: flow / tangent compliance at the operating pressure; occl. 0-1 MPa: blocked from rest, mean rate to 1 MPa`)
    } catch (e) {
        if (e instanceof ConditionsError || e instanceof RangeError) {
            console.error(`${files[0]}: ${e.message}`)
            process.exit(1)
        }
        throw e
    }
}

main(process.argv.slice(2))
