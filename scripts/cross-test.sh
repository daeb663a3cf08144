#!/usr/bin/env bash
# Builds the library and the engine for Windows x86-64 (mingw-w64) and Linux
# ARM64 (Debian's aarch64 cross compiler), checks what each binary exports,
# and runs the C test programs and the C++ wrapper's test there: under wine
# against inworld.dll, under qemu-aarch64 against libinworld.so, each with the
# local engine embedded (iw_engine_start). The last line counts the checks
# ("N passed, N failed"); the exit status is 1 when one failed.
#
#   scripts/cross-test.sh [TARGET ...]     (default: both targets)
#   PROFILE=release scripts/cross-test.sh  (default: debug, to save CPU)
#
# Needs: mingw-w64, wine (wine64), qemu-user, gcc-aarch64-linux-gnu,
# g++-aarch64-linux-gnu, libc6-dev-arm64-cross and the two rustup targets
# (.ci/run installs them). Linkers come from .cargo/config.toml.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD
profile=${PROFILE:-debug}
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(x86_64-pc-windows-gnu aarch64-unknown-linux-gnu)
cargo_profile=()
[ "$profile" = release ] && cargo_profile=(--release)

passed=0
failed=0
failures=()
# check NAME COMMAND...: runs the command, its output into a log; a failure
# prints the log's end.
check() {
  local name=$1 log
  shift
  log="$work/$(echo "$name" | tr ' /' '__').log"
  local started=$SECONDS
  if "$@" >"$log" 2>&1; then
    passed=$((passed + 1))
    echo "ok   $name ($((SECONDS - started)) s)"
  else
    failed=$((failed + 1))
    failures+=("$name")
    echo "FAIL $name ($((SECONDS - started)) s); the end of $log:"
    tail -n 40 "$log" | sed 's/^/    /'
  fi
}

# expect_ok NAME EXE-RUNNER...: the program exits 0 and prints "NAME: OK".
expect_ok() {
  local name=$1 out status=0
  shift
  out=$("$@" </dev/null) || status=$?
  echo "$out"
  [ "$status" -eq 0 ] || { echo "exit status $status"; return 1; }
  grep -q "^$name: OK" <<<"$out"
}

c_flags=(-std=c99 -Wall -Wextra -Werror -pedantic -g)
cxx_flags=(-std=c++17 -Wall -Wextra -Werror -pedantic -g)
# The C programs that need no input files (hands_free reads speech made by
# the host tests with espeak-ng; the host suite runs it).
c_programs=(basic_session misuse playback mic group outage)

windows() {
  local out=target/x86_64-pc-windows-gnu/$profile
  check "windows: build inworld.dll, inworld-engine.exe and the Godot extension" \
    cargo build --target x86_64-pc-windows-gnu "${cargo_profile[@]}" -p inworld-native --lib --bin inworld-engine -p inworld-godot
  check "windows: inworld.dll exports exactly the header's functions" \
    python3 scripts/binaries.py check-exports "$out/inworld.dll"
  check "windows: inworld_godot.dll exports exactly gdext_rust_init" \
    python3 scripts/binaries.py check-exports "$out/inworld_godot.dll" --only gdext_rust_init
  # What a game (MSVC-built, Unity) must find on Windows: system DLLs only, no
  # MinGW runtime DLL (libgcc, libwinpthread, libstdc++).
  check "windows: inworld.dll imports Windows system DLLs only" \
    bash -c "objdump -p $out/inworld.dll | sed -n 's/^\s*DLL Name: //p' | sort -u |
             grep -viE '^(kernel32|ntdll|ws2_32|bcrypt|bcryptprimitives|userenv|advapi32|msvcrt|api-ms-win-[a-z0-9-]+)\.dll\$' |
             { ! grep .; }"
  check "windows: the import library and the static library are x86-64 COFF" \
    bash -c "[ \"\$(python3 scripts/binaries.py arch $out/libinworld.dll.a)\" = x86_64 ] &&
             [ \"\$(python3 scripts/binaries.py arch $out/libinworld.a)\" = x86_64 ]"

  # What wine runs: the programs beside the DLL, and the ProcessPrng stand-in
  # (wine 8 has no bcryptprimitives.dll; Windows 10 and later do).
  local run=$work/windows
  mkdir -p "$run"
  cp "$out/inworld.dll" "$out/inworld-engine.exe" "$run/"
  check "windows: the ProcessPrng stand-in for wine builds" \
    x86_64-w64-mingw32-gcc -shared -O2 -o "$run/bcryptprimitives.dll" \
    scripts/wine/bcryptprimitives.c -ladvapi32
  export WINEPREFIX=$work/wineprefix WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml=" INWORLD_LOG=warn
  local wine=/usr/lib/wine/wine64
  [ -x "$wine" ] || wine=wine64
  # The prefix is made once, before the timed runs, and its start-up let
  # finish: wine goes on setting a new prefix up after the first command
  # returns (a program started meanwhile once exited 1 with no output).
  "$wine" cmd /c exit >/dev/null 2>&1 || true
  timeout 120 wineserver -w || true

  for p in "${c_programs[@]}"; do
    # -static: the pthread and C runtime parts of mingw go into the program,
    # so that only inworld.dll (through its import library) is loaded.
    check "windows: $p.c builds with mingw" \
      x86_64-w64-mingw32-gcc "${c_flags[@]}" -Iinclude "tests/c/$p.c" -o "$run/$p.exe" \
      "$out/libinworld.dll.a" -static -lpthread -lm
    check "windows: $p under wine" expect_ok "$p" "$wine" "$run/$p.exe"
  done
  # The posix thread model: g++'s std::mutex and std::thread need it.
  check "windows: the C++ wrapper's test builds with mingw g++" \
    x86_64-w64-mingw32-g++-posix "${cxx_flags[@]}" -Iinclude -Ibindings/cpp/include \
    bindings/cpp/tests/wrapper_test.cpp -o "$run/wrapper_test.exe" "$out/libinworld.dll.a" -static
  check "windows: the C++ wrapper's test under wine" expect_ok wrapper_test "$wine" "$run/wrapper_test.exe"
  check "windows: inworld-engine.exe --help under wine" \
    bash -c "'$wine' '$run/inworld-engine.exe' --help | grep -q -- --listen"
  WINEPREFIX=$work/wineprefix wineserver -k >/dev/null 2>&1 || true
}

arm64() {
  local out=target/aarch64-unknown-linux-gnu/$profile
  check "arm64: build libinworld.so, inworld-engine and the Godot extension" \
    cargo build --target aarch64-unknown-linux-gnu "${cargo_profile[@]}" -p inworld-native --lib --bin inworld-engine -p inworld-godot
  check "arm64: libinworld.so exports exactly the header's functions" \
    python3 scripts/binaries.py check-exports "$out/libinworld.so"
  # godot-rust defines __cxa_thread_atexit_impl on Linux: its hook that lets
  # Godot reload the extension.
  check "arm64: libinworld_godot.so exports exactly gdext_rust_init (and godot-rust's reload hook)" \
    python3 scripts/binaries.py check-exports "$out/libinworld_godot.so" --only gdext_rust_init __cxa_thread_atexit_impl
  check "arm64: the library, the static library and the engine are AArch64" \
    bash -c "for f in $out/libinworld.so $out/libinworld.a $out/inworld-engine; do
               [ \"\$(python3 scripts/binaries.py arch \$f)\" = aarch64 ] || { echo \$f; exit 1; }; done"
  local run=$work/arm64
  mkdir -p "$run"
  cp "$out/libinworld.so" "$run/"
  export QEMU_LD_PREFIX=/usr/aarch64-linux-gnu INWORLD_LOG=warn
  for p in "${c_programs[@]}"; do
    check "arm64: $p.c builds" \
      aarch64-linux-gnu-gcc "${c_flags[@]}" -Iinclude "tests/c/$p.c" -o "$run/$p" \
      -L"$run" -Wl,-rpath,'$ORIGIN' -linworld -lpthread -lm
    check "arm64: $p under qemu-aarch64" expect_ok "$p" qemu-aarch64 "$run/$p"
  done
  check "arm64: the C++ wrapper's test builds" \
    aarch64-linux-gnu-g++ "${cxx_flags[@]}" -Iinclude -Ibindings/cpp/include \
    bindings/cpp/tests/wrapper_test.cpp -o "$run/wrapper_test" -L"$run" -Wl,-rpath,'$ORIGIN' -linworld -lpthread
  check "arm64: the C++ wrapper's test under qemu-aarch64" expect_ok wrapper_test qemu-aarch64 "$run/wrapper_test"
  check "arm64: inworld-engine --help under qemu-aarch64" \
    bash -c "qemu-aarch64 '$out/inworld-engine' --help | grep -q -- --listen"
}

work=$root/target/cross-test
rm -rf "$work"
mkdir -p "$work"
started=$SECONDS
for t in "${targets[@]}"; do
  case $t in
    x86_64-pc-windows-gnu) windows ;;
    aarch64-unknown-linux-gnu) arm64 ;;
    *) echo "unknown target $t (x86_64-pc-windows-gnu, aarch64-unknown-linux-gnu)" >&2; exit 2 ;;
  esac
done
echo "cross tests took $((SECONDS - started)) s"
for f in "${failures[@]}"; do echo "failed: $f"; done
echo "cross: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
