# Mamori default appraisal policy for AMD SEV-SNP (tee = "snp").
#
# The service calls this policy only after the report's signature, the VCEK
# chain to the AMD root and the TCB bindings have been verified, so genuine
# hardware is established before this policy runs.
#
# Reference values read (all optional; name -> list of allowed values):
#   snp_launch_measurement   allowed launch measurements (hex, any case)
#   snp_host_data            allowed HOST_DATA values (hex)
#   snp_id_key_digest        allowed ID key digests (hex)
#   snp_vmpl                 allowed VMPLs the report may be requested from
#   snp_min_guest_svn        minimum guest SVN (highest listed value applies)
#   snp_min_tcb_bootloader, snp_min_tcb_tee, snp_min_tcb_snp,
#   snp_min_tcb_microcode, snp_min_tcb_fmc
#                            minimum REPORTED_TCB components (highest applies)
#
# Every claim value used here is positive, so for one claim the highest value
# is also the worst AR4SI tier. Affirming values are only given on positive
# evidence: a claim missing from the input never reads as "good".
package mamori.appraisal

import rego.v1

# Where a path is enough, claims and reference values are read straight from
# `input`: a path into a value that is missing, or is not an object, is
# undefined in Rego, so the rule falls back to its default exactly as it
# would for an empty object. Reading `input` directly rather than through
# helper rules keeps the evaluation short; this policy runs on every
# attestation. Claims that default to null are read with object.get (a rule
# whose `else` value is null reads as undefined in regorus's compiled form).

claims := c if {
	c := input.claims
	is_object(c)
} else := {}

reference := r if {
	r := input.reference
	is_object(r)
} else := {}

guest_policy := p if {
	p := input.claims.policy
	is_object(p)
} else := {}

reported_tcb := t if {
	t := input.claims.reported_tcb
	is_object(t)
} else := {}

# Allowed values as a set of lower-case strings, so hex compares case-blind.
# A comprehension over a missing reference is simply empty.
allowed_measurements := {lower(v) | some v in input.reference.snp_launch_measurement; is_string(v)}

allowed_host_data := {lower(v) | some v in input.reference.snp_host_data; is_string(v)}

allowed_id_key_digests := {lower(v) | some v in input.reference.snp_id_key_digest; is_string(v)}

allowed_vmpls := object.get(reference, "snp_vmpl", [])

# A claim is allowed when it is a string whose lower case is in the set (a
# claim of another type is never allowed, and never an evaluation error).
allowed(value, set) if {
	is_string(value)
	lower(value) in set
}

measurement := object.get(claims, "measurement", null)

host_data := object.get(claims, "host_data", null)

id_key_digest := object.get(claims, "id_key_digest", null)

vmpl := object.get(claims, "vmpl", null)

guest_svn := object.get(claims, "guest_svn", null)

# --- instance-identity: the TEE's key is bound into the report data -----------

instance_identity := 2 if input.binding.report_data_bound == true else := 96

# --- hardware: genuine (verified), unsafe when below a minimum TCB -----------

# Iterates the configured references (few) rather than every TCB component.
tcb_shortfalls contains msg if {
	is_object(input.reference)
	some name, values in input.reference
	startswith(name, "snp_min_tcb_")
	is_array(values)
	component := substring(name, 12, -1)
	minimum := max(values)
	actual := object.get(reported_tcb, component, null)
	not actual >= minimum
	msg := sprintf("reported_tcb.%s: %v is below the minimum %v (reference %s)", [component, actual, minimum, name])
}

hardware := 32 if count(tcb_shortfalls) > 0 else := 2

# --- configuration: guest policy and launch configuration --------------------

config_findings contains [96, "policy.debug: debugging is enabled, so the host can read and change guest memory"] if {
	guest_policy.debug == true
}

config_findings contains [96, "policy.migrate_ma: a migration agent may export the guest and its memory"] if {
	guest_policy.migrate_ma == true
}

config_findings contains [96, sprintf("policy.%s: missing from the claims", [bit])] if {
	some bit in ["debug", "migrate_ma"]
	not is_boolean(object.get(guest_policy, bit, null))
}

config_findings contains [96, sprintf("host_data: %v is not an allowed value (reference snp_host_data)", [host_data])] if {
	count(allowed_host_data) > 0
	not allowed(host_data, allowed_host_data)
}

config_findings contains [96, sprintf("id_key_digest: %v is not an allowed value (reference snp_id_key_digest)", [id_key_digest])] if {
	count(allowed_id_key_digests) > 0
	not allowed(id_key_digest, allowed_id_key_digests)
}

config_findings contains [96, sprintf("vmpl: the report was requested from VMPL %v, which is not allowed (reference snp_vmpl)", [vmpl])] if {
	count(allowed_vmpls) > 0
	not vmpl in allowed_vmpls
}

# A report requested from a VMPL other than 0 comes from a guest layered
# under a more privileged component (an SVSM or a paravisor) that these
# reference values do not describe: a warning until the operator lists the
# VMPLs it expects in snp_vmpl.
config_findings contains [32, sprintf("vmpl: the report was requested from VMPL %v, not VMPL 0, and no snp_vmpl reference allows it", [vmpl])] if {
	count(allowed_vmpls) == 0
	vmpl != 0
}

configuration := max(tiers) if {
	tiers := {f[0] | some f in config_findings}
	count(tiers) > 0
} else := 2 if {
	guest_policy.debug == false
	guest_policy.migrate_ma == false
} else := 96

# --- executables: the launch measurement --------------------------------------

exec_findings contains [33, "measurement: no reference launch measurements are configured (reference snp_launch_measurement), so the guest image is unrecognized"] if {
	count(allowed_measurements) == 0
}

exec_findings contains [96, sprintf("measurement: %v is not an allowed launch measurement (reference snp_launch_measurement)", [measurement])] if {
	count(allowed_measurements) > 0
	not allowed(measurement, allowed_measurements)
}

exec_findings contains [32, sprintf("guest_svn: %v is below the minimum %v (reference snp_min_guest_svn)", [guest_svn, minimum])] if {
	minimums := input.reference.snp_min_guest_svn
	is_array(minimums)
	minimum := max(minimums)
	not guest_svn >= minimum
}

# 3 = "approved boot": the launch measurement covers what was loaded at launch
# (firmware, and with measured direct boot the kernel, initrd and command
# line), not what the guest loads afterwards.
executables := max(tiers) if {
	tiers := {f[0] | some f in exec_findings}
	count(tiers) > 0
} else := 3 if {
	allowed(measurement, allowed_measurements)
} else := 96

# --- runtime-opaque: guest memory is encrypted unless debugging opens it ------

runtime_opaque := 2 if guest_policy.debug == false else := 96

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

reasons contains msg if some msg in tcb_shortfalls

reasons contains f[1] if some f in config_findings

reasons contains f[1] if some f in exec_findings
