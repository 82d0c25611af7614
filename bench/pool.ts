// A pool of lockstep worker processes for the benchmarks: each worker takes
// one job at a time and answers { outcome } or { error }; { exit: true }
// sends it home when the queue is empty.
import { fork } from "node:child_process"

export function runPool<J, O>(
    workerFile: string,
    jobs: J[],
    workers: number,
    message: (job: J) => object,
    onOutcome: (o: O) => void
): Promise<O[]> {
    const out: O[] = []
    const queue = [...jobs]
    const n = Math.max(1, Math.min(workers, jobs.length))
    return new Promise((resolve, reject) => {
        let live = n
        for (let k = 0; k < n; k++) {
            const w = fork(workerFile, [], { execArgv: ["--import", "tsx"], stdio: ["ignore", "ignore", "inherit", "ipc"] })
            const feed = () => {
                const job = queue.shift()
                w.send(job !== undefined ? message(job) : { exit: true })
            }
            w.on("message", (m: { ready?: boolean; outcome?: O; error?: string }) => {
                if (m.error) return reject(new Error(m.error))
                if (m.outcome) {
                    out.push(m.outcome)
                    onOutcome(m.outcome)
                }
                feed()
            })
            w.on("exit", code => {
                if (code) return reject(new Error(`${workerFile}: worker exited with ${code}`))
                if (--live === 0) resolve(out)
            })
        }
    })
}
