//! A stream's parameters: where it starts (`Last-Event-ID`, `after`, `from`) and which events it
//! carries (aggregate and routing-key patterns). Read from the raw query, because `type` repeats.

use axum::http::HeaderMap;
use infra::event_log::{Position, StoredEvent};
use infra::topic;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use crate::error::{ApiError, Result};

/// Which events a stream carries.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// Only this aggregate type.
    pub aggregate_type: Option<String>,
    /// Only this aggregate (with the type).
    pub aggregate_id: Option<String>,
    /// Routing-key patterns (`booking.*`, `flight.SeatsHeld`, `#`); empty: every type.
    pub types: Vec<String>,
}

impl Filter {
    /// Whether `e` passes the type patterns.
    pub fn accepts(&self, e: &StoredEvent) -> bool {
        self.types.is_empty() || {
            let key = e.routing_key();
            self.types.iter().any(|p| topic::matches(p, &key))
        }
    }
}

/// Where a stream starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// Right after this position.
    After(Position),
    /// The beginning of the log.
    Beginning,
    /// The live end: events committed from now on.
    End,
}

/// The feed's query parameters (documentation; they are read from the raw query, `type` repeats).
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // Read by utoipa only.
pub struct FeedParams {
    /// Continue right after this position (an event's `id`); `Last-Event-ID` takes precedence.
    #[param(pattern = "^[0-9]{1,19}-[0-9]{1,19}$", example = "7421-1830")]
    after: Option<String>,
    /// `start` replays the log from its beginning; `end` (the default of `/events`) starts at the live end.
    #[param(inline)]
    from: Option<FromWhere>,
    /// Only this aggregate type (`flight`, `booking`, `airport`, `aircraft`).
    #[param(pattern = "^[a-z_]{1,32}$")]
    aggregate_type: Option<String>,
    /// Only this aggregate (with `aggregate_type`).
    #[param(max_length = 128)]
    aggregate_id: Option<String>,
    /// Only these types, `<aggregate>.<EventType>` patterns (`*` one word, `#` any); repeatable.
    #[param(
        rename = "type",
        pattern = "^[A-Za-z0-9_*#]+(\\.[A-Za-z0-9_*#]+)*$",
        max_length = 100
    )]
    r#type: Option<Vec<String>>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[allow(dead_code)] // Read by utoipa only.
enum FromWhere {
    Start,
    End,
}

/// The start and the filter of a stream from its query and `Last-Event-ID`; `default` when neither
/// says where to start.
///
/// # Errors
/// `invalid_query` for anything the feed does not take.
pub fn parse(query: Option<&str>, headers: &HeaderMap, default: Start) -> Result<(Start, Filter)> {
    let mut filter = Filter::default();
    let mut after = None;
    let mut from = None;
    let once = |slot: &Option<String>, key: &str| {
        if slot.is_some() {
            Err(ApiError::bad_query(format!("`{key}` is given twice")))
        } else {
            Ok(())
        }
    };
    for (key, value) in url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        let value = value.into_owned();
        match key.as_ref() {
            "after" => {
                once(&after, "after")?;
                after = Some(value);
            }
            "from" => {
                once(&from, "from")?;
                from = Some(value);
            }
            "aggregate_type" => {
                once(&filter.aggregate_type, "aggregate_type")?;
                if value.is_empty()
                    || value.len() > 32
                    || !value.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
                {
                    return Err(ApiError::bad_query(
                        "`aggregate_type` is a lower-case name such as `booking`",
                    ));
                }
                filter.aggregate_type = Some(value);
            }
            "aggregate_id" => {
                once(&filter.aggregate_id, "aggregate_id")?;
                if value.is_empty() || value.len() > 128 {
                    return Err(ApiError::bad_query("`aggregate_id` is 1 to 128 characters"));
                }
                filter.aggregate_id = Some(value);
            }
            "type" => {
                let word = |w: &str| {
                    !w.is_empty()
                        && w.bytes()
                            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'*' | b'#'))
                };
                if value.len() > 100 || !value.split('.').all(word) || filter.types.len() >= 20 {
                    return Err(ApiError::bad_query(
                        "`type` is up to 20 patterns such as `booking.*` or `flight.SeatsHeld`",
                    ));
                }
                filter.types.push(value);
            }
            other => {
                return Err(ApiError::bad_query(format!(
                    "unknown parameter `{other}`; the feed takes after, from, aggregate_type, aggregate_id and type"
                )));
            }
        }
    }
    if filter.aggregate_id.is_some() && filter.aggregate_type.is_none() {
        return Err(ApiError::bad_query("`aggregate_id` needs `aggregate_type`"));
    }
    let position = |raw: &str| {
        raw.parse::<Position>()
            .map_err(|e| ApiError::bad_query(format!("`{raw}` is not an event id: {e}")))
    };
    // An empty `Last-Event-ID` is none (a browser sends it before the first id).
    let resume = headers
        .get("last-event-id")
        .map(|v| v.to_str().unwrap_or("\u{fffd}").trim().to_owned())
        .filter(|v| !v.is_empty());
    let start = match (resume, after, from.as_deref()) {
        (Some(id), _, _) => Start::After(position(&id)?),
        (None, Some(_), Some(_)) => {
            return Err(ApiError::bad_query("give `after` or `from`, not both"));
        }
        (None, Some(raw), None) => Start::After(position(&raw)?),
        (None, None, Some("start")) => Start::Beginning,
        (None, None, Some("end")) => Start::End,
        (None, None, Some(_)) => return Err(ApiError::bad_query("`from` is `start` or `end`")),
        (None, None, None) => default,
    };
    Ok((start, filter))
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn headers(last: Option<&str>) -> HeaderMap {
        let mut h = HeaderMap::new();
        if let Some(v) = last {
            h.insert("last-event-id", HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn the_start_and_the_filters_are_read_and_bad_ones_refused() {
        let (start, filter) = parse(
            Some("type=booking.*&type=flight.SeatsHeld&aggregate_type=booking&aggregate_id=b1"),
            &headers(None),
            Start::End,
        )
        .unwrap();
        assert_eq!(start, Start::End);
        assert_eq!(filter.types, ["booking.*", "flight.SeatsHeld"]);
        assert_eq!(filter.aggregate_id.as_deref(), Some("b1"));
        let at = Position {
            tx_id: 12,
            global_position: 34,
        };
        assert_eq!(
            parse(Some("after=12-34"), &headers(None), Start::End)
                .unwrap()
                .0,
            Start::After(at)
        );
        // The header wins over the query (a reconnecting EventSource keeps its URL).
        assert_eq!(
            parse(Some("from=start"), &headers(Some("12-34")), Start::End)
                .unwrap()
                .0,
            Start::After(at)
        );
        assert_eq!(
            parse(Some("from=start"), &headers(None), Start::End)
                .unwrap()
                .0,
            Start::Beginning
        );
        for bad in [
            "after=12",
            "after=-1-2",
            "after=1-2-3",
            "after=99999999999999999999-1",
            "after=1-2&from=start",
            "from=middle",
            "type=booking..x",
            "type=booking.$",
            "aggregate_id=x",
            "aggregate_type=Booking",
            "limit=5",
            "after=1-1&after=2-2",
        ] {
            assert!(
                parse(Some(bad), &headers(None), Start::End).is_err(),
                "{bad} was taken"
            );
        }
        assert!(parse(None, &headers(Some("garbage")), Start::End).is_err());
        assert_eq!(
            parse(None, &headers(Some("")), Start::End).unwrap().0,
            Start::End
        );
    }
}
