// Scenario time 0 to the end: the operator's actions and the injected
// faults at their instants on the plant's clock, the live view, and the
// end rule (the level over and settled, or the scenario's duration).
import { setThreshold } from "../../src/core/config"
import { levelIndex } from "../../src/core/levels"
import { Op, Reason, State } from "../../src/core/types"
import { BenchClient } from "./client"
import { reasonName } from "./injector"
import { LiveView, lowerState, resultEvent, RunOptions, Trigger } from "./result"
import { Scenario, ScenarioAction, ScenarioFault, scenarioBoreMm, THRESHOLD_IDS } from "./scenario"
import { SimSession } from "./session"

const sleep = (ms: number) => new Promise(r => setTimeout(r, ms))

/** The live view of a running scenario. */
export function liveView(session: SimSession, sc: Scenario): LiveView {
    const link = session.link
    const plant = session.plant
    const t = link.latest
    const smp = t?.samples[t.samples.length - 1]
    const st = plant.state()
    return {
        tS: plant.nowS(),
        durationS: sc.durationS,
        state: lowerState(t?.state),
        reason: t ? reasonName(t.reason) : "",
        volumeMl: smp?.volumeMl ?? NaN,
        capMl: t?.capMl ?? NaN,
        pressurePa: smp?.pressurePa ?? NaN,
        flowMlPerMin: smp?.flowMlPerMin ?? NaN,
        injectedMl: st.injectedMl,
        leakedMl: st.leakedMl,
        chamberPa: st.chamberPressurePa,
        lastEvents: link.events.slice(-6).map(e => resultEvent(e, plant.t0Wall)),
    }
}

export class Timeline {
    /** stop triggers the timeline caused, scenario time */
    readonly triggers: Trigger[] = []
    private levelStartS: number | undefined

    constructor(readonly session: SimSession, readonly client: BenchClient, readonly sc: Scenario, readonly opts: RunOptions) {}

    private get link() {
        return this.session.link
    }
    private get plant() {
        return this.session.plant
    }

    async run(): Promise<{ levelStartS?: number; endS: number }> {
        const sc = this.sc
        type Item = { atS: number; order: number; run: () => Promise<void>; label: string }
        const items: Item[] = []
        let order = 0
        const running = new Set<Promise<void>>()
        for (const a of sc.actions) items.push({ atS: a.atS, order: order++, label: `action ${a.do}`, run: () => this.action(a) })
        for (const f of sc.faults ?? []) {
            items.push({ atS: f.atS, order: order++, label: `fault ${f.kind}`, run: () => this.faultStart(f) })
            if (f.kind === "handMove")
                items.push({ atS: f.atS + (f.forS ?? 0.5), order: order++, label: "hand lets go", run: () => this.faultEnd(f) })
            else if (f.forS !== undefined && f.kind !== "encoderJump" && f.kind !== "encoderReset")
                items.push({ atS: f.atS + f.forS, order: order++, label: `fault ${f.kind} end`, run: () => this.faultEnd(f) })
            else if (f.kind === "restart")
                items.push({ atS: f.atS + 0.3, order: order++, label: "restart: power back", run: () => this.faultEnd(f) })
        }
        items.sort((a, b) => a.atS - b.atS || a.order - b.order)
        const settleS = sc.settleS ?? 1.0
        let doneSince: number | undefined
        let lastView = 0
        let next = 0
        const errors: string[] = []
        for (;;) {
            const t = this.plant.nowS()
            while (next < items.length && items[next].atS <= t) {
                const it = items[next++]
                const p = it.run().catch(e => {
                    errors.push(`${it.label} at ${it.atS}s: ${(e as Error).message}`)
                })
                running.add(p)
                void p.finally(() => running.delete(p))
            }
            if (errors.length) throw new Error(errors.join("; "))
            if (t >= sc.durationS) break
            if (sc.endWhenDone !== false) {
                const s = this.link.latest?.state
                const over = s === State.Completed || s === State.Aborted || s === State.Fault
                if (over && next >= items.length && running.size === 0 && this.session.vmAlive()) {
                    doneSince ??= t
                    if (t - doneSince >= settleS) break
                } else doneSince = undefined
            }
            if (this.opts.onView && performance.now() - lastView > 100) {
                lastView = performance.now()
                this.opts.onView(liveView(this.session, sc))
            }
            await sleep(5)
        }
        await Promise.all([...running])
        if (errors.length) throw new Error(errors.join("; "))
        if (this.levelStartS === undefined) {
            // the firmware's Started transition, if the level started another way
            const ev = this.link.events.find(e => e.type === "transition" && e.reason === Reason.Started)
            if (ev) this.levelStartS = (ev.tHostMs - this.plant.t0Wall) / 1000
        }
        return { levelStartS: this.levelStartS, endS: this.plant.nowS() }
    }

    private async action(a: ScenarioAction) {
        const sc = this.sc
        const client = this.client
        const device = this.session.device
        const triggers = this.triggers
        const now = () => this.plant.nowS()
        const confirm = a.confirm !== false
        const sequenced = a.sequenced
        const cmd = (op: Op, args: number[] = []) => client.command(op, args, { confirm, sequenced })
        switch (a.do) {
            case "mix":
                await cmd(Op.MarkMixing, [a.preparedMl ?? sc.cement?.preparedMl ?? 10, a.ageS ?? 0])
                break
            case "burst": {
                // an adversarial host: N commands at a rate, no confirm presses, no waiting for
                // answers; each with a fresh request id (seq 0 with "sequenced": false)
                const op = Op[a.command as keyof typeof Op] as number
                const gapMs = 1000 / a.rateHz!
                const t0 = performance.now()
                for (let i = 0; i < a.count!; i++) {
                    const due = t0 + i * gapMs
                    if (due > performance.now()) await sleep(due - performance.now())
                    await this.link.sendSeq(a.sequenced === false ? 0 : client.takeSeq(), op, a.args ?? [])
                }
                break
            }
            case "arm":
                await cmd(Op.Arm)
                break
            case "disarm":
                await cmd(Op.Disarm)
                break
            case "start": {
                const t = now()
                const r = await cmd(Op.Start)
                if (r.executed) this.levelStartS ??= t
                break
            }
            case "resume":
                await cmd(Op.Resume)
                break
            case "pause":
                triggers.push({ trigger: "pause", tS: now() })
                await cmd(Op.Pause)
                break
            case "finish":
                triggers.push({ trigger: "finish", tS: now() })
                await cmd(Op.Finish)
                break
            case "abort":
                triggers.push({ trigger: "abort", tS: now() })
                await cmd(Op.Abort)
                break
            case "leakSeen":
                triggers.push({ trigger: "leakSeen", tS: now() })
                if (a.via === "command") await cmd(Op.LeakSeen)
                else await device.leakPedal.press(150)
                break
            case "estop":
                triggers.push({ trigger: "estop", tS: now() })
                await device.estop.down()
                await sleep((a.holdS ?? 0.3) * 1000)
                await device.estop.up()
                break
            case "reset":
                if (a.via === "button") await client.pressConfirm()
                else await cmd(Op.ClearFault)
                break
            case "confirm":
                await client.pressConfirm()
                break
            case "setLevel":
                await cmd(Op.SetLevel, [levelIndex(a.level!)])
                break
            case "setCap":
                await cmd(Op.SetCap, [a.capMl!, a.override ? 1 : 0])
                break
            case "setFlow":
                await cmd(Op.SetFlow, [a.flowMlPerMin!])
                break
            case "setThreshold": {
                const r = await cmd(Op.SetThreshold, [a.value!, THRESHOLD_IDS[a.name!]])
                if (r.executed) setThreshold(client.thresholds, THRESHOLD_IDS[a.name!], a.value!)
                break
            }
            case "setRemoteMode":
                await cmd(Op.SetRemoteMode, [a.on ? 1 : 0])
                break
            case "setBenchMode":
                await cmd(Op.SetBenchMode, [a.on ? 1 : 0])
                break
            case "overrideLeakLimit":
                await cmd(Op.OverrideLeakLimit)
                break
            case "exchangeSyringe":
                // FLOW-5, the operator's hands: old syringe off, pusher back, a full one on (the plant)
                // nobody takes a syringe off a running drive: with the drive enabled the action is skipped
                this.plant.advanceToNow()
                if (this.plant.input.enabled) this.opts.log?.(`exchangeSyringe at ${a.atS} s skipped: the drive is running`)
                else this.plant.rig.plant.exchangeSyringe()
                break
            case "syringeExchanged":
                // FLOW-5: the host's syringe_exchanged (fill 0 = full); it waits for the local confirm
                await cmd(Op.SyringeExchanged, [a.fillMl ?? 0])
                break
            case "setIncrement":
                await cmd(Op.SetIncrement, [a.incrementMl!, a.on === false ? 0 : 1])
                break
        }
    }

    private async faultStart(f: ScenarioFault) {
        const rig = this.plant.rig
        this.plant.advanceToNow()
        const t = this.plant.nowS()
        switch (f.kind) {
            case "loadCellStale":
                rig.loadCell.setFault("stale")
                break
            case "loadCellSaturated":
                rig.loadCell.setFault("saturated")
                break
            case "loadCellNaN":
                rig.loadCell.setFault("nan")
                break
            case "encoderStuck":
                rig.setEncoderStuck(true)
                break
            case "encoderJump":
                rig.encoder.jump(f.counts ?? 20000)
                break
            case "encoderReset":
                rig.encoder.resetToZero(rig.plant.plungerPosMm())
                break
            case "encoderScale":
                rig.encoder.setScale(f.factor!, rig.plant.plungerPosMm())
                break
            case "loadCellLow":
                rig.loadCell.gain *= f.factor!
                break
            case "handMove": {
                const mlPerMm = (Math.PI * scenarioBoreMm(this.sc) ** 2) / 4 / 1000
                rig.plant.handVelMmPerS = f.volumeMl! / mlPerMm / (f.forS ?? 0.5)
                break
            }
            case "hostDisconnect":
                this.link.connected = false
                if (!this.sc.remoteMode) return // in local mode nothing must stop
                break
            case "restart":
                this.triggers.push({ trigger: "restart", tS: t })
                await this.session.stopFirmware()
                return
        }
        this.triggers.push({ trigger: f.kind, tS: t })
    }

    private async faultEnd(f: ScenarioFault) {
        const rig = this.plant.rig
        this.plant.advanceToNow()
        switch (f.kind) {
            case "loadCellStale":
            case "loadCellSaturated":
            case "loadCellNaN":
                rig.loadCell.setFault(null)
                break
            case "encoderStuck":
                rig.setEncoderStuck(false)
                break
            case "encoderScale":
                rig.encoder.setScale(1, rig.plant.plungerPosMm())
                break
            case "loadCellLow":
                rig.loadCell.gain /= f.factor!
                break
            case "handMove":
                rig.plant.handVelMmPerS = 0
                break
            case "hostDisconnect":
                this.link.connected = true
                break
            case "restart":
                // a load cell the scenario still holds faulted gives the restarted firmware no force
                await this.session.startFirmware({ keepFlash: true, sameDevice: true, loadCellLive: () => !this.plant.rig.loadCell.faulted() })
                break
        }
    }
}
