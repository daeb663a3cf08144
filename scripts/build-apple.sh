#!/usr/bin/env bash
# macOS (one universal dylib, arm64 + x86-64) and iOS (static library, arm64),
# on a Mac with Xcode (its SDKs and frameworks): the Linux machines that build
# the other platforms cannot link these (see README, "Platforms").
#
#   scripts/build-apple.sh [release|debug]
#
# Leaves target/apple/<profile>/libinworld.dylib (universal, install name
# @rpath/libinworld.dylib), inworld-engine, libinworld_godot.dylib and
# ios/libinworld.a; then checks each one's architectures and exports.
set -euo pipefail
cd "$(dirname "$0")/.."
profile=${1:-release}
flag=(); [ "$profile" = release ] && flag=(--release)
rustup target add aarch64-apple-darwin x86_64-apple-darwin aarch64-apple-ios
out=target/apple/$profile
mkdir -p "$out/ios"
for t in aarch64-apple-darwin x86_64-apple-darwin; do
  RUSTFLAGS="${RUSTFLAGS:-} -C link-arg=-Wl,-install_name,@rpath/libinworld.dylib" \
    cargo build --target "$t" "${flag[@]}" -p inworld-native --lib --bin inworld-engine -p inworld-godot
done
for f in libinworld.dylib inworld-engine libinworld_godot.dylib; do
  lipo -create -output "$out/$f" "target/aarch64-apple-darwin/$profile/$f" "target/x86_64-apple-darwin/$profile/$f"
done
# iOS: the static library only (an app links it; Unity calls it through __Internal).
cargo rustc --target aarch64-apple-ios "${flag[@]}" -p inworld-native --lib --crate-type staticlib
cp "target/aarch64-apple-ios/$profile/libinworld.a" "$out/ios/libinworld.a"
python3 scripts/binaries.py arch "$out/libinworld.dylib"
python3 scripts/binaries.py check-exports "$out/libinworld.dylib"
python3 scripts/binaries.py check-exports "$out/libinworld_godot.dylib" --only gdext_rust_init
python3 scripts/binaries.py arch "$out/ios/libinworld.a"
