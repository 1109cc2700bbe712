//! Durations as people write them on a command line or in a URL: `90s`, `30m`, `12h`, `7d`.
//!
//! ```
//! use std::time::Duration;
//! use squall::parse_duration;
//!
//! assert_eq!(parse_duration("7d")?, Duration::from_secs(7 * 86_400));
//! assert_eq!(parse_duration("90")?, Duration::from_secs(90));
//! assert!(parse_duration("300000000000000d").is_err()); // too long, not a wrap-around
//! # Ok::<(), squall::DurationError>(())
//! ```

use std::time::Duration;

/// The longest duration accepted: 100 years, far past any queue age or retention, and far
/// from the limits of `SystemTime` arithmetic.
const MAX_SECONDS: u64 = 100 * 366 * 86_400;

/// A duration that did not parse; the message quotes the text and says what is expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DurationError {
    /// The text is not a whole number followed by an optional unit.
    #[error("{0:?} is not a duration such as 90s, 30m, 12h, 7d or 2w")]
    Syntax(String),
    /// The unit is not one of `s`, `m`, `h`, `d`, `w`.
    #[error("{text:?}: unknown unit {unit:?}; use s, m, h, d or w")]
    Unit {
        /// The whole text.
        text: String,
        /// The unit found.
        unit: String,
    },
    /// The duration is longer than 100 years.
    #[error("{0:?} is longer than 100 years")]
    TooLong(String),
}

/// Parses a whole number of seconds (`90`, `90s`), minutes (`30m`), hours (`12h`), days
/// (`7d`) or weeks (`2w`). Surrounding spaces are ignored; anything else, and any duration
/// over 100 years, is an error (never an overflow).
pub fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    let trimmed = text.trim();
    let split = trimmed
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(trimmed.len());
    let (number, unit) = trimmed.split_at(split);
    if number.is_empty() {
        return Err(DurationError::Syntax(text.to_owned()));
    }
    let seconds_per_unit = match unit.trim() {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        "w" => 604_800,
        other => {
            return Err(DurationError::Unit {
                text: text.to_owned(),
                unit: other.to_owned(),
            });
        }
    };
    let too_long = || DurationError::TooLong(text.to_owned());
    // Digits only, so the one way to fail here is a number too big for u64.
    let number: u64 = number.parse().map_err(|_| too_long())?;
    match number.checked_mul(seconds_per_unit) {
        Some(seconds) if seconds <= MAX_SECONDS => Ok(Duration::from_secs(seconds)),
        _ => Err(too_long()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units() {
        assert_eq!(parse_duration("7d"), Ok(Duration::from_secs(604_800)));
        assert_eq!(parse_duration("2w"), Ok(Duration::from_secs(1_209_600)));
        assert_eq!(parse_duration(" 30m "), Ok(Duration::from_secs(1_800)));
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
        assert_eq!(parse_duration("90"), Ok(Duration::from_secs(90)));
    }

    #[test]
    fn errors_name_the_text() {
        assert!(
            matches!(parse_duration("1y"), Err(DurationError::Unit { unit, .. }) if unit == "y")
        );
        assert!(matches!(parse_duration("d"), Err(DurationError::Syntax(_))));
        assert!(matches!(parse_duration(""), Err(DurationError::Syntax(_))));
        assert!(matches!(
            parse_duration("-5s"),
            Err(DurationError::Syntax(_))
        ));
    }

    #[test]
    fn overflow_is_an_error_not_a_wrap() {
        for text in [
            "300000000000000d",
            "99999999999999999999d",
            "18446744073709551615w",
            "101000w",
        ] {
            assert!(
                matches!(parse_duration(text), Err(DurationError::TooLong(_))),
                "{text}"
            );
        }
        assert!(parse_duration("36500d").is_ok());
    }
}
