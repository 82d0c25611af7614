// Small assertion helpers on top of @devicescript/test's expect (which only
// has toBe): each failure says what was expected, with the figure.

function fail(what: string, msg: string): never {
    throw new Error(`${what}: ${msg}`)
}

export function eq(actual: any, expected: any, label: string) {
    if (actual !== expected) fail("eq", `${label}: expected ${expected}, got ${actual}`)
}

export function near(actual: number, expected: number, tol: number, label: string) {
    if (!(Math.abs(actual - expected) <= tol)) fail("near", `${label}: expected ${expected} +/- ${tol}, got ${actual}`)
}

export function atMost(actual: number, limit: number, label: string) {
    if (!(actual <= limit)) fail("atMost", `${label}: expected <= ${limit}, got ${actual}`)
}

export function atLeast(actual: number, limit: number, label: string) {
    if (!(actual >= limit)) fail("atLeast", `${label}: expected >= ${limit}, got ${actual}`)
}

export function ok(cond: boolean, label: string) {
    if (!cond) fail("ok", label)
}

/** A measured figure, collected by scripts/test-vm.mjs for the closing note. */
export function figure(name: string, value: number, unit: string) {
    console.log(`FIGURE ${name} = ${value} ${unit}`)
}
