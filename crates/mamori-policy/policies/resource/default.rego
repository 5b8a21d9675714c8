# Mamori default resource policy: release only when the token has at least
# one submodule and EVERY submodule's ear.status is "affirming".
package mamori.resource

import rego.v1

default allow := false

submods := s if {
	s := input.token.submods
	is_object(s)
} else := {}

allow if {
	count(submods) > 0
	every _, submod in submods {
		submod["ear.status"] == "affirming"
	}
}

reasons contains "token: no submodules to appraise" if count(submods) == 0

reasons contains sprintf("submods.%s: ear.status is %v, not affirming", [name, status]) if {
	some name, submod in submods
	status := object.get(submod, "ear.status", "missing")
	status != "affirming"
}
