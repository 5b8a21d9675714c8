# Mamori default appraisal policy for Intel TDX (tee = "tdx").
#
# The service calls this policy only after the DCAP quote has been verified:
# quote signature by the attestation key, QE report signed by the PCK key and
# bound to that key, PCK chain to the Intel SGX Root CA, CRLs, and the TCB
# level matched against Intel's signed TCB info, TDX module identity and
# TD_QE identity. tcb_status is that appraisal's outcome; it is a claim for
# this policy, not a verdict already applied. When the guest sent its CCEL
# event log, it was replayed into RTMR0-3 and found equal to the quote's.
#
# Reference values read (all optional; name -> list of allowed values):
#   tdx_mr_td            allowed MRTD values (hex, any case): the TD firmware
#   tdx_rtmr0 .. tdx_rtmr3
#                        allowed RTMR values (firmware configuration, boot
#                        loader and kernel, command line and initrd, runtime)
#   tdx_mr_config_id     allowed MRCONFIGID values (hex)
#
# Affirming values are only given on positive evidence: a claim missing from
# the input never reads as "good".
package mamori.appraisal

import rego.v1

claims := c if {
	c := input.claims
	is_object(c)
} else := {}

reference := r if {
	r := input.reference
	is_object(r)
} else := {}

# Allowed values as a set of lower-case strings, so hex compares case-blind.
lower_set(values) := {lower(v) | some v in values; is_string(v)}

allowed(value, set) if {
	is_string(value)
	lower(value) in set
}

# Registers that executables are appraised on: claim name -> reference name.
registers := {
	"mr_td": "tdx_mr_td",
	"rtmr0": "tdx_rtmr0",
	"rtmr1": "tdx_rtmr1",
	"rtmr2": "tdx_rtmr2",
	"rtmr3": "tdx_rtmr3",
	"mr_config_id": "tdx_mr_config_id",
}

references_of(name) := lower_set(v) if {
	v := reference[name]
	is_array(v)
} else := set()

tcb_status := object.get(claims, "tcb_status", null)

advisories := a if {
	a := claims.advisory_ids
	is_array(a)
	count(a) > 0
} else := []

advisory_note := sprintf(" (advisories %s)", [concat(", ", advisories)]) if {
	count(advisories) > 0
} else := ""

# --- instance-identity: the TEE's key is bound into REPORTDATA ----------------

instance_identity := 2 if input.binding.report_data_bound == true else := 96

# --- hardware: genuine (verified), graded by Intel's TCB status ---------------

tcb_warning := {"SWHardeningNeeded", "ConfigurationNeeded", "ConfigurationAndSWHardeningNeeded"}

tcb_contraindicated := {"OutOfDate", "OutOfDateConfigurationNeeded", "Revoked"}

hardware := 2 if {
	tcb_status == "UpToDate"
} else := 32 if {
	tcb_status in tcb_warning
} else := 96

hardware_reasons contains sprintf("tcb_status: %v: the platform is up to date only with software hardening or configuration changes it may not have%s", [tcb_status, advisory_note]) if {
	hardware == 32
}

hardware_reasons contains sprintf("tcb_status: %v: the platform's TCB (microcode, SEAM module or quoting enclave) has known vulnerabilities%s", [tcb_status, advisory_note]) if {
	tcb_status in tcb_contraindicated
}

hardware_reasons contains sprintf("tcb_status: %v is not a known Intel TCB status", [tcb_status]) if {
	hardware == 96
	not tcb_status in tcb_contraindicated
}

# --- configuration: TD attributes ---------------------------------------------

debug := object.get(claims, "debug", null)

config_findings contains [96, "debug: the TD was launched with TDATTRIBUTES.DEBUG set, so the host can read and change its memory and registers"] if {
	debug == true
}

config_findings contains [96, "debug: missing from the claims"] if {
	not is_boolean(debug)
}

configuration := max({f[0] | some f in config_findings}) if {
	count(config_findings) > 0
} else := 2

# --- executables: MRTD, RTMRs and MRCONFIGID against reference values --------

exec_findings contains [33, "mr_td: no reference MRTD values are configured (reference tdx_mr_td), so the TD image is unrecognized"] if {
	count(references_of("tdx_mr_td")) == 0
}

exec_findings contains [96, sprintf("%s: %v is not an allowed value (reference %s)", [claim, object.get(claims, claim, null), ref])] if {
	some claim, ref in registers
	allowed_values := references_of(ref)
	count(allowed_values) > 0
	not allowed(object.get(claims, claim, null), allowed_values)
}

# 3 = "approved boot": MRTD covers the TD firmware; the RTMRs, when listed,
# cover what it booted.
executables := max({f[0] | some f in exec_findings}) if {
	count(exec_findings) > 0
} else := 3

# --- runtime-opaque: TD memory is private unless debugging opens it -----------

runtime_opaque := 2 if debug == false else := 96

# --- the outputs of the contract ------------------------------------------------

trust_vector := {
	"instance-identity": instance_identity,
	"configuration": configuration,
	"executables": executables,
	"hardware": hardware,
	"runtime-opaque": runtime_opaque,
}

reasons contains "binding.report_data_bound: the report data does not bind the session nonce and the TEE public key" if {
	instance_identity == 96
}

reasons contains msg if some msg in hardware_reasons

reasons contains f[1] if some f in config_findings

reasons contains f[1] if some f in exec_findings
