// Wine 8 (Debian 12) has no bcryptprimitives.dll, which Rust's standard library
// imports on Windows (ProcessPrng, its source of random numbers). Windows 10 and later
// ship it. scripts/test-platforms.mjs builds this stand-in into the Wine prefix only,
// so that the addon can load under Wine; nothing of it is published.
#include <windows.h>
#include <ntsecapi.h>

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len) {
  while (len > 0) {
    ULONG n = len > 0x10000000 ? 0x10000000 : (ULONG)len;
    if (!RtlGenRandom(data, n)) return FALSE;
    data += n;
    len -= n;
  }
  return TRUE;
}
