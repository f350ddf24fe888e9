//go:build windows

package sites

import "os"

// checkPolicyOwner relies on %ProgramData%'s inherited ACL, which lets
// only administrators write there; reading a file's owner and ACL is not
// done here yet.
func checkPolicyOwner(*os.File, string, bool) error { return nil }
