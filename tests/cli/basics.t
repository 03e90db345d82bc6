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
