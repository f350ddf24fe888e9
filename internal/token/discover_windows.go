package token

import "github.com/cardbridge/cardbridge/internal/winmodules"

// discover on Windows reads only where administrators install; see
// winmodules. p11-kit's Unix paths are never tried here.
func discover() []string { return winmodules.Discover() }
