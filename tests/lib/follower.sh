# shellcheck shell=bash
# The example application examples/follower.c as a test client (sourced
# after testlib.sh, not run).
#
#   follower_build             compile it with libshunt's sources into
#                              $T_TMP/follower (under ASan/UBSan when
#                              SHUNT_BIN is a build-san binary)
#   follower_start ID CONNINFO [OPTION]...
#                              run it in the background until stopped:
#                              output in $T_TMP/ID.out, pid in FOLLOWER_PID[ID]
#   follower_stop ID           SIGTERM it (it unregisters and prints its
#                              summary) and wait; exit code in FOLLOWER_RC[ID]
#   follower_kill ID           SIGKILL it (no unregistering) and wait
#   wait_lines FILE REGEX N [SECONDS]
#                              wait until FILE has N lines matching REGEX
#
# Only processes started here are signalled, by their pid.

declare -gA FOLLOWER_PID=()
declare -gA FOLLOWER_RC=()

follower_build() {
	local root san=() inc lib
	root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
	inc=$(pg_config --includedir 2>/dev/null || echo /usr/include/postgresql)
	lib=$(pg_config --libdir 2>/dev/null || echo /usr/lib)
	case $SHUNT_BIN in
	*/build-san/*) san=(-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer) ;;
	esac
	cc -std=c11 -D_GNU_SOURCE -DSHUNT_VERSION='"test"' -Wall -Wextra -Werror -g "${san[@]}" \
		-I"$root/include" -I"$inc" -o "$T_TMP/follower" "$root/examples/follower.c" \
		"$root"/src/client/*.c -L"$lib" -lpq
}

follower_start() {
	local id=$1
	shift
	"$T_TMP/follower" --interval-ms 20 "$@" >"$T_TMP/$id.out" 2>&1 &
	FOLLOWER_PID[$id]=$!
}

follower_stop() {
	local id=$1 rc=0
	kill -TERM "${FOLLOWER_PID[$id]}" 2>/dev/null || true
	wait "${FOLLOWER_PID[$id]}" || rc=$?
	FOLLOWER_RC[$id]=$rc
}

follower_kill() {
	local id=$1 rc=0
	kill -KILL "${FOLLOWER_PID[$id]}" 2>/dev/null || true
	wait "${FOLLOWER_PID[$id]}" || rc=$?
	FOLLOWER_RC[$id]=$rc
}

wait_lines() {
	local file=$1 re=$2 n=$3 secs=${4:-30} i
	for ((i = 0; i < secs * 20; i++)); do
		if (($(grep -cE -- "$re" "$file" 2>/dev/null || true) >= n)); then
			return 0
		fi
		sleep 0.05
	done
	return 1
}
