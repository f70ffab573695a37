#!/usr/bin/env bash
# Install the Debian packages shunt needs to build and test, and nothing else.
#
# `make check` and `make deps` call this on every run, so the common case (all
# present) must be fast and quiet: one dpkg-query, no network, no output,
# exit 0.  When something is missing and we are root, it runs `apt-get update`
# once and installs exactly the missing packages; when we are not root it
# prints the command to run and exits 1 rather than guessing at sudo.
#
# Installing postgresql-15 makes Debian create and start a "main" cluster on
# port 5432.  The test harness (tests/lib/cluster.sh) never uses it: it runs
# its own servers with listen_addresses='' and private socket directories,
# so the two cannot collide.
set -euo pipefail

# Why each package is here:
#   build-essential, pkg-config   gcc, make, libc headers; pkg-config for the
#                                 -dev packages' flags
#   postgresql-15                 the server the integration tests start
#                                 (initdb, pg_ctl, pg_basebackup, postgres)
#   libpq-dev                     libpq headers and pg_config
#   libpg-query-dev               parsing user SQL fragments (STYLE.md 5)
#   libyaml-dev, libjansson-dev   migration files (YAML and JSON)
#   libcmocka-dev                 unit tests
#   postgresql-15-repack          pg_repack, the baseline we compare against
#   pgbouncer                     tests behind a transaction-pooling proxy
#   clang, libclang-rt-dev        the fuzz targets need clang's
#                                 -fsanitize=fuzzer (gcc has no libFuzzer);
#                                 libclang-rt-dev holds the fuzzer and
#                                 sanitizer runtimes and is only a Recommends
#                                 of clang, which --no-install-recommends
#                                 would skip
# The contrib package (pgbench, pg_stat_statements) is resolved below.
packages=(
	build-essential
	pkg-config
	postgresql-15
	libpq-dev
	libpg-query-dev
	libyaml-dev
	libjansson-dev
	libcmocka-dev
	postgresql-15-repack
	pgbouncer
	clang
	libclang-rt-dev
)

# Debian 12 ships contrib inside postgresql-15 and only a virtual
# postgresql-contrib-15 plus the postgresql-contrib metapackage; the PGDG
# repositories have a real postgresql-contrib-15.  Either one installed is
# enough.
contrib_names=(postgresql-contrib-15 postgresql-contrib)

# Print the names from "$@" that dpkg does not report as installed.  One
# dpkg-query call for all of them keeps the no-op path cheap; names dpkg has
# never heard of produce no row and count as missing.
missing_of() {
	local installed
	installed=$(dpkg-query -W -f='${Package} ${db:Status-Abbrev}\n' "$@" 2>/dev/null |
		awk '$2 == "ii" { sub(/:.*/, "", $1); print $1 }') || true
	local name
	for name in "$@"; do
		if ! grep -qxF -- "$name" <<<"$installed"; then
			printf '%s\n' "$name"
		fi
	done
}

# The contrib package to install: the real postgresql-contrib-15 where the
# package lists have one, else the metapackage, which exists everywhere.
# For a purely virtual package (Debian 12's postgresql-contrib-15) apt-cache
# show prints no record but still exits 0, so look for the record itself.
contrib_to_install() {
	local record
	record=$(apt-cache show --no-all-versions postgresql-contrib-15 2>/dev/null) || record=
	if [[ $record == *Package:* ]]; then
		echo postgresql-contrib-15
	else
		echo postgresql-contrib
	fi
}

main() {
	if ! command -v dpkg-query >/dev/null 2>&1; then
		echo "shunt: install-deps.sh only knows Debian's packages (no dpkg-query here)" >&2
		echo "shunt: install by hand: ${packages[*]} postgresql-contrib" >&2
		exit 1
	fi

	local -a missing=()
	mapfile -t missing < <(missing_of "${packages[@]}")
	local need_contrib=false
	if [[ $(missing_of "${contrib_names[@]}" | wc -l) -eq ${#contrib_names[@]} ]]; then
		need_contrib=true
	fi

	if [[ ${#missing[@]} -eq 0 && $need_contrib == false ]]; then
		exit 0
	fi

	if [[ $EUID -ne 0 ]]; then
		# Without root we cannot refresh the lists, so resolve the contrib
		# name from whatever lists exist (the metapackage if none).
		if [[ $need_contrib == true ]]; then
			missing+=("$(contrib_to_install)")
		fi
		echo "shunt: missing packages: ${missing[*]}" >&2
		echo "shunt: run as root:" >&2
		echo "  apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ${missing[*]}" >&2
		exit 1
	fi

	export DEBIAN_FRONTEND=noninteractive
	# Once, and only now that we know we install something: a fresh machine
	# may have no package lists at all, and the contrib name depends on them.
	apt-get update -qq
	if [[ $need_contrib == true ]]; then
		missing+=("$(contrib_to_install)")
	fi
	echo "shunt: installing: ${missing[*]}"
	# --no-install-recommends: every package we rely on is named above, and
	# recommends (llvm-14-dev, sysstat, ...) would only slow a fresh CI box.
	apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

main "$@"
