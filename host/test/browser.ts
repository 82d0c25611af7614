// Debian's Chromium driven by playwright-core, started the way this machine
// needs (no sandbox as root, no background networking, a fresh profile).
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { BrowserContext, chromium } from "playwright-core"

export const CHROMIUM = process.env.CHROMIUM_PATH || "/usr/bin/chromium"

export async function launch(): Promise<{ ctx: BrowserContext; close: () => Promise<void> }> {
    const profile = mkdtempSync(join(tmpdir(), "injector-chromium-"))
    const ctx = await chromium.launchPersistentContext(profile, {
        executablePath: CHROMIUM,
        headless: true,
        viewport: { width: 1280, height: 1100 },
        args: [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            // the dashboard's alarm sound (HOST-4) plays without a click first, as on a kiosk screen
            "--autoplay-policy=no-user-gesture-required",
        ],
    })
    return {
        ctx,
        async close() {
            await ctx.close()
            rmSync(profile, { recursive: true, force: true })
        },
    }
}
