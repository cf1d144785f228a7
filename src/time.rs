//! Timestamps. The library never reads the clock: callers pass a `Timestamp` in.

use std::fmt;

/// Seconds since the Unix epoch, UTC. Renders as RFC 3339 with a `Z` suffix.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// `YYYY-MM-DDTHH:MM:SSZ`.
    pub fn rfc3339(&self) -> String {
        let days = self.0.div_euclid(86_400);
        let secs = self.0.rem_euclid(86_400);
        let (y, m, d) = civil_from_days(days);
        format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", secs / 3600, secs / 60 % 60, secs % 60)
    }

    /// Parses `YYYY-MM-DDTHH:MM:SS[.frac]Z` (UTC only, as glassbox writes it).
    pub fn parse_rfc3339(text: &str) -> Option<Timestamp> {
        let b = text.as_bytes();
        if b.len() < 20 || !text.ends_with('Z') || b[4] != b'-' || b[7] != b'-' {
            return None;
        }
        if !matches!(b[10], b'T' | b't') || b[13] != b':' || b[16] != b':' {
            return None;
        }
        let num = |r: std::ops::Range<usize>| -> Option<i64> {
            let s = text.get(r)?;
            s.bytes().all(|c| c.is_ascii_digit()).then(|| s.parse().ok())?
        };
        let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
        let (h, mi, s) = (num(11..13)?, num(14..16)?, num(17..19)?);
        let frac = &text[19..text.len() - 1];
        if !(frac.is_empty()
            || frac.starts_with('.') && frac[1..].bytes().all(|c| c.is_ascii_digit()) && frac.len() > 1)
        {
            return None;
        }
        if !(1..=12).contains(&mo) || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 || s > 60 {
            return None;
        }
        Some(Timestamp(days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + s))
    }
}

/// The calendar periods custody statistics and quotas are counted in (UTC).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Period {
    Day,
    Month,
    Year,
}

impl Period {
    /// `day`, `month` or `year`.
    pub fn parse(text: &str) -> Option<Period> {
        match text {
            "day" => Some(Period::Day),
            "month" => Some(Period::Month),
            "year" => Some(Period::Year),
            _ => None,
        }
    }
}

impl Timestamp {
    /// The period this instant falls in: `2026-12-01`, `2026-12` or `2026`.
    pub fn period(&self, period: Period) -> String {
        let (y, m, d) = civil_from_days(self.0.div_euclid(86_400));
        match period {
            Period::Day => format!("{y:04}-{m:02}-{d:02}"),
            Period::Month => format!("{y:04}-{m:02}"),
            Period::Year => format!("{y:04}"),
        }
    }
}

/// A duration as a person writes it in a policy or a flag: a positive whole number of seconds,
/// minutes, hours or days (`90s`, `30m`, `72h`, `7d`). Returns seconds. The whole grammar
/// (formats.md section 18): `[1-9][0-9]{0,8}` then one of `s m h d`, lower case; no zero, no
/// leading zero, no sign, space or fraction, one unit only (`1h30m` is refused).
pub fn parse_duration(text: &str) -> Option<i64> {
    let unit = match text.chars().last()? {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        'd' => 86_400,
        _ => return None,
    };
    let digits = &text[..text.len() - 1];
    // One spelling per duration: a leading zero (`07d`) is refused, as is zero itself.
    if digits.is_empty() || digits.len() > 9 || !digits.bytes().all(|b| b.is_ascii_digit()) || digits.starts_with('0') {
        return None;
    }
    let n: i64 = digits.parse().ok()?;
    (n > 0).then_some(n * unit)
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.rfc3339())
    }
}

fn is_leap(y: i64) -> bool {
    y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

// Howard Hinnant's civil-date algorithms (proleptic Gregorian calendar).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_instants() {
        assert_eq!(Timestamp(0).rfc3339(), "1970-01-01T00:00:00Z");
        assert_eq!(Timestamp(951_782_400).rfc3339(), "2000-02-29T00:00:00Z");
        assert_eq!(Timestamp(1_700_000_000).rfc3339(), "2023-11-14T22:13:20Z");
        assert_eq!(Timestamp(-1).rfc3339(), "1969-12-31T23:59:59Z");
    }

    #[test]
    fn parses_what_it_formats() {
        for t in [0, 1, 951_782_400, 1_700_000_000, 4_102_444_800] {
            assert_eq!(Timestamp::parse_rfc3339(&Timestamp(t).rfc3339()), Some(Timestamp(t)));
        }
        assert_eq!(Timestamp::parse_rfc3339("2023-11-14T22:13:20.123Z"), Some(Timestamp(1_700_000_000)));
        for bad in ["2023-02-29T00:00:00Z", "2023-11-14 22:13:20Z", "2023-11-14T22:13:20+01:00", "x"] {
            assert_eq!(Timestamp::parse_rfc3339(bad), None, "{bad}");
        }
    }

    #[test]
    fn periods_and_durations() {
        let t = Timestamp(1_700_000_000);
        assert_eq!(
            [t.period(Period::Day), t.period(Period::Month), t.period(Period::Year)],
            ["2023-11-14", "2023-11", "2023"]
        );
        assert_eq!(
            [parse_duration("90s"), parse_duration("30m"), parse_duration("72h"), parse_duration("7d")],
            [Some(90), Some(1800), Some(259_200), Some(604_800)]
        );
        assert_eq!(parse_duration("999999999d"), Some(999_999_999 * 86_400));
        assert_eq!(parse_duration("1s"), Some(1));
        for bad in [
            "",
            "d",
            "0d",
            "0s",
            "00h",
            "07d",
            "-1h",
            "+1h",
            "1.5h",
            "7w",
            "1 d",
            " 1d",
            "1d ",
            "9999999999d",
            "1D",
            "72H",
            "1h30m",
            "1d1d",
            "10",
            "h1",
            "1ms",
            "\u{0661}d",
        ] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
    }
}
