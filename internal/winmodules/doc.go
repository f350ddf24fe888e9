// Package winmodules finds the PKCS#11 modules that administrators
// installed on Windows: those recorded in HKLM by their installers, and
// the documented DLLs of common vendors in System32 and Program Files. It
// makes no PKCS#11 calls; internal/token loads what it finds. It is a
// package of its own so that its tests build and run on Windows (under
// Wine in CI) apart from token's, which need Unix test helpers.
package winmodules
