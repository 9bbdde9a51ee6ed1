#!/usr/bin/env bash
# The npm package as a user gets it: `npm pack`, the tarball installed into a
# fresh Bun project and a fresh Deno project (nodeModulesDir "manual", npm
# installs the tarball), a round trip through the bare specifier
# `@fdpass/fdpass` in each, and the library type-checked under the strictest
# common compiler settings: Bun's `bun init` tsconfig (tsc) and `deno check`.
# Needs no network: the tarball has no dependencies, and @types/bun comes from
# this repository's node_modules.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BIN=$ROOT/node_modules/.bin
# The runtimes under test: the pinned ones unless FDPASS_BUN / FDPASS_DENO
# name others (as for the suite, tests/_helpers.ts), e.g. older releases.
BUN=${FDPASS_BUN:-$BIN/bun}
DENO=${FDPASS_DENO:-$BIN/deno}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/fdpass-package.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
step() { printf '\n== %s\n' "$*"; }

step "npm pack ($("$BUN" --version | head -n 1 | sed "s/^/bun /"), $("$DENO" --version | head -n 1))"
# prepack builds dist/ (plain JavaScript for Deno, which runs no TypeScript
# from node_modules).
packed=$(npm pack --pack-destination "$WORK" --json)
tarball=$WORK/$(node -e 'console.log(JSON.parse(process.argv[1])[0].filename)' "$packed")
mkdir "$WORK/unpacked"
tar -xzf "$tarball" -C "$WORK/unpacked"
PACKAGE=$WORK/unpacked/package
# The library only, no install scripts, published under the name users import.
node -e '
  const { readFileSync } = require("fs");
  const [manifest, list] = process.argv.slice(1);
  const p = JSON.parse(readFileSync(manifest, "utf8"));
  const problems = [];
  if (p.name !== "@fdpass/fdpass") problems.push(`name is ${p.name}`);
  if (p.private) problems.push("private is set");
  for (const s of ["preinstall", "install", "postinstall", "prepare"]) {
    if (p.scripts?.[s] !== undefined) problems.push(`has a ${s} script`);
  }
  const files = list.split("\n").filter(Boolean);
  const stray = files.filter((f) => /^package\/(tests|bench|examples|scripts|\.)/.test(f));
  if (stray.length > 0) problems.push(`ships ${stray.join(", ")}`);
  for (const f of ["package/mod.ts", "package/platform/mod.ts", "package/dist/mod.js", "package/dist/platform/mod.js"]) {
    if (!files.includes(f)) problems.push(`lacks ${f}`);
  }
  if (problems.length > 0) {
    console.error(`${process.argv[1]}: ${problems.join("; ")}`);
    process.exit(1);
  }
  console.log(`${p.name}@${p.version}: ${files.length} files`);
' "$PACKAGE/package.json" "$(tar -tzf "$tarball")"

# One program for both runtimes: a pipe's read end passed over a socket pair
# and read through; a Channel frame whose data goes where only a
# Uint8Array<ArrayBuffer> may (Blob, crypto.subtle); the platform entry point.
ROUNDTRIP='import { Channel, pipe, socketPair } from "@fdpass/fdpass";
import { cmsgSpace, platformFor } from "@fdpass/fdpass/platform";

const [a, b] = socketPair();
const [readEnd, writeEnd] = pipe();
a.sendSync(new TextEncoder().encode("r"), [readEnd]);
readEnd.close();
const { bytes, fds } = b.receiveSync(new Uint8Array(4));
using received = fds[0]!;
writeEnd.writeSync(new TextEncoder().encode("through the passed fd"));
writeEnd.close();
const buffer = new Uint8Array(64);
const text = new TextDecoder().decode(buffer.subarray(0, received.readSync(buffer)));

using left = new Channel(a);
using right = new Channel(b);
left.sendSync(new TextEncoder().encode("frame"));
const frame = right.receiveSync();
const digest = await crypto.subtle.digest("SHA-256", frame.data);
const blob = new Blob([frame.data]);

const linux = platformFor("linux", "x64");
console.log(JSON.stringify({
  bytes,
  fds: fds.length,
  text,
  digest: digest.byteLength,
  blob: blob.size,
  space: linux === null ? 0 : cmsgSpace(linux.cmsghdr, 4),
}));
'
EXPECTED='{"bytes":1,"fds":1,"text":"through the passed fd","digest":32,"blob":5,"space":24}'
check_output() {
  if [[ $2 != "$EXPECTED" ]]; then
    printf '%s printed %s\nexpected      %s\n' "$1" "$2" "$EXPECTED" >&2
    exit 1
  fi
  echo "$1: $2"
}

# The flags the library must pass beyond each tool's defaults.
STRICT='"strict": true,
    "exactOptionalPropertyTypes": true,
    "noUncheckedIndexedAccess": true,
    "noPropertyAccessFromIndexSignature": true,
    "noImplicitOverride": true,
    "verbatimModuleSyntax": true,
    "isolatedDeclarations": true'

step "a fresh Bun project: bun add the tarball, run, tsc with bun init's tsconfig"
mkdir "$WORK/bun"
cd "$WORK/bun"
echo '{ "name": "consumer", "private": true, "type": "module" }' >package.json
"$BUN" add --silent "$tarball" >/dev/null
mkdir -p node_modules/@types
ln -s "$ROOT/node_modules/@types/bun" node_modules/@types/bun
printf '%s' "$ROUNDTRIP" >main.ts
check_output "bun main.ts" "$("$BUN" main.ts)"
# `bun init`'s tsconfig.json (Bun 1.4.4), with the stricter flags turned on;
# allowJs is off because isolatedDeclarations forbids it, and declaration on
# because isolatedDeclarations requires it.
cat >tsconfig.json <<EOF
{
  "compilerOptions": {
    "lib": ["ESNext"],
    "target": "ESNext",
    "module": "Preserve",
    "moduleDetection": "force",
    "jsx": "react-jsx",
    "allowJs": false,
    "types": ["bun"],
    "moduleResolution": "bundler",
    "allowImportingTsExtensions": true,
    "noEmit": true,
    "skipLibCheck": true,
    "noFallthroughCasesInSwitch": true,
    "noUnusedLocals": false,
    "noUnusedParameters": false,
    "declaration": true,
    $STRICT
  }
}
EOF
"$BIN/tsc" -p tsconfig.json
echo "tsc: the package type-checks under bun init's tsconfig and the strict flags"

step "a fresh Deno project: npm install the tarball (nodeModulesDir manual), run, deno check"
mkdir "$WORK/deno"
cd "$WORK/deno"
echo '{ "name": "consumer", "private": true, "type": "module" }' >package.json
npm install --silent --no-audit --no-fund "$tarball"
cat >deno.json <<EOF
{
  "nodeModulesDir": "manual",
  "compilerOptions": {
    $STRICT
  }
}
EOF
printf '%s' "$ROUNDTRIP" >main.ts
check_output "deno run --allow-ffi main.ts" \
  "$("$DENO" run --quiet --no-prompt --allow-ffi main.ts)"
"$DENO" check --quiet main.ts
# Deno does not report diagnostics inside node_modules: check the library's
# own files (what JSR serves) under the same options.
"$DENO" check --quiet --config deno.json \
  "$PACKAGE/mod.ts" "$PACKAGE/platform/mod.ts"
echo "deno check: the package type-checks under the strict flags"
