/*
 * A PKCS#11 module standing in for a reader that is slow and holds a card
 * no driver knows: C_Initialize, C_GetSlotList and C_GetTokenInfo each
 * sleep SLOW_PKCS11_DELAY_MS (default 3000) milliseconds, and the one slot,
 * "Slow Reader", holds a token that C_GetTokenInfo answers with
 * CKR_TOKEN_NOT_RECOGNIZED, as OpenSC does for an unknown card. Each
 * C_Initialize appends a line to SLOW_PKCS11_LOG when that is set, so a
 * test can count re-initialisations. Everything else is not supported.
 *
 * Built by the tests (internal/moduletest) with the PKCS#11 headers that
 * ship with github.com/miekg/pkcs11.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "pkcs11go.h"

static void delay(void) {
	const char *ms = getenv("SLOW_PKCS11_DELAY_MS");
	long n = ms ? atol(ms) : 3000;
	struct timespec ts = {n / 1000, (n % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

static void pad(CK_UTF8CHAR *dst, size_t n, const char *s) {
	memset(dst, ' ', n);
	memcpy(dst, s, strlen(s) < n ? strlen(s) : n);
}

static CK_RV not_supported(void) { return CKR_FUNCTION_NOT_SUPPORTED; }

static CK_RV s_Initialize(CK_VOID_PTR args) {
	(void)args;
	const char *log = getenv("SLOW_PKCS11_LOG");
	if (log) {
		FILE *f = fopen(log, "a");
		if (f) {
			fputs("C_Initialize\n", f);
			fclose(f);
		}
	}
	delay();
	return CKR_OK;
}

static CK_RV s_Finalize(CK_VOID_PTR r) { (void)r; return CKR_OK; }

static CK_RV s_GetInfo(CK_INFO_PTR info) {
	memset(info, 0, sizeof(*info));
	info->cryptokiVersion.major = 2;
	info->cryptokiVersion.minor = 40;
	pad(info->manufacturerID, sizeof info->manufacturerID, "cardbridge tests");
	pad(info->libraryDescription, sizeof info->libraryDescription, "slow reader stand-in");
	return CKR_OK;
}

static CK_RV s_GetSlotList(CK_BBOOL present, CK_SLOT_ID_PTR list, CK_ULONG_PTR n) {
	(void)present;
	delay();
	if (list) {
		if (*n < 1) { *n = 1; return CKR_BUFFER_TOO_SMALL; }
		list[0] = 7;
	}
	*n = 1;
	return CKR_OK;
}

static CK_RV s_GetSlotInfo(CK_SLOT_ID id, CK_SLOT_INFO_PTR info) {
	if (id != 7) return CKR_SLOT_ID_INVALID;
	memset(info, 0, sizeof(*info));
	pad(info->slotDescription, sizeof info->slotDescription, "Slow Reader");
	pad(info->manufacturerID, sizeof info->manufacturerID, "cardbridge tests");
	info->flags = CKF_TOKEN_PRESENT | CKF_REMOVABLE_DEVICE | CKF_HW_SLOT;
	return CKR_OK;
}

static CK_RV s_GetTokenInfo(CK_SLOT_ID id, CK_TOKEN_INFO_PTR info) {
	(void)info;
	if (id != 7) return CKR_SLOT_ID_INVALID;
	delay();
	return CKR_TOKEN_NOT_RECOGNIZED;
}

static CK_FUNCTION_LIST list;

CK_RV C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR out) {
	/* Every entry after the version is a function pointer: point them all
	 * at not_supported, then set the few this stand-in answers. */
	void (**fn)(void) = (void (**)(void))((char *)&list + offsetof(CK_FUNCTION_LIST, C_Initialize));
	size_t count = (sizeof list - offsetof(CK_FUNCTION_LIST, C_Initialize)) / sizeof *fn;
	for (size_t i = 0; i < count; i++) fn[i] = (void (*)(void))not_supported;
	list.version.major = 2;
	list.version.minor = 40;
	list.C_Initialize = s_Initialize;
	list.C_Finalize = s_Finalize;
	list.C_GetInfo = s_GetInfo;
	list.C_GetFunctionList = C_GetFunctionList;
	list.C_GetSlotList = s_GetSlotList;
	list.C_GetSlotInfo = s_GetSlotInfo;
	list.C_GetTokenInfo = s_GetTokenInfo;
	*out = &list;
	return CKR_OK;
}
