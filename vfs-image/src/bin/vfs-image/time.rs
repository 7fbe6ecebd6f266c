//! Formatting nanosecond timestamps as UTC dates without a date crate.

/// Civil date (year, month, day) of a day count since 1970-01-01 (proleptic Gregorian).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    // Shift the epoch to 0000-03-01 so leap days fall at the end of each 400-year era.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + (month <= 2) as i64;
    (year, month, day)
}

/// `YYYY-MM-DD HH:MM:SS.nnnnnnnnn` in UTC.
pub fn format_ns(ns: i64) -> String {
    let secs = ns.div_euclid(1_000_000_000);
    let frac = ns.rem_euclid(1_000_000_000);
    let (y, mo, d) = civil_from_days(secs.div_euclid(86_400));
    let sod = secs.rem_euclid(86_400);
    format!(
        "{y:04}-{mo:02}-{d:02} {:02}:{:02}:{:02}.{frac:09}",
        sod / 3600,
        sod / 60 % 60,
        sod % 60
    )
}

/// `YYYY-MM-DD HH:MM` in UTC, for `ls -l`.
pub fn format_short(ns: i64) -> String {
    format_ns(ns)[..16].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_dates() {
        assert_eq!(format_ns(0), "1970-01-01 00:00:00.000000000");
        assert_eq!(
            format_ns(1_700_000_000_123_456_789),
            "2023-11-14 22:13:20.123456789"
        );
        assert_eq!(format_ns(-1), "1969-12-31 23:59:59.999999999");
        assert_eq!(format_short(951_782_400_000_000_000), "2000-02-29 00:00");
    }
}
