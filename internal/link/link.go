// Package link parses cardbridge:// URLs, which a page opens to start
// cardbridge or to run one method without a WebSocket:
//
//	cardbridge://start
//	cardbridge://<method>?params=<base64url JSON>&callback=<https URL>
//
// A link carries no trustworthy origin, so the callback's origin stands in
// for it: dialogs name it, and the result goes only there.
package link

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/cardbridge/cardbridge/internal/sites"
)

// Scheme is the URL scheme cardbridge registers.
const Scheme = "cardbridge"

// MaxLength bounds a link; browsers and OS handlers cap URLs near here.
const MaxLength = 32 << 10

// ErrInvalid marks a malformed link; the text says what is wrong.
var ErrInvalid = errors.New("invalid cardbridge link")

// Link is a parsed cardbridge:// URL.
type Link struct {
	// Start is set for cardbridge://start: only make sure cardbridge runs.
	Start bool
	// Method, Params and Callback describe a one-shot call.
	Method   string
	Params   json.RawMessage
	Callback *url.URL
	// Origin is the callback's canonical origin, the caller's identity.
	Origin string
}

// Parse reads a cardbridge:// URL.
func Parse(raw string) (*Link, error) {
	if len(raw) > MaxLength {
		return nil, fmt.Errorf("%w: longer than %d bytes", ErrInvalid, MaxLength)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if !strings.EqualFold(u.Scheme, Scheme) {
		return nil, fmt.Errorf("%w: scheme must be %q", ErrInvalid, Scheme)
	}
	// cardbridge://start puts the name in the host; cardbridge:start in
	// the opaque part. Accept both, with or without a trailing slash.
	name := u.Host
	if name == "" {
		name = strings.TrimPrefix(u.Opaque, "//")
		if i := strings.IndexAny(name, "?/"); i >= 0 {
			name = name[:i]
		}
	}
	if p := strings.Trim(u.Path, "/"); p != "" {
		return nil, fmt.Errorf("%w: unexpected path %q", ErrInvalid, p)
	}
	if u.User != nil || u.Port() != "" || u.Fragment != "" {
		return nil, fmt.Errorf("%w: unexpected user, port or fragment", ErrInvalid)
	}
	name = strings.ToLower(name)
	if name == "start" {
		if u.RawQuery != "" {
			return nil, fmt.Errorf("%w: start takes no parameters", ErrInvalid)
		}
		return &Link{Start: true}, nil
	}
	if !validMethod(name) {
		return nil, fmt.Errorf("%w: %q is not a method name", ErrInvalid, name)
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return nil, fmt.Errorf("%w: query: %v", ErrInvalid, err)
	}
	for k, v := range q {
		if (k != "params" && k != "callback") || len(v) != 1 {
			return nil, fmt.Errorf("%w: unexpected or repeated parameter %q", ErrInvalid, k)
		}
	}
	l := &Link{Method: name, Params: json.RawMessage("{}")}
	if p := q.Get("params"); p != "" {
		b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(p, "="))
		if err != nil {
			return nil, fmt.Errorf("%w: params are not base64url", ErrInvalid)
		}
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(b, &obj); err != nil {
			return nil, fmt.Errorf("%w: params are not a JSON object", ErrInvalid)
		}
		l.Params = b
	}
	cb := q.Get("callback")
	if cb == "" {
		return nil, fmt.Errorf("%w: a method link needs a callback", ErrInvalid)
	}
	if l.Callback, err = url.Parse(cb); err != nil || l.Callback.Host == "" || l.Callback.User != nil {
		return nil, fmt.Errorf("%w: callback is not a URL", ErrInvalid)
	}
	origin := l.Callback.Scheme + "://" + l.Callback.Host
	if l.Origin, err = sites.Canonical(origin); err != nil {
		return nil, fmt.Errorf("%w: callback must be https (or http://localhost): %v", ErrInvalid, err)
	}
	return l, nil
}

// validMethod accepts names like "sign" and "keys.generate".
func validMethod(s string) bool {
	if s == "" || len(s) > 64 || s[0] == '.' || s[len(s)-1] == '.' {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '.') {
			return false
		}
	}
	return true
}
