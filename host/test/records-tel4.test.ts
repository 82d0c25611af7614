// TEL-4: the recorder asks the injector for the level records it kept
// (`resend_records`) on every (re)connection, so levels that ended while no
// host listened are in the file, each once as new (repeats marked duplicate).
import { strict as assert } from "node:assert"
import { after, before, describe, test } from "node:test"
import { Op } from "../../src/core/types"
import { Bench, bench, cli, readLines, sleep, tmp } from "./helpers"
import { levelRecordKey } from "../lib/recorder"

describe("TEL-4: kept level records read back", () => {
    let b: Bench
    before(async () => {
        b = await bench({ bench: true })
        // two levels end before any recorder listens
        for (const level of [19, 20]) {
            b.fake.local(Op.SetLevel, level)
            b.fake.local(Op.MarkMixing, 10)
            b.fake.local(Op.Arm)
            b.fake.local(Op.Start)
            await sleep(400)
            b.fake.local(Op.Finish)
            await sleep(300)
        }
    })
    after(async () => {
        await b.close()
    })

    test("TEL-4: a recorder that joins late has every level record the device kept, once each, identical to what the device sent", async () => {
        const sent = b.fake.records.map(r => levelRecordKey(r))
        assert.equal(sent.length, 2, "two records emitted before the recorder started")
        const file = tmp("tel4.jsonl")
        const rec = cli("--tcp", b.tcp, "record", "-o", file)
        await rec.waitFor(/connected: injector/)
        await sleep(1500)
        rec.signal("SIGINT")
        const r = await rec.result()
        assert.equal(r.code, 0, r.err)
        const lines = readLines(file)
        const asked = lines.filter(l => l.event === "command_result" && l.command === "resend_records")
        assert.equal(asked.length, 1, "the recorder asked once, on connecting, and the device answered")
        assert.equal(asked[0].outcome, "executed")
        const recs = lines.filter(l => l.event === "level_record" && !l.duplicate)
        assert.deepEqual(recs.map(l => levelRecordKey(l)), sent, "every kept record, in order, once")
    })
})
