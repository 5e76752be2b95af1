//! `airline verify`: checks the system's invariants with SQL straight over the event log (`events`) and
//! the payments ledger (`payments`), independently of the command code. Nothing here loads an aggregate:
//! each check folds the streams itself (seat holds per flight and booking, booking status and seats, the
//! refund rule) and reports the rows that break an invariant, one line of text each. All checks read one
//! snapshot (a read-only repeatable-read transaction), so `now()` and the data are the same for all.
//!
//! A decision commits its flight and booking events together (hold and place, confirm, cancel and
//! release, expire) and a capture or refund its event with its ledger row, so the seat checks and the
//! money per flight hold at every commit. Payments straddle commits: an authorization is written before
//! the commit that confirms it, a capture and a refund are paid after theirs. In those checks a finding
//! whose newest event (`recorded_at`) or ledger row (`updated_at`) is younger than `grace` is reported as
//! pending instead of as a violation; with a zero grace everything counts. Amounts are in minor units.
//!
//! The checks' SQL lives in `seats` (the flight and booking streams against each other, and closed
//! flights), `classes` (booking classes' nested limits at each sale), `capacity` (overbooking: places
//! within the authorized at each sale) and `money` (the ledger against the streams, offloads included).

mod capacity;
mod classes;
mod money;
mod seats;

use std::fmt;
use std::time::Duration;

use sqlx::PgPool;

use self::capacity::CAPACITY;
use self::classes::CLASS_LIMITS;
use self::money::{
    AUTHORIZATIONS_SETTLED, CONFIRMED_BOOKINGS_CAPTURED, MONEY_PER_FLIGHT, OFFLOADS, REFUNDS,
};
use self::seats::{
    CLOSED_FLIGHTS, NO_ORPHAN_HOLDS, ONE_BOOKING_PER_SEAT, PLACES_VS_BOOKINGS, SEATS_VS_BOOKINGS,
};

/// Findings listed per check in the text report; the rest are counted.
const LISTED: usize = 20;

/// One invariant and what broke it.
#[derive(Debug, Clone)]
pub struct Check {
    /// Short name.
    pub name: &'static str,
    /// The invariant.
    pub description: &'static str,
    /// One line per violating row.
    pub violations: Vec<String>,
    /// Findings still within the grace period.
    pub pending: Vec<String>,
}

/// Every check's outcome.
#[derive(Debug, Clone)]
pub struct Report {
    /// In the order run.
    pub checks: Vec<Check>,
}

impl Report {
    /// No violations (pending findings do not count).
    pub fn is_clean(&self) -> bool {
        self.violations() == 0
    }

    /// Violations over all checks.
    pub fn violations(&self) -> usize {
        self.checks.iter().map(|c| c.violations.len()).sum()
    }

    /// Pending findings over all checks.
    pub fn pending(&self) -> usize {
        self.checks.iter().map(|c| c.pending.len()).sum()
    }
}

fn list(f: &mut fmt::Formatter<'_>, what: &str, lines: &[String]) -> fmt::Result {
    writeln!(f, "    {} {what}:", lines.len())?;
    for line in lines.iter().take(LISTED) {
        writeln!(f, "      - {line}")?;
    }
    if lines.len() > LISTED {
        writeln!(f, "      … and {} more", lines.len() - LISTED)?;
    }
    Ok(())
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for check in &self.checks {
            let verdict = if check.violations.is_empty() {
                "OK  "
            } else {
                "FAIL"
            };
            writeln!(f, "[{verdict}] {}: {}", check.name, check.description)?;
            if !check.violations.is_empty() {
                list(f, "violations", &check.violations)?;
            }
            if !check.pending.is_empty() {
                list(f, "pending (within the grace period)", &check.pending)?;
            }
        }
        let (violations, pending) = (self.violations(), self.pending());
        let checks = self.checks.len();
        writeln!(
            f,
            "{checks} checks, {violations} violations, {pending} pending"
        )
    }
}

/// A check to run: its query returns `(violation text, pending)`; `graced` queries take the grace in
/// seconds as `$1`.
struct Spec {
    name: &'static str,
    description: &'static str,
    sql: &'static str,
    graced: bool,
    /// Planner settings for this check only (`SET LOCAL`, back to their defaults after it).
    planner: &'static [(&'static str, &'static str)],
}

/// Runs every check in one read-only snapshot.
///
/// # Errors
/// Postgres failures (a malformed payload that a cast rejects among them).
pub async fn run(pool: &PgPool, grace: Duration) -> Result<Report, sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        .execute(&mut *tx)
        .await?;
    // The folds sort whole streams; more memory keeps those sorts off disk.
    sqlx::query("SET LOCAL work_mem = '64MB'")
        .execute(&mut *tx)
        .await?;
    let mut checks = Vec::with_capacity(SPECS.len());
    for spec in &SPECS {
        for (name, value) in spec.planner {
            sqlx::query(&format!("SET LOCAL {name} = {value}"))
                .execute(&mut *tx)
                .await?;
        }
        let query = sqlx::query_as::<_, (String, bool)>(spec.sql);
        let query = if spec.graced {
            query.bind(grace.as_secs_f64())
        } else {
            query
        };
        let rows = query.fetch_all(&mut *tx).await?;
        for (name, _) in spec.planner {
            sqlx::query(&format!("SET LOCAL {name} TO DEFAULT"))
                .execute(&mut *tx)
                .await?;
        }
        let (pending, violations): (Vec<_>, Vec<_>) = rows.into_iter().partition(|(_, p)| *p);
        checks.push(Check {
            name: spec.name,
            description: spec.description,
            violations: violations.into_iter().map(|(line, _)| line).collect(),
            pending: pending.into_iter().map(|(line, _)| line).collect(),
        });
    }
    tx.rollback().await?;
    Ok(Report { checks })
}

const SPECS: [Spec; 12] = [
    Spec {
        name: "seats-vs-bookings",
        description: "held seats belong to held bookings, sold seats to confirmed ones, each on a flight the \
                      booking travels on, and every held or confirmed booking has exactly its passengers' \
                      seats in the hold of every flight of its journey",
        sql: SEATS_VS_BOOKINGS,
        graced: false,
        planner: &[],
    },
    Spec {
        name: "places-vs-bookings",
        description: "every live hold's places without a seat are its booking's passengers without a seat on \
                      that flight (not offloaded), and no such passenger is without a hold",
        sql: PLACES_VS_BOOKINGS,
        graced: false,
        planner: &[],
    },
    Spec {
        name: "one-booking-per-seat",
        description: "no seat of a flight is in two bookings' holds at once",
        sql: ONE_BOOKING_PER_SEAT,
        graced: false,
        planner: &[],
    },
    Spec {
        name: "no-orphan-holds",
        description: "every hold on a flight is for a booking that was placed",
        sql: NO_ORPHAN_HOLDS,
        graced: false,
        planner: &[],
    },
    Spec {
        name: "class-limits",
        description: "no sale took a booking class past its nested limit (with the cheaper classes of its \
                      cabin), nor any dearer class past its, under the fares in force at that sale",
        sql: CLASS_LIMITS,
        graced: false,
        // Its CTEs' row estimates are poor: a nested loop over them is quadratic (36 s for ten full
        // flights), hash joins are linear; and JIT would take longer to compile than the query runs.
        planner: &[("enable_nestloop", "off"), ("jit", "off")],
    },
    Spec {
        name: "capacity",
        description: "no sale took a cabin past its seats plus the overbooking in force at that sale, and \
                      no sale with seats past its seats (the places beyond are sold without seats)",
        sql: CAPACITY,
        graced: false,
        planner: &[("enable_nestloop", "off"), ("jit", "off")],
    },
    Spec {
        name: "closed-flights",
        description: "nothing is sold, moved or assigned on a closed flight; its live holds have a seat for \
                      every place and fit its seats; every confirmed passenger not offloaded has a seat",
        sql: CLOSED_FLIGHTS,
        graced: false,
        planner: &[],
    },
    Spec {
        name: "confirmed-bookings-captured",
        description: "every confirmed booking has one PaymentCaptured of its payment and one captured \
                      ledger authorization of that amount",
        sql: CONFIRMED_BOOKINGS_CAPTURED,
        graced: true,
        planner: &[],
    },
    Spec {
        name: "authorizations-settled",
        description: "every ledger authorization ended captured, voided or declined; authorized and \
                      captured ones are their booking's confirmed payment, voided and declined ones are no \
                      booking's",
        sql: AUTHORIZATIONS_SETTLED,
        graced: true,
        planner: &[],
    },
    Spec {
        name: "refunds",
        description: "every cancellation refunds what the fare rules give, and a refund due was issued once \
                      (RefundIssued) and paid back (a refunded ledger row of that amount)",
        sql: REFUNDS,
        graced: true,
        planner: &[],
    },
    Spec {
        name: "offloads",
        description: "every offload refunds the offloaded passengers' fare on that flight, issued once and \
                      paid back (a refunded ledger row), and owes its compensation (an owed ledger row)",
        sql: OFFLOADS,
        graced: true,
        planner: &[],
    },
    Spec {
        name: "money-per-flight",
        description: "per flight and currency, ledger captured minus refunded equals PaymentCaptured minus \
                      RefundIssued",
        sql: MONEY_PER_FLIGHT,
        graced: false,
        planner: &[],
    },
];
