#!/usr/bin/env python3
"""Checks the packages scripts/dist.py made in target/dist/, from the files
themselves: every file a manifest names is there and is for the architecture
it says (read from the binary's header); shared libraries export exactly the
header's functions (the Godot library exactly its entry point); static
libraries keep only iw_* global, and link with a second Rust static library
into one C program that runs (natively, under wine or under qemu); the SDK
of the host builds a program through its CMake package and its pkg-config
file from wherever it is unpacked; the Unity plugins' .meta enable exactly
their player platform, CPU and editor; the .gdextension names exactly the
libraries in the zip; every Linux and Windows library and program shipped
carries no debug information and names its .debug file in the platform's
symbols archive (by name and CRC-32); the packaged programs and shared
libraries run (a program linked to the shared library, the engine's --help);
and one version holds across Cargo.toml, iw_version(), inworld.h,
package.json, the .gdextension and the CHANGELOGs.

    scripts/check_dist.py     (the last line: "dist: N passed, N failed")
"""

import ctypes
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
import binaries  # noqa: E402
import dist  # noqa: E402

DIST = os.path.join(ROOT, "target", "dist")
results = {"passed": 0, "failed": 0}
GODOT_ELF_EXPORTS = {"gdext_rust_init", "__cxa_thread_atexit_impl"}


def check(name, ok, detail=""):
    if ok:
        results["passed"] += 1
        print(f"ok   {name}")
    else:
        results["failed"] += 1
        print(f"FAIL {name}" + (f": {detail}" if detail else ""))


def attempt(name, fn):
    """Runs a check that raises on failure (a command's output in the error)."""
    try:
        fn()
        check(name, True)
    except Exception as e:  # noqa: BLE001 - every failure is reported, none stops the rest
        check(name, False, str(e)[-3000:])


def sh(*cmd, cwd=None, env=None):
    r = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {r.returncode}\n{r.stdout}\n{r.stderr}")
    return r.stdout


def cargo_version():
    with open(os.path.join(ROOT, "Cargo.toml")) as f:
        return re.search(r'^version = "([^"]+)"', f.read(), re.M).group(1)


# Where a platform's programs run, and how they are built.
RUNNERS = {
    "linux-x86_64": dict(cc="gcc", rust_target="x86_64-unknown-linux-gnu", run=[],
                         libs=["-lpthread", "-ldl", "-lm"]),
    "linux-aarch64": dict(cc="aarch64-linux-gnu-gcc", rust_target="aarch64-unknown-linux-gnu",
                          run=["qemu-aarch64", "-L", "/usr/aarch64-linux-gnu"],
                          libs=["-lpthread", "-ldl", "-lm"]),
    "windows-x86_64": dict(cc="x86_64-w64-mingw32-gcc", rust_target="x86_64-pc-windows-gnu",
                           run=["wine64"], libs=["-lws2_32", "-lbcrypt", "-luserenv", "-lntdll",
                                                 "-static"]),
}


def wine():
    return "/usr/lib/wine/wine64" if os.path.exists("/usr/lib/wine/wine64") else "wine64"


def runner(platform, folder):
    """The command prefix and environment that run a platform's program kept
    in FOLDER (natively, under qemu, under wine)."""
    r = RUNNERS[platform]
    env = dict(os.environ, INWORLD_LOG="warn")
    if not platform.startswith("windows"):
        return r["run"], env
    # wine makes its prefix in a directory that exists (cross-test.sh makes
    # it; a dist checked on its own has none yet).
    prefix = os.path.join(ROOT, "target", "cross-test", "wineprefix")
    os.makedirs(prefix, exist_ok=True)
    env.update(WINEPREFIX=prefix, WINEDEBUG="-all", WINEDLLOVERRIDES="mscoree,mshtml=")
    # Rust's std imports ProcessPrng, which wine 8 lacks (Windows 10 has it):
    # a stand-in beside the program.
    stand_in = os.path.join(folder, "bcryptprimitives.dll")
    if not os.path.exists(stand_in):
        sh("x86_64-w64-mingw32-gcc", "-shared", "-O2", "-o", stand_in,
           os.path.join(ROOT, "scripts/wine/bcryptprimitives.c"), "-ladvapi32")
    return [wine()], env


def static_link_with_another_rust_library(platform, sdk_dir, work):
    r = RUNNERS[platform]
    os.makedirs(work, exist_ok=True)
    other = os.path.join(work, "libother.a")
    sh("rustc", "--edition", "2021", "--crate-type", "staticlib", "--target", r["rust_target"],
       "-O", "-o", other, os.path.join(ROOT, "tests/static_link/other.rs"))
    exe = os.path.join(work, "two_rust_libraries" + (".exe" if platform.startswith("windows") else ""))
    sh(r["cc"], "-std=c99", "-Wall", "-Werror", "-I", os.path.join(sdk_dir, "include"),
       os.path.join(ROOT, "tests/static_link/two_rust_libraries.c"), "-o", exe,
       os.path.join(sdk_dir, "lib/libinworld.a"), other, *r["libs"])
    run, env = runner(platform, work)
    out = sh(*run, exe, env=env)
    if "two_rust_libraries: OK" not in out:
        raise RuntimeError(out)


def shared_library_consumer(platform, sdk_dir, work, version):
    """A C program linked to the SDK's shared library (through the import
    library on Windows) runs with it."""
    r = RUNNERS[platform]
    os.makedirs(work, exist_ok=True)
    main_c = os.path.join(work, "main.c")
    with open(main_c, "w") as f:
        f.write(CONSUMER_C)
    windows = platform.startswith("windows")
    exe = os.path.join(work, "consumer" + (".exe" if windows else ""))
    sh(r["cc"], "-I", os.path.join(sdk_dir, "include"), main_c, "-o", exe,
       "-L", os.path.join(sdk_dir, "lib"), "-linworld")
    run, env = runner(platform, work)
    if windows:
        shutil.copy2(os.path.join(sdk_dir, "bin/inworld.dll"), work)
    else:
        env["LD_LIBRARY_PATH"] = os.path.join(sdk_dir, "lib")
    out = sh(*run, exe, env=env)
    if f"consumer: {version}" not in out:
        raise RuntimeError(out)


def engine_runs(platform, engine, work):
    """The SDK's engine program answers --help."""
    os.makedirs(work, exist_ok=True)
    run, env = runner(platform, work)
    if platform.startswith("windows"):
        engine = shutil.copy2(engine, work)  # beside the stand-in
    out = sh(*run, engine, "--help", env=env)
    if "usage: inworld-engine" not in out:
        raise RuntimeError(out)


def check_stripped(name, path, platform, debug_files):
    """A shipped Linux or Windows binary: no debug information in it, and
    its .gnu_debuglink names its file in the platform's symbols archive."""
    if platform not in dist.OBJCOPY:
        return
    debug = debug_files.get(platform, {}).get(os.path.basename(path))
    if debug is None:
        check(f"{name}: its .debug file is in the {platform} symbols archive", False)
        return
    problems = binaries.stripped_problems(path, debug)
    check(f"{name}: stripped, its debug information in {os.path.basename(debug)}", not problems,
          "; ".join(problems))


CONSUMER_C = """#include <stdio.h>
#include "inworld.h"
int main(void) {
    unsigned v = iw_version();
    printf("consumer: %u.%u.%u\\n", v >> 16, (v >> 8) & 0xff, v & 0xff);
    return v == 0;
}
"""

CONSUMER_CMAKE = """cmake_minimum_required(VERSION 3.16)
project(consumer C)
find_package(inworld {version} CONFIG REQUIRED)
add_executable(consumer main.c)
target_link_libraries(consumer PRIVATE inworld::inworld)
"""


def host_consumers(sdk_dir, work, version):
    """The host SDK, unpacked elsewhere, builds programs by CMake and pkg-config."""
    src = os.path.join(work, "consumer")
    os.makedirs(src, exist_ok=True)
    with open(os.path.join(src, "main.c"), "w") as f:
        f.write(CONSUMER_C)
    with open(os.path.join(src, "CMakeLists.txt"), "w") as f:
        f.write(CONSUMER_CMAKE.format(version=version))
    build = os.path.join(work, "consumer-build")
    sh("cmake", "-S", src, "-B", build, f"-DCMAKE_PREFIX_PATH={sdk_dir}")
    sh("cmake", "--build", build)
    env = dict(os.environ, LD_LIBRARY_PATH=os.path.join(sdk_dir, "lib"))
    out = sh(os.path.join(build, "consumer"), env=env)
    if f"consumer: {version}" not in out:
        raise RuntimeError(out)
    flags = sh("pkg-config", "--cflags", "--libs", "inworld",
               env=dict(os.environ, PKG_CONFIG_PATH=os.path.join(sdk_dir, "lib/pkgconfig"))).split()
    exe = os.path.join(work, "pc-consumer")
    sh("gcc", os.path.join(src, "main.c"), "-o", exe, *flags)
    out = sh(exe)  # the .pc's rpath finds the library
    if f"consumer: {version}" not in out:
        raise RuntimeError(out)
    return out


def iw_version_of(lib):
    v = ctypes.CDLL(lib).iw_version()
    return f"{v >> 16}.{(v >> 8) & 0xFF}.{v & 0xFF}"


def archs(manifest_arch):
    """A manifest's architecture ("x86_64", or "aarch64+x86_64" for a universal
    binary) as binaries.arch() lists it."""
    return sorted(manifest_arch.split("+"))


def check_signature(name, path):
    """arm64 macOS loads only signed code: each CPU's code signature matches
    its bytes (binaries.py check-signature)."""
    with open(path, "rb") as f:
        data = f.read()
    problems = []
    for cpu, image in binaries.macho_slices(data):
        found = binaries.code_signature_problems(image)
        if found == ["no LC_CODE_SIGNATURE"] and cpu != "aarch64":
            continue  # x86-64 runs unsigned code
        problems += [f"{cpu}: {p}" for p in found]
    check(f"{name}: its code signature matches its bytes", not problems, "; ".join(problems))


def check_sdk(platform, entry, version, work, debug_files):
    archive = os.path.join(DIST, entry["archive"])
    dest = os.path.join(work, platform)
    with tarfile.open(archive) as tar:
        tar.extractall(dest, filter="tar")
    sdk_dir = os.path.join(dest, entry["root"])
    for rel, arch in sorted(entry["files"].items()):
        path = os.path.join(sdk_dir, rel)
        check(f"{platform} SDK has {rel}", os.path.isfile(path))
        if arch and os.path.isfile(path):
            found = binaries.arch(path)
            check(f"{platform} SDK {rel} is {arch}", found == archs(arch), f"found {found}")
    for rel in entry["files"]:
        path = os.path.join(sdk_dir, rel)
        name = os.path.basename(rel)
        # (A universal static library is a fat file too: archives, unsigned.)
        if os.path.isfile(path) and binaries.kind(path) == "macho" and not name.endswith(".a"):
            check_signature(f"{platform} SDK {rel}", path)
        if os.path.isfile(path) and entry["files"][rel] and binaries.kind(path) in ("elf", "pe"):
            check_stripped(f"{platform} SDK {rel}", path, platform, debug_files)
        if name in ("libinworld.so", "inworld.dll", "libinworld.dylib"):
            attempt(f"{platform} SDK {rel} exports exactly the header's functions",
                    lambda p=path: binaries.check_exports(p, binaries.header_functions())
                    or (_ for _ in ()).throw(RuntimeError("exports differ")))
        if name == "libinworld.a" and platform.startswith("windows"):
            print(f"note {platform} SDK {rel}: MinGW's import stubs keep it as cargo built it (README)")
            check(f"{platform} SDK {rel} carries no debug information",
                  ".debug_" not in sh("llvm-objdump", "--section-headers", path))
        elif name == "libinworld.a" and platform.startswith(("macos", "ios")):
            # Mach-O: every iw_* function is there and global (what else is
            # global, only Xcode's ld -r could hide; README).
            found = binaries.static_globals(path)
            missing = sorted(binaries.header_functions() - found)
            check(f"{platform} SDK {rel} defines every function of the header", not missing,
                  f"missing {missing[:10]}")
        elif name == "libinworld.a":
            globals_ = binaries.static_globals(path)
            foreign = sorted(n for n in globals_ if not n.startswith("iw_")
                             and n != "DW.ref.rust_eh_personality")
            check(f"{platform} SDK {rel} keeps only iw_* global", not foreign and globals_,
                  f"{len(foreign)} others: {foreign[:10]}")
    with open(os.path.join(sdk_dir, "lib/pkgconfig/inworld.pc")) as f:
        check(f"{platform} SDK inworld.pc has version {version}", f"Version: {version}\n" in f.read())
    with open(os.path.join(sdk_dir, "lib/cmake/inworld/inworldConfigVersion.cmake")) as f:
        check(f"{platform} SDK CMake package has version {version}", f'"{version}"' in f.read())
    with open(os.path.join(sdk_dir, "include/inworld.h")) as f:
        check(f"{platform} SDK inworld.h says {version}", f'#define INWORLD_VERSION "{version}"' in f.read())
    if platform in RUNNERS:
        attempt(f"{platform} static library links beside another Rust static library, and runs",
                lambda: static_link_with_another_rust_library(platform, sdk_dir,
                                                              os.path.join(work, platform + "-link")))
    else:
        print(f"note {platform}: nothing here runs its programs; its binaries are checked from their headers")
    if platform in RUNNERS:
        engine = os.path.join(sdk_dir, "bin", dist.PLATFORMS[platform]["engine"])
        attempt(f"{platform} SDK's engine runs (--help)",
                lambda: engine_runs(platform, engine, os.path.join(work, platform + "-engine")))
    if platform in RUNNERS and platform != "linux-x86_64":
        attempt(f"{platform} SDK's shared library runs a program linked to it",
                lambda: shared_library_consumer(platform, sdk_dir, os.path.join(work, platform + "-consumer"),
                                                version))
    if platform == "linux-x86_64":
        attempt("linux-x86_64 SDK builds a program by CMake and by pkg-config, unpacked anywhere",
                lambda: host_consumers(sdk_dir, os.path.join(work, "host"), version))
        found = iw_version_of(os.path.join(sdk_dir, "lib/libinworld.so"))
        check(f"iw_version() is {version}", found == version, found)


def meta_settings(text):
    """platformData of a PluginImporter .meta: (group, name) -> (enabled, settings)."""
    entries = {}
    blocks = text.split("  - first:\n")[1:]
    for block in blocks:
        m = re.match(r"\s+(\w+): (\w*)", block)
        enabled = re.search(r"enabled: (\d)", block)
        settings = dict(re.findall(r"^        (\w+): (\S+)", block, re.M))
        entries[(m.group(1), m.group(2))] = (enabled.group(1) == "1", settings)
    return entries


def check_unity(entry, version, work, debug_files):
    archive = os.path.join(DIST, entry["archive"])
    dest = os.path.join(work, "unity")
    with tarfile.open(archive) as tar:
        tar.extractall(dest, filter="tar")
    pkg = os.path.join(dest, "package")
    with open(os.path.join(pkg, "package.json")) as f:
        found = json.load(f)["version"]
    check(f"Unity package.json version is {version}", found == version, found)
    # Unity ignores (and warns about) an asset without a .meta in a package.
    missing = []
    for dirpath, dirnames, filenames in os.walk(pkg):
        dirnames[:] = [d for d in dirnames if not d.endswith("~")]
        for name in dirnames + filenames:
            if name.endswith(".meta") or dirpath == pkg and name == "package":
                continue
            if not os.path.exists(os.path.join(dirpath, name + ".meta")):
                missing.append(os.path.relpath(os.path.join(dirpath, name), pkg))
    check("every Unity asset has its .meta", not missing, str(missing))
    for rel, want in sorted(entry["plugins"].items()):
        path = os.path.join(pkg, rel)
        check(f"Unity {rel} is there", os.path.isfile(path))
        if not os.path.isfile(path):
            continue
        check(f"Unity {rel} is {want['arch']}", binaries.arch(path) == archs(want["arch"]))
        if binaries.kind(path) in ("elf", "pe"):
            check_stripped(f"Unity {rel}", path, rel.split("/")[2], debug_files)
        if binaries.kind(path) == "macho":
            check_signature(f"Unity {rel}", path)
        with open(path + ".meta") as f:
            meta = meta_settings(f.read())
        group, player = want["player"].split(": ")
        enabled = [k for k, (on, _) in meta.items() if on and k[0] != "Editor"]
        check(f"Unity {rel}.meta enables exactly {want['player']}", enabled == [(group, player)],
              str(enabled))
        check(f"Unity {rel}.meta CPU is {want['cpu']}", meta[(group, player)][1].get("CPU") == want["cpu"])
        editor_on, editor = meta[("Editor", "Editor")]
        if want["editor_os"]:
            check(f"Unity {rel}.meta editor: {want['editor_os']} {want['cpu']}",
                  editor_on and editor.get("OS") == want["editor_os"] and editor.get("CPU") == want["cpu"],
                  str(editor))
        else:
            # A player-only plugin (iOS): the editor does not load it.
            check(f"Unity {rel}.meta is not loaded by the editor",
                  not editor_on and editor.get("CPU") == "None", str(editor))
        any_on = meta[("Any", "")][0]
        check(f"Unity {rel}.meta is not enabled for any platform", not any_on)


def check_godot(entry, version, work, debug_files):
    archive = os.path.join(DIST, entry["archive"])
    dest = os.path.join(work, "godot")
    with zipfile.ZipFile(archive) as z:
        z.extractall(dest)
    ext_path = os.path.join(dest, "addons/inworld/inworld.gdextension")
    check("the Godot addon has addons/inworld/inworld.gdextension", os.path.isfile(ext_path))
    with open(ext_path) as f:
        text = f.read()
    check(f"the .gdextension says version {version}", f'version = "{version}"' in text)
    named = dict(re.findall(r'^(\S+) = "res://([^"]+)"', text, re.M))
    libs = set(named.values())
    check("the .gdextension names exactly the zip's libraries", libs == set(entry["libraries"]),
          f"{sorted(libs)} vs {sorted(entry['libraries'])}")
    # The repository's inworld.gdextension (for copying by hand) names the
    # same paths: every entry of the zip's is there, and all of them when
    # the zip holds every platform.
    with open(os.path.join(ROOT, "bindings/godot/inworld.gdextension")) as f:
        repo = dict(re.findall(r'^(\S+) = "res://([^"]+)"', f.read(), re.M))
    differ = sorted(t for t in named if repo.get(t) != named[t])
    check("bindings/godot/inworld.gdextension names the zip's libraries as the zip's does", not differ,
          ", ".join(f"{t}: {repo.get(t)} vs {named[t]}" for t in differ))
    godot_platforms = sum(1 for p in dist.PLATFORMS.values() if p["godot"])
    if len(libs) == godot_platforms:
        check("bindings/godot/inworld.gdextension names exactly the zip's libraries", repo == named,
              f"{sorted(set(repo) ^ set(named))}")
    tag_arch = {"x86_64": ["x86_64"], "arm64": ["aarch64"]}
    for tag, rel in sorted(named.items()):
        path = os.path.join(dest, rel)
        check(f"Godot {tag}: {rel} is there", os.path.isfile(path))
        if os.path.isfile(path):
            # macos.debug / macos.release: one universal library, both CPUs.
            want = ["aarch64", "x86_64"] if tag.startswith("macos.") else tag_arch.get(tag.split(".")[-1])
            found = binaries.arch(path)
            check(f"Godot {tag}: {rel} is {want}", want is not None and found == want, str(found))
    for rel in sorted(libs):
        path = os.path.join(dest, rel)
        if os.path.isfile(path):
            if binaries.kind(path) == "macho":
                check_signature(f"Godot {rel}", path)
            else:
                check_stripped(f"Godot {rel}", path, rel.split("/")[3], debug_files)
            if binaries.kind(path) in ("pe", "macho"):
                attempt(f"Godot {rel} exports exactly gdext_rust_init",
                        lambda p=path: binaries.check_exports(p, {"gdext_rust_init"})
                        or (_ for _ in ()).throw(RuntimeError("exports differ")))
                continue
            # On Linux godot-rust also defines __cxa_thread_atexit_impl (its
            # workaround that lets Godot reload the extension).
            attempt(f"Godot {rel} exports exactly gdext_rust_init (and godot-rust's reload hook)",
                    lambda p=path: binaries.check_exports(p, GODOT_ELF_EXPORTS)
                    or (_ for _ in ()).throw(RuntimeError("exports differ")))


def check_sources(version):
    with open(os.path.join(ROOT, "include/inworld.h")) as f:
        check(f"include/inworld.h says {version}", f'#define INWORLD_VERSION "{version}"' in f.read())
    for changelog in ("CHANGELOG.md", "bindings/unity/CHANGELOG.md"):
        with open(os.path.join(ROOT, changelog)) as f:
            first = re.search(r"^## \[?([0-9][^\]\s]*)", f.read(), re.M)
        check(f"{changelog}'s latest entry is {version}", first and first.group(1) == version,
              first.group(1) if first else "no entry")


def symbols(manifest, work):
    """Unpacks each platform's symbols archive: platform -> {shipped file
    name: its .debug file}. Every Linux and Windows SDK has one."""
    found = {}
    wanted = sorted(p for p in manifest["sdk"] if p in dist.OBJCOPY)
    check("a symbols archive for each Linux and Windows platform packaged",
          sorted(manifest.get("symbols", {})) == wanted, str(sorted(manifest.get("symbols", {}))))
    for platform, entry in sorted(manifest.get("symbols", {}).items()):
        dest = os.path.join(work, "symbols-" + platform)
        with tarfile.open(os.path.join(DIST, entry["archive"])) as tar:
            tar.extractall(dest, filter="tar")
        found[platform] = {binary: os.path.join(dest, entry["root"], debug)
                           for debug, binary in entry["files"].items()}
    return found


def main():
    with open(os.path.join(DIST, "manifest.json")) as f:
        manifest = json.load(f)
    version = cargo_version()
    check(f"the packages are of Cargo.toml's version {version}", manifest["version"] == version,
          manifest["version"])
    check_sources(version)
    work = tempfile.mkdtemp(prefix="check-dist-", dir=os.path.join(ROOT, "target"))
    try:
        debug_files = symbols(manifest, work)
        for platform, entry in sorted(manifest["sdk"].items()):
            check_sdk(platform, entry, version, work, debug_files)
        check_unity(manifest["unity"], version, work, debug_files)
        check_godot(manifest["godot"], version, work, debug_files)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        subprocess.run(["wineserver", "-k"], env=dict(
            os.environ, WINEPREFIX=os.path.join(ROOT, "target", "cross-test", "wineprefix")),
            capture_output=True)
    print(f"dist: {results['passed']} passed, {results['failed']} failed")
    return 1 if results["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
