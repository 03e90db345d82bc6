#!/bin/sh
# revocation_pki.sh DIR ca | DIR leaves URL: the PKI of test_revocation.c,
# made with the openssl CLI ($OPENSSL), in two steps because the leaves'
# AIA OCSP URL names the port of a responder started in between.
#
#   ca:      root (CN=revo-root), int and int2 (issued by root), the OCSP
#            responder certificates ocsp (id-kp-OCSPSigning, by int) and
#            notocsp (no such EKU), and index.txt for `openssl ocsp`:
#            good 0x2001 valid, revoked 0x2002 revoked (keyCompromise).
#   leaves:  good, revoked, unknown (0x2003, not in the index), noaia (no
#            AIA) by int; under2 by int2. Each with AIA OCSP URL.
# Keys are EC P-256; certificates are valid from now for 30 days.
set -eu
dir=$1
step=$2
o=${OPENSSL:-openssl}
cd "$dir"

cert() { # NAME ISSUER SERIAL EXTENSIONS
	$o genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
		-out "$1.key" 2>/dev/null
	$o req -new -key "$1.key" -subj "/CN=$1" -out "$1.csr" 2>/dev/null
	printf '%s\n' "$4" >"$1.ext"
	$o x509 -req -in "$1.csr" -CA "$2.pem" -CAkey "$2.key" \
		-set_serial "$3" -days 30 -extfile "$1.ext" -out "$1.pem" \
		2>/dev/null
}

ca='basicConstraints=critical,CA:TRUE
keyUsage=critical,keyCertSign,cRLSign'
case $step in
ca)
	$o genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
		-out root.key 2>/dev/null
	$o req -x509 -new -key root.key -subj /CN=revo-root -days 30 \
		-addext 'basicConstraints=critical,CA:TRUE' \
		-addext 'keyUsage=critical,keyCertSign,cRLSign' \
		-out root.pem 2>/dev/null
	cert int root 0x1001 "$ca"
	cert int2 root 0x1002 "$ca"
	cert ocsp int 0x2005 'basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=OCSPSigning'
	cert notocsp int 0x2006 'basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=clientAuth'
	t=$(printf '\t')
	{
		echo "V${t}491231235959Z${t}${t}2001${t}unknown${t}/CN=good"
		echo "R${t}491231235959Z${t}260101000000Z,keyCompromise${t}2002${t}unknown${t}/CN=revoked"
	} >index.txt
	;;
leaves)
	url=$3
	leaf="basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=clientAuth
authorityInfoAccess=OCSP;URI:$url"
	cert good int 0x2001 "$leaf"
	cert revoked int 0x2002 "$leaf"
	cert unknown int 0x2003 "$leaf"
	cert noaia int 0x2004 'basicConstraints=CA:FALSE'
	cert under2 int2 0x3001 "$leaf"
	;;
*)
	echo "usage: revocation_pki.sh DIR ca | DIR leaves URL" >&2
	exit 2
	;;
esac
