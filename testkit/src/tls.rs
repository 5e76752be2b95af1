//! Test certificate authorities and HTTPS servers on loopback: a CA of the test's own, written to a PEM
//! file a service is told to trust (as an operator would add one), and leaf certificates it issues.

use std::path::PathBuf;
use std::sync::Arc;

use rcgen::{BasicConstraints, Certificate, CertificateParams, DnType, IsCa, KeyPair};
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

/// A certificate authority, its certificate in a PEM file of its own (removed on drop).
pub struct TestCa {
    cert: Certificate,
    key: KeyPair,
    dir: PathBuf,
}

impl TestCa {
    /// A fresh CA named `name`, its certificate written to [`TestCa::pem_file`].
    ///
    /// # Panics
    /// When the key or certificate cannot be made or written.
    pub fn new(name: &str) -> Self {
        let key = KeyPair::generate().expect("a CA key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        let cert = params.self_signed(&key).expect("a self-signed CA");
        let dir =
            std::env::temp_dir().join(format!("airline-ca-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("a directory for the CA");
        std::fs::write(dir.join("ca.pem"), cert.pem()).expect("the CA's PEM file");
        Self { cert, key, dir }
    }

    /// The PEM file holding the CA's certificate.
    pub fn pem_file(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }

    /// A server configuration presenting a certificate for `name` (a host name or an IP address)
    /// issued by this CA.
    ///
    /// # Panics
    /// When the certificate cannot be made.
    pub fn server(&self, name: &str) -> Arc<rustls::ServerConfig> {
        let key = KeyPair::generate().expect("a leaf key");
        let leaf = CertificateParams::new(vec![name.to_owned()])
            .expect("leaf parameters")
            .signed_by(&key, &self.cert, &self.key)
            .expect("a leaf certificate");
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_no_client_auth()
            .with_single_cert(
                vec![leaf.der().clone(), self.cert.der().clone()],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
            )
            .expect("a server configuration");
        Arc::new(config)
    }
}

impl std::fmt::Debug for TestCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestCa")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

impl Drop for TestCa {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Serves `app` over HTTPS with `tls` on a loopback port until the process ends; the bound address.
/// A client that refuses the certificate ends its handshake and is served nothing.
///
/// # Panics
/// When no loopback port can be bound.
pub async fn serve(app: axum::Router, tls: Arc<rustls::ServerConfig>) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a loopback port");
    let addr = listener.local_addr().expect("its address");
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let (acceptor, app) = (acceptor.clone(), app.clone());
            tokio::spawn(async move {
                let Ok(stream) = acceptor.accept(tcp).await else {
                    return;
                };
                let service = hyper_util::service::TowerToHyperService::new(app);
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    addr
}
