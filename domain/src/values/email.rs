use super::{ValueError, string_value};

/// An email address, trimmed and lower-cased: one `@`, a non-empty local part, a domain with a dot,
/// no spaces, at most 254 characters. Deliverability is the mail server's business.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EmailAddress(String);

impl EmailAddress {
    /// Parses and normalises an address.
    ///
    /// # Errors
    /// [`ValueError::Email`] when it does not have the shape above.
    pub fn parse(raw: &str) -> Result<Self, ValueError> {
        let normal = raw.trim().to_lowercase();
        let fail = || ValueError::Email(raw.chars().take(300).collect());
        if normal.len() > 254 || normal.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(fail());
        }
        let (local, domain) = normal.split_once('@').ok_or_else(fail)?;
        let domain_ok = domain.contains('.')
            && !domain.contains('@')
            && domain
                .split('.')
                .all(|part| !part.is_empty() && !part.starts_with('-') && !part.ends_with('-'));
        if local.is_empty() || local.len() > 64 || !domain_ok {
            return Err(fail());
        }
        Ok(Self(normal))
    }

    /// The address.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

string_value!(EmailAddress);

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn addresses_are_normalised() {
        assert_eq!(
            EmailAddress::parse("  Ada@Example.COM ").unwrap().as_str(),
            "ada@example.com"
        );
    }

    #[test]
    fn malformed_addresses_are_rejected() {
        for bad in [
            "",
            "ada",
            "ada@",
            "@example.com",
            "ada@example",
            "a b@c.de",
            "a@b@c.de",
            "a@.de",
            "a@b..de",
        ] {
            assert!(EmailAddress::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }

    proptest! {
        #[test]
        fn parsing_never_panics(s in "\\PC{0,40}") {
            let _ = EmailAddress::parse(&s);
        }
    }
}
