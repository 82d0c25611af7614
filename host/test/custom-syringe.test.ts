// FLOW-5 / HOST-3 (host side): `injector send set-custom-syringe <bore> <volume>`
// is in the command table from the service spec, packs both floats after the
// request id, and a rejection names the allowed bore (mm) or volume (mL).
import assert from "node:assert/strict"
import { describe, test } from "node:test"
import { jdunpack } from "jacdac-ts"
import { Op, Reject } from "../../src/core/types"
import { pack, prepare, rejectLine, UsageError } from "../lib/send"
import { REJECT_TEXT } from "../lib/spec"

describe("custom syringe from the host", () => {
    test("FLOW-5, HOST-3: set-custom-syringe packs bore and volume after the id; bad arguments are usage errors; rejections name the allowed bore or volume", () => {
        const p = prepare("set-custom-syringe", ["12.5", "5"], {})
        assert.equal(p.cmd.code, Op.SetCustomSyringe)
        const [seq, bore, vol] = jdunpack(pack(p, 42), "u32 f32 f32") as number[]
        assert.deepEqual([seq, bore, vol], [42, 12.5, 5])
        assert.throws(() => prepare("set-custom-syringe", ["12"], {}), UsageError, "both arguments needed")
        assert.throws(() => prepare("set-custom-syringe", ["wide", "5"], {}), UsageError, "a number")
        assert.ok(REJECT_TEXT[Reject.BoreOutOfRange] && REJECT_TEXT[Reject.SyringeVolumeOutOfRange], "both reasons explained")
        assert.equal(
            rejectLine("set_custom_syringe", Reject.BoreOutOfRange, 0, 3, 25.34),
            "rejected by the device: bore_out_of_range (the drive and encoder cannot serve this syringe bore); allowed bore: 3 to 25.34 mm"
        )
        assert.match(rejectLine("set_custom_syringe", Reject.SyringeVolumeOutOfRange, 0, 0.5, 6.28), /syringe_volume_out_of_range .*; allowed volume: 0\.5 to 6\.28 mL$/)
    })
})
