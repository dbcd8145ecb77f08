// The web UI, built into dist/ui and served by Cutover at /ui.
import { defineConfig } from "vite";

export default defineConfig({
  base: "/ui/",
  oxc: { jsx: { runtime: "automatic", importSource: "react" } },
  build: {
    outDir: "../dist/ui",
    emptyOutDir: true,
    // No inline scripts or data-URL modules: the page's Content-Security-Policy allows only Cutover's own files.
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    sourcemap: true,
  },
});
