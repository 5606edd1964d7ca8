// Builds the browser sources into the Python package (src/coview/web/static), so that a plain
// `pip install` serves them. Run `npm run build` after changing anything under src/.
import * as esbuild from "esbuild";
import { readFileSync, writeFileSync } from "node:fs";

await esbuild.build({
  entryPoints: {
    agent: "src/agent/main.js",
    visitor: "src/visitor/main.js",
    "visitor-record": "src/visitor/record-entry.js",
    invoke: "src/visitor/invoke-entry.js",
    viewer: "src/viewer/main.js",
    childview: "src/childview/main.js",
  },
  bundle: true,
  format: "iife",
  target: ["es2020"],
  outdir: "../src/coview/web/static",
  legalComments: "none",
  minify: true,
  logLevel: "info",
});

// visitor-record.js and viewer.js carry rrweb (MIT): its notice goes with them.
const rrweb = JSON.parse(readFileSync("node_modules/rrweb/package.json", "utf8"));
writeFileSync("../src/coview/web/static/THIRD-PARTY-NOTICES.txt",
  `Coview's visitor-record.js and viewer.js include rrweb ${rrweb.version}\n` +
  "(https://github.com/rrweb-io/rrweb), under the MIT License:\n\n" +
  "Copyright (c) 2018 Contributors (https://github.com/rrweb-io/rrweb/graphs/contributors) " +
  "and SmartX Inc.\n\n" +
  "Permission is hereby granted, free of charge, to any person obtaining a copy of this " +
  "software and associated documentation files (the \"Software\"), to deal in the Software " +
  "without restriction, including without limitation the rights to use, copy, modify, merge, " +
  "publish, distribute, sublicense, and/or sell copies of the Software, and to permit persons " +
  "to whom the Software is furnished to do so, subject to the following conditions:\n\n" +
  "The above copyright notice and this permission notice shall be included in all copies or " +
  "substantial portions of the Software.\n\n" +
  "THE SOFTWARE IS PROVIDED \"AS IS\", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED, " +
  "INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY, FITNESS FOR A PARTICULAR " +
  "PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE AUTHORS OR COPYRIGHT HOLDERS BE LIABLE " +
  "FOR ANY CLAIM, DAMAGES OR OTHER LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR " +
  "OTHERWISE, ARISING FROM, OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER " +
  "DEALINGS IN THE SOFTWARE.\n");
