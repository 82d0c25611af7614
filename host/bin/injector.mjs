#!/usr/bin/env node
// `npx injector ...`: runs host/cli.ts through tsx (no build step).
import { createRequire } from "node:module"

const require = createRequire(import.meta.url)
require("tsx/cjs/api").register()
require("../cli.ts")
