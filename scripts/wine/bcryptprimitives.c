/* A stand-in for Windows' bcryptprimitives.dll, for running our Windows
 * programs under wine only (never shipped). Rust's standard library imports
 * ProcessPrng from it (Windows 10 and later have it); wine 8 lacks the DLL.
 * It forwards to RtlGenRandom (advapi32's SystemFunction036), which wine has.
 * Built with mingw at test time by scripts/cross-test.sh. */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len) {
    while (len > 0) {
        ULONG chunk = len > 0x10000000 ? 0x10000000 : (ULONG)len;
        if (!SystemFunction036(data, chunk)) {
            return FALSE;
        }
        data += chunk;
        len -= chunk;
    }
    return TRUE;
}
