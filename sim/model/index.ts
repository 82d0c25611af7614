// Physics model of the bench simulator (SIM-1): pure, deterministic (seeded),
// dependency-free, no I/O. The Jacdac-serving simulator wraps `InjectorRig`:
//
//   const rig = new InjectorRig({ seed: 1, syringe: { preset: "20mL" },
//       needle: { gauge: 14, lengthMm: 100 }, cement: { mixedAtS: -240 },
//       vertebra: { tumorFactor: 5.8 },
//       leaks: [{ atMl: 1.6, kind: "venous", resistanceFactor: 0.2 }] })
//   const { loadCellSamples, encoderCounts } = rig.step(0.01, { enabled: true, speedCmdMmPerS: 0.17 })
//   rig.state() // tS, chamberPressurePa, forceN, injectedMl, leakedMl, ...
//
// Files: physics.ts (plant), cement.ts (viscosity vs age), rheology.ts
// (power-law needle), compliance.ts (syringe + entrained air), evaluate.ts
// (`npm run model`, cli.ts), presets.ts (needle
// and syringe geometry), sensors.ts (load cell, encoder), rig.ts (plant +
// sensors), operator.ts (manual-injection baseline), literature.ts
// (model-vs-literature checks), rng.ts.
export * from "./rng"
export * from "./presets"
export * from "./cement"
export * from "./physics"
export * from "./sensors"
export * from "./rig"
export * from "./operator"
export * from "./literature"
export * from "./rheology"
export * from "./compliance"
export * from "./evaluate"
