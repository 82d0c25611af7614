// A TCP proxy between a host tool and a devtools hub (devtools' framing: one
// length byte, or 255 + u16, then a Jacdac frame) that can drop frames on the
// way to the host: the link-layer loss a test needs to see the host re-send a
// command under the same request id when the firmware's answer never arrives.
import { AddressInfo, Server, Socket, connect, createServer } from "node:net"
import { Packet } from "jacdac-ts"

export interface Proxy {
    port: number
    /** frames dropped so far */
    dropped: number
    close(): Promise<void>
}

/** Splits devtools-framed bytes into frames; keeps a partial frame for the next chunk. */
function framer(onFrame: (frame: Buffer) => void) {
    let acc: Buffer | null = null
    return (chunk: Buffer) => {
        let buf = acc ? Buffer.concat([acc, chunk]) : chunk
        acc = null
        while (buf.length > 0) {
            let off = 1
            let end = buf[0] + 1
            if (buf[0] === 255) {
                if (buf.length < 3) {
                    acc = buf
                    break
                }
                off = 3
                end = 3 + buf.readUInt16LE(1)
            }
            if (buf.length < end) {
                acc = buf
                break
            }
            onFrame(Buffer.from(buf.subarray(off, end)))
            buf = buf.subarray(end)
        }
    }
}

function encode(frame: Buffer) {
    if (frame.length < 255) return Buffer.concat([Buffer.from([frame.length]), frame])
    const h = Buffer.alloc(3)
    h[0] = 255
    h.writeUInt16LE(frame.length, 1)
    return Buffer.concat([h, frame])
}

/**
 * `drop(packets)` decides per frame from the hub (true = the host never sees
 * it). Every host that connects to the proxy gets its own hub connection.
 */
export function startProxy(hubPort: number, drop: (packets: Packet[]) => boolean): Promise<Proxy> {
    const socks = new Set<Socket>()
    const proxy: Proxy = { port: 0, dropped: 0, close: async () => {} }
    const server: Server = createServer(client => {
        client.setNoDelay(true)
        const hub = connect(hubPort, "127.0.0.1")
        hub.setNoDelay(true)
        socks.add(client)
        socks.add(hub)
        client.on("data", d => hub.write(d))
        hub.on(
            "data",
            framer(frame => {
                let pkts: Packet[] = []
                try {
                    pkts = Packet.fromFrame(new Uint8Array(frame), 0)
                } catch {
                    // not a frame jacdac-ts reads: pass it on untouched
                }
                if (pkts.length && drop(pkts)) {
                    proxy.dropped++
                    return
                }
                if (!client.destroyed) client.write(encode(frame))
            })
        )
        const end = () => {
            client.destroy()
            hub.destroy()
            socks.delete(client)
            socks.delete(hub)
        }
        for (const s of [client, hub]) {
            s.on("close", end)
            s.on("error", end)
        }
    })
    return new Promise((resolve, reject) => {
        server.once("error", reject)
        server.listen(0, "127.0.0.1", () => {
            proxy.port = (server.address() as AddressInfo).port
            proxy.close = () => {
                for (const s of socks) s.destroy()
                socks.clear()
                return new Promise(r => server.close(() => r()))
            }
            resolve(proxy)
        })
    })
}

/**
 * A drop rule: the first command_result event (event code 0x87) of each
 * request id from the device `deviceId`, with all its repeats (the firmware
 * sends each event three times under one event counter). Later answers to the
 * same id (to a re-send) pass.
 */
export function dropFirstAnswer(deviceId: () => string | undefined) {
    const dropped = new Map<number, number>() // seq -> event counter dropped
    return (pkts: Packet[]) =>
        pkts.some(p => {
            if (!p.isEvent || p.eventCode !== 0x87 || p.deviceIdentifier !== deviceId() || p.data.length < 4) return false
            const seq = p.data[0] | (p.data[1] << 8) | (p.data[2] << 16) | (p.data[3] << 24)
            const counter = (p.serviceCommand >> 8) & 0x7f
            const first = dropped.get(seq)
            if (first === undefined) {
                dropped.set(seq, counter)
                return true
            }
            return first === counter
        })
}
