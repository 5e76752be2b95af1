//! Who may read a booking: its owner or an admin. Anyone else is told it does not exist (404, not 403).

use domain::booking::Booking;
use infra::auth::Principal;
use uuid::Uuid;

use crate::error::{ApiError, Result};
use crate::routes::history::{AsOf, fold};

/// Whether `principal` may see a booking of `customer`.
///
/// # Errors
/// `booking_not_found` for anyone but its owner or an admin.
pub fn visible(principal: &Principal, customer: Uuid) -> Result<()> {
    if principal.is_admin() || principal.user_id == customer {
        Ok(())
    } else {
        Err(ApiError::not_found("booking_not_found", "booking"))
    }
}

/// Whose booking `id` is, from its events (so a booking the projector has not reached has an owner).
///
/// # Errors
/// 404 for a booking that does not exist.
pub async fn owner(pool: &sqlx::PgPool, id: Uuid) -> Result<Uuid> {
    let (booking, _) = fold::<Booking>(pool, &id.to_string(), AsOf::default())
        .await?
        .ok_or_else(|| ApiError::not_found("booking_not_found", "booking"))?;
    booking
        .state()
        .map(|s| *s.customer_id.as_uuid())
        .ok_or_else(|| ApiError::not_found("booking_not_found", "booking"))
}
