#!/bin/sh
# crosssign.sh DIR: the DST Root CA X3 / ISRG Root X1 case for verify.t,
# made with the openssl CLI: "Old Root" (valid one year from now), "New
# Root" (20 years), the intermediate "R3" twice with one key (signed by
# New Root in r3new.pem, cross-signed by Old Root in r3cross.pem),
# inter.pem = r3cross then r3new (as a server sends it), and leaf.pem
# (www.example.test) under R3. Verified two years from now, when Old Root
# has expired: DIR/at (RFC 3339) and DIR/attime (Unix time) hold that time.
set -eu
cd "$1"
k="-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes"
ca="-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign"
# shellcheck disable=SC2086
openssl req -x509 $k -keyout old.key -out old.pem -days 365 -subj "/CN=Old Root" $ca 2>/dev/null
# shellcheck disable=SC2086
openssl req -x509 $k -keyout new.key -out new.pem -days 7300 -subj "/CN=New Root" $ca 2>/dev/null
# shellcheck disable=SC2086
openssl req -new $k -keyout r3.key -out r3.csr -subj "/CN=R3" 2>/dev/null
printf '%s\n' basicConstraints=critical,CA:TRUE keyUsage=critical,keyCertSign \
	subjectKeyIdentifier=hash authorityKeyIdentifier=keyid:always >ca.ext
openssl x509 -req -in r3.csr -CA new.pem -CAkey new.key -out r3new.pem -days 7000 -extfile ca.ext 2>/dev/null
openssl x509 -req -in r3.csr -CA old.pem -CAkey old.key -out r3cross.pem -days 7000 -extfile ca.ext 2>/dev/null
# shellcheck disable=SC2086
openssl req -new $k -keyout leaf.key -out leaf.csr -subj "/CN=www.example.test" 2>/dev/null
printf '%s\n' subjectAltName=DNS:www.example.test extendedKeyUsage=serverAuth \
	authorityKeyIdentifier=keyid basicConstraints=critical,CA:FALSE \
	keyUsage=critical,digitalSignature >leaf.ext
openssl x509 -req -in leaf.csr -CA r3new.pem -CAkey r3.key -out leaf.pem -days 6000 -extfile leaf.ext 2>/dev/null
cat r3cross.pem r3new.pem >inter.pem
cat old.pem new.pem >roots.pem
t=$(($(date +%s) + 2 * 365 * 86400))
echo "$t" >attime
date -u -d "@$t" +%Y-%m-%dT%H:%M:%SZ >at
