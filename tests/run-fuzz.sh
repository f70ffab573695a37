#!/usr/bin/env bash
# Runs every fuzz target for SECONDS from its seed corpus; a crash, a leak
# or a sanitizer report fails the run and leaves the reproducer in
# build-fuzz/.  Prints "fuzz: N passed, M failed".
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
secs=${1:-30}
passed=0
failed=0
work=$(mktemp -d "${TMPDIR:-/tmp}/shunt-fuzz.XXXXXX")
trap 'rm -rf -- "$work"' EXIT
for t in migration expr sql gate; do
	corpus=$work/$t
	mkdir -p "$corpus"
	# the lint corpus seeds the plain-SQL target: no second copy to keep
	if [[ $t == sql ]]; then
		cp tests/lint/*.sql "$corpus"/
	else
		cp tests/fuzz/corpus/"$t"/* "$corpus"/
	fi
	if [[ $t == migration && -d ../shared/compat/pgroll-examples ]]; then
		for f in ../shared/compat/pgroll-examples/*.yaml; do
			# the first byte picks the format (even: YAML)
			{ printf '\0'; cat "$f"; } >"$corpus/$(basename "$f")"
		done
	fi
	if build-fuzz/fuzz_"$t" -max_total_time="$secs" -max_len=8192 -artifact_prefix=build-fuzz/"$t"- \
		"$corpus" >"$work/$t.log" 2>&1; then
		echo "ok   fuzz_$t ($(grep -Eo 'DONE +cov: [0-9]+' "$work/$t.log" | head -1), $secs s)"
		passed=$((passed + 1))
	else
		echo "FAIL fuzz_$t"
		tail -40 "$work/$t.log" | sed 's/^/    /'
		failed=$((failed + 1))
	fi
done
echo "fuzz: $passed passed, $failed failed"
((failed == 0))
