//! The OpenAPI description of the native API, served at `/v1/openapi.json`.

use axum::Json;
use serde_json::{json, Value};

fn error_ref() -> Value {
    json!({"description": "error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}})
}

/// A 503 answer: retried after the `Retry-After` seconds.
fn unavailable(why: &str) -> Value {
    json!({"description": format!("{why}; try again after Retry-After seconds"), "headers": {"Retry-After": {"description": "seconds", "schema": {"type": "integer"}}}, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}})
}

pub async fn document() -> Json<Value> {
    let bearer = json!([{"bearer": []}]);
    let mut doc = json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Mamori attestation and key broker API",
            "version": "1",
            "description": "Challenge → attest (EAR token, passport model) → fetch a resource with the token; or send evidence straight to /v1/release (background-check model). Report data must be SHA-384 of the RFC 8785 canonical JSON {\"nonce\": <nonce>, \"tee-pubkey\": <JWK>}, zero-padded to the TEE's field. The Confidential Containers KBS protocol 0.4.0 is served under /kbs/v0. With [limits] client_requests_per_second set, any endpoint but /healthz and /readyz may answer 429 with Retry-After seconds, in the endpoint's error form (Error TooManyRequests, or the KBS form under /kbs/v0). Every answer carries an X-Request-Id header with the server's id for the request, also given as request_id in error bodies; the server's log line about a request the service refused or failed, and the audit entries the request made, carry it too. A request's own X-Request-Id (1-64 characters of A-Z a-z 0-9 . _ : -) is recorded beside it as client_request_id."
        },
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "An EAR token (resources) or an admin JWT signed by a configured admin key (EdDSA or ES256, exp required)."}
            },
            "schemas": {
                "Error": {"type": "object", "required": ["error", "detail"], "properties": {"error": {"type": "string"}, "detail": {"type": "string"}, "request_id": {"type": "string", "description": "The server's id for the request, as in the X-Request-Id answer header, its log line and the audit entries it made"}}},
                "Jwk": {"type": "object", "required": ["kty"], "properties": {"kty": {"enum": ["EC", "RSA"]}, "crv": {"enum": ["P-256", "P-384", "P-521"]}, "x": {"type": "string"}, "y": {"type": "string"}, "n": {"type": "string"}, "e": {"type": "string"}, "alg": {"enum": ["ECDH-ES+A256KW", "RSA-OAEP-256"]}}},
                "Jwe": {"type": "object", "required": ["protected", "encrypted_key", "iv", "ciphertext", "tag"], "properties": {"protected": {"type": "string"}, "encrypted_key": {"type": "string"}, "iv": {"type": "string"}, "ciphertext": {"type": "string"}, "tag": {"type": "string"}}},
                "Evidence": {"description": "TDX: {\"quote\": base64, \"cc_eventlog\": base64 CCEL or null}; SGX: {\"quote\": base64}; SEV-SNP: {\"report\": base64|hex of the report or an HCL report, \"certificates\": [PEM or base64 DER]} or the KBS form {\"attestation_report\": {...}, \"cert_chain\": [...]}; without a VCEK among the certificates it is fetched from AMD's KDS when [snp] kds_url is set; sample: {\"svn\", \"report_data\"}.", "type": "object"},
                "AttestRequest": {"type": "object", "required": ["session_id", "nonce", "tee_pubkey", "evidence"], "properties": {"session_id": {"type": "string"}, "nonce": {"type": "string"}, "tee_pubkey": {"$ref": "#/components/schemas/Jwk"}, "evidence": {"$ref": "#/components/schemas/Evidence"}}}
            }
        },
        "paths": {
            "/v1/challenge": {"post": {"summary": "Request a single-use nonce", "requestBody": {"content": {"application/json": {"schema": {"type": "object", "required": ["tee"], "properties": {"tee": {"enum": ["snp", "tdx", "sgx", "sample"]}}}}}}, "responses": {"200": {"description": "challenge", "content": {"application/json": {"schema": {"type": "object", "properties": {"session_id": {"type": "string"}, "nonce": {"type": "string"}, "expires_at": {"type": "integer"}}}}}}, "400": error_ref()}}},
            "/v1/attest": {"post": {"summary": "Submit evidence; receive an EAR token", "requestBody": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/AttestRequest"}}}}, "responses": {"200": {"description": "EAR token and appraisal", "content": {"application/json": {"schema": {"type": "object", "properties": {"token": {"type": "string"}, "expires_at": {"type": "integer"}, "status": {"enum": ["affirming", "warning", "contraindicated", "none"]}, "trust_vector": {"type": "object"}, "reasons": {"type": "array", "items": {"type": "string"}}}}}}}, "400": error_ref(), "401": error_ref()}}},
            "/v1/resource/{path}": {"get": {"summary": "Fetch a resource with an EAR token (passport model)", "security": bearer, "parameters": [{"name": "path", "in": "path", "required": true, "schema": {"type": "string"}}], "responses": {"200": {"description": "JWE encrypted to the attested TEE key", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Jwe"}}}}, "401": error_ref(), "403": error_ref(), "404": error_ref()}}},
            "/v1/release/{path}": {"post": {"summary": "Evidence and release in one call (background-check model)", "parameters": [{"name": "path", "in": "path", "required": true, "schema": {"type": "string"}}], "requestBody": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/AttestRequest"}}}}, "responses": {"200": {"description": "JWE", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Jwe"}}}}, "401": error_ref(), "403": error_ref(), "404": error_ref()}}},
            "/.well-known/jwks.json": {"get": {"summary": "Token-signing public keys", "responses": {"200": {"description": "JWKS"}}}},
            "/healthz": {"get": {"summary": "Liveness", "responses": {"200": {"description": "ok"}}}},
            "/metrics": {"get": {"summary": "Prometheus metrics", "responses": {"200": {"description": "text exposition format"}}}},
            "/v1/admin/resource/{path}": {
                "put": {"summary": "Store a secret (raw body), sealed at rest", "security": bearer, "parameters": [{"name": "path", "in": "path", "required": true, "schema": {"type": "string"}}], "requestBody": {"content": {"application/octet-stream": {}}}, "responses": {"200": {"description": "stored"}, "401": error_ref(), "413": error_ref()}},
                "delete": {"summary": "Delete a secret", "security": bearer, "parameters": [{"name": "path", "in": "path", "required": true, "schema": {"type": "string"}}], "responses": {"200": {"description": "deleted"}, "404": error_ref()}}
            },
            "/v1/admin/resources": {"get": {"summary": "List resource paths", "security": bearer, "responses": {"200": {"description": "paths"}}}},
            "/v1/admin/resource-policy": {"put": {"summary": "Set the Rego resource policy of a path prefix (\"\" = all)", "security": bearer, "requestBody": {"content": {"application/json": {"schema": {"type": "object", "required": ["policy"], "properties": {"prefix": {"type": "string"}, "policy": {"type": "string"}}}}}}, "responses": {"200": {"description": "digest"}, "400": error_ref()}}},
            "/v1/admin/attestation-policy": {"put": {"summary": "Set the Rego appraisal policy of a TEE kind (or default)", "security": bearer, "requestBody": {"content": {"application/json": {"schema": {"type": "object", "required": ["policy"], "properties": {"tee": {"type": "string"}, "policy": {"type": "string"}}}}}}, "responses": {"200": {"description": "digest"}, "400": error_ref()}}},
            "/v1/admin/policies": {"get": {"summary": "Stored policies", "security": bearer, "responses": {"200": {"description": "policies"}}}},
            "/v1/admin/reference-value": {"put": {"summary": "Set a reference value (name → allowed values, optional expiry)", "security": bearer, "requestBody": {"content": {"application/json": {"schema": {"type": "object", "required": ["name", "values"], "properties": {"name": {"type": "string"}, "values": {"type": "array"}, "expires_at": {"type": "integer"}}}}}}, "responses": {"200": {"description": "stored"}}}},
            "/v1/admin/reference-values": {"get": {"summary": "Reference values", "security": bearer, "responses": {"200": {"description": "values"}}}},
            "/v1/admin/audit": {"get": {"summary": "Audit entries after a sequence number", "security": bearer, "parameters": [{"name": "after", "in": "query", "schema": {"type": "integer"}}, {"name": "limit", "in": "query", "schema": {"type": "integer"}}], "responses": {"200": {"description": "entries"}}}},
            "/v1/admin/audit/verify": {"get": {"summary": "Verify the hash chain (from the retention anchor, `starts_after`, when old entries were removed); names the first broken entry", "security": bearer, "responses": {"200": {"description": "check"}}}},
            "/v1/admin/signing-key/rotate": {"post": {"summary": "Rotate the token-signing key (old key stays in the JWKS until its tokens expire)", "security": bearer, "responses": {"200": {"description": "new kid"}}}},
            "/v1/admin/policy/dry-run": {"post": {"summary": "Evaluate a policy (given or in force) against an input, changing nothing", "security": bearer, "requestBody": {"content": {"application/json": {"schema": {"type": "object", "required": ["kind", "input"], "properties": {"kind": {"enum": ["appraisal", "resource"]}, "tee": {"type": "string"}, "path": {"type": "string"}, "policy": {"type": "string"}, "input": {"type": "object"}}}}}}, "responses": {"200": {"description": "outcome"}, "400": error_ref()}}}
        }
    });
    // Added apart: more inside the literal exceeds the macro's recursion
    // limit.
    doc["paths"]["/readyz"] = json!({"get": {"summary": "Readiness: the store's writer answers within 2 s (one probe a second, its answer shared)", "responses": {"200": {"description": "ready"}, "503": unavailable("the store did not answer, or the node is shutting down (`ShuttingDown`, without Retry-After)")}}});
    doc["paths"]["/v1/challenge"]["post"]["responses"]["503"] =
        unavailable("session.max_open sessions await evidence, or the store is unavailable");
    for (path, method, why) in [
        ("/v1/attest", "post", "the store is unavailable, or (`CollateralUnavailable`) vendor collateral could not be fetched (the SEV-SNP VCEK from [snp] kds_url, Intel TCB info or QE identity from [dcap] pcs_url); retry with a new challenge"),
        ("/v1/release/{path}", "post", "the store is unavailable, or (`CollateralUnavailable`) vendor collateral could not be fetched (the SEV-SNP VCEK from [snp] kds_url, Intel TCB info or QE identity from [dcap] pcs_url); retry with a new challenge"),
        ("/v1/resource/{path}", "get", "the store is unavailable"),
    ] {
        if let Some(responses) = doc["paths"][path][method]["responses"].as_object_mut() {
            responses.insert("503".into(), unavailable(why));
        }
    }
    // Every operation that takes a body gives it limits.body_timeout_secs.
    if let Some(paths) = doc["paths"].as_object_mut() {
        for item in paths.values_mut() {
            for op in item
                .as_object_mut()
                .into_iter()
                .flat_map(|m| m.values_mut())
            {
                if op.get("requestBody").is_some() {
                    op["responses"]["408"] = json!({
                        "description": "the request body did not arrive within limits.body_timeout_secs",
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
                    });
                }
            }
        }
    }
    Json(doc)
}
