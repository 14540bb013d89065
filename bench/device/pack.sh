#!/usr/bin/env bash
# Packs the device kit: everything `bench/device/run.sh` needs to run the WebGPU benchmark on a
# lent GPU machine, which has no Node.js and no package registry. Run HERE (a machine with Node,
# node_modules and apt), from anywhere in the repository:
#
#   bash bench/device/pack.sh
#
# It writes the ignored folder `.dev-kit/` (kept out of git by .git/info/exclude):
#
#   node.xz                      this machine's `node` binary, xz -9
#   dawn.node.xz                 node_modules/webgpu/dist/linux-x64/dawn.node (Dawn), xz -9
#   app/package.json             {"type": "module"}: the bundle is ES modules
#   app/dist/*.js                a fresh vite build of the library entries, bench.js among them
#                                (built straight into the kit: dist/ is left alone)
#   app/node_modules/webgpu/     the package's index.js and package.json (dawn.node is unpacked
#                                into its dist/linux-x64/ on the device)
#   debs/libvulkan1_*.deb        the Vulkan loader (amd64), for a machine without one
#   debs/fallback/*.deb          libstdc++6 and libgcc-s1, unpacked on the device only if node
#                                or dawn.node lack them there
#   MANIFEST                     commit, dirty source files, node version, sha256 of each file
#
# Then a session with a device runs ONE call: `run` with command `bash bench/device/run.sh`,
# carry [".dev-kit"], timeout_s 540 (bench/README.md, "Running on a real GPU").
# Env: KIT_SKIP_BUILD=1 reuses app/dist from an earlier pack (no vite build).
set -euo pipefail

ROOT=$(git -C "$(dirname "$0")" rev-parse --show-toplevel)
cd "$ROOT"
KIT=.dev-kit
NODE_BIN=$(command -v node) || { echo "pack: no node on PATH" >&2; exit 1; }
NODE_BIN=$(readlink -f "$NODE_BIN")
DAWN=node_modules/webgpu/dist/linux-x64/dawn.node
[ -f "$DAWN" ] || { echo "pack: $DAWN missing (npm ci first)" >&2; exit 1; }
[ "$(uname -m)" = x86_64 ] || { echo "pack: this machine is $(uname -m); the device is x86-64: node and dawn.node must be x86-64 builds" >&2; exit 1; }

# Keep the kit out of git (it travels with `carry`, which takes ignored paths only).
if ! git check-ignore -q "$KIT"; then
  echo "/$KIT/" >> "$(git rev-parse --git-path info/exclude)"
  echo "pack: added /$KIT/ to $(git rev-parse --git-path info/exclude)"
fi
mkdir -p "$KIT/app/node_modules/webgpu" "$KIT/debs/fallback"

# 1. node and Dawn, compressed only when the source changed since the last pack.
xz_if_changed() { # source target
  local src=$1 dst=$2 stamp="$2.src-sha256" sum
  sum=$(sha256sum "$src" | cut -d' ' -f1)
  if [ -f "$dst" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$sum" ]; then
    echo "pack: $dst is up to date"
  else
    echo "pack: xz -9 $src -> $dst"
    xz -9 -c "$src" > "$dst.tmp" && mv "$dst.tmp" "$dst"
    echo "$sum" > "$stamp"
  fi
}
echo "pack: node $("$NODE_BIN" --version) at $NODE_BIN; shared libraries:"
ldd "$NODE_BIN" | sed 's/^/  /'
echo "pack: dawn.node shared libraries:"
ldd "$DAWN" | sed 's/^/  /'
echo "pack: glibc symbol versions needed: node $(objdump -T "$NODE_BIN" | grep -o 'GLIBC_[0-9.]*' | sort -uV | tail -1), dawn.node $(objdump -T "$DAWN" | grep -o 'GLIBC_[0-9.]*' | sort -uV | tail -1)" 2>/dev/null || true
xz_if_changed "$NODE_BIN" "$KIT/node.xz"
xz_if_changed "$DAWN" "$KIT/dawn.node.xz"

# 2. The webgpu package's JavaScript: index.js imports only node: built-ins and requires
# dist/<platform>-<arch>/dawn.node through createRequire.
cp node_modules/webgpu/index.js node_modules/webgpu/package.json "$KIT/app/node_modules/webgpu/"
if grep -Eo "from ['\"][^'\"]+['\"]" node_modules/webgpu/index.js | grep -Ev "['\"](node:|module['\"])" ; then
  echo "pack: node_modules/webgpu/index.js imports a package the kit does not carry (above)" >&2; exit 1
fi
printf '{ "type": "module", "private": true }\n' > "$KIT/app/package.json"

# 3. The bundle: a vite build of the library entries straight into the kit (dist/ untouched).
if [ "${KIT_SKIP_BUILD:-0}" != 1 ]; then
  echo "pack: vite build -> $KIT/app/dist"
  npx vite build --outDir "$KIT/app/dist" --emptyOutDir --logLevel warn
  rm -f "$KIT"/app/dist/*.map
fi
[ -f "$KIT/app/dist/bench.js" ] || { echo "pack: $KIT/app/dist/bench.js missing" >&2; exit 1; }
# Every bare import of the bundle must be a node: built-in or webgpu (onnxruntime-node is only
# for the CLI's ONNX import, never reached by the benchmark).
bare=$(grep -ho "from \"[^\".][^\"]*\"\|import(\"[^\".][^\"]*\")" "$KIT"/app/dist/*.js | grep -o '"[^"]*"' | tr -d '"' | sort -u | grep -v '^node:' || true)
echo "pack: bare imports of the bundle: $(echo $bare)"
for m in $bare; do
  case $m in webgpu|onnxruntime-node) ;; *) echo "pack: the bundle imports '$m', which the kit does not carry" >&2; exit 1 ;; esac
done

# 4. Debian packages (amd64), as the device README says; downloaded once.
if ! ls "$KIT"/debs/libvulkan1_*.deb >/dev/null 2>&1 || ! ls "$KIT"/debs/fallback/libstdc++6_*.deb >/dev/null 2>&1; then
  lists=/tmp/amd64-lists
  mkdir -p "$lists/partial"
  o="-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=$lists"
  # shellcheck disable=SC2086
  apt-get $o update -qq
  # shellcheck disable=SC2086
  (cd "$KIT/debs" && apt-get $o download libvulkan1)
  # shellcheck disable=SC2086
  (cd "$KIT/debs/fallback" && apt-get $o download libstdc++6 libgcc-s1)
fi

# 5. Manifest: what was packed, from which tree.
{
  echo "packed $(date -u +%FT%TZ) on $(hostname) ($(. /etc/os-release && echo "$PRETTY_NAME"), $(ldd --version | head -1))"
  echo "commit $(git rev-parse HEAD)"
  dirty=$(git status --porcelain -- src bench shaders vite.config.ts package.json ':!bench/device' | tr '\n' ';')
  echo "dirty ${dirty:-none}"
  echo "node $("$NODE_BIN" --version)"
  echo "webgpu $(sed -n 's/.*"version": *"\([^"]*\)".*/\1/p' node_modules/webgpu/package.json)"
  echo "node.sha256 $(cat "$KIT/node.xz.src-sha256")"
  echo "dawn.node.sha256 $(cat "$KIT/dawn.node.xz.src-sha256")"
  echo "files:"
  (cd "$KIT" && find . -type f ! -name MANIFEST ! -name '*.src-sha256' | sort | xargs sha256sum)
} > "$KIT/MANIFEST"
if [ -n "$(git status --porcelain -- src bench shaders vite.config.ts package.json ':!bench/device')" ]; then
  echo "pack: WARNING: the bundle was built from uncommitted changes (see 'dirty' in $KIT/MANIFEST)" >&2
fi

# 6. Size: the kit travels with the working tree (tracked + untracked-not-ignored), 64 MiB in all.
kit_bytes=$(du -sb "$KIT" | cut -f1)
tree_bytes=$( { git ls-files -z; git ls-files -z --others --exclude-standard; } | du -cb --files0-from=- 2>/dev/null | tail -1 | cut -f1)
[ -d shared ] && tree_bytes=$((tree_bytes + $(du -sb shared | cut -f1)))
total=$((kit_bytes + tree_bytes))
mib() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1048576 }'; }
echo "pack: kit $(mib "$kit_bytes") MiB + working tree $(mib "$tree_bytes") MiB = $(mib "$total") MiB (limit 64 MiB)"
(cd "$KIT" && du -ah --max-depth=2 . | sort -k2)
if [ "$total" -gt $((60 * 1048576)) ]; then echo "pack: over 60 MiB: the call may be refused" >&2; exit 1; fi
echo "pack: done. Device call: run(command='bash bench/device/run.sh', carry=['.dev-kit'], timeout_s=540)"
