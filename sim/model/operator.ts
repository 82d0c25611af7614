// Manual-injection baseline for the benchmark (issue 3): a clinician pushing
// the syringe by hand at a target flow who, once a trigger happens (leak seen
// on fluoroscopy, cap reached ...), keeps pushing for a human reaction time
// and then stops and holds the plunger. No decompression: the volume stored
// in the syringe and cement keeps flowing out (afterflow).
// Run it through the same InjectorPlant as the device so the comparison is
// like for like.

import { DriveInput, plungerSpeedMmPerS } from "./physics"

/** Simple visual reaction time, s (configurable per run). */
export const DEFAULT_REACTION_TIME_S = 0.25

export interface ManualOperatorOptions {
    flowMlPerMin: number
    boreMm: number
    /** default 0.25 s */
    reactionTimeS?: number
}

/** Drive input of the manual operator at tS, given the trigger time (null: no trigger yet). */
export function manualOperatorDrive(tS: number, triggerTS: number | null, opts: ManualOperatorOptions): DriveInput {
    const reactionTimeS = opts.reactionTimeS ?? DEFAULT_REACTION_TIME_S
    if (triggerTS !== null && tS >= triggerTS + reactionTimeS) return { enabled: false, speedCmdMmPerS: 0 }
    return { enabled: true, speedCmdMmPerS: plungerSpeedMmPerS(opts.flowMlPerMin, opts.boreMm) }
}
