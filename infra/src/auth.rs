//! Bearer tokens: EdDSA-signed JWTs with `iss`, `aud`, `sub`, `role`, `exp`. The gateway signs with the
//! private key; every API verifies with the public key through the [`Principal`] extractor.

use std::sync::Arc;

use axum::extract::{FromRef, FromRequestParts};
use axum::http::StatusCode;
use axum::http::request::Parts;
use ed25519_dalek::SigningKey;
use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{EncodePrivateKey, EncodePublicKey};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::problem::Problem;

/// What a signed-in user may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Books for themselves.
    Customer,
    /// Runs the airline.
    Admin,
}

impl Role {
    /// The wire name.
    pub const fn as_str(&self) -> &'static str {
        match self {
            Self::Customer => "customer",
            Self::Admin => "admin",
        }
    }
}

/// The audience of the tokens the gateway forwards, the only one the services behind it accept by
/// default: a client's own token (audience `airline-api`) is refused on their ports.
pub const INTERNAL_AUDIENCE: &str = "airline-internal";

/// Seconds a token is still accepted after its `exp` (clock skew between machines).
pub const LEEWAY_SECS: u64 = 5;

/// The claims we sign and require.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// Issuer.
    pub iss: String,
    /// Audience.
    pub aud: String,
    /// The user id.
    pub sub: Uuid,
    /// The user's role.
    pub role: Role,
    /// Expiry, seconds since the epoch.
    pub exp: u64,
    /// Issued at, seconds since the epoch.
    pub iat: u64,
    /// The session (one sign-in) the token belongs to. The gateway refuses a token whose session was
    /// ended (logout, a reused refresh token) or whose account was disabled, and forwards one whose role
    /// changed re-signed with the current role.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<Uuid>,
    /// When the account was made (Unix seconds), as the gateway signs it: younger accounts hold less.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acc: Option<u64>,
}

/// Why keys could not be used.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// A PEM that is not an Ed25519 key.
    #[error("not an Ed25519 PEM key: {0}")]
    Pem(#[from] jsonwebtoken::errors::Error),
    /// Encoding a generated key failed.
    #[error("cannot encode a generated key: {0}")]
    Encode(String),
}

/// Checks tokens.
#[derive(Clone)]
pub struct JwtVerifier {
    key: Arc<DecodingKey>,
    validation: Arc<Validation>,
}

impl std::fmt::Debug for JwtVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtVerifier").finish_non_exhaustive()
    }
}

impl JwtVerifier {
    /// A verifier for tokens signed by the Ed25519 key whose public half is `public_pem`.
    ///
    /// # Errors
    /// [`KeyError::Pem`] when the PEM is not an Ed25519 public key.
    pub fn new(public_pem: &str, issuer: &str, audience: &str) -> Result<Self, KeyError> {
        let key = DecodingKey::from_ed_pem(public_pem.as_bytes())?;
        // Only EdDSA is accepted, so `alg: none` and HMAC-with-the-public-key tricks fail.
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = LEEWAY_SECS;
        Ok(Self {
            key: Arc::new(key),
            validation: Arc::new(validation),
        })
    }

    /// The claims of a valid token.
    ///
    /// # Errors
    /// Any signature, expiry, issuer, audience or format failure.
    pub fn verify(&self, token: &str) -> Result<Claims, jsonwebtoken::errors::Error> {
        jsonwebtoken::decode::<Claims>(token, &self.key, &self.validation).map(|data| data.claims)
    }
}

/// Signs tokens (the gateway, and tests).
#[derive(Clone)]
pub struct JwtSigner {
    key: Arc<EncodingKey>,
}

impl std::fmt::Debug for JwtSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtSigner").finish_non_exhaustive()
    }
}

impl JwtSigner {
    /// A signer with the Ed25519 private key in `private_pem` (PKCS#8).
    ///
    /// # Errors
    /// [`KeyError::Pem`] when the PEM is not an Ed25519 private key.
    pub fn new(private_pem: &str) -> Result<Self, KeyError> {
        Ok(Self {
            key: Arc::new(EncodingKey::from_ed_pem(private_pem.as_bytes())?),
        })
    }

    /// Signs `claims`.
    ///
    /// # Errors
    /// Serialization or signing failures.
    pub fn sign(&self, claims: &Claims) -> Result<String, jsonwebtoken::errors::Error> {
        jsonwebtoken::encode(&Header::new(Algorithm::EdDSA), claims, &self.key)
    }
}

/// A new Ed25519 key pair as (private PKCS#8 PEM, public SPKI PEM).
///
/// # Errors
/// [`KeyError::Encode`] if encoding fails.
pub fn generate_key_pair() -> Result<(String, String), KeyError> {
    let key = SigningKey::from_bytes(&rand::random::<[u8; 32]>());
    let private = key
        .to_pkcs8_pem(LineEnding::LF)
        .map_err(|e| KeyError::Encode(e.to_string()))?;
    let public = key
        .verifying_key()
        .to_public_key_pem(LineEnding::LF)
        .map_err(|e| KeyError::Encode(e.to_string()))?;
    Ok((private.to_string(), public))
}

/// The public half (SPKI PEM) of an Ed25519 private key (PKCS#8 PEM).
///
/// # Errors
/// [`KeyError::Encode`] when the PEM is not an Ed25519 private key.
pub fn public_key_of(private_pem: &str) -> Result<String, KeyError> {
    use ed25519_dalek::pkcs8::DecodePrivateKey;
    let key =
        SigningKey::from_pkcs8_pem(private_pem).map_err(|e| KeyError::Encode(e.to_string()))?;
    key.verifying_key()
        .to_public_key_pem(LineEnding::LF)
        .map_err(|e| KeyError::Encode(e.to_string()))
}

/// The token of an `Authorization: Bearer <token>` header. The scheme is matched without regard to case
/// (RFC 9110 §11.1), so `bearer` and `BEARER` work as `Bearer` does.
pub fn bearer_token(headers: &axum::http::HeaderMap) -> Option<&str> {
    let value = headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = value.trim_start().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// The signed-in caller, from a verified bearer token. Never from the request body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Principal {
    /// User id.
    pub user_id: Uuid,
    /// Role.
    pub role: Role,
    /// When the account was made (Unix seconds), where the token says.
    pub account_since: Option<u64>,
}

impl Principal {
    /// Whether the account was made less than `age` ago (a token that does not say is not new).
    pub fn is_newer_than(&self, age: std::time::Duration, now_secs: u64) -> bool {
        self.account_since
            .is_some_and(|since| now_secs.saturating_sub(since) < age.as_secs())
    }

    /// Whether the caller is an admin.
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }

    /// Ok for admins, 403 otherwise.
    ///
    /// # Errors
    /// A `forbidden` problem for customers.
    pub fn require_admin(&self) -> Result<(), Problem> {
        if self.is_admin() {
            Ok(())
        } else {
            Err(Problem::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                "this action needs the admin role",
            ))
        }
    }
}

impl<S> FromRequestParts<S> for Principal
where
    JwtVerifier: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let unauthorized =
            |detail: &str| Problem::new(StatusCode::UNAUTHORIZED, "unauthorized", detail);
        if !parts
            .headers
            .contains_key(axum::http::header::AUTHORIZATION)
        {
            return Err(unauthorized("a bearer token is required"));
        }
        let token = bearer_token(&parts.headers)
            .ok_or_else(|| unauthorized("the Authorization header must be `Bearer <token>`"))?;
        let claims = JwtVerifier::from_ref(state)
            .verify(token)
            .map_err(|_| unauthorized("the token is invalid or expired"))?;
        Ok(Self {
            user_id: claims.sub,
            role: claims.role,
            account_since: claims.acc,
        })
    }
}

#[cfg(test)]
mod tests {
    use axum::http::{HeaderMap, HeaderValue, header};

    use super::bearer_token;

    fn with(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn the_bearer_scheme_is_matched_in_any_case() {
        for scheme in ["Bearer", "bearer", "BEARER", "bEaReR"] {
            assert_eq!(
                bearer_token(&with(&format!("{scheme} abc.def"))),
                Some("abc.def")
            );
        }
        assert_eq!(bearer_token(&with("Bearer   abc  ")), Some("abc"));
    }

    #[test]
    fn other_schemes_and_empty_tokens_are_not_bearer_tokens() {
        assert_eq!(bearer_token(&with("Basic abc")), None);
        assert_eq!(bearer_token(&with("Bearer")), None);
        assert_eq!(bearer_token(&with("Bearer   ")), None);
        assert_eq!(bearer_token(&with("Bearerabc")), None);
        assert_eq!(bearer_token(&HeaderMap::new()), None);
    }
}
