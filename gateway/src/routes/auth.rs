//! `POST /auth/signup`, `POST /auth/login`, `POST /auth/refresh`, `POST /auth/logout`, `GET /auth/me`,
//! `PUT /users/{id}/role`, `PUT /users/{id}/status`.

use axum::Extension;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use domain::values::EmailAddress;
use infra::auth::{Claims, Principal, Role};
use infra::http::AppJson;
use infra::problem::Problem;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use uuid::Uuid;

use crate::accounts::{self, AccountError, User};
use crate::client::ClientIp;
use crate::sessions::{self, Refreshed};
use crate::state::AppState;
use crate::throttle;

pub fn router() -> OpenApiRouter<AppState> {
    infra::api_routes![signup; login; refresh; logout; me; set_role; set_status]
}

/// Credentials.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Credentials {
    /// Email.
    #[schema(format = Email, max_length = 254, example = "ada@example.com")]
    pub email: String,
    /// 12–128 characters mixing at least three of lower case, upper case, digits, symbols.
    #[schema(min_length = 12, max_length = 128, example = "Correct-Horse-42")]
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
    /// Trade it once at `POST /auth/refresh` for a new pair; using one twice ends the session.
    pub refresh_token: String,
    /// Seconds until the session (and so every refresh token of it) expires at the latest.
    pub refresh_expires_in: u64,
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

/// A refresh token to trade.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    /// The `refresh_token` of the last pair.
    #[schema(min_length = 1, max_length = 256)]
    pub refresh_token: String,
}

/// An account's status.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StatusRequest {
    /// `true` refuses its sign-in and every token it holds from the next request on.
    pub disabled: bool,
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
        AccountError::Disabled => {
            Problem::new(StatusCode::FORBIDDEN, "account_disabled", e.to_string())
        }
        AccountError::LastAdmin => Problem::new(StatusCode::CONFLICT, "last_admin", e.to_string()),
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

fn internal_error() -> Response {
    Problem::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal_error",
        "something went wrong on our side",
    )
    .into_response()
}

/// Opens a session for `user` and answers with its first pair.
async fn sign_in(state: &AppState, user: User) -> Response {
    let ttl = std::time::Duration::from_secs(state.refresh_ttl_secs);
    match sessions::open(&state.pool, user.id, ttl).await {
        Ok(opened) => pair(
            state,
            user,
            (opened.session_id, state.refresh_ttl_secs),
            opened.refresh_token,
        ),
        Err(e) => problem(AccountError::Database(e)),
    }
}

/// An access token of session `session_id` (which ends in `session_left` seconds) and `refresh_token`.
fn pair(
    state: &AppState,
    user: User,
    (session_id, session_left): (Uuid, u64),
    refresh_token: String,
) -> Response {
    let now = chrono::Utc::now().timestamp().max(0) as u64;
    let claims = Claims {
        iss: state.issuer.clone(),
        aud: state.audience.clone(),
        sub: user.id,
        role: user.role,
        exp: now + state.token_ttl_secs,
        iat: now,
        sid: Some(session_id),
        acc: u64::try_from(user.created_at.timestamp()).ok(),
    };
    match state.signer.sign(&claims) {
        Ok(access_token) => (
            // Tokens are never kept by a cache on the way (RFC 6749, 5.1).
            [
                (axum::http::header::CACHE_CONTROL, "no-store"),
                (axum::http::header::PRAGMA, "no-cache"),
            ],
            axum::Json(TokenResponse {
                access_token,
                token_type: "Bearer",
                expires_in: state.token_ttl_secs,
                refresh_token,
                refresh_expires_in: session_left,
                user: user.into(),
            }),
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error.message = %e, "signing a token failed");
            internal_error()
        }
    }
}

/// Create a customer account; returns a token.
#[utoipa::path(post, path = "/api/v1/auth/signup", tag = "auth", request_body = Credentials,
    responses((status = 201, body = TokenResponse), (status = 409, description = "`email_taken`", body = Problem),
        (status = 422, description = "`invalid_email`, `weak_password`", body = Problem),
        (status = 429, description = "`rate_limited`: signups per address", body = Problem)))]
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
            let mut response = sign_in(&state, user).await;
            if response.status() == StatusCode::OK {
                *response.status_mut() = StatusCode::CREATED;
            }
            response
        }
        Err(e) => problem(e),
    }
}

/// Sign in; the same 401 for an unknown email and a wrong password. Failures past a few per account
/// (or many per IP) lock further attempts for growing delays: 429 with `Retry-After`.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = Credentials,
    responses((status = 200, body = TokenResponse), (status = 401, description = "`invalid_credentials`", body = Problem),
        (status = 403, description = "`account_disabled`", body = Problem),
        (status = 429, description = "`login_throttled` after failed sign-ins, `rate_limited`; see `Retry-After`", body = Problem)))]
async fn login(
    State(state): State<AppState>,
    client: Option<Extension<ClientIp>>,
    AppJson(req): AppJson<Credentials>,
) -> Response {
    let ip = client.map_or_else(
        || "unknown".to_owned(),
        |Extension(ClientIp(ip))| ip.to_string(),
    );
    let subjects = throttle::Subjects::new(&req.email, &ip);
    if let Some(wait) = throttle::locked_for(&state.redis, &subjects).await {
        return throttled(wait);
    }
    if !throttle::begin_attempt(&state.redis, &subjects).await {
        return throttled(1);
    }
    let checked = accounts::authenticate(&state.pool, &req.email, &req.password).await;
    let response = login_outcome(&state, &subjects, checked).await;
    throttle::end_attempt(&state.redis, &subjects).await;
    response
}

async fn login_outcome(
    state: &AppState,
    subjects: &throttle::Subjects,
    checked: Result<Option<User>, AccountError>,
) -> Response {
    match checked {
        Ok(Some(user)) => {
            throttle::succeeded(&state.redis, subjects).await;
            sign_in(state, user).await
        }
        Ok(None) => {
            let delay = throttle::failed(&state.redis, &state.login_throttle, subjects).await;
            let mut response = Problem::new(
                StatusCode::UNAUTHORIZED,
                "invalid_credentials",
                "the email or the password is wrong",
            )
            .into_response();
            if delay > 0 {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(delay));
            }
            response
        }
        Err(e) => problem(e),
    }
}

fn throttled(wait: u64) -> Response {
    let mut response = Problem::new(
        StatusCode::TOO_MANY_REQUESTS,
        "login_throttled",
        format!("too many failed sign-ins; retry in {wait} s"),
    )
    .into_response();
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(wait));
    response
}

/// Trade a refresh token for a new pair. Each refresh token works once: presenting a used one again
/// (a sign it was stolen) ends the whole session, so the thief's and the owner's tokens all stop working.
#[utoipa::path(post, path = "/api/v1/auth/refresh", tag = "auth", request_body = RefreshRequest,
    responses((status = 200, body = TokenResponse),
        (status = 401, description = "`refresh_token_reused` (the session is ended now), `invalid_refresh_token`", body = Problem)))]
async fn refresh(State(state): State<AppState>, AppJson(req): AppJson<RefreshRequest>) -> Response {
    match sessions::refresh(&state.pool, &req.refresh_token).await {
        Ok(Refreshed::Rotated {
            session_id,
            expires_at,
            refresh_token,
            user,
        }) => {
            let left = (expires_at - chrono::Utc::now()).num_seconds().max(0);
            let left = u64::try_from(left).unwrap_or(0);
            pair(&state, user, (session_id, left), refresh_token)
        }
        Ok(Refreshed::Reused { user_id }) => {
            state.grants.forget_user(user_id);
            Problem::new(
                StatusCode::UNAUTHORIZED,
                "refresh_token_reused",
                "this refresh token was used before; the session is ended, sign in again",
            )
            .into_response()
        }
        Ok(Refreshed::Invalid) => Problem::new(
            StatusCode::UNAUTHORIZED,
            "invalid_refresh_token",
            "the refresh token is unknown, or its session ended",
        )
        .into_response(),
        Err(e) => problem(AccountError::Database(e)),
    }
}

/// Sign out: the session of this token ends, and every token of it is refused from now on.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth", security(("bearer" = [])),
    responses((status = 204), (status = 401, body = Problem)))]
async fn logout(State(state): State<AppState>, headers: axum::http::HeaderMap) -> Response {
    // The middleware has checked the token and its session already; its `sid` names the session.
    let claims = infra::auth::bearer_token(&headers).and_then(|t| state.verifier.verify(t).ok());
    let Some((Some(sid), user_id)) = claims.map(|c| (c.sid, c.sub)) else {
        return Problem::new(StatusCode::UNAUTHORIZED, "unauthorized", "sign in first")
            .into_response();
    };
    match sessions::end(&state.pool, sid, user_id).await {
        Ok(_) => {
            state.grants.forget_user(user_id);
            StatusCode::NO_CONTENT.into_response()
        }
        Err(e) => problem(AccountError::Database(e)),
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

/// Grant `admin` or `customer` (admins only). Takes effect on the user's next request, with any token.
/// The last active admin cannot give up the role (409 `last_admin`).
#[utoipa::path(put, path = "/api/v1/users/{id}/role", tag = "auth", security(("bearer" = [])),
    params(("id" = Uuid, Path)), request_body = RoleRequest,
    responses((status = 200, body = UserView), (status = 403, description = "`forbidden`: admins only", body = Problem),
        (status = 404, description = "`user_not_found`", body = Problem),
        (status = 409, description = "`last_admin`: the last active admin stays one", body = Problem)))]
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
        Ok(user) => {
            state.grants.forget_user(id);
            axum::Json(UserView::from(user)).into_response()
        }
        Err(e) => problem(e),
    }
}

/// Disable an account, or enable it again (admins only). A disabled account cannot sign in, and every
/// token it holds is refused from the next request on. The last active admin cannot be disabled.
#[utoipa::path(put, path = "/api/v1/users/{id}/status", tag = "auth", security(("bearer" = [])),
    params(("id" = Uuid, Path)), request_body = StatusRequest,
    responses((status = 200, body = UserView), (status = 403, description = "`forbidden`: admins only", body = Problem),
        (status = 404, description = "`user_not_found`", body = Problem),
        (status = 409, description = "`last_admin`: the last active admin stays one", body = Problem)))]
async fn set_status(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<Uuid>,
    AppJson(req): AppJson<StatusRequest>,
) -> Response {
    if let Err(p) = principal.require_admin() {
        return p.into_response();
    }
    match accounts::set_disabled(&state.pool, id, req.disabled).await {
        Ok(user) => {
            state.grants.forget_user(id);
            axum::Json(UserView::from(user)).into_response()
        }
        Err(e) => problem(e),
    }
}
