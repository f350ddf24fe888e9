package token

// #include <stdlib.h>
import "C"

import "unsafe"

// cString copies s into C memory, for a module's initialisation arguments
// (pReserved): a module may keep the pointer for as long as it is loaded,
// so it must not be Go memory. freeCString releases it after C_Finalize.
func cString(s string) unsafe.Pointer { return unsafe.Pointer(C.CString(s)) }

func freeCString(p unsafe.Pointer) { C.free(p) }
