// `npm run bench:send`: every `injector send` verb through the real CLI against
// the firmware in the DeviceScript VM (devtools hub on 8081-8083: run it in a
// private network namespace when others use those ports:
//   unshare -rn bash -c 'ip link set lo up; npm run bench:send'
// For each verb: the command packets seen on the bus, the device's answers,
// the effect seen in telemetry, the exit code, and the time from invoking the
// CLI to the device's answer (the CLI's own start-up included) and from the
// first packet to the answer. Prints a table and the medians.
import { Reason, State } from "../src/core/types"
import { Firmware } from "../host/test/firmware"
import { cli, killAllCli, sleep } from "../host/test/helpers"

interface Row {
    verb: string
    exit: number
    packets: number
    answers: string
    effect: string
    /** invocation -> first answer seen on the bus, ms */
    invokeToAnswerMs: number
    /** first command packet -> first answer, ms */
    packetToAnswerMs: number
}

function median(v: number[]) {
    const s = v.filter(Number.isFinite).sort((a, b) => a - b)
    return s.length ? s[Math.floor(s.length / 2)] : NaN
}

async function main() {
    const runs = Number(process.argv[2] ?? 1)
    const fw = await Firmware.open()
    const rows: Row[] = []
    const one = async (verb: string, args: string[], opts: { confirm?: boolean; effect: () => string } ) => {
        const c0 = fw.commands.length
        const a0 = fw.answers.length
        const e0 = fw.events.length
        const t0 = performance.now()
        const p = cli("--tcp", fw.tcp, "send", ...args)
        if (opts.confirm) {
            await p.waitFor(/press confirm on the device/)
            await fw.pressConfirm()
        }
        const r = await p.result()
        await sleep(400)
        const cmds = fw.commands.slice(c0)
        const answers = fw.answers.slice(a0)
        const first = answers[0]
        rows.push({
            verb: [verb, ...args.slice(1)].join(" "),
            exit: r.code,
            packets: cmds.length,
            answers: answers.map(a => a.outcome + (a.reject !== "ok" ? `(${a.reject})` : "")).join(","),
            effect: opts.effect() + (fw.events.slice(e0).some(e => e.type === "transition" && e.to === State.Fault) ? " [fault during the run]" : ""),
            invokeToAnswerMs: first ? first.tMs - t0 : NaN,
            packetToAnswerMs: first && cmds[0] ? first.tMs - cmds[0].tMs : NaN,
        })
    }
    const st = () => (fw.latest ? State[fw.latest.state] : "?")
    try {
        for (let k = 0; k < runs; k++) {
            const n = rows.length
            // a spurious stale-sensor fault (VM stall on a loaded machine) repeats the sequence
            await fw.attempt("bench-send", async () => {
            rows.length = n
            await fw.ready()
            let l0 = fw.latest!.leaks
            await one("set-level", ["set-level", "C2"], { effect: () => `state ${st()}` })
            await one("set-flow", ["set-flow", "3"], { effect: () => `state ${st()}` })
            await one("mark-mixing", ["mark-mixing", "10", "0"], { effect: () => `state ${st()}` })
            await one("arm", ["arm"], { effect: () => `state ${st()}` })
            await one("set-flow (out of range)", ["set-flow", "9"], { effect: () => `state ${st()} (unchanged)` })
            await one("set-cap (above ceiling)", ["set-cap", "9", "--override"], { effect: () => `cap ${fw.latest?.capMl} mL (unchanged)` })
            await one("start", ["start"], { confirm: true, effect: () => `state ${st()}` })
            l0 = fw.latest!.leaks
            await one("leak-seen", ["leak-seen"], { effect: () => `state ${st()}, leak pauses +${fw.latest!.leaks - l0}` })
            await one("resume (hold)", ["resume"], { effect: () => `state ${st()}` })
            await sleep(3000)
            await one("resume", ["resume"], { confirm: true, effect: () => `state ${st()}` })
            await one("pause", ["pause"], { effect: () => `state ${st()}` })
            await one("abort", ["abort"], { effect: () => `state ${st()} (${fw.latest ? Reason[fw.latest.reason] : ""})` })
            }, 6)
        }
    } finally {
        killAllCli()
        await fw.close()
    }
    console.log("verb | exit | packets | answers | effect | invoke->answer ms | packet->answer ms")
    for (const r of rows)
        console.log(`${r.verb} | ${r.exit} | ${r.packets} | ${r.answers} | ${r.effect} | ${r.invokeToAnswerMs.toFixed(0)} | ${r.packetToAnswerMs.toFixed(1)}`)
    const direct = rows.filter(r => !/^(start|resume)$/.test(r.verb))
    console.log(`FIGURE send invocation->answer median ${median(direct.map(r => r.invokeToAnswerMs)).toFixed(0)} ms (CLI start-up, connect, find the injector, send, answer; ${direct.length} sends without a confirm)`)
    console.log(`FIGURE send packet->answer median ${median(rows.map(r => r.packetToAnswerMs)).toFixed(1)} ms (${rows.length} sends)`)
    process.exit(0)
}

main().catch(e => {
    console.error(e)
    process.exit(1)
})
