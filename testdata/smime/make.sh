#!/bin/sh
# make.sh rebuilds the S/MIME corpus in this directory from the committed
# test keys in keys/ (made here once, if missing). Every message is made by a
# program cardbridge did not write: openssl smime and cms, with and without
# -stream, gpgsm and pkijs (web-extension/test/tools/smime-encrypt.mjs; it
# writes ECDH with user keying material, which openssl does not). The Go
# generator in gen/ breaks copies of them in known ways.
#
# Run from anywhere: testdata/smime/make.sh. Needs openssl, gpgsm, node with
# web-extension's devDependencies installed (npm ci), and go.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$here"
k=keys
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# --- keys: a CA and one recipient per key type, valid for a century ---------
if [ ! -f $k/ca.pem ]; then
	mkdir -p $k
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout $k/ca.key -out $k/ca.pem \
		-days 36500 -subj "/O=cardbridge test/CN=cardbridge test mail CA" \
		-addext basicConstraints=critical,CA:true -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
	for r in rsa:rsa:2048 p256:ec:P-256 p384:ec:P-384 p521:ec:P-521 other:rsa:2048; do
		name=${r%%:*}; rest=${r#*:}; type=${rest%%:*}; size=${rest#*:}
		if [ "$type" = rsa ]; then
			openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:$size -out $k/$name.key 2>/dev/null
			usage=digitalSignature,keyEncipherment
		else
			openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:$size -out $k/$name.key
			usage=digitalSignature,keyAgreement
		fi
		openssl req -new -key $k/$name.key -subj "/CN=Alice $name" -out "$tmp/$name.csr"
		printf 'subjectAltName=email:alice-%s@example.org\nkeyUsage=critical,%s\nextendedKeyUsage=emailProtection\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n' \
			"$name" "$usage" >"$tmp/ext"
		openssl x509 -req -in "$tmp/$name.csr" -CA $k/ca.pem -CAkey $k/ca.key -CAcreateserial -days 36500 \
			-extfile "$tmp/ext" -out $k/$name.pem 2>/dev/null
	done
	rm -f $k/ca.srl
fi

# --- the plaintext: a MIME entity over 3 KiB, so that streams have chunks --
{
	printf 'Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n'
	printf 'The quarterly numbers, as promised. Za\305\274\303\263\305\202\304\207 g\304\231\305\233l\304\205 ja\305\272\305\204.\r\n'
	i=0
	while [ $i -lt 60 ]; do
		printf 'line %02d: the quick brown fox jumps over the lazy dog\r\n' $i
		i=$((i + 1))
	done
} >plain.txt

rm -rf good damaged signed
mkdir good damaged signed
hdr() { printf 'From: Bob <bob@example.org>\r\nTo: alice-%s@example.org\r\nSubject: %s\r\nMIME-Version: 1.0\r\n' "$1" "$2"; }
# mail RECIPIENT SUBJECT DER-FILE: a CMS blob as an application/pkcs7-mime mail.
mail() {
	hdr "$1" "$2"
	printf 'Content-Type: application/pkcs7-mime; smime-type=%s; name=smime.p7m\r\n' "${4:-enveloped-data}"
	printf 'Content-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename=smime.p7m\r\n\r\n'
	base64 -w 76 "$3" | sed 's/$/\r/'
}

# --- openssl: its own S/MIME output, headers and all ------------------------
o() { # NAME RECIPIENT smime|cms openssl-args...: for cms, -keyopt follows -recip
	name=$1; rcpt=$2; cmd=$3; shift 3
	shift # -encrypt, which must come before -recip
	if [ "$cmd" = smime ]; then set -- "$@" $k/$rcpt.pem; else set -- -recip $k/$rcpt.pem "$@"; fi
	openssl $cmd -encrypt -in plain.txt -binary -from "Bob <bob@example.org>" -to "alice-$rcpt@example.org" \
		-subject "$name" "$@" >good/$name.eml
	echo "$name.eml $rcpt ok" >>"$tmp/manifest"
}
o openssl-smime-aes256 rsa smime -encrypt -aes256
o openssl-smime-aes128-stream rsa smime -encrypt -aes128 -stream
o openssl-smime-aes256-stream rsa smime -encrypt -aes256 -stream
o openssl-cms-aes128-cbc rsa cms -encrypt -aes-128-cbc
o openssl-cms-aes256-cbc-stream rsa cms -encrypt -aes-256-cbc -stream
o openssl-cms-oaep-sha256 rsa cms -encrypt -aes-256-cbc -keyopt rsa_padding_mode:oaep -keyopt rsa_oaep_md:sha256
o openssl-cms-oaep-sha256-stream rsa cms -encrypt -aes-128-cbc -stream -keyopt rsa_padding_mode:oaep -keyopt rsa_oaep_md:sha256
o openssl-cms-oaep-sha1-gcm rsa cms -encrypt -aes-256-gcm -keyopt rsa_padding_mode:oaep
o openssl-cms-gcm rsa cms -encrypt -aes-256-gcm
o openssl-cms-gcm128-stream rsa cms -encrypt -aes-128-gcm -stream
o openssl-cms-keyid rsa cms -encrypt -aes-256-cbc -stream -keyid
for c in p256 p384 p521; do
	o openssl-cms-ecdh-$c-cbc $c cms -encrypt -aes-256-cbc
	o openssl-cms-ecdh-$c-gcm-stream $c cms -encrypt -aes-256-gcm -stream
done
o openssl-cms-ecdh-p256-keyid p256 cms -encrypt -aes-128-cbc -keyid
o openssl-cms-ecdh-p384-sha384kdf p384 cms -encrypt -aes-256-cbc -keyopt ecdh_kdf_md:sha384

# --- gpgsm (RSA only: 2.2 cannot encrypt to EC keys) ------------------------
export GNUPGHOME="$tmp/gnupg"
mkdir -m 700 "$GNUPGHOME"
echo disable-crl-checks >"$GNUPGHOME/gpgsm.conf"
echo allow-loopback-pinentry >"$GNUPGHOME/gpg-agent.conf"
gpgsm --batch --quiet --import $k/ca.pem 2>/dev/null
# gpgsm 2.2 reads only the legacy PKCS #12 ciphers.
openssl pkcs12 -export -legacy -inkey $k/rsa.key -in $k/rsa.pem -passout pass:x -out "$tmp/rsa.p12"
echo x | gpgsm --batch --quiet --pinentry-mode loopback --passphrase-fd 0 --import "$tmp/rsa.p12" 2>/dev/null
fpr=$(gpgsm --with-colons --fingerprint "cardbridge test mail CA" | awk -F: '/^fpr/ {print $10; exit}')
echo "$fpr S relax" >"$GNUPGHOME/trustlist.txt"
for cipher in AES AES256; do
	name=gpgsm-$(echo $cipher | tr A-Z a-z)
	gpgsm --batch --quiet --cipher-algo $cipher --recipient alice-rsa@example.org --output "$tmp/$name.der" --encrypt plain.txt
	mail rsa "$name" "$tmp/$name.der" >good/$name.eml
	echo "$name.eml rsa ok" >>"$tmp/manifest"
done
# Signed by gpgsm: opaque signed-data; and multipart/signed, as mail
# clients send it, which is then encrypted (sign, then encrypt).
gs() { echo x | gpgsm --batch --quiet --pinentry-mode loopback --passphrase-fd 0 --local-user alice-rsa@example.org "$@" 2>/dev/null; }
gs --sign --output "$tmp/opaque.der" plain.txt
mail rsa gpgsm-signed-data "$tmp/opaque.der" signed-data >signed/gpgsm-signed-data.eml
gs --detach-sign --output "$tmp/detached.der" plain.txt
{
	hdr rsa gpgsm-multipart-signed
	printf 'Content-Type: multipart/signed; protocol="application/pkcs7-signature"; micalg=sha-256; boundary="=-gpgsm"\r\n\r\n'
	printf -- '--=-gpgsm\r\n'
	cat plain.txt
	printf '\r\n--=-gpgsm\r\nContent-Type: application/pkcs7-signature; name=smime.p7s\r\nContent-Transfer-Encoding: base64\r\n\r\n'
	base64 -w 76 "$tmp/detached.der" | sed 's/$/\r/'
	printf -- '--=-gpgsm--\r\n'
} >signed/gpgsm-multipart-signed.eml
gpgsm --batch --quiet --recipient alice-rsa@example.org --output "$tmp/se.der" --encrypt signed/gpgsm-multipart-signed.eml
mail rsa gpgsm-signed-then-encrypted "$tmp/se.der" >good/gpgsm-signed-then-encrypted.eml
echo "gpgsm-signed-data.eml rsa invalid_params" >>"$tmp/manifest"
echo "gpgsm-multipart-signed.eml rsa invalid_params" >>"$tmp/manifest"
echo "gpgsm-signed-then-encrypted.eml rsa ok=signed/gpgsm-multipart-signed.eml" >>"$tmp/manifest"
gpgconf --kill all 2>/dev/null || true

# --- pkijs ---------------------------------------------------------------------
for job in rsa:oaep-sha256:AES-CBC:256 rsa:oaep-sha512:AES-CBC:256 rsa:oaep-sha1:AES-CBC:128 p256:ecdh-sha256:AES-CBC:256 p384:ecdh-sha384:AES-CBC:256 p521:ecdh-sha512:AES-CBC:128; do
	rcpt=${job%%:*}; rest=${job#*:}
	name=pkijs-$rcpt-$(echo "$rest" | tr 'A-Z:' 'a-z-')
	node "$root/web-extension/test/tools/smime-encrypt.mjs" $k/$rcpt.pem "$rest" plain.txt "$tmp/$name.der"
	mail "$rcpt" "$name" "$tmp/$name.der" >good/$name.eml
	echo "$name.eml $rcpt ok" >>"$tmp/manifest"
done

# pkijs's AES-GCM is not RFC 5084: GCM inside EnvelopedData, with a bare
# nonce for parameters and no tag field. openssl refuses it too.
node "$root/web-extension/test/tools/smime-encrypt.mjs" $k/rsa.pem oaep-sha256:AES-GCM:256 plain.txt "$tmp/pkijs-gcm.der"
mail rsa pkijs-gcm "$tmp/pkijs-gcm.der" >damaged/pkijs-gcm-in-enveloped-data.eml
echo "pkijs-gcm-in-enveloped-data.eml rsa invalid_params" >>"$tmp/manifest"

# --- signed mail: not encrypted, smime.decrypt must say so; and signed, then encrypted
openssl smime -sign -in plain.txt -signer $k/rsa.pem -inkey $k/rsa.key -from "Alice <alice-rsa@example.org>" -subject signed >signed/openssl-multipart-signed.eml
openssl smime -sign -nodetach -in plain.txt -signer $k/p256.pem -inkey $k/p256.key -subject signed-opaque >signed/openssl-signed-data.eml
echo "openssl-multipart-signed.eml rsa invalid_params" >>"$tmp/manifest"
echo "openssl-signed-data.eml p256 invalid_params" >>"$tmp/manifest"
# Sign, then encrypt, streaming.
openssl smime -encrypt -aes256 -stream -binary -in signed/openssl-multipart-signed.eml -subject signed-then-encrypted $k/rsa.pem \
	>good/openssl-signed-then-encrypted.eml
echo "openssl-signed-then-encrypted.eml rsa ok=signed/openssl-multipart-signed.eml" >>"$tmp/manifest"

# --- for a key that is not on the card --------------------------------------
openssl smime -encrypt -aes256 -in plain.txt -subject not-for-us $k/other.pem >damaged/not-for-us.eml
echo "not-for-us.eml other key_not_found" >>"$tmp/manifest"

# --- the damaged copies --------------------------------------------------------
sort "$tmp/manifest" >manifest.txt
(cd "$root" && go run ./testdata/smime/gen testdata/smime)
