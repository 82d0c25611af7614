// Vertebral level presets (VOL-2, VOL-5). Body volume only where published;
// caps are presets the operator confirms, the ceiling needs a logged override.
//
// Sources:
//  [S000] seeds/000: C2 metastases, 2.0-4.0 mL (mean 2.9 +/- 0.7), fill 25-80 %
//  [S001] seeds/001: C2 body 6.3 +/- 1.1 cm3; C3-C7 bodies 10.4/10.5/11.1/12.4/15.4 cm3
//         (Pflugmacher), cervical pooled 2.5 +/- 0.5 mL, C3-C7 mean 1.8 mL
//  [S004] seeds/004: T11, 7 mL complicated by tumour extrusion into the canal
//  [Belkoff] Belkoff 2001 (lit., not in seeds): ~2 mL restores strength in
//         thoracic bodies, ~4 mL in lumbar; stiffness needs ~4 / 6-8 mL
//  C1 has no vertebral body (lateral-mass augmentation): no published volume.

/** No level may ever have a cap above this, override or not (VOL-2). */
export const DEVICE_MAX_CAP_ML = 10

export interface LevelPreset {
    name: string
    /** vertebral body volume, mL; 0 = not published (fill fraction unknown) */
    bodyMl: number
    /** default cap, mL (top of the published range for the level) */
    capMl: number
    /** highest cap an explicit, logged override may set, mL */
    ceilingMl: number
}

function p(name: string, bodyMl: number, capMl: number, ceilingMl: number): LevelPreset {
    return { name, bodyMl, capMl, ceilingMl }
}

// Index = level id on the wire (0 = C1 ... 24 = S1).
export const LEVELS: LevelPreset[] = [
    p("C1", 0, 1.5, 2.5), // no body; conservative lateral-mass figure, no source
    p("C2", 6.3, 3.5, 4.0), // [S000] mean+1SD 3.6 -> 3.5; ceiling = published max 4.0
    p("C3", 10.4, 3.0, 4.0), // [S001] pooled cervical 2.5 +/- 0.5 -> +1SD; ceiling +3SD
    p("C4", 10.5, 3.0, 4.0),
    p("C5", 11.1, 3.0, 4.0),
    p("C6", 12.4, 3.0, 4.0),
    p("C7", 15.4, 3.0, 4.0),
    p("T1", 0, 2.5, 4.0), // [Belkoff] thoracic ~2 mL restores strength
    p("T2", 0, 2.5, 4.0),
    p("T3", 0, 2.5, 4.0),
    p("T4", 0, 2.5, 4.0),
    p("T5", 0, 3.0, 5.0),
    p("T6", 0, 3.0, 5.0),
    p("T7", 0, 3.0, 5.0),
    p("T8", 0, 3.0, 5.0),
    p("T9", 0, 4.0, 6.0), // [Belkoff] stiffness ~4 mL; ceiling below [S004] 7 mL
    p("T10", 0, 4.0, 6.0),
    p("T11", 0, 4.0, 6.0),
    p("T12", 0, 4.0, 6.0),
    p("L1", 0, 5.0, 8.0), // [Belkoff] lumbar 4 mL strength, 6-8 mL stiffness
    p("L2", 0, 5.0, 8.0),
    p("L3", 0, 5.0, 8.0),
    p("L4", 0, 5.0, 8.0),
    p("L5", 0, 5.0, 8.0),
    p("S1", 0, 4.0, 6.0), // sacroplasty, per side; no source in seeds
]

/** Level id for a name such as "C2", or -1. */
export function levelIndex(name: string): number {
    for (let i = 0; i < LEVELS.length; ++i) if (LEVELS[i].name === name) return i
    return -1
}
