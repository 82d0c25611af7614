// Encoder sensing: plunger position -> plausibility and the level's
// delivered volume (VOL-1, VOL-6, FAULT-2). No I/O.
//
// Delivered volume only grows. Every forward count adds to it, except slack
// the drive itself made by retracting (measured, and never more than the
// commanded retraction + 0.02 mL): backward motion by any other route (a
// hand on the plunger during a hold, a backward count step, an encoder reset)
// earns no credit, so the next advance counts in full; once more than 0.005 mL
// of it has happened with the drive off, the drive's slack still open is
// forfeited too. A lost encoder is re-referenced when it comes back, with no
// credit.

function isInt(v: number): boolean {
    return typeof v === "number" && !isNaN(v) && Math.round(v) === v
}

/** Slack credit beyond the commanded retraction (backlash), mL (VOL-6). */
export const SLACK_TOLERANCE_ML = 0.02

/**
 * Uncredited backward travel with the drive off beyond which the drive's
 * slack is forfeited, mL (VOL-6): after a hand pulled the plunger back, or an
 * exchange nobody declared, where the cement column stands is unknown, so the
 * next advance counts in full (errs high). VOL-1's accuracy: well above an
 * encoder's one-count jitter (0.24 uL on 20 mL).
 */
export const OFF_BACK_FORFEIT_ML = 0.005

export class EncoderSense {
    valid = false
    count = 0
    private changedMs = 0
    /** the level's delivered volume, mL (set by the level book when a level is selected) */
    deliveredMl = 0
    /** slack from the drive's own retraction not yet taken up, mL */
    slackMl = 0
    /** how much backward motion the current retraction may still credit, mL */
    private creditLeftMl = 0
    /** the stop's latency tail: more credit, until tailUntilMs */
    private tailMl = 0
    private tailUntilMs = 0
    /** the retraction's credit closes at this time (-1: open while retracting) */
    private creditUntilMs = -1
    /** signed encoder travel of this step, mL */
    stepMl = 0
    /** FAULT-2: the last step's move was implausible */
    jumped = false
    // VOL-6: motion while the drive is disabled
    private offRef = false
    private offRefCount = 0
    offMotionMl = 0
    /** net backward travel with the drive off that earned no credit, mL */
    private offBackMl = 0

    /** A retraction commanded by the drive may credit up to this much more slack, mL. */
    allowRetract(commandedMl: number) {
        this.creditLeftMl += commandedMl
    }

    beginRetraction() {
        this.creditLeftMl = SLACK_TOLERANCE_ML
        this.creditUntilMs = -1
    }

    /**
     * The retraction was told to stop: the drive may still be executing it
     * for up to `forMs` (the stop's latency to the drive), by at most `ml`
     * more. That tail earns credit only until then.
     */
    allowTail(tMs: number, ml: number, forMs: number) {
        this.tailMl = ml
        this.tailUntilMs = tMs + forMs
        // the counts of the commanded retraction arrive within the same lag; after
        // it, backward motion in the hold is a hand or an encoder reset, not the
        // drive (campaign seed 4023: a reset 1.3 s into the hold was credited
        // with the unused 0.042 mL, and the re-advance went uncounted)
        this.creditUntilMs = tMs + forMs
    }

    endRetraction() {
        this.creditLeftMl = 0
        this.tailMl = 0
        this.creditUntilMs = -1
    }

    /**
     * FLOW-5: a new syringe was fitted and confirmed. The pusher's way back
     * while the drive was off was the exchange, not a hand on the plunger:
     * motion with the drive off is measured from here on.
     */
    rebaseOffMotion() {
        this.offRef = false
        this.offMotionMl = 0
    }

    /**
     * One step. `counting`: a level is selected, forward motion is its
     * delivery. `driveOn`: the drive is enabled (otherwise any motion is a
     * hand or a fault). `maxCounts`: the most the plunger can move in this
     * step, counts.
     */
    update(tMs: number, present: boolean, c: number, mlPerCount: number, counting: boolean, driveOn: boolean, maxCountsPerS: number) {
        this.stepMl = 0
        this.jumped = false
        if (this.creditUntilMs >= 0 && tMs > this.creditUntilMs) {
            this.creditLeftMl = 0
            this.tailMl = 0
            this.creditUntilMs = -1
        }
        if (!present) {
            this.valid = false
            return
        }
        if (!isInt(c)) {
            this.jumped = true
            this.valid = false
            return
        }
        if (!this.valid) {
            // (re-)reference: no delta, no credit
            this.valid = true
            this.count = c
            this.changedMs = tMs
            this.slackMl = 0
            this.offRef = false
            this.offBackMl = 0
            return
        }
        const d = c - this.count
        // reports come in bursts: the window is the time since the count last moved (<= 250 ms)
        const windowMs = Math.min(250, Math.max(12.5, tMs - this.changedMs))
        const maxCounts = (2 * maxCountsPerS * windowMs) / 1000 + 50
        if (d !== 0) this.changedMs = tMs
        this.count = c
        if (d > maxCounts || -d > maxCounts) {
            this.jumped = true
            this.slackMl = 0 // whatever the plunger did, it earns no credit
        }
        // FAULT-2: a jump faults (the check stops the drive). Forward, it still
        // counts, drive on or off (VOL-6: every route forward counts): a hand can
        // push while the drive's enable is still on its way, and a glitch counted
        // can only end the level early, where one not counted could pass the cap.
        // Backward, it earns no credit (below).
        const ml = d * mlPerCount
        this.stepMl = ml
        if (d > 0) {
            let fwd = ml
            const take = Math.min(this.slackMl, fwd)
            this.slackMl -= take
            fwd -= take
            if (counting) this.deliveredMl += fwd
            if (!driveOn) this.offBackMl = Math.max(0, this.offBackMl - ml)
        } else if (d < 0 && !this.jumped) {
            let credit = Math.min(-ml, this.creditLeftMl)
            this.creditLeftMl -= credit
            if (credit < -ml && this.tailMl > 0 && tMs <= this.tailUntilMs) {
                const t = Math.min(-ml - credit, this.tailMl)
                this.tailMl -= t
                credit += t
            }
            this.slackMl += credit
            if (!driveOn) {
                // campaign seed 1569100100: a syringe exchanged without syringe_exchanged
                // kept the old syringe's 0.059 mL of slack, taken up uncounted on the new one
                this.offBackMl += -ml - credit
                if (this.offBackMl > OFF_BACK_FORFEIT_ML) this.slackMl = 0
            }
        }
        if (driveOn) {
            this.offRef = false
            this.offMotionMl = 0
            this.offBackMl = 0
        } else {
            if (!this.offRef) {
                this.offRef = true
                this.offRefCount = c - d
            }
            this.offMotionMl = Math.abs(c - this.offRefCount) * mlPerCount
        }
    }
}
