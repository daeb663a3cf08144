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
    binaries.py fat OUTPUT FILE ...     a universal file of thin Mach-O files
                                        or archives (lipo -create)
    binaries.py check-signature FILE    exit 1 unless each CPU of a Mach-O file
                                        has a code signature whose page hashes
                                        match its bytes (arm64 must have one)
    binaries.py check-stripped FILE [DEBUG_FILE]
                                        exit 1 if an ELF or PE file carries
                                        debug information, or its
                                        .gnu_debuglink does not name DEBUG_FILE
                                        (by name and CRC-32)

Architectures come from the headers (ELF e_machine, PE Machine, Mach-O
cputype, each member of a fat Mach-O or of an ar archive), never from a file
name. Export tables are read with binutils (ELF, PE) or llvm-objdump's
exports trie (Mach-O).
"""

import os
import re
import struct
import subprocess
import sys
import zlib

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
        # The exports trie, what dyld binds against; each CPU of a universal
        # binary must export the same names.
        per_arch, current = {}, None
        for line in run("llvm-objdump", "--macho", "--exports-trie", "--arch=all", path).splitlines():
            if line.startswith(path):
                current = per_arch.setdefault(line, set())
            m = re.match(r"0x[0-9A-Fa-f]+\s+(\S+)", line)
            if m and current is not None:
                name = m.group(1)
                current.add(name[1:] if name.startswith("_") else name)
        sets = list(per_arch.values())
        if any(s != sets[0] for s in sets):
            raise SystemExit(f"{path}: its CPUs export different symbols: " + ", ".join(
                f"{a} {len(s)}" for a, s in per_arch.items()))
        return sets[0] if sets else set()
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


def sections(path):
    """The sections of an ELF (64-bit, little-endian) or PE image: name ->
    contents (empty for sections that take no room in the file)."""
    with open(path, "rb") as f:
        return sections_of(path, f.read())


def sections_of(path, data):
    """sections() of an image already read."""
    found = {}
    if data[:4] == b"\x7fELF":
        if data[4] != 2 or data[5] != 1:
            raise SystemExit(f"{path}: only 64-bit little-endian ELF is read here")
        shoff, = struct.unpack("<Q", data[0x28:0x30])
        shentsize, shnum, shstrndx = struct.unpack("<HHH", data[0x3A:0x40])
        headers = [struct.unpack("<IIQQQQ", data[shoff + i * shentsize : shoff + i * shentsize + 40])
                   for i in range(shnum)]
        names_at = headers[shstrndx][4]
        for name_offset, kind_, _flags, _addr, offset, size in headers:
            end = data.index(b"\0", names_at + name_offset)
            name = data[names_at + name_offset : end].decode()
            found[name] = b"" if kind_ == 8 else data[offset : offset + size]  # 8: SHT_NOBITS
        return found
    if data[:2] == b"MZ":
        (pe,) = struct.unpack("<I", data[0x3C:0x40])
        count, = struct.unpack("<H", data[pe + 6 : pe + 8])
        symbols_at, symbol_count, optional_size = struct.unpack("<IIH", data[pe + 12 : pe + 22])
        strings_at = symbols_at + 18 * symbol_count
        table = pe + 24 + optional_size
        for i in range(count):
            raw = data[table + 40 * i : table + 40 * i + 40]
            name = raw[:8].rstrip(b"\0").decode()
            if name.startswith("/"):  # a long name: its offset in the COFF string table
                start = strings_at + int(name[1:])
                name = data[start : data.index(b"\0", start)].decode()
            virtual_size, _address, raw_size, raw_at = struct.unpack("<IIII", raw[8:24])
            found[name] = data[raw_at : raw_at + min(virtual_size or raw_size, raw_size)]
        return found
    raise SystemExit(f"{path}: not an ELF or PE image")


def dwarf(found):
    """The DWARF sections among an image's sections (.debug_gdb_scripts is
    not one: a loaded section naming gdb's pretty-printers for Rust)."""
    return sorted(n for n in found if n.startswith((".debug_", ".zdebug_")) and n != ".debug_gdb_scripts")


def debuglink(found):
    """(file name, CRC-32) of an image's .gnu_debuglink, among its sections, or None."""
    link = found.get(".gnu_debuglink")
    if not link:
        return None
    end = link.index(b"\0")
    crc_at = (end + 4) & ~3
    (crc,) = struct.unpack("<I", link[crc_at : crc_at + 4])
    return link[:end].decode(), crc


def stripped_problems(path, debug_file=None):
    """Why a shipped image is not stripped with its debug information beside
    it: DWARF left in it, no .gnu_debuglink, or one that names another file
    or another CRC than DEBUG_FILE's (which must hold the DWARF)."""
    problems = []
    found = sections(path)
    left = dwarf(found)
    if left:
        problems.append("carries " + ", ".join(left))
    link = debuglink(found)
    if link is None:
        problems.append("has no .gnu_debuglink")
    elif debug_file is not None:
        name, crc = link
        debug_name = os.path.basename(debug_file)
        if name != debug_name:
            problems.append(f".gnu_debuglink names {name}, not {debug_name}")
        with open(debug_file, "rb") as f:
            data = f.read()
        actual = zlib.crc32(data)
        if crc != actual:
            problems.append(f".gnu_debuglink's CRC {crc:#010x} is not {debug_name}'s {actual:#010x}")
        if not {".debug_info", ".debug_line"} & set(dwarf(sections_of(debug_file, data))):
            problems.append(f"{debug_name} holds no DWARF")
    return problems


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
        # rustc embeds, newer than Debian's LLVM), every CPU of a universal
        # archive; C names have a leading underscore.
        out = run("llvm-nm", "--no-llvm-bc", "--arch=all", "--extern-only", "--defined-only",
                  "--just-symbol-name", path)
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


def macho_slices(data):
    """(cpu, bytes) of each thin Mach-O image in a file (one, or each of a
    universal binary's)."""
    if data[:4] == b"\xca\xfe\xba\xbe":
        (count,) = struct.unpack(">I", data[4:8])
        out = []
        for i in range(count):
            cpu, _, offset, size, _ = struct.unpack(">IIIII", data[8 + 20 * i : 28 + 20 * i])
            out.append((MACHO_CPUS.get(cpu, hex(cpu)), data[offset : offset + size]))
        return out
    (cpu,) = struct.unpack("<I", data[4:8])
    return [(MACHO_CPUS.get(cpu, hex(cpu)), data)]


def first_macho_cpu(data):
    """(cputype, cpusubtype) of a thin Mach-O file, or of the first Mach-O
    object in an ar archive."""
    if data[:4] == b"\xcf\xfa\xed\xfe":
        return struct.unpack("<II", data[4:12])
    pos = 8
    while pos + 60 <= len(data):
        header = data[pos : pos + 60]
        name = header[:16].decode("ascii", "replace").strip()
        size = int(header[48:58].decode("ascii").strip())
        body = data[pos + 60 : pos + 60 + size]
        if name.startswith("#1/"):
            body = body[int(name[3:]):]
        if body[:4] == b"\xcf\xfa\xed\xfe":
            return struct.unpack("<II", body[4:12])
        pos += 60 + size + (size & 1)
    raise SystemExit("no 64-bit Mach-O object found")


def make_fat(output, inputs):
    """A universal file of thin Mach-O files or archives, as lipo -create
    makes it. For the static libraries: LLVM's lipo reads every archive
    member's embedded bitcode (Rust's standard library objects carry it),
    which Debian's LLVM is too old to parse; nothing here needs to."""
    slices = []
    for path in inputs:
        with open(path, "rb") as f:
            data = f.read()
        cpu, subtype = first_macho_cpu(data)
        # Page alignment (16 KiB on arm64, 4 KiB on x86-64), as lipo does.
        slices.append((cpu, subtype, 14 if cpu == 0x0100000C else 12, data))
    out = bytearray(struct.pack(">II", 0xCAFEBABE, len(slices)))
    offset = 8 + 20 * len(slices)
    table = []
    for cpu, subtype, align, data in slices:
        offset = (offset + (1 << align) - 1) & ~((1 << align) - 1)
        table.append((cpu, subtype, offset, len(data), align))
        offset += len(data)
    for entry in table:
        out += struct.pack(">IIIII", *entry)
    for (_, _, offset, _, _), (_, _, _, data) in zip(table, slices):
        out += b"\0" * (offset - len(out)) + data
    with open(output, "wb") as f:
        f.write(out)


def code_signature_problems(image):
    """Why a thin 64-bit Mach-O image's code signature does not match its
    bytes (empty: it matches). arm64 macOS loads only signed code, and an
    edit after linking (a new install name) breaks the signature unless the
    tool signs again: each page's hash in the CodeDirectory is recomputed."""
    import hashlib

    if image[:4] != b"\xcf\xfa\xed\xfe":
        return ["not a 64-bit little-endian Mach-O image"]
    ncmds, = struct.unpack("<I", image[16:20])
    pos, signature = 32, None
    for _ in range(ncmds):
        cmd, size = struct.unpack("<II", image[pos : pos + 8])
        if cmd == 0x1D:  # LC_CODE_SIGNATURE
            signature = struct.unpack("<II", image[pos + 8 : pos + 16])
        pos += size
    if signature is None:
        return ["no LC_CODE_SIGNATURE"]
    blob = image[signature[0] : signature[0] + signature[1]]
    magic, _, count = struct.unpack(">III", blob[:12])
    if magic != 0xFADE0CC0:
        return [f"not an embedded signature ({magic:#x})"]
    problems = []
    for i in range(count):
        _, offset = struct.unpack(">II", blob[12 + 8 * i : 20 + 8 * i])
        (cd_magic,) = struct.unpack(">I", blob[offset : offset + 4])
        if cd_magic != 0xFADE0C02:  # a CodeDirectory
            continue
        cd = blob[offset:]
        hash_offset, _, _, n_code, code_limit = struct.unpack(">IIIII", cd[16:36])
        hash_size, hash_type, _, page_log2 = cd[36:40]
        algorithm = {1: "sha1", 2: "sha256"}.get(hash_type)
        if algorithm is None:
            return [f"hash type {hash_type}"]
        page = 1 << page_log2
        bad = 0
        for n in range(n_code):
            want = cd[hash_offset + n * hash_size : hash_offset + (n + 1) * hash_size]
            got = hashlib.new(algorithm, image[n * page : min((n + 1) * page, code_limit)]).digest()
            bad += got[:hash_size] != want
        if code_limit != signature[0]:
            problems.append(f"the signature covers {code_limit} bytes, the code is {signature[0]}")
        if bad:
            problems.append(f"{bad} of {n_code} pages differ from their hash")
    return problems


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
    elif command == "fat":
        make_fat(argv[2], argv[3:])
    elif command == "check-signature":
        with open(argv[2], "rb") as f:
            data = f.read()
        failed = False
        for cpu, image in macho_slices(data):
            problems = code_signature_problems(image)
            if problems == ["no LC_CODE_SIGNATURE"] and cpu != "aarch64":
                print(f"{argv[2]} ({cpu}): not signed (needed on arm64 only)")
                continue
            print(f"{argv[2]} ({cpu}): " + ("; ".join(problems) if problems else "signature matches"))
            failed = failed or bool(problems)
        return 1 if failed else 0
    elif command == "check-stripped":
        problems = stripped_problems(argv[2], argv[3] if len(argv) > 3 else None)
        print(f"{argv[2]}: " + ("; ".join(problems) if problems else "stripped, its debug information linked"))
        return 1 if problems else 0
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
