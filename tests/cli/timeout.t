# One --timeout for doctor, lab and trust add --from: 0.1 to 600 seconds,
# at most three decimals, the same message. Out-of-range values stop
# before anything is run or opened.

name: doctor --timeout 0 is out of range
run: $CERTKIT doctor --timeout 0 127.0.0.1:1
exit: 2
stderr: --timeout '0': expected seconds from 0.1 to 600

name: lab --timeout 0 is out of range, with the same message
run: $CERTKIT lab --demo --timeout 0
exit: 2
stderr: --timeout '0': expected seconds from 0.1 to 600

name: trust add --from --timeout 0 is out of range, with the same message
run: CERTKIT_HOME=$T $CERTKIT trust add --from 127.0.0.1:1 --timeout 0
exit: 2
stderr: --timeout '0': expected seconds from 0.1 to 600

name: doctor --timeout 601 is out of range
run: $CERTKIT doctor --timeout 601 127.0.0.1:1
exit: 2
stderr: --timeout '601': expected seconds from 0.1 to 600

name: lab --timeout 601 is out of range (was accepted up to 60 only)
run: $CERTKIT lab --demo --timeout 601
exit: 2
stderr: --timeout '601': expected seconds from 0.1 to 600

name: trust add --timeout 601 is out of range (was accepted up to 300 only)
run: CERTKIT_HOME=$T $CERTKIT trust add --from 127.0.0.1:1 --timeout 601
exit: 2
stderr: --timeout '601': expected seconds from 0.1 to 600

name: every command refuses what is not plain seconds
run: for v in 0.05 600.001 -1 1e2 inf nan 5. 1.2345 '' ' 5' 0x10 5s; do
run:   $CERTKIT doctor --timeout "$v" 127.0.0.1:1 2>>"$T/err"; echo "doctor $v $?"
run:   $CERTKIT lab --demo --timeout "$v" 2>>"$T/err"; echo "lab $v $?"
run:   CERTKIT_HOME=$T $CERTKIT trust add --from 127.0.0.1:1 --timeout "$v" 2>>"$T/err"; echo "trust $v $?"
run: done | grep -v ' 2$'
run: test "$(grep -c "expected seconds from 0.1 to 600" "$T/err")" = 36
exit: 0
!stdout: doctor
!stdout: lab
!stdout: trust

name: doctor takes a fraction of a second
run: $CERTKIT doctor --json --timeout 0.5 127.0.0.1:1
exit: 1
stdout: "timeout_ms":500

name: trust add --from takes a fraction of a second, and 600
run: CERTKIT_HOME=$T $CERTKIT trust add --from 127.0.0.1:1 --timeout 0.5 --yes
run: echo "rc=$?"
run: CERTKIT_HOME=$T $CERTKIT trust add --from 127.0.0.1:1 --timeout 600 --yes
exit: 1
stdout: rc=1
stderr: cannot connect
!stderr: --timeout
