"""Batch driver for the reference tool `sev-snp-measure`, used by oracle.rs.

Reads a JSON list of cases on stdin and prints a JSON list of results, one
per case: {"ok": "<hex>"} or {"err": "<message>"}. One Python process runs
every case by calling the reference library directly, so the whole matrix
costs one interpreter start-up instead of one per case.
"""

import base64
import json
import sys

from sevsnpmeasure import guest
from sevsnpmeasure.ovmf import OVMF, SVSM
from sevsnpmeasure.sev_mode import SevMode
from sevsnpmeasure.vmm_types import VMMType
from sevsnpmeasure.vmsa import VMSA, VMSA_SVSM


def measure(case):
    if case["mode"] == "snp:ovmf-hash":
        return guest.calc_snp_ovmf_hash(case["ovmf"]).hex()
    ld = guest.calc_launch_digest(
        SevMode.from_str(case["mode"]),
        case.get("vcpus"),
        case.get("vcpu_sig"),
        case["ovmf"],
        case.get("kernel"),
        case.get("initrd"),
        case.get("append"),
        case.get("guest_features", 1),
        case.get("ovmf_hash") or "",
        VMMType[case.get("vmm", "QEMU")],
        False,
        case.get("svsm") or "",
        case.get("vars_size", 0),
    )
    return ld.hex()


def vmsa_pages(case):
    """The VMSA pages, as --dump-vmsa would write them, hex, comma-separated."""
    ovmf = OVMF(case["ovmf"])
    if case["mode"] == "snp:svsm":
        svsm = SVSM(case["svsm"], end_at=ovmf.gpa() - case["vars_size"])
        pages = VMSA_SVSM(svsm.sev_es_reset_eip(), case["vcpu_sig"]).pages(case["vcpus"])
    else:
        features = case.get("guest_features", 1) if case["mode"] == "snp" else 0
        mode = SevMode.from_str(case["mode"])
        vmsa = VMSA(mode, ovmf.sev_es_reset_eip(), case["vcpu_sig"], features, VMMType[case.get("vmm", "QEMU")])
        pages = vmsa.pages(case["vcpus"])
    return ",".join(p.hex() for p in pages)


def verify_id_auth(case):
    """Checks an ID block + ID auth with the `cryptography` package, the
    way the reference tool signs: r and s little-endian in 72-byte fields."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, utils

    block = base64.b64decode(case["id_block"])
    auth = base64.b64decode(case["id_auth"])

    def key_at(off):
        x = int.from_bytes(auth[off + 4:off + 4 + 72], "little")
        y = int.from_bytes(auth[off + 4 + 72:off + 4 + 144], "little")
        return ec.EllipticCurvePublicNumbers(x, y, ec.SECP384R1()).public_key()

    def sig_at(off):
        r = int.from_bytes(auth[off:off + 72], "little")
        s = int.from_bytes(auth[off + 72:off + 144], "little")
        return utils.encode_dss_signature(r, s)

    key_at(0x240).verify(sig_at(0x40), block, ec.ECDSA(hashes.SHA384()))
    if int.from_bytes(auth[4:8], "little") != 0:
        key_at(0x880).verify(sig_at(0x680), auth[0x240:0x240 + 0x404], ec.ECDSA(hashes.SHA384()))
    return "verified"


def main():
    cases = json.load(sys.stdin)
    results = []
    for case in cases:
        try:
            if case.get("op") == "verify_id_auth":
                results.append({"ok": verify_id_auth(case)})
            elif case.get("op") == "vmsa":
                results.append({"ok": vmsa_pages(case)})
            else:
                results.append({"ok": measure(case)})
        except BaseException as e:  # the reference signals errors in several ways
            results.append({"err": f"{type(e).__name__}: {e}"})
    json.dump(results, sys.stdout)


if __name__ == "__main__":
    main()
