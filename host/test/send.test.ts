// HOST-3 with FAULT-6/7: commands sent by the real CLI to the fake injector;
// the confirm flow (press confirm on the device, or let it expire) and the
// device's rejection reasons.
import { strict as assert } from "node:assert"
import { after, before, beforeEach, describe, test } from "node:test"
import { Op, State } from "../../src/core/types"
import { Bench, bench, cli, runCli, sleep } from "./helpers"

describe("send (fake injector, not in bench mode)", () => {
    let b: Bench
    before(async () => {
        b = await bench({ confirmTimeoutMs: 1500 })
    })
    after(async () => {
        await b.close()
    })
    beforeEach(() => {
        // a level selected, cement mixed, armed: ready to start
        if (b.fake.state === State.Injecting || b.fake.state === State.Paused) b.fake.local(Op.Abort)
        b.fake.local(Op.SetLevel, 1)
        b.fake.local(Op.MarkMixing, 10)
        b.fake.local(Op.Arm)
        b.fake.received.length = 0
    })

    test("HOST-3, FAULT-7: start asks for the local confirm; the CLI says so, waits, and reports it executed once pressed", async () => {
        const p = cli("--tcp", b.tcp, "send", "start")
        await p.waitFor(/press confirm on the device/)
        assert.equal(b.fake.state, State.Ready, "nothing happens before the confirm")
        await sleep(300)
        b.fake.pressConfirm()
        const r = await p.result()
        assert.equal(r.code, 0, r.out + r.err)
        assert.match(r.out, /state: ready -> injecting \(started\)/)
        assert.match(r.out, /confirmed on the device: start executed/)
        assert.equal(b.fake.state, State.Injecting)
        assert.deepEqual(b.fake.received.map(c => c.code), [Op.Start])
    })

    test("HOST-3, FAULT-7: a cap above the preset needs --override and the local confirm; unconfirmed it expires and exits 1", async () => {
        const capBefore = b.fake.cap
        const r = await runCli(["--tcp", b.tcp, "send", "set-cap", "3.8", "--override"])
        assert.equal(r.code, 1, r.out + r.err)
        assert.match(r.out, /press confirm on the device/)
        assert.match(r.out, /not confirmed on the device in time: set-cap was not executed/)
        assert.equal(b.fake.cap, capBefore)
        assert.deepEqual(b.fake.received[0], { code: Op.SetCap, args: [Math.fround(3.8), 1] })
    })

    test("HOST-3, FAULT-6: a rejected command prints the device's reason and exits 1", async () => {
        const cases: [string[], RegExp][] = [
            [["set-cap", "3.8"], /rejected by the device: override_required \(a cap above the preset needs --override\)/],
            [["resume"], /rejected by the device: wrong_state \(not allowed in the current state\)/],
            [["set-flow", "9"], /rejected by the device: out_of_range/],
            [["set-cap", "9", "--override"], /rejected by the device: above_ceiling/],
        ]
        for (const [args, re] of cases) {
            const r = await runCli(["--tcp", b.tcp, "send", ...args])
            assert.equal(r.code, 1, `${args.join(" ")}: ${r.out}${r.err}`)
            assert.match(r.out, re)
        }
        assert.equal(b.fake.state, State.Ready, "rejections change nothing")
    })

    test("HOST-3, FAULT-7: commands that only make things safer are accepted at once", async () => {
        const r1 = await runCli(["--tcp", b.tcp, "send", "set-level", "C3"])
        assert.equal(r1.code, 0, r1.out + r1.err)
        assert.match(r1.out, /accepted: set-level/)
        assert.equal(b.fake.level, 2)
        const r2 = await runCli(["--tcp", b.tcp, "send", "abort"])
        assert.equal(r2.code, 0)
        assert.doesNotMatch(r2.out, /press confirm/)
    })

    test("HOST-3, FAULT-7: resume after a pause needs the confirm; a rejection at the confirm (hold not elapsed) is shown", async () => {
        b.fake.minHoldMs = 5000
        b.fake.local(Op.Start)
        b.fake.leakPedal()
        // not yet: rejected before any confirm
        const r = await runCli(["--tcp", b.tcp, "send", "resume"])
        assert.equal(r.code, 1)
        assert.match(r.out, /rejected by the device: hold_not_elapsed/)
        b.fake.minHoldMs = 0
        const p = cli("--tcp", b.tcp, "send", "resume")
        await p.waitFor(/press confirm on the device/)
        b.fake.minHoldMs = 60000 // re-validated at the confirm: now too early again
        b.fake.pressConfirm()
        const r2 = await p.result()
        assert.equal(r2.code, 1)
        assert.match(r2.out, /rejected by the device: hold_not_elapsed/)
        assert.equal(b.fake.state, State.Paused)
        b.fake.minHoldMs = 3000
        b.fake.local(Op.Abort)
    })
})
