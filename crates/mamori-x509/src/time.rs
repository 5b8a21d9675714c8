use std::fmt;

/// An instant as seconds since the Unix epoch (UTC). Verification takes it as
/// a parameter so that every result can be replayed "as of" a given time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UnixTime(pub i64);

impl UnixTime {
    pub fn seconds(self) -> i64 {
        self.0
    }
}

impl fmt::Display for UnixTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match ::time::OffsetDateTime::from_unix_timestamp(self.0) {
            Ok(t) => match t.format(&::time::format_description::well_known::Rfc3339) {
                Ok(s) => f.write_str(&s),
                Err(_) => write!(f, "@{}", self.0),
            },
            Err(_) => write!(f, "@{}", self.0),
        }
    }
}
