# Mamori default appraisal policy for the development "sample" TEE.
#
# The sample TEE has no hardware root of trust and no memory protection: its
# "evidence" is a JSON document anyone can write. Its results are therefore
# never affirming: hardware is contraindicated (unrecognized hardware) and so
# is the opacity of its runtime. Key binding and the launch digest are still
# appraised, so development flows exercise the same checks as real TEEs.
#
# Reference values read (optional):
#   sample_launch_digest   allowed values of claims.launch_digest
package mamori.appraisal

import rego.v1

claims := c if {
	c := input.claims
	is_object(c)
} else := {}

digests := d if {
	d := input.reference.sample_launch_digest
	is_array(d)
} else := []

launch_digest := object.get(claims, "launch_digest", null)

instance_identity := 2 if input.binding.report_data_bound == true else := 96

executables := 33 if {
	count(digests) == 0
} else := 3 if {
	launch_digest in digests
} else := 96

trust_vector := {
	"instance-identity": instance_identity,
	"executables": executables,
	# 97 = unrecognized hardware: there is no hardware behind this evidence.
	"hardware": 97,
	# 96 = visible memory: nothing protects the workload's memory.
	"runtime-opaque": 96,
}

reasons contains "hardware: the sample TEE is a development simulation with no hardware root of trust"

reasons contains "runtime-opaque: the sample TEE does not protect the workload's memory"

reasons contains "binding.report_data_bound: the report data does not bind the session nonce and the TEE public key" if {
	instance_identity == 96
}

reasons contains "launch_digest: no reference values are configured (reference sample_launch_digest)" if {
	executables == 33
}

reasons contains sprintf("launch_digest: %v is not an allowed value (reference sample_launch_digest)", [launch_digest]) if {
	executables == 96
}
