// Package sdk embeds the portal JS SDK so that the demo portal can serve
// the very file portal developers copy.
package sdk

import _ "embed"

// JS is cardbridge.js.
//
//go:embed cardbridge.js
var JS []byte

// DTS is cardbridge.d.ts.
//
//go:embed cardbridge.d.ts
var DTS []byte
