# Mamori default appraisal policy for Intel SGX enclaves (tee = "sgx").
#
# The service calls this policy only after the DCAP quote has been verified:
# quote signature by the attestation key, QE report signed by the PCK key and
# bound to that key, PCK chain to the Intel SGX Root CA, CRLs, and the TCB
# level matched against Intel's signed TCB info and QE identity. tcb_status is
# that appraisal's outcome; it is a claim for this policy, not a verdict
# already applied.
#
# Reference values read (all optional; name -> list of allowed values):
#   sgx_mr_enclave       allowed MRENCLAVE values (hex, any case)
#   sgx_mr_signer        allowed MRSIGNER values (hex)
#   sgx_isv_prod_id      allowed ISVPRODID values (numbers)
#   sgx_min_isv_svn      minimum ISVSVN (highest listed value applies)
#
# The enclave is recognized by MRENCLAVE, or by MRSIGNER (the enclave
# author's key, usually with ISVPRODID); with neither configured it is
# unrecognized. Affirming values are only given on positive evidence.
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

lower_set(values) := {lower(v) | some v in values; is_string(v)}

allowed(value, set) if {
	is_string(value)
	lower(value) in set
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

hardware_reasons contains sprintf("tcb_status: %v: the platform's TCB (microcode or quoting enclave) has known vulnerabilities%s", [tcb_status, advisory_note]) if {
	tcb_status in tcb_contraindicated
}

hardware_reasons contains sprintf("tcb_status: %v is not a known Intel TCB status", [tcb_status]) if {
	hardware == 96
	not tcb_status in tcb_contraindicated
}

# --- configuration: enclave attributes ---------------------------------------

debug := object.get(claims, "debug", null)

config_findings contains [96, "debug: the enclave was launched with ATTRIBUTES.DEBUG set, so its memory can be read and changed from outside"] if {
	debug == true
}

config_findings contains [96, "debug: missing from the claims"] if {
	not is_boolean(debug)
}

configuration := max({f[0] | some f in config_findings}) if {
	count(config_findings) > 0
} else := 2

# --- executables: the enclave's identity -----------------------------------

mr_enclaves := references_of("sgx_mr_enclave")

mr_signers := references_of("sgx_mr_signer")

prod_ids := p if {
	p := reference.sgx_isv_prod_id
	is_array(p)
} else := []

exec_findings contains [33, "mr_enclave: no reference MRENCLAVE or MRSIGNER values are configured (reference sgx_mr_enclave, sgx_mr_signer), so the enclave is unrecognized"] if {
	count(mr_enclaves) == 0
	count(mr_signers) == 0
}

exec_findings contains [96, sprintf("mr_enclave: %v is not an allowed value (reference sgx_mr_enclave)", [object.get(claims, "mr_enclave", null)])] if {
	count(mr_enclaves) > 0
	not allowed(object.get(claims, "mr_enclave", null), mr_enclaves)
}

exec_findings contains [96, sprintf("mr_signer: %v is not an allowed value (reference sgx_mr_signer)", [object.get(claims, "mr_signer", null)])] if {
	count(mr_signers) > 0
	not allowed(object.get(claims, "mr_signer", null), mr_signers)
}

exec_findings contains [96, sprintf("isv_prod_id: %v is not an allowed value (reference sgx_isv_prod_id)", [object.get(claims, "isv_prod_id", null)])] if {
	count(prod_ids) > 0
	not object.get(claims, "isv_prod_id", null) in prod_ids
}

exec_findings contains [32, sprintf("isv_svn: %v is below the minimum %v (reference sgx_min_isv_svn)", [isv_svn, minimum])] if {
	is_array(reference.sgx_min_isv_svn)
	count(reference.sgx_min_isv_svn) > 0
	minimum := max(reference.sgx_min_isv_svn)
	isv_svn := object.get(claims, "isv_svn", null)
	not isv_svn >= minimum
}

# 2: MRENCLAVE / MRSIGNER identify all the code the enclave runs.
executables := max({f[0] | some f in exec_findings}) if {
	count(exec_findings) > 0
} else := 2

# --- runtime-opaque: enclave memory is private unless debugging opens it ------

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
