// A real Chromium for the web UI's tests: Debian's chromium package (set-up
// installs it), driven by Playwright over CDP. Checks accessibility with
// axe, and keeps screenshots of the views when CUTOVER_SCREENSHOTS names a
// directory (the README's are taken this way).
import { mkdirSync } from "node:fs";
import path from "node:path";
import AxeBuilder from "@axe-core/playwright";
import { chromium, type Browser, type Page } from "playwright-core";

export function chromiumPath(): string {
  return process.env.CUTOVER_CHROMIUM ?? "/usr/bin/chromium";
}

export async function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: chromiumPath(),
    // As root Chromium's own sandbox cannot start; the pages it loads are this test's own server.
    args: process.getuid?.() === 0 ? ["--no-sandbox"] : [],
  });
}

/** Serious or critical accessibility violations on the page as it is now (axe's WCAG 2.x A and AA rules). */
export async function seriousViolations(page: Page): Promise<{ id: string; impact?: string | null; help: string; nodes: string[] }[]> {
  const result = await new AxeBuilder({ page }).withTags(["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]).analyze();
  return result.violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((n) => n.html) }));
}

export async function screenshot(page: Page, name: string): Promise<void> {
  const dir = process.env.CUTOVER_SCREENSHOTS;
  if (!dir) return;
  mkdirSync(dir, { recursive: true });
  await page.screenshot({ path: path.join(dir, `${name}.png`), fullPage: true });
}
