#!/usr/bin/env bash
# Android arm64-v8a and x86_64 shared libraries, with the Android NDK (r25 or
# newer; ANDROID_NDK_HOME): no package registry this project uses ships the
# NDK's bionic headers and libraries (see README, "Platforms").
#
#   ANDROID_NDK_HOME=/path/to/ndk scripts/build-android.sh [release|debug]
#
# Leaves target/android/<profile>/<abi>/libinworld.so and libinworld_godot.so,
# checked for their architecture and exports.
set -euo pipefail
cd "$(dirname "$0")/.."
profile=${1:-release}
flag=(); [ "$profile" = release ] && flag=(--release)
: "${ANDROID_NDK_HOME:?set ANDROID_NDK_HOME to the NDK}"
api=24
bin="$ANDROID_NDK_HOME/toolchains/llvm/prebuilt/$(uname -s | tr A-Z a-z)-x86_64/bin"
rustup target add aarch64-linux-android x86_64-linux-android
for pair in arm64-v8a:aarch64-linux-android x86_64:x86_64-linux-android; do
  abi=${pair%%:*} t=${pair#*:}
  upper=$(echo "$t" | tr a-z- A-Z_)
  export "CARGO_TARGET_${upper}_LINKER=$bin/${t}${api}-clang"
  export "CC_${t//-/_}=$bin/${t}${api}-clang" "AR_${t//-/_}=$bin/llvm-ar"
  cargo build --target "$t" "${flag[@]}" -p inworld-native --lib -p inworld-godot
  mkdir -p "target/android/$profile/$abi"
  cp "target/$t/$profile/libinworld.so" "target/$t/$profile/libinworld_godot.so" "target/android/$profile/$abi/"
  python3 scripts/binaries.py arch "target/android/$profile/$abi/libinworld.so"
  python3 scripts/binaries.py check-exports "target/android/$profile/$abi/libinworld.so"
done
