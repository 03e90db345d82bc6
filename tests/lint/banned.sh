#!/bin/sh
# banned.sh SRC: fails if library or tool code calls a function the house
# style bans (curl's list): they either cannot bound their output or cannot
# report an error.
set -u
src=${1:?usage: banned.sh SRC}
pattern='\b(sprintf|vsprintf|strcpy|strcat|strtok|atoi|atol|gets)[[:space:]]*\('
hits=$(grep -nE "$pattern" "$src"/lib/*/*.c "$src"/lib/*/*.h "$src"/lab/*.c "$src"/lab/*.h "$src"/cli/*.c "$src"/cli/*.h 2>/dev/null)
if [ -n "$hits" ]; then
	echo "banned functions (use snprintf, strtol with range checks, ...):"
	echo "$hits"
	echo "0 passed, 1 failed"
	exit 1
fi
echo "1 passed, 0 failed"
