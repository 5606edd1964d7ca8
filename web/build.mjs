// Builds the browser sources into the Python package (src/coview/web/static), so that a plain
// `pip install` serves them. Run `npm run build` after changing anything under src/.
import * as esbuild from "esbuild";

await esbuild.build({
  entryPoints: {
    agent: "src/agent/main.js",
    visitor: "src/visitor/main.js",
    "visitor-record": "src/visitor/record-entry.js",
    invoke: "src/visitor/invoke-entry.js",
    viewer: "src/viewer/main.js",
  },
  bundle: true,
  format: "iife",
  target: ["es2020"],
  outdir: "../src/coview/web/static",
  legalComments: "none",
  minify: true,
  logLevel: "info",
});
