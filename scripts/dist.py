#!/usr/bin/env python3
"""Builds and packages the SDK for every platform this machine can build,
into target/dist/:

  inworld-sdk-<version>-<platform>.tar.gz   the C/C++ SDK of one platform
      include/ (inworld.h, inworld.hpp), lib/ (shared, static, import
      libraries), lib/cmake/inworld/ and lib/pkgconfig/ (relocatable), bin/
      (the engine; the DLL on Windows), LICENSE, README.md
  ai.inworld.native-<version>.tgz           the Unity package (Add package
      from tarball), every platform's library under Runtime/Plugins/<platform>/
      with its plugin import settings
  inworld-godot-<version>.zip               the Godot addon: addons/inworld/,
      the .gdextension naming exactly the libraries inside
  inworld-symbols-<version>-<platform>.tar.gz
                                            the debug information of that
      platform's shipped libraries and programs (Linux, Windows): <name>.debug
      for each, which the binary's .gnu_debuglink names
  manifest.json                             what each package holds, with
      the architecture of every binary (scripts/check_dist.py checks it)

    scripts/dist.py [--platform NAME ...] [--no-build]
    PROFILE=debug scripts/dist.py      (default: release)

Platforms: linux-x86_64 (the host), windows-x86_64 (mingw-w64),
linux-aarch64 (Debian's cross gcc), macos-universal (arm64 + x86-64) and
ios-arm64 (scripts/build-apple.sh: zig and cargo-zigbuild from PyPI and
LLVM's ld64.lld here, Xcode on a Mac). Android needs the NDK, which no registry here ships:
scripts/build-android.sh builds it where the NDK is installed.
"""

import argparse
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import time
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
import binaries  # noqa: E402

PROFILE = os.environ.get("PROFILE", "release")
DIST = os.path.join(ROOT, "target", "dist")
# Debug packages (CI checks them) are large: fast compression; release: smaller files.
COMPRESSION = 9 if PROFILE == "release" else 1

# platform -> how it is built and named. unity: (player platform key, CPU,
# editor OS or None); godot: the .gdextension feature tags.
PLATFORMS = {
    "linux-x86_64": dict(
        target=None, arch="x86_64", shared="libinworld.so", static="libinworld.a",
        engine="inworld-engine", godot="libinworld_godot.so", godot_tag="linux.{}.x86_64",
        unity=("Standalone", "Linux64", "x86_64", "Linux"),
        libs_private="-lpthread -ldl -lm",
    ),
    "windows-x86_64": dict(
        target="x86_64-pc-windows-gnu", arch="x86_64", shared="inworld.dll",
        static="libinworld.a", implib="libinworld.dll.a", engine="inworld-engine.exe",
        godot="inworld_godot.dll", godot_tag="windows.{}.x86_64",
        unity=("Standalone", "Win64", "x86_64", "Windows"),
        libs_private="-lws2_32 -lbcrypt -luserenv -lntdll",
    ),
    "linux-aarch64": dict(
        target="aarch64-unknown-linux-gnu", arch="aarch64", shared="libinworld.so",
        static="libinworld.a", engine="inworld-engine", godot="libinworld_godot.so",
        godot_tag="linux.{}.arm64",
        # Unity 2021.3 (the package's floor) has no Linux ARM64 player.
        unity=None,
        libs_private="-lpthread -ldl -lm",
    ),
    # Built by scripts/build-apple.sh (one universal binary of both CPUs).
    "macos-universal": dict(
        target="apple", arch="aarch64+x86_64", shared="libinworld.dylib",
        static="libinworld.a", engine="inworld-engine", godot="libinworld_godot.dylib",
        godot_tag="macos.{}",
        unity=("Standalone", "OSXUniversal", "AnyCPU", "OSX"),
        libs_private="-lSystem -lc -lm -liconv",
    ),
    # iOS: the static library only; a Unity player links it and calls it
    # through __Internal (the package's Native.cs). No engine program, no
    # Godot library (Godot's iOS export links extensions as xcframeworks).
    "ios-arm64": dict(
        target="apple-ios", arch="aarch64", shared=None, static="libinworld.a",
        engine=None, godot=None, godot_tag=None,
        unity=("iPhone", "iOS", "ARM64", None),
        libs_private="-lSystem -lc -lm -liconv",
    ),
}


# The objcopy that reads each platform's binaries. What ships carries no
# debug information (a game ships these files to its players: the Linux
# release engine is a ninth of its size without it); debuggers and crash
# reporters find it in the symbols archive by the .gnu_debuglink objcopy
# adds (the file's name and CRC-32). Apple's binaries are shipped as built:
# their debug information belongs in a dSYM bundle, which is not made here.
OBJCOPY = {"linux-x86_64": "objcopy", "linux-aarch64": "aarch64-linux-gnu-objcopy",
           "windows-x86_64": "x86_64-w64-mingw32-objcopy"}
# platform -> {shipped file name: its .debug file}, filled by shipped().
SYMBOLS = {}


def shipped(platform, path):
    """The file to package for a built shared library or program: without
    its debug information or local symbols (its exports stay), linked to the
    .debug file that keeps them. One copy per file, whichever package asks."""
    objcopy = OBJCOPY.get(platform)
    if objcopy is None:
        return path
    name = os.path.basename(path)
    work = os.path.join(DIST, "work", platform, "shipped")
    out, debug = os.path.join(work, name), os.path.join(work, name + ".debug")
    symbols = SYMBOLS.setdefault(platform, {})
    if name not in symbols:
        os.makedirs(work, exist_ok=True)
        run(objcopy, "--only-keep-debug", path, debug)
        run(objcopy, "--strip-unneeded", "--add-gnu-debuglink=" + debug, path, out)
        symbols[name] = debug
    return out


def symbols(platform, v, manifest):
    """The platform's symbols archive: each shipped binary's .debug file."""
    name = f"inworld-symbols-{v}-{platform}"
    archive = os.path.join(DIST, name + ".tar.gz")
    files = {}
    with tarfile.open(archive, "w:gz", compresslevel=COMPRESSION) as tar:
        for binary, debug in sorted(SYMBOLS[platform].items()):
            tar.add(debug, arcname=f"{name}/{os.path.basename(debug)}")
            files[os.path.basename(debug)] = binary
    manifest["symbols"][platform] = {"archive": os.path.basename(archive), "root": name, "files": files}
    print("  ", os.path.relpath(archive, ROOT), f"{os.path.getsize(archive) / 1e6:.1f} MB")


def version():
    with open(os.path.join(ROOT, "Cargo.toml")) as f:
        return re.search(r'^version = "([^"]+)"', f.read(), re.M).group(1)


def out_dir(platform):
    target = PLATFORMS[platform]["target"]
    if target == "apple":
        return os.path.join(ROOT, "target", "apple", PROFILE)
    if target == "apple-ios":
        return os.path.join(ROOT, "target", "apple", PROFILE, "ios")
    parts = [ROOT, "target"] + ([target] if target else []) + [PROFILE]
    return os.path.join(*parts)


def build(platform, built):
    target = PLATFORMS[platform]["target"]
    if target in ("apple", "apple-ios"):
        # One script builds macOS and iOS together.
        if "apple" not in built:
            built.add("apple")
            cmd = ["bash", os.path.join(ROOT, "scripts/build-apple.sh"), PROFILE]
            print("$", " ".join(cmd), flush=True)
            subprocess.run(cmd, check=True, cwd=ROOT)
        return
    cmd = ["cargo", "build", "-p", "inworld-native", "--lib", "--bin", "inworld-engine",
           "-p", "inworld-godot"]
    if target:
        cmd += ["--target", target]
    if PROFILE == "release":
        cmd.append("--release")
    print("$", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True, cwd=ROOT)


def run(*cmd):
    subprocess.run(cmd, check=True)


def hidden_static(platform, src, dst, work):
    """Our static library with only iw_* left global: every object linked into
    one (ld -r), everything else made local (objcopy), so that a game linking
    another Rust library, gRPC, protobuf or an allocator beside it gets no
    clash. Debug info is dropped (LLVM's archivers cannot index the combined
    object with it)."""
    if platform.startswith("windows"):
        # MinGW's archive holds import stubs (kernel32, ws2_32, ...) that
        # define the same symbols in several members: they cannot be linked
        # into one object. Shipped as cargo builds it, without debug info
        # (as the Linux ones; GNU strip refuses its empty .dwo members).
        shutil.copy2(src, dst)
        run("llvm-strip", "--strip-debug", dst)
        return
    if platform.startswith(("macos", "ios")):
        # Apple's ld -r (and its -exported_symbols_list) is Xcode's; no
        # Linux linker makes a Mach-O relocatable object. As cargo builds it.
        shutil.copy2(src, dst)
        return
    prefix = {"linux-x86_64": "", "linux-aarch64": "aarch64-linux-gnu-"}[platform]
    os.makedirs(work, exist_ok=True)
    combined = os.path.join(work, "inworld.o")
    keep = os.path.join(work, "keep.txt")
    # DW.ref.rust_eh_personality names a COMDAT group that the other Rust
    # library's objects share: made local, the linker would drop their copy
    # for ours and leave their references dangling. It stays hidden.
    with open(keep, "w") as f:
        f.write("\n".join(sorted(binaries.header_functions()) + ["DW.ref.rust_eh_personality"]) + "\n")
    # -S: without debug info (some archive members are empty debug objects,
    # which objcopy refuses, so it is dropped while linking).
    run(prefix + "ld", "-r", "-S", "--whole-archive", src, "-o", combined)
    run(prefix + "objcopy", "--strip-debug", "--keep-global-symbols=" + keep, combined)
    if os.path.exists(dst):
        os.remove(dst)
    run("llvm-ar", "rcs", dst, combined)


def cmake_config(platform):
    p = PLATFORMS[platform]
    windows = platform.startswith("windows")
    shared = (
        f'    IMPORTED_LOCATION "${{_inworld_prefix}}/bin/inworld.dll"\n'
        f'    IMPORTED_IMPLIB "${{_inworld_implib}}"\n'
        if windows else
        f'    IMPORTED_LOCATION "${{_inworld_prefix}}/lib/{p["shared"]}"\n'
        # Cargo's cdylib has no SONAME: link it by name, not by path.
        f'    IMPORTED_NO_SONAME TRUE\n'
    )
    if p["shared"] is None:
        # iOS: static only; inworld::inworld is the static library too.
        shared = None
    implib_choice = (
        'if(MSVC)\n  set(_inworld_implib "${_inworld_prefix}/lib/inworld.lib")\n'
        'else()\n  set(_inworld_implib "${_inworld_prefix}/lib/libinworld.dll.a")\nendif()\n'
        if windows else ""
    )
    shared_target = (
        "if(NOT TARGET inworld::inworld)\n"
        "  add_library(inworld::inworld SHARED IMPORTED)\n"
        "  set_target_properties(inworld::inworld PROPERTIES\n"
        f"{shared}"
        '    INTERFACE_INCLUDE_DIRECTORIES "${_inworld_prefix}/include"\n'
        '    INTERFACE_COMPILE_DEFINITIONS "INWORLD_ENGINE")\n'
        "endif()\n"
        if shared is not None else ""
    )
    static_alias = (
        "if(NOT TARGET inworld::inworld)\n"
        "  add_library(inworld::inworld ALIAS inworld::inworld_static)\n"
        "endif()\n"
        if shared is None else ""
    )
    return f"""# The inworld library ({platform}): find_package(inworld CONFIG REQUIRED),
# then target_link_libraries(your_game PRIVATE inworld::inworld). The target
# carries the include directory and INWORLD_ENGINE (the library has the local
# engine). inworld::inworld_static links the static library instead.
# Relocatable: every path is found from where this file is.
get_filename_component(_inworld_prefix "${{CMAKE_CURRENT_LIST_DIR}}/../../.." ABSOLUTE)
{implib_choice}
{shared_target}if(NOT TARGET inworld::inworld_static)
  add_library(inworld::inworld_static STATIC IMPORTED)
  set_target_properties(inworld::inworld_static PROPERTIES
    IMPORTED_LOCATION "${{_inworld_prefix}}/lib/{p["static"]}"
    INTERFACE_INCLUDE_DIRECTORIES "${{_inworld_prefix}}/include"
    INTERFACE_COMPILE_DEFINITIONS "INWORLD_ENGINE"
    INTERFACE_LINK_LIBRARIES "{p["libs_private"].replace("-l", "").replace(" ", ";")}")
endif()
{static_alias}set(inworld_FOUND TRUE)
"""


def cmake_version(v):
    major, minor = v.split(".")[:2]
    return f"""# The ABI is stable within a minor version while the crate is 0.x.
set(PACKAGE_VERSION "{v}")
if(PACKAGE_FIND_VERSION_MAJOR STREQUAL "{major}" AND PACKAGE_FIND_VERSION_MINOR STREQUAL "{minor}"
   AND NOT PACKAGE_FIND_VERSION VERSION_GREATER PACKAGE_VERSION)
  set(PACKAGE_VERSION_COMPATIBLE TRUE)
  if(PACKAGE_FIND_VERSION STREQUAL PACKAGE_VERSION)
    set(PACKAGE_VERSION_EXACT TRUE)
  endif()
elseif(NOT PACKAGE_FIND_VERSION)
  set(PACKAGE_VERSION_COMPATIBLE TRUE)
else()
  set(PACKAGE_VERSION_COMPATIBLE FALSE)
endif()
"""


def pkgconfig(platform, v):
    p = PLATFORMS[platform]
    rpath = "" if platform.startswith(("windows", "ios")) else " -Wl,-rpath,${libdir}"
    return f"""prefix=${{pcfiledir}}/../..
libdir=${{prefix}}/lib
includedir=${{prefix}}/include

Name: inworld
Description: Inworld AI characters for games: the C API (inworld.h) and C++17 wrapper (inworld.hpp)
Version: {v}
Cflags: -I${{includedir}} -DINWORLD_ENGINE
Libs: -L${{libdir}}{rpath} -linworld
Libs.private: {p["libs_private"]}
"""


SDK_README = """# inworld SDK {version} for {platform}

Inworld AI characters for games: the C API (`include/inworld.h`), the C++17
wrapper (`include/inworld.hpp`), the library (`lib/`, `bin/`) and the local
engine {engine}, which runs the demo characters offline.

- CMake: `find_package(inworld CONFIG REQUIRED)` with this directory on
  `CMAKE_PREFIX_PATH`, then `target_link_libraries(game PRIVATE inworld::inworld)`
  (or `inworld::inworld_static`).
- pkg-config: `PKG_CONFIG_PATH=<this directory>/lib/pkgconfig pkg-config --cflags --libs inworld`.
{extra}{symbols}
The header documents every function. The library's C ABI is plain C: no C++
type, no allocation freed across the boundary, so a program built with any
compiler for this platform loads it.
"""

SYMBOLS_README = """- Debugging: the binaries here carry no debug information; it is in
  `inworld-symbols-{version}-{platform}.tar.gz`. Put a binary's `.debug` file
  beside it and gdb or lldb finds it through the binary's `.gnu_debuglink`;
  it is also the file a crash reporter wants for this binary.
"""

WINDOWS_README = """- Windows: ship `bin/inworld.dll` beside the game. MSVC links `lib/inworld.lib`,
  MinGW `lib/libinworld.dll.a`; `lib/libinworld.a` is the static library for
  MinGW builds (link `ws2_32 bcrypt userenv ntdll` too). The DLL was built
  with MinGW-w64 but depends only on Windows system DLLs (no libgcc, no
  winpthread, no MinGW C runtime DLL), so MSVC-built games and Unity load it.
"""


EXTRA_README = {
    "macos-universal": """- macOS: `lib/libinworld.dylib` is universal (arm64 and x86-64), install
  name `@rpath/libinworld.dylib`: ship it in the app's `Contents/Frameworks`
  (or beside the program) with an rpath to it. `lib/libinworld.a` is the
  universal static library.
""",
    "ios-arm64": """- iOS: `lib/libinworld.a` is the static library (arm64, device); link it
  into the app (`inworld::inworld` is that library in CMake). No engine
  program: `iw_engine_start` runs the local engine inside the app.
""",
}


def sdk(platform, v, manifest):
    p = PLATFORMS[platform]
    src = out_dir(platform)
    name = f"inworld-sdk-{v}-{platform}"
    stage = os.path.join(DIST, "stage", name)
    shutil.rmtree(stage, ignore_errors=True)
    for d in ("include", "lib/cmake/inworld", "lib/pkgconfig", "bin"):
        os.makedirs(os.path.join(stage, d))
    files = {}

    def put(from_path, rel, arch=None):
        dst = os.path.join(stage, rel)
        shutil.copy2(from_path, dst)
        files[rel] = arch

    put(os.path.join(ROOT, "include/inworld.h"), "include/inworld.h")
    put(os.path.join(ROOT, "bindings/cpp/include/inworld.hpp"), "include/inworld.hpp")
    windows = platform.startswith("windows")
    if p["shared"]:
        put(shipped(platform, os.path.join(src, p["shared"])), ("bin/" if windows else "lib/") + p["shared"],
            p["arch"])
    if p["engine"]:
        put(shipped(platform, os.path.join(src, p["engine"])), "bin/" + p["engine"], p["arch"])
    if windows:
        put(os.path.join(src, p["implib"]), "lib/" + p["implib"], p["arch"])
        # The MSVC import library, from the DLL's export list.
        work = os.path.join(DIST, "work", platform)
        os.makedirs(work, exist_ok=True)
        deffile = os.path.join(work, "inworld.def")
        with open(deffile, "w") as f:
            f.write("LIBRARY inworld.dll\nEXPORTS\n")
            f.write("".join(f"    {n}\n" for n in sorted(binaries.exports(os.path.join(src, p["shared"])))))
        run("llvm-dlltool", "-m", "i386:x86-64", "-d", deffile, "-l", os.path.join(stage, "lib/inworld.lib"))
        files["lib/inworld.lib"] = p["arch"]
    hidden_static(platform, os.path.join(src, p["static"]), os.path.join(stage, "lib", p["static"]),
                  os.path.join(DIST, "work", platform, "static"))
    files["lib/" + p["static"]] = p["arch"]
    with open(os.path.join(stage, "lib/cmake/inworld/inworldConfig.cmake"), "w") as f:
        f.write(cmake_config(platform))
    with open(os.path.join(stage, "lib/cmake/inworld/inworldConfigVersion.cmake"), "w") as f:
        f.write(cmake_version(v))
    with open(os.path.join(stage, "lib/pkgconfig/inworld.pc"), "w") as f:
        f.write(pkgconfig(platform, v))
    for rel in ("lib/cmake/inworld/inworldConfig.cmake", "lib/cmake/inworld/inworldConfigVersion.cmake",
                "lib/pkgconfig/inworld.pc"):
        files[rel] = None
    shutil.copy2(os.path.join(ROOT, "bindings/unity/LICENSE.md"), os.path.join(stage, "LICENSE.md"))
    files["LICENSE.md"] = None
    with open(os.path.join(stage, "README.md"), "w") as f:
        f.write(SDK_README.format(version=v, platform=platform,
                                  engine=f"(`bin/{p['engine']}`)" if p["engine"] else "(in the library)",
                                  extra=WINDOWS_README if windows else EXTRA_README.get(platform, ""),
                                  symbols=SYMBOLS_README.format(version=v, platform=platform)
                                  if platform in OBJCOPY else ""))
    files["README.md"] = None
    archive = os.path.join(DIST, name + ".tar.gz")
    with tarfile.open(archive, "w:gz", compresslevel=COMPRESSION) as tar:
        tar.add(stage, arcname=name)
    manifest["sdk"][platform] = {"archive": os.path.basename(archive), "root": name, "files": files}
    print("  ", os.path.relpath(archive, ROOT), f"{os.path.getsize(archive) / 1e6:.1f} MB")


def guid(path):
    return hashlib.md5(("ai.inworld.native/" + path).encode()).hexdigest()


FOLDER_META = """fileFormatVersion: 2
guid: {guid}
folderAsset: yes
DefaultImporter:
  externalObjects: {{}}
  userData: 
  assetBundleName: 
  assetBundleVariant: 
"""

# Every platform Unity's plugin importer knows here: each is written out, so
# that only the right one is enabled (an absent entry would take a default).
UNITY_PLAYERS = [("Standalone", "Linux64"), ("Standalone", "Win64"), ("Standalone", "OSXUniversal"),
                 ("Standalone", "Win"), ("Android", "Android"), ("iPhone", "iOS")]


def plugin_meta(path, unity):
    group, player, cpu, editor_os = unity
    out = [
        "fileFormatVersion: 2",
        f"guid: {guid(path)}",
        "PluginImporter:",
        "  externalObjects: {}",
        "  serializedVersion: 2",
        "  iconMap: {}",
        "  executionOrder: {}",
        "  defineConstraints: []",
        "  isPreloaded: 0",
        "  isOverridable: 0",
        "  isExplicitlyReferenced: 0",
        "  validateReferences: 1",
        "  platformData:",
        "  - first:",
        "      Any: ",
        "    second:",
        "      enabled: 0",
        "      settings: {}",
        "  - first:",
        "      Editor: Editor",
        "    second:",
        f"      enabled: {1 if editor_os else 0}",
        "      settings:",
        f"        CPU: {cpu if editor_os else 'None'}",
        "        DefaultValueInitialized: true",
        f"        OS: {editor_os or 'AnyOS'}",
    ]
    for g, pl in UNITY_PLAYERS:
        enabled = (g, pl) == (group, player)
        out += ["  - first:", f"      {g}: {pl}", "    second:",
                f"      enabled: {1 if enabled else 0}", "      settings:",
                f"        CPU: {cpu if enabled else 'None'}"]
    out += ["  userData: ", "  assetBundleName: ", "  assetBundleVariant: ", ""]
    return "\n".join(out)


def unity(platforms, v, manifest):
    name = f"ai.inworld.native-{v}.tgz"
    archive = os.path.join(DIST, name)
    src_root = os.path.join(ROOT, "bindings/unity")
    plugins = {}
    with tarfile.open(archive, "w:gz", compresslevel=COMPRESSION) as tar:
        def add_bytes(rel, data):
            info = tarfile.TarInfo("package/" + rel)
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))

        for dirpath, dirnames, filenames in os.walk(src_root):
            dirnames[:] = sorted(d for d in dirnames if d != "Tests~")
            for fn in sorted(filenames):
                full = os.path.join(dirpath, fn)
                rel = os.path.relpath(full, src_root)
                tar.add(full, arcname="package/" + rel)
        add_bytes("Runtime/Plugins.meta", FOLDER_META.format(guid=guid("Runtime/Plugins")).encode())
        for platform in platforms:
            p = PLATFORMS[platform]
            if not p["unity"]:
                continue
            folder = f"Runtime/Plugins/{platform}"
            add_bytes(folder + ".meta", FOLDER_META.format(guid=guid(folder)).encode())
            plugin = p["shared"] or p["static"]
            rel = f"{folder}/{plugin}"
            built = os.path.join(out_dir(platform), plugin)
            tar.add(shipped(platform, built) if p["shared"] else built, arcname="package/" + rel)
            add_bytes(rel + ".meta", plugin_meta(rel, p["unity"]).encode())
            group, player, cpu, editor_os = p["unity"]
            plugins[rel] = {"arch": p["arch"], "player": f"{group}: {player}", "cpu": cpu,
                            "editor_os": editor_os}
    manifest["unity"] = {"archive": name, "plugins": plugins}
    print("  ", os.path.relpath(archive, ROOT), f"{os.path.getsize(archive) / 1e6:.1f} MB")


def godot(platforms, v, manifest):
    name = f"inworld-godot-{v}.zip"
    archive = os.path.join(DIST, name)
    libraries = {}
    lines = [
        "; The Inworld extension (Godot 4.2 or newer): unzip into your project's folder,",
        "; which gives res://addons/inworld/.",
        "[configuration]",
        'entry_symbol = "gdext_rust_init"',
        "compatibility_minimum = 4.2",
        "reloadable = true",
        "",
        "[libraries]",
    ]
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED, compresslevel=COMPRESSION) as z:
        for platform in platforms:
            p = PLATFORMS[platform]
            if not p["godot"]:
                continue
            rel = f"addons/inworld/bin/{platform}/{p['godot']}"
            z.write(shipped(platform, os.path.join(out_dir(platform), p["godot"])), rel)
            libraries[rel] = p["arch"]
            for profile in ("debug", "release"):
                lines.append(f'{p["godot_tag"].format(profile)} = "res://{rel}"')
        # Godot reads only [configuration] and [libraries]; the version is for people and checks.
        lines += ["", "[inworld]", f'version = "{v}"']
        z.writestr("addons/inworld/inworld.gdextension", "\n".join(lines) + "\n")
        z.write(os.path.join(ROOT, "bindings/godot/README.md"), "addons/inworld/README.md")
        z.write(os.path.join(ROOT, "bindings/unity/LICENSE.md"), "addons/inworld/LICENSE.md")
    manifest["godot"] = {"archive": name, "libraries": libraries}
    print("  ", os.path.relpath(archive, ROOT), f"{os.path.getsize(archive) / 1e6:.1f} MB")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--platform", action="append", choices=sorted(PLATFORMS))
    parser.add_argument("--no-build", action="store_true", help="package what is built")
    args = parser.parse_args()
    platforms = args.platform or list(PLATFORMS)
    v = version()
    if not args.no_build:
        built = set()
        build_started = time.monotonic()
        for platform in platforms:
            started = time.monotonic()
            build(platform, built)
            print(f"built {platform} in {time.monotonic() - started:.0f} s", flush=True)
        print(f"built every platform in {time.monotonic() - build_started:.0f} s", flush=True)
    shutil.rmtree(DIST, ignore_errors=True)
    os.makedirs(DIST)
    manifest = {"version": v, "profile": PROFILE, "sdk": {}, "symbols": {}}
    print(f"packages of inworld {v} ({PROFILE}) into target/dist:")
    for platform in platforms:
        sdk(platform, v, manifest)
    unity(platforms, v, manifest)
    godot(platforms, v, manifest)
    for platform in platforms:
        if platform in SYMBOLS:
            symbols(platform, v, manifest)
    with open(os.path.join(DIST, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=2, sort_keys=True)
    shutil.rmtree(os.path.join(DIST, "stage"), ignore_errors=True)
    shutil.rmtree(os.path.join(DIST, "work"), ignore_errors=True)


if __name__ == "__main__":
    main()
