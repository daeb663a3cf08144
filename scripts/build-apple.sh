#!/usr/bin/env bash
# macOS (universal binaries, arm64 + x86-64: the library, the engine and the
# Godot extension) and iOS (the static library, arm64 devices).
#
#   scripts/build-apple.sh [release|debug]
#
# On Linux: cargo-zigbuild (from crates.io) drives zig (PyPI's ziglang, in a
# virtualenv under target/zig) as the C compiler and linker: zig ships
# macOS's libc headers and libSystem's link stubs, which is all the library
# links (no framework: chrono without its time zone lookup, reqwest without
# its proxy settings). LLVM's lipo and install-name-tool (Debian's llvm) join
# the two CPUs and name the dylibs for an rpath. What
# is missing is installed. On a Mac: Xcode's toolchain and lipo.
#
# Leaves target/apple/<profile>/: libinworld.dylib (install name
# @rpath/libinworld.dylib), libinworld.a, inworld-engine,
# libinworld_godot.dylib (universal), and ios/libinworld.a; then checks each
# one's architectures and exports from the files.
set -euo pipefail
cd "$(dirname "$0")/.."
profile=${1:-release}
flag=(); [ "$profile" = release ] && flag=(--release)
mac_targets=(aarch64-apple-darwin x86_64-apple-darwin)
ios_target=aarch64-apple-ios
rustup target add "${mac_targets[@]}" "$ios_target" >/dev/null

build=(cargo build)
if [ "$(uname -s)" = Darwin ]; then
  lipo=lipo install_name_tool=install_name_tool
else
  # zig from PyPI (cargo-zigbuild runs `python3 -m ziglang` when no zig is on
  # PATH: the virtualenv's python3 first on PATH).
  zig_venv=$PWD/target/zig
  if ! "$zig_venv/bin/python3" -m ziglang version >/dev/null 2>&1; then
    rm -rf "$zig_venv"
    python3 -m venv "$zig_venv"
    "$zig_venv/bin/pip" install -q --disable-pip-version-check 'ziglang==0.17.1'
  fi
  export PATH="$zig_venv/bin:$PATH"
  command -v cargo-zigbuild >/dev/null 2>&1 || cargo install --locked cargo-zigbuild --version 0.24.1
  build=(cargo zigbuild)
  lipo=$(command -v llvm-lipo || ls /usr/lib/llvm-*/bin/llvm-lipo 2>/dev/null | sort -V | tail -1)
  install_name_tool=$(command -v llvm-install-name-tool ||
    ls /usr/lib/llvm-*/bin/llvm-install-name-tool 2>/dev/null | sort -V | tail -1)
  [ -n "$lipo" ] && [ -n "$install_name_tool" ] ||
    { echo "llvm-lipo or llvm-install-name-tool is missing (Debian: apt-get install llvm)" >&2; exit 1; }
fi

out=target/apple/$profile
mkdir -p "$out/ios"
for t in "${mac_targets[@]}"; do
  "${build[@]}" --target "$t" "${flag[@]}" -p inworld-native --lib --bin inworld-engine -p inworld-godot
done
# Each CPU's files copied; the dylibs renamed @rpath/NAME (rustc leaves the
# build path as their install name), then the two CPUs joined.
for t in "${mac_targets[@]}"; do
  mkdir -p "$out/$t"
  for f in libinworld.dylib libinworld.a inworld-engine libinworld_godot.dylib; do
    cp "target/$t/$profile/$f" "$out/$t/$f"
  done
  for f in libinworld.dylib libinworld_godot.dylib; do
    "$install_name_tool" -id "@rpath/$f" "$out/$t/$f"
  done
done
for f in libinworld.dylib libinworld.a inworld-engine libinworld_godot.dylib; do
  rm -f "$out/$f"
  "$lipo" -create -output "$out/$f" "$out/${mac_targets[0]}/$f" "$out/${mac_targets[1]}/$f"
done
# iOS: the static library only (an app links it; Unity calls it through
# __Internal). Nothing is linked, so only ring's C and assembly need zig.
"${build[@]}" --target "$ios_target" "${flag[@]}" -p inworld-native --lib
cp "target/$ios_target/$profile/libinworld.a" "$out/ios/libinworld.a"

for f in libinworld.dylib libinworld.a inworld-engine libinworld_godot.dylib ios/libinworld.a; do
  echo "$out/$f: $(python3 scripts/binaries.py arch "$out/$f")"
done
if [ "$(uname -s)" = Darwin ]; then
  python3 scripts/binaries.py check-exports "$out/libinworld.dylib"
  python3 scripts/binaries.py check-exports "$out/libinworld_godot.dylib" --only gdext_rust_init
else
  # zig's Mach-O linker does not apply rustc's -exported_symbols_list: every
  # global symbol stays exported (README, "Platforms and packages").
  python3 scripts/binaries.py check-exports-include "$out/libinworld.dylib"
  python3 scripts/binaries.py check-exports-include "$out/libinworld_godot.dylib" --only gdext_rust_init
fi
