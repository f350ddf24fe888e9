// Package link checks cardbridge:// URLs. A page opens one to start
// cardbridge when it finds no daemon to talk to:
//
//	cardbridge://start
//
// That is all a link does. Any page can open any link, and a link carries
// no origin the browser vouches for, so a link that ran a method would run
// it in the name of whatever site the link claimed (see SECURITY.md).
// Pages talk to cardbridge over the WebSocket or the extension, where the
// browser names the origin.
package link

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// Scheme is the URL scheme cardbridge registers.
const Scheme = "cardbridge"

// MaxLength bounds a link; browsers and OS handlers cap URLs near here.
const MaxLength = 32 << 10

// ErrInvalid marks a link cardbridge does not accept; the text says why.
var ErrInvalid = errors.New("invalid cardbridge link")

// Check accepts cardbridge://start (also written cardbridge:start, with
// any case and an optional trailing slash) and refuses everything else.
// Its errors never repeat the link: it may carry a page's data.
func Check(raw string) error {
	if len(raw) > MaxLength {
		return fmt.Errorf("%w: longer than %d bytes", ErrInvalid, MaxLength)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("%w: not a URL", ErrInvalid)
	}
	if !strings.EqualFold(u.Scheme, Scheme) {
		return fmt.Errorf("%w: scheme must be %q", ErrInvalid, Scheme)
	}
	// cardbridge://start puts the name in the host; cardbridge:start in
	// the opaque part.
	name := u.Host
	if name == "" {
		name = strings.TrimPrefix(u.Opaque, "//")
		name = strings.TrimSuffix(name, "/")
	} else if u.Path != "" && u.Path != "/" {
		return fmt.Errorf("%w: unexpected path", ErrInvalid)
	}
	if !strings.EqualFold(name, "start") {
		return fmt.Errorf("%w: links only start cardbridge (cardbridge://start); "+
			"pages call methods over the WebSocket or the browser extension", ErrInvalid)
	}
	if u.User != nil || u.Port() != "" || u.Fragment != "" || u.RawQuery != "" || u.ForceQuery {
		return fmt.Errorf("%w: a link takes no user, port, query or fragment", ErrInvalid)
	}
	return nil
}
