//! The dates and instants the API takes: years 1900 to 2199. Anything outside (`-5000-01-01`, a year
//! 99999) is refused while parsing, so it becomes a 4xx problem and never reaches date arithmetic or
//! Postgres (whose ranges end elsewhere than chrono's). Use with `#[serde(deserialize_with = ...)]`
//! (`#[serde(default, ...)]` for the optional forms).

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, Utc};
use serde::{Deserialize, Deserializer};

/// The first year taken.
pub const MIN_YEAR: i32 = 1900;
/// The last year taken.
pub const MAX_YEAR: i32 = 2199;

/// Whether a year is in the supported range.
pub fn year_in_range(year: i32) -> bool {
    (MIN_YEAR..=MAX_YEAR).contains(&year)
}

fn check<E: serde::de::Error>(year: i32) -> Result<(), E> {
    if year_in_range(year) {
        Ok(())
    } else {
        Err(E::custom(format!(
            "year {year} is outside the supported range {MIN_YEAR}-{MAX_YEAR}"
        )))
    }
}

/// A `YYYY-MM-DD` date in range.
///
/// # Errors
/// A malformed or out-of-range date.
pub fn date<'de, D: Deserializer<'de>>(d: D) -> Result<NaiveDate, D::Error> {
    let v = NaiveDate::deserialize(d)?;
    check(v.year())?;
    Ok(v)
}

/// An optional [`date`].
///
/// # Errors
/// As [`date`].
pub fn opt_date<'de, D: Deserializer<'de>>(d: D) -> Result<Option<NaiveDate>, D::Error> {
    Option::<NaiveDate>::deserialize(d)?
        .map(|v| check(v.year()).map(|()| v))
        .transpose()
}

/// An RFC 3339 instant in range.
///
/// # Errors
/// A malformed or out-of-range instant.
pub fn instant<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
    let v = DateTime::<Utc>::deserialize(d)?;
    check(v.year())?;
    Ok(v)
}

/// An optional [`instant`].
///
/// # Errors
/// As [`instant`].
pub fn opt_instant<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
    Option::<DateTime<Utc>>::deserialize(d)?
        .map(|v| check(v.year()).map(|()| v))
        .transpose()
}

/// A local date and time (`YYYY-MM-DDTHH:MM:SS`, no offset) in range.
///
/// # Errors
/// A malformed or out-of-range date and time.
pub fn local<'de, D: Deserializer<'de>>(d: D) -> Result<NaiveDateTime, D::Error> {
    let v = NaiveDateTime::deserialize(d)?;
    check(v.year())?;
    Ok(v)
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    struct Q {
        #[serde(default, deserialize_with = "super::opt_date")]
        date: Option<chrono::NaiveDate>,
        #[serde(default, deserialize_with = "super::opt_instant")]
        after: Option<chrono::DateTime<chrono::Utc>>,
    }

    #[test]
    fn dates_outside_the_range_are_refused_with_a_reason() {
        let parse = |s: &str| serde_json::from_str::<Q>(s);
        assert!(parse(r#"{"date": "2026-12-03"}"#).unwrap().date.is_some());
        assert!(parse("{}").unwrap().date.is_none());
        let after = parse(r#"{"after": "2026-12-03T10:00:00Z"}"#).unwrap().after;
        assert_eq!(after.unwrap().to_rfc3339(), "2026-12-03T10:00:00+00:00");
        for bad in [
            r#"{"date": "-5000-01-01"}"#,
            r#"{"date": "+99999-01-01"}"#,
            r#"{"date": "1899-12-31"}"#,
            r#"{"after": "-4800-01-01T00:00:00Z"}"#,
            r#"{"after": "2200-01-01T00:00:00Z"}"#,
        ] {
            let e = parse(bad).unwrap_err().to_string();
            assert!(e.contains("outside the supported range"), "{bad}: {e}");
        }
    }
}
