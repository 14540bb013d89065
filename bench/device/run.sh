#!/usr/bin/env bash
# Runs the issue-3 GPU benchmark ON THE DEVICE MACHINE (no Node.js, no registry there), from the
# kit that bench/device/pack.sh made here. One call of the device tool:
#
#   run(command="bash bench/device/run.sh", carry=[".dev-kit"], timeout_s=540)
#
# Steps: unpack node and Dawn to $KIT_WORK (/tmp), bring the Vulkan loader if the machine has
# none, point the loader at the NVIDIA ICD, check the adapter (probe.mjs: fails on no adapter or a
# CPU one), then two benchmark runs:
#   baseline  --backends cpu,webgpu --nets 1 --pq 2,2 --runs 5 --sweeps 64      (CPU beside GPU)
#   issue3    --backends webgpu --nets 4 --pq 2,2 --pq 1,2 --runs 5 --sweeps 64 --no-converge
# Writes under $OUT (what the device tool brings back): device.log (everything), env.txt,
# baseline.{log,json}, issue3.{log,json}, vulkan-debug.log (only when no adapter was found).
# Exit status: 0 when both runs timed a GPU; non-zero otherwise (reason printed last).
# The whole script stays within BUDGET_S seconds (default 480) of its own start.
#
# Env (for rehearsals on a machine without a GPU, bench/README.md):
#   ALLOW_SWIFTSHADER=1   accept a CPU adapter (SwiftShader, llvmpipe): a rehearsal, not a measurement
#   BENCH_QUICK=1         small runs (net 1, 1 run of 4 sweeps) instead of the two above
#   BENCH_BASELINE_ARGS, BENCH_ISSUE3_ARGS   replace a run's arguments
#   FORCE_VK_LOADER=1     unpack the carried Vulkan loader even if the machine has one
#   VK_LOADER_ROOT=DIR    unpack it under DIR (with LD_LIBRARY_PATH) instead of / (with ldconfig)
#   KIT, KIT_WORK, OUT, BUDGET_S
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
KIT=${KIT:-$ROOT/.dev-kit}
OUT=${OUT:-$ROOT/out}
WORK=${KIT_WORK:-/tmp/weight-balance-kit}
BUDGET_S=${BUDGET_S:-480}
START=$SECONDS
mkdir -p "$OUT"

say() { echo "== $*"; }
left() { echo $((BUDGET_S - (SECONDS - START))); }
# A step's time limit: what it asks for, within what is left of the budget (minus a margin).
limit() { local l; l=$(($(left) - 15)); [ "$1" -lt "$l" ] && l=$1; [ "$l" -lt 5 ] && l=5; echo "$l"; }
unxz_to() { if command -v xz >/dev/null; then xz -dc "$1" > "$2"; else python3 "$HERE/unpack.py" xz "$1" "$2"; fi; }
undeb_to() { mkdir -p "$2"; if command -v dpkg >/dev/null; then dpkg -x "$1" "$2"; else python3 "$HERE/unpack.py" deb "$1" "$2"; fi; }
manifest() { sed -n "s/^$1 //p" "$KIT/MANIFEST"; }
# Never `ldconfig -p | grep -q`: under pipefail, grep -q leaving early fails the pipe (SIGPIPE).
ldconfig_p() { if command -v ldconfig >/dev/null; then ldconfig -p; else /sbin/ldconfig -p; fi 2>/dev/null; }
gpu_state() {
  command -v nvidia-smi >/dev/null || return 0
  nvidia-smi --query-gpu=name,driver_version,memory.total,memory.used,clocks.sm,clocks.max.sm,clocks.mem,temperature.gpu,power.draw,utilization.gpu --format=csv 2>&1
}

STATUS=()   # one line per benchmark run: name, verdict
ICD_HERE=''  # the NVIDIA ICD json this script found (and set), if any
FAILED=0

unpack() {
  say "kit: $KIT"
  [ -f "$KIT/MANIFEST" ] || { echo "no kit at $KIT: run bash bench/device/pack.sh on the dev machine and carry .dev-kit"; return 1; }
  head -5 "$KIT/MANIFEST"
  mkdir -p "$WORK/bin"
  rm -rf "$WORK/app"
  cp -r "$KIT/app" "$WORK/app"
  NODE=$WORK/bin/node
  DAWN=$WORK/app/node_modules/webgpu/dist/linux-x64/dawn.node
  mkdir -p "$(dirname "$DAWN")"
  unxz_to "$KIT/node.xz" "$NODE" && chmod +x "$NODE" || return 1
  unxz_to "$KIT/dawn.node.xz" "$DAWN" || return 1
  local sum
  sum=$(sha256sum "$NODE" | cut -d' ' -f1); [ "$sum" = "$(manifest node.sha256)" ] || { echo "node: checksum mismatch"; return 1; }
  sum=$(sha256sum "$DAWN" | cut -d' ' -f1); [ "$sum" = "$(manifest dawn.node.sha256)" ] || { echo "dawn.node: checksum mismatch"; return 1; }
  cp "$HERE/probe.mjs" "$WORK/app/probe.mjs"
  # Vulkan drivers complain on every start when this is unset.
  [ -n "${XDG_RUNTIME_DIR:-}" ] || { export XDG_RUNTIME_DIR=$WORK/xdg; mkdir -p -m 700 "$XDG_RUNTIME_DIR"; }
  say "unpacked node and dawn.node to $WORK ($(( $(left) )) s of the budget left)"
}

libraries() {
  say "system: $(uname -srm); $( (. /etc/os-release && echo "$PRETTY_NAME") 2>/dev/null ); $(ldd --version 2>/dev/null | head -1)"
  # The Vulkan loader, which Dawn dlopens (libvulkan.so.1).
  if [ "${FORCE_VK_LOADER:-0}" != 1 ] && ldconfig_p | grep 'libvulkan\.so\.1 ' >/dev/null; then
    say "vulkan loader: the machine's ($(ldconfig_p | grep 'libvulkan\.so\.1 ' | head -1 | sed 's/.*=> //'))"
  else
    local root=${VK_LOADER_ROOT:-/} f
    for f in "$KIT"/debs/libvulkan1_*.deb; do undeb_to "$f" "$root" || return 1; done
    if [ "$root" = / ]; then
      ldconfig 2>/dev/null || /sbin/ldconfig
    else
      export LD_LIBRARY_PATH=$root/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
    fi
    say "vulkan loader: unpacked $(basename "$KIT"/debs/libvulkan1_*.deb) under $root"
  fi
  # libstdc++/libgcc_s for node and dawn.node, only if the machine lacks them.
  local missing
  missing=$( { ldd "$NODE"; ldd "$DAWN"; } 2>&1 | grep 'not found' | sort -u)
  if [ -n "$missing" ]; then
    echo "$missing"
    local f
    for f in "$KIT"/debs/fallback/*.deb; do undeb_to "$f" "$WORK/sysroot" || return 1; done
    export LD_LIBRARY_PATH=$WORK/sysroot/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
    missing=$( { ldd "$NODE"; ldd "$DAWN"; } 2>&1 | grep 'not found' | sort -u)
    [ -z "$missing" ] || { echo "still missing after the carried libstdc++6/libgcc-s1 (GLIBC_2.34 is needed by dawn.node):"; echo "$missing"; return 1; }
    say "libstdc++/libgcc_s: the carried ones (LD_LIBRARY_PATH)"
  fi
  "$NODE" --version >/dev/null || { echo "the carried node does not start here"; return 1; }
  say "node $("$NODE" --version) runs"
}

choose_icd() {
  if [ -n "${VK_ICD_FILENAMES:-}${VK_DRIVER_FILES:-}" ]; then
    say "ICD from the caller: VK_DRIVER_FILES=${VK_DRIVER_FILES:-} VK_ICD_FILENAMES=${VK_ICD_FILENAMES:-}"
    ICD_SET_HERE=0
    return
  fi
  ICD_SET_HERE=0
  local c
  for c in /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json /usr/share/vulkan/icd.d/nvidia_icd.json /etc/vulkan/icd.d/nvidia_icd.json; do
    if [ -f "$c" ]; then
      export VK_DRIVER_FILES=$c VK_ICD_FILENAMES=$c
      ICD_SET_HERE=1
      ICD_HERE=$c
      say "ICD: $c: $(tr -d '\n ' < "$c" | head -c 300)"
      # The ICD names its driver library; if that is a bare name the linker cannot find, add the
      # driver's folder (the NVIDIA container mount) to the library path.
      local lib d
      lib=$(tr -d '\n ' < "$c" | sed -n 's/.*"library_path":"\([^"]*\)".*/\1/p')
      if [ -n "$lib" ] && [ "${lib#/}" = "$lib" ] && ! ldconfig_p | grep "^[[:space:]]*$lib " >/dev/null; then
        for d in /usr/local/nvidia/lib64 /usr/local/nvidia/lib /usr/lib/x86_64-linux-gnu/nvidia; do
          if [ -f "$d/$lib" ]; then
            export LD_LIBRARY_PATH=$d${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
            say "ICD library $lib: not in the linker cache; found in $d (added to LD_LIBRARY_PATH)"
            break
          fi
        done
      fi
      return
    fi
  done
  say "ICD: no nvidia_icd.json in the usual places; the loader searches its defaults"
}

probe() { # [log]
  (cd "$WORK/app" && timeout -k 5 "$(limit 60)" "$NODE" probe.mjs)
}

check_adapter() {
  say "probe (VK_DRIVER_FILES=${VK_DRIVER_FILES:-unset})"
  probe && return 0
  local rc=$?
  if [ "$ICD_SET_HERE" = 1 ] && [ "$rc" != 3 ]; then
    say "probe failed ($rc) with the NVIDIA ICD set here; again with the loader's default search"
    unset VK_DRIVER_FILES VK_ICD_FILENAMES
    probe && return 0
    rc=$?
  fi
  [ "$rc" = 3 ] && return 3
  say "no usable adapter: loader diagnostics in $OUT/vulkan-debug.log"
  {
    echo "# ldconfig -p | grep -i 'vulkan|nvidia|GLX'"; ldconfig_p | grep -Ei 'vulkan|nvidia|glx'
    echo "# ICD folders"; ls -la /usr/local/nvidia/share/vulkan/icd.d /usr/share/vulkan/icd.d /etc/vulkan/icd.d 2>&1
    if [ -n "$ICD_HERE" ]; then
      echo "# VK_LOADER_DEBUG=error,warn,driver probe, ICD $ICD_HERE"
      (cd "$WORK/app" && VK_DRIVER_FILES=$ICD_HERE VK_ICD_FILENAMES=$ICD_HERE VK_LOADER_DEBUG=error,warn,driver timeout -k 5 "$(limit 60)" "$NODE" probe.mjs) 2>&1 | head -c 3000000
    fi
    echo "# VK_LOADER_DEBUG=error,warn,driver probe, VK_DRIVER_FILES=${VK_DRIVER_FILES:-unset} VK_ICD_FILENAMES=${VK_ICD_FILENAMES:-unset}"
    (cd "$WORK/app" && VK_LOADER_DEBUG=error,warn,driver timeout -k 5 "$(limit 60)" "$NODE" probe.mjs) 2>&1 | head -c 3000000
  } > "$OUT/vulkan-debug.log" 2>&1
  tail -40 "$OUT/vulkan-debug.log"
  return 2
}

bench() { # name seconds args...
  local name=$1 seconds=$2; shift 2
  local t; t=$(limit "$seconds")
  say "bench $name: node dist/bench.js $* (limit ${t} s, $(left) s of the budget left)"
  (cd "$WORK/app" && timeout -k 10 "$t" "$NODE" dist/bench.js "$@" --json "$OUT/$name.json") 2>&1 | tee "$OUT/$name.log"
  local rc=${PIPESTATUS[0]} why=''
  if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then why="timed out after ${t} s"
  elif [ "$rc" != 0 ]; then why="exit status $rc"
  elif grep -q '^# backend .* skipped' "$OUT/$name.log"; then why="$(grep '^# backend .* skipped' "$OUT/$name.log" | head -1)"
  elif [[ " $* " == *webgpu* ]] && ! grep -q '^# backend webgpu: ' "$OUT/$name.log"; then why='no webgpu backend line'
  elif [ "${ALLOW_SWIFTSHADER:-0}" != 1 ] && grep -Eiq '^# backend webgpu: .*(swiftshader|llvmpipe|lavapipe)' "$OUT/$name.log"; then why='the webgpu backend ran on CPU emulation'
  elif [ ! -s "$OUT/$name.json" ]; then why="no $name.json"
  fi
  if [ -n "$why" ]; then STATUS+=("$name: FAILED ($why)"); FAILED=1; else STATUS+=("$name: ok"); fi
}

main() {
  say "weight-balance device kit, $(date -u +%FT%TZ), budget ${BUDGET_S} s"
  unpack || { echo "FAILED: could not unpack the kit"; return 1; }
  libraries || { echo "FAILED: node or Dawn cannot run on this machine"; return 1; }
  {
    echo "# date"; date -u +%FT%TZ
    echo "# MANIFEST"; cat "$KIT/MANIFEST"
    echo "# uname"; uname -a
    echo "# os-release"; cat /etc/os-release 2>/dev/null
    echo "# glibc"; ldd --version 2>/dev/null | head -1
    echo "# nproc"; nproc
    echo "# nvidia-smi -L"; nvidia-smi -L 2>&1
    echo "# GPU state before"; gpu_state
    echo "# ldd node"; ldd "$NODE" 2>&1
    echo "# ldd dawn.node"; ldd "$DAWN" 2>&1
  } > "$OUT/env.txt" 2>&1
  if command -v nvidia-smi >/dev/null; then say "nvidia-smi -L"; nvidia-smi -L; gpu_state; else say "no nvidia-smi on this machine"; fi
  choose_icd
  check_adapter
  case $? in
    0) ;;
    3) echo "FAILED: the WebGPU adapter is CPU emulation, not the GPU (probe above)"; return 3 ;;
    *) echo "FAILED: no working WebGPU adapter (probe above, $OUT/vulkan-debug.log)"; return 2 ;;
  esac

  local base issue3
  if [ "${BENCH_QUICK:-0}" = 1 ]; then
    base='--backends cpu,webgpu --nets 1 --pq 2,2 --runs 1 --sweeps 4'
    issue3='--backends webgpu --nets 1 --pq 2,2 --pq 1,2 --runs 1 --sweeps 4 --no-converge'
  else
    base='--backends cpu,webgpu --nets 1 --pq 2,2 --runs 5 --sweeps 64'
    issue3='--backends webgpu --nets 4 --pq 2,2 --pq 1,2 --runs 5 --sweeps 64 --no-converge'
  fi
  # shellcheck disable=SC2086
  bench baseline 150 ${BENCH_BASELINE_ARGS:-$base}
  # shellcheck disable=SC2086
  bench issue3 330 ${BENCH_ISSUE3_ARGS:-$issue3}
  { echo "# GPU state after"; gpu_state; } >> "$OUT/env.txt" 2>&1

  echo
  say "summary ($((SECONDS - START)) s)"
  command -v nvidia-smi >/dev/null && nvidia-smi -L
  local name
  for name in baseline issue3; do
    [ -f "$OUT/$name.log" ] && { echo "-- $name"; grep -v '^# wrote' "$OUT/$name.log"; }
  done
  printf '%s\n' "${STATUS[@]}"
  [ "$FAILED" = 0 ] && say "OK: record the card, the ms/sweep, x floor (target <= 2x) and GB/s in bench/README.md"
  return "$FAILED"
}

main 2>&1 | tee "$OUT/device.log"
exit "${PIPESTATUS[0]}"
