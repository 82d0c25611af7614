// A minimal stand-in for @devicescript/test's describe/test, for the images
// that run the whole hardware app (test/hw/hw_app*.test.ts): the framework
// costs ~1.9 KB of function code and those images sit at DeviceScript's 64 KB
// function-code limit. Same output line ("tests: N, pass: P, error: E") and
// the same ending (restart on success, an exception on failure), so
// scripts/test-vm.mjs reads it like the framework's.
import * as ds from "@devicescript/core"

type Body = () => Promise<void>
const names: string[] = []
const bodies: Body[] = []

export function test(name: string, body: Body) {
    names.push(name)
    bodies.push(body)
}

async function runAll() {
    console.log(`running ${names.length} tests`)
    let pass = 0
    for (let i = 0; i < names.length; ++i) {
        console.log(`  ${names[i]}`)
        try {
            await bodies[i]()
            pass++
        } catch (e) {
            console.log(`Exception: ${(e as Error).message}`)
            // the rest depend on this one's state (sequential tests of one rig)
            break
        }
    }
    console.log(`tests: ${names.length}, pass: ${pass}, error: ${names.length - pass}`)
    if (pass < names.length) throw new Error("test errors")
    ds.restart()
}

export function describe(name: string, body: () => void) {
    console.log(name)
    body()
    ds.setTimeout(async () => {
        await runAll()
    }, 500)
}
