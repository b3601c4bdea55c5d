//! Benchmark tools for `make bench` (see bench/run.sh):
//!
//! - `generate --records N --out FILE`: Salesforce-shaped Opportunity
//!   records, about 1 KB of JSON each (ids, name, amount, stage, dates,
//!   probability, booleans, description text, a nested Account, a list of
//!   tags), one per line, deterministic.
//! - `serve --records N --page-size P --port-file FILE`: an HTTP/1.1 server
//!   on 127.0.0.1 serving those records as JSON pages (`GET
//!   /opportunities?page=K` → `{"data":[...],"page":K}`, pages numbered
//!   from 1, an empty `data` after the last). 64 distinct pages are rendered
//!   once and served from memory, so serving costs almost nothing. Writes
//!   its port to FILE and serves until killed.
//! - `baseline --file FILE --records N`: what one core does with this data
//!   alone: Arrow JSON decoding, and filter + Parquet (zstd) encoding, in
//!   records per second, so end-to-end figures can be read as a fraction of
//!   what the hardware allows.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufWriter, Write};
use std::sync::Arc;
use std::time::Instant;

use arrow::array::{Array, Float64Array};
use arrow::compute::filter_record_batch;
use arrow::compute::kernels::cmp::gt;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;

/// xorshift64*: deterministic and fast; quality is irrelevant here.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }
}

const STAGES: &[&str] = &[
    "Prospecting",
    "Qualification",
    "Needs Analysis",
    "Proposal/Price Quote",
    "Negotiation/Review",
    "Closed Won",
    "Closed Lost",
];
const WORDS: &[&str] = &[
    "integration",
    "renewal",
    "expansion",
    "pilot",
    "migration",
    "analytics",
    "platform",
    "seats",
    "upgrade",
    "services",
    "support",
    "onboarding",
    "license",
    "security",
    "compliance",
    "rollout",
];
const COMPANIES: &[&str] = &[
    "Acme", "Globex", "Initech", "Umbrella", "Hooli", "Stark", "Wayne", "Tyrell",
];
const INDUSTRIES: &[&str] = &[
    "Technology",
    "Finance",
    "Healthcare",
    "Retail",
    "Manufacturing",
    "Energy",
];
const TAGS: &[&str] = &[
    "priority",
    "renewal",
    "upsell",
    "at-risk",
    "strategic",
    "smb",
    "enterprise",
];

/// One record, as JSON, into `out`.
fn record(i: u64, rng: &mut Rng, out: &mut String) {
    use std::fmt::Write as _;
    let stage = rng.below(STAGES.len() as u64) as usize;
    let account = rng.below(50_000);
    // Amounts spread so that about half are above 10,000.
    let amount = (rng.below(2_000_000) as f64) / 100.0 + (rng.below(3) as f64) * 1000.0;
    let month = 1 + rng.below(12);
    let day = 1 + rng.below(28);
    let mut description = String::new();
    for w in 0..(60 + rng.below(20)) {
        if w > 0 {
            description.push(' ');
        }
        description.push_str(rng.pick(WORDS));
    }
    let tags: Vec<String> = (0..rng.below(4))
        .map(|_| format!("\"{}\"", rng.pick(TAGS)))
        .collect();
    let _ = writeln!(
        out,
        "{{\"Id\":\"0065g{i:013X}\",\"Name\":\"{} {} {}\",\"AccountId\":\"0015g{account:013X}\",\
\"Account\":{{\"Id\":\"0015g{account:013X}\",\"Name\":\"Account {account}\",\"Industry\":\"{}\",\"NumberOfEmployees\":{}}},\
\"Amount\":{amount:.2},\"StageName\":\"{}\",\"Probability\":{},\"IsClosed\":{},\"IsWon\":{},\
\"CloseDate\":\"2024-{month:02}-{day:02}\",\"CreatedDate\":\"2023-{month:02}-{day:02}T10:{:02}:00.000Z\",\
\"SystemModstamp\":\"2024-{month:02}-{day:02}T12:{:02}:{:02}.000Z\",\"Description\":\"{description}\",\"Tags\":[{}]}}",
        rng.pick(COMPANIES),
        rng.pick(WORDS),
        2024 + i % 3,
        rng.pick(INDUSTRIES),
        10 + rng.below(100_000),
        STAGES[stage],
        stage * 15,
        stage >= 5,
        stage == 5,
        rng.below(60),
        rng.below(60),
        rng.below(60),
        tags.join(",")
    );
}

fn arg(args: &[String], name: &str) -> String {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
        .unwrap_or_else(|| panic!("missing {name}"))
}

fn generate(records: u64, out: &str) {
    let file = std::fs::File::create(out).unwrap();
    let mut writer = BufWriter::with_capacity(1 << 20, file);
    let mut rng = Rng(0x5EED_1234_ABCD_0001);
    let mut line = String::with_capacity(2048);
    for i in 0..records {
        line.clear();
        record(i, &mut rng, &mut line);
        writer.write_all(line.as_bytes()).unwrap();
    }
    writer.flush().unwrap();
}

fn baseline(file: &str, records: usize) {
    // Read the sample into memory first: only decoding is timed.
    let reader = std::io::BufReader::new(std::fs::File::open(file).unwrap());
    let mut text = Vec::new();
    for line in reader.lines().take(records) {
        text.extend_from_slice(line.unwrap().as_bytes());
        text.push(b'\n');
    }
    let schema = Arc::new(
        arrow::json::reader::infer_json_schema(std::io::Cursor::new(&text), Some(1000))
            .unwrap()
            .0,
    );
    let started = Instant::now();
    let mut decoder = arrow::json::ReaderBuilder::new(schema.clone())
        .with_batch_size(4096)
        .build_decoder()
        .unwrap();
    let mut batches = Vec::new();
    let mut offset = 0;
    while offset < text.len() {
        let read = decoder.decode(&text[offset..]).unwrap();
        offset += read;
        if let Some(batch) = decoder.flush().unwrap() {
            batches.push(batch);
        }
    }
    if let Some(batch) = decoder.flush().unwrap() {
        batches.push(batch);
    }
    let decode = started.elapsed().as_secs_f64();
    let rows: usize = batches.iter().map(|b| b.num_rows()).sum();

    let started = Instant::now();
    let amount = schema.index_of("Amount").unwrap();
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        .build();
    let mut writer = ArrowWriter::try_new(std::io::sink(), schema.clone(), Some(props)).unwrap();
    let threshold = arrow::array::Scalar::new(Float64Array::from(vec![10_000.0]));
    let mut kept = 0;
    for batch in &batches {
        let mask = gt(batch.column(amount), &threshold).unwrap();
        let filtered = filter_record_batch(batch, &mask).unwrap();
        kept += filtered.num_rows();
        writer.write(&filtered).unwrap();
    }
    writer.close().unwrap();
    let encode = started.elapsed().as_secs_f64();
    let mb = text.len() as f64 / 1e6;
    println!(
        "baseline records={rows} json_mb={mb:.1} decode_records_per_s={:.0} decode_mb_per_s={:.1} filter_parquet_records_per_s={:.0} kept={kept}",
        rows as f64 / decode,
        mb / decode,
        rows as f64 / encode
    );
    let _ = batches.first().map(|b| b.column(0).len());
}

fn serve(records: u64, page_size: u64, port_file: &str) {
    const DISTINCT: u64 = 64;
    let mut rng = Rng(0x5EED_1234_ABCD_0001);
    let mut pages: Vec<Arc<Vec<u8>>> = Vec::new();
    let mut line = String::with_capacity(2048);
    for p in 0..DISTINCT.min(records.div_ceil(page_size)) {
        let mut body = String::with_capacity((page_size * 1200) as usize);
        body.push_str("{\"data\":[");
        for r in 0..page_size {
            line.clear();
            record(p * page_size + r, &mut rng, &mut line);
            if r > 0 {
                body.push(',');
            }
            body.push_str(line.trim_end());
        }
        body.push_str("]}");
        pages.push(Arc::new(body.into_bytes()));
    }
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    std::fs::write(port_file, listener.local_addr().unwrap().port().to_string()).unwrap();
    let total_pages = records.div_ceil(page_size);
    let pages = Arc::new(pages);
    for stream in listener.incoming() {
        let Ok(mut stream) = stream else { continue };
        let pages = pages.clone();
        std::thread::spawn(move || {
            let mut reader = std::io::BufReader::new(stream.try_clone().unwrap());
            loop {
                let mut request = String::new();
                if reader.read_line(&mut request).unwrap_or(0) == 0 {
                    return;
                }
                // Skip the headers.
                loop {
                    let mut header = String::new();
                    if reader.read_line(&mut header).unwrap_or(0) == 0 || header == "\r\n" {
                        break;
                    }
                }
                let page: u64 = request
                    .split(['?', '&', ' '])
                    .find_map(|p| p.strip_prefix("page="))
                    .and_then(|p| p.parse().ok())
                    .unwrap_or(1);
                let empty = b"{\"data\":[]}".to_vec();
                let body: &[u8] = if page >= 1 && page <= total_pages {
                    &pages[((page - 1) % pages.len() as u64) as usize]
                } else {
                    &empty
                };
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
                    body.len()
                );
                if stream
                    .write_all(head.as_bytes())
                    .and_then(|_| stream.write_all(body))
                    .is_err()
                {
                    return;
                }
            }
        });
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("generate") => generate(
            arg(&args, "--records").parse().unwrap(),
            &arg(&args, "--out"),
        ),
        Some("serve") => serve(
            arg(&args, "--records").parse().unwrap(),
            arg(&args, "--page-size").parse().unwrap(),
            &arg(&args, "--port-file"),
        ),
        Some("baseline") => baseline(
            &arg(&args, "--file"),
            arg(&args, "--records").parse().unwrap(),
        ),
        _ => eprintln!(
            "usage: bench generate --records N --out FILE | baseline --file FILE --records N"
        ),
    }
}
