#!/usr/bin/env bash
# The whole check, as CI runs it: static checks, then the suite in Deno and in Bun.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=node_modules/.bin
step() { printf '\n== %s\n' "$*"; }

step "deno fmt --check";           $BIN/deno fmt --check
step "deno lint";                  $BIN/deno lint
step "deno check";                 $BIN/deno check mod.ts platform/mod.ts tests/ examples/ bench/fdpass/
step "tsc --noEmit (Bun types)";   $BIN/tsc -p tsconfig.json
step "deno doc --lint";            $BIN/deno doc --lint mod.ts platform/mod.ts
step "deno publish --dry-run";     $BIN/deno publish --dry-run --allow-dirty
step "doc examples (deno test --doc)"
$BIN/deno test --doc --allow-ffi --no-run mod.ts >/dev/null
$BIN/deno test --doc --allow-ffi $(git ls-files '*.ts' | grep -v -e '^tests/' -e '^bench/' -e '^examples/' -e '^scripts/')
# --allow-all only for the harness: Deno reads /proc/self/fd (fd counting) only
# with all permissions. Every child a test starts gets exactly what it needs.
step "tests under Deno"
$BIN/deno test --allow-all tests/
step "tests under Bun"
$BIN/bun test --timeout 60000
# The async suite once more on the poll(2) backend, the one macOS and FreeBSD
# run (Linux defaults to epoll). Children see FDPASS_REACTOR too: Bun reads it
# always, Deno children get --allow-env=FDPASS_REACTOR (tests/_helpers.ts).
ASYNC_TESTS=(
  tests/async_test.ts tests/async_peers_test.ts tests/channel_test.ts
  tests/cross_runtime_test.ts tests/faults_test.ts tests/listener_test.ts
  tests/listener_adopt_test.ts tests/poll_reactor_test.ts
  tests/process_exit_test.ts tests/python_peer_test.ts tests/security_test.ts
  tests/unix_socket_test.ts tests/worker_test.ts
)
step "async tests under Deno, poll backend (FDPASS_REACTOR=poll)"
FDPASS_REACTOR=poll $BIN/deno test --allow-all "${ASYNC_TESTS[@]}"
step "async tests under Bun, poll backend (FDPASS_REACTOR=poll)"
FDPASS_REACTOR=poll $BIN/bun test --timeout 60000 "${ASYNC_TESTS[@]}"
step "the npm package in fresh Bun and Deno projects"; bash scripts/test-package.sh
