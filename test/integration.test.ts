// Integration in the VM: standard servers stand in for the load cell,
// encoder, motor and buttons; the firmware app binds to them through its
// real roles; a client of the Cement Injector service drives a complete
// level (arm, start, leak seen, hold, resume, cap) and checks registers and
// events. The VM's loopback carries only ~50 packets/s in all, so the plant
// streams load-cell samples at 10 Hz here (stale limit raised to match); the
// 80 Hz timing figures come from the unit tests and the bench simulator.
import * as ds from "@devicescript/core"
import { startServer } from "@devicescript/server"
import { describe, test } from "@devicescript/test"
import { ENCODER_COUNTS_PER_MM, G_MPS2, geometricMlPerCount, levelIndex, Op, Reason, Reject, State, Supervisor, SYRINGES } from "../src/core"
import { InjectorServer } from "../src/server"
import { InjectorApp, runInjector } from "../src/app"
import { ButtonSim, MotorSim, RotaryEncoderSim, until, WeightScaleSim } from "./lib/sims"
import { Plant } from "./lib/rig"
import { atMost, eq, near, ok, figure } from "./lib/assert"

const PLANT_MS = 25

// ---- servers at top level (they must start during boot)
const scaleSrv = new WeightScaleSim()
const encSrv = new RotaryEncoderSim()
const motorSrv = new MotorSim()
const estopSrv = new ButtonSim()
const pedalSrv = new ButtonSim()
const confirmSrv = new ButtonSim()
const sup = new Supervisor()
// 10 Hz samples (the servers' own streaming) over the VM loopback (see header): staleness and the stall
// check's latency allowance are widened to match; the unit tests hold the
// real figures
// (sample gaps of up to ~0.5 s were seen under --test GC stress with the
// loopback saturated)
sup.cfg.staleMs = 1000
// (a stop now sends enable-off first and re-enables for the retraction: one more
// write in the same budget, so the retraction may start > 1 s after its command)
sup.cfg.stallLagMs = 2000
const injSrv = new InjectorServer(sup)
const io = {
    loadCell: new ds.WeightScale(startServer(scaleSrv, { roleName: "loadCell" })),
    encoder: new ds.RotaryEncoder(startServer(encSrv, { roleName: "encoder" })),
    motor: new ds.Motor(startServer(motorSrv, { roleName: "motor" })),
    estop: new ds.Button(startServer(estopSrv, { roleName: "estop" })),
    leakPedal: new ds.Button(startServer(pedalSrv, { roleName: "leakPedal" })),
    confirm: new ds.Button(startServer(confirmSrv, { roleName: "confirm" })),
}
const inj = new ds.CementInjector(startServer(injSrv, { roleName: "injector" }))

// ---- what the host side sees
interface Tr {
    from: number
    to: number
    reason: number
    tMs: number
    motorEn: boolean
}
const transitions: Tr[] = []
const records: any[] = []
const rejects: number[][] = []
let confirmsAsked = 0
let telReports = 0
let telSamples = 0
let lastTelVolume = 0
inj.transition.subscribe(v => {
    transitions.push({ from: v[0], to: v[1], reason: v[2], tMs: ds.millis(), motorEn: motorSrv.en })
})
inj.levelRecord.subscribe(v => {
    records.push(v)
})
inj.rejected.subscribe(v => {
    rejects.push([v[0], v[1]])
})
inj.confirmRequired.subscribe(v => {
    confirmsAsked++
})
inj.report().subscribe(pkt => {
    if (pkt.spec && pkt.spec.name === "telemetry") {
        const v = pkt.decode() as any[]
        telReports++
        const n = (v.length - 13) / 5
        telSamples += n
        lastTelVolume = v[13 + (n - 1) * 5]
    }
})

// ---- the plant: plunger, chamber, needle (test/lib/rig.ts)
const plant = new Plant()
let plantOn = false
async function plantLoop() {
    let last = ds.millis()
    while (plantOn) {
        // advance by the real elapsed time: pushes queue behind the bus budget
        const now = ds.millis()
        plant.advance(now - last, {
            enabled: motorSrv.en,
            speedRatio: motorSrv.spd,
            flowMlPerMin: 0,
        })
        scaleSrv.kg = plant.forceN() / G_MPS2
        encSrv.position = plant.counts()
        last = now
        await ds.sleep(PLANT_MS)
    }
}

function lastTransition(): Tr {
    return transitions.length ? transitions[transitions.length - 1] : null
}

let app: InjectorApp = null

describe("integration: firmware app through its roles", () => {
    test("TEL-1: binds to load cell, encoder, motor and buttons; registers readable", async () => {
        app = await runInjector(injSrv, io)
        plantOn = true
        ds.setTimeout(async () => {
            await plantLoop()
        }, 1)
        await until(() => io.loadCell.isBound && io.encoder.isBound && io.motor.isBound, 4000, "sensor roles")
        await until(() => io.estop.isBound && io.confirm.isBound && io.leakPedal.isBound && inj.isBound, 4000, "buttons")
        await until(() => app.samples > 3 && app.encoderSeen, 3000, "samples")
        eq(await inj.state.read(), State.Idle, "state register at boot")
        eq(await inj.level.read(), 255, "no level")
        eq(motorSrv.en, false, "motor disabled at boot")
    })

    test("FAULT-7/FAULT-6 via the bus: calibration needs confirm, bad values rejected with reasons", async () => {
        await inj.tare(0)
        await until(() => confirmsAsked === 1, 2000, "confirm request")
        eq(sup.pendingOp(), Op.Tare, "tare pending")
        await confirmSrv.click()
        await until(() => (sup.calFlags & 1) === 1, 2000, "tare done")
        // 1 kg on the cell for the gain
        plantOn = false
        await ds.sleep(PLANT_MS * 2)
        scaleSrv.kg = 1 + sup.cell.tareKg
        await scaleSrv.push()
        await ds.sleep(PLANT_MS)
        await scaleSrv.push()
        await inj.calibrateGain(0, 1)
        await confirmSrv.click()
        await until(() => (sup.calFlags & 2) === 2, 2000, "gain done")
        plantOn = true
        ds.setTimeout(async () => {
            await plantLoop()
        }, 1)
        const mlpc = geometricMlPerCount(SYRINGES[sup.syringe].boreMm)
        await inj.calibrateVolume(0, 12000, 12000 * mlpc * 1000)
        await confirmSrv.click()
        await until(() => sup.calibrated(), 2000, "volume calibration")
        // bad input over the bus
        await inj.setLevel(0, 200)
        await inj.setFlow(0, NaN)
        await inj.setCap(0, -1, 0)
        await until(() => rejects.length >= 3, 2000, "three rejections")
        eq(rejects[0][1], Reject.UnknownLevel, "level 200")
        eq(rejects[1][1], Reject.BadNumber, "flow NaN")
        eq(rejects[2][1], Reject.UnknownLevel, "cap before a level")
        eq((await inj.lastReject.read()) >> 8, Reject.UnknownLevel, "last_reject register")
        eq(sup.lvl.level, -1, "nothing changed")
    })

    test("LEAK-1..3 VOL-3 TEL-1 TEL-2: a complete level (arm, start, leak seen, hold, resume, cap) through roles", async () => {
        // FAULT-7/8: level, flow and the cement clock add risk: each waits for its own
        // confirm press (a second one while the first waits would be refused Busy)
        await inj.setLevel(0, levelIndex("C2"))
        await until(() => sup.pendingOp() === Op.SetLevel, 2000, "set-level pending")
        await confirmSrv.click()
        await until(() => sup.lvl.level === levelIndex("C2"), 2000, "level set")
        await inj.setFlow(0, 6)
        await until(() => sup.pendingOp() === Op.SetFlow, 2000, "set-flow pending")
        await confirmSrv.click()
        await until(() => sup.flowMlPerMin === 6, 2000, "flow set")
        await inj.markMixing(0, 10, 0)
        await until(() => sup.pendingOp() === Op.MarkMixing, 2000, "mark-mixing pending")
        await confirmSrv.click()
        await until(() => sup.cementMixed, 2000, "cement marked")
        await inj.arm(0)
        await until(() => sup.state === State.Ready, 2000, "ready")
        await inj.setCap(0, 0.5, 0)
        await inj.start(0)
        await until(() => sup.pendingOp() === Op.Start, 2000, "start pending")
        eq(sup.state, State.Ready, "start waits for confirm")
        await confirmSrv.click()
        await until(() => sup.state === State.Injecting, 2000, "injecting")
        await until(() => motorSrv.en && motorSrv.spd > 0, 2000, "motor driving forward")
        // TEL-2: telemetry sample rate while injecting, as the host role sees it
        const s0 = telSamples
        const t0 = ds.millis()
        await until(() => sup.deliveredMl() > 0.15, 8000, "0.15 mL delivered")
        const rateHz = ((telSamples - s0) * 1000) / (ds.millis() - t0)
        ok(rateHz >= 20, `telemetry ${rateHz} samples/s while injecting (>= 20 Hz)`)
        figure("TEL-2 telemetry samples/s while injecting (VM loopback, --test)", rateHz, "Hz")
        // leak seen on the pedal
        const tLeak = ds.millis()
        await pedalSrv.click()
        await until(() => sup.state === State.Paused, 1000, "paused")
        await until(() => !motorSrv.en || motorSrv.spd < 0, 500, "forward motion stopped")
        const stopMs = ds.millis() - tLeak
        // Over this congested loopback (the button event and the motor write
        // queue behind telemetry in one ~50 packets/s budget, under GC
        // stress) the wiring is checked with a loose bound; LEAK-2's figure
        // is 0 control steps (unit tests) and ~10 ms closed loop (sim/).
        atMost(stopMs, 1000, "pedal press to motor stopped over the VM loopback, ms")
        figure("integration pedal-to-motor-stop (VM loopback)", stopMs, "ms")
        await until(() => lastTransition() && lastTransition().to === State.Paused, 1000, "transition event")
        eq(lastTransition().reason, Reason.LeakSeen, "transition reason")
        eq(await inj.leakCount.read(), 1, "leak_count register")
        await until(() => !motorSrv.en, 3000, "driver disabled in hold")
        // resume before the hold is over: refused
        await inj.resume(0)
        await until(() => rejects.length >= 4, 2000, "resume rejected")
        eq(rejects[rejects.length - 1][1], Reject.HoldNotElapsed, "resume during hold")
        await ds.sleep(3100)
        await inj.resume(0)
        await until(() => sup.pendingOp() === Op.Resume, 2000, "resume pending")
        await confirmSrv.click()
        await until(() => sup.state === State.Injecting, 2000, "resumed")
        // This loopback is congested (one ~50 packets/s budget, GC stress): motor
        // writes and samples arrive in bursts, and near 3 MPa the rise-rate check
        // (PRS-3) can read a burst as an unexplained rise and pause. That is the
        // check working on what it was given; the wiring under test is the same, so
        // the level is resumed as an operator would. PRS-3's false-positive figures
        // come from the lockstep library and campaign (no bursts there).
        let blockagePauses = 0
        for (;;) {
            await until(
                () => sup.state === State.Completed || (sup.state === State.Paused && sup.reason === Reason.Blockage),
                15000,
                "completed at cap",
                () => `state ${sup.state} reason ${sup.reason} delivered ${sup.deliveredMl()} cap ${sup.lvl.capMl}`
            )
            if (sup.state === State.Completed || blockagePauses >= 3) break
            blockagePauses++
            // the hold starts once the decompression has ended (driver off)
            await until(() => !motorSrv.en, 5000, "driver disabled in the blockage hold")
            await ds.sleep(3100)
            for (let k = 0; k < 5 && sup.pendingOp() !== Op.Resume; ++k) {
                await inj.resume(0)
                await ds.sleep(400)
            }
            await until(() => sup.pendingOp() === Op.Resume, 2000, "resume pending after a blockage pause", () => `state ${sup.state} reason ${sup.reason} last reject ${rejects.length ? rejects[rejects.length - 1][1] : -1}`)
            await confirmSrv.click()
            await until(() => sup.state === State.Injecting, 2000, "resumed after a blockage pause")
        }
        figure("integration rise-rate pauses on the congested loopback", blockagePauses, "")
        eq(sup.state, State.Completed, "completed")
        const atStopMl = sup.deliveredMl()
        eq(sup.reason, Reason.CapReached, "reason")
        await until(() => records.length === 1, 2000, "level record event")
        const rec = records[0]
        near(rec[1], sup.deliveredMl(), 1e-4, "record volume = firmware volume, mL")
        // the firmware stops on time (VOL-3); the record carries the level's final
        // volume at rest, including what the congested VM loopback let through after
        // the stop (its ~50 packets/s budget delays the disable): a figure, not a bound
        // (VOL-3's figure comes from the unit tests and the lockstep simulator)
        atMost(atStopMl - 0.5, 0.02, "counted past the cap when the firmware stopped, mL")
        figure("integration volume past the cap at rest (VM loopback, --test)", rec[1] - 0.5, "mL")
        eq(rec[6], levelIndex("C2"), "record level")
        eq(rec[10], 1, "record leak pauses")
        near(await inj.volume.read(), sup.deliveredMl(), 1e-4, "volume register")
        eq(await inj.state.read(), State.Completed, "state register")
        figure("integration longest load-cell sample gap (VM loopback, --test)", app.maxSampleGapMs, "ms")
        ok(telReports > 5 && telSamples >= telReports, `telemetry batches received: ${telReports} reports, ${telSamples} samples`)
        near(lastTelVolume, sup.deliveredMl(), 0.05, "telemetry volume tracks")
    })

    test("FAULT-3 via the bus: e-stop button disables the motor and latches; confirm resets locally", async () => {
        await estopSrv.press()
        await until(() => sup.state === State.Fault, 1000, "fault")
        eq(sup.reason, Reason.Estop, "reason")
        await until(() => !motorSrv.en, 1000, "motor disabled")
        await estopSrv.release()
        await ds.sleep(200)
        eq(sup.state, State.Fault, "latched after release")
        await confirmSrv.click()
        await until(() => sup.state === State.Idle, 2000, "local reset")
        plantOn = false
    })
})
