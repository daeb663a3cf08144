#!/usr/bin/env python3
"""What a built binary is and what it exports, read from the file itself.

    binaries.py arch FILE               the CPU(s) in the binary's header
    binaries.py exports FILE            the functions a shared library exports
    binaries.py header-functions        the functions include/inworld.h declares
    binaries.py check-exports FILE [--no-engine | --only NAME ...]
                                        exit 1 unless FILE exports exactly the
                                        header's functions (or exactly NAMEs)
    binaries.py check-exports-include FILE [--only NAME ...]
                                        exit 1 unless FILE exports every one of
                                        the header's functions (or NAMEs); the
                                        others are counted
    binaries.py check-static FILE       exit 1 if a static library defines a
                                        global symbol that is not iw_*

Architectures come from the headers (ELF e_machine, PE Machine, Mach-O
cputype, each member of a fat Mach-O or of an ar archive), never from a file
name. Export tables are read with binutils (ELF, PE) or llvm-nm (Mach-O).
"""

import os
import re
import struct
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

ELF_MACHINES = {0x3E: "x86_64", 0xB7: "aarch64", 0x03: "x86", 0x28: "arm"}
PE_MACHINES = {0x8664: "x86_64", 0xAA64: "aarch64", 0x14C: "x86"}
MACHO_CPUS = {0x01000007: "x86_64", 0x0100000C: "aarch64", 7: "x86", 12: "arm"}
# COFF object files (members of a mingw .a) start with the machine.
COFF_MACHINES = PE_MACHINES


def arch_of_bytes(data):
    """The architectures of one object, library or executable image."""
    if data[:4] == b"\x7fELF":
        little = data[5] == 1
        (machine,) = struct.unpack("<H" if little else ">H", data[18:20])
        return {ELF_MACHINES.get(machine, f"elf-machine-{machine:#x}")}
    if data[:2] == b"MZ":
        (pe_offset,) = struct.unpack("<I", data[0x3C:0x40])
        if data[pe_offset : pe_offset + 4] != b"PE\0\0":
            raise ValueError("MZ file without a PE header")
        (machine,) = struct.unpack("<H", data[pe_offset + 4 : pe_offset + 6])
        return {PE_MACHINES.get(machine, f"pe-machine-{machine:#x}")}
    magic = data[:4]
    if magic in (b"\xcf\xfa\xed\xfe", b"\xce\xfa\xed\xfe"):  # Mach-O, little endian
        (cpu,) = struct.unpack("<I", data[4:8])
        return {MACHO_CPUS.get(cpu, f"macho-cpu-{cpu:#x}")}
    if magic == b"\xca\xfe\xba\xbe":  # fat (universal) Mach-O, big endian
        (count,) = struct.unpack(">I", data[4:8])
        archs = set()
        for i in range(count):
            (cpu,) = struct.unpack(">I", data[8 + 20 * i : 12 + 20 * i])
            archs.add(MACHO_CPUS.get(cpu, f"macho-cpu-{cpu:#x}"))
        return archs
    if data[:8] == b"!<arch>\n":
        return arch_of_archive(data)
    if len(data) >= 2:
        (machine,) = struct.unpack("<H", data[:2])
        if machine in COFF_MACHINES:
            return {COFF_MACHINES[machine]}
    return set()


def arch_of_archive(data):
    """Every architecture of the objects in an ar archive (symbol tables and
    import-library stubs aside)."""
    archs = set()
    pos = 8
    while pos + 60 <= len(data):
        header = data[pos : pos + 60]
        name = header[:16].decode("ascii", "replace").strip()
        size = int(header[48:58].decode("ascii").strip())
        body = data[pos + 60 : pos + 60 + size]
        if name.startswith("#1/"):  # BSD long name: stored before the body
            name_len = int(name[3:])
            body = body[name_len:]
        if name not in ("/", "//", "/SYM64/") and not name.startswith("__.SYMDEF"):
            archs |= arch_of_bytes(body)
        pos += 60 + size + (size & 1)
    return archs


def arch(path):
    with open(path, "rb") as f:
        data = f.read()
    archs = arch_of_bytes(data)
    if not archs:
        raise SystemExit(f"{path}: not an ELF, PE, Mach-O or ar file")
    return sorted(archs)


def kind(path):
    with open(path, "rb") as f:
        head = f.read(8)
    if head[:4] == b"\x7fELF":
        return "elf"
    if head[:2] == b"MZ":
        return "pe"
    if head[:4] in (b"\xcf\xfa\xed\xfe", b"\xce\xfa\xed\xfe", b"\xca\xfe\xba\xbe"):
        return "macho"
    if head == b"!<arch>\n":
        return "ar"
    return "unknown"


def run(*cmd):
    return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout


def exports(path):
    """The functions (and data) a shared library exports, by name."""
    k = kind(path)
    if k == "elf":
        names = set()
        for line in run("readelf", "--dyn-syms", "--wide", path).splitlines():
            cols = line.split()
            # Num: Value Size Type Bind Vis Ndx Name
            if len(cols) >= 8 and cols[0].endswith(":") and cols[6] != "UND":
                if cols[4] in ("GLOBAL", "WEAK") and cols[3] != "SECTION":
                    names.add(cols[7].split("@")[0])
        return names
    if k == "pe":
        out = run("objdump", "-p", path)
        names = set()
        table = out.split("[Ordinal/Name Pointer] Table", 1)
        if len(table) == 2:
            for line in table[1].splitlines()[1:]:
                m = re.match(r"\s*\[\s*\d+\]\s+(\S+)", line)
                if not m:
                    break
                names.add(m.group(1))
        return names
    if k == "macho":
        names = set()
        out = run("llvm-nm", "--extern-only", "--defined-only", "--just-symbol-name", path)
        for line in out.splitlines():
            line = line.strip()
            if line and not line.endswith(":"):
                names.add(line[1:] if line.startswith("_") else line)
        return names
    raise SystemExit(f"{path}: not a shared library ({k})")


def header_functions(engine=True):
    """The functions include/inworld.h declares (iw_engine_* only with the engine)."""
    with open(os.path.join(ROOT, "include", "inworld.h")) as f:
        text = f.read()
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    text = "\n".join(l for l in text.splitlines() if not l.lstrip().startswith("#"))
    names = set()
    for statement in text.split(";"):
        statement = re.split(r"[{}]", statement)[-1].strip()
        if statement.startswith("typedef") or "(" not in statement or not statement.endswith(")"):
            continue
        m = re.search(r"(iw_\w+)\s*\($", statement[: statement.index("(") + 1])
        if m:
            names.add(m.group(1))
    if not engine:
        names = {n for n in names if not n.startswith("iw_engine_")}
    return names


def check_exports(path, expected):
    found = exports(path)
    extra, missing = sorted(found - expected), sorted(expected - found)
    if extra or missing:
        print(f"{path}: exports {len(found)} symbols, expected {len(expected)}")
        if extra:
            print("  not in the header:", " ".join(extra[:40]), "..." if len(extra) > 40 else "")
        if missing:
            print("  missing:", " ".join(missing))
        return False
    print(f"{path}: exports exactly the {len(expected)} expected functions")
    return True


def archive_is_macho(path):
    """Whether an ar archive holds Mach-O objects (a fat archive counts)."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:4] == b"\xca\xfe\xba\xbe":
        return True
    pos = 8
    while pos + 60 <= len(data):
        header = data[pos : pos + 60]
        name = header[:16].decode("ascii", "replace").strip()
        size = int(header[48:58].decode("ascii").strip())
        body = data[pos + 60 : pos + 60 + size]
        if name.startswith("#1/"):
            body = body[int(name[3:]):]
        if body[:4] in (b"\xcf\xfa\xed\xfe", b"\xce\xfa\xed\xfe"):
            return True
        pos += 60 + size + (size & 1)
    return False


def static_globals(path):
    """Global symbols a static library defines (nm's upper-case types)."""
    k = kind(path)
    if k not in ("ar", "macho"):
        raise SystemExit(f"{path}: not a static library")
    if archive_is_macho(path):
        # Mach-O members (macOS, iOS): llvm-nm reads them (not the bitcode
        # rustc embeds, newer than Debian's LLVM); C names have a leading
        # underscore.
        out = run("llvm-nm", "--no-llvm-bc", "--extern-only", "--defined-only", "--just-symbol-name", path)
        return {l.strip()[1:] if l.strip().startswith("_") else l.strip()
                for l in out.splitlines() if l.strip() and not l.strip().endswith(":")}
    # readelf reads every ELF target and loads no linker plugin (binutils'
    # nm loads LLVM's, which aborts on the combined object, as does llvm-nm 14).
    out = run("readelf", "--syms", "--wide", path)
    names = set()
    for line in out.splitlines():
        cols = line.split()
        # Num: Value Size Type Bind Vis Ndx Name
        if len(cols) >= 8 and cols[0].endswith(":") and cols[6] != "UND":
            if cols[4] in ("GLOBAL", "WEAK") and cols[3] not in ("SECTION", "FILE"):
                names.add(cols[7])
    return names


def main(argv):
    if len(argv) < 2:
        raise SystemExit(__doc__)
    command = argv[1]
    if command == "arch":
        print(" ".join(arch(argv[2])))
    elif command == "exports":
        print("\n".join(sorted(exports(argv[2]))))
    elif command == "header-functions":
        print("\n".join(sorted(header_functions())))
    elif command == "check-exports":
        path, rest = argv[2], argv[3:]
        if rest[:1] == ["--only"]:
            expected = set(n for n in rest[1:] if not n.startswith("--"))
        else:
            expected = header_functions(engine="--no-engine" not in rest)
        return 0 if check_exports(path, expected) else 1
    elif command == "check-exports-include":
        path, rest = argv[2], argv[3:]
        expected = set(rest[1:]) if rest[:1] == ["--only"] else header_functions()
        found = exports(path)
        missing = sorted(expected - found)
        if missing:
            print(f"{path}: missing {' '.join(missing)}")
            return 1
        print(f"{path}: exports the {len(expected)} expected functions, and {len(found - expected)} others")
    elif command == "check-static":
        names = static_globals(argv[2])
        foreign = sorted(n for n in names if not n.startswith("iw_"))
        iw = sorted(n for n in names if n.startswith("iw_"))
        if foreign:
            print(f"{argv[2]}: {len(foreign)} global symbols beside iw_*: {' '.join(foreign[:20])} ...")
            return 1
        print(f"{argv[2]}: defines only iw_* globally ({len(iw)} symbols)")
    else:
        raise SystemExit(__doc__)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
