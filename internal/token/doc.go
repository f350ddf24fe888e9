// Package token is cardbridge's only door to PKCS#11. It loads one or more
// modules, finds cards by their serial number (the "card number" users see),
// generates keys on them, and signs with them.
//
// # Sessions and login
//
// The rules below come from the PKCS#11 specification and from what real
// modules do; every function in this package keeps them.
//
//   - A card is addressed by its token serial, never by slot ID: slot IDs
//     change when a card is reinserted (SoftHSM2 even renumbers a slot when
//     its token is initialised). Every operation looks the serial up afresh.
//
//   - A key is addressed by CKA_ID, never by object handle: handles live only
//     as long as the session that found them.
//
//   - Login state belongs to the token and the process, not to a session. A
//     second C_Login gives CKR_USER_ALREADY_LOGGED_IN, which counts as success,
//     and one C_Logout ends the login for every session of the process. So
//     every operation that logs in or writes holds the card's mutex, and one
//     that logs in always logs out before it releases the card. No login
//     outlives the operation that asked for it, so no other site can ride on
//     it (and a second site's wrong PIN can never pass as "already logged
//     in"). Reads that need no login (listing keys) skip the mutex on modules
//     that compute in parallel, and take it on every other module.
//
//   - A batch of signatures runs in several sessions of the same login when
//     the module computes in parallel. No PKCS#11 flag tells that, so it is
//     decided by the module's manufacturer: SoftHSM2 does; smart cards, and
//     every module not known to, are used one operation at a time.
//
//   - Each operation opens its own session and closes it at the end. Opening
//     a session is cheap, and a card that was removed and reinserted needs no
//     repair: the next operation simply finds it again.
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
//   - Some modules, SoftHSM2 among them, only notice new tokens in
//     C_Initialize. When a serial cannot be found, or a slot reports an error,
//     the module is re-initialised, under a lock that waits for operations in
//     flight; callers that race for it share one re-initialisation.
//
//   - A scan of the slots is reused for 250 ms and a card's key list for a
//     second: pages poll, and on a real reader each is PC/SC traffic. Both
//     are dropped at once when a module is re-initialised or when an
//     exclusive operation on a card ends or any operation fails. The PIN
//     state that decides a login is always read fresh.
//
// Every CKR_* code is turned into a typed error in exactly one place,
// mapError in errors.go.
package token
