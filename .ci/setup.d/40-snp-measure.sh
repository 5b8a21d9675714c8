#!/usr/bin/env bash
# Oracle for crates/snp-measure: the reference tool sev-snp-measure (PyPI,
# pinned) and Debian's OVMF builds. The oracle test fails under CI=true if
# either is missing, so this must leave both installed. Idempotent.
set -euo pipefail

SEV_SNP_MEASURE_VERSION=0.0.13
PYTHON="${MAMORI_PYTHON:-python3}"

if [ ! -e /usr/share/ovmf/OVMF.fd ] || [ ! -e /usr/share/OVMF/OVMF_CODE_4M.fd ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ovmf >/dev/null
fi

installed="$("$PYTHON" -c 'import importlib.metadata as m; print(m.version("sev-snp-measure"))' 2>/dev/null || true)"
if [ "$installed" != "$SEV_SNP_MEASURE_VERSION" ]; then
  pip_install() {
    "$PYTHON" -m pip install -q --disable-pip-version-check --root-user-action=ignore "$@" \
      "sev-snp-measure==${SEV_SNP_MEASURE_VERSION}"
  }
  # A Debian-managed interpreter refuses plain pip installs (PEP 668).
  pip_install || pip_install --break-system-packages
fi

"$PYTHON" -c 'import sevsnpmeasure.guest, sevsnpmeasure.id_block'
echo "snp-measure oracle: sev-snp-measure ${SEV_SNP_MEASURE_VERSION}, $(dpkg-query -W -f='ovmf ${Version}' ovmf)"
