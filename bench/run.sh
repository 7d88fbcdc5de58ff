#!/usr/bin/env bash
# Whole-process benchmark of ksec against SOPS on the same inputs and the
# same key types: wall time (median) and peak RSS, with ratios ksec/SOPS.
#
#   bash bench/run.sh
#
# It builds ksec from this checkout, installs SOPS v3.13.2 from its Go
# module into a temporary GOBIN (SOPS=/path/to/sops skips that; the first
# build of SOPS takes a few minutes on 2 cores, later ones ~20 s from the Go
# caches), installs age, gnupg, hyperfine and time with apt-get when they
# are missing, makes throwaway keys (an age identity, a GnuPG home with an
# ECC key) and inputs (Secrets of 10 keys each, one of 10,000 keys) under a
# temporary directory, and prints a Markdown table for docs/PERFORMANCE.md.
# Besides apt-get, nothing outside that directory is touched; KEEP=1 keeps it.
#
# Knobs: BENCH_N (Secrets in the many-files case, default 1000), BENCH_BIG
# (keys of the big Secret, default 10000), BENCH_RUNS (runs of each fast
# command, default 20), BENCH_PARALLEL=0 skips the parallel SOPS loop,
# BENCH_HYPERFINE=0 times with a shell loop instead of hyperfine.
# BENCH_BASE=REV (a git revision, e.g. main) first compares this tree's ksec
# with ksec built from REV on start-up and one small age decrypt (is a
# change slower for runs that do not use it?); BENCH_BASE_ONLY=1 stops
# there, without SOPS.
# Not run by CI: the times depend on the machine and its load.
set -euo pipefail
export LC_ALL=C # a decimal point in $EPOCHREALTIME and awk

SOPS_VERSION=v3.13.2
N=${BENCH_N:-1000}
BIG=${BENCH_BIG:-10000}
RUNS=${BENCH_RUNS:-20}
PARALLEL=${BENCH_PARALLEL:-1}

repo=$(cd "$(dirname "$0")/.." && pwd)
# Short path: the gpg-agent socket lives under GNUPGHOME (~100 chars max).
tmp=$(mktemp -d /tmp/ksec-bench.XXXXXX)
export GNUPGHOME=$tmp/gnupg
cleanup() {
	gpgconf --kill gpg-agent >/dev/null 2>&1 || true
	if [ "${KEEP:-}" = 1 ]; then echo "kept $tmp" >&2; else rm -rf "$tmp"; fi
}
trap cleanup EXIT

say() { printf '==> %s\n' "$*" >&2; }
die() { printf 'bench: %s\n' "$*" >&2; exit 1; }

# --- tools -----------------------------------------------------------------

missing=()
command -v age-keygen >/dev/null 2>&1 || missing+=(age)
command -v gpg >/dev/null 2>&1 || missing+=(gnupg)
command -v hyperfine >/dev/null 2>&1 || missing+=(hyperfine)
[ -x /usr/bin/time ] || missing+=(time)
if ((${#missing[@]})); then
	say "installing ${missing[*]} with apt-get"
	sudo=""
	[ "$(id -u)" = 0 ] || sudo="sudo"
	if $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null; then
		:
	else
		say "apt-get failed; going on with what is there"
	fi
fi
command -v age-keygen >/dev/null 2>&1 || die "age-keygen is needed (Debian package age)"
command -v gpg >/dev/null 2>&1 || die "gpg is needed (Debian package gnupg)"
[ -x /usr/bin/time ] || die "/usr/bin/time is needed (Debian package time) for peak memory"
have_hyperfine=0
command -v hyperfine >/dev/null 2>&1 && [ "${BENCH_HYPERFINE:-1}" = 1 ] && have_hyperfine=1
((have_hyperfine)) || say "timing with a shell loop (hyperfine missing or BENCH_HYPERFINE=0): less precise"

mkdir -p "$tmp/bin" "$tmp/xdg"
say "building ksec"
(cd "$repo" && go build -o "$tmp/bin/ksec" .)
(cd "$repo/bench" && go build -o "$tmp/bin/gen" ./gen) # a module of its own
KSEC=$tmp/bin/ksec
# The floor for any Go program's start-up on this machine.
printf 'package main\n\nfunc main() { println("hello") }\n' >"$tmp/hello.go"
(cd "$tmp" && go build -o "$tmp/bin/hello" hello.go)
GEN=$tmp/bin/gen

# --- measuring helpers -------------------------------------------------------

# By case name: median and fastest wall time in ms, median peak RSS in KiB.
declare -A T TMIN M

median() { sort -n | awk '{v[NR]=$1} END {if (NR%2) print v[(NR+1)/2]; else print (v[NR/2]+v[NR/2+1])/2}'; }

# rss NAME RUNS CMD...: median peak RSS of RUNS runs.
rss() {
	local name=$1 runs=$2 i
	shift 2
	for ((i = 0; i < runs; i++)); do
		/usr/bin/time -f %M -o "$tmp/rss" "$@" >/dev/null 2>"$tmp/err" || { cat "$tmp/err" >&2; die "$name failed"; }
		tail -1 "$tmp/rss"
	done | median >"$tmp/rss.median"
	M[$name]=$(cat "$tmp/rss.median")
}

# Helpers that take the name of an array holding a command line.
quote_of() {
	local -n _c=$1
	printf '%q ' "${_c[@]}"
}
run_of() {
	local -n _c=$1
	"${_c[@]}" >/dev/null 2>&1
}
rss_of() {
	local -n _c=$2
	rss "$1" 5 "${_c[@]}"
}

# fast NAME ARRAY [NAME ARRAY]...: commands of some milliseconds, compared
# with each other. They are timed in 4 rounds; each round runs every
# command RUNS/4 times in turn (hyperfine after 2 warm-ups, no shell in
# between), so a change of load on the machine falls on all of them alike.
# The time is the median of the rounds' medians; the fastest run is kept
# too. Then the peak RSS, median of 5 runs.
fast() {
	local names=() arrays=() quoted=() i r rounds=4 per
	while (($#)); do
		names+=("$1") arrays+=("$2")
		shift 2
	done
	say "${names[*]}"
	per=$(((RUNS + rounds - 1) / rounds))
	for i in "${!names[@]}"; do
		: >"$tmp/t.$i"
		quoted+=("$(quote_of "${arrays[i]}")")
		run_of "${arrays[i]}" || die "${names[i]} failed"
	done
	for ((r = 0; r < rounds; r++)); do
		if ((have_hyperfine)); then
			hyperfine -N --style none --warmup 2 --runs "$per" --export-csv "$tmp/h.csv" -- "${quoted[@]}" >/dev/null 2>"$tmp/err" ||
				{ cat "$tmp/err" >&2; die "${names[*]} failed"; }
			for i in "${!names[@]}"; do
				# CSV columns: command,mean,stddev,median,user,system,min,max
				awk -F, -v row=$((i + 2)) 'NR == row {printf "%.3f %.3f\n", $4*1000, $7*1000}' "$tmp/h.csv" >>"$tmp/t.$i"
			done
		else
			local k s
			for ((k = 0; k < per; k++)); do
				for i in "${!names[@]}"; do
					s=$EPOCHREALTIME
					run_of "${arrays[i]}" || die "${names[i]} failed"
					awk -v a="$s" -v b="$EPOCHREALTIME" 'BEGIN {printf "%.3f %.3f\n", (b-a)*1000, (b-a)*1000}' >>"$tmp/t.$i"
				done
			done
		fi
	done
	for i in "${!names[@]}"; do
		T[${names[i]}]=$(cut -d' ' -f1 "$tmp/t.$i" | median)
		TMIN[${names[i]}]=$(cut -d' ' -f2 "$tmp/t.$i" | sort -n | head -1)
		rss_of "${names[i]}" "${arrays[i]}"
	done
}

# slow NAME RUNS CMD...: a command of a second or more: wall time and peak
# RSS of the same RUNS runs.
slow() {
	local name=$1 runs=$2 i s
	shift 2
	say "$name ($runs run(s))"
	: >"$tmp/t" && : >"$tmp/m"
	for ((i = 0; i < runs; i++)); do
		s=$EPOCHREALTIME
		/usr/bin/time -f %M -o "$tmp/rss" "$@" >/dev/null 2>"$tmp/err" || { cat "$tmp/err" >&2; die "$name failed"; }
		awk -v a="$s" -v b="$EPOCHREALTIME" 'BEGIN {printf "%.2f\n", (b-a)*1000}' >>"$tmp/t"
		tail -1 "$tmp/rss" >>"$tmp/m"
	done
	T[$name]=$(median <"$tmp/t")
	TMIN[$name]=$(sort -n "$tmp/t" | head -1)
	M[$name]=$(median <"$tmp/m")
}

fmt_ms() { awk -v v="$1" 'BEGIN { if (v >= 1000) printf "%.2f s", v/1000; else printf "%.1f ms", v }'; }
# fmt_t NAME: median, and the fastest run when there were several.
fmt_t() {
	local name=$1
	if [ "${T[$name]}" = "${TMIN[$name]}" ]; then fmt_ms "${T[$name]}"; else echo "$(fmt_ms "${T[$name]}") (min $(fmt_ms "${TMIN[$name]}"))"; fi
}
fmt_kb() { awk -v v="$1" 'BEGIN { printf "%.1f MiB", v/1024 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { r = a/b; printf (r < 0.1 ? "%.3f" : "%.2f"), r }'; }
speedup() { awk -v a="${T[$1]}" -v b="${T[$2]}" 'BEGIN { printf "%.0f", b/a }'; }

# --- against an earlier ksec (BENCH_BASE) --------------------------------------

# ksec of this tree against ksec built from the git revision BENCH_BASE, on
# what every run pays: start-up (--version) and one small age decrypt, both
# binaries reading the same file. Timed in interleaved rounds like the rest.
base_compare() {
	local base=$1 dir=$tmp/base
	mkdir -p "$dir/src"
	say "building ksec at $base"
	git -C "$repo" archive "$base" | tar -x -C "$dir/src"
	(cd "$dir/src" && go build -o "$tmp/bin/ksec-base" .)
	age-keygen -o "$dir/age.key" 2>/dev/null
	"$GEN" -o "$dir/small.yaml" -keys 10
	"$KSEC" encrypt -k "age:$(age-keygen -y "$dir/age.key")" -o "$dir/small.ksec.yaml" "$dir/small.yaml"
	"$tmp/bin/ksec-base" decrypt -I "$dir/age.key" "$dir/small.ksec.yaml" | cmp - "$dir/small.yaml" || die "ksec at $base cannot decrypt"
	"$KSEC" decrypt -I "$dir/age.key" "$dir/small.ksec.yaml" | cmp - "$dir/small.yaml" || die "ksec cannot decrypt"
	local c_now_start=("$KSEC" --version) c_base_start=("$tmp/bin/ksec-base" --version)
	local c_now_dec=("$KSEC" decrypt -I "$dir/age.key" "$dir/small.ksec.yaml")
	local c_base_dec=("$tmp/bin/ksec-base" decrypt -I "$dir/age.key" "$dir/small.ksec.yaml")
	fast now-start c_now_start base-start c_base_start
	fast now-age-dec c_now_dec base-age-dec c_base_dec
	local inits_now inits_base
	inits_now=$(GODEBUG=inittrace=1 "$KSEC" --version 2>&1 >/dev/null | awk '/^init / {n++; b += $8} END {printf "%d inits, %.2f MB", n, b/1e6}')
	inits_base=$(GODEBUG=inittrace=1 "$tmp/bin/ksec-base" --version 2>&1 >/dev/null | awk '/^init / {n++; b += $8} END {printf "%d inits, %.2f MB", n, b/1e6}')
	echo
	echo "### ksec $(cd "$repo" && git describe --always --dirty 2>/dev/null) against ksec $base"
	echo
	echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC'); load average before: $(cut -d' ' -f1-3 /proc/loadavg); binaries: $(du -m "$KSEC" | cut -f1) MB against $(du -m "$tmp/bin/ksec-base" | cut -f1) MB"
	echo "- package inits (GODEBUG=inittrace=1 --version): $inits_now against $inits_base"
	echo
	echo "| case | this tree | $base | ratio (fastest) | peak RSS | peak RSS at $base | ratio |"
	echo "|---|---:|---:|---:|---:|---:|---:|"
	for c in "start-up (\`--version\`) start" "1 small Secret, age, decrypt age-dec"; do
		local label=${c% *} k=${c##* }
		printf '| %s | %s | %s | **%s** (%s) | %s | %s | **%s** |\n' "$label" \
			"$(fmt_t "now-$k")" "$(fmt_t "base-$k")" \
			"$(ratio "${T[now-$k]}" "${T[base-$k]}")" "$(ratio "${TMIN[now-$k]}" "${TMIN[base-$k]}")" \
			"$(fmt_kb "${M[now-$k]}")" "$(fmt_kb "${M[base-$k]}")" "$(ratio "${M[now-$k]}" "${M[base-$k]}")"
	done
	echo
}

if [ -n "${BENCH_BASE:-}" ]; then
	base_compare "$BENCH_BASE"
	[ "${BENCH_BASE_ONLY:-0}" = 1 ] && exit 0
fi

if [ -n "${SOPS:-}" ]; then
	[ -x "$SOPS" ] || die "SOPS=$SOPS is not an executable"
else
	say "installing sops $SOPS_VERSION from its Go module (the first time takes minutes)"
	(cd "$tmp" && GOBIN=$tmp/bin go install "github.com/getsops/sops/v3/cmd/sops@$SOPS_VERSION")
	SOPS=$tmp/bin/sops
fi
# SOPS would otherwise ask the internet for a newer version.
export SOPS_DISABLE_VERSION_CHECK=1
# Keep both tools away from the developer's own keys and settings.
export XDG_CONFIG_HOME=$tmp/xdg
unset KSEC_KEYS KSEC_IDENTITY_FILE KSEC_AGE_KEY SOPS_AGE_KEY SOPS_PGP_FP SOPS_AGE_RECIPIENTS
sops_version=$("$SOPS" --version --disable-version-check 2>/dev/null | head -1)

# --- keys and inputs ---------------------------------------------------------

cd "$tmp"
say "making keys and inputs in $tmp"
age-keygen -o age.key 2>/dev/null
AGE_PUB=$(age-keygen -y age.key)
export SOPS_AGE_KEY_FILE=$tmp/age.key
mkdir -m 700 "$GNUPGHOME"
gpg --batch --quiet --passphrase '' --quick-gen-key 'ksec bench <bench@example.test>' future-default default never 2>/dev/null
FPR=$(gpg --batch --with-colons --list-secret-keys | awk -F: '/^fpr/ {print $10; exit}')
[ -n "$FPR" ] || die "could not make a GnuPG key"
gpg --batch --check-trustdb >/dev/null 2>&1
gpg --batch --armor --export-secret-keys "$FPR" >pgp.sec.asc

ENCRE='^(data|stringData)$' # SOPS encrypts only what ksec does
"$GEN" -o small.yaml -keys 10
"$GEN" -o big.yaml -keys "$BIG"
"$GEN" -o big2.yaml -keys $((BIG * 2))
"$GEN" -n "$N" -dir many-plain

"$KSEC" encrypt -k "age:$AGE_PUB" -o small.ksec-age.yaml small.yaml
"$SOPS" encrypt --age "$AGE_PUB" --encrypted-regex "$ENCRE" small.yaml >small.sops-age.yaml
"$KSEC" encrypt -k "pgp:$FPR" -o small.ksec-pgp.yaml small.yaml
"$SOPS" encrypt --pgp "$FPR" --encrypted-regex "$ENCRE" small.yaml >small.sops-pgp.yaml
"$KSEC" encrypt -k "age:$AGE_PUB" -o big.ksec.yaml big.yaml
"$SOPS" encrypt --age "$AGE_PUB" --encrypted-regex "$ENCRE" big.yaml >big.sops.yaml
"$KSEC" encrypt -k "age:$AGE_PUB" -o big2.ksec.yaml big2.yaml
cp -r many-plain many-ksec
cp -r many-plain many-sops
"$KSEC" encrypt -i -k "age:$AGE_PUB" -R many-ksec
# Not measured; in parallel because it is one SOPS process per file.
export SOPS AGE_PUB ENCRE
find many-sops -name '*.yaml' -print0 |
	xargs -0 -n 20 -P "$(nproc)" sh -c 'for f; do "$SOPS" encrypt -i --age "$AGE_PUB" --encrypted-regex "$ENCRE" "$f" || exit 255; done' sh

cat >"$tmp/bin/sops-each" <<'EOF2'
#!/bin/sh
for f; do "$SOPS" decrypt "$f" || exit 255; done
EOF2
chmod +x "$tmp/bin/sops-each"

# Both tools must give back what was encrypted before anything is timed.
"$KSEC" decrypt -I age.key small.ksec-age.yaml | cmp - small.yaml || die "ksec age round trip"
"$KSEC" decrypt small.ksec-pgp.yaml | cmp - small.yaml || die "ksec gpg round trip"
"$KSEC" decrypt -I pgp.sec.asc small.ksec-pgp.yaml | cmp - small.yaml || die "ksec PGP key file round trip"
"$KSEC" decrypt -I age.key big.ksec.yaml | cmp - big.yaml || die "ksec big round trip"
[ "$("$KSEC" decrypt -I age.key -R many-ksec | grep -c '^kind: Secret$')" = "$N" ] || die "ksec decrypt -R lost Secrets"
for f in small.sops-age.yaml small.sops-pgp.yaml big.sops.yaml many-sops/secret-00000.yaml; do
	"$SOPS" decrypt "$f" | grep 'key-00000: cHct' >/dev/null || die "sops did not decrypt $f"
done

# --- measuring ---------------------------------------------------------------

started=$EPOCHREALTIME
c_hello=("$tmp/bin/hello")
c_ksec_start=("$KSEC" --version)
c_sops_start=("$SOPS" --version --disable-version-check)
c_ksec_age_dec=("$KSEC" decrypt -I age.key small.ksec-age.yaml)
c_sops_age_dec=("$SOPS" decrypt small.sops-age.yaml)
c_ksec_pgpfile_dec=("$KSEC" decrypt -I pgp.sec.asc small.ksec-pgp.yaml)
c_ksec_age_enc=("$KSEC" encrypt -k "age:$AGE_PUB" small.yaml)
c_sops_age_enc=("$SOPS" encrypt --age "$AGE_PUB" --encrypted-regex "$ENCRE" small.yaml)
c_ksec_gpg_dec=("$KSEC" decrypt small.ksec-pgp.yaml)
c_sops_gpg_dec=("$SOPS" decrypt small.sops-pgp.yaml)
c_ksec_gpg_enc=("$KSEC" encrypt -k "pgp:$FPR" small.yaml)
c_sops_gpg_enc=("$SOPS" encrypt --pgp "$FPR" --encrypted-regex "$ENCRE" small.yaml)

fast go-hello c_hello
fast ksec-start c_ksec_start sops-start c_sops_start
fast ksec-age-dec c_ksec_age_dec sops-age-dec c_sops_age_dec ksec-pgpfile-dec c_ksec_pgpfile_dec
fast ksec-age-enc c_ksec_age_enc sops-age-enc c_sops_age_enc
fast ksec-gpg-dec c_ksec_gpg_dec sops-gpg-dec c_sops_gpg_dec
fast ksec-gpg-enc c_ksec_gpg_enc sops-gpg-enc c_sops_gpg_enc

slow ksec-many 5 "$KSEC" decrypt -I age.key -R many-ksec
slow sops-many 1 bash -c 'for f in "$1"/*.yaml; do "$SOPS" decrypt "$f" || exit 1; done' sh many-sops
if [ "$PARALLEL" = 1 ]; then
	slow sops-many-par 1 sh -c 'find "$1" -name "*.yaml" -print0 | xargs -0 -n 20 -P "$(nproc)" "$0"' \
		"$tmp/bin/sops-each" many-sops
fi

slow ksec-big-enc 5 "$KSEC" encrypt -k "age:$AGE_PUB" big.yaml
slow sops-big-enc 3 "$SOPS" encrypt --age "$AGE_PUB" --encrypted-regex "$ENCRE" big.yaml
slow ksec-big-dec 5 "$KSEC" decrypt -I age.key big.ksec.yaml
slow sops-big-dec 3 "$SOPS" decrypt big.sops.yaml
slow ksec-big2-enc 3 "$KSEC" encrypt -k "age:$AGE_PUB" big2.yaml
slow ksec-big2-dec 3 "$KSEC" decrypt -I age.key big2.ksec.yaml
elapsed=$(awk -v a="$started" -v b="$EPOCHREALTIME" 'BEGIN {printf "%.0f", b-a}')

# --- report ------------------------------------------------------------------

# verdict A B LIMIT: "met" when A/B <= LIMIT (unrounded).
verdict() { awk -v a="$1" -v b="$2" -v l="$3" 'BEGIN { print (a/b <= l ? "met" : "MISSED") }'; }

# row LABEL KSEC SOPS TARGET-TEXT TIME-LIMIT RSS-LIMIT (limits may be "-")
row() {
	local label=$1 k=$2 s=$3 target=$4 tl=$5 ml=$6 rt rmin rm v=""
	rt=$(ratio "${T[$k]}" "${T[$s]}")
	rmin=$(ratio "${TMIN[$k]}" "${TMIN[$s]}")
	rm=$(ratio "${M[$k]}" "${M[$s]}")
	[ "$tl" = - ] || v="time $(verdict "${T[$k]}" "${T[$s]}" "$tl")"
	[ "$ml" = - ] || v="$v, memory $(verdict "${M[$k]}" "${M[$s]}" "$ml")"
	printf '| %s | %s | %s | **%s** (%s) | %s | %s | **%s** | %s%s |\n' "$label" \
		"$(fmt_t "$k")" "$(fmt_t "$s")" "$rt" "$rmin" \
		"$(fmt_kb "${M[$k]}")" "$(fmt_kb "${M[$s]}")" "$rm" "$target" "${v:+ ($v)}"
}

cpu=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)
echo
echo "### Results"
echo
echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC'); machine: $(nproc) CPUs, ${cpu:-unknown CPU}, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo) RAM; load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "- $(go version | cut -d' ' -f3-); ksec $(cd "$repo" && git describe --always --dirty 2>/dev/null || echo '(no git)'); $sops_version; age $(age --version 2>/dev/null || echo '?'); $(gpg --version | head -1)"
echo "- timing: fast cases compared in 4 interleaved rounds of $(((RUNS + 3) / 4)) runs each ($( ((have_hyperfine)) && echo "hyperfine" || echo "shell loop")), median of the round medians; slow cases: median of the runs shown; peak RSS from /usr/bin/time (median of 5 runs, or of the runs shown)"
echo "- inputs: Secrets of 10 data keys (24-byte values) from bench/gen; $N Secrets in $N files; one Secret of $BIG keys ($(wc -c <big.yaml) bytes)"
echo
echo "Times are medians (fastest run in brackets); time ratios are of the medians (of the fastest runs in"
echo "brackets: less sensitive to other load on the machine). Targets are judged on the medians."
echo
echo "| case | ksec | SOPS | ksec/SOPS | ksec peak RSS | SOPS peak RSS | ksec/SOPS | target |"
echo "|---|---:|---:|---:|---:|---:|---:|---|"
row "start-up (\`--version\`)" ksec-start sops-start "-" - -
row "1 small Secret, age, decrypt" ksec-age-dec sops-age-dec "≤ 0.5× (stretch 0.3×), RSS ≤ 0.5×" 0.5 0.5
row "1 small Secret, age, encrypt" ksec-age-enc sops-age-enc "-" - -
row "1 small Secret, PGP key file (ksec -I) vs SOPS age, decrypt" ksec-pgpfile-dec sops-age-dec "≤ 0.5×, RSS ≤ 0.5×" 0.5 0.5
row "1 small Secret, gpg, decrypt" ksec-gpg-dec sops-gpg-dec "≤ 0.5×" 0.5 -
row "1 small Secret, gpg, encrypt" ksec-gpg-enc sops-gpg-enc "-" - -
row "$N Secrets: \`ksec decrypt -R\` vs SOPS loop (age)" ksec-many sops-many "≥ 50× faster (≤ 0.02); here $(speedup ksec-many sops-many)×" 0.02 -
if [ "$PARALLEL" = 1 ]; then
	row "$N Secrets: \`ksec decrypt -R\` vs SOPS, xargs -P $(nproc)" ksec-many sops-many-par "(for reference: $(speedup ksec-many sops-many-par)×)" - -
fi
row "$BIG-key Secret, age, encrypt" ksec-big-enc sops-big-enc "ksec < 1 s" - -
row "$BIG-key Secret, age, decrypt" ksec-big-dec sops-big-dec "ksec < 1 s" - -
echo
echo "For reference, a Go hello-world starts in $(fmt_t go-hello) with $(fmt_kb "${M[go-hello]}") peak RSS."
echo
echo "ksec alone, memory against input size (age):"
echo
echo "| keys | input | encrypt | encrypt peak RSS | decrypt | decrypt peak RSS |"
echo "|---:|---:|---:|---:|---:|---:|"
for c in "big $BIG" "big2 $((BIG * 2))"; do
	set -- $c
	printf '| %s | %s KiB | %s | %s | %s | %s |\n' "$2" "$(($(wc -c <"$1.yaml") / 1024))" \
		"$(fmt_t "ksec-$1-enc")" "$(fmt_kb "${M[ksec-$1-enc]}")" \
		"$(fmt_t "ksec-$1-dec")" "$(fmt_kb "${M[ksec-$1-dec]}")"
done
echo
big_ok=$(awk -v e="${T[ksec-big-enc]}" -v d="${T[ksec-big-dec]}" 'BEGIN { print (e < 1000 && d < 1000 ? "met" : "MISSED") }')
echo "$BIG-key target (encrypt and decrypt each under 1 s): $big_ok. Measuring took ${elapsed} s."
