/**
 * @playwright/test for the sign-up page: `npm ci && npx playwright test`, with leadrelay installed.
 *
 * The web server is leadrelay itself in sandbox mode, serving this folder at `/` (as your site
 * serves leadrelay under /lr in production) on LEADRELAY_PORT. Chromium is Debian's unless
 * LEADRELAY_CHROMIUM names another (Playwright's own download is not needed).
 */
import { defineConfig } from "@playwright/test";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const port = Number(process.env.LEADRELAY_PORT ?? 8787);
const database = join(mkdtempSync(join(tmpdir(), "leadrelay-")), "leadrelay.db");

export default defineConfig({
  testMatch: "*.spec.ts",
  workers: 1, // one sandbox: tests that reset it must not run side by side
  reporter: [["list"]],
  use: {
    baseURL: `http://127.0.0.1:${port}`,
    launchOptions: {
      executablePath: process.env.LEADRELAY_CHROMIUM ?? "/usr/lib/chromium/chromium",
      args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"],
    },
  },
  webServer: {
    command: `${process.env.LEADRELAY_COMMAND ?? "leadrelay"} serve --sandbox --site . --port ${port} --no-access-log`,
    url: `http://127.0.0.1:${port}/healthz`,
    reuseExistingServer: false,
    env: {
      LEADRELAY_DATABASE_URL: `sqlite:///${database}`,
      LEADRELAY_RETRY_BASE_S: "0.1", // a retry path under test takes a second, not minutes
      LEADRELAY_RETRY_MAX_DELAY_S: "2",
      LEADRELAY_DELIVERY_TIMEOUT_S: "3",
      LEADRELAY_DELIVERY_LEASE_S: "10",
    },
  },
});
