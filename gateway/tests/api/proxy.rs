use serde_json::json;

use crate::helpers::{dead_upstream, echo_upstream, generous, real_apis, spawn_gateway, upstreams};

#[tokio::test]
async fn a_json_post_reaches_the_upstream_intact_and_reads_go_to_the_query_side() {
    let command = echo_upstream().await;
    let query = echo_upstream().await;
    let app = spawn_gateway(upstreams(&command, &query, &dead_upstream()), generous()).await;
    let body = json!({"flight_id": "x", "passengers": [{"name": "Zoë ☃", "seat": "12A"}], "pad": "p".repeat(20_000)});
    let raw = serde_json::to_vec(&body).unwrap();
    let response = app
        .client
        .post(format!("{}/api/v1/bookings?x=1", app.address))
        .header("content-type", "application/json")
        .header("x-request-id", "kept-id")
        .header("connection", "x-hop")
        .header("x-hop", "secret")
        .header("proxy-authorization", "Basic abc")
        .body(raw.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-request-id"], "kept-id");
    let echoed: serde_json::Value = response.json().await.unwrap();
    assert_eq!(echoed["method"], "POST");
    assert_eq!(echoed["path"], "/api/v1/bookings?x=1");
    assert_eq!(echoed["length"], raw.len());
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(echoed["body"].as_str().unwrap()).unwrap(),
        body
    );
    let headers = &echoed["headers"];
    assert_eq!(headers["x-request-id"], "kept-id");
    assert_eq!(headers["content-type"], "application/json");
    assert!(
        headers.get("x-hop").is_none(),
        "a header named in Connection was forwarded"
    );
    assert!(headers.get("proxy-authorization").is_none());
    assert_eq!(headers["x-forwarded-for"], "127.0.0.1");

    let (status, response_headers, read) = app.get("/api/v1/flights?origin=CDG", None).await;
    assert_eq!(status, 200);
    assert_eq!(read["method"], "GET");
    assert_eq!(read["path"], "/api/v1/flights?origin=CDG");
    let generated = response_headers["x-request-id"].to_str().unwrap();
    assert_eq!(read["headers"]["x-request-id"], generated);
    assert!(!generated.is_empty());
}

#[tokio::test]
async fn an_upstream_that_is_down_is_502_and_a_slow_one_504() {
    let echo = echo_upstream().await;
    let app = spawn_gateway(
        upstreams(&dead_upstream(), &echo, &dead_upstream()),
        generous(),
    )
    .await;
    let (status, headers, body) = app.post("/api/v1/bookings", None, &json!({})).await;
    assert_eq!(
        (status.as_u16(), body["code"].as_str()),
        (502, Some("upstream_unavailable"))
    );
    assert_eq!(headers["content-type"], "application/problem+json");
    assert!(!body["request_id"].as_str().unwrap().is_empty());
    let (status, _, body) = app.get("/api/v1/webhooks", None).await;
    assert_eq!(
        (status.as_u16(), body["code"].as_str()),
        (502, Some("upstream_unavailable"))
    );
    // The upstream's `/slow` takes 5 s and the gateway waits 1 s (the `#` drops the forwarded path).
    let mut settings = app.settings.clone();
    settings.upstreams = upstreams(&dead_upstream(), &format!("{echo}/slow#"), &dead_upstream());
    let slow = crate::helpers::start(&settings, &app.db).await;
    let response = app
        .client
        .get(format!("{slow}/api/v1/flights"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 504);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["code"], "upstream_timeout");
}

#[tokio::test]
async fn oversize_bodies_are_413_before_reaching_the_upstream() {
    let echo = echo_upstream().await;
    let app = spawn_gateway(upstreams(&echo, &echo, &echo), generous()).await;
    let response = app
        .client
        .post(format!("{}/api/v1/bookings", app.address))
        .header("content-type", "application/json")
        .body(vec![b'x'; 100 * 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
}

#[tokio::test]
async fn the_openapi_document_merges_every_service_and_the_docs_page_works_offline() {
    let dead = dead_upstream();
    let app = spawn_gateway(upstreams(&dead, &dead, &dead), generous()).await;
    let (command, query) = real_apis(&app.private_pem, &app.db).await;
    let mut settings = app.settings.clone();
    settings.upstreams = upstreams(&command, &query, &dead);
    let address = crate::helpers::start(&settings, &app.db).await;
    let doc: serde_json::Value = app
        .client
        .get(format!("{address}/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    let paths = &doc["paths"];
    assert!(paths["/api/v1/auth/login"]["post"].is_object());
    assert!(
        paths["/api/v1/flights"]["get"].is_object(),
        "search missing"
    );
    assert!(
        paths["/api/v1/flights"]["post"].is_object(),
        "scheduling missing"
    );
    assert!(paths["/api/v1/bookings/{id}/payment"]["post"].is_object());
    assert!(paths["/api/v1/bookings/{id}/history"]["get"].is_object());
    let page = app
        .client
        .get(format!("{address}/docs/"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("swagger-ui"), "{html}");
    assert!(
        !html.contains("https://"),
        "the docs page loads something from the internet"
    );
}

/// An upstream that answers every request with its own name.
async fn named_upstream(name: &'static str) -> String {
    let app = axum::Router::new().fallback(axum::routing::any(move || async move {
        axum::Json(json!({ "instance": name }))
    }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    address
}

#[tokio::test]
async fn several_instances_take_turns_and_one_that_refuses_is_skipped() {
    let (a, b) = (named_upstream("a").await, named_upstream("b").await);
    let dead = dead_upstream();
    let commands = format!("{a}, {dead},{b}");
    let queries = format!("{a},{b}");
    let app = spawn_gateway(upstreams(&commands, &queries, &dead_upstream()), generous()).await;
    let mut seen = std::collections::BTreeMap::new();
    for _ in 0..30 {
        let response = app
            .client
            .post(format!("{}/api/v1/bookings", app.address))
            .header("content-type", "application/json")
            .body("{}")
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            200,
            "a refusing instance was not skipped"
        );
        let body: serde_json::Value = response.json().await.unwrap();
        *seen
            .entry(body["instance"].as_str().unwrap().to_owned())
            .or_insert(0) += 1;
    }
    // Three instances in turn; the dead one's turns go to the next, so b answers twice as often.
    assert_eq!(seen.get("a"), Some(&10), "{seen:?}");
    assert_eq!(seen.get("b"), Some(&20), "{seen:?}");

    let mut reads = std::collections::BTreeMap::new();
    for _ in 0..10 {
        let (status, _, body) = app.get("/api/v1/flights?origin=CDG", None).await;
        assert_eq!(status, 200);
        *reads
            .entry(body["instance"].as_str().unwrap().to_owned())
            .or_insert(0) += 1;
    }
    assert_eq!(reads.get("a"), Some(&5), "{reads:?}");
    assert_eq!(reads.get("b"), Some(&5), "{reads:?}");
}

#[tokio::test]
async fn readiness_lists_every_instance_and_one_down_is_degraded_not_down() {
    let (a, dead) = (echo_upstream().await, dead_upstream());
    let both = format!("{a},{dead}");
    let app = spawn_gateway(upstreams(&both, &a, &dead_upstream()), generous()).await;
    let (_, admin) = app.user_with_token(infra::auth::Role::Admin).await;
    let (status, _, report) = app.get("/api/v1/admin/status", Some(&admin)).await;
    assert_eq!(status, 200);
    let instances = report["command_api"]["instances"].as_array().unwrap();
    assert_eq!(instances.len(), 2, "{report}");
    assert_eq!(instances[1]["report"]["status"], "unreachable", "{report}");
    assert_eq!(report["command_api"]["status"], "degraded", "{report}");
}

/// An upstream instance that reads each request's head and drops the connection without answering,
/// as a process killed under a kept-alive connection does; how many requests it took.
async fn dropping_upstream() -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use tokio::io::AsyncReadExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    let taken = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = taken.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let count = count.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 4096];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match socket.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            });
        }
    });
    (address, taken)
}

#[tokio::test]
async fn an_instance_that_drops_requests_passes_reads_and_keyed_writes_to_the_next_but_not_unkeyed_writes()
 {
    let (dropping, taken) = dropping_upstream().await;
    let live = named_upstream("live").await;
    let both = format!("{dropping},{live}");
    let app = spawn_gateway(upstreams(&both, &both, &dead_upstream()), generous()).await;
    let post = |key: Option<String>| {
        let mut request = app
            .client
            .post(format!("{}/api/v1/bookings", app.address))
            .header("content-type", "application/json")
            .body("{}");
        if let Some(key) = key {
            request = request.header("idempotency-key", key);
        }
        async move { request.send().await.unwrap() }
    };
    // Each in turn starts at either instance: every read and every keyed write is answered by the
    // live one, whichever instance it went to first.
    for n in 0..6 {
        let (status, _, body) = app.get("/api/v1/flights?origin=CDG", None).await;
        assert_eq!((status.as_u16(), &body["instance"]), (200, &json!("live")));
        let response = post(Some(format!("key-{n}"))).await;
        assert_eq!(response.status(), 200);
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["instance"], "live");
    }
    let before = taken.load(std::sync::atomic::Ordering::SeqCst);
    assert!(
        before >= 6,
        "the dropping instance was never tried: {before}"
    );
    // A write without a key is not sent twice (it may have been carried out): 502 where it was dropped.
    let mut statuses = Vec::new();
    for _ in 0..4 {
        let response = post(None).await;
        statuses.push(response.status().as_u16());
        if response.status() == 502 {
            let body: serde_json::Value = response.json().await.unwrap();
            assert_eq!(body["code"], "upstream_unavailable");
        }
    }
    let dropped = taken.load(std::sync::atomic::Ordering::SeqCst) - before;
    assert_eq!(
        statuses.iter().filter(|s| **s == 502).count(),
        dropped,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        4 - dropped,
        "{statuses:?}"
    );
}

#[tokio::test]
async fn a_write_is_answered_by_the_command_api_past_the_gateways_request_timeout_or_a_504_saying_the_outcome_is_unknown()
 {
    let echo = echo_upstream().await;
    let dead = dead_upstream();
    // The upstream's `/slow` takes 5 s (the `#` drops the forwarded path).
    let slow = format!("{echo}/slow#");
    let bare = spawn_gateway(upstreams(&dead, &dead, &dead), generous()).await;
    let mut settings = bare.settings.clone();
    settings.http.request_timeout_ms = 500;
    settings.upstreams = upstreams(&slow, &slow, &dead);
    settings.upstreams.write_timeout_ms = 30_000;
    let patient = crate::helpers::start(&settings, &bare.db).await;
    let write = |base: &str| {
        bare.client
            .post(format!("{base}/api/v1/bookings"))
            .header("content-type", "application/json")
            .header("idempotency-key", "slow-1")
            .body("{}")
            .send()
    };
    let response = write(&patient).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "late");
    // A write whose answer does not come within the write timeout: the client learns it may have
    // been carried out.
    settings.upstreams.write_timeout_ms = 1_000;
    let hurried = crate::helpers::start(&settings, &bare.db).await;
    let response = write(&hurried).await.unwrap();
    assert_eq!(response.status(), 504);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["code"], "upstream_timeout");
    assert!(
        body["detail"].as_str().unwrap().contains("Idempotency-Key"),
        "{body}"
    );
}
