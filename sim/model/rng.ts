// Seeded pseudo-random numbers for the simulator's sensor models.
//
// A 32-bit xorshift generator (shift triple 13/17/5) whose seed is first
// scrambled by an integer hash, so that neighbouring seeds (1, 2, 3 ...) give
// unrelated streams. Period 2^32 - 1: far more than a scenario draws (an 80 Hz
// load cell for an hour is ~3e5 draws). Gaussian values by the Box-Muller
// transform, using both outputs of each pair. Not for cryptography.

function scrambleSeed(seed: number): number {
    // integer avalanche hash of the seed (multiply / xor-shift rounds)
    let h = (Math.floor(seed) ^ 0x5bd1e995) >>> 0
    h = Math.imul(h ^ (h >>> 16), 0x7feb352d) >>> 0
    h = Math.imul(h ^ (h >>> 15), 0x846ca68b) >>> 0
    h = (h ^ (h >>> 16)) >>> 0
    return h === 0 ? 0x6d2b79f5 : h // xorshift state must be non-zero
}

export class Rng {
    private state: number
    private spareGaussian: number | null = null

    constructor(seed: number) {
        if (!Number.isFinite(seed)) throw new RangeError(`seed must be finite, got ${seed}`)
        this.state = scrambleSeed(seed)
    }

    /** Next raw 32-bit unsigned integer. */
    nextUint32(): number {
        let x = this.state
        x ^= x << 13
        x >>>= 0
        x ^= x >>> 17
        x ^= x << 5
        x >>>= 0
        this.state = x
        return x
    }

    /** Uniform in [0, 1). */
    next(): number {
        return this.nextUint32() / 4294967296
    }

    /** Uniform in (0, 1]: safe for log(). */
    private nextOpen(): number {
        return (this.nextUint32() + 1) / 4294967296
    }

    /** Standard normal N(0, 1). */
    gaussian(): number {
        if (this.spareGaussian !== null) {
            const g = this.spareGaussian
            this.spareGaussian = null
            return g
        }
        const r = Math.sqrt(-2 * Math.log(this.nextOpen()))
        const theta = 2 * Math.PI * this.next()
        this.spareGaussian = r * Math.sin(theta)
        return r * Math.cos(theta)
    }
}
