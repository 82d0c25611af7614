// Small assertion helpers for the hardware-layer VM tests (the bundled
// @devicescript/test `expect` has only toBe/toThrow). Not a test file.

export function fail(msg: string): never {
    throw new Error(msg)
}

export function eq(actual: any, expected: any, what: string) {
    if (actual !== expected) fail(`${what}: got ${actual}, expected ${expected}`)
}

export function near(actual: number, expected: number, tol: number, what: string) {
    if (!(Math.abs(actual - expected) <= tol))
        fail(`${what}: got ${actual}, expected ${expected} ± ${tol}`)
}

export function ok(cond: boolean, what: string) {
    if (!cond) fail(what)
}

/** resolves with the error an async function throws, or fails if it does not */
export async function rejects(f: () => Promise<any>, what: string): Promise<any> {
    try {
        await f()
    } catch (e) {
        return e
    }
    fail(`${what}: expected an error`)
}
