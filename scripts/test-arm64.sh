#!/usr/bin/env bash
# The suite on Linux aarch64, emulated: the arm64 builds of the pinned Bun and
# Deno run tests/ through qemu-user. Installs what is missing first: the two
# runtime packages with npm into .arm64/ (checked against package-lock.json),
# the emulator and the arm64 C library with apt when run as root (and, if it
# can, an aarch64 C compiler for tests/libc_layout_test.ts).
#
# When the emulator cannot be installed or does not run, prints one line,
# "aarch64 NOT CHECKED: <reason>", and exits 0. Once it runs, any failure
# fails. Arguments, if any, replace tests/ as the test files to run.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
DIR=$ROOT/.arm64
SYSROOT=/usr/aarch64-linux-gnu

not_checked() {
  printf 'aarch64 NOT CHECKED: %s\n' "$*"
  exit 0
}
step() { printf '\n== %s\n' "$*"; }

# --- Debian packages: each one named by a file it provides. ----------------
# apt_install <package>...: as root only; retries once after `apt-get update`
# (a fresh image may have no package lists yet). Log: .arm64/apt.log.
apt_install() {
  [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null || return 1
  step "apt-get install $*"
  mkdir -p "$DIR"
  local install=(apt-get install -y --no-install-recommends "$@")
  export DEBIAN_FRONTEND=noninteractive
  "${install[@]}" >>"$DIR/apt.log" 2>&1 ||
    { apt-get update && "${install[@]}"; } >>"$DIR/apt.log" 2>&1
}
missing=()
command -v qemu-aarch64-static >/dev/null || missing+=(qemu-user-static)
[[ -e $SYSROOT/lib/ld-linux-aarch64.so.1 ]] || missing+=(libc6-arm64-cross)
[[ -e $SYSROOT/lib/libstdc++.so.6 ]] || missing+=(libstdc++6-arm64-cross)
[[ -e $SYSROOT/lib/libgcc_s.so.1 ]] || missing+=(libgcc-s1-arm64-cross)
if ((${#missing[@]} > 0)) && ! apt_install "${missing[@]}"; then
  if [[ $(id -u) == 0 ]]; then
    not_checked "apt-get could not install ${missing[*]} (see .arm64/apt.log)"
  fi
  not_checked "missing ${missing[*]} (install them as root: apt-get install ${missing[*]})"
fi
# Optional: an aarch64 C compiler lets tests/libc_layout_test.ts check the
# linux-aarch64 profile against aarch64 glibc's own headers (it skips without).
optional=()
command -v aarch64-linux-gnu-gcc >/dev/null || optional+=(gcc-aarch64-linux-gnu)
[[ -e $SYSROOT/include/sys/socket.h ]] || optional+=(libc6-dev-arm64-cross)
if ((${#optional[@]} > 0)) && [[ $(id -u) == 0 ]]; then
  apt_install "${optional[@]}" ||
    echo "could not install ${optional[*]}: the libc layout tests will skip"
fi
QEMU=$(command -v qemu-aarch64-static)
mkdir -p "$DIR"

# --- The arm64 runtimes, at the versions and integrity package-lock.json pins.
# fetch <npm package> <binary inside the package> <folder under .arm64/>
fetch() {
  local name=$1 binary=$2 folder=$3 version integrity packed file got
  read -r version integrity < <(node -e '
    const lock = JSON.parse(require("fs").readFileSync("package-lock.json", "utf8"));
    const entry = lock.packages["node_modules/" + process.argv[1]];
    if (!entry) throw new Error(process.argv[1] + " is not in package-lock.json");
    console.log(entry.version, entry.integrity);
  ' "$name")
  if [[ -x $DIR/$folder/$binary && $(cat "$DIR/$folder/.integrity" 2>/dev/null) == "$integrity" ]]; then
    return
  fi
  step "npm pack $name@$version"
  rm -rf "${DIR:?}/${folder:?}" "${DIR:?}/$folder.tmp"
  packed=$(npm pack "$name@$version" --pack-destination "$DIR" --json --silent) ||
    not_checked "npm could not fetch $name@$version"
  read -r file got < <(node -e '
    const [p] = JSON.parse(process.argv[1]);
    console.log(p.filename, p.integrity);
  ' "$packed")
  if [[ $got != "$integrity" ]]; then
    rm -f "$DIR/$file"
    echo "$name@$version: integrity $got does not match package-lock.json ($integrity)" >&2
    exit 1
  fi
  mkdir -p "$DIR/$folder.tmp"
  tar -xzf "$DIR/$file" -C "$DIR/$folder.tmp" --strip-components=1
  rm -f "$DIR/$file"
  echo "$integrity" >"$DIR/$folder.tmp/.integrity"
  mv "$DIR/$folder.tmp" "$DIR/$folder"
}
fetch @oven/bun-linux-aarch64 bin/bun bun
fetch @deno/linux-arm64-glibc deno deno

# Wrappers: what the suite spawns as FDPASS_BUN / FDPASS_DENO (tests/_helpers.ts).
# The arm64 Deno gets its own cache, apart from the host Deno's.
mkdir -p "$DIR/bin"
printf '#!/usr/bin/env bash\nexec %q -L %q %q "$@"\n' \
  "$QEMU" "$SYSROOT" "$DIR/bun/bin/bun" >"$DIR/bin/bun"
printf '#!/usr/bin/env bash\nexport DENO_DIR=%q\nexec %q -L %q %q "$@"\n' \
  "$DIR/deno-dir" "$QEMU" "$SYSROOT" "$DIR/deno/deno" >"$DIR/bin/deno"
chmod +x "$DIR/bin/bun" "$DIR/bin/deno"
export FDPASS_EMULATED=1 FDPASS_BUN=$DIR/bin/bun FDPASS_DENO=$DIR/bin/deno

# CC for tests/libc_layout_test.ts: compiles for aarch64, and leaves at the -o
# path a script that runs the program under qemu, since an emulated process
# cannot exec an aarch64 binary itself (no binfmt_misc is assumed).
if command -v aarch64-linux-gnu-gcc >/dev/null &&
  [[ -e $SYSROOT/include/sys/socket.h ]]; then
  {
    printf '#!/usr/bin/env bash\nset -euo pipefail\n'
    printf 'run=(%q -L %q)\n' "$QEMU" "$SYSROOT"
    cat <<'EOF'
args=("$@")
out=""
for ((i = 0; i + 1 < ${#args[@]}; i++)); do
  if [[ ${args[i]} == -o ]]; then
    out=${args[i + 1]}
    args[i + 1]=$out.aarch64
  fi
done
aarch64-linux-gnu-gcc "${args[@]}"
if [[ -n $out ]]; then
  printf '#!/usr/bin/env bash\nexec %q %q %q %q "$@"\n' "${run[@]}" "$out.aarch64" >"$out"
  chmod +x "$out"
fi
EOF
  } >"$DIR/bin/cc"
  chmod +x "$DIR/bin/cc"
  export CC=$DIR/bin/cc
fi

# --- Does the emulator run them at all? ------------------------------------
for runtime in bun deno; do
  wrapper=$DIR/bin/$runtime
  if ! out=$(timeout 300 "$wrapper" --version 2>&1); then
    not_checked "$QEMU does not run the arm64 $runtime: $(head -n 1 <<<"$out")"
  fi
done

# The platform profile fdpass itself picks inside each emulated runtime: it
# must be linux-aarch64, or the run would test the x86_64 layouts again.
# shellcheck disable=SC2016 # JavaScript, not shell
probe='
import process from "node:process";
import { libc } from "./ffi/mod.ts";
const name = libc().platform.name;
console.log(`process.arch=${process.arch}, fdpass platform ${name}`);
if (name !== "linux-aarch64") process.exit(1);
'
step "$("$QEMU" --version | head -n 1)"
"$FDPASS_BUN" -e "$probe" | sed 's/^/bun (qemu):  /'
"$FDPASS_DENO" eval "$probe" | sed 's/^/deno (qemu): /'

# --- The suite, timed. Types are the same on every CPU and `npm test` checks
# them; under qemu Deno's check alone costs about a minute, hence --no-check.
files=("$@")
((${#files[@]} > 0)) || files=(tests/)
status=()
step "tests under Deno (aarch64, qemu)"
start=$SECONDS
deno_rc=0
"$FDPASS_DENO" test --allow-all --no-check "${files[@]}" || deno_rc=$?
status+=("deno: exit $deno_rc in $((SECONDS - start)) s")
# Bun's default of 5 s a test is too short under qemu (a Deno child alone
# takes about 3.5 s to start); the suite's own per-test timeouts still apply.
step "tests under Bun (aarch64, qemu)"
start=$SECONDS
bun_rc=0
"$FDPASS_BUN" test --timeout 300000 "${files[@]}" || bun_rc=$?
status+=("bun:  exit $bun_rc in $((SECONDS - start)) s")

step "aarch64 (qemu) summary"
printf '%s\n' "${status[@]}"
((deno_rc == 0 && bun_rc == 0))
