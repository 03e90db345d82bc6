#!/usr/bin/env python3
"""name_constraints.py: generated name-constraint cases (issue 13), with
`openssl verify` as the oracle. Run by name_constraints.sh.

    python3 name_constraints.py CERTKIT PKI_DIR WORK_DIR

For every group of GROUPS it makes one CA below the test PKI's root-ca with a
critical nameConstraints extension (its own key, its own name), then a leaf
per case, all with `openssl req -x509 -CA` (made now, valid 30 days). Then, at
one pinned time T (now + 120 s, given to both):

  1. `openssl verify -attime T -CAfile root-ca.pem -untrusted ALLCAS` over
     every leaf (one run) gives each leaf's verdict and error number;
     it must be the table's `want` (OK, 47 permitted or 48 excluded
     subtree violation): the table is what RFC 5280 4.2.1.10 says, and
     where OpenSSL reads it its own way the case's note says so;
  2. `certkit verify --at T --json` and the text report, under
     --policy compat and --policy strict (four runs, every leaf in each),
     and `--each --json` over one bundle of every leaf (two more),
     must agree with the oracle: same accept/refuse; a refusal's error
     findings are exactly {name_constraints}, whose openssl_error.code is
     the oracle's error number. A case whose `strict` field is set is a
     deliberate difference: strict adds those error codes (the rule the
     field's reason gives), and compat shows them as warnings; a case
     with `alt` set is one certkit accepts by another path (the "twin"
     group: OpenSSL does not backtrack), with the info finding
     alternate_path; in every other case both policies give the same
     verdict and codes, and no warning. A refusal's finding must name the
     names outside (evidence "outside", the table's `bad`) and every
     constraint of the chain's CAs, IP ones as prefixes.

Leaves share one key; CAs do not (a shared key would let path building
chain a leaf to another group's CA). DNS and IP leaves have the CN "nc leaf
N", which is no host name, so only their SANs count; email leaves have no CN
(strict's cn_only_name is for CN host names).
"""
import datetime
import ipaddress
import json
import os
import re
import subprocess
import sys
import time

OK, PERM, EXCL = 0, 47, 48
WANT_TEXT = {OK: "valid", PERM: "47 (permitted subtree violation)",
             EXCL: "48 (excluded subtree violation)"}


def case(cid, san=(), cn=None, email=None, want=OK, strict=(), why=None,
         note=None, bad=None, alt=False):
    """One leaf. san: subjectAltName entries; cn: None gives "nc leaf N"
    (no host name), "" no CN; email: a subject emailAddress; want: the
    verdict; strict: error codes --policy strict adds, why: the reason;
    note: how OpenSSL reads the case, where that needs saying; bad: for a
    refusal, the names certkit must name as outside (its "outside"
    evidence), by default the SANs; alt: certkit accepts, under both
    policies, what OpenSSL refuses, by another path (why: the reason)."""
    assert not (strict or alt) or why, cid
    return dict(id=cid, san=list(san), cn=cn, email=email, want=want,
                strict=tuple(strict), why=why, note=note,
                bad=list(san) if bad is None else bad, alt=alt)


WILD_PSL = ("a wildcard over the public suffix 'com' (BR 3.2.2.6): "
            "wildcard_public_suffix")
CN_ONLY = ("no DNS or IP SAN: the host name only in the CN, which Chrome, "
           "Go and rustls refuse (RFC 6125 6.4.4): cn_only_name")
DNS_SYNTAX = ("a trailing dot is an empty label: no dNSName in the preferred "
              "name syntax (RFC 5280 4.2.1.6, RFC 1034 3.5), which Go "
              "refuses under name constraints: dns_name_malformed")
TEXT_CMP = ("OpenSSL compares the name as text: the wildcard label is "
            "a literal '*'")

GROUPS = [
    ("dns-host", ["permitted;DNS:host.example.com"], [
        case("exact", ["DNS:host.example.com"]),
        case("sub", ["DNS:a.host.example.com"],
             note="no leading dot: labels may be added on the left"),
        case("deep", ["DNS:a.b.host.example.com"]),
        case("case", ["DNS:HOST.Example.COM"]),
        case("wild-inside", ["DNS:*.host.example.com"]),
        case("wild-wider", ["DNS:*.example.com"], want=PERM,
             note="the wildcard covers names outside host.example.com"),
        case("not-label", ["DNS:xhost.example.com"], want=PERM),
        case("parent", ["DNS:example.com"], want=PERM),
        case("sibling", ["DNS:other.example.com"], want=PERM),
        case("suffix-attack", ["DNS:host.example.com.evil.test"], want=PERM),
        case("trailing-dot", ["DNS:host.example.com."], want=PERM,
             strict=["dns_name_malformed"], why=DNS_SYNTAX,
             note="the absolute form is another string to OpenSSL"),
        case("one-out", ["DNS:host.example.com", "DNS:evil.test"],
             want=PERM, note="every name must be inside",
             bad=["DNS:evil.test"]),
    ]),
    ("dns-dot", ["permitted;DNS:.example.com"], [
        case("apex", ["DNS:example.com"], want=PERM,
             note="the '.example.com' form leaves out example.com itself"),
        case("sub", ["DNS:a.example.com"]),
        case("deep", ["DNS:a.b.example.com"]),
        case("case", ["DNS:A.EXAMPLE.COM"]),
        case("wild", ["DNS:*.example.com"]),
        case("wild-deep", ["DNS:*.a.example.com"]),
        case("wild-suffix", ["DNS:*.com"], want=PERM, strict=["wildcard_public_suffix"],
             why=WILD_PSL),
        case("not-label", ["DNS:aexample.com"], want=PERM),
        case("suffix-attack", ["DNS:example.com.evil.test"], want=PERM),
        case("trailing-dot", ["DNS:a.example.com."], want=PERM,
             strict=["dns_name_malformed"], why=DNS_SYNTAX,
             note="the absolute form is another string to OpenSSL"),
    ]),
    ("dns-bare", ["permitted;DNS:example.com"], [
        case("apex", ["DNS:example.com"]),
        case("sub", ["DNS:a.example.com"]),
        case("wild", ["DNS:*.example.com"]),
        case("case", ["DNS:Example.Com"]),
        case("not-label", ["DNS:notexample.com"], want=PERM),
        case("longer-tld", ["DNS:example.com.au"], want=PERM),
        case("wild-wider", ["DNS:*.com"], want=PERM, strict=["wildcard_public_suffix"],
             why=WILD_PSL),
    ]),
    ("dns-excl", ["excluded;DNS:bad.example.com",
                  "excluded;DNS:.corp.example.com"], [
        case("exact", ["DNS:bad.example.com"], want=EXCL),
        case("sub", ["DNS:x.bad.example.com"], want=EXCL),
        case("case", ["DNS:BAD.Example.com"], want=EXCL),
        case("wild-inside", ["DNS:*.bad.example.com"], want=EXCL),
        case("wild-over", ["DNS:*.example.com"],
             note=TEXT_CMP + ", so a wildcard that also covers "
             "bad.example.com is not excluded; Chrome's verifier counts "
             "such an overlap as excluded, certkit strict does not (no "
             "RFC 5280 or BR rule says so)"),
        case("not-label", ["DNS:notbad.example.com"]),
        case("sibling", ["DNS:good.example.com"]),
        case("dot-apex", ["DNS:corp.example.com"],
             note="the '.corp.example.com' form leaves out the domain"),
        case("dot-sub", ["DNS:a.corp.example.com"], want=EXCL),
        case("trailing-dot", ["DNS:bad.example.com."],
             strict=["dns_name_malformed"], why=DNS_SYNTAX,
             note="the absolute form is another string to OpenSSL, so "
             "it escapes the exclusion"),
        case("one-in", ["DNS:good.example.com", "DNS:bad.example.com"],
             want=EXCL, bad=["DNS:bad.example.com"]),
        case("ip-only", ["IP:192.0.2.1"],
             note="no DNS name, and the CN is no host name"),
    ]),
    ("dns-mixed", ["permitted;DNS:.example.com",
                   "excluded;DNS:.bad.example.com"], [
        case("inside", ["DNS:a.example.com"]),
        case("excluded", ["DNS:x.bad.example.com"], want=EXCL),
        case("excl-apex", ["DNS:bad.example.com"]),
        case("outside", ["DNS:a.example.net"], want=PERM),
        case("wild-excl", ["DNS:*.bad.example.com"], want=EXCL),
    ]),
    ("cn", ["permitted;DNS:.example.com", "permitted;IP:192.0.2.0/24"], [
        case("cn-inside", cn="a.example.com", strict=["cn_only_name"],
             why=CN_ONLY),
        case("cn-outside", cn="evil.test", want=PERM, strict=["cn_only_name"],
             why=CN_ONLY, bad=["CN:evil.test"],
             note="with no DNS SAN OpenSSL checks a host-name CN"),
        case("cn-apex", cn="example.com", want=PERM, strict=["cn_only_name"],
             why=CN_ONLY, bad=["CN:example.com"]),
        case("cn-not-host", cn="Camera 7", strict=["cn_only_name"],
             why=CN_ONLY, note="a CN that is no host name is not checked"),
        case("cn-out-san-in", ["DNS:a.example.com"], cn="evil.test",
             note="a DNS SAN: the CN is not checked"),
        case("cn-in-san-out", ["DNS:evil.test"], cn="a.example.com",
             want=PERM),
        case("cn-out-ip-san", ["IP:192.0.2.7"], cn="evil.test", want=PERM,
             bad=["CN:evil.test"],
             note="no DNS SAN (an IP one): OpenSSL checks the CN"),
        case("cn-in-ip-san", ["IP:192.0.2.7"], cn="a.example.com"),
    ]),
    ("ip4", ["permitted;IP:192.0.2.0/24", "permitted;IP:10.0.0.0/8",
             "permitted;IP:198.51.100.7/32"], [
        case("in-24", ["IP:192.0.2.1"]),
        case("top-24", ["IP:192.0.2.255"]),
        case("base-24", ["IP:192.0.2.0"]),
        case("above-24", ["IP:192.0.3.0"], want=PERM),
        case("below-24", ["IP:192.0.1.255"], want=PERM),
        case("in-8", ["IP:10.255.255.255"]),
        case("above-8", ["IP:11.0.0.0"], want=PERM),
        case("host-32", ["IP:198.51.100.7"]),
        case("next-32", ["IP:198.51.100.8"], want=PERM),
        case("v6-leaf", ["IP:2001:db8::1"], want=PERM,
             note="an IPv6 address is in no IPv4 subtree"),
        case("mapped-leaf", ["IP:::ffff:192.0.2.1"], want=PERM,
             bad=["IP:::ffff:192.0.2.1"],
             note="a v4-mapped IPv6 address is 16 octets, not 4"),
        case("dns-only", ["DNS:anything.example"],
             note="no IP SAN: IP subtrees do not restrict DNS names"),
        case("one-out", ["IP:192.0.2.1", "IP:203.0.113.1"], want=PERM,
             bad=["IP:203.0.113.1"]),
    ]),
    ("ip4-excl", ["excluded;IP:10.0.0.0/8", "excluded;IP:192.0.2.128/25"], [
        case("in-8", ["IP:10.1.2.3"], want=EXCL),
        case("below-8", ["IP:9.255.255.255"]),
        case("below-25", ["IP:192.0.2.127"]),
        case("base-25", ["IP:192.0.2.128"], want=EXCL),
        case("top-25", ["IP:192.0.2.255"], want=EXCL),
        case("v6-leaf", ["IP:2001:db8::1"]),
    ]),
    ("ip4-all", ["permitted;IP:0.0.0.0/0"], [
        case("any-v4", ["IP:203.0.113.9"]),
        case("broadcast", ["IP:255.255.255.255"]),
        case("v6-leaf", ["IP:2001:db8::1"], want=PERM,
             note="0.0.0.0/0 permits every IPv4 address, no IPv6 one"),
    ]),
    ("ip4-none", ["excluded;IP:0.0.0.0/0"], [
        case("any-v4", ["IP:203.0.113.9"], want=EXCL),
        case("v6-leaf", ["IP:2001:db8::1"]),
        case("dns-only", ["DNS:host.example"]),
    ]),
    ("ip6", ["permitted;IP:2001:db8:1::/64",
             "permitted;IP:2001:db8:ffff::1/128"], [
        case("in-64", ["IP:2001:db8:1::1"]),
        case("top-64", ["IP:2001:db8:1:0:ffff:ffff:ffff:ffff"]),
        case("upper", ["IP:2001:DB8:1::AB"]),
        case("next-64", ["IP:2001:db8:1:1::"], want=PERM),
        case("prev-64", ["IP:2001:db8:0:ffff:ffff:ffff:ffff:ffff"], want=PERM),
        case("host-128", ["IP:2001:db8:ffff::1"]),
        case("next-128", ["IP:2001:db8:ffff::2"], want=PERM),
        case("v4-leaf", ["IP:192.0.2.1"], want=PERM,
             note="an IPv4 address is in no IPv6 subtree"),
    ]),
    ("ip6-mapped", ["permitted;IP:::ffff:192.0.2.0/120"], [
        case("v4-leaf", ["IP:192.0.2.1"], want=PERM,
             note="a v4 leaf under a v4-mapped v6 constraint: 4 octets "
             "are not 16"),
        case("mapped-leaf", ["IP:::ffff:192.0.2.1"]),
        case("mapped-out", ["IP:::ffff:192.0.3.1"], want=PERM),
    ]),
    ("ip6-excl", ["excluded;IP:2001:db8::/32", "excluded;IP:::/0"], [
        case("any-v6", ["IP:2001:db9::1"], want=EXCL,
             note="::/0 excludes every IPv6 address"),
        case("in-32", ["IP:2001:db8:abcd::1"], want=EXCL),
        case("v4-leaf", ["IP:192.0.2.1"]),
    ]),
    ("ip6-excl32", ["excluded;IP:2001:db8::/32"], [
        case("in-32", ["IP:2001:db8:abcd::1"], want=EXCL),
        case("top-32", ["IP:2001:db8:ffff:ffff:ffff:ffff:ffff:ffff"],
             want=EXCL),
        case("next-32", ["IP:2001:db9::"]),
        case("v4-leaf", ["IP:192.0.2.1"]),
    ]),
    ("email-full", ["permitted;email:alice@example.com"], [
        case("exact", ["email:alice@example.com"], cn=""),
        case("host-case", ["email:alice@EXAMPLE.com"], cn=""),
        case("local-case", ["email:Alice@example.com"], cn="", want=PERM,
             note="the local part is case-sensitive (RFC 5280 4.2.1.10)"),
        case("other-local", ["email:bob@example.com"], cn="", want=PERM),
        case("subdomain", ["email:alice@a.example.com"], cn="", want=PERM),
    ]),
    ("email-host", ["permitted;email:example.com"], [
        case("any-local", ["email:x@example.com"], cn=""),
        case("host-case", ["email:x@Example.COM"], cn=""),
        case("subdomain", ["email:x@a.example.com"], cn="", want=PERM,
             note="a host form is that host only"),
        case("suffix-attack", ["email:x@example.com.evil.test"], cn="",
             want=PERM),
        case("not-label", ["email:x@notexample.com"], cn="", want=PERM),
    ]),
    ("email-dot", ["permitted;email:.example.com"], [
        case("sub", ["email:x@a.example.com"], cn=""),
        case("deep", ["email:x@a.b.example.com"], cn=""),
        case("apex", ["email:x@example.com"], cn="", want=PERM,
             note="the '.example.com' form is subdomains only"),
        case("not-label", ["email:x@aexample.com"], cn="", want=PERM),
        case("subj-in", cn="", email="x@a.example.com",
             note="a subject emailAddress, no SAN"),
        case("subj-out", cn="", email="x@evil.test", want=PERM,
             bad=["emailAddress:x@evil.test"]),
        case("subj-out-san-in", ["email:x@a.example.com"], cn="",
             email="x@evil.test", want=PERM,
             bad=["emailAddress:x@evil.test"],
             note="OpenSSL checks the subject emailAddress even beside "
             "an rfc822Name SAN"),
        case("subj-in-san-out", ["email:x@evil.test"], cn="",
             email="x@a.example.com", want=PERM),
    ]),
    ("email-excl", ["excluded;email:bad@example.com",
                    "excluded;email:.evil.test"], [
        case("exact", ["email:bad@example.com"], cn="", want=EXCL),
        case("other-local", ["email:good@example.com"], cn=""),
        case("dot-sub", ["email:x@a.evil.test"], cn="", want=EXCL),
        case("dot-apex", ["email:x@evil.test"], cn=""),
        case("subj", cn="", email="x@mail.evil.test", want=EXCL,
             bad=["emailAddress:x@mail.evil.test"]),
    ]),
    # The constrained CA has a twin: the same name and key, issued by the
    # root without constraints, after it in the intermediates (a CA
    # re-issued, or cross-signed). OpenSSL takes the first and does not go
    # back; certkit's path building tries the twin (issue 13).
    ("twin", ["permitted;DNS:.example.com"], [
        case("inside", ["DNS:a.example.com"]),
        case("outside", ["DNS:a.example.net"], want=PERM, alt=True,
             why="another chain, through the unconstrained twin, is valid: "
             "certkit reports it with the info finding alternate_path "
             "(first_failure name_constraints); OpenSSL 3.0 does not "
             "backtrack"),
    ]),
    # Two constrained CAs: the upper one's constraints reach the leaf
    # through the lower one, whose own are wider (RFC 5280 6.1.4 (g): the
    # permitted subtrees intersect, the excluded ones add up).
    ("nested", ["permitted;DNS:.example.com"], [
        case("inside", ["DNS:a.example.com"]),
        case("lower-excl", ["DNS:x.bad.example.com"], want=EXCL),
        case("upper-only", ["DNS:y.other.test"], want=PERM,
             note="the lower CA permits .other.test, the upper does not"),
    ], ["permitted;DNS:.example.com", "permitted;DNS:.other.test",
        "excluded;DNS:.bad.example.com"]),
]


def nc_value(entry):
    """permitted;IP:a/prefix -> permitted;IP:a/mask (openssl's syntax)."""
    kind, _, name = entry.partition(";")
    if name.startswith("IP:"):
        net = ipaddress.ip_network(name[3:], strict=False)
        name = "IP:%s/%s" % (net.network_address, net.netmask)
    return kind + ";" + name


def run(cmd, check=True):
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=120, text=True)
    if check and p.returncode != 0:
        sys.exit("%s: exit %d\n%s" % (" ".join(cmd), p.returncode, p.stderr))
    return p


def genkey(path):
    run(["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt",
         "ec_paramgen_curve:P-256", "-out", path])


def mkcert(out, key, subj, ca, cakey, days, exts):
    cmd = ["openssl", "req", "-x509", "-new", "-config", os.devnull,
           "-key", key, "-subj", subj, "-CA", ca, "-CAkey", cakey,
           "-days", str(days), "-sha256", "-out", out]
    for e in exts:
        cmd += ["-addext", e]
    run(cmd)


CA_EXTS = ["basicConstraints=critical,CA:TRUE",
           "keyUsage=critical,keyCertSign,cRLSign"]


def make_ca(work, pki, name, constraints, issuer=None):
    ca, key = os.path.join(work, name + ".pem"), os.path.join(work, name + ".key")
    genkey(key)
    up_ca, up_key = issuer or (os.path.join(pki, "root-ca.pem"),
                               os.path.join(pki, "root-ca.key"))
    nc = "nameConstraints=critical," + ",".join(nc_value(c) for c in constraints)
    mkcert(ca, key, "/O=certkit nc tests/CN=NC CA " + name, up_ca, up_key,
           3650, CA_EXTS + [nc])
    return ca, key


def make_twin(work, pki, name, key):
    """The CA `name` again, with its key, without name constraints."""
    twin = os.path.join(work, name + "-twin.pem")
    mkcert(twin, key, "/O=certkit nc tests/CN=NC CA " + name,
           os.path.join(pki, "root-ca.pem"), os.path.join(pki, "root-ca.key"),
           3650, CA_EXTS)
    return twin


def make_leaves(work, pki, leafkey):
    """Returns (CA files, in order, [(group, case, leaf path)])."""
    cas, twins, leaves, n = [], [], [], 0
    for g in GROUPS:
        gname, constraints, cases = g[0], g[1], g[2]
        ca = make_ca(work, pki, gname, constraints)
        cas.append(ca[0])
        if gname == "twin":
            twins.append(make_twin(work, pki, gname, ca[1]))
        if len(g) > 3:  # a lower CA below this one
            ca = make_ca(work, pki, gname + "-lower", g[3], issuer=ca)
            cas.append(ca[0])
        for c in cases:
            n += 1
            subj = "/O=certkit nc tests"
            cn = "nc leaf %d" % n if c["cn"] is None else c["cn"]
            if cn:
                subj += "/CN=" + cn
            if c["email"]:
                subj += "/emailAddress=" + c["email"]
            exts = ["basicConstraints=CA:FALSE",
                    "keyUsage=critical,digitalSignature",
                    "extendedKeyUsage=serverAuth"]
            if c["san"]:
                exts.append("subjectAltName=" + ",".join(c["san"]))
            path = os.path.join(work, "%s.%s.pem" % (gname, c["id"]))
            mkcert(path, leafkey, subj, ca[0], ca[1], 30, exts)
            leaves.append((g, c, path))
    return cas + twins, leaves


def oracle(pki, allcas, t, paths):
    """openssl verify over every leaf: {path: 0 or the error number}."""
    p = run(["openssl", "verify", "-attime", str(t), "-purpose", "sslserver",
             "-auth_level", "2", "-CAfile", os.path.join(pki, "root-ca.pem"),
             "-untrusted", allcas] + paths, check=False)
    verdict, errs = {}, []
    for line in p.stdout.splitlines():
        m = re.match(r"^(.*): OK$", line)
        if m:
            verdict[m.group(1)] = OK
    # stderr, in order: "error N at D depth lookup: ..." lines for a leaf,
    # then "error PATH: verification failed".
    for line in p.stderr.splitlines():
        m = re.match(r"^error (\d+) at \d+ depth lookup", line)
        if m:
            errs.append(int(m.group(1)))
            continue
        m = re.match(r"^error (.*): verification failed$", line)
        if m:
            verdict[m.group(1)] = errs[0] if errs else -1
            errs = []
    missing = [x for x in paths if x not in verdict]
    if missing:
        sys.exit("openssl verify gave no verdict for %s\n%s%s"
                 % (missing, p.stdout, p.stderr))
    return verdict


def certkit_run(certkit, pki, allcas, at, paths, policy, js, each=False):
    cmd = [certkit, "verify", "--roots", os.path.join(pki, "root-ca.pem"),
           "--untrusted", allcas, "--at", at, "--policy", policy]
    if js:
        cmd.append("--json")
    if each:
        cmd.append("--each")
    p = run(cmd + paths, check=False)
    if p.returncode not in (0, 1):
        sys.exit("%s: exit %d\n%s" % (" ".join(cmd), p.returncode, p.stderr))
    return p


def parse_json(out):
    """{file: (valid, error codes, warning codes, the name_constraints
    finding or None)}"""
    res = {}
    for r in json.loads(out)["results"]:
        errs = sorted(f["code"] for f in r["findings"]
                      if f["severity"] == "error")
        warns = sorted(f["code"] for f in r["findings"]
                       if f["severity"] == "warning")
        nc = [f for f in r["findings"] if f["code"] == "name_constraints"]
        alt = [f for f in r["findings"] if f["code"] == "alternate_path"]
        res[r["file"]] = (r["valid"], errs, warns, nc[0] if nc else None,
                          alt[0] if alt else None)
    return res


def parse_text(out):
    """{file: (valid, error codes, warning codes)} from the text report."""
    res, cur = {}, None
    for line in out.splitlines():
        m = re.match(r"^(\S.*): (OK|INVALID)$", line)
        if m:
            cur = [m.group(2) == "OK", [], []]
            res[m.group(1)] = cur
            continue
        m = re.match(r"^  (warning: )?([a-z0-9_]+) at depth=", line)
        if m and cur is not None:
            cur[2 if m.group(1) else 1].append(m.group(2))
    return {k: (v[0], sorted(v[1]), sorted(v[2])) for k, v in res.items()}


def expect(c, want, policy):
    """(valid, error codes, warning codes) certkit must give."""
    errs = [] if want == OK or c["alt"] else ["name_constraints"]
    extra = sorted(c["strict"])
    if policy == "strict":
        errs = sorted(set(errs) | set(extra))
        return (not errs, errs, [])
    return (want == OK or c["alt"], errs, extra)


def check_finding(c, constraints, f, got_ossl):
    """The name_constraints finding: OpenSSL's error number, the names
    outside (evidence "outside"), and the constraints named in the
    summary, in show's form ("IP:192.0.2.0/24")."""
    probs = []
    code = (f.get("openssl_error") or {}).get("code")
    if code != got_ossl:
        probs.append("openssl_error.code %s, openssl verify %d"
                     % (code, got_ossl))
    if f.get("outside") != c["bad"] or \
            f["evidence"].get("outside") != c["bad"]:
        probs.append("outside %s, expected %s" % (f.get("outside"), c["bad"]))
    for name in c["bad"] + [x.partition(";")[2] for x in constraints]:
        if name not in f["summary"]:
            probs.append("the summary does not name %s: %s"
                         % (name, f["summary"]))
    if all(x.startswith("excluded;") for x in constraints) and \
            "permits any name and excludes " not in f["summary"]:
        probs.append("the summary does not say 'permits any name and "
                     "excludes': %s" % f["summary"])
    return probs


def check_case(g, c, path, got_ossl, reports):
    """The problems of one case: [] when everything agrees."""
    probs = []
    if got_ossl != c["want"]:
        probs.append("openssl verify says %s, the table %s"
                     % (WANT_TEXT.get(got_ossl, got_ossl),
                        WANT_TEXT[c["want"]]))
    for (policy, kind), rep in sorted(reports.items()):
        got = rep.get(path)
        if got is None:
            probs.append("%s %s: no result" % (policy, kind))
            continue
        want = expect(c, got_ossl, policy)
        if got[:3] != want:
            probs.append("%s %s: valid=%s errors=%s warnings=%s, expected "
                         "valid=%s errors=%s warnings=%s"
                         % ((policy, kind) + tuple(got[:3]) + want))
        js = kind != "text"
        alt = got[4] if js else None
        first = ((alt or {}).get("evidence") or {}).get("first_failure")
        if js and c["alt"] and \
                (first or {}).get("code") != "name_constraints":
            probs.append("%s json: no alternate_path finding after "
                         "name_constraints: %s" % (policy, alt))
        if js and got_ossl != OK and got[3] is not None:
            probs += ["%s json: %s" % (policy, x) for x in
                      check_finding(c, g[1] + (g[3] if len(g) > 3 else []),
                                    got[3], got_ossl)]
    return probs


def main():
    certkit, pki, work = sys.argv[1:4]
    t0 = time.time()
    with open(os.path.join(work, "psl.dat"), "w") as f:
        f.write("// a few public suffixes for wildcard_public_suffix\n"
                "com\nnet\norg\ntest\nexample\nco.uk\n")
    os.environ["CERTKIT_PUBLIC_SUFFIX_LIST"] = os.path.join(work, "psl.dat")
    leafkey = os.path.join(work, "leaf.key")
    genkey(leafkey)
    cas, leaves = make_leaves(work, pki, leafkey)
    allcas = os.path.join(work, "all-cas.pem")
    with open(allcas, "w") as f:
        for ca in cas:
            f.write(open(ca).read())
    t1 = time.time()
    # Pinned: every certificate made above is valid at T, for both peers.
    t = int(time.time()) + 120
    at = datetime.datetime.fromtimestamp(t, datetime.timezone.utc) \
        .strftime("%Y-%m-%dT%H:%M:%SZ")
    paths = [x[2] for x in leaves]
    verdict = oracle(pki, allcas, t, paths)
    t2 = time.time()
    reports, rcs = {}, {}
    for policy in ("compat", "strict"):
        for kind in ("json", "text"):
            p = certkit_run(certkit, pki, allcas, at, paths, policy,
                            kind == "json")
            rcs[(policy, kind)] = p.returncode
            reports[(policy, kind)] = (parse_json(p.stdout) if kind == "json"
                                       else parse_text(p.stdout))
    # --each over one bundle of every leaf: "BUNDLE[N]" is leaf N.
    bundle = os.path.join(work, "bundle.pem")
    with open(bundle, "w") as f:
        for x in paths:
            f.write(open(x).read())
    for policy in ("compat", "strict"):
        p = certkit_run(certkit, pki, allcas, at, [bundle], policy, True,
                        each=True)
        rcs[(policy, "each")] = p.returncode
        reports[(policy, "each")] = {
            paths[int(k[len(bundle) + 1:-1]) - 1]: v
            for k, v in parse_json(p.stdout).items()}
    npass = nfail = 0
    for g, c, path in leaves:
        gname = g[0]
        probs = check_case(g, c, path, verdict[path], reports)
        label = "%s/%s: %s" % (gname, c["id"], WANT_TEXT[c["want"]])
        if c["strict"]:
            label += "; strict adds %s" % ",".join(c["strict"])
        if c["alt"]:
            label += "; certkit valid by another path"
        if probs:
            nfail += 1
            print("not ok - " + label)
            for pr in probs:
                print("  | " + pr)
        else:
            npass += 1
            print("ok - " + label)
    # The exit status: 1, as some leaves are refused under each policy.
    for k, rc in sorted(rcs.items()):
        if rc != 1:
            nfail += 1
            print("not ok - certkit verify %s %s exits %d, not 1" % (k + (rc,)))
    # And 0 over the leaves both policies accept.
    good = [x[2] for x in leaves if x[1]["want"] == OK and not x[1]["strict"]]
    for policy in ("compat", "strict"):
        rc = certkit_run(certkit, pki, allcas, at, good, policy, False) \
            .returncode
        if rc != 0:
            nfail += 1
            print("not ok - certkit verify --policy %s over the %d valid "
                  "leaves exits %d, not 0" % (policy, len(good), rc))
    t4 = time.time()
    print("# %d leaves under %d CAs: made in %.1f s, openssl verify %.1f s, "
          "certkit %.1f s" % (len(leaves), len(cas), t1 - t0, t2 - t1,
                              t4 - t2))
    print("%d passed, %d failed" % (npass, nfail))
    return 1 if nfail else 0


if __name__ == "__main__":
    sys.exit(main())
