//! `POST /auth/signup`, `POST /auth/login`, `GET /auth/me`, `PUT /users/{id}/role`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use domain::values::EmailAddress;
use infra::auth::{Claims, Principal, Role};
use infra::http::AppJson;
use infra::problem::Problem;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::accounts::{self, AccountError, User};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(signup))
        .routes(routes!(login))
        .routes(routes!(me))
        .routes(routes!(set_role))
}

/// Credentials.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Credentials {
    /// Email.
    #[schema(example = "ada@example.com")]
    pub email: String,
    /// 12–128 characters mixing at least three of lower case, upper case, digits, symbols.
    pub password: String,
}

/// A bearer token.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenResponse {
    /// The JWT for `Authorization: Bearer`.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Seconds until it expires.
    pub expires_in: u64,
    /// The account.
    pub user: UserView,
}

/// An account.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserView {
    /// Id.
    pub id: Uuid,
    /// Email.
    pub email: String,
    /// `customer` or `admin`.
    #[schema(value_type = String)]
    pub role: Role,
}

impl From<User> for UserView {
    fn from(u: User) -> Self {
        Self {
            id: u.id,
            email: u.email,
            role: u.role,
        }
    }
}

/// A new role.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleRequest {
    /// `customer` or `admin`.
    #[schema(value_type = String)]
    pub role: Role,
}

fn problem(e: AccountError) -> Response {
    match e {
        AccountError::Password(p) => Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "weak_password",
            p.to_string(),
        ),
        AccountError::EmailTaken => {
            Problem::new(StatusCode::CONFLICT, "email_taken", e.to_string())
        }
        AccountError::UnknownUser => {
            Problem::new(StatusCode::NOT_FOUND, "user_not_found", e.to_string())
        }
        AccountError::Database(ref db) if infra::db::is_unavailable(db) => {
            tracing::warn!(error.message = %e, "account operation failed: database unavailable");
            Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "database_unavailable",
                "the database is unavailable; retry later",
            )
        }
        AccountError::Hashing(_) | AccountError::Database(_) => {
            tracing::error!(error.message = %e, "account operation failed");
            Problem::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal_error",
                "something went wrong on our side",
            )
        }
    }
    .into_response()
}

fn token(state: &AppState, user: User) -> Response {
    let now = chrono::Utc::now().timestamp().max(0) as u64;
    let claims = Claims {
        iss: state.issuer.clone(),
        aud: state.audience.clone(),
        sub: user.id,
        role: user.role,
        exp: now + state.token_ttl_secs,
        iat: now,
    };
    match state.signer.sign(&claims) {
        Ok(access_token) => axum::Json(TokenResponse {
            access_token,
            token_type: "Bearer",
            expires_in: state.token_ttl_secs,
            user: user.into(),
        })
        .into_response(),
        Err(e) => {
            tracing::error!(error.message = %e, "signing a token failed");
            Problem::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal_error",
                "something went wrong on our side",
            )
            .into_response()
        }
    }
}

/// Create a customer account; returns a token.
#[utoipa::path(post, path = "/api/v1/auth/signup", tag = "auth", request_body = Credentials,
    responses((status = 201, body = TokenResponse), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn signup(State(state): State<AppState>, AppJson(req): AppJson<Credentials>) -> Response {
    let email = match EmailAddress::parse(&req.email) {
        Ok(e) => e,
        Err(e) => {
            return Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_email",
                e.to_string(),
            )
            .into_response();
        }
    };
    match accounts::create(&state.pool, &email, &req.password, Role::Customer).await {
        Ok(user) => {
            let mut response = token(&state, user);
            *response.status_mut() = StatusCode::CREATED;
            response
        }
        Err(e) => problem(e),
    }
}

/// Sign in; the same 401 for an unknown email and a wrong password.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = Credentials,
    responses((status = 200, body = TokenResponse), (status = 401, body = Problem)))]
async fn login(State(state): State<AppState>, AppJson(req): AppJson<Credentials>) -> Response {
    match accounts::authenticate(&state.pool, &req.email, &req.password).await {
        Ok(Some(user)) => token(&state, user),
        Ok(None) => Problem::new(
            StatusCode::UNAUTHORIZED,
            "invalid_credentials",
            "the email or the password is wrong",
        )
        .into_response(),
        Err(e) => problem(e),
    }
}

/// The signed-in account.
#[utoipa::path(get, path = "/api/v1/auth/me", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = UserView), (status = 401, body = Problem)))]
async fn me(State(state): State<AppState>, principal: Principal) -> Response {
    match accounts::find(&state.pool, principal.user_id).await {
        Ok(Some(user)) => axum::Json(UserView::from(user)).into_response(),
        Ok(None) => Problem::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "the account no longer exists",
        )
        .into_response(),
        Err(e) => problem(e),
    }
}

/// Grant `admin` or `customer` (admins only). Takes effect on the user's next token.
#[utoipa::path(put, path = "/api/v1/users/{id}/role", tag = "auth", security(("bearer" = [])),
    params(("id" = Uuid, Path)), request_body = RoleRequest,
    responses((status = 200, body = UserView), (status = 403, body = Problem), (status = 404, body = Problem)))]
async fn set_role(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<Uuid>,
    AppJson(req): AppJson<RoleRequest>,
) -> Response {
    if let Err(p) = principal.require_admin() {
        return p.into_response();
    }
    match accounts::set_role(&state.pool, id, req.role).await {
        Ok(user) => axum::Json(UserView::from(user)).into_response(),
        Err(e) => problem(e),
    }
}
