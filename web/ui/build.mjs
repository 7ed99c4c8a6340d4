// Bundles src/*.ts and src/styles/app.css into ../dist/assets with content
// hashes, then writes the HTML pages from static/ into ../dist with the hashed
// asset names filled in. ../dist/.gitkeep is never removed: the Go package
// embeds ../dist and must compile before the UI is built.
import * as esbuild from "esbuild";
import { mkdir, readdir, readFile, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const dist = path.resolve(here, "../dist");
const assets = path.join(dist, "assets");

// Clean everything in dist except .gitkeep.
await mkdir(dist, { recursive: true });
for (const name of await readdir(dist)) {
  if (name === ".gitkeep") continue;
  await rm(path.join(dist, name), { recursive: true, force: true });
}
await writeFile(path.join(dist, ".gitkeep"), "");

const entries = {
  library: "src/library.ts",
  vod: "src/vod.ts",
  admin: "src/admin.ts",
  broadcast: "src/broadcast.ts",
  watch: "src/watch.ts",
  app: "src/styles/app.css",
};
// The live room's pages (watch, broadcast, studio): their own stylesheet next to app.css.
entries.studio = "src/studio.ts";
entries["live-css"] = "src/styles/live.css";
// The upload page: its script and its own stylesheet (next to app.css).
entries.upload = "src/upload.ts";
entries["upload-css"] = "src/styles/upload.css";

const result = await esbuild.build({
  absWorkingDir: here,
  entryPoints: entries,
  outdir: assets,
  entryNames: "[name]-[hash]",
  assetNames: "[name]-[hash]",
  bundle: true,
  format: "esm",
  target: ["chrome111", "firefox115", "safari16"],
  minify: true,
  sourcemap: "linked",
  legalComments: "none",
  metafile: true,
  logLevel: "warning",
});

// entry point source -> "/assets/<hashed name>"
const outputs = {};
for (const [out, meta] of Object.entries(result.metafile.outputs)) {
  if (!meta.entryPoint || out.endsWith(".map")) continue;
  outputs[meta.entryPoint] = "/assets/" + path.basename(out);
}
const urlFor = (key) => {
  const url = outputs[entries[key]];
  if (!url) throw new Error(`no output for entry ${key}`);
  return url;
};

const pages = {
  "index.html": "library",
  "broadcast.html": "broadcast",
  "watch.html": "watch",
  "vod.html": "vod",
  "admin.html": "admin",
  "studio.html": "studio",
};
for (const [page, script] of Object.entries(pages)) {
  let html = await readFile(path.join(here, "static", page), "utf8");
  html = html.replaceAll("{{css}}", urlFor("app")).replaceAll("{{live-css}}", urlFor("live-css")).replaceAll("{{js}}", urlFor(script));
  const left = html.match(/\{\{[^}]*\}\}/);
  if (left) throw new Error(`${page}: unreplaced placeholder ${left[0]}`);
  await writeFile(path.join(dist, page), html);
}

// upload.html: app.css, upload.css and the upload script.
{
  let html = await readFile(path.join(here, "static", "upload.html"), "utf8");
  html = html.replaceAll("{{css}}", urlFor("app")).replaceAll("{{upload-css}}", urlFor("upload-css")).replaceAll("{{js}}", urlFor("upload"));
  const left = html.match(/\{\{[^}]*\}\}/);
  if (left) throw new Error(`upload.html: unreplaced placeholder ${left[0]}`);
  await writeFile(path.join(dist, "upload.html"), html);
}

console.log(`built ${Object.keys(pages).length} pages and ${Object.keys(result.metafile.outputs).length} assets into ${path.relative(process.cwd(), dist) || dist}`);
