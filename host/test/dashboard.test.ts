// HOST-1 (dashboard) and HOST-2 (report page) in a real browser: Debian's
// headless Chromium driven by playwright-core. Screenshots go to out/ as
// test artefacts.
import { strict as assert } from "node:assert"
import { mkdirSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { after, before, describe, test } from "node:test"
import { Page } from "playwright-core"
import { WebSocket } from "ws"
import { Op, Reason } from "../../src/core/types"
import { launch } from "./browser"
import { Bench, CliProcess, OUT, bench, cli, runCli, sleep, tmp } from "./helpers"
import { synthText } from "./synth"

const text = (page: Page, id: string) => page.$eval(`#${id}`, el => el.textContent || "")

async function waitText(page: Page, id: string, re: RegExp, ms = 8000) {
    try {
        await page.waitForFunction(([i, src]) => new RegExp(src).test(document.getElementById(i)?.textContent || ""), [id, re.source] as const, { timeout: ms, polling: 100 })
    } catch {
        assert.fail(`#${id} never matched ${re}; it shows "${await text(page, id)}"`)
    }
}

describe("dashboard and report in headless Chromium", () => {
    let b: Bench
    let dash: CliProcess
    let url = ""
    let port = 0
    let browser: Awaited<ReturnType<typeof launch>>
    let page: Page
    const errors: string[] = []

    before(async () => {
        mkdirSync(OUT, { recursive: true })
        b = await bench({ bench: true })
        b.fake.local(Op.SetLevel, 19) // L1
        b.fake.local(Op.MarkMixing, 10)
        b.fake.local(Op.SetFlow, 3)
        b.fake.local(Op.Arm)
        b.fake.local(Op.Start)
        dash = cli("--tcp", b.tcp, "dashboard", "--port", "0")
        const m = await dash.waitFor(/dashboard on (http:\/\/127\.0\.0\.1:(\d+)\/)/)
        url = m[1]
        port = +m[2]
        browser = await launch()
        page = await browser.ctx.newPage()
        // HOST-4: count the sounds the page makes (Web Audio oscillators started, their pitch, the context state)
        await page.addInitScript(() => {
            const log = { oscillators: 0, started: [] as { freq: number; state: string }[] }
            ;(window as any).__audioLog = log
            const AC = window.AudioContext
            ;(window as any).AudioContext = class extends AC {
                createOscillator() {
                    const o = super.createOscillator()
                    log.oscillators++
                    const start = o.start.bind(o)
                    o.start = (t?: number) => {
                        log.started.push({ freq: o.frequency.value, state: this.state })
                        return start(t)
                    }
                    return o
                }
            }
        })
        page.on("pageerror", e => errors.push(String(e)))
        page.on("console", msg => {
            if (msg.type() === "error" && !/WebSocket|ERR_CONNECTION_REFUSED/.test(msg.text())) errors.push(msg.text())
        })
    })
    after(async () => {
        await browser?.close()
        await b.close()
    })

    test("HOST-1: the dashboard shows live values from the injector and its alarm state (screenshot out/dashboard.png)", async () => {
        await page.goto(url)
        await waitText(page, "conn", /^connected$/)
        await waitText(page, "state", /^INJECTING/)
        await waitText(page, "level", /^L1$/)
        assert.equal(await text(page, "cap"), "5.00")
        const v1 = parseFloat(await text(page, "volume"))
        await sleep(1200)
        const v2 = parseFloat(await text(page, "volume"))
        assert.ok(v2 > v1, `volume goes up while injecting (${v1} -> ${v2})`)
        assert.match(await text(page, "pressure"), /^\d+\.\d{3}$/)
        assert.match(await text(page, "flow"), /^\d+\.\d{2}$/)
        assert.match(await text(page, "age"), /^\d+:\d\d$/)
        assert.equal(await page.$eval("#alarm", el => (el as HTMLElement).dataset.alarm), "")
        b.fake.overpressure()
        await waitText(page, "alarm", /^ALARM: overpressure \(pause\)$/)
        assert.equal(await page.$eval("#alarm", el => el.className), "on")
        await waitText(page, "state", /^PAUSED \(overpressure\)/)
        assert.match(await text(page, "alarms"), /overpressure \(pause\)/)
        assert.match(await text(page, "events"), /injecting → paused \(overpressure\)/)
        // the charts are drawn, with the last minute of samples
        assert.equal(await page.$$eval("canvas", c => c.length), 3)
        assert.ok((await page.evaluate(() => (window as any).__dashboard.rows())) > 50)
        await sleep(500)
        await page.screenshot({ path: join(OUT, "dashboard.png"), fullPage: true })
        assert.deepEqual(errors, [])
    })

    test("HOST-1: the dashboard shows the disconnected state and carries on when the injector comes back", async () => {
        b.fake.autoReconnect = false
        await b.fake.goOffline()
        await waitText(page, "conn", /^disconnected$/, 6000)
        assert.match(await text(page, "detail"), /no packet from the injector/)
        await page.screenshot({ path: join(OUT, "dashboard-disconnected.png"), fullPage: true })
        b.fake.autoReconnect = true
        await b.fake.goOnline()
        await waitText(page, "conn", /^connected$/, 8000)
        b.fake.minHoldMs = 0
        b.fake.local(Op.Resume)
        await waitText(page, "state", /^INJECTING \(resumed\)/)
        assert.deepEqual(errors, [])
    })

    test("HOST-1: the page says when the dashboard server is gone and reconnects when it is back", async () => {
        dash.signal("SIGTERM")
        await dash.result()
        await waitText(page, "conn", /^dashboard offline$/, 5000)
        dash = cli("--tcp", b.tcp, "dashboard", "--port", String(port))
        await dash.waitFor(/dashboard on/)
        await waitText(page, "conn", /^connected$/, 10000)
        await waitText(page, "state", /^INJECTING/)
    })

    test("HOST-1: localhost only: listens on 127.0.0.1 and refuses WebSockets from other origins", async () => {
        const ok = await new Promise<boolean>(resolve => {
            const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`, { origin: `http://127.0.0.1:${port}` })
            ws.on("message", () => {
                ws.close()
                resolve(true)
            })
            ws.on("error", () => resolve(false))
        })
        assert.ok(ok, "a page from localhost gets data")
        const refused = await new Promise<string>(resolve => {
            const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`, { origin: "http://evil.example" })
            ws.on("open", () => resolve("open"))
            ws.on("unexpected-response", (_req, res) => resolve(`status ${res.statusCode}`))
            ws.on("error", e => resolve(`error ${e.message}`))
        })
        assert.match(refused, /401|403/)
    })

    test("HOST-4: the dashboard shows a banner and sounds (Web Audio) on a device alarm, a fault and the loss of the device, until cleared or acknowledged (screenshot out/dashboard-alarm.png)", async () => {
        const sounds = () => page.evaluate(() => (window as any).__audioLog.started as { freq: number; state: string }[])
        const banner = () => page.$$eval("#banner-list .c", els => els.map(e => `${(e as HTMLElement).dataset.kind}: ${e.firstChild?.textContent}`))
        const shown = () => page.$eval("#banner", el => getComputedStyle(el).display !== "none")
        await waitText(page, "state", /^INJECTING/)
        if (await shown()) await page.click("#ack") // whatever an earlier test left on the banner
        await page.waitForFunction(() => document.querySelectorAll("#banner-list .c").length === 0)
        assert.equal(await shown(), false)
        const s0 = (await sounds()).length
        b.fake.overpressure()
        await waitText(page, "banner-list", /ALARM: overpressure - injection paused/)
        assert.equal(await shown(), true)
        assert.deepEqual(await banner(), ["alarm: ALARM: overpressure - injection paused"])
        await page.waitForFunction(n => (window as any).__audioLog.started.length >= n + 3, s0)
        const beep = (await sounds()).slice(s0, s0 + 3)
        assert.deepEqual(beep.map(x => x.freq), [880, 880, 880], "three high pulses")
        assert.ok(beep.every(x => x.state === "running"), `the audio context runs: ${JSON.stringify(beep)}`)
        assert.equal(await page.$eval("#sound", e => e.textContent), "", "no 'sound blocked' note")
        // a fault on top: the worst first
        b.fake.fault(Reason.Stall)
        await waitText(page, "banner-list", /FAULT: stall - the injector stopped/)
        assert.equal((await banner())[0], "fault: FAULT: stall - the injector stopped")
        await sleep(400)
        await page.screenshot({ path: join(OUT, "dashboard-alarm.png"), fullPage: true })
        // it keeps sounding until acknowledged
        const s1 = (await sounds()).length
        await page.waitForFunction(n => (window as any).__audioLog.started.length > n, s1, { timeout: 15000 })
        await page.click("#ack")
        await page.waitForFunction(() => document.querySelectorAll("#banner-list .c").length === 0)
        assert.equal(await shown(), false)
        await sleep(300)
        const s2 = (await sounds()).length
        await sleep(6000)
        assert.equal((await sounds()).length, s2, "quiet after the acknowledgement")
        // the device state is still shown after the acknowledgement
        await waitText(page, "state", /^FAULT \(stall\)/)
        // loss of the device: banner and sound until it is back
        b.fake.autoReconnect = false
        await b.fake.goOffline()
        await waitText(page, "banner-list", /DEVICE LOST: no packet from the injector/, 6000)
        await page.waitForFunction(n => (window as any).__audioLog.started.length >= n + 3, s2)
        b.fake.autoReconnect = true
        await b.fake.goOnline()
        await page.waitForFunction(() => !/DEVICE LOST/.test(document.getElementById("banner-list")!.textContent || ""), undefined, { timeout: 10000 })
        b.fake.local(Op.ClearFault)
        assert.deepEqual(errors, [])
    })

    test("HOST-2: the report opens offline in Chromium and draws its three charts (screenshot out/report.png)", async () => {
        const file = tmp("page.jsonl")
        writeFileSync(file, synthText({ samples: 6000, levels: 3 }))
        const html = file.replace(/jsonl$/, "html")
        const r = await runCli(["report", file, "-o", html])
        assert.equal(r.code, 0, r.err)
        const p = await browser.ctx.newPage()
        const errs: string[] = []
        p.on("pageerror", e => errs.push(String(e)))
        const requests: string[] = []
        p.on("request", req => {
            if (!req.url().startsWith("file:")) requests.push(req.url())
        })
        await browser.ctx.setOffline(true)
        await p.goto("file://" + html)
        await p.waitForFunction(() => document.querySelectorAll("canvas").length === 3)
        assert.equal(await p.$$eval("#levels tbody tr", rows => rows.length), 3)
        await p.screenshot({ path: join(OUT, "report.png"), fullPage: true })
        await browser.ctx.setOffline(false)
        assert.deepEqual(errs, [])
        assert.deepEqual(requests, [], "the report fetched nothing")
        await p.close()
    })
})
