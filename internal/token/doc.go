// Package token is cardbridge's only door to PKCS#11. It loads one or more
// modules, finds cards by their serial number (the "card number" users see,
// made unique where modules repeat one), generates keys on them, and signs
// with them.
//
// # One model
//
// The rules below come from the PKCS#11 specification and from what real
// modules do; every function in this package keeps them. There are three
// kinds of state, each with one mechanism:
//
//   - One mutex per card. Every session on a card holds it, from
//     C_OpenSession to C_CloseSession: a smart card does one thing at a
//     time, and login state belongs to the token and the process, not to a
//     session (a second C_Login gives CKR_USER_ALREADY_LOGGED_IN, which
//     counts as success, and one C_Logout ends the login for every
//     session). An operation that logs in always logs out before it
//     releases the card, so no login outlives the request that asked for
//     it, no other site can ride on it, and a second site's wrong PIN can
//     never pass as "already logged in". A batch is signed in one session,
//     one signature after the other. Waiting for a card, and a stretch of
//     card work, end after OpTimeout with ErrNotAnswering: a module call
//     that never returns costs only its card (guard.go). Work given up on
//     never writes its caller's variables, and its session, login and
//     card stay held until the call returns, when they are released.
//
//   - One scan cache (every slot of every module) and one key-list cache
//     (per card), each loaded by one caller while the others wait for its
//     result (single flight). A scan asks every module at once, each in
//     a goroutine of its own that also loads the module (Open returns
//     before any module is loaded), and waits for a module at most the
//     scan timeout (2 s): a module that takes longer is reported as "not
//     answering" by reader, or by its name before it has listed any, and
//     from then on served from its last finished scan while it is asked
//     again in the background, so one slow module never holds up another
//     module's cards (modscan.go). A module's last scan also answers for
//     up to a second while a new one runs in the background, so a request
//     for one module's card never waits for another module's readers; a
//     write, a login, a failure or a re-initialisation makes that module's
//     last scan invalid at once, and a card that is not found is looked
//     for again in fresh scans. A request that names a card looks in the
//     modules' last valid scans first and waits only for modules without
//     one (not for a slow module), so a software token is served right
//     after start while another module still loads; a card in a reader is
//     taken from there only when every module has scanned, and the session
//     checks that its slot still holds that card. A module that fails to
//     load is logged and left out. A scan is reused for 250 ms and a key list
//     for a second: pages poll, and on a real reader each read is PC/SC
//     traffic. A login drops the scan (the PIN counters changed); a write
//     or a failure drops the scan and the card's key list; a load that
//     started before a drop is never served after it. The PIN state that
//     decides a login is always read fresh.
//
//   - One read-write lock per module, held for reading by every call into
//     it and for writing while it is re-initialised: C_Finalize invalidates
//     every session and handle. Some modules, SoftHSM2 among them, only
//     notice new tokens in C_Initialize. A module is re-initialised when its
//     slots answer with errors, when a card is asked for that is not present
//     and the module has no removable slots, and every 2 s by the poller
//     between operations on such a module, but never more than once a
//     second whatever asks, so a page polling for a missing card cannot
//     make a module start over on every request. A module that is slow or
//     busy is never re-initialised from a request, and a card the module
//     does not recognise (CKR_TOKEN_NOT_RECOGNIZED) is reported as
//     unsupported, not taken for an error to re-initialise on.
//
// And the addressing rules:
//
//   - A card is addressed by its token serial, never by slot ID: slot IDs
//     change when a card is reinserted (SoftHSM2 even renumbers a slot when
//     its token is initialised). Every operation looks the serial up afresh.
//     Where cards share a serial (every tpm2-pkcs11 token of one TPM, NSS's
//     two slots), each is named by its serial, a dash and six hex digits
//     from its module's file name and its label, which stay the same across
//     restarts (cardid.go); a unique serial is its own name. Names are given
//     after a scan keeps one slot per PC/SC reader (several modules may
//     drive one reader; see onePerReader), so a card seen through two
//     modules is one card, not two with a shared serial.
//
//   - A module is given as "PATH" or "PATH;ARGS": ARGS go to C_Initialize
//     as pReserved, as p11-kit's x-init-reserved does (NSS softokn needs
//     its database there). Discover reads p11-kit's configuration the way
//     p11-kit does for a program named cardbridge (p11kit.go).
//
//   - A key is addressed by CKA_ID, never by object handle: handles live only
//     as long as the session that found them. PIV cards keep keys in fixed
//     slots named by CKA_ID (1 = 9a, 2 = 9c, 3 = 9d); keys go there by
//     purpose, written as security officer with the management key
//     (piv.go).
//
//   - Each operation opens its own session and closes it at the end. Opening
//     a session is cheap, and a card that was removed and reinserted needs no
//     repair: the next operation simply finds it again.
//
//   - A Session is valid only inside Manager.Do. Afterwards it, and any
//     Signer taken from it, answer ErrSessionClosed.
//
//   - Private keys may be invisible before login. Whether a key exists is
//     decided from its public key or certificate object, before any PIN is
//     asked for.
//
//   - The PIN is asked for before the card is locked, so that a dialog
//     waiting for the user holds up nobody else.
//
//   - A PIN outside the token's length limits is refused before C_Login so no
//     retry is used, and a refused PIN is never retried by this package.
//
//   - A key with CKA_ALWAYS_AUTHENTICATE gets a CKU_CONTEXT_SPECIFIC login
//     after each C_SignInit, with the PIN the user typed once for the
//     request. The PIN lives only in that request's session state.
//
// Every CKR_* code is turned into a typed error in exactly one place,
// mapError in errors.go.
package token
