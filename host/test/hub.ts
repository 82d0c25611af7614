// A minimal Jacdac TCP hub for tests: every client's frames go to every other
// client, framed as devtools' tcp socket does (one length byte, then the
// frame). Listens on loopback, on a free port unless one is given, so tests
// never collide with a devtools hub or simulator on 8082.
import { AddressInfo, Server, Socket, createServer } from "node:net"

export interface Hub {
    port: number
    clients: () => number
    /** drop every client connection (they may reconnect) */
    kick(): void
    close(): Promise<void>
}

export function startHub(port = 0): Promise<Hub> {
    const clients = new Set<Socket>()
    const server: Server = createServer(sock => {
        sock.setNoDelay(true)
        clients.add(sock)
        let acc: Buffer | null = null
        sock.on("data", (chunk: Buffer) => {
            let buf = acc ? Buffer.concat([acc, chunk]) : chunk
            acc = null
            while (buf.length > 0) {
                let off = 1
                let end = buf[0] + 1
                if (buf[0] === 255 && buf.length >= 3) {
                    off = 3
                    end = 3 + buf.readUInt16LE(1)
                }
                if (buf.length < end) {
                    acc = buf
                    break
                }
                const frame = buf.subarray(off, end)
                const out = Buffer.alloc(1 + frame.length)
                out[0] = frame.length
                frame.copy(out, 1)
                for (const c of clients) if (c !== sock && !c.destroyed) c.write(out)
                buf = buf.subarray(end)
            }
        })
        const drop = () => clients.delete(sock)
        sock.on("close", drop)
        sock.on("error", drop)
    })
    return new Promise((resolve, reject) => {
        server.once("error", reject)
        server.listen(port, "127.0.0.1", () => {
            const addr = server.address() as AddressInfo
            resolve({
                port: addr.port,
                clients: () => clients.size,
                kick() {
                    for (const c of clients) c.destroy()
                    clients.clear()
                },
                close() {
                    for (const c of clients) c.destroy()
                    clients.clear()
                    return new Promise(r => server.close(() => r()))
                },
            })
        })
    })
}

if (require.main === module) {
    const port = +(process.argv[2] || 8082)
    startHub(port).then(h => console.log(`hub on tcp 127.0.0.1:${h.port}`))
}
