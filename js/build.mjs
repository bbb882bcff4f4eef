// Builds the SDK and the web components into api/static/, where the API serves them
// (/public/growthos.js, /public/growthos.mjs, /public/gos-components.js). The built files are
// committed, so a plain `pip install` serves them without npm.
//
//   npm run build    write api/static/*
//   npm run check    fail if api/static/* differs from a fresh build
//
// Each file starts with a banner naming the SHA-256 of the sources (src/**, this script,
// package.json, package-lock.json), so a test without npm can tell a stale build
// (tests/api/test_public_assets.py computes the same digest).

import { createHash } from "node:crypto";
import { readFileSync, readdirSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import * as esbuild from "esbuild";

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, "..", "api", "static");
const pkg = JSON.parse(readFileSync(join(here, "package.json"), "utf8"));

function files(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    return entry.isDirectory() ? files(path) : [path];
  });
}

/** sha256 over each source's path (relative, "/"-separated), a NUL, its bytes and a NUL. */
export function sourceDigest() {
  const sources = [
    ...files(join(here, "src")),
    join(here, "build.mjs"),
    join(here, "package.json"),
    join(here, "package-lock.json"),
  ];
  const named = sources.map((path) => [relative(here, path).split("\\").join("/"), path]);
  named.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const hash = createHash("sha256");
  for (const [name, path] of named) {
    hash.update(name);
    hash.update("\0");
    hash.update(readFileSync(path));
    hash.update("\0");
  }
  return hash.digest("hex");
}

const OUTPUTS = [
  { entry: "src/global.js", file: "growthos.js", format: "iife" },
  { entry: "src/index.js", file: "growthos.mjs", format: "esm" },
  { entry: "src/components/index.js", file: "gos-components.js", format: "iife" },
];

async function build() {
  const digest = sourceDigest();
  const built = {};
  for (const { entry, file, format } of OUTPUTS) {
    const result = await esbuild.build({
      entryPoints: [join(here, entry)],
      bundle: true,
      format,
      minify: true,
      target: ["es2020"],
      charset: "utf8",
      legalComments: "none",
      write: false,
      define: { __VERSION__: JSON.stringify(pkg.version) },
      banner: {
        js: `/*! ${file} ${pkg.name} ${pkg.version} | Apache-2.0 | sources sha256:${digest} */`,
      },
      logLevel: "warning",
    });
    built[file] = result.outputFiles[0].text;
  }
  return built;
}

const built = await build();
if (process.argv.includes("--check")) {
  const stale = Object.keys(built).filter((file) => {
    try {
      return readFileSync(join(out, file), "utf8") !== built[file];
    } catch {
      return true;
    }
  });
  if (stale.length > 0) {
    console.error(`out of date: ${stale.join(", ")}; run \`npm run build\` in js/`);
    process.exit(1);
  }
  console.log("api/static is up to date");
} else {
  for (const [file, text] of Object.entries(built)) {
    writeFileSync(join(out, file), text);
    console.log(`${file}: ${text.length} bytes`);
  }
}
