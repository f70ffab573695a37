#!/usr/bin/env bash
# make bench: every benchmark, results in bench/results/:
#
#   backfill.sh  backfill rate, write amplification of the sync trigger,
#                p99 during the backfill            -> backfill.md
#   impact.sh    application impact of one change: shunt, plain ALTER TABLE
#                and pg_repack against a baseline  -> impact.md, impact-*.svg
#   rebuild.sh   online table rebuild (int key to bigint): shunt rebuild,
#                pg_repack, plain ALTER TABLE under load; write throughput
#                by change capture                 -> rebuild.md, rebuild-*.svg
#
# then RESULTS.md, which holds them all.  Sizes: BENCH_ROWS (impact and
# rebuild, default 1000000), BENCH_SIZES and BENCH_APP_ROWS (backfill);
# rates: BENCH_RATE (impact, rebuild), BENCH_APP_RATE (backfill).
# BENCH_ONLY=impact, =backfill or =rebuild runs one of them and rebuilds
# RESULTS.md from the others' last results.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
only=${BENCH_ONLY:-}
case $only in
"" | impact | backfill | rebuild) ;;
*)
	echo "bench: BENCH_ONLY must be impact, backfill or rebuild" >&2
	exit 2
	;;
esac
t0=$(date +%s)
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
if [[ -z $only || $only == backfill ]]; then
	./backfill.sh
fi
if [[ -z $only || $only == impact ]]; then
	./impact.sh
fi
if [[ -z $only || $only == rebuild ]]; then
	./rebuild.sh
fi

results=results
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
took=
if [[ -z $only ]]; then
	took=" (about $((($(date +%s) - t0 + 30) / 60)) min on the machine below)"
fi
{
	echo "# Benchmark results"
	echo
	echo "Produced by \`make bench\` (bench/run.sh) on the machine and at the time each section names;"
	echo "every ratio compares numbers measured in the same run. To reproduce: \`make bench\`${took};"
	echo "other sizes with \`BENCH_ROWS=5000000 make bench\` (impact, rebuild) and"
	echo "\`BENCH_SIZES=\"10000000\" make bench\` (backfill; default 10k to 3M rows)."
	echo "The machine's load average (1, 5, 15 min) was $load_before when the run began and"
	echo "$load_after when it ended: anything else running on it shows up as noise in the latencies."
	echo
	echo "- [Application impact: shunt, plain ALTER TABLE, pg_repack](#application-impact-of-one-schema-change-shunt-plain-alter-table-pg_repack)"
	echo "- [Online table rebuild: shunt rebuild, pg_repack, plain ALTER TABLE](#online-table-rebuild-shunt-rebuild-pg_repack-plain-alter-table) (also in [rebuild.md](rebuild.md))"
	echo "- [Backfill](#backfill-benchmark) (also in [backfill.md](backfill.md))"
	echo "- The demo's run (\`DEMO_SAVE=1 make demo\`): [demo.svg](demo.svg), [demo.txt](demo.txt)"
	echo
	if [[ -f $results/impact.md ]]; then
		cat "$results/impact.md"
		echo
	fi
	if [[ -f $results/rebuild.md ]]; then
		cat "$results/rebuild.md"
		echo
	fi
	if [[ -f $results/backfill.md ]]; then
		# one level down: RESULTS.md has the only top-level heading
		sed -e 's/^#/##/' "$results/backfill.md"
	fi
} >"$results/RESULTS.md"
echo "bench: wrote bench/results/RESULTS.md" >&2
