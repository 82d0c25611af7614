import { test } from "node:test"
import assert from "node:assert/strict"
import { readFileSync } from "node:fs"
import { render } from "../../scripts/gen-codes"

test("TEL-1: docs/codes.md lists every state, reason, reject and command code of the firmware", () => {
    assert.equal(readFileSync("docs/codes.md", "utf8"), render(), "docs/codes.md is stale: npx tsx scripts/gen-codes.ts")
})

test("TEL-1: every command in services/cementinjector.md has a firmware Op with the same code", async () => {
    const { Op } = await import("../../src/core/types")
    const spec = readFileSync("services/cementinjector.md", "utf8")
    const cmds = [...spec.matchAll(/^\s+command (\w+) @ (0x[0-9a-f]+)/gm)]
    assert.ok(cmds.length >= 20, `commands in spec: ${cmds.length}`)
    for (const [, name, code] of cmds) {
        const camel = name.replace(/_(\w)/g, (_, c: string) => c.toUpperCase())
        const key = camel[0].toUpperCase() + camel.slice(1)
        assert.equal((Op as any)[key], parseInt(code, 16), `Op.${key} = ${code}`)
    }
})
