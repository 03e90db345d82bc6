# agent_est.py: a stand-in EST primary (RFC 7030 subset) for agent_life.sh,
# until `certkit serve` has the enrollment routes. Python's ssl on
# 127.0.0.1, signing with the openssl CLI.
#
#   agent_est.py PORTFILE CERT KEY CA_CERT CA_KEY CACERTS_PEM DIR
#
# Behaviour is steered by files in DIR: "approve" (pending until it
# exists), "reject" (403 client_rejected), "revoked" (heartbeat 403
# client_revoked). Every request is appended to DIR/requests.log.
import base64, http.server, json, os, ssl, subprocess, sys, tempfile

portfile, cert, key, ca, cakey, cacerts, d = sys.argv[1:8]


def p7(pem_path):
    der = subprocess.run(["openssl", "crl2pkcs7", "-nocrl", "-certfile",
                          pem_path, "-outform", "DER"], check=True,
                         capture_output=True).stdout
    return base64.b64encode(der)


def sign(csr_der):
    with tempfile.TemporaryDirectory() as t:
        open(t + "/req.der", "wb").write(csr_der)
        open(t + "/ext", "w").write("extendedKeyUsage=clientAuth\n"
                                    "basicConstraints=CA:FALSE\n")
        subprocess.run(["openssl", "x509", "-req", "-inform", "DER", "-in",
                        t + "/req.der", "-CA", ca, "-CAkey", cakey,
                        "-set_serial", "0x" + os.urandom(16).hex(), "-days",
                        "90", "-copy_extensions", "copy", "-extfile",
                        t + "/ext", "-out", t + "/leaf.pem"], check=True,
                       capture_output=True)
        return p7(t + "/leaf.pem")


class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def send(self, code, ctype, body, extra=()):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def log(self):
        peer = self.connection.getpeercert()
        with open(d + "/requests.log", "a") as f:
            f.write("%s %s cert=%s auth=%s\n" % (
                self.command, self.path, "yes" if peer else "no",
                self.headers.get("Authorization", "-")))

    def problem(self, code, typ):
        self.send(code, "application/problem+json", json.dumps(
            {"type": typ, "code": typ, "status": code, "title": typ,
             "detail": typ.replace("_", " ")}).encode())

    def do_GET(self):
        self.log()
        if self.path == "/.well-known/est/cacerts":
            return self.send(200, "application/pkcs7-mime", p7(cacerts))
        self.problem(404, "not_found")

    def do_POST(self):
        self.log()
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.path == "/api/v1/heartbeat":
            if os.path.exists(d + "/revoked"):
                return self.problem(403, "client_revoked")
            json.loads(body)
            return self.send(200, "application/json", b'{"state":"approved"}')
        if self.path not in ("/.well-known/est/simpleenroll",
                             "/.well-known/est/simplereenroll"):
            return self.problem(404, "not_found")
        if self.path.endswith("simplereenroll") and \
                not self.connection.getpeercert():
            return self.problem(401, "client_cert_required")
        csr = base64.b64decode(body)
        if os.path.exists(d + "/reject"):
            return self.problem(403, "client_rejected")
        if self.path.endswith("simpleenroll") and \
                not os.path.exists(d + "/approve"):
            return self.send(202, "application/json",
                             b'{"state":"pending"}', [("Retry-After", "1")])
        self.send(200, "application/pkcs7-mime; smime-type=certs-only",
                  sign(csr))


ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
ctx.verify_mode = ssl.CERT_OPTIONAL
ctx.load_verify_locations(cacerts)
srv = http.server.HTTPServer(("127.0.0.1", 0), H)
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
open(portfile + ".tmp", "w").write(str(srv.server_address[1]))
os.rename(portfile + ".tmp", portfile)
srv.serve_forever()
