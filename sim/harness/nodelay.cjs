// Preloaded into the devtools hub (`node -r sim/harness/nodelay.cjs ... devtools`).
// The hub's TCP server (port 8082) leaves Nagle's algorithm on: with the
// receiver's delayed ACKs, frames to the firmware VM then arrive in bursts
// with 40-60 ms gaps, longer than FAULT-1's 50 ms stale-sample limit, and
// the firmware (correctly) faults on a sensor that is in fact fine. Setting
// TCP_NODELAY on every accepted socket removes the gaps (measured: max gap
// between 80 Hz load-cell samples in the VM 52-61 ms -> 13-15 ms).
const net = require("net")
const createServer = net.createServer
net.createServer = function (...args) {
    const server = createServer.apply(this, args)
    server.on("connection", socket => socket.setNoDelay(true))
    return server
}
