#!/usr/bin/env bash
# Run cmocka unit test binaries: tests/run-unit.sh BIN...
#
# Each binary runs on its own (no server, no network) under a timeout; its
# cmocka summary lines "[  PASSED  ] N test(s)." and "[  FAILED  ] N
# test(s)" (summed over all groups in the binary) give the counts.  Prints
# "ok"/"FAIL" per binary, the binary's whole output when it fails, and one
# closing line "unit: N passed, M failed" for CI.  A binary that crashes,
# times out, or exits non-zero without a failed test (a sanitizer report at
# exit, say) counts as one more failure.  Exits 1 on any failure.
#
# Environment: SHUNT_UNIT_TIMEOUT (seconds per binary, default 300).
set -euo pipefail

# The format we parse: a CMOCKA_MESSAGE_OUTPUT=TAP or XML from the caller's
# environment would make every binary look crashed.
export CMOCKA_MESSAGE_OUTPUT=STDOUT
unset CMOCKA_XML_FILE
# Under `make check-asan`: a UBSan report without a stack is hard to act on.
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}

timeout_s=${SHUNT_UNIT_TIMEOUT:-300}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/shunt-unit.XXXXXX")
trap 'rm -rf -- "$tmp"' EXIT

total_passed=0
total_failed=0
for bin in "$@"; do
	name=$(basename "$bin")
	log=$tmp/$name.log
	rc=0
	timeout -k 5 "$timeout_s" "$bin" </dev/null >"$log" 2>&1 || rc=$?
	# "[  PASSED  ] 3 test(s)." splits into [, PASSED, ], 3, ...; the
	# per-test lines ("[  FAILED  ] test_name") have no number in field 4.
	read -r p f s groups < <(awk '
		$2 == "PASSED"  && $4 ~ /^[0-9]+$/ && $5 ~ /^test\(s\)/ { p += $4 }
		$2 == "FAILED"  && $4 ~ /^[0-9]+$/ && $5 ~ /^test\(s\)/ { f += $4 }
		$2 == "SKIPPED" && $4 ~ /^[0-9]+$/ && $5 ~ /^test\(s\)/ { s += $4 }
		/^\[==========\] [0-9]+ test\(s\) run\./ { g++ }
		END { print p + 0, f + 0, s + 0, g + 0 }' "$log")
	note=
	if ((rc == 0 && f == 0 && groups > 0)); then
		status=ok
	elif ((f > 0)); then
		status=FAIL
	else
		status=FAIL
		f=$((f + 1))
		if ((rc == 124 || rc == 137)); then
			note=" (timed out after ${timeout_s}s)"
		elif ((rc > 128 && rc < 160)); then
			note=" (killed by signal $((rc - 128)))"
		elif ((groups == 0)); then
			note=" (exit $rc, no cmocka summary)"
		else
			note=" (exit $rc after its tests)"
		fi
	fi
	if ((s > 0)); then
		note+=" ($s skipped)"
	fi
	total_passed=$((total_passed + p))
	total_failed=$((total_failed + f))
	printf '%-4s %-36s %3d passed, %d failed%s\n' "$status" "$name" "$p" "$f" "$note"
	if [[ $status != ok ]]; then
		sed 's/^/    /' "$log"
	fi
done

echo "unit: $total_passed passed, $total_failed failed"
if ((total_failed > 0)); then
	exit 1
fi
