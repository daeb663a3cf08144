#!/usr/bin/env bash
# macOS (universal binaries, arm64 + x86-64: the library, the engine and the
# Godot extension) and iOS (the static library, arm64 devices).
#
#   scripts/build-apple.sh [release|debug]
#
# On Linux: cargo-zigbuild drives zig as the C compiler (both from PyPI,
# cargo-zigbuild's wheel a prebuilt binary, in a virtualenv under
# target/zig): zig ships Darwin's libc headers and libSystem's link stubs,
# which is all the library links (no framework: chrono without its time zone
# lookup, reqwest without its proxy settings); for iOS, which cargo-zigbuild
# lacks, scripts/ios-cc runs zig cc. The macOS linker is LLVM's ld64.lld
# (Debian's lld-19) through scripts/apple-link: zig's own Mach-O linker
# ignores the exported-symbols list. LLVM's lipo and install-name-tool
# (Debian's llvm) join the two CPUs and name the dylibs for an rpath (the
# static libraries are joined by scripts/binaries.py). zig and
# cargo-zigbuild are installed when missing. On a Mac: Xcode's toolchain
# and lipo, scripts/apple-link calling Xcode's cc.
#
# Leaves target/apple/<profile>/: libinworld.dylib (install name
# @rpath/libinworld.dylib), libinworld.a, inworld-engine,
# libinworld_godot.dylib (universal), and ios/libinworld.a; then checks each
# one's architectures, exports and code signatures from the files.
# Each target's build time is printed (README, "Platforms and packages").
set -euo pipefail
cd "$(dirname "$0")/.."
profile=${1:-release}
flag=(); [ "$profile" = release ] && flag=(--release)
mac_targets=(aarch64-apple-darwin x86_64-apple-darwin)
ios_target=aarch64-apple-ios
rustup target add "${mac_targets[@]}" "$ios_target" >/dev/null

build=(cargo build)
# The macOS linker: scripts/apple-link (rustc's exported-symbols list less
# the Godot extension's -unexported_symbol names; ld64.lld here).
# cargo-zigbuild keeps a linker set in the environment.
for t in "${mac_targets[@]}"; do
  t=${t//-/_}
  export "CARGO_TARGET_${t^^}_LINKER=$PWD/scripts/apple-link"
done
if [ "$(uname -s)" = Darwin ]; then
  lipo=lipo install_name_tool=install_name_tool
else
  # zig and cargo-zigbuild from PyPI (cargo-zigbuild runs `python3 -m
  # ziglang` when no zig is on PATH: the virtualenv's python3 first on PATH).
  # The wheel's binary installs in seconds where `cargo install` compiles
  # for minutes.
  zig_venv=$PWD/target/zig
  if ! "$zig_venv/bin/python3" -m ziglang version >/dev/null 2>&1 ||
    ! "$zig_venv/bin/cargo-zigbuild" --version >/dev/null 2>&1; then
    rm -rf "$zig_venv"
    python3 -m venv "$zig_venv"
    "$zig_venv/bin/pip" install -q --disable-pip-version-check 'ziglang==0.17.1' 'cargo-zigbuild==0.24.1'
  fi
  export PATH="$zig_venv/bin:$PATH"
  build=(cargo zigbuild)
  command -v ld64.lld >/dev/null 2>&1 || ls /usr/lib/llvm-*/bin/ld64.lld >/dev/null 2>&1 ||
    { echo "ld64.lld is missing (Debian: apt-get install lld-19)" >&2; exit 1; }
  lipo=$(command -v llvm-lipo || ls /usr/lib/llvm-*/bin/llvm-lipo 2>/dev/null | sort -V | tail -1)
  install_name_tool=$(command -v llvm-install-name-tool ||
    ls /usr/lib/llvm-*/bin/llvm-install-name-tool 2>/dev/null | sort -V | tail -1)
  [ -n "$lipo" ] && [ -n "$install_name_tool" ] ||
    { echo "llvm-lipo or llvm-install-name-tool is missing (Debian: apt-get install llvm)" >&2; exit 1; }
fi

out=target/apple/$profile
mkdir -p "$out/ios"
for t in "${mac_targets[@]}"; do
  start=$SECONDS
  "${build[@]}" --target "$t" "${flag[@]}" -p inworld-native --lib --bin inworld-engine -p inworld-godot
  echo "build-apple: $t ($profile) built in $((SECONDS - start)) s" >&2
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
  if [ "$f" = libinworld.a ] && [ "$(uname -s)" != Darwin ]; then
    # LLVM's lipo parses the bitcode embedded in the standard library's
    # objects, newer than Debian's LLVM reads: the same fat file, by hand.
    python3 scripts/binaries.py fat "$out/$f" "$out/${mac_targets[0]}/$f" "$out/${mac_targets[1]}/$f"
  else
    "$lipo" -create -output "$out/$f" "$out/${mac_targets[0]}/$f" "$out/${mac_targets[1]}/$f"
  fi
done
# iOS: the static library only (an app links it; Unity calls it through
# __Internal), so `cargo rustc --crate-type staticlib`: nothing is linked
# (the crate's cdylib would be), only ring's C and assembly need a compiler:
# here zig cc through scripts/ios-cc (cargo-zigbuild has no iOS).
ios_build=(cargo rustc)
if [ "$(uname -s)" != Darwin ]; then
  export CC_aarch64_apple_ios=$PWD/scripts/ios-cc
  # cc-rs asks xcrun for the SDK unless SDKROOT names one; ios-cc uses
  # zig's headers instead (an empty directory stands for the SDK).
  mkdir -p target/apple/iPhoneOS.sdk
  export SDKROOT=$PWD/target/apple/iPhoneOS.sdk
fi
start=$SECONDS
"${ios_build[@]}" --target "$ios_target" "${flag[@]}" -p inworld-native --lib --crate-type staticlib
echo "build-apple: $ios_target ($profile) built in $((SECONDS - start)) s" >&2
cp "target/$ios_target/$profile/libinworld.a" "$out/ios/libinworld.a"

for f in libinworld.dylib libinworld.a inworld-engine libinworld_godot.dylib ios/libinworld.a; do
  echo "$out/$f: $(python3 scripts/binaries.py arch "$out/$f")"
done
python3 scripts/binaries.py check-exports "$out/libinworld.dylib"
python3 scripts/binaries.py check-exports "$out/libinworld_godot.dylib" --only gdext_rust_init
# arm64 macOS runs only signed code: the linker's ad-hoc signature, redone by
# install-name-tool after its edit.
for f in libinworld.dylib inworld-engine libinworld_godot.dylib; do
  python3 scripts/binaries.py check-signature "$out/$f"
done
