// HOST-3 with FAULT-6/7/8: `injector send` through the real CLI to the real
// firmware (src/main.ts in the DeviceScript VM on the devtools hub, with the
// bench simulator's hardware). One command, one effect: each command is
// sent under one request id, answered by command_result, re-sent under the
// same id when the answer is lost, and executed once.
//
// Uses the hub's fixed ports 8081-8083: run in a private network namespace,
//   unshare -rn bash -c 'ip link set lo up; node --import tsx --test host/test/send.test.ts'
import { strict as assert } from "node:assert"
import { after, before, describe, test } from "node:test"
import { jdpack } from "jacdac-ts"
import { Op, Reason, State } from "../../src/core/types"
import { InjectorLink } from "../lib/link"
import { prepare, sendCommand } from "../lib/send"
import { Firmware } from "./firmware"
import { cli, killAllCli, runCli, sleep } from "./helpers"
import { Proxy, dropFirstAnswer, startProxy } from "./proxy"

describe("send against the firmware in the VM", () => {
    let fw: Firmware
    before(async () => {
        fw = await Firmware.open()
    })
    after(async () => {
        killAllCli()
        await fw?.close()
    })

    /** Starts the level through the CLI and the simulated confirm button. */
    async function inject() {
        await fw.ready()
        const p = cli("--tcp", fw.tcp, "send", "start")
        await p.waitFor(/press confirm on the device/)
        await fw.pressConfirm()
        const r = await p.result()
        assert.equal(r.code, 0, r.out + r.err)
        await fw.waitState(State.Injecting)
    }

    test("HOST-3, FAULT-7: start once through the CLI: pending, confirm pressed on the device, executed once, exit 0", () => fw.attempt("start", async () => {
        await fw.ready()
        const t0 = performance.now()
        const p = cli("--tcp", fw.tcp, "send", "start")
        await p.waitFor(/press confirm on the device/)
        assert.equal(fw.state, State.Ready, "nothing moves before the confirm")
        await sleep(300)
        await fw.pressConfirm()
        const r = await p.result()
        assert.equal(r.code, 0, r.out + r.err)
        assert.match(r.out, /confirmed on the device: start executed \(state: injecting\)/)
        await fw.waitState(State.Injecting)
        const starts = fw.sent("start")
        assert.ok(starts.length >= 1 && starts.every(c => c.seq === starts[0].seq && c.seq > 0), `one request id for the intent: ${JSON.stringify(starts)}`)
        assert.equal(fw.transitions(t0, Reason.Started).length, 1, "one start")
        const mine = fw.answers.filter(a => a.seq === starts[0].seq).map(a => a.outcome)
        assert.deepEqual([mine[0], mine[mine.length - 1]], ["pending", "executed"])
    }))

    test("HOST-3, FAULT-8, LEAK-1: `send leak-seen` once during an injection: one leak pause, not aborted, exit 0", () => fw.attempt("leak-seen", async () => {
        await inject()
        await sleep(500)
        const before = await fw.fresh()
        const t0 = performance.now()
        const r = await runCli(["--tcp", fw.tcp, "send", "leak-seen"])
        assert.equal(r.code, 0, r.out + r.err)
        assert.match(r.out, /executed: leak-seen \(state: paused\)/)
        await sleep(1500) // any duplicate would have arrived by now
        const t = await fw.fresh()
        assert.equal(t.state, State.Paused)
        assert.equal(t.leaks, before.leaks + 1, `one leak pause; ${fw.story(t0)}`)
        assert.equal(t.pauses, before.pauses + 1)
        assert.equal(fw.transitions(t0, Reason.LeakSeen).length, 1)
        assert.equal(fw.transitions(t0).filter(e => e.to === State.Aborted).length, 0, "not aborted")
        assert.equal(fw.sent("leak_seen").length, 1, "one packet: the answer came, nothing was re-sent")
    }))

    test("HOST-3, FAULT-6: rejections print the reason by name with the values that matter, exit 1, nothing changes", async () => {
        await fw.ready()
        const cases: [string[], RegExp][] = [
            [["resume"], /rejected by the device: wrong_state \(not allowed in the current state\); the device is ready/],
            [["set-flow", "9"], /rejected by the device: out_of_range \(an argument is out of range\); allowed: 0\.5 to 6 mL\/min/],
            [["set-cap", "9", "--override"], /rejected by the device: above_ceiling .*; allowed: 0 to 4 mL/],
            [["set-cap", "3.8"], /rejected by the device: override_required/],
            [["arm"], /rejected by the device: wrong_state .*; the device is ready/],
        ]
        const before = await fw.fresh()
        const t0 = performance.now()
        for (const [args, re] of cases) {
            const r = await runCli(["--tcp", fw.tcp, "send", ...args])
            assert.equal(r.code, 1, `${args.join(" ")}: ${r.out}${r.err}`)
            assert.match(r.out, re)
        }
        const t = await fw.fresh()
        assert.equal(t.state, State.Ready, "rejections change nothing")
        assert.equal(t.capMl, before.capMl)
        const mine = fw.answers.filter(a => a.tMs >= t0)
        assert.equal(mine.length, cases.length, JSON.stringify(mine))
        assert.ok(mine.every(a => a.outcome === "rejected"), JSON.stringify(mine))
    })

    test("HOST-3, FAULT-6: resume before the minimum hold is refused with the hold left, exit 1", () => fw.attempt("hold", async () => {
        await inject()
        const r = await runCli(["--tcp", fw.tcp, "send", "pause"])
        assert.equal(r.code, 0, r.out + r.err)
        await sleep(1000) // the decompression first: a CLI starting during it can stall the VM on a loaded machine
        const r2 = await runCli(["--tcp", fw.tcp, "send", "resume"])
        assert.equal(r2.code, 1, r2.out + r2.err)
        const m = /rejected by the device: hold_not_elapsed .*; hold left: (\d+\.\d) s/.exec(r2.out)
        assert.ok(m, r2.out)
        assert.ok(+m![1] > 0 && +m![1] <= 3, `hold left ${m![1]} s of 3 s`)
        assert.equal(fw.state, State.Paused)
    }))

    test("HOST-3, FAULT-7: resume after the hold: pending, confirmed on the device, exit 0; injecting again", () => fw.attempt("resume", async () => {
        await inject()
        assert.equal((await runCli(["--tcp", fw.tcp, "send", "pause"])).code, 0)
        await sleep(3200)
        const t0 = performance.now()
        const p = cli("--tcp", fw.tcp, "send", "resume")
        await p.waitFor(/press confirm on the device/)
        await fw.pressConfirm()
        const r = await p.result()
        assert.equal(r.code, 0, r.out + r.err)
        assert.match(r.out, /confirmed on the device: resume executed \(state: injecting\)/)
        assert.equal(fw.transitions(t0, Reason.Resumed).length, 1)
    }))

    test("HOST-3, FAULT-7: a pending command nobody confirms expires on the device: exit 4, not executed", async () => {
        await fw.ready()
        const r = await runCli(["--tcp", fw.tcp, "send", "start"], 40000)
        assert.equal(r.code, 4, r.out + r.err)
        assert.match(r.out, /press confirm on the device/)
        assert.match(r.out, /not confirmed on the device in time: start was not executed \(state: ready\)/)
        assert.equal(fw.state, State.Ready)
    })

    test("HOST-3, FAULT-8: a pending command cancelled by a safety action (abort) exits 5, not executed; a second risky command meanwhile is busy", async () => {
        await fw.ready()
        const p = cli("--tcp", fw.tcp, "send", "start")
        await p.waitFor(/press confirm on the device/)
        const busy = await runCli(["--tcp", fw.tcp, "send", "set-cap", "3.8", "--override"])
        assert.equal(busy.code, 1, busy.out + busy.err)
        assert.match(busy.out, /rejected by the device: busy \(another command already waits for the local confirm\)/)
        const ab = await runCli(["--tcp", fw.tcp, "send", "abort"])
        assert.equal(ab.code, 0, ab.out + ab.err)
        const r = await p.result()
        assert.equal(r.code, 5, r.out + r.err)
        assert.match(r.out, /cancelled on the device by a safety action before the confirm: start was not executed/)
        await fw.pressConfirm() // nothing left to confirm
        await sleep(300)
        assert.notEqual(fw.state, State.Injecting)
    })

    test("HOST-3, FAULT-7: commands that only make things safer execute at once (exit 0); level, flow and the cement clock wait for the confirm", async () => {
        await fw.ready()
        for (const [args, re] of [
            [["disarm"], /executed: disarm \(state: idle\)/],
            [["abort"], /executed: abort/],
            [["pause"], /executed: pause/],
        ] as [string[], RegExp][]) {
            const r = await runCli(["--tcp", fw.tcp, "send", ...args])
            assert.equal(r.code, 0, `${args.join(" ")}: ${r.out}${r.err}`)
            assert.match(r.out, re)
            assert.doesNotMatch(r.out, /press confirm/)
        }
        // FAULT-7: changing the level, the flow or the cement clock adds risk
        for (const args of [["set-level", "C3"], ["set-flow", "2"], ["mark-mixing", "10", "0"]]) {
            const p = cli("--tcp", fw.tcp, "send", ...args)
            await p.waitFor(/press confirm on the device/)
            await fw.pressConfirm()
            const r = await p.result()
            assert.equal(r.code, 0, `${args.join(" ")}: ${r.out}${r.err}`)
            assert.match(r.out, /confirmed on the device: .* executed/)
        }
        const t = await fw.fresh()
        assert.equal(t.level, 2, "C3")
    })

    test("HOST-3, FAULT-8: the same request id sent three times: executed once, answered three times", () => fw.attempt("repeat", async () => {
        await inject()
        await sleep(300)
        const before = await fw.fresh()
        const link = new InjectorLink({ tcp: fw.tcp }).start()
        try {
            assert.ok(await link.waitConnected(5000))
            const t0 = performance.now()
            const seq = 0x1234567
            const data = jdpack("u32", [seq])
            for (let i = 0; i < 3; i++) {
                await link.sendCommand(Op.LeakSeen, data)
                await sleep(150)
            }
            await sleep(1500)
            const t = await fw.fresh()
            assert.equal(t.leaks, before.leaks + 1, `one leak pause; ${fw.story(t0)}`)
            assert.equal(fw.transitions(t0, Reason.LeakSeen).length, 1)
            assert.equal(fw.sent("leak_seen").filter(c => c.seq === seq).length, 3)
            assert.deepEqual(
                fw.answers.filter(a => a.seq === seq).map(a => a.outcome),
                ["executed", "executed", "executed"]
            )
        } finally {
            await link.stop()
        }
    }))

    test("HOST-3, FAULT-8: the first answer lost on the way to the host: the CLI re-sends the same id, one effect, exit 0", () => fw.attempt("lost answer", async () => {
        await inject()
        await sleep(300)
        let proxy: Proxy | undefined
        try {
            proxy = await startProxy(8082, dropFirstAnswer(() => fw.deviceId))
            const before = await fw.fresh()
            const t0 = performance.now()
            const r = await runCli(["--tcp", `127.0.0.1:${proxy.port}`, "send", "leak-seen"])
            assert.equal(r.code, 0, r.out + r.err)
            assert.match(r.out, /executed: leak-seen/)
            assert.ok(proxy.dropped >= 1, "the first answer was dropped")
            const sent = fw.sent("leak_seen")
            assert.ok(sent.length >= 2, `re-sent: ${sent.length} packet(s)`)
            assert.ok(sent.every(c => c.seq === sent[0].seq), "one request id")
            await sleep(1000)
            const t = await fw.fresh()
            assert.equal(t.leaks, before.leaks + 1, `one leak pause; ${fw.story(t0)}`)
            assert.equal(fw.transitions(t0, Reason.LeakSeen).length, 1)
            assert.equal(t.state, State.Paused, "not aborted")
        } finally {
            await proxy?.close()
        }
    }))

    test("HOST-3: lib sendCommand: consecutive commands of one process use consecutive request ids", async () => {
        await fw.ready()
        const link = new InjectorLink({ tcp: fw.tcp }).start()
        try {
            assert.ok(await link.waitConnected(5000))
            const quiet = () => {}
            // commands that execute at once (no confirm): the keep-alive, twice
            const a = await sendCommand(link, prepare("heartbeat", [], {}), { out: quiet })
            const b = await sendCommand(link, prepare("heartbeat", [], {}), { out: quiet })
            assert.equal(a.exit, 0)
            assert.equal(b.exit, 0)
            assert.equal(b.seq, a.seq + 1)
            assert.equal(a.sends, 1)
        } finally {
            await link.stop()
        }
    })

    test("FLOW-5, HOST-3: set-custom-syringe against the firmware: a bore beyond the drive's limits is refused with the allowed range (exit 1); one within waits for the device's confirm, then executes (exit 0)", () => fw.attempt("custom syringe", async () => {
        await fw.ready()
        assert.equal((await runCli(["--tcp", fw.tcp, "send", "disarm"])).code, 0)
        await fw.waitState(State.Idle)
        const bad = await runCli(["--tcp", fw.tcp, "send", "set-custom-syringe", "40", "5"])
        assert.equal(bad.code, 1, bad.out + bad.err)
        assert.match(bad.out + bad.err, /allowed bore: [\d.]+ to [\d.]+ mm/)
        const p = cli("--tcp", fw.tcp, "send", "set-custom-syringe", "12", "5")
        await p.waitFor(/press confirm on the device/)
        await fw.pressConfirm()
        const r = await p.result()
        assert.equal(r.code, 0, r.out + r.err)
        assert.match(r.out, /set-custom-syringe executed/)
        // back to the 20 mL preset for whatever runs after
        const q = cli("--tcp", fw.tcp, "send", "set-syringe", "3")
        await q.waitFor(/press confirm on the device|executed/)
        await fw.pressConfirm()
        await q.result()
    }))
})
