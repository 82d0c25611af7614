// The board's side of Jacdac over USB serial, for testing `--serial` without a
// board: a jacdac-ts Transport that speaks the JDUSB framing (0xFE-quoted
// frames, a USB-bridge "enable packets" handshake) on a serial device, e.g.
// one end of a `socat pty,raw,echo=0 pty,raw,echo=0` pair. The fake injector
// runs on a bus with this transport; the host connects to the other end.
import { Transport } from "jacdac-ts"

const MAGIC = 0xfe
const LITERAL_MAGIC = 0xf8
const FRAME_START = 0xfc
const FRAME_END = 0xfd
const SRV_USB_BRIDGE = 0x18f61a4a
const JD_FRAME_FLAG_IDENTIFIER_IS_SERVICE_CLASS = 0x04
const CMD_ENABLE_PACKETS = 0x81
const CMD_DISABLE_PACKETS = 0x80

export class JdUsbDeviceTransport extends Transport {
    private port: any
    private enabled = false
    private inFrame = false
    private wasMagic = false
    private buf: number[] = []
    framesIn = 0
    framesOut = 0

    constructor(readonly path: string) {
        super("serial-peer")
    }

    description() {
        return `JDUSB peer on ${this.path}`
    }

    protected transportConnectAsync(): Promise<void> {
        // eslint-disable-next-line @typescript-eslint/no-var-requires
        const { SerialPort } = require("serialport")
        return new Promise((resolve, reject) => {
            this.port = new SerialPort({ path: this.path, baudRate: 1500000 }, (err: any) => (err ? reject(err) : resolve()))
            this.port.on("data", (d: Buffer) => this.onBytes(d))
            this.port.on("close", () => this.disconnect(true))
            this.port.on("error", () => this.disconnect(true))
        })
    }

    protected transportDisconnectAsync(): Promise<void> {
        const p = this.port
        this.port = undefined
        this.enabled = false
        return new Promise(r => (p && p.isOpen ? p.close(() => r()) : r()))
    }

    protected transportSendPacketAsync(frame: Uint8Array): Promise<void> {
        if (!this.port || !this.enabled) return Promise.resolve()
        this.framesOut++
        return this.write(frame)
    }

    private write(frame: Uint8Array): Promise<void> {
        const out: number[] = [MAGIC, FRAME_START]
        for (const b of frame) {
            out.push(b)
            if (b === MAGIC) out.push(LITERAL_MAGIC)
        }
        out.push(MAGIC, FRAME_END)
        return new Promise(r => this.port.write(Buffer.from(out), () => r()))
    }

    private onBytes(d: Buffer) {
        if (!this.enabled) {
            // the host's probe waits for any reply to tell JDUSB from HF2
            this.port?.write(Buffer.from("fake injector (JDUSB)\n"))
        }
        for (const c of d) {
            if (this.wasMagic) {
                this.wasMagic = false
                if (c === LITERAL_MAGIC) {
                    if (this.inFrame) this.buf.push(MAGIC)
                } else if (c === FRAME_START) {
                    this.inFrame = true
                    this.buf = []
                } else if (c === FRAME_END) {
                    if (this.inFrame) this.onFrame(new Uint8Array(this.buf))
                    this.inFrame = false
                    this.buf = []
                }
                continue
            }
            if (c === MAGIC) {
                this.wasMagic = true
                continue
            }
            if (this.inFrame) this.buf.push(c)
            // bytes outside frames (the HF2 probe) are ignored
        }
    }

    private onFrame(fr: Uint8Array) {
        if (fr.length < 16) return
        const flags = fr[3]
        const id = fr[4] | (fr[5] << 8) | (fr[6] << 16) | (fr[7] << 24)
        if (flags & JD_FRAME_FLAG_IDENTIFIER_IS_SERVICE_CLASS && id >>> 0 === SRV_USB_BRIDGE) {
            const cmd = fr[14] | (fr[15] << 8)
            if (cmd === CMD_ENABLE_PACKETS) this.enabled = true
            else if (cmd === CMD_DISABLE_PACKETS) this.enabled = false
            return
        }
        this.framesIn++
        this.handleFrame(fr)
    }
}
