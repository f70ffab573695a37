#!/usr/bin/env bash
# make demo: shunt's main job on a throwaway PostgreSQL, under live traffic.
#
# 1. a table of DEMO_ROWS rows (default 200000) and old-version traffic
#    (pgbench: point reads and updates at a fixed rate, search_path = the
#    table's schema);
# 2. shunt start of a migration that renames a column, changes a type from
#    text to integer and adds NOT NULL (expand + batched backfill);
# 3. new-version traffic joins (search_path = the new version schema);
# 4. the switch: old traffic stops; shunt complete (contract);
# 5. the same change the naive way (plain ALTER TABLE) on an identical
#    table under the same old traffic;
# then a report of each phase: duration, application errors, p99 and worst
# latency, shunt side by side with the naive way.  Everything runs in a
# temporary directory that is removed at the end.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$(pwd)
SHUNT=$root/shunt
rows=${DEMO_ROWS:-200000}
rate=${DEMO_RATE:-200}

# shellcheck source=tests/lib/cluster.sh
source "$root/tests/lib/cluster.sh"
cluster_start demo >/dev/null
export PGDATABASE=demo
createdb demo
work=$(mktemp -d "${TMPDIR:-/tmp}/shunt-demo.XXXXXX")
chmod 0777 "$work"
cluster_at_exit rm -rf "$work"

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "a table of $rows users"
# The naive table lives in its own schema: shunt's version schema has a
# view of every table of public, and a view would block the naive ALTER.
psql -XAtq -c "CREATE SCHEMA naive"
for t in public.users naive.users; do
	psql -XAtq -c "CREATE TABLE $t (id bigserial PRIMARY KEY, name text NOT NULL, age text);
		INSERT INTO $t (name, age) SELECT 'user ' || g, (18 + g % 60)::text FROM generate_series(1, $rows) g;
		ANALYZE $t"
done

cat >"$work/m.yaml" <<'Y'
operations:
  - rename_column: {table: users, from: name, to: full_name}
  - alter_column:
      table: users
      column: age
      type: integer
      nullable: false
      up: coalesce(CAST(age AS integer), 0)
      down: CAST(age AS text)
Y
echo "the migration ($work/m.yaml):"
sed 's/^/    /' "$work/m.yaml"

# traffic NAME TABLE SEARCH_PATH OLD|NEW: point reads and updates; each
# transaction's latency goes to a pgbench log.
traffic() {
	local name=$1 table=$2 sp=$3 kind=$4 col=name ageexpr=":v::text"
	if [[ $kind == new ]]; then
		col=full_name
		ageexpr=":v"
	fi
	cat >"$work/$name.sql" <<SQL
\\set id random(1, $rows)
\\set v random(18, 90)
SELECT $col, age FROM $table WHERE id = :id;
UPDATE $table SET age = $ageexpr WHERE id = :id;
SQL
	# exec: $! must be pgbench itself, so that stop_traffic can stop it
	(cd "$work" && PGOPTIONS="-c search_path=$sp" exec pgbench -n -c 4 -j 2 -T 600 -R "$rate" \
		-f "$name.sql" -l --log-prefix="$name" >"$name.out" 2>&1) &
	echo $! >"$work/$name.pid"
}
stop_traffic() { kill -INT "$(cat "$work/$1.pid")" 2>/dev/null || true; wait "$(cat "$work/$1.pid")" 2>/dev/null || true; }
mark() { echo "$1 $(date +%s.%N)" >>"$work/phases"; }

say "old-version traffic starts ($rate tx/s, 4 clients)"
traffic old users public old
mark baseline
sleep 4

say "shunt start: expand and backfill while the old version runs"
mark start
"$SHUNT" start "$work/m.yaml"
vs=$("$SHUNT" latest)
echo "new version schema: $vs"

say "new-version traffic joins (search_path = $vs)"
mark both
traffic new users "$vs" new
sleep 4

say "switch: the old version stops"
stop_traffic old
mark complete
say "shunt complete: contract"
"$SHUNT" complete
sleep 2
mark end
stop_traffic new

say "the naive way: plain ALTER TABLE under the same old-version traffic"
traffic naive users naive old
sleep 3
mark naive_alter
psql -XAtq -c "ALTER TABLE naive.users RENAME COLUMN name TO full_name;
	ALTER TABLE naive.users ALTER COLUMN age TYPE integer USING coalesce(age::integer, 0);
	ALTER TABLE naive.users ALTER COLUMN age SET NOT NULL"
mark naive_after
sleep 3
mark naive_end
stop_traffic naive

say "report"
python3 - "$work" <<'PY'
import glob, os, sys
work = sys.argv[1]
marks = [l.split() for l in open(os.path.join(work, "phases"))]
marks = [(n, float(t)) for n, t in marks]
def load(prefix):
    out = []
    for f in glob.glob(os.path.join(work, prefix + ".*")):
        if f.endswith((".sql", ".out", ".pid")):
            continue
        for line in open(f):
            p = line.split()
            if len(p) < 6:
                continue
            # client tx latency_us script epoch_s epoch_us [lag]; failed tx show 'failed'
            lat = None if p[2] in ("failed", "skipped") else int(p[2]) / 1000.0
            out.append((int(p[4]) + int(p[5]) / 1e6, lat))
    return out
def errors(prefix):
    try:
        txt = open(os.path.join(work, prefix + ".out")).read()
    except OSError:
        return 0
    return txt.count("ERROR") + txt.count("aborted in command")
def stats(rows, a, b):
    lats = sorted(l for t, l in rows if a <= t < b and l is not None)
    if not lats:
        return "      -        -        -"
    p99 = lats[min(len(lats) - 1, int(len(lats) * 0.99))]
    return f"{len(lats):7d} {p99:8.1f} {lats[-1]:8.1f}"
m = dict(marks)
old, new, naive = load("old"), load("new"), load("naive")
print(f"{'phase':34s} {'secs':>6s} {'txs':>7s} {'p99 ms':>8s} {'max ms':>8s}")
rows = [
    ("baseline (old version only)", old, m["baseline"], m["start"]),
    ("shunt start + backfill (old)", old, m["start"], m["both"]),
    ("both versions live (old)", old, m["both"], m["complete"]),
    ("both versions live (new)", new, m["both"], m["complete"]),
    ("shunt complete (new)", new, m["complete"], m["end"]),
    ("naive ALTER TABLE (old)", naive, m["naive_alter"], m["naive_after"] + 1),
    ("after the naive ALTER (old)", naive, m["naive_after"] + 1, m["naive_end"]),
]
for name, data, a, b in rows:
    print(f"{name:34s} {b - a:6.1f} {stats(data, a, b)}")
print()
print(f"application errors with shunt:      {errors('old') + errors('new')}")
print(f"application errors the naive way:    {errors('naive')} (the old version reads a column the ALTER renamed)")
PY
