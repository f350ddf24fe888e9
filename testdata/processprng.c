/*
 * A stand-in bcryptprimitives.dll for Wine 8, which has none. Go's runtime
 * on Windows fills its random numbers with ProcessPrng from this DLL (as
 * real Windows 10 and 11 provide); without it no Go program starts under
 * this Wine. The Wine tests build it with mingw and put it into their own
 * Wine prefix, and only when the Wine there lacks the DLL.
 *
 *   x86_64-w64-mingw32-gcc -shared -O2 -o bcryptprimitives.dll processprng.c -lbcrypt
 */
#include <windows.h>
#include <bcrypt.h>

/* ProcessPrng never fails on Windows; callers do not check. Wine's
 * BCryptGenRandom with the system RNG reads the host's random source. */
__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len)
{
	while (len > 0) {
		ULONG n = len > 0x40000000 ? 0x40000000 : (ULONG)len;
		if (!BCRYPT_SUCCESS(BCryptGenRandom(NULL, data, n, BCRYPT_USE_SYSTEM_PREFERRED_RNG)))
			return FALSE;
		data += n;
		len -= n;
	}
	return TRUE;
}
