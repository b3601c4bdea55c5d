//! Where a record was read: the one form every bad record's location
//! takes, whether it could not be read, a task rejected it or it has a
//! field the schema lacks.
//!
//! A record is located by its origin (a file's path, an object's URL, a
//! page's request) and its position there as read, counted by the source
//! itself and never by the records that happened to decode:
//!
//! - line-based formats (JSON Lines, CSV): the 1-based physical line on
//!   which the record starts, blank lines, unreadable lines and the lines of
//!   multi-line quoted fields included: `in/a.csv:line 7`;
//! - everything else (Parquet rows, the records of an API page, a query's
//!   rows): the record's 1-based index in its origin, bad records included:
//!   `GET https://api.example.com/v1/items?page=3:record 12`.

/// What a source counts positions in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// Physical lines of a text file (1-based).
    Line,
    /// Records of a file, page or result (1-based).
    Record,
}

/// The location of the record at position `n` of `origin`.
pub fn locate(origin: &str, unit: Unit, n: u64) -> String {
    match unit {
        Unit::Line => format!("{origin}:line {n}"),
        Unit::Record => format!("{origin}:record {n}"),
    }
}

/// Where each row of a batch was read. Contiguous rows, the common case,
/// cost nothing; rows with gaps between them (a bad record, a blank line, a
/// multi-line field) carry their positions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Positions {
    unit: Unit,
    numbers: Numbers,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Numbers {
    /// Row `i` is at `first + i`.
    From(u64),
    /// Row `i` is at `numbers[i]`.
    Listed(Vec<u64>),
}

impl Positions {
    /// Rows at consecutive positions from `first`.
    pub fn from(unit: Unit, first: u64) -> Self {
        Self {
            unit,
            numbers: Numbers::From(first),
        }
    }

    /// Row `i` at `numbers[i]`.
    pub fn listed(unit: Unit, numbers: Vec<u64>) -> Self {
        Self {
            unit,
            numbers: Numbers::Listed(numbers),
        }
    }

    /// What the positions count.
    pub fn unit(&self) -> Unit {
        self.unit
    }

    /// The position of row `row`.
    pub fn of(&self, row: usize) -> u64 {
        match &self.numbers {
            Numbers::From(first) => first + row as u64,
            // A row past the list is a caller's bug; 0 marks it rather than
            // naming a wrong record.
            Numbers::Listed(numbers) => numbers.get(row).copied().unwrap_or(0),
        }
    }

    /// The location of row `row` of `origin`.
    pub fn locate(&self, origin: &str, row: usize) -> String {
        locate(origin, self.unit, self.of(row))
    }

    /// The positions of the rows `rows` (indices into these), in that order.
    pub fn select(&self, rows: impl IntoIterator<Item = usize>) -> Self {
        Self::listed(self.unit, rows.into_iter().map(|r| self.of(r)).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contiguous_and_listed_rows_locate_the_same_way() {
        let from = Positions::from(Unit::Line, 10);
        assert_eq!(from.locate("a.jsonl", 2), "a.jsonl:line 12");
        let listed = Positions::listed(Unit::Record, vec![1, 3, 4]);
        assert_eq!(listed.locate("GET /x", 1), "GET /x:record 3");
        assert_eq!(
            from.select([0, 2]),
            Positions::listed(Unit::Line, vec![10, 12])
        );
    }
}
