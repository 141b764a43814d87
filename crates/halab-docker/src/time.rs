//! Wall-clock helpers: the daemon stamps events in Unix nanoseconds, and halab does the same.

use halab_model::Nanos;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// The host clock as [`Nanos`] (the lab daemons run on this host, so clocks agree).
pub fn now() -> Nanos {
    Nanos(OffsetDateTime::now_utc().unix_timestamp_nanos() as i64)
}

/// Parses a time as `inspect` reports it (`State.StartedAt`, `State.FinishedAt`, RFC 3339 with
/// nanoseconds). The zero time Docker uses for "never" (`0001-01-01T00:00:00Z`) gives `None`.
pub fn parse_docker_time(s: &str) -> Option<Nanos> {
    let t = OffsetDateTime::parse(s, &Rfc3339).ok()?;
    (t.year() > 1970).then(|| Nanos(t.unix_timestamp_nanos() as i64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_inspect_times() {
        assert_eq!(
            parse_docker_time("2026-11-26T17:37:48.214205507Z"),
            Some(Nanos(1_795_714_668_214_205_507))
        );
        assert_eq!(parse_docker_time("0001-01-01T00:00:00Z"), None);
        assert_eq!(parse_docker_time(""), None);
    }
}
