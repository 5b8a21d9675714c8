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

claims := c if {
	c := input.claims
	is_object(c)
} else := {}

reference := r if {
	r := input.reference
	is_object(r)
} else := {}

guest_policy := object.get(claims, "policy", {})

# Allowed values for a reference name; [] when none are configured.
refs(name) := v if {
	v := reference[name]
	is_array(v)
} else := []

hex_in(value, allowed) if {
	is_string(value)
	some a in allowed
	is_string(a)
	lower(a) == lower(value)
}

highest(values) := max({v | some v in values; is_number(v)})

# --- instance-identity: the TEE's key is bound into the report data -----------

instance_identity := 2 if input.binding.report_data_bound == true else := 96

identity_reasons contains "binding.report_data_bound: the report data does not bind the session nonce and the TEE public key" if {
	instance_identity == 96
}

# --- hardware: genuine (verified), unsafe when below a minimum TCB -----------

tcb_shortfalls contains msg if {
	some component in ["bootloader", "tee", "snp", "microcode", "fmc"]
	name := sprintf("snp_min_tcb_%s", [component])
	minimum := highest(refs(name))
	actual := object.get(object.get(claims, "reported_tcb", {}), component, null)
	is_number(actual)
	actual < minimum
	msg := sprintf("reported_tcb.%s: %d is below the minimum %d (reference %s)", [component, actual, minimum, name])
}

tcb_shortfalls contains msg if {
	some component in ["bootloader", "tee", "snp", "microcode", "fmc"]
	name := sprintf("snp_min_tcb_%s", [component])
	count(refs(name)) > 0
	not is_number(object.get(object.get(claims, "reported_tcb", {}), component, null))
	component != "fmc"
	msg := sprintf("reported_tcb.%s: missing from the claims but a minimum is configured (reference %s)", [component, name])
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

config_findings contains [96, sprintf("host_data: %v is not an allowed value (reference snp_host_data)", [object.get(claims, "host_data", null)])] if {
	count(refs("snp_host_data")) > 0
	not hex_in(object.get(claims, "host_data", null), refs("snp_host_data"))
}

config_findings contains [96, sprintf("id_key_digest: %v is not an allowed value (reference snp_id_key_digest)", [object.get(claims, "id_key_digest", null)])] if {
	count(refs("snp_id_key_digest")) > 0
	not hex_in(object.get(claims, "id_key_digest", null), refs("snp_id_key_digest"))
}

config_findings contains [96, sprintf("vmpl: the report was requested from VMPL %v, which is not allowed (reference snp_vmpl)", [object.get(claims, "vmpl", null)])] if {
	count(refs("snp_vmpl")) > 0
	not object.get(claims, "vmpl", null) in refs("snp_vmpl")
}

# A report requested from a VMPL other than 0 comes from a guest layered
# under a more privileged component (an SVSM or a paravisor) that these
# reference values do not describe: a warning until the operator lists the
# VMPLs it expects in snp_vmpl.
config_findings contains [32, sprintf("vmpl: the report was requested from VMPL %v, not VMPL 0, and no snp_vmpl reference allows it", [object.get(claims, "vmpl", null)])] if {
	count(refs("snp_vmpl")) == 0
	object.get(claims, "vmpl", 0) != 0
}

config_values := {f[0] | some f in config_findings}

configuration := max(config_values) if {
	count(config_values) > 0
} else := 2 if {
	guest_policy.debug == false
	guest_policy.migrate_ma == false
} else := 96

# --- executables: the launch measurement --------------------------------------

measurements := refs("snp_launch_measurement")

measurement := object.get(claims, "measurement", null)

exec_findings contains [33, "measurement: no reference launch measurements are configured (reference snp_launch_measurement), so the guest image is unrecognized"] if {
	count(measurements) == 0
}

exec_findings contains [96, sprintf("measurement: %v is not an allowed launch measurement (reference snp_launch_measurement)", [measurement])] if {
	count(measurements) > 0
	not hex_in(measurement, measurements)
}

exec_findings contains [32, sprintf("guest_svn: %v is below the minimum %v (reference snp_min_guest_svn)", [object.get(claims, "guest_svn", null), highest(refs("snp_min_guest_svn"))])] if {
	minimum := highest(refs("snp_min_guest_svn"))
	not object.get(claims, "guest_svn", -1) >= minimum
}

exec_values := {f[0] | some f in exec_findings}

# 3 = "approved boot": the launch measurement covers what was loaded at launch
# (firmware, and with measured direct boot the kernel, initrd and command
# line), not what the guest loads afterwards.
executables := max(exec_values) if {
	count(exec_values) > 0
} else := 3 if {
	hex_in(measurement, measurements)
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

reasons contains msg if some msg in identity_reasons

reasons contains msg if some msg in tcb_shortfalls

reasons contains f[1] if some f in config_findings

reasons contains f[1] if some f in exec_findings
