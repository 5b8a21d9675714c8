#!/usr/bin/env bash
# Brief fuzz smoke run (80 s of fuzzing in all, shared between the targets)
# of the cargo-fuzz targets in fuzz/: the SNP targets (snp_*), the DCAP
# targets (dcap_*) and those of what clients send the service (api_*). A crash, panic or timeout fails the run. Skips cleanly
# (exit 0) when cargo-fuzz is not installed (.ci/setup.d/30-cargo-fuzz.sh
# installs it). Works on the stable toolchain through RUSTC_BOOTSTRAP=1
# (cargo-fuzz passes -Z flags to rustc).
#
# Environment: FUZZ_SMOKE_SECONDS (total fuzzing budget, default 80),
# MAMORI_VECTORS (the shared vectors, default ../shared/vectors) for seeds.
set -euo pipefail
cd "$(dirname "$0")/../.."

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "fuzz smoke: skipped (cargo-fuzz is not installed; see .ci/setup.d/30-cargo-fuzz.sh)"
  exit 0
fi
if [ ! -f fuzz/Cargo.toml ]; then
  echo "fuzz smoke: skipped (no fuzz/Cargo.toml)"
  exit 0
fi

# Targets: the [[bin]] names in fuzz/Cargo.toml that start with snp_, dcap_ or api_.
mapfile -t targets < <(sed -n 's/^name *= *"\(\(snp\|dcap\|api\)_[A-Za-z0-9_]*\)".*/\1/p' fuzz/Cargo.toml)
if [ "${#targets[@]}" -eq 0 ]; then
  echo "fuzz smoke: skipped (no snp_*/dcap_*/api_* targets in fuzz/Cargo.toml)"
  exit 0
fi

budget="${FUZZ_SMOKE_SECONDS:-80}"
per=$((budget / ${#targets[@]}))
[ "$per" -ge 1 ] || per=1

if [ -n "${MAMORI_VECTORS:-}" ]; then
  vectors="$MAMORI_VECTORS"
else
  vectors="../shared/vectors"
fi

# Seeds (fuzz/corpus is git-ignored; seeds are never committed): SNP evidence
# of every container kind for the snp_* targets; for the api_* targets, the
# shapes clients send (a token, claims, a JWK, runtime data), written here.
# Other targets start from whatever fuzz/corpus/<target>/ holds.
seed_text() {
  [ -e "$1/$2" ] || printf '%s' "$3" >"$1/$2"
}
seed() {
  local dir="fuzz/corpus/$1" f
  mkdir -p "$dir"
  case "$1" in
    api_token)
      # {"alg":"ES256","kid":"k","typ":"JWT"} . {"exp":1800000000} . a signature
      seed_text "$dir" token 'eyJhbGciOiJFUzI1NiIsImtpZCI6ImsiLCJ0eXAiOiJKV1QifQ.eyJleHAiOjE4MDAwMDAwMDB9.AAAA'
      seed_text "$dir" claims '{"eat_profile":"tag:github.com,2023:veraison/ear","iat":1795910400,"exp":1800000000,"submods":{"cpu0":{"ear.status":"affirming"}}}'
      ;;
    api_jwk)
      seed_text "$dir" ec '{"kty":"EC","crv":"P-256","x":"MKBCTNIcKUSDii11ySs3526iDZ8AiTo7Tu6KPAqv7D4","y":"4Etl6SRW2YiLUrN5vfvVHuhp7x8PxltmWWlbbM4IFyM"}'
      seed_text "$dir" rsa '{"kty":"RSA","alg":"RSA-OAEP-256","n":"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw","e":"AQAB"}'
      ;;
    api_jcs)
      seed_text "$dir" runtime-data '{"tee-pubkey":{"kty":"EC","crv":"P-256","x":"MKBCTNIcKUSDii11ySs3526iDZ8AiTo7Tu6KPAqv7D4","y":"4Etl6SRW2YiLUrN5vfvVHuhp7x8PxltmWWlbbM4IFyM"},"nonce":"c2Vzc2lvbg","additional-evidence":""}'
      seed_text "$dir" numbers '[1e21,0.1,-0,1.5e-7,333333333.33333329,"\u00e9\ud83d\ude00",{"b":1,"a":[true,null]}]'
      ;;
  esac
  [ -d "$vectors" ] || return 0
  case "$1" in
    snp_*)
      for f in "$vectors"/snp-report/* "$vectors"/az-snp-vtpm/* "$vectors"/derived/snp-report/*; do
        if [ -f "$f" ] && [ ! -e "$dir/$(basename "$f")" ]; then
          cp "$f" "$dir/"
        fi
      done
      ;;
  esac
}

export RUSTC_BOOTSTRAP=1
echo "fuzz smoke: building the fuzz targets (${targets[*]})"
(cd fuzz && cargo fuzz build)

status=0
for t in "${targets[@]}"; do
  seed "$t"
  scratch="$(mktemp -d)"
  log="$(mktemp)"
  # New inputs go to a scratch directory; the seed corpus is only read.
  if (cd fuzz && cargo fuzz run "$t" "$scratch" "corpus/$t" -- \
    -max_total_time="$per" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1) >"$log" 2>&1; then
    execs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)"
    echo "fuzz smoke: $t ok (${per}s, ${execs:-?} executions, no crash)"
  else
    echo "fuzz smoke: $t FAILED (see fuzz/artifacts/$t/)"
    tail -n 60 "$log" | cut -c1-300
    status=1
  fi
  rm -rf "$scratch" "$log"
done
exit "$status"
