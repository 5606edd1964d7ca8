// Builds the browser sources into the Python package (src/coview/web/static), so that a plain
// `pip install` serves them. Run `npm run build` after changing anything under src/.
import * as esbuild from "esbuild";

await esbuild.build({
  entryPoints: { agent: "src/agent/main.js" },
  bundle: true,
  format: "iife",
  target: ["es2020"],
  outdir: "../src/coview/web/static",
  legalComments: "none",
  logLevel: "info",
});
