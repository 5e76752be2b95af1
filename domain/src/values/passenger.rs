use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::{SeatNumber, ValueError, string_value};

/// Most seated passengers one booking may carry.
pub const MAX_SEATED: usize = 9;

/// One part of a passenger's name as printed on a ticket: 1–64 letters (any script), spaces, hyphens,
/// apostrophes or periods, trimmed.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PassengerName(String);

impl PassengerName {
    /// Parses a name part.
    ///
    /// # Errors
    /// [`ValueError::PersonName`] when empty, longer than 64 characters, or holding digits or symbols.
    pub fn parse(raw: &str) -> Result<Self, ValueError> {
        let trimmed = raw.trim();
        let len = trimmed.chars().count();
        let allowed = |c: char| c.is_alphabetic() || matches!(c, ' ' | '-' | '\'' | '.');
        if (1..=64).contains(&len)
            && trimmed.chars().all(allowed)
            && trimmed.chars().any(char::is_alphabetic)
        {
            Ok(Self(trimmed.to_owned()))
        } else {
            Err(ValueError::PersonName(raw.to_owned()))
        }
    }

    /// The name part.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

string_value!(PassengerName);

/// How many single-character edits (insert, delete, replace; by character, case counts) turn `a` into
/// `b`: the Levenshtein distance.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let replaced = diagonal + usize::from(ca != *cb);
            diagonal = row[j + 1];
            row[j + 1] = replaced.min(row[j] + 1).min(row[j + 1] + 1);
        }
    }
    row[b.len()]
}

/// Age band of a passenger. Infants (under 2) travel on an adult's lap and have no seat.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PassengerType {
    /// 12 and over.
    Adult,
    /// 2 to 11.
    Child,
    /// Under 2, on an adult's lap.
    Infant,
}

/// One traveller on a booking.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Passenger {
    /// Given name.
    pub first_name: PassengerName,
    /// Family name.
    pub last_name: PassengerName,
    /// Age band.
    #[serde(rename = "type")]
    pub kind: PassengerType,
    /// The seat of an adult or child; `None` for an infant (on a lap), or for a passenger who picks
    /// a seat later (assigned at the latest when the flight closes).
    pub seat: Option<SeatNumber>,
}

/// Who sits in a seat, as far as seat rules care.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SeatOccupant {
    /// An adult on their own.
    Adult,
    /// An adult holding an infant.
    AdultWithInfant,
    /// A child.
    Child,
}

impl SeatOccupant {
    /// Exit rows need someone able to help in an evacuation.
    pub const fn may_sit_in_exit_row(&self) -> bool {
        matches!(self, Self::Adult)
    }
}

/// The travellers of one booking, checked as a party: 1–9 seated passengers (adults and children),
/// at least one adult, no more infants than adults, no two passengers on one seat, infants on none.
/// A seated passenger may have no seat yet (chosen later). Infant `k` (in order) travels on the lap
/// of adult `k`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Vec<Passenger>", into = "Vec<Passenger>")]
pub struct Passengers(Vec<Passenger>);

impl TryFrom<Vec<Passenger>> for Passengers {
    type Error = ValueError;
    fn try_from(list: Vec<Passenger>) -> Result<Self, Self::Error> {
        Self::try_new(list)
    }
}

impl From<Passengers> for Vec<Passenger> {
    fn from(p: Passengers) -> Self {
        p.0
    }
}

impl Passengers {
    /// Checks the party rules.
    ///
    /// # Errors
    /// [`ValueError::Party`] naming the rule broken.
    pub fn try_new(list: Vec<Passenger>) -> Result<Self, ValueError> {
        let count = |k| list.iter().filter(|p| p.kind == k).count();
        let (adults, children, infants) = (
            count(PassengerType::Adult),
            count(PassengerType::Child),
            count(PassengerType::Infant),
        );
        let seated = adults + children;
        if seated == 0 || seated > MAX_SEATED {
            return Err(ValueError::Party(
                "a booking carries 1 to 9 seated passengers",
            ));
        }
        if adults == 0 {
            return Err(ValueError::Party("a booking needs at least one adult"));
        }
        if infants > adults {
            return Err(ValueError::Party("each infant needs an adult's lap"));
        }
        let mut seats = BTreeSet::new();
        for p in &list {
            match (p.kind, p.seat) {
                (PassengerType::Infant, Some(_)) => {
                    return Err(ValueError::Party(
                        "infants travel on a lap and take no seat",
                    ));
                }
                (_, None) => {}
                (_, Some(seat)) => {
                    if !seats.insert(seat) {
                        return Err(ValueError::Party("two passengers cannot share a seat"));
                    }
                }
            }
        }
        Ok(Self(list))
    }

    /// Everyone, in the order given.
    pub fn as_slice(&self) -> &[Passenger] {
        &self.0
    }

    /// Passengers who take a seat (adults and children), with a seat yet or not.
    pub fn seated_count(&self) -> usize {
        self.0
            .iter()
            .filter(|p| p.kind != PassengerType::Infant)
            .count()
    }

    /// Every seated passenger (in order) with their seat, if chosen, and who sits there; the first `n`
    /// adults hold the `n` infants.
    pub fn party_occupants(&self) -> Vec<(usize, Option<SeatNumber>, SeatOccupant)> {
        let infants = self
            .0
            .iter()
            .filter(|p| p.kind == PassengerType::Infant)
            .count();
        let mut laps_left = infants;
        self.0
            .iter()
            .enumerate()
            .filter_map(|(i, p)| {
                let who = match p.kind {
                    PassengerType::Infant => return None,
                    PassengerType::Adult if laps_left > 0 => {
                        laps_left -= 1;
                        SeatOccupant::AdultWithInfant
                    }
                    PassengerType::Adult => SeatOccupant::Adult,
                    PassengerType::Child => SeatOccupant::Child,
                };
                Some((i, p.seat, who))
            })
            .collect()
    }

    /// Each taken seat with who sits there.
    pub fn occupants(&self) -> Vec<(SeatNumber, SeatOccupant)> {
        self.party_occupants()
            .into_iter()
            .filter_map(|(_, seat, who)| Some((seat?, who)))
            .collect()
    }

    /// Who sits in each seat not chosen yet, in passenger order.
    pub fn unseated(&self) -> Vec<SeatOccupant> {
        self.party_occupants()
            .into_iter()
            .filter(|(_, seat, _)| seat.is_none())
            .map(|(_, _, who)| who)
            .collect()
    }

    /// Who passenger `index` is in a seat (`None` for an infant or no such passenger).
    pub fn occupant_of(&self, index: usize) -> Option<SeatOccupant> {
        self.party_occupants()
            .into_iter()
            .find(|(i, _, _)| *i == index)
            .map(|(_, _, who)| who)
    }

    /// The index of the infant on adult `index`'s lap, if they hold one.
    pub fn infant_of(&self, index: usize) -> Option<usize> {
        let adults_before = self
            .0
            .iter()
            .take(index)
            .filter(|p| p.kind == PassengerType::Adult)
            .count();
        if self.0.get(index)?.kind != PassengerType::Adult {
            return None;
        }
        self.0
            .iter()
            .enumerate()
            .filter(|(_, p)| p.kind == PassengerType::Infant)
            .nth(adults_before)
            .map(|(i, _)| i)
    }

    /// Passenger `index` with a corrected name (type and seat unchanged).
    ///
    /// # Errors
    /// [`ValueError::Party`] when there is no passenger at that index.
    pub fn with_name(
        &self,
        index: usize,
        (first_name, last_name): (PassengerName, PassengerName),
    ) -> Result<Self, ValueError> {
        let mut list = self.0.clone();
        let p = list
            .get_mut(index)
            .ok_or(ValueError::Party("no passenger at that index"))?;
        p.first_name = first_name;
        p.last_name = last_name;
        Self::try_new(list)
    }

    /// Moves passenger `index` to `seat` (or gives them one), keeping the party rules.
    ///
    /// # Errors
    /// [`ValueError::Party`] when the index is not a seated passenger or the seat is another's.
    pub fn with_seat(&self, index: usize, seat: SeatNumber) -> Result<Self, ValueError> {
        let mut list = self.0.clone();
        let p = list
            .get_mut(index)
            .filter(|p| p.kind != PassengerType::Infant)
            .ok_or(ValueError::Party("no seated passenger at that index"))?;
        p.seat = Some(seat);
        Self::try_new(list)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn person(kind: PassengerType, seat: Option<&str>) -> Passenger {
        Passenger {
            first_name: PassengerName::parse("Ada").unwrap(),
            last_name: PassengerName::parse("Lovelace").unwrap(),
            kind,
            seat: seat.map(|s| SeatNumber::parse(s).unwrap()),
        }
    }

    #[test]
    fn names_accept_any_script_and_reject_symbols() {
        assert!(PassengerName::parse("José-María O'Neil").is_ok());
        assert!(PassengerName::parse("  Zoë ").unwrap().as_str() == "Zoë");
        for bad in ["", "   ", "R2D2", "a@b", "--", &"x".repeat(65)] {
            assert!(PassengerName::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn infants_may_not_outnumber_adults() {
        let list = vec![
            person(PassengerType::Adult, Some("1A")),
            person(PassengerType::Infant, None),
            person(PassengerType::Infant, None),
        ];
        assert_eq!(
            Passengers::try_new(list),
            Err(ValueError::Party("each infant needs an adult's lap"))
        );
    }

    #[test]
    fn party_rules_are_enforced() {
        use PassengerType::{Adult, Child, Infant};
        let cases: Vec<(Vec<Passenger>, &str)> = vec![
            (vec![], "a booking carries 1 to 9 seated passengers"),
            (
                vec![person(Child, Some("1A"))],
                "a booking needs at least one adult",
            ),
            (
                vec![person(Adult, Some("1A")), person(Infant, Some("1B"))],
                "infants travel on a lap and take no seat",
            ),
            (
                vec![person(Adult, Some("1A")), person(Child, Some("1A"))],
                "two passengers cannot share a seat",
            ),
        ];
        for (list, why) in cases {
            assert_eq!(Passengers::try_new(list), Err(ValueError::Party(why)));
        }
        let ten: Vec<_> = (1..=10)
            .map(|r| person(Adult, Some(&format!("{r}A"))))
            .collect();
        assert!(Passengers::try_new(ten).is_err());
    }

    #[test]
    fn the_first_adults_carry_the_infants() {
        use PassengerType::{Adult, Child, Infant};
        let party = Passengers::try_new(vec![
            person(Adult, Some("1A")),
            person(Child, Some("1B")),
            person(Infant, None),
            person(Adult, Some("1C")),
        ])
        .unwrap();
        let occupants: Vec<_> = party.occupants().into_iter().map(|(_, o)| o).collect();
        assert_eq!(
            occupants,
            vec![
                SeatOccupant::AdultWithInfant,
                SeatOccupant::Child,
                SeatOccupant::Adult
            ]
        );
        assert_eq!(party.seated_count(), 3);
    }

    #[test]
    fn seats_may_be_chosen_later_and_the_laps_follow_the_adults_in_order() {
        use PassengerType::{Adult, Child, Infant};
        let party = Passengers::try_new(vec![
            person(Adult, None),
            person(Child, Some("1B")),
            person(Infant, None),
            person(Adult, None),
        ])
        .unwrap();
        assert_eq!(party.seated_count(), 3);
        assert_eq!(party.occupants(), vec![(seat("1B"), SeatOccupant::Child)]);
        assert_eq!(
            party.unseated(),
            vec![SeatOccupant::AdultWithInfant, SeatOccupant::Adult]
        );
        assert_eq!(party.infant_of(0), Some(2));
        assert_eq!(party.infant_of(3), None);
        let given = party.with_seat(3, seat("1C")).unwrap();
        assert_eq!(given.as_slice()[3].seat, Some(seat("1C")));
        assert!(
            party.with_seat(2, seat("1D")).is_err(),
            "an infant takes no seat"
        );
        assert!(
            party.with_seat(0, seat("1B")).is_err(),
            "a seat of the party"
        );
    }

    fn seat(s: &str) -> SeatNumber {
        SeatNumber::parse(s).unwrap()
    }

    #[test]
    fn edit_distance_counts_single_character_edits() {
        assert_eq!(edit_distance("Lovelace", "Lovelace"), 0);
        assert_eq!(edit_distance("Lovelcae", "Lovelace"), 2);
        assert_eq!(edit_distance("Lovlace", "Lovelace"), 1);
        assert_eq!(edit_distance("Zoe", "Zoë"), 1);
        assert_eq!(edit_distance("Ada", "Grace"), 4);
        assert_eq!(edit_distance("", "abc"), 3);
    }

    #[test]
    fn deserializing_checks_the_party() {
        let json = r#"[{"first_name":"A","last_name":"B","type":"child","seat":"1A"}]"#;
        assert!(serde_json::from_str::<Passengers>(json).is_err());
    }
}
