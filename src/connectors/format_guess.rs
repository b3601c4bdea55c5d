//! The input format an object's name implies, for discovery: `.csv`,
//! `.jsonl` / `.ndjson` / `.json`, `.parquet`, each optionally compressed
//! (`.gz`, `.zst`).

use crate::api::v1alpha1::flow::{FileFormat, FileInput};

/// The input settings for an object named `name`, or `None` when the name
/// does not say its format.
pub fn input_for(name: &str) -> Option<FileInput> {
    let lower = name.to_ascii_lowercase();
    let base = lower
        .strip_suffix(".gz")
        .or_else(|| lower.strip_suffix(".zst"))
        .unwrap_or(&lower);
    let format = if base.ends_with(".csv") {
        FileFormat::Csv
    } else if base.ends_with(".parquet") {
        FileFormat::Parquet
    } else if [".jsonl", ".ndjson", ".json"]
        .iter()
        .any(|e| base.ends_with(e))
    {
        FileFormat::JsonLines
    } else {
        return None;
    };
    Some(FileInput {
        format,
        csv: None,
        compression: Default::default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_follow_the_name() {
        let f = |n: &str| input_for(n).map(|i| i.format);
        assert_eq!(f("a/b.csv"), Some(FileFormat::Csv));
        assert_eq!(f("b.CSV.gz"), Some(FileFormat::Csv));
        assert_eq!(f("x.jsonl.zst"), Some(FileFormat::JsonLines));
        assert_eq!(f("x.parquet"), Some(FileFormat::Parquet));
        assert_eq!(f("README"), None);
        assert_eq!(f("x.gz"), None);
    }
}
