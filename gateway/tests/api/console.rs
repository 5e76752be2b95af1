//! The console's files: served from the binary with their content types, validators and policy; every
//! reference between them resolves to a served file; none names anything outside its own origin. And
//! the admin status report the operations page reads.

use std::collections::HashSet;

use gateway::routes::console::ASSETS;
use infra::auth::Role;
use reqwest::header;

use crate::helpers::{dead_upstream, generous, spawn_gateway, upstreams};

async fn gateway() -> crate::helpers::TestApp {
    let dead = dead_upstream();
    spawn_gateway(upstreams(&dead, &dead, &dead), generous()).await
}

#[tokio::test]
async fn every_console_file_is_served_with_its_type_a_validator_and_the_policy() {
    let app = gateway().await;
    for asset in ASSETS {
        let url = format!("{}/console/{}", app.address, asset.path);
        let response = app.client.get(&url).send().await.unwrap();
        assert_eq!(response.status(), 200, "{}", asset.path);
        let headers = response.headers().clone();
        assert_eq!(
            headers[header::CONTENT_TYPE],
            asset.content_type,
            "{}",
            asset.path
        );
        assert_eq!(headers[header::CACHE_CONTROL], "no-cache", "{}", asset.path);
        assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        let policy = headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
        assert!(policy.starts_with("default-src 'none'"), "{policy}");
        assert!(policy.contains("script-src 'self'") && policy.contains("connect-src 'self'"));
        let etag = headers[header::ETAG].to_str().unwrap().to_owned();
        assert!(etag.starts_with('"') && etag.len() > 10, "{etag}");
        assert_eq!(response.bytes().await.unwrap().as_ref(), asset.body);

        // Revalidation: the same validator is 304 with no body; another is the file again.
        let again = app
            .client
            .get(&url)
            .header(header::IF_NONE_MATCH, &etag)
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), 304, "{}", asset.path);
        assert_eq!(again.headers()[header::ETAG].to_str().unwrap(), etag);
        assert!(again.bytes().await.unwrap().is_empty());
        let weak = app
            .client
            .get(&url)
            .header(header::IF_NONE_MATCH, format!("\"x\", W/{etag}"))
            .send()
            .await
            .unwrap();
        assert_eq!(weak.status(), 304, "a weak match of a list counts");
        let stale = app
            .client
            .get(&url)
            .header(header::IF_NONE_MATCH, "\"something-else\"")
            .send()
            .await
            .unwrap();
        assert_eq!(stale.status(), 200);
    }
    let etags: HashSet<String> = futures::future::join_all(ASSETS.iter().map(|a| {
        let url = format!("{}/console/{}", app.address, a.path);
        let client = app.client.clone();
        async move {
            let r = client.get(url).send().await.unwrap();
            r.headers()[header::ETAG].to_str().unwrap().to_owned()
        }
    }))
    .await
    .into_iter()
    .collect();
    assert_eq!(etags.len(), ASSETS.len(), "each file has its own validator");

    // The page itself, at /console/ and by redirect from /console; anything else is a 404 problem.
    let index = app
        .client
        .get(format!("{}/console/", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(index.status(), 200);
    assert_eq!(
        index.headers()[header::CONTENT_TYPE],
        "text/html; charset=utf-8"
    );
    let bare = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(format!("{}/console", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(bare.status(), 308);
    assert_eq!(bare.headers()[header::LOCATION], "/console/");
    for missing in ["nope.js", "pages/", "%2e%2e/Cargo.toml", "app.js.map"] {
        let response = app
            .client
            .get(format!("{}/console/{missing}", app.address))
            .send()
            .await
            .unwrap();
        assert!(
            [400, 404].contains(&response.status().as_u16()),
            "{missing}: {}",
            response.status()
        );
        assert_eq!(
            response.headers()[header::CONTENT_TYPE],
            "application/problem+json",
            "{missing}"
        );
    }
}

/// Every `src`/`href` of the page and every module import, resolved against the file that names it.
fn references(asset: &gateway::routes::console::Asset) -> Vec<String> {
    let text = std::str::from_utf8(asset.body).unwrap();
    let mut found = Vec::new();
    for (open, close) in [
        ("src=\"", '"'),
        ("href=\"", '"'),
        (" from '", '\''),
        ("import('", '\''),
    ] {
        for (at, _) in text.match_indices(open) {
            let rest = &text[at + open.len()..];
            found.push(rest[..rest.find(close).unwrap()].to_owned());
        }
    }
    let dir = asset.path.rsplit_once('/').map_or("", |(d, _)| d);
    found
        .into_iter()
        .filter(|r| !r.starts_with('#') && !r.contains("${"))
        .map(|r| {
            let mut parts: Vec<&str> = if dir.is_empty() {
                vec![]
            } else {
                dir.split('/').collect()
            };
            for segment in r.split('/') {
                match segment {
                    "." => {}
                    ".." => {
                        parts.pop();
                    }
                    s => parts.push(s),
                }
            }
            parts.join("/")
        })
        .collect()
}

#[test]
fn every_reference_between_console_files_resolves_to_a_served_file() {
    let served: HashSet<&str> = ASSETS.iter().map(|a| a.path).collect();
    let mut reached = HashSet::from(["index.html"]);
    for asset in ASSETS {
        for target in references(asset) {
            assert!(
                served.contains(target.as_str()),
                "{} names {target}, which is not served",
                asset.path
            );
            reached.insert(served.get(target.as_str()).copied().unwrap());
        }
    }
    assert_eq!(reached, served, "every served file is used");
}

#[test]
fn no_console_file_names_anything_outside_its_own_origin() {
    // The one absolute URL allowed is the SVG namespace: a name, never fetched.
    const SVG_NAMESPACE: &str = "http://www.w3.org/2000/svg";
    for asset in ASSETS {
        let text = std::str::from_utf8(asset.body)
            .unwrap()
            .replace(SVG_NAMESPACE, "");
        let lower = text.to_ascii_lowercase();
        for external in [
            "http:", "https:", "ws:", "wss:", "//cdn", "=\"//", "='//", "url(//", "url(\"//",
            "@import",
        ] {
            assert!(
                !lower.contains(external),
                "{} names `{external}`",
                asset.path
            );
        }
    }
}

#[tokio::test]
async fn the_status_report_is_for_admins_and_tells_each_service_and_worker() {
    let app = gateway().await;
    let url = format!("{}/api/v1/admin/status", app.address);
    let anonymous = app.client.get(&url).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);
    let (_, customer) = app.user_with_token(Role::Customer).await;
    let refused = app
        .client
        .get(&url)
        .bearer_auth(&customer)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
    assert_eq!(
        refused.headers()[header::CONTENT_TYPE],
        "application/problem+json"
    );
    let (_, admin) = app.user_with_token(Role::Admin).await;
    let response = app
        .client
        .get(&url)
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    // 200 even though nothing behind this gateway answers: the report says so.
    assert_eq!(response.status(), 200);
    let report: serde_json::Value = response.json().await.unwrap();
    assert_eq!(report["status"], "not_ready");
    assert_eq!(report["database"], "up");
    // (This gateway has no projector address: it is left out of the check.)
    assert_eq!(report["projector"]["status"], "not_checked");
    for service in ["command_api", "query_api", "notifier"] {
        assert_eq!(
            report[service]["status"], "unreachable",
            "{service}: {report}"
        );
    }
    let workers = report["workers"].as_array().unwrap();
    assert!(
        workers.iter().any(|w| w["name"] == "session-listener"),
        "{report}"
    );
}
