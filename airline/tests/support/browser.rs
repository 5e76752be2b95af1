//! Headless Chromium driven over WebDriver (fantoccini → a chromedriver child on a free loopback port),
//! for the console's tests. Each browser has its own profile directory; screenshots go under the
//! target directory (`target/tmp/console-screenshots/`) for a person to look at.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};
use tokio::process::{Child, Command};

fn find(var: &str, candidates: &[&str]) -> PathBuf {
    if let Ok(path) = std::env::var(var) {
        return path.into();
    }
    candidates
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .unwrap_or_else(|| {
            panic!(
                "no {var}: install Debian's chromium and chromium-driver (scripts/test does), or set {var}"
            )
        })
}

/// A headless Chromium session and the chromedriver that runs it.
pub struct Browser {
    /// The WebDriver client.
    pub client: Client,
    _driver: Child,
    profile: PathBuf,
}

impl Browser {
    /// Starts chromedriver and a headless Chromium of `width` × `height` CSS pixels.
    pub async fn start(width: u32, height: u32) -> Self {
        Self::launch(width, height, None).await
    }

    /// A phone-sized screen (390 × 844 CSS pixels, a touch device), emulated by Chromium: a desktop
    /// window cannot be made that narrow.
    pub async fn phone() -> Self {
        let device =
            json!({"deviceMetrics": {"width": 390, "height": 844, "pixelRatio": 2, "touch": true}});
        Self::launch(800, 900, Some(device)).await
    }

    async fn launch(width: u32, height: u32, emulation: Option<Value>) -> Self {
        let driver_bin = find(
            "CHROMEDRIVER",
            &["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"],
        );
        let chromium = find(
            "CHROMIUM",
            &["/usr/bin/chromium", "/usr/bin/chromium-browser"],
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let driver = Command::new(driver_bin)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("starting chromedriver");
        let profile =
            std::env::temp_dir().join(format!("airline-chromium-{}", uuid::Uuid::new_v4()));
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": chromium,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-quic", "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--disable-extensions",
                    // Seats that change flash; still screenshots are taken without the animation.
                    "--force-prefers-reduced-motion",
                    format!("--user-data-dir={}", profile.display()),
                    format!("--window-size={width},{height}"),
                ],
            }),
        );
        if let Some(device) = emulation {
            caps["goog:chromeOptions"]["mobileEmulation"] = device;
        }
        let url = format!("http://127.0.0.1:{port}");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        let client = loop {
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            match ClientBuilder::new(connector)
                .capabilities(caps.clone())
                .connect(&url)
                .await
            {
                Ok(client) => break client,
                Err(e) => {
                    assert!(
                        tokio::time::Instant::now() < deadline,
                        "no WebDriver session: {e}"
                    );
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        };
        Self {
            client,
            _driver: driver,
            profile,
        }
    }

    /// Opens `url`.
    pub async fn goto(&self, url: &str) {
        self.client.goto(url).await.unwrap();
    }

    /// The value of a JavaScript expression (`return` is added).
    pub async fn eval(&self, expression: &str) -> Value {
        self.client
            .execute(&format!("return ({expression});"), vec![])
            .await
            .unwrap()
    }

    /// Polls `expression` every 25 ms until `done` holds of its value; panics after `within`.
    pub async fn until(
        &self,
        expression: &str,
        within: Duration,
        done: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let value = self.eval(expression).await;
            if done(&value) {
                return value;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "`{expression}` never got there within {within:?}; last {value}"
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Types into the element `css` (after clearing it).
    pub async fn type_into(&self, css: &str, text: &str) {
        let element = self.client.find(Locator::Css(css)).await.unwrap();
        element.clear().await.unwrap();
        element.send_keys(text).await.unwrap();
    }

    /// Clicks the element `css`.
    pub async fn click(&self, css: &str) {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
    }

    /// Signs in through the console's form at `gateway` and waits for the navigation to show.
    pub async fn sign_in(&self, gateway: &str, email: &str, password: &str) {
        self.goto(&format!("{gateway}/console/")).await;
        self.until(
            "!document.getElementById('login').hidden",
            Duration::from_secs(10),
            |v| v == &json!(true),
        )
        .await;
        self.type_into("#email", email).await;
        self.type_into("#password", password).await;
        self.click("#login-submit").await;
        self.until(
            "!document.getElementById('nav').hidden",
            Duration::from_secs(10),
            |v| v == &json!(true),
        )
        .await;
    }

    /// Saves a PNG of the window as `target/tmp/console-screenshots/<name>.png`; returns its path.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let png = self.client.screenshot().await.unwrap();
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("console-screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).unwrap();
        path
    }

    /// Ends the session (a browser left open would outlive the test).
    pub async fn close(self) {
        let _ = self.client.close().await;
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}
