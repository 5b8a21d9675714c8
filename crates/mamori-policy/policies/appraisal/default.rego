# Mamori default appraisal policy for TEE kinds without a policy of their own.
#
# Conservative: the evidence was verified (hardware affirming) and the key
# binding is appraised, but without a policy that knows this TEE's
# measurements the workload is at best "unrecognized" (warning), so the
# default resource policy releases nothing until an operator uploads an
# appraisal policy for this TEE kind or configures reference measurements.
#
# Reference values read (optional):
#   <tee>_measurement   allowed values of claims.measurement (e.g. tdx_measurement)
#   A claim named debug (at claims.debug, claims.policy.debug,
#   claims.td_attributes.debug or claims.attributes.debug) that is true makes
#   the configuration contraindicated.
package mamori.appraisal

import rego.v1

claims := c if {
	c := input.claims
	is_object(c)
} else := {}

reference_name := sprintf("%s_measurement", [input.tee])

measurements := m if {
	m := input.reference[reference_name]
	is_array(m)
} else := []

measurement := object.get(claims, "measurement", null)

instance_identity := 2 if input.binding.report_data_bound == true else := 96

debug_paths := [["debug"], ["policy", "debug"], ["td_attributes", "debug"], ["attributes", "debug"]]

debug_claims contains concat(".", path) if {
	some path in debug_paths
	object.get(claims, path, false) == true
}

configuration := 96 if count(debug_claims) > 0

executables := 33 if {
	count(measurements) == 0
} else := 3 if {
	measurement in measurements
} else := 96

base_vector := {
	"instance-identity": instance_identity,
	"executables": executables,
	"hardware": 2,
}

trust_vector := object.union(base_vector, {"configuration": configuration}) if {
	configuration
} else := base_vector

reasons contains sprintf("%s: debugging is enabled", [path]) if some path in debug_claims

reasons contains "binding.report_data_bound: the report data does not bind the session nonce and the TEE public key" if {
	instance_identity == 96
}

reasons contains sprintf("measurement: no reference values are configured for TEE %v (reference %s), so the workload is unrecognized", [input.tee, reference_name]) if {
	executables == 33
}

reasons contains sprintf("measurement: %v is not an allowed value (reference %s)", [measurement, reference_name]) if {
	executables == 96
}
