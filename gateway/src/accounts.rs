//! Accounts: password rules, argon2id hashing (on blocking threads: it is deliberately slow), and the
//! `users` table.

use std::sync::LazyLock;

use argon2::{Algorithm, Argon2, Params, PasswordHasher, PasswordVerifier, Version};
use domain::values::EmailAddress;
use infra::auth::Role;
use sqlx::PgPool;
use uuid::Uuid;

/// Why a password is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    /// Too short or too long.
    #[error("a password has 12 to 128 characters")]
    Length,
    /// Too few kinds of characters.
    #[error("a password mixes at least three of: lower case, upper case, digits, symbols")]
    Variety,
    /// Contains the email's name part.
    #[error("a password may not contain the email address")]
    ContainsEmail,
}

/// Why an account operation failed.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    /// The password breaks a rule.
    #[error(transparent)]
    Password(#[from] PasswordError),
    /// Signup with an email that has an account.
    #[error("an account with this email exists")]
    EmailTaken,
    /// No account has this id.
    #[error("no such user")]
    UnknownUser,
    /// The right password for a disabled account.
    #[error("the account is disabled")]
    Disabled,
    /// The change would leave no active admin.
    #[error("this is the last active admin; make another admin first")]
    LastAdmin,
    /// Hashing failed.
    #[error("password hashing failed: {0}")]
    Hashing(String),
    /// The database failed.
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// An account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Id (the token's `sub`).
    pub id: Uuid,
    /// Normalised email.
    pub email: String,
    /// Role.
    pub role: Role,
    /// When the account was made (tokens say it: new accounts hold fewer seats).
    pub created_at: chrono::DateTime<chrono::Utc>,
}

/// Checks the password rules.
///
/// # Errors
/// [`PasswordError`].
pub fn check_password(password: &str, email: &EmailAddress) -> Result<(), PasswordError> {
    let len = password.chars().count();
    if !(12..=128).contains(&len) {
        return Err(PasswordError::Length);
    }
    let kinds = [
        password.chars().any(char::is_lowercase),
        password.chars().any(char::is_uppercase),
        password.chars().any(|c| c.is_ascii_digit()),
        password.chars().any(|c| !c.is_alphanumeric()),
    ];
    if kinds.iter().filter(|k| **k).count() < 3 {
        return Err(PasswordError::Variety);
    }
    let local = email.as_str().split('@').next().unwrap_or_default();
    if local.len() >= 4 && password.to_lowercase().contains(local) {
        return Err(PasswordError::ContainsEmail);
    }
    Ok(())
}

/// argon2id with OWASP's minimum: 19 MiB, 2 passes, 1 lane.
fn hasher() -> Argon2<'static> {
    let params = Params::new(19 * 1024, 2, 1, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// A hash of a random password, verified against when the email is unknown, so a login takes about as
/// long whether or not the account exists.
static DUMMY_HASH: LazyLock<String> = LazyLock::new(|| {
    let random = Uuid::new_v4().to_string();
    hasher()
        .hash_password(random.as_bytes())
        .map(|h| h.to_string())
        .unwrap_or_default()
});

/// Hashes a password (PHC string).
///
/// # Errors
/// [`AccountError::Hashing`].
pub async fn hash(password: String) -> Result<String, AccountError> {
    tokio::task::spawn_blocking(move || {
        hasher()
            .hash_password(password.as_bytes())
            .map(|h| h.to_string())
    })
    .await
    .map_err(|e| AccountError::Hashing(e.to_string()))?
    .map_err(|e| AccountError::Hashing(e.to_string()))
}

async fn verify(password: String, stored: String) -> bool {
    tokio::task::spawn_blocking(move || {
        hasher()
            .verify_password(password.as_bytes(), stored.as_str())
            .is_ok()
    })
    .await
    .unwrap_or(false)
}

/// The role a stored name stands for.
pub(crate) fn role_of(raw: &str) -> Role {
    if raw == "admin" {
        Role::Admin
    } else {
        Role::Customer
    }
}

/// Creates an account.
///
/// # Errors
/// [`AccountError::Password`], [`AccountError::EmailTaken`], database failures.
pub async fn create(
    pool: &PgPool,
    email: &EmailAddress,
    password: &str,
    role: Role,
) -> Result<User, AccountError> {
    check_password(password, email)?;
    let password_hash = hash(password.to_owned()).await?;
    let id = Uuid::now_v7();
    let created_at = chrono::Utc::now();
    let inserted = sqlx::query(
        "INSERT INTO users (user_id, email, password_hash, role, created_at) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (email) DO NOTHING",
    )
    .bind(id)
    .bind(email.as_str())
    .bind(password_hash)
    .bind(role.as_str())
    .bind(created_at)
    .execute(pool)
    .await?;
    if inserted.rows_affected() == 0 {
        return Err(AccountError::EmailTaken);
    }
    Ok(User {
        id,
        email: email.to_string(),
        role,
        created_at,
    })
}

/// The account for these credentials, or `None` for an unknown email or a wrong password alike.
///
/// # Errors
/// Database failures.
pub async fn authenticate(
    pool: &PgPool,
    email: &str,
    password: &str,
) -> Result<Option<User>, AccountError> {
    let row: Option<(Uuid, String, String, String, bool, chrono::DateTime<chrono::Utc>)> =
        match EmailAddress::parse(email) {
            Ok(email) => sqlx::query_as(
                "SELECT user_id, email, password_hash, role, disabled, created_at FROM users WHERE email = $1",
            )
            .bind(email.as_str())
            .fetch_optional(pool)
            .await?,
            Err(_) => None,
        };
    match row {
        Some((id, email, stored, role, disabled, created_at)) => {
            if !verify(password.to_owned(), stored).await {
                return Ok(None);
            }
            if disabled {
                return Err(AccountError::Disabled);
            }
            Ok(Some(User {
                id,
                email,
                role: role_of(&role),
                created_at,
            }))
        }
        None => {
            verify(password.to_owned(), DUMMY_HASH.clone()).await;
            Ok(None)
        }
    }
}

/// An account by id.
///
/// # Errors
/// Database failures.
pub async fn find(pool: &PgPool, id: Uuid) -> Result<Option<User>, AccountError> {
    let row: Option<(Uuid, String, String, chrono::DateTime<chrono::Utc>)> =
        sqlx::query_as("SELECT user_id, email, role, created_at FROM users WHERE user_id = $1")
            .bind(id)
            .fetch_optional(pool)
            .await?;
    Ok(row.map(|(id, email, role, created_at)| User {
        id,
        email,
        role: role_of(&role),
        created_at,
    }))
}

/// Changes a user's role. Refused when it would leave no active admin (the admins' rows are locked
/// first, so two admins demoting each other at once cannot both succeed).
///
/// # Errors
/// [`AccountError::UnknownUser`], [`AccountError::LastAdmin`], database failures.
pub async fn set_role(pool: &PgPool, id: Uuid, role: Role) -> Result<User, AccountError> {
    let mut tx = pool.begin().await?;
    if role != Role::Admin {
        refuse_last_admin(&mut tx, id).await?;
    }
    let row: Option<(Uuid, String, chrono::DateTime<chrono::Utc>)> = sqlx::query_as(
        "UPDATE users SET role = $2, updated_at = now() WHERE user_id = $1 RETURNING user_id, email, created_at",
    )
    .bind(id)
    .bind(role.as_str())
    .fetch_optional(&mut *tx)
    .await?;
    let user = row
        .map(|(id, email, created_at)| User {
            id,
            email,
            role,
            created_at,
        })
        .ok_or(AccountError::UnknownUser)?;
    tx.commit().await?;
    Ok(user)
}

/// Disables (or enables again) an account: a disabled one cannot sign in, and every token it holds is
/// refused from the next request on. The last active admin cannot be disabled.
///
/// # Errors
/// [`AccountError::UnknownUser`], [`AccountError::LastAdmin`], database failures.
pub async fn set_disabled(pool: &PgPool, id: Uuid, disabled: bool) -> Result<User, AccountError> {
    let mut tx = pool.begin().await?;
    if disabled {
        refuse_last_admin(&mut tx, id).await?;
    }
    let row: Option<(Uuid, String, String, chrono::DateTime<chrono::Utc>)> = sqlx::query_as(
        "UPDATE users SET disabled = $2, updated_at = now() WHERE user_id = $1 \
         RETURNING user_id, email, role, created_at",
    )
    .bind(id)
    .bind(disabled)
    .fetch_optional(&mut *tx)
    .await?;
    let user = row
        .map(|(id, email, role, created_at)| User {
            id,
            email,
            role: role_of(&role),
            created_at,
        })
        .ok_or(AccountError::UnknownUser)?;
    if disabled {
        // Ended, not only refused: enabling the account again must not bring old sessions back.
        sqlx::query(
            "UPDATE sessions SET revoked_at = now(), revoked_reason = 'account_disabled' \
             WHERE user_id = $1 AND revoked_at IS NULL",
        )
        .bind(id)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(user)
}

async fn refuse_last_admin(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    id: Uuid,
) -> Result<(), AccountError> {
    let admins: Vec<Uuid> = sqlx::query_scalar(
        "SELECT user_id FROM users WHERE role = 'admin' AND NOT disabled ORDER BY user_id FOR UPDATE",
    )
    .fetch_all(&mut **tx)
    .await?;
    if admins == [id] {
        return Err(AccountError::LastAdmin);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn email() -> EmailAddress {
        EmailAddress::parse("grace@example.com").unwrap()
    }

    #[test]
    fn weak_passwords_are_refused() {
        assert_eq!(
            check_password("Sh0rt!", &email()),
            Err(PasswordError::Length)
        );
        assert_eq!(
            check_password("alllowercaseletters", &email()),
            Err(PasswordError::Variety)
        );
        assert_eq!(
            check_password("Grace-2026-secret", &email()),
            Err(PasswordError::ContainsEmail)
        );
        assert_eq!(
            check_password(&"Aa1!".repeat(40), &email()),
            Err(PasswordError::Length)
        );
        assert_eq!(check_password("correct Horse battery", &email()), Ok(()));
        assert_eq!(check_password("Tr0ub4dor&3xyz", &email()), Ok(()));
    }

    #[tokio::test]
    async fn a_hash_verifies_its_password_only() {
        let stored = hash("Tr0ub4dor&3xyz".to_owned()).await.unwrap();
        assert!(stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(verify("Tr0ub4dor&3xyz".to_owned(), stored.clone()).await);
        assert!(!verify("Tr0ub4dor&3xyZ".to_owned(), stored).await);
    }
}
