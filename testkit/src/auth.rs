//! The test key pair, tokens signed with it, and users with a session (what the gateway wants).

use chrono::Utc;
use infra::auth::{Claims, JwtSigner, Role, generate_key_pair};
use sqlx::PgPool;
use uuid::Uuid;

/// The issuer every test token names (the gateway's).
pub const ISSUER: &str = "airline-gateway";
/// The audience the services behind the gateway accept (what the gateway forwards): a test that calls a
/// service straight names it.
pub const AUDIENCE: &str = infra::auth::INTERNAL_AUDIENCE;
/// The audience of the tokens the gateway gives clients and takes from them.
pub const GATEWAY_AUDIENCE: &str = "airline-api";

/// How long a test token lives unless a test says otherwise.
const TOKEN_TTL_SECS: i64 = 900;

/// A key pair and a signer of its private half.
pub struct Keys {
    /// PEM of the private key (the gateway signs with it).
    pub private_pem: String,
    /// PEM of the public key (the APIs verify with it).
    pub public_pem: String,
    /// Signs with the private key.
    pub signer: JwtSigner,
}

impl Keys {
    /// A fresh key pair.
    pub fn generate() -> Self {
        let (private_pem, public_pem) = generate_key_pair().expect("cannot generate a key pair");
        Self::from_private(private_pem, public_pem)
    }

    /// The keys of a private key made elsewhere (a child process's development key).
    pub fn of_private(private_pem: &str) -> Self {
        let public_pem = infra::auth::public_key_of(private_pem).expect("not a private key PEM");
        Self::from_private(private_pem.to_owned(), public_pem)
    }

    fn from_private(private_pem: String, public_pem: String) -> Self {
        let signer = JwtSigner::new(&private_pem).expect("cannot load the private key");
        Self {
            private_pem,
            public_pem,
            signer,
        }
    }

    /// A token of `user` as `role`, of no session, valid for 15 minutes.
    pub fn token(&self, user: Uuid, role: Role) -> String {
        token(&self.signer, user, role)
    }
}

/// A token of `user` as `role` signed by `signer`, of no session, valid for 15 minutes.
pub fn token(signer: &JwtSigner, user: Uuid, role: Role) -> String {
    sign(signer, &claims(user, role, AUDIENCE, TOKEN_TTL_SECS))
}

/// Claims of `sub` as `role` for `aud`, expiring `exp_offset` seconds from now (negative: expired).
pub fn claims(sub: Uuid, role: Role, aud: &str, exp_offset: i64) -> Claims {
    let now = Utc::now().timestamp();
    Claims {
        iss: ISSUER.to_owned(),
        aud: aud.to_owned(),
        sub,
        role,
        exp: u64::try_from(now + exp_offset).unwrap_or_default(),
        iat: u64::try_from(now).unwrap_or_default(),
        sid: None,
        acc: None,
    }
}

/// `claims` signed by `signer`.
pub fn sign(signer: &JwtSigner, claims: &Claims) -> String {
    signer.sign(claims).expect("cannot sign a token")
}

/// A new user of `role` in `pool`'s database (email `<id>@<domain>`, no usable password).
///
/// # Errors
/// Database failures.
pub async fn insert_user(pool: &PgPool, role: Role, domain: &str) -> sqlx::Result<Uuid> {
    let user = Uuid::now_v7();
    sqlx::query("INSERT INTO users (user_id, email, password_hash, role) VALUES ($1, $2, 'x', $3)")
        .bind(user)
        .bind(format!("{user}@{domain}"))
        .bind(role.as_str())
        .execute(pool)
        .await?;
    Ok(user)
}

/// A token of a new session of `user`, living `ttl_secs`, which a gateway on `pool`'s database accepts
/// (the services behind it do not: they take only the gateway's own).
///
/// # Errors
/// Database failures.
pub async fn session_token(
    pool: &PgPool,
    signer: &JwtSigner,
    (user, role): (Uuid, Role),
    ttl_secs: i64,
) -> anyhow::Result<String> {
    let session = gateway::sessions::open(pool, user, std::time::Duration::from_secs(3600)).await?;
    let mut claims = claims(user, role, GATEWAY_AUDIENCE, ttl_secs);
    claims.sid = Some(session.session_id);
    Ok(signer.sign(&claims)?)
}
