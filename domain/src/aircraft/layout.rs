use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::values::{Cabin, SeatNumber, ValueError};

/// One cabin's block of rows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CabinLayout {
    /// Which cabin.
    pub cabin: Cabin,
    /// First row number (1–99).
    pub first_row: u8,
    /// Last row number, inclusive.
    pub last_row: u8,
    /// Seat letters across a row, a space for each aisle: `"ABC DEF"`.
    pub letters: String,
    /// Rows in this cabin that are emergency exit rows.
    #[serde(default)]
    pub exit_rows: Vec<u8>,
}

/// A seat's features, derived from the layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SeatCharacteristic {
    /// By a window.
    Window,
    /// Beside an aisle.
    Aisle,
    /// Between two seats.
    Middle,
    /// In an emergency exit row (extra legroom; seat rules apply).
    ExitRow,
}

/// One seat on the map.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeatSpec {
    /// The seat.
    pub seat: SeatNumber,
    /// Its cabin.
    pub cabin: Cabin,
    /// Its features.
    pub characteristics: Vec<SeatCharacteristic>,
}

impl SeatSpec {
    /// Whether this is an exit-row seat.
    pub fn is_exit_row(&self) -> bool {
        self.characteristics.contains(&SeatCharacteristic::ExitRow)
    }
}

/// A whole aircraft's layout: cabins with distinct, non-overlapping rows and valid letters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Vec<CabinLayout>", into = "Vec<CabinLayout>")]
pub struct SeatLayout(Vec<CabinLayout>);

impl TryFrom<Vec<CabinLayout>> for SeatLayout {
    type Error = ValueError;
    fn try_from(cabins: Vec<CabinLayout>) -> Result<Self, Self::Error> {
        Self::try_new(cabins)
    }
}

impl From<SeatLayout> for Vec<CabinLayout> {
    fn from(layout: SeatLayout) -> Self {
        layout.0
    }
}

impl SeatLayout {
    /// Checks a layout.
    ///
    /// # Errors
    /// [`ValueError::Layout`] naming what is wrong.
    pub fn try_new(cabins: Vec<CabinLayout>) -> Result<Self, ValueError> {
        if cabins.is_empty() {
            return Err(ValueError::Layout("an aircraft needs at least one cabin"));
        }
        let mut seen_cabins = BTreeSet::new();
        let mut seen_rows = BTreeSet::new();
        for c in &cabins {
            if !seen_cabins.insert(c.cabin) {
                return Err(ValueError::Layout("each cabin may appear once"));
            }
            if c.first_row == 0 || c.last_row > 99 || c.first_row > c.last_row {
                return Err(ValueError::Layout("rows run from 1 to 99, first to last"));
            }
            if !(c.first_row..=c.last_row).all(|r| seen_rows.insert(r)) {
                return Err(ValueError::Layout("cabins may not share rows"));
            }
            if c.exit_rows
                .iter()
                .any(|r| !(c.first_row..=c.last_row).contains(r))
            {
                return Err(ValueError::Layout("exit rows must lie inside their cabin"));
            }
            check_letters(&c.letters)?;
        }
        Ok(Self(cabins))
    }

    /// The cabins.
    pub fn cabins(&self) -> &[CabinLayout] {
        &self.0
    }

    /// Every seat, front to back, with derived characteristics.
    pub fn seats(&self) -> Vec<SeatSpec> {
        let mut seats = Vec::new();
        for c in &self.0 {
            let groups: Vec<&str> = c.letters.split(' ').collect();
            for row in c.first_row..=c.last_row {
                let exit = c.exit_rows.contains(&row);
                for (g, group) in groups.iter().enumerate() {
                    let n = group.len();
                    for (i, letter) in group.chars().enumerate() {
                        let Ok(seat) = SeatNumber::try_new(row, letter) else {
                            continue;
                        };
                        let mut characteristics = Vec::new();
                        let window = (g == 0 && i == 0) || (g == groups.len() - 1 && i == n - 1);
                        let aisle = (i == 0 && g > 0) || (i == n - 1 && g < groups.len() - 1);
                        if window {
                            characteristics.push(SeatCharacteristic::Window);
                        }
                        if aisle {
                            characteristics.push(SeatCharacteristic::Aisle);
                        }
                        if !window && !aisle {
                            characteristics.push(SeatCharacteristic::Middle);
                        }
                        if exit {
                            characteristics.push(SeatCharacteristic::ExitRow);
                        }
                        seats.push(SeatSpec {
                            seat,
                            cabin: c.cabin,
                            characteristics,
                        });
                    }
                }
            }
        }
        seats
    }
}

fn check_letters(letters: &str) -> Result<(), ValueError> {
    let groups: Vec<&str> = letters.split(' ').collect();
    if groups.iter().any(|g| g.is_empty()) {
        return Err(ValueError::Layout(
            "letters are groups like \"ABC DEF\", one space per aisle",
        ));
    }
    let mut seen = BTreeSet::new();
    for c in letters.chars().filter(|c| *c != ' ') {
        if !SeatNumber::is_seat_letter(c) {
            return Err(ValueError::Layout("seat letters are A to K without I"));
        }
        if !seen.insert(c) {
            return Err(ValueError::Layout("a seat letter may appear once per row"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use SeatCharacteristic::{Aisle, ExitRow, Middle, Window};

    fn cabin(cabin: Cabin, rows: (u8, u8), letters: &str, exits: Vec<u8>) -> CabinLayout {
        CabinLayout {
            cabin,
            first_row: rows.0,
            last_row: rows.1,
            letters: letters.to_owned(),
            exit_rows: exits,
        }
    }

    #[test]
    fn characteristics_follow_from_letters_and_exit_rows() {
        let layout =
            SeatLayout::try_new(vec![cabin(Cabin::Economy, (10, 11), "ABC DEF", vec![11])])
                .unwrap();
        let seats = layout.seats();
        assert_eq!(seats.len(), 12);
        let find = |s: &str| {
            let seat = SeatNumber::parse(s).unwrap();
            seats
                .iter()
                .find(|x| x.seat == seat)
                .unwrap()
                .characteristics
                .clone()
        };
        assert_eq!(find("10A"), vec![Window]);
        assert_eq!(find("10B"), vec![Middle]);
        assert_eq!(find("10C"), vec![Aisle]);
        assert_eq!(find("10D"), vec![Aisle]);
        assert_eq!(find("10F"), vec![Window]);
        assert_eq!(find("11A"), vec![Window, ExitRow]);
    }

    #[test]
    fn bad_layouts_are_rejected() {
        let bad: Vec<Vec<CabinLayout>> = vec![
            vec![],
            vec![cabin(Cabin::Economy, (0, 3), "AB", vec![])],
            vec![cabin(Cabin::Economy, (5, 3), "AB", vec![])],
            vec![cabin(Cabin::Economy, (1, 3), "AI", vec![])],
            vec![cabin(Cabin::Economy, (1, 3), "AA", vec![])],
            vec![cabin(Cabin::Economy, (1, 3), "AB  CD", vec![])],
            vec![cabin(Cabin::Economy, (1, 3), " AB", vec![])],
            vec![cabin(Cabin::Economy, (1, 3), "AB", vec![7])],
            vec![
                cabin(Cabin::Business, (1, 3), "AB", vec![]),
                cabin(Cabin::Economy, (3, 9), "AB", vec![]),
            ],
            vec![
                cabin(Cabin::Economy, (1, 3), "AB", vec![]),
                cabin(Cabin::Economy, (4, 9), "AB", vec![]),
            ],
        ];
        for layout in bad {
            assert!(
                SeatLayout::try_new(layout.clone()).is_err(),
                "{layout:?} was accepted"
            );
        }
    }

    #[test]
    fn deserializing_checks_the_layout() {
        let json = r#"[{"cabin":"economy","first_row":3,"last_row":1,"letters":"AB"}]"#;
        assert!(serde_json::from_str::<SeatLayout>(json).is_err());
        let json = r#"[{"cabin":"economy","first_row":1,"last_row":2,"letters":"AB","bogus":1}]"#;
        assert!(serde_json::from_str::<SeatLayout>(json).is_err());
    }
}
