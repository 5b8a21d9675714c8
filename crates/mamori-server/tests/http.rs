//! End to end over real HTTP on loopback: the KBS protocol exactly as a
//! Confidential Containers guest performs it, the native passport and
//! background-check models, and the failures each must refuse.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{session_cookie, temp_dir, Guest, TestServer};
use serde_json::{json, Value};

const SECRET: &[u8] = b"disk-encryption-key-0123456789abcdef";

/// RCAR as the stock kbs_protocol client runs it.
async fn kbs_attest(s: &TestServer, g: &Guest) -> (String, reqwest::Response) {
    let r = s
        .client
        .post(format!("{}/kbs/v0/auth", s.url))
        .json(&json!({"version": "0.4.0", "tee": "snp", "extra-params": {"supported-hash-algorithms": ["sha384"]}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let cookie = session_cookie(&r).expect("kbs-session-id cookie");
    let challenge: Value = r.json().await.unwrap();
    assert_eq!(challenge["extra-params"], "");
    let nonce = challenge["nonce"].as_str().unwrap().to_owned();
    assert_eq!(nonce.len(), 44, "32 bytes, standard base64");
    let r = s.kbs_post_attest(&cookie, &g.kbs_attest_body(&nonce)).await;
    (cookie, r)
}

/// RCAR that must succeed: the session cookie and the token.
async fn kbs_attested(s: &TestServer, g: &Guest) -> (String, String) {
    let (cookie, r) = kbs_attest(s, g).await;
    assert_eq!(r.status(), 200);
    let token = r.json::<Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    (cookie, token)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kbs_protocol_end_to_end_with_cookie_and_bearer() {
    let s = TestServer::start("kbs").await;
    s.provision("default/disk-key/vm1", SECRET).await;
    let g = Guest::new();
    let (cookie, token) = kbs_attested(&s, &g).await;
    assert_eq!(token.split('.').count(), 3);
    // Background check: the session cookie.
    let r = s.kbs_resource(&cookie, "default/disk-key/vm1").await;
    assert_eq!(r.status(), 200);
    let jwe = r.text().await.unwrap();
    let v: Value = serde_json::from_str(&jwe).unwrap();
    for k in ["protected", "encrypted_key", "iv", "ciphertext", "tag"] {
        assert!(v[k].is_string(), "{k}");
    }
    assert_eq!(g.decrypt(&jwe), SECRET);
    // The stock client rebuilds the protected header (alg, enc, then the
    // other members sorted, nested objects sorted) for the GCM AAD, so the
    // header must already be in exactly that form.
    let header = String::from_utf8(base64_url(v["protected"].as_str().unwrap())).unwrap();
    let parsed: Value = serde_json::from_str(&header).unwrap();
    let mut rebuilt = format!("{{\"alg\":{},\"enc\":{}", parsed["alg"], parsed["enc"]);
    for (k, val) in parsed.as_object().unwrap() {
        if k != "alg" && k != "enc" {
            rebuilt.push_str(&format!(",{}:{}", json!(k), val));
        }
    }
    rebuilt.push('}');
    assert_eq!(
        header, rebuilt,
        "protected header is not in the client's canonical order"
    );
    assert!(
        header.starts_with(
            r#"{"alg":"ECDH-ES+A256KW","enc":"A256GCM","epk":{"crv":"P-256","kty":"EC","x":"#
        ),
        "{header}"
    );
    // Passport: the token as bearer, no cookie.
    let r = s
        .client
        .get(format!("{}/kbs/v0/resource/default/disk-key/vm1", s.url))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(g.decrypt(&r.text().await.unwrap()), SECRET);
    // The token is an EAR whose key is in the JWKS.
    let jwks: Value = s
        .client
        .get(format!("{}/.well-known/jwks.json", s.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(!jwks["keys"].as_array().unwrap().is_empty());
    let claims: Value =
        serde_json::from_slice(&base64_url(token.split('.').nth(1).unwrap())).unwrap();
    assert_eq!(claims["submods"]["cpu0"]["ear.status"], "affirming");
    assert_eq!(claims["eat_profile"], "tag:github.com,2023:veraison/ear");
    s.stop().await;
}

fn base64_url(s: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s)
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn native_passport_and_background_check() {
    let s = TestServer::start("native").await;
    s.provision("apps/model-key/v1", SECRET).await;
    let g = Guest::new();
    let c: Value = s.challenge("snp").await;
    let r = s.native_attest(&c, &g).await;
    assert_eq!(r.status(), 200);
    let a: Value = r.json().await.unwrap();
    assert_eq!(a["status"], "affirming", "{a}");
    let r = s
        .client
        .get(format!("{}/v1/resource/apps/model-key/v1", s.url))
        .bearer_auth(a["token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(g.decrypt(&r.text().await.unwrap()), SECRET);

    // Background check: evidence straight to release.
    let c: Value = s.challenge("snp").await;
    let nonce = c["nonce"].as_str().unwrap();
    let r = s
        .client
        .post(format!("{}/v1/release/apps/model-key/v1", s.url))
        .json(&json!({"session_id": c["session_id"], "nonce": nonce, "tee_pubkey": g.jwk(), "evidence": g.native_evidence(nonce)}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(g.decrypt(&r.text().await.unwrap()), SECRET);
    s.stop().await;
}

async fn error_of(r: reqwest::Response) -> (u16, Value) {
    let status = r.status().as_u16();
    let body: Value = r.json().await.expect("error bodies are JSON");
    (status, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nonce_and_session_failures() {
    let s = TestServer::start("nonce").await;
    s.provision("default/k/1", SECRET).await;
    let g = Guest::new();
    // Wrong nonce in runtime data.
    let r = s
        .client
        .post(format!("{}/kbs/v0/auth", s.url))
        .json(&json!({"version": "0.4.0", "tee": "snp"}))
        .send()
        .await
        .unwrap();
    let cookie = session_cookie(&r).unwrap();
    let real: Value = r.json().await.unwrap();
    let wrong = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
    let body = json!({"runtime-data": {"nonce": wrong, "tee-pubkey": g.jwk()}, "tee-evidence": {"primary_evidence": g.kbs_evidence(wrong), "additional_evidence": ""}});
    let r = s.kbs_post_attest(&cookie, &body).await;
    let (status, e) = error_of(r).await;
    assert_eq!(status, 401);
    assert_eq!(
        e["type"],
        "https://github.com/confidential-containers/kbs/errors/NonceMismatch"
    );
    // The session's nonce was consumed by that attempt: reusing it fails.
    let n = real["nonce"].as_str().unwrap();
    let body = json!({"runtime-data": {"nonce": n, "tee-pubkey": g.jwk()}, "tee-evidence": {"primary_evidence": g.kbs_evidence(n), "additional_evidence": ""}});
    let r = s.kbs_post_attest(&cookie, &body).await;
    let (status, e) = error_of(r).await;
    assert_eq!(status, 401);
    assert!(
        e["detail"].as_str().unwrap().contains("already used"),
        "{e}"
    );
    // Replayed evidence: a request that succeeded, presented again on its
    // own session (the nonce is spent) and on a fresh one (the evidence
    // binds the old nonce, not the new session's) is refused both times.
    let (cookie, n) = s.kbs_auth("snp").await;
    let accepted = json!({"runtime-data": {"nonce": n, "tee-pubkey": g.jwk()}, "tee-evidence": {"primary_evidence": g.kbs_evidence(&n), "additional_evidence": ""}});
    assert_eq!(s.kbs_post_attest(&cookie, &accepted).await.status(), 200);
    let (status, e) = error_of(s.kbs_post_attest(&cookie, &accepted).await).await;
    assert_eq!(status, 401);
    assert!(
        e["detail"].as_str().unwrap().contains("already used"),
        "{e}"
    );
    let (fresh, _) = s.kbs_auth("snp").await;
    let (status, e) = error_of(s.kbs_post_attest(&fresh, &accepted).await).await;
    assert_eq!(status, 401);
    assert!(
        e["type"].as_str().unwrap().ends_with("NonceMismatch"),
        "{e}"
    );
    // Echoing the fresh session's nonce does not help: the evidence binds
    // the old one.
    let (fresh, fresh_nonce) = s.kbs_auth("snp").await;
    let mut replayed = accepted.clone();
    replayed["runtime-data"]["nonce"] = json!(fresh_nonce);
    let (status, e) = error_of(s.kbs_post_attest(&fresh, &replayed).await).await;
    assert_eq!(status, 401);
    assert!(
        e["type"].as_str().unwrap().ends_with("BindingFailed"),
        "{e}"
    );
    // Unknown session and missing cookie.
    let r = s
        .client
        .post(format!("{}/kbs/v0/attest", s.url))
        .header("cookie", "kbs-session-id=ffff")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(r).await.0, 401);
    let r = s
        .client
        .post(format!("{}/kbs/v0/attest", s.url))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(r).await.0, 401);
    // Evidence whose report data binds another key.
    let (cookie, n) = s.kbs_auth("snp").await;
    let other = Guest::new();
    let body = json!({"runtime-data": {"nonce": n, "tee-pubkey": g.jwk()}, "tee-evidence": {"primary_evidence": other.kbs_evidence(&n), "additional_evidence": ""}});
    let r = s.kbs_post_attest(&cookie, &body).await;
    let (status, e) = error_of(r).await;
    assert_eq!(status, 401);
    assert!(
        e["type"].as_str().unwrap().ends_with("BindingFailed"),
        "{e}"
    );
    // Old protocol versions are refused with the stock message.
    let r = s
        .client
        .post(format!("{}/kbs/v0/auth", s.url))
        .json(&json!({"version": "0.1.0", "tee": "snp"}))
        .send()
        .await
        .unwrap();
    let (status, e) = error_of(r).await;
    assert_eq!(status, 401);
    assert!(e["detail"]
        .as_str()
        .unwrap()
        .contains("KBS Client Protocol Version Mismatch"));
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_failures() {
    let s = TestServer::start("token").await;
    s.provision("default/k/1", SECRET).await;
    let g = Guest::new();
    let (_, r) = kbs_attest(&s, &g).await;
    let token = r.json::<Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let get = |t: String| {
        let c = s.client.clone();
        let url = format!("{}/kbs/v0/resource/default/k/1", s.url);
        async move { c.get(url).bearer_auth(t).send().await.unwrap() }
    };
    // Tampered payload.
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    let mut payload: Value = serde_json::from_slice(&base64_url(&parts[1])).unwrap();
    payload["exp"] = json!(payload["exp"].as_i64().unwrap() + 86_400);
    use base64::Engine;
    parts[1] = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(payload.to_string());
    let (status, _) = error_of(get(parts.join(".")).await).await;
    assert_eq!(status, 401);
    // Signed by another key (a self-made ES256 token with a real-looking kid).
    let (signer, _) = mamori_token::TokenSigner::generate().unwrap();
    let forged = signer.sign_json(&payload).unwrap();
    assert_eq!(error_of(get(forged).await).await.0, 401);
    // A key in the header is not trusted.
    let header = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(json!({"alg": "ES256", "jwk": signer.public_jwk()}).to_string());
    let with_jwk = format!("{header}.{}.{}", parts[1], token.split('.').nth(2).unwrap());
    assert_eq!(error_of(get(with_jwk).await).await.0, 401);
    // Garbage and no token.
    assert_eq!(error_of(get("not-a-token".into()).await).await.0, 401);
    let r = s
        .client
        .get(format!("{}/kbs/v0/resource/default/k/1", s.url))
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(r).await.0, 401);
    // The genuine token still works, and an unknown resource is 404.
    assert_eq!(get(token.clone()).await.status(), 200);
    let r = s
        .client
        .get(format!("{}/kbs/v0/resource/default/k/none", s.url))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(r).await.0, 404);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn debug_guest_and_wrong_measurement_are_denied() {
    let s = TestServer::start("deny").await;
    s.provision("default/k/1", SECRET).await;
    for (guest, claim) in [
        (
            Guest {
                policy: 0x30000 | (1 << 19),
                ..Guest::new()
            },
            "policy.debug",
        ),
        (
            Guest {
                measurement: [0x11; 48],
                ..Guest::new()
            },
            "measurement",
        ),
    ] {
        let (cookie, r) = kbs_attest(&s, &guest).await;
        assert_eq!(
            r.status(),
            200,
            "attestation itself succeeds: the token says contraindicated"
        );
        let token = r.json::<Value>().await.unwrap()["token"]
            .as_str()
            .unwrap()
            .to_owned();
        let claims: Value =
            serde_json::from_slice(&base64_url(token.split('.').nth(1).unwrap())).unwrap();
        assert_eq!(claims["submods"]["cpu0"]["ear.status"], "contraindicated");
        let reasons =
            claims["submods"]["cpu0"]["ear.veraison.policy-claims"]["reasons"].to_string();
        assert!(reasons.contains(claim), "{reasons}");
        let r = s.kbs_resource(&cookie, "default/k/1").await;
        let (status, e) = error_of(r).await;
        assert_eq!(status, 403);
        assert!(e["type"].as_str().unwrap().ends_with("PolicyDeny"));
    }
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sample_tee_is_never_affirming() {
    let s = TestServer::start("sample").await;
    s.provision("default/k/1", SECRET).await;
    let g = Guest::new();
    let (cookie, n) = s.kbs_auth("sample").await;
    let n = n.as_str();
    use base64::Engine;
    let rd = g.report_data(n, true);
    let evidence = json!({"svn": "1", "report_data": base64::engine::general_purpose::STANDARD.encode(&rd[..48])});
    let body = json!({"runtime-data": {"nonce": n, "tee-pubkey": g.jwk()}, "tee-evidence": {"primary_evidence": evidence, "additional_evidence": ""}});
    let r = s.kbs_post_attest(&cookie, &body).await;
    assert_eq!(r.status(), 200);
    let token = r.json::<Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let claims: Value =
        serde_json::from_slice(&base64_url(token.split('.').nth(1).unwrap())).unwrap();
    assert_ne!(claims["submods"]["cpu0"]["ear.status"], "affirming");
    let r = s.kbs_resource(&cookie, "default/k/1").await;
    assert_eq!(r.status(), 403);
    s.stop().await;
}

/// The attester chooses part of the token (its key's JWK is copied into
/// the claims): a token no verifier would accept is not issued, and
/// attester-chosen members reach the resource policy as plain data.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attester_chosen_claims_are_bounded_and_inert() {
    let s = TestServer::start("attester-claims").await;
    s.provision("default/k/1", SECRET).await;
    let g = Guest::new();
    let attest = |jwk: Value| {
        let s = &s;
        async move {
            let (cookie, n) = s.kbs_auth("sample").await;
            use base64::Engine;
            let rd = mamori_agent::report_data(&n, &jwk, Some("")).unwrap();
            let evidence = json!({"svn": "1", "report_data": base64::engine::general_purpose::STANDARD.encode(&rd[..48])});
            let body = json!({"runtime-data": {"nonce": n, "tee-pubkey": jwk}, "tee-evidence": {"primary_evidence": evidence, "additional_evidence": ""}});
            (cookie.clone(), s.kbs_post_attest(&cookie, &body).await)
        }
    };
    // 200 KiB of padding in the JWK: the request is under the 256 KiB body
    // limit, but the token, which carries the JWK base64-encoded, would
    // exceed the 256 KiB token limit.
    let mut big = g.jwk();
    big["pad"] = json!("a".repeat(200 * 1024));
    let (_, r) = attest(big).await;
    let status = r.status().as_u16();
    let body = r.text().await.unwrap();
    assert_eq!(status, 400, "{}", &body[..body.len().min(300)]);
    assert!(
        body.contains("byte limit"),
        "{}",
        &body[..body.len().min(300)]
    );
    // A member regorus's JSON reader would read as a huge number: the
    // release decision comes back at once (denied: `sample` is never
    // affirming), with no big-number parse on the way.
    let mut odd = g.jwk();
    odd["pad"] = json!({"$serde_json::private::Number": "1e2000000000"});
    let (cookie, r) = attest(odd).await;
    assert_eq!(r.status(), 200);
    let started = std::time::Instant::now();
    let r = s.kbs_resource(&cookie, "default/k/1").await;
    assert_eq!(r.status(), 403);
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_oversized_and_unknown_requests() {
    let s = TestServer::start("malformed").await;
    let post = |path: &str, body: Vec<u8>| {
        let c = s.client.clone();
        let url = format!("{}{path}", s.url);
        async move {
            c.post(url)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .unwrap()
        }
    };
    let (st, e) = error_of(post("/kbs/v0/auth", b"{not json".to_vec()).await).await;
    assert_eq!(st, 400);
    assert!(e["type"]
        .as_str()
        .unwrap()
        .starts_with("https://github.com/confidential-containers/kbs/errors/"));
    let (st, _) = error_of(post("/kbs/v0/auth", vec![b' '; 300 * 1024]).await).await;
    assert_eq!(st, 413);
    let (st, e) = error_of(post("/v1/challenge", br#"{"tee": "warp-drive"}"#.to_vec()).await).await;
    assert_eq!(st, 400);
    assert_eq!(e["error"], "UnknownTee");
    let (st, _) = error_of(
        post(
            "/kbs/v0/auth",
            br#"{"version": "0.4.0", "tee": "tdx-of-the-future"}"#.to_vec(),
        )
        .await,
    )
    .await;
    assert_eq!(st, 400);
    let (st, _) = error_of(post("/v1/attest", br#"{"session_id": 5}"#.to_vec()).await).await;
    assert_eq!(st, 400);
    // Evidence of the right shape but garbage content.
    let c: Value = s.challenge("snp").await;
    let g = Guest::new();
    let (st, _) = error_of(
        post(
            "/v1/attest",
            json!({"session_id": c["session_id"], "nonce": c["nonce"], "tee_pubkey": g.jwk(), "evidence": {"report": "AAAA"}}).to_string().into_bytes(),
        )
        .await,
    )
    .await;
    assert_eq!(st, 400);
    // Admin without or with a bad token.
    let r = s
        .client
        .put(format!("{}/v1/admin/resource/a/b/c", s.url))
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(r).await.0, 401);
    let r = s
        .client
        .put(format!("{}/v1/admin/resource/a/b/c", s.url))
        .bearer_auth("x.y.z")
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(r).await.0, 401);
    // Bad resource paths.
    let r = s
        .admin_put("/v1/admin/resource/a/b%20c", b"x".to_vec())
        .await;
    assert!(r.status().is_client_error());
    // The server is still healthy.
    assert_eq!(
        s.client
            .get(format!("{}/healthz", s.url))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let m = s.metrics().await;
    assert!(m.contains("mamori_attestations_total"));
    let o: Value = s
        .client
        .get(format!("{}/v1/openapi.json", s.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(o["openapi"], "3.1.0");
    assert!(o["paths"]["/readyz"]["get"].is_object(), "{o}");
    assert!(
        o["paths"]["/v1/attest"]["post"]["responses"]["408"].is_object(),
        "{o}"
    );
    assert!(o["paths"]["/readyz"]["get"]["responses"]["408"].is_null());
    for (path, method) in [
        ("/v1/challenge", "post"),
        ("/v1/attest", "post"),
        ("/v1/release/{path}", "post"),
        ("/v1/resource/{path}", "get"),
        ("/readyz", "get"),
    ] {
        let busy = &o["paths"][path][method]["responses"]["503"];
        assert!(busy["headers"]["Retry-After"].is_object(), "{path}: {busy}");
    }
    let ready = s
        .client
        .get(format!("{}/readyz", s.url))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
    assert_eq!(ready.text().await.unwrap(), "ready\n");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_keeps_keys_policies_resources_and_audit() {
    let dir = common::temp_dir("restart");
    let s = TestServer::start_in(dir.clone(), |_| {}).await;
    s.provision("default/k/1", SECRET).await;
    let policy = "package mamori.resource\nimport rego.v1\ndefault allow := false\nallow if input.resource.segments[2] == \"1\"\n";
    s.set_resource_policy("default", policy).await;
    let jwks1: Value = s
        .client
        .get(format!("{}/.well-known/jwks.json", s.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let g = Guest::new();
    let (_, r) = kbs_attest(&s, &g).await;
    let token = r.json::<Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let audit1: Value = s
        .client
        .get(format!("{}/v1/admin/audit/verify", s.url))
        .bearer_auth(s.admin_token())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    s.stop().await;

    let s = TestServer::start_in(dir, |_| {}).await;
    let jwks2: Value = s
        .client
        .get(format!("{}/.well-known/jwks.json", s.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(jwks1, jwks2, "the signing key survives a restart");
    // The old token verifies and the resource is released under the policy.
    let r = s
        .client
        .get(format!("{}/kbs/v0/resource/default/k/1", s.url))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(g.decrypt(&r.text().await.unwrap()), SECRET);
    let policies: Value = s
        .client
        .get(format!("{}/v1/admin/policies", s.url))
        .bearer_auth(s.admin_token())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(policies["resource"][0]["id"], "default");
    let audit2: Value = s
        .client
        .get(format!("{}/v1/admin/audit/verify", s.url))
        .bearer_auth(s.admin_token())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(audit2["first_broken"].is_null(), "{audit2}");
    assert!(audit2["entries"].as_u64().unwrap() > audit1["entries"].as_u64().unwrap());
    // Key rotation keeps the old key verifiable.
    let r = s
        .client
        .post(format!("{}/v1/admin/signing-key/rotate", s.url))
        .bearer_auth(s.admin_token())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let jwks3: Value = s
        .client
        .get(format!("{}/.well-known/jwks.json", s.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(jwks3["keys"].as_array().unwrap().len(), 2);
    let r = s
        .client
        .get(format!("{}/kbs/v0/resource/default/k/1", s.url))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    s.stop().await;
}

/// A resource policy that reads the annotated evidence decides the same on
/// the node that minted the token (claims held in memory, converted once
/// during appraisal) and on one that only has the token (verified and
/// converted at release).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resource_policies_read_the_annotated_evidence_the_same_on_every_path() {
    let dir = common::temp_dir("annotated");
    let s = TestServer::start_in(dir.clone(), |_| {}).await;
    s.provision("gated/k/1", SECRET).await;
    let measurement = hex::encode(common::MEASUREMENT);
    let policy = format!(
        "package mamori.resource\nimport rego.v1\n\
         ev := input.token.submods.cpu0[\"ear.veraison.annotated-evidence\"]\n\
         allow if {{\n\
           ev.measurement == \"{measurement}\"\n\
           ev.policy.debug == false\n\
           ev.runtime_data_claims.nonce == input.token.eat_nonce\n\
           count(ev.runtime_data_claims[\"tee-pubkey\"].x) > 0\n\
           input.resource.segments[0] == \"gated\"\n\
         }}\n\
         reasons contains \"measurement\" if ev.measurement != \"{measurement}\"\n"
    );
    s.set_resource_policy("gated", &policy).await;
    let g = Guest::new();
    let (cookie, token) = kbs_attested(&s, &g).await;
    let get = |s: &TestServer, token: &str| {
        s.client
            .get(format!("{}/kbs/v0/resource/gated/k/1", s.url))
            .bearer_auth(token)
            .send()
    };
    let r = s.kbs_resource(&cookie, "gated/k/1").await;
    assert_eq!(r.status(), 200, "cookie: {}", r.text().await.unwrap());
    let r = get(&s, &token).await.unwrap();
    assert_eq!(r.status(), 200, "bearer: {}", r.text().await.unwrap());

    // Another measurement is denied on the minted path too.
    let mut other = Guest::new();
    other.measurement = [0x11; 48];
    let (cookie, r) = kbs_attest(&s, &other).await;
    assert_eq!(r.status(), 200);
    let r = s.kbs_resource(&cookie, "gated/k/1").await;
    let (status, body) = error_of(r).await;
    assert_eq!(status, 403, "{body}");
    assert!(body.to_string().contains("measurement"), "{body}");
    s.stop().await;

    // A restarted node has no claims in memory: the token is verified and
    // converted whole, and the decision is the same.
    let s = TestServer::start_in(dir, |_| {}).await;
    let r = get(&s, &token).await.unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    assert_eq!(g.decrypt(&r.text().await.unwrap()), SECRET);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_released_resource_that_is_replaced_or_deleted_is_served_as_it_is_now() {
    let s = TestServer::start("resource-change").await;
    s.provision("default/k/1", SECRET).await;
    let g = Guest::new();
    let (cookie, _) = kbs_attested(&s, &g).await;
    let fetch = || async {
        let r = s.kbs_resource(&cookie, "default/k/1").await;
        let status = r.status().as_u16();
        (status, r.text().await.unwrap())
    };
    let (status, jwe) = fetch().await;
    assert_eq!(status, 200);
    assert_eq!(g.decrypt(&jwe), SECRET);
    // Replaced: the next release carries the new value at once.
    let r = s
        .admin_put("/v1/admin/resource/default/k/1", b"rotated".to_vec())
        .await;
    assert_eq!(r.status(), 200);
    let (status, jwe) = fetch().await;
    assert_eq!(status, 200);
    assert_eq!(g.decrypt(&jwe), b"rotated");
    // Deleted: no longer released.
    let r = s
        .client
        .delete(format!("{}/v1/admin/resource/default/k/1", s.url))
        .bearer_auth(s.admin_token())
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
    let (status, _) = fetch().await;
    assert_eq!(status, 404);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_never_issued_leave_no_audit_trail_and_do_not_hide_a_token() {
    let s = TestServer::start("unissued").await;
    s.provision("default/k/1", SECRET).await;
    let g = Guest::new();
    let audit_len = || async { s.svc.store().list_audit(0, 100_000).await.unwrap().len() };
    let before = audit_len().await;
    // Attestations for sessions this server never issued: an oversized id,
    // a well-formed unknown one. Refused, and nothing is added to the log.
    for id in ["x".repeat(200_000), "0".repeat(44)] {
        let r = s
            .client
            .post(format!("{}/v1/attest", s.url))
            .json(&json!({"session_id": id, "nonce": "n", "tee_pubkey": g.jwk(), "evidence": {}}))
            .send()
            .await
            .unwrap();
        let (status, e) = error_of(r).await;
        assert_eq!(status, 401, "{e}");
        assert!(
            e["detail"].as_str().unwrap().contains("unknown session"),
            "{e}"
        );
    }
    assert_eq!(audit_len().await, before);

    // A stale cookie sent with a valid bearer token: the token is used.
    let (_, token) = kbs_attested(&s, &g).await;
    for stale in ["0".repeat(44), "not-a-session".to_owned()] {
        let r = s
            .client
            .get(format!("{}/kbs/v0/resource/default/k/1", s.url))
            .header("cookie", format!("kbs-session-id={stale}"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(g.decrypt(&r.text().await.unwrap()), SECRET);
    }

    // Background check with a path no release could serve: refused before
    // the nonce is spent, so the same session then succeeds.
    let c: Value = s.challenge("snp").await;
    let nonce = c["nonce"].as_str().unwrap();
    let body = json!({"session_id": c["session_id"], "nonce": nonce, "tee_pubkey": g.jwk(), "evidence": g.native_evidence(nonce)});
    let long = format!("default/k/{}", "a".repeat(600));
    for bad in ["default/k/b!d", long.as_str()] {
        let r = s
            .client
            .post(format!("{}/v1/release/{bad}", s.url))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{bad}");
    }
    let r = s
        .client
        .post(format!("{}/v1/release/default/k/1", s.url))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(g.decrypt(&r.text().await.unwrap()), SECRET);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_endpoints_and_bad_paths_get_error_bodies_in_their_apis_form() {
    let s = TestServer::start("endpoints").await;
    let kbs_type =
        |kind: &str| format!("https://github.com/confidential-containers/kbs/errors/{kind}");
    let cases = [
        (reqwest::Method::GET, "/kbs/v0/nope", 404, Some("NotFound")),
        (
            reqwest::Method::GET,
            "/kbs/v0/auth",
            405,
            Some("MethodNotAllowed"),
        ),
        // A segment that is not UTF-8 once percent-decoded.
        (
            reqwest::Method::GET,
            "/kbs/v0/resource/%FF/a/b",
            400,
            Some("BadRequest"),
        ),
        (reqwest::Method::GET, "/v1/nope", 404, None),
        (reqwest::Method::GET, "/v1/resource/%FF", 400, None),
    ];
    for (method, path, status, kbs_kind) in cases {
        let r = s
            .client
            .request(method, format!("{}{path}", s.url))
            .send()
            .await
            .unwrap();
        let (got, body) = error_of(r).await;
        assert_eq!(got, status, "{path}: {body}");
        match kbs_kind {
            Some(kind) => assert_eq!(body["type"], kbs_type(kind), "{path}: {body}"),
            None => assert!(body["error"].is_string(), "{path}: {body}"),
        }
        assert!(body["detail"].is_string(), "{path}: {body}");
    }
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agent_reads_no_more_of_a_response_than_a_secret_can_need() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    // A "broker" that answers every request with 17 MiB.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut req = [0u8; 4096];
                let _ = s.read(&mut req).await;
                let n = 17 << 20;
                let head = format!("HTTP/1.1 200 OK\r\ncontent-length: {n}\r\n\r\n");
                let _ = s.write_all(head.as_bytes()).await;
                let chunk = vec![b'a'; 1 << 20];
                for _ in 0..17 {
                    if s.write_all(&chunk).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    let client = mamori_agent::KbsClient::new(&url, mamori_agent::http_client(None).unwrap());
    let key = mamori_agent::TeeKey::generate().unwrap();
    let e = client
        .resource("kbs-session-id=x", &key, "default/k/1")
        .await
        .unwrap_err();
    assert!(e.to_string().contains("exceeds"), "{e}");
    assert!(e.to_string().contains("resource"), "names the step: {e}");
}

/// A flood of challenges stops at `[session] max_open`: the next challenge,
/// on either API, is refused with 503 and Retry-After in that API's error
/// form, and an attestation that spends a session makes room again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_session_limit_refuses_challenges_until_one_is_spent() {
    let s = TestServer::start_in(temp_dir("max-open"), |c| c.session.max_open = 2).await;
    let g = Guest::new();
    let first: Value = s.challenge("snp").await;
    let _second: Value = s.challenge("snp").await;
    let refused = s
        .client
        .post(format!("{}/v1/challenge", s.url))
        .json(&json!({"tee": "snp"}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.headers()["retry-after"], "1");
    let (st, body) = error_of(refused).await;
    assert_eq!((st, body["error"].as_str()), (503, Some("Busy")), "{body}");
    assert!(
        body["detail"].as_str().unwrap().contains("max_open"),
        "{body}"
    );
    let kbs = s
        .client
        .post(format!("{}/kbs/v0/auth", s.url))
        .json(&json!({"version": "0.4.0", "tee": "sample", "extra-params": {}}))
        .send()
        .await
        .unwrap();
    let (st, body) = error_of(kbs).await;
    assert_eq!(st, 503);
    assert_eq!(
        body["type"],
        format!("{}Busy", mamori_server::error::KBS_ERROR_PREFIX),
        "{body}"
    );

    // Spending one session lets one more challenge in.
    assert_eq!(s.native_attest(&first, &g).await.status(), 200);
    let third: Value = s.challenge("snp").await;
    assert!(third["nonce"].is_string(), "{third}");
    let metrics = s.metrics().await;
    assert!(
        metrics.contains("mamori_challenges_refused_total 2"),
        "{metrics}"
    );
    s.stop().await;
}

/// Rejected attestations are counted by reason and, for evidence that
/// failed verification, by the check that failed; completed ones by TEE
/// kind and status.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejections_are_counted_by_reason_and_failed_check() {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD;
    let s = TestServer::start("rejections").await;
    let g = Guest::new();
    // A report with one signed byte changed.
    let c: Value = s.challenge("snp").await;
    let nonce = c["nonce"].as_str().unwrap();
    let mut evidence = g.native_evidence(nonce);
    let mut report = b64.decode(evidence["report"].as_str().unwrap()).unwrap();
    report[0x90] ^= 1;
    evidence["report"] = json!(b64.encode(&report));
    let r = s
        .client
        .post(format!("{}/v1/attest", s.url))
        .json(&json!({"session_id": c["session_id"], "nonce": nonce, "tee_pubkey": g.jwk(), "evidence": evidence}))
        .send()
        .await
        .unwrap();
    let (st, body) = error_of(r).await;
    assert_eq!(
        (st, body["error"].as_str()),
        (401, Some("EvidenceRejected"))
    );
    // The nonce of another challenge.
    let c: Value = s.challenge("snp").await;
    let other: Value = s.challenge("snp").await;
    let mut wrong = c.clone();
    wrong["nonce"] = other["nonce"].clone();
    let (st, body) = error_of(s.native_attest(&wrong, &g).await).await;
    assert_eq!((st, body["error"].as_str()), (401, Some("NonceMismatch")));
    // And one that completes: no reference measurement is configured, so
    // the default policy does not affirm it.
    let c: Value = s.challenge("snp").await;
    assert_eq!(s.native_attest(&c, &g).await.status(), 200);

    let metrics = s.metrics().await;
    let series: Vec<&str> = metrics
        .lines()
        .filter(|l| l.starts_with("mamori_attestation_rejections_total{"))
        .collect();
    assert_eq!(series.len(), 2, "{metrics}");
    assert!(
        series.contains(
            &"mamori_attestation_rejections_total{reason=\"NonceMismatch\",check=\"\"} 1"
        ),
        "{series:?}"
    );
    let evidence = series
        .iter()
        .find(|l| l.contains("reason=\"EvidenceRejected\""))
        .expect("an evidence rejection");
    assert!(!evidence.contains("check=\"\""), "{evidence}");
    assert!(evidence.ends_with(" 1"), "{evidence}");
    assert!(metrics.contains("mamori_attestations_total{result=\"rejected\"} 2"));
    assert!(
        metrics.contains("mamori_appraisals_total{tee=\"snp\",status=\"warning\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains("mamori_attestations_total{result=\"ok\"} 1"));
    s.stop().await;
}
