//! CSV and JSON-lines records as the file sources read them (`quiver_node::sources`): the
//! input is written as the source's file and read through `build_source` and `poll_batch`,
//! typed by a schema with every column type a file source reads, the event time from `ts`,
//! malformed records skipped.
//!
//! Properties: reading returns batches or an error, never panics; no batch has more rows
//! than the file has lines; every batch has the schema's column types, and every event time
//! is in [`EVENT_TIME_RANGE`].

use quiver_node::sources::build_source;
use quiver_protocol::batch::{column_types, ColumnType};
use quiver_protocol::record::EVENT_TIME_RANGE;
use quiver_protocol::spec::{JobSpec, SourceSpec};
use std::path::{Path, PathBuf};

/// Most batches read from one input (each of at most [`BATCH_ROWS`] rows).
const MAX_BATCHES: usize = 64;
/// Rows a poll asks for: small, so the batch boundaries are exercised too.
const BATCH_ROWS: usize = 16;

/// The columns of both sources: every type a spec lets a file source read (vectors are
/// refused by the spec).
const SCHEMA: &str = r#"{ user = "string", amount = "f64", ok = "bool", ts = "i64" }"#;

/// A source reading one file in its own temporary folder.
struct FileReader {
    _dir: tempfile::TempDir,
    path: PathBuf,
    spec: SourceSpec,
}

impl FileReader {
    fn new(format: &str, schema: &str) -> FileReader {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let path = dir.path().join(format!("input.{format}"));
        std::fs::write(&path, b"").expect("writes");
        let text = format!(
            "[job]\nname = \"fuzz-{format}\"\n\n[[source]]\nname = \"file\"\nkind = \"file\"\n\
             path = \"{}\"\nformat = \"{format}\"\nschema = {schema}\nevent_time = \"ts\"\n\
             bad_records = \"skip\"\n\n[[sink]]\nname = \"out\"\nkind = \"discard\"\ninput = \"file\"\n",
            path.display()
        );
        let spec = JobSpec::parse(&text, Path::new("."))
            .expect("the fuzz source spec is valid")
            .sources
            .remove(0);
        FileReader {
            _dir: dir,
            path,
            spec,
        }
    }

    /// Writes `data` as the file and reads it to the end (or the first error).
    fn check(&self, data: &[u8]) {
        std::fs::write(&self.path, data).expect("writes the input file");
        let Ok(mut source) = build_source(&self.spec, 0, 1) else {
            return;
        };
        let types = column_types(&self.spec.schema);
        let lines = data.split(|&b| b == b'\n').count();
        for _ in 0..MAX_BATCHES {
            let Ok(Some(batch)) = source.poll_batch(BATCH_ROWS) else {
                return;
            };
            assert!(batch.len() <= BATCH_ROWS.min(lines), "more rows than lines");
            let got: Vec<ColumnType> = batch.columns().iter().map(|c| c.ty()).collect();
            assert_eq!(
                got, types,
                "a batch does not have the schema's column types"
            );
            assert!(
                batch
                    .event_time()
                    .iter()
                    .all(|t| EVENT_TIME_RANGE.contains(t)),
                "an event time outside the valid range"
            );
        }
    }
}

thread_local! {
    static CSV: FileReader = FileReader::new("csv", SCHEMA);
    static JSONL: FileReader = FileReader::new("jsonl", SCHEMA);
}

/// Checks one input: the text of a CSV file.
pub fn check_csv(data: &[u8]) {
    CSV.with(|reader| reader.check(data));
}

/// Checks one input: the text of a JSON-lines file.
pub fn check_jsonl(data: &[u8]) {
    JSONL.with(|reader| reader.check(data));
}

/// Files with a header, quoting, a byte-order mark, extreme numbers and a bad record.
pub fn csv_seeds() -> Vec<Vec<u8>> {
    [
        "user,amount,ok,ts\nalice,1.5,true,1700000000000\nbob,-2,false,1700000000001\n",
        "\u{feff}ts,ok,amount,user,extra\n5,true,1e3,\"quoted, with comma\",x\n\n6,false,0.25,\"a \"\"b\"\"\",y\n",
        "user,amount,ok,ts\nbad,NaN,true,1\nbig,1e400,false,2\nok,3,true,8640000000000000\n",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect()
}

/// Lines with every column type, nulls, escapes, ignored fields, whole numbers written as decimals and a
/// duplicate field.
pub fn jsonl_seeds() -> Vec<Vec<u8>> {
    [
        concat!(
            r#"{"user":"alice","amount":1.5,"ok":true,"ts":1700000000000,"features":[1,2.5]}"#,
            "\n",
            r#"{"user":"b\u00e9\n","amount":null,"ts":-3e2,"extra":{"x":[1,{}]}}"#,
            "\n"
        ),
        concat!(
            "\u{feff}",
            r#"{"ts":1.0,"ts":2}"#,
            "\n\n",
            r#"{"user":"x","amount":1e400,"ts":922337203685477580.7e1}"#,
            "\n"
        ),
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect()
}
