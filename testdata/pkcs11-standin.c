/*
 * A stand-in for a vendor's PKCS#11 DLL, for the Wine tests only: no
 * Windows PKCS#11 module is packaged in Debian. It has one slot with one
 * token holding one P-256 key pair (ID 01), PIN 123456, and it writes the
 * name of every call to $CARDBRIDGE_STANDIN_LOG, so that a test can see
 * that loading, listing and a signature request reached it. Its
 * "signature" is not one: signing is checked on Linux with real modules.
 * It never logs a PIN or the data to sign.
 *
 *   x86_64-w64-mingw32-gcc -shared -O2 -I<miekg/pkcs11 dir> -o standin-pkcs11.dll pkcs11-standin.c
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <windows.h>

#define CK_PTR *
#define CK_DEFINE_FUNCTION(returnType, name) returnType __declspec(dllexport) name
#define CK_DECLARE_FUNCTION(returnType, name) returnType __declspec(dllexport) name
#define CK_DECLARE_FUNCTION_POINTER(returnType, name) returnType (*name)
#define CK_CALLBACK_FUNCTION(returnType, name) returnType (*name)
#ifndef NULL_PTR
#define NULL_PTR 0
#endif
/* Cryptoki on Windows packs its structures to one byte. */
#pragma pack(push, cryptoki, 1)
#include "pkcs11.h"
#pragma pack(pop, cryptoki)

static void logcall(const char *name)
{
	const char *path = getenv("CARDBRIDGE_STANDIN_LOG");
	FILE *f;
	if (path == NULL || (f = fopen(path, "a")) == NULL)
		return;
	fprintf(f, "%s\n", name);
	fclose(f);
}

static void pad(CK_UTF8CHAR *dst, size_t n, const char *src)
{
	memset(dst, ' ', n);
	memcpy(dst, src, strlen(src) < n ? strlen(src) : n);
}

static int initialized, loggedIn, signing, findPos, findCount;
static CK_OBJECT_HANDLE found[2];

/* Objects: 1 is the public key, 2 the private key. The public point is
 * P-256's generator, a valid point (the key of d = 1). */
static CK_OBJECT_CLASS pubClass = CKO_PUBLIC_KEY, privClass = CKO_PRIVATE_KEY;
static CK_KEY_TYPE ecType = CKK_EC;
static CK_BBOOL yes = CK_TRUE;
static CK_BYTE keyID[] = {0x01};
static char keyLabel[] = "Wine stand-in key";
static CK_BYTE ecParams[] = {0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};
static CK_BYTE ecPoint[] = {0x04, 0x41, 0x04,
	0x6b, 0x17, 0xd1, 0xf2, 0xe1, 0x2c, 0x42, 0x47, 0xf8, 0xbc, 0xe6, 0xe5, 0x63, 0xa4, 0x40, 0xf2,
	0x77, 0x03, 0x7d, 0x81, 0x2d, 0xeb, 0x33, 0xa0, 0xf4, 0xa1, 0x39, 0x45, 0xd8, 0x98, 0xc2, 0x96,
	0x4f, 0xe3, 0x42, 0xe2, 0xfe, 0x1a, 0x7f, 0x9b, 0x8e, 0xe7, 0xeb, 0x4a, 0x7c, 0x0f, 0x9e, 0x16,
	0x2b, 0xce, 0x33, 0x57, 0x6b, 0x31, 0x5e, 0xce, 0xcb, 0xb6, 0x40, 0x68, 0x37, 0xbf, 0x51, 0xf5};

static CK_ATTRIBUTE *attr(CK_OBJECT_HANDLE h, CK_ATTRIBUTE_TYPE t)
{
	static CK_ATTRIBUTE pub[] = {
		{CKA_CLASS, &pubClass, sizeof pubClass}, {CKA_KEY_TYPE, &ecType, sizeof ecType},
		{CKA_TOKEN, &yes, sizeof yes}, {CKA_VERIFY, &yes, sizeof yes},
		{CKA_ID, keyID, sizeof keyID}, {CKA_LABEL, keyLabel, sizeof keyLabel - 1},
		{CKA_EC_PARAMS, ecParams, sizeof ecParams}, {CKA_EC_POINT, ecPoint, sizeof ecPoint}};
	static CK_ATTRIBUTE priv[] = {
		{CKA_CLASS, &privClass, sizeof privClass}, {CKA_KEY_TYPE, &ecType, sizeof ecType},
		{CKA_TOKEN, &yes, sizeof yes}, {CKA_SIGN, &yes, sizeof yes}, {CKA_PRIVATE, &yes, sizeof yes},
		{CKA_ID, keyID, sizeof keyID}, {CKA_LABEL, keyLabel, sizeof keyLabel - 1},
		{CKA_EC_PARAMS, ecParams, sizeof ecParams}};
	CK_ATTRIBUTE *a = h == 1 ? pub : priv;
	size_t n = h == 1 ? sizeof pub / sizeof *pub : sizeof priv / sizeof *priv;
	for (size_t i = 0; i < n; i++)
		if (a[i].type == t)
			return &a[i];
	return NULL;
}

static CK_RV notSupported(void) { return CKR_FUNCTION_NOT_SUPPORTED; }

CK_RV C_Initialize(CK_VOID_PTR args) { (void)args; logcall("C_Initialize"); initialized = 1; return CKR_OK; }
CK_RV C_Finalize(CK_VOID_PTR r) { (void)r; logcall("C_Finalize"); initialized = loggedIn = 0; return CKR_OK; }

CK_RV C_GetInfo(CK_INFO_PTR info)
{
	memset(info, 0, sizeof *info);
	info->cryptokiVersion.major = 2;
	info->cryptokiVersion.minor = 40;
	pad(info->manufacturerID, sizeof info->manufacturerID, "cardbridge tests");
	pad(info->libraryDescription, sizeof info->libraryDescription, "Wine stand-in module");
	return CKR_OK;
}

CK_RV C_GetSlotList(CK_BBOOL present, CK_SLOT_ID_PTR list, CK_ULONG_PTR count)
{
	(void)present;
	logcall("C_GetSlotList");
	if (list != NULL) {
		if (*count < 1) {
			*count = 1;
			return CKR_BUFFER_TOO_SMALL;
		}
		list[0] = 1;
	}
	*count = 1;
	return CKR_OK;
}

CK_RV C_GetSlotInfo(CK_SLOT_ID slot, CK_SLOT_INFO_PTR info)
{
	if (slot != 1)
		return CKR_SLOT_ID_INVALID;
	memset(info, 0, sizeof *info);
	pad(info->slotDescription, sizeof info->slotDescription, "Wine stand-in reader");
	pad(info->manufacturerID, sizeof info->manufacturerID, "cardbridge tests");
	info->flags = CKF_TOKEN_PRESENT | CKF_HW_SLOT;
	return CKR_OK;
}

CK_RV C_GetTokenInfo(CK_SLOT_ID slot, CK_TOKEN_INFO_PTR info)
{
	if (slot != 1)
		return CKR_SLOT_ID_INVALID;
	logcall("C_GetTokenInfo");
	memset(info, 0, sizeof *info);
	pad(info->label, sizeof info->label, "Wine stand-in");
	pad(info->manufacturerID, sizeof info->manufacturerID, "cardbridge tests");
	pad(info->model, sizeof info->model, "stand-in");
	pad(info->serialNumber, sizeof info->serialNumber, "WINE0001");
	info->flags = CKF_TOKEN_INITIALIZED | CKF_USER_PIN_INITIALIZED | CKF_LOGIN_REQUIRED | CKF_RNG;
	info->ulMaxSessionCount = info->ulMaxRwSessionCount = CK_EFFECTIVELY_INFINITE;
	info->ulMinPinLen = 4;
	info->ulMaxPinLen = 8;
	info->ulTotalPublicMemory = info->ulFreePublicMemory = CK_UNAVAILABLE_INFORMATION;
	info->ulTotalPrivateMemory = info->ulFreePrivateMemory = CK_UNAVAILABLE_INFORMATION;
	return CKR_OK;
}

CK_RV C_GetMechanismList(CK_SLOT_ID slot, CK_MECHANISM_TYPE_PTR list, CK_ULONG_PTR count)
{
	(void)slot;
	if (list != NULL) {
		if (*count < 1) {
			*count = 1;
			return CKR_BUFFER_TOO_SMALL;
		}
		list[0] = CKM_ECDSA;
	}
	*count = 1;
	return CKR_OK;
}

CK_RV C_GetMechanismInfo(CK_SLOT_ID slot, CK_MECHANISM_TYPE type, CK_MECHANISM_INFO_PTR info)
{
	(void)slot;
	if (type != CKM_ECDSA)
		return CKR_MECHANISM_INVALID;
	info->ulMinKeySize = info->ulMaxKeySize = 256;
	info->flags = CKF_HW | CKF_SIGN | CKF_EC_F_P | CKF_EC_NAMEDCURVE | CKF_EC_UNCOMPRESS;
	return CKR_OK;
}

CK_RV C_OpenSession(CK_SLOT_ID slot, CK_FLAGS flags, CK_VOID_PTR app, CK_NOTIFY notify, CK_SESSION_HANDLE_PTR s)
{
	(void)flags; (void)app; (void)notify;
	if (slot != 1)
		return CKR_SLOT_ID_INVALID;
	*s = 1;
	return CKR_OK;
}

CK_RV C_CloseSession(CK_SESSION_HANDLE s) { (void)s; return CKR_OK; }
CK_RV C_CloseAllSessions(CK_SLOT_ID slot) { (void)slot; loggedIn = 0; return CKR_OK; }

CK_RV C_GetSessionInfo(CK_SESSION_HANDLE s, CK_SESSION_INFO_PTR info)
{
	(void)s;
	info->slotID = 1;
	info->state = loggedIn ? CKS_RO_USER_FUNCTIONS : CKS_RO_PUBLIC_SESSION;
	info->flags = CKF_SERIAL_SESSION;
	info->ulDeviceError = 0;
	return CKR_OK;
}

CK_RV C_Login(CK_SESSION_HANDLE s, CK_USER_TYPE user, CK_UTF8CHAR_PTR pin, CK_ULONG len)
{
	(void)s;
	logcall("C_Login");
	if (user != CKU_USER)
		return CKR_USER_TYPE_INVALID;
	if (loggedIn)
		return CKR_USER_ALREADY_LOGGED_IN;
	if (pin == NULL || len != 6 || memcmp(pin, "123456", 6) != 0)
		return CKR_PIN_INCORRECT;
	loggedIn = 1;
	return CKR_OK;
}

/* The PIN stays 123456: the test only needs to see the call arrive. */
CK_RV C_SetPIN(CK_SESSION_HANDLE s, CK_UTF8CHAR_PTR old, CK_ULONG oldLen, CK_UTF8CHAR_PTR pin, CK_ULONG len)
{
	(void)s; (void)pin;
	logcall("C_SetPIN");
	if (old == NULL || oldLen != 6 || memcmp(old, "123456", 6) != 0)
		return CKR_PIN_INCORRECT;
	return len >= 4 && len <= 8 ? CKR_OK : CKR_PIN_LEN_RANGE;
}

CK_RV C_Logout(CK_SESSION_HANDLE s) { (void)s; logcall("C_Logout"); loggedIn = 0; return CKR_OK; }

CK_RV C_FindObjectsInit(CK_SESSION_HANDLE s, CK_ATTRIBUTE_PTR tmpl, CK_ULONG n)
{
	(void)s;
	findPos = findCount = 0;
	for (CK_OBJECT_HANDLE h = 1; h <= 2; h++) {
		int match = h == 1 || loggedIn; /* private objects need a login */
		for (CK_ULONG i = 0; match && i < n; i++) {
			CK_ATTRIBUTE *a = attr(h, tmpl[i].type);
			match = a != NULL && a->ulValueLen == tmpl[i].ulValueLen && memcmp(a->pValue, tmpl[i].pValue, a->ulValueLen) == 0;
		}
		if (match)
			found[findCount++] = h;
	}
	return CKR_OK;
}

CK_RV C_FindObjects(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE_PTR out, CK_ULONG max, CK_ULONG_PTR n)
{
	(void)s;
	*n = 0;
	while (findPos < findCount && *n < max)
		out[(*n)++] = found[findPos++];
	return CKR_OK;
}

CK_RV C_FindObjectsFinal(CK_SESSION_HANDLE s) { (void)s; return CKR_OK; }

CK_RV C_GetAttributeValue(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE h, CK_ATTRIBUTE_PTR tmpl, CK_ULONG n)
{
	(void)s;
	CK_RV rv = CKR_OK;
	if (h != 1 && h != 2)
		return CKR_OBJECT_HANDLE_INVALID;
	for (CK_ULONG i = 0; i < n; i++) {
		CK_ATTRIBUTE *a = attr(h, tmpl[i].type);
		if (a == NULL) {
			tmpl[i].ulValueLen = CK_UNAVAILABLE_INFORMATION;
			rv = CKR_ATTRIBUTE_TYPE_INVALID;
		} else if (tmpl[i].pValue == NULL) {
			tmpl[i].ulValueLen = a->ulValueLen;
		} else if (tmpl[i].ulValueLen < a->ulValueLen) {
			tmpl[i].ulValueLen = CK_UNAVAILABLE_INFORMATION;
			rv = CKR_BUFFER_TOO_SMALL;
		} else {
			memcpy(tmpl[i].pValue, a->pValue, a->ulValueLen);
			tmpl[i].ulValueLen = a->ulValueLen;
		}
	}
	return rv;
}

CK_RV C_SignInit(CK_SESSION_HANDLE s, CK_MECHANISM_PTR mech, CK_OBJECT_HANDLE key)
{
	(void)s;
	logcall("C_SignInit");
	if (!loggedIn)
		return CKR_USER_NOT_LOGGED_IN;
	if (mech == NULL || mech->mechanism != CKM_ECDSA)
		return CKR_MECHANISM_INVALID;
	if (key != 2)
		return CKR_KEY_HANDLE_INVALID;
	signing = 1;
	return CKR_OK;
}

CK_RV C_Sign(CK_SESSION_HANDLE s, CK_BYTE_PTR data, CK_ULONG len, CK_BYTE_PTR sig, CK_ULONG_PTR siglen)
{
	(void)s; (void)data;
	if (!signing)
		return CKR_OPERATION_NOT_INITIALIZED;
	if (sig == NULL) {
		*siglen = 64;
		return CKR_OK;
	}
	if (*siglen < 64) {
		*siglen = 64;
		return CKR_BUFFER_TOO_SMALL;
	}
	logcall(len == 32 ? "C_Sign 32 bytes" : "C_Sign");
	/* r = s = 1: well-formed, and no valid signature. */
	memset(sig, 0, 64);
	sig[31] = sig[63] = 1;
	*siglen = 64;
	signing = 0;
	return CKR_OK;
}

static CK_FUNCTION_LIST functions;

CK_RV C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR list)
{
	/* Every entry answers; those this stand-in lacks say so. */
#define CK_PKCS11_FUNCTION_INFO(name) functions.name = (CK_##name)(void (*)(void))notSupported;
#include "pkcs11f.h"
#undef CK_PKCS11_FUNCTION_INFO
	functions.version.major = 2;
	functions.version.minor = 40;
	functions.C_Initialize = C_Initialize;
	functions.C_Finalize = C_Finalize;
	functions.C_GetInfo = C_GetInfo;
	functions.C_GetFunctionList = C_GetFunctionList;
	functions.C_GetSlotList = C_GetSlotList;
	functions.C_GetSlotInfo = C_GetSlotInfo;
	functions.C_GetTokenInfo = C_GetTokenInfo;
	functions.C_GetMechanismList = C_GetMechanismList;
	functions.C_GetMechanismInfo = C_GetMechanismInfo;
	functions.C_OpenSession = C_OpenSession;
	functions.C_CloseSession = C_CloseSession;
	functions.C_CloseAllSessions = C_CloseAllSessions;
	functions.C_GetSessionInfo = C_GetSessionInfo;
	functions.C_Login = C_Login;
	functions.C_SetPIN = C_SetPIN;
	functions.C_Logout = C_Logout;
	functions.C_FindObjectsInit = C_FindObjectsInit;
	functions.C_FindObjects = C_FindObjects;
	functions.C_FindObjectsFinal = C_FindObjectsFinal;
	functions.C_GetAttributeValue = C_GetAttributeValue;
	functions.C_SignInit = C_SignInit;
	functions.C_Sign = C_Sign;
	*list = &functions;
	return CKR_OK;
}
