# The tool's own surface: help, version, unknown commands.

name: --help lists the commands and the exit codes
run: $CERTKIT --help
stdout: usage: certkit
stdout: Exit codes: 0 ok, 1 problem found, 2 usage or input error.

name: --version names OpenSSL
run: $CERTKIT --version
stdout: OpenSSL 3

name: an unknown command is a usage error
run: $CERTKIT frobnicate
exit: 2
stderr: 'frobnicate' is not a certkit command

name: no command is a usage error
run: $CERTKIT
exit: 2
stderr: usage: certkit

name: when the reader of its output goes away (| head), certkit stops as a filter does: SIGPIPE, not working on to the end
run: for i in $(seq 300); do cat $PKI/chain.pem; done > $T/big.pem
run: ( $CERTKIT show --at 2026-06-01T00:00:00Z $T/big.pem; echo "status=$?" >&2 ) | head -c 1 >/dev/null
stderr: status=141

name: an output that is still read (a file, /dev/null) never counts as a reader gone away
run: ( $CERTKIT show --at 2026-06-01T00:00:00Z $PKI/chain.pem; echo "status=$?" >&2 ) >/dev/null
stderr: status=0

name: ca: an unknown subcommand reaches the terminal escaped
run: $CERTKIT ca "$(printf 'q\033[0m')"
exit: 2
stderr: 'q\x1b[0m' is not a subcommand

name: agent: an unknown subcommand reaches the terminal escaped
run: $CERTKIT agent "$(printf 'q\033[0m')"
exit: 2
stderr: 'q\x1b[0m' is not a subcommand

name: registry: an unknown subcommand reaches the terminal escaped
run: $CERTKIT registry "$(printf 'q\033[0m')"
exit: 2
stderr: 'q\x1b[0m' is not a subcommand
