//! A stand-in Salesforce org on 127.0.0.1 (HTTPS, the test CA of
//! `tests/http/server.rs`), written from Salesforce's REST API, Bulk API 2.0
//! and OAuth documentation:
//!
//! - `POST /services/oauth2/token`: the JWT bearer grant (RS256 signature
//!   checked with the connected app's public key; `iss`, `sub`, `aud`,
//!   `exp` checked) and the refresh-token grant; `{"error",
//!   "error_description"}` on refusal; `instance_url` in the answer;
//! - `GET /services/data/vXX.X/sobjects` and `.../sobjects/{name}/describe`;
//! - `GET .../query` and `.../queryAll` with a SOQL subset (`SELECT fields |
//!   COUNT() FROM obj [WHERE ...] [ORDER BY f [ASC|DESC]] [LIMIT n]`, with
//!   AND, OR, parentheses, `= != < <= > >=`, numbers, strings, booleans,
//!   null, dates and date-times), `nextRecordsUrl` paging of
//!   `Sforce-Query-Options: batchSize` (200 to 2000, default 2000) records;
//! - Bulk API 2.0 query jobs (`UploadComplete` → `InProgress` →
//!   `JobComplete` or `Failed`), CSV results paged by `maxRecords` and
//!   `Sforce-Locator`, and `resultPages`;
//! - Bulk API 2.0 ingest jobs (`Open`, CSV upload, `UploadComplete` →
//!   `InProgress` → `JobComplete`/`Failed`, `successfulResults`,
//!   `failedResults`);
//! - sObject Collections (insert, update, upsert on an external id, delete;
//!   200 records at most);
//! - `Sforce-Limit-Info: api-usage=n/m` on every API answer, error payloads
//!   `[{"message", "errorCode"}]`, `INVALID_SESSION_ID` for unknown sessions,
//!   `REQUEST_LIMIT_EXCEEDED` past the allocation.
//!
//! The connected app's key pair is generated with openssl when a test
//! starts ([`generate_key`]), so no private key is kept in the repository.
//!
//! Faults can be injected: expired sessions, revoked access (sessions and
//! grants refused), 5xx answers, a malformed
//! query page, failing bulk jobs, a field removed after describe, and
//! per-record validation errors.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, HashMap};
use std::process::Command;
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use chrono::{DateTime, NaiveDate, Utc};
use serde_json::{Map, Value, json};

use super::http_server::{Reply, Seen, Server};

/// A connected app's RSA key pair, as the app's owner holds it.
pub struct KeyPair {
    /// The private key, PEM.
    pub pem: String,
    /// The public key, as [`App::public_key`] holds it.
    pub public: Vec<u8>,
}

/// Generates a 2048-bit key pair with openssl, in PKCS#8 or, `traditional`,
/// PKCS#1 PEM; no private key is kept in the repository.
pub fn generate_key(traditional: bool) -> KeyPair {
    let mut command = Command::new("openssl");
    if traditional {
        command.args(["genrsa", "-traditional", "2048"]);
    } else {
        command.args([
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
        ]);
    }
    let out = command
        .output()
        .expect("openssl generates the connected app's test key");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let pem = String::from_utf8(out.stdout).unwrap();
    let key = sluice::connectors::salesforce::config::rsa_key(&pem).unwrap();
    use ring::signature::KeyPair as _;
    KeyPair {
        public: key.public_key().as_ref().to_vec(),
        pem,
    }
}

/// A field of a stand-in object.
#[derive(Debug, Clone)]
pub struct FieldDef {
    /// API name.
    pub name: String,
    /// Salesforce type.
    pub kind: String,
    /// Can be null.
    pub nillable: bool,
    /// Can be set on insert / update.
    pub writable: bool,
    /// External id.
    pub external_id: bool,
}

impl FieldDef {
    fn describe(&self) -> Value {
        let (precision, scale) = match self.kind.as_str() {
            "currency" => (18, 2),
            "percent" => (3, 0),
            "double" => (18, 4),
            _ => (0, 0),
        };
        json!({
            "name": self.name,
            "type": self.kind,
            "label": self.name.replace('_', " "),
            "nillable": self.nillable,
            "createable": self.writable,
            "updateable": self.writable,
            "filterable": self.kind != "textarea",
            "externalId": self.external_id,
            "idLookup": self.external_id || self.name == "Id",
            "precision": precision,
            "scale": scale,
            "digits": if self.kind == "int" { 9 } else { 0 },
            "length": if self.kind == "string" { 255 } else { 0 },
        })
    }
}

fn field(name: &str, kind: &str, nillable: bool, writable: bool) -> FieldDef {
    FieldDef {
        name: name.to_owned(),
        kind: kind.to_owned(),
        nillable,
        writable,
        external_id: false,
    }
}

/// The fields of the stand-in Opportunity.
pub fn opportunity_fields() -> Vec<FieldDef> {
    let mut ext = field("External_Id__c", "string", true, true);
    ext.external_id = true;
    vec![
        field("Id", "id", false, false),
        field("IsDeleted", "boolean", false, false),
        field("Name", "string", false, true),
        field("Amount", "currency", true, true),
        field("Probability", "percent", true, true),
        field("StageName", "picklist", false, true),
        field("CloseDate", "date", false, true),
        field("IsWon", "boolean", false, false),
        field("Phone__c", "phone", true, true),
        ext,
        field("Location__c", "location", true, true),
        field("Description", "textarea", true, true),
        field("CreatedDate", "datetime", false, false),
        field("SystemModstamp", "datetime", false, false),
    ]
}

/// Salesforce's REST date-time format.
pub fn sf_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3f+0000").to_string()
}

/// Opportunity `i` (1-based): Amount `(i * 997) % 50000`, modified `i`
/// minutes after 2024-05-01T00:00Z.
pub fn opportunity(i: u64) -> Map<String, Value> {
    let base: DateTime<Utc> = "2024-05-01T00:00:00Z".parse().unwrap();
    let modified = base + chrono::Duration::minutes(i as i64);
    let mut r = Map::new();
    r.insert("Id".into(), json!(format!("006{i:015}")));
    r.insert("IsDeleted".into(), json!(false));
    r.insert("Name".into(), json!(format!("Deal {i}")));
    r.insert("Amount".into(), json!(((i * 997) % 50000) as f64));
    r.insert("Probability".into(), json!((i % 10) * 10));
    r.insert(
        "StageName".into(),
        json!(if i.is_multiple_of(3) {
            "Closed Won"
        } else {
            "Prospecting"
        }),
    );
    r.insert(
        "CloseDate".into(),
        json!(format!("2024-{:02}-15", i % 12 + 1)),
    );
    r.insert("IsWon".into(), json!(i.is_multiple_of(3)));
    r.insert(
        "Phone__c".into(),
        if i.is_multiple_of(5) {
            Value::Null
        } else {
            json!(format!("+33 1 23 45 {:04}", i % 10000))
        },
    );
    r.insert("External_Id__c".into(), json!(format!("EXT-{i}")));
    r.insert(
        "Location__c".into(),
        json!({"latitude": 48.85, "longitude": 2.35}),
    );
    r.insert(
        "Description".into(),
        if i.is_multiple_of(2) {
            json!(format!("Line one, \"quoted\"\nline two {i}"))
        } else {
            Value::Null
        },
    );
    r.insert("CreatedDate".into(), json!(sf_time(base)));
    r.insert("SystemModstamp".into(), json!(sf_time(modified)));
    r
}

/// One stand-in object.
#[derive(Debug, Clone)]
pub struct SObject {
    /// Its fields.
    pub fields: Vec<FieldDef>,
    /// Its records.
    pub records: Vec<Map<String, Value>>,
    /// Fields the describe lists but queries refuse (removed meanwhile).
    pub hidden: Vec<String>,
}

impl SObject {
    fn field(&self, name: &str) -> Option<&FieldDef> {
        self.fields
            .iter()
            .find(|f| f.name.eq_ignore_ascii_case(name))
    }
}

/// Faults to inject.
#[derive(Debug, Default, Clone)]
pub struct Faults {
    /// Answer the next n data requests with 503.
    pub server_errors: u32,
    /// The query page with this number (1-based, over the server's life)
    /// is cut off mid-record.
    pub malformed_page: Option<u64>,
    /// Query jobs end Failed with this errorMessage.
    pub fail_query_jobs: Option<String>,
    /// Ingest jobs end Failed with this errorMessage.
    pub fail_ingest_jobs: Option<String>,
    /// Records with a negative Amount fail the validation rule.
    pub reject_negative_amounts: bool,
    /// Polls a bulk job stays InProgress.
    pub bulk_polls: u32,
    /// The connected app's access is revoked (an admin revoked it, or the
    /// user's password was reset): every session is forgotten, so data
    /// requests meet `401 INVALID_SESSION_ID`, and the token endpoint
    /// refuses every grant with `invalid_grant`.
    pub revoked: bool,
}

#[derive(Debug)]
struct QueryJob {
    object: String,
    fields: Vec<String>,
    rows: Vec<Map<String, Value>>,
    polls: u32,
    state: String,
    error: Option<String>,
}

#[derive(Debug)]
struct IngestJob {
    object: String,
    operation: String,
    external_id: Option<String>,
    state: String,
    data: Option<String>,
    polls: u32,
    error: Option<String>,
    processed: u64,
    successes: Vec<(String, bool, csv::StringRecord)>,
    failures: Vec<(String, String, csv::StringRecord)>,
    header: Option<csv::StringRecord>,
}

/// A query's rows, how many were served, and the object.
type Cursor = (Vec<Map<String, Value>>, usize, String);

#[derive(Debug)]
struct State {
    base: String,
    client_id: String,
    username: String,
    audience: String,
    public_key: Vec<u8>,
    client_secret: Option<String>,
    refresh_token: String,
    sessions: Vec<String>,
    issued: u64,
    objects: BTreeMap<String, SObject>,
    cursors: HashMap<String, Cursor>,
    query_jobs: HashMap<String, QueryJob>,
    ingest_jobs: HashMap<String, IngestJob>,
    faults: Faults,
    pages: u64,
    api_used: u64,
    api_max: u64,
    next_id: u64,
    versions: (u32, u32),
    rewrite_pages: Option<fn(String) -> String>,
}

/// The stand-in org.
pub struct Org {
    state: Arc<Mutex<State>>,
    /// The HTTPS server: `https://127.0.0.1:{port}`, login and instance host.
    pub server: Server,
}

/// The connected app's settings the org checks.
pub struct App {
    /// Consumer key.
    pub client_id: String,
    /// The user of JWT bearer assertions.
    pub username: String,
    /// The certificate's public key (PKCS#1 RSAPublicKey DER).
    pub public_key: Vec<u8>,
    /// The consumer secret of refresh-token requests, when required.
    pub client_secret: Option<String>,
    /// The refresh token it issued.
    pub refresh_token: String,
}

impl Org {
    /// Starts an org with `objects` for `app`.
    pub fn start(app: App, objects: BTreeMap<String, SObject>) -> Self {
        let state = Arc::new(Mutex::new(State {
            base: String::new(),
            client_id: app.client_id,
            username: app.username,
            audience: String::new(),
            public_key: app.public_key,
            client_secret: app.client_secret,
            refresh_token: app.refresh_token,
            sessions: Vec::new(),
            issued: 0,
            objects,
            cursors: HashMap::new(),
            query_jobs: HashMap::new(),
            ingest_jobs: HashMap::new(),
            faults: Faults::default(),
            pages: 0,
            api_used: 0,
            api_max: 1_000_000,
            next_id: 1,
            versions: (31, 66),
            rewrite_pages: None,
        }));
        let handler_state = state.clone();
        let server = Server::start_tls(move |seen| {
            let mut state = handler_state.lock().unwrap();
            state.handle(seen)
        });
        {
            let mut s = state.lock().unwrap();
            s.base = server.base.clone();
            s.audience = server.base.clone();
        }
        Self { state, server }
    }

    /// Changes the faults.
    pub fn faults(&self, change: impl FnOnce(&mut Faults)) {
        change(&mut self.state.lock().unwrap().faults);
    }

    /// Forgets every session: the next request meets INVALID_SESSION_ID.
    pub fn expire_sessions(&self) {
        self.state.lock().unwrap().sessions.clear();
    }

    /// Sessions issued so far.
    pub fn sessions_issued(&self) -> u64 {
        self.state.lock().unwrap().issued
    }

    /// Sets the API allocation and use.
    pub fn api_usage(&self, used: u64, max: u64) {
        let mut s = self.state.lock().unwrap();
        s.api_used = used;
        s.api_max = max;
    }

    /// Makes queries refuse `field` while the describe still lists it.
    pub fn hide_field(&self, object: &str, field: &str) {
        let mut s = self.state.lock().unwrap();
        s.objects
            .get_mut(object)
            .unwrap()
            .hidden
            .push(field.to_owned());
    }

    /// Adds an object.
    pub fn add_object(&self, name: &str, object: SObject) {
        self.state
            .lock()
            .unwrap()
            .objects
            .insert(name.to_owned(), object);
    }

    /// Has REST query pages written by `rewrite` from the JSON the org
    /// would write: the same values encoded another way, as a JSON encoder
    /// that escapes non-ASCII characters (`\ud842\udfb7`) writes them.
    pub fn rewrite_query_pages(&self, rewrite: fn(String) -> String) {
        self.state.lock().unwrap().rewrite_pages = Some(rewrite);
    }

    /// The records of an object now.
    pub fn records(&self, object: &str) -> Vec<Map<String, Value>> {
        self.state.lock().unwrap().objects[object].records.clone()
    }

    /// Replaces the records of an object.
    pub fn set_records(&self, object: &str, records: Vec<Map<String, Value>>) {
        self.state
            .lock()
            .unwrap()
            .objects
            .get_mut(object)
            .unwrap()
            .records = records;
    }
}

// ------------------------------------------------------------------ replies

fn errors(status: u16, code: &str, message: &str) -> Reply {
    Reply::status(
        status,
        json!([{ "message": message, "errorCode": code }]).to_string(),
    )
    .header("content-type", "application/json")
}

fn oauth_error(error: &str, description: &str) -> Reply {
    Reply::status(
        400,
        json!({ "error": error, "error_description": description }).to_string(),
    )
    .header("content-type", "application/json")
}

fn csv_field(value: &Value, kind: &str) -> String {
    let text = match value {
        Value::Null => return String::new(),
        Value::String(s) if kind == "datetime" => s.replace("+0000", "Z"),
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        other => other.to_string(),
    };
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text
    }
}

// ------------------------------------------------------------------ SOQL

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Word(String),
    Literal(String),
    Text(String),
    Op(String),
    Open,
    Close,
    Comma,
}

fn tokens(soql: &str) -> Result<Vec<Token>, String> {
    let chars: Vec<char> = soql.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '(' {
            out.push(Token::Open);
            i += 1;
        } else if c == ')' {
            out.push(Token::Close);
            i += 1;
        } else if c == ',' {
            out.push(Token::Comma);
            i += 1;
        } else if c == '\'' {
            let mut s = String::new();
            i += 1;
            while i < chars.len() && chars[i] != '\'' {
                if chars[i] == '\\' && i + 1 < chars.len() {
                    i += 1;
                }
                s.push(chars[i]);
                i += 1;
            }
            if i >= chars.len() {
                return Err("unterminated string literal".to_owned());
            }
            i += 1;
            out.push(Token::Text(s));
        } else if "=!<>".contains(c) {
            let mut op = c.to_string();
            if i + 1 < chars.len() && chars[i + 1] == '=' {
                op.push('=');
                i += 1;
            }
            i += 1;
            if op == "!" {
                return Err("unexpected token: '!'".to_owned());
            }
            out.push(Token::Op(op));
        } else if c.is_ascii_digit()
            || (c == '-' && i + 1 < chars.len() && chars[i + 1].is_ascii_digit())
        {
            let start = i;
            i += 1;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || ":.+-".contains(chars[i]))
            {
                i += 1;
            }
            out.push(Token::Literal(chars[start..i].iter().collect()));
        } else if c.is_ascii_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len()
                && (chars[i].is_ascii_alphanumeric() || chars[i] == '_' || chars[i] == '.')
            {
                i += 1;
            }
            out.push(Token::Word(chars[start..i].iter().collect()));
        } else {
            return Err(format!("unexpected token: '{c}'"));
        }
    }
    Ok(out)
}

#[derive(Debug, Clone)]
enum Expr {
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Compare(String, String, Token),
}

#[derive(Debug, Clone)]
struct Soql {
    count: bool,
    fields: Vec<String>,
    object: String,
    condition: Option<Expr>,
    order: Option<(String, bool)>,
    limit: Option<usize>,
}

struct Parser {
    tokens: Vec<Token>,
    at: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }
    fn next(&mut self) -> Option<Token> {
        let t = self.tokens.get(self.at).cloned();
        self.at += 1;
        t
    }
    fn keyword(&mut self, word: &str) -> bool {
        if matches!(self.peek(), Some(Token::Word(w)) if w.eq_ignore_ascii_case(word)) {
            self.at += 1;
            true
        } else {
            false
        }
    }
    fn expect_word(&mut self) -> Result<String, String> {
        match self.next() {
            Some(Token::Word(w)) => Ok(w),
            other => Err(format!("unexpected token: {other:?}")),
        }
    }
    fn or(&mut self) -> Result<Expr, String> {
        let mut left = self.and()?;
        while self.keyword("OR") {
            left = Expr::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }
    fn and(&mut self) -> Result<Expr, String> {
        let mut left = self.primary()?;
        while self.keyword("AND") {
            left = Expr::And(Box::new(left), Box::new(self.primary()?));
        }
        Ok(left)
    }
    fn primary(&mut self) -> Result<Expr, String> {
        if self.peek() == Some(&Token::Open) {
            self.at += 1;
            let e = self.or()?;
            if self.next() != Some(Token::Close) {
                return Err("expecting a right parentheses, found end of query".to_owned());
            }
            return Ok(e);
        }
        let field = self.expect_word()?;
        let op = match self.next() {
            Some(Token::Op(op)) => op,
            other => return Err(format!("unexpected token: {other:?}")),
        };
        let value = match self.next() {
            Some(t @ (Token::Literal(_) | Token::Text(_) | Token::Word(_))) => t,
            other => return Err(format!("unexpected token: {other:?}")),
        };
        Ok(Expr::Compare(field, op, value))
    }
}

fn parse(soql: &str) -> Result<Soql, String> {
    let mut p = Parser {
        tokens: tokens(soql)?,
        at: 0,
    };
    if !p.keyword("SELECT") {
        return Err("unexpected token: expecting SELECT".to_owned());
    }
    let mut count = false;
    let mut fields = Vec::new();
    loop {
        let word = p.expect_word()?;
        if word.eq_ignore_ascii_case("COUNT") && p.peek() == Some(&Token::Open) {
            p.at += 1;
            if p.next() != Some(Token::Close) {
                return Err("COUNT() takes no field here".to_owned());
            }
            count = true;
        } else {
            fields.push(word);
        }
        if p.peek() == Some(&Token::Comma) {
            p.at += 1;
        } else {
            break;
        }
    }
    if !p.keyword("FROM") {
        return Err(format!("unexpected token: {:?}", p.peek()));
    }
    let object = p.expect_word()?;
    let condition = if p.keyword("WHERE") {
        Some(p.or()?)
    } else {
        None
    };
    let order = if p.keyword("ORDER") {
        if !p.keyword("BY") {
            return Err("expecting BY".to_owned());
        }
        let f = p.expect_word()?;
        let desc = p.keyword("DESC");
        let _ = p.keyword("ASC");
        Some((f, desc))
    } else {
        None
    };
    let limit = if p.keyword("LIMIT") {
        match p.next() {
            Some(Token::Literal(n)) => Some(n.parse().map_err(|_| "bad LIMIT".to_owned())?),
            _ => return Err("expecting a number after LIMIT".to_owned()),
        }
    } else {
        None
    };
    if let Some(t) = p.peek() {
        return Err(format!("unexpected token: {t:?}"));
    }
    Ok(Soql {
        count,
        fields,
        object,
        condition,
        order,
        limit,
    })
}

#[derive(Debug, PartialEq, PartialOrd)]
enum Comparable {
    Number(f64),
    Text(String),
    Bool(bool),
    Time(i64),
}

fn comparable(value: &Value, kind: &str) -> Option<Comparable> {
    Some(match (value, kind) {
        (Value::Null, _) => return None,
        (Value::Bool(b), _) => Comparable::Bool(*b),
        (Value::Number(n), _) => Comparable::Number(n.as_f64()?),
        (Value::String(s), "datetime") => Comparable::Time(parse_time(s)?.timestamp_millis()),
        (Value::String(s), _) => Comparable::Text(s.to_lowercase()),
        _ => return None,
    })
}

fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .or_else(|_| DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f%z"))
        .map(|t| t.with_timezone(&Utc))
        .or_else(|_| {
            chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f").map(|t| t.and_utc())
        })
        .ok()
}

fn literal(token: &Token, kind: &str) -> Result<Option<Comparable>, String> {
    Ok(match token {
        Token::Word(w) if w.eq_ignore_ascii_case("null") => None,
        Token::Word(w) if w.eq_ignore_ascii_case("true") => Some(Comparable::Bool(true)),
        Token::Word(w) if w.eq_ignore_ascii_case("false") => Some(Comparable::Bool(false)),
        Token::Text(t) => Some(Comparable::Text(t.to_lowercase())),
        Token::Literal(l) if kind == "datetime" => Some(Comparable::Time(
            parse_time(l)
                .ok_or_else(|| {
                    format!("value of filter criterion for field is not of type dateTime: {l}")
                })?
                .timestamp_millis(),
        )),
        Token::Literal(l) if kind == "date" => {
            NaiveDate::parse_from_str(l, "%Y-%m-%d").map_err(|_| format!("invalid date: {l}"))?;
            Some(Comparable::Text(l.clone()))
        }
        Token::Literal(l) => Some(Comparable::Number(
            l.parse().map_err(|_| format!("invalid number: {l}"))?,
        )),
        other => return Err(format!("unexpected token: {other:?}")),
    })
}

fn eval(expr: &Expr, record: &Map<String, Value>, object: &SObject) -> Result<bool, String> {
    Ok(match expr {
        Expr::And(a, b) => eval(a, record, object)? && eval(b, record, object)?,
        Expr::Or(a, b) => eval(a, record, object)? || eval(b, record, object)?,
        Expr::Compare(field, op, value) => {
            let def = object.field(field).ok_or_else(|| field.clone())?;
            let have = comparable(record.get(&def.name).unwrap_or(&Value::Null), &def.kind);
            let want = literal(value, &def.kind)?;
            match (op.as_str(), have, want) {
                ("=", a, b) => a == b,
                ("!=", a, b) => a != b,
                (_, None, _) | (_, _, None) => false,
                ("<", Some(a), Some(b)) => a < b,
                ("<=", Some(a), Some(b)) => a <= b,
                (">", Some(a), Some(b)) => a > b,
                (">=", Some(a), Some(b)) => a >= b,
                _ => return Err(format!("unexpected operator {op}")),
            }
        }
    })
}

fn condition_fields(expr: &Expr, out: &mut Vec<String>) {
    match expr {
        Expr::And(a, b) | Expr::Or(a, b) => {
            condition_fields(a, out);
            condition_fields(b, out);
        }
        Expr::Compare(f, _, _) => out.push(f.clone()),
    }
}

fn no_such_column(soql: &str, field: &str, object: &str) -> String {
    format!(
        "\n{soql}\n^\nERROR at Row:1:Column:8\nNo such column '{field}' on entity '{object}'. If you are attempting to use a custom field, be sure to append the '__c' after the custom field name. Please reference your WSDL or the describe call for the appropriate names."
    )
}

fn project(record: &Map<String, Value>, fields: &[String], object: &SObject) -> Map<String, Value> {
    let mut out = Map::new();
    for f in fields {
        let name = object.field(f).map_or(f.clone(), |d| d.name.clone());
        out.insert(
            name.clone(),
            record.get(&name).cloned().unwrap_or(Value::Null),
        );
    }
    out
}

// ------------------------------------------------------------------ handler

impl State {
    fn handle(&mut self, seen: &Seen) -> Reply {
        if seen.path == "/services/oauth2/token" && seen.method == "POST" {
            return self.token(seen);
        }
        let Some(rest) = seen.path.strip_prefix("/services/data/v") else {
            return errors(404, "NOT_FOUND", "The requested resource does not exist");
        };
        let (version, rest) = rest.split_once('/').unwrap_or((rest, ""));
        let major: u32 = version.trim_end_matches(".0").parse().unwrap_or(0);
        if major < self.versions.0 || major > self.versions.1 || !version.ends_with(".0") {
            return errors(404, "NOT_FOUND", "The requested resource does not exist");
        }
        if self.faults.revoked {
            self.sessions.clear();
        }
        let token = seen
            .header("authorization")
            .and_then(|a| a.strip_prefix("Bearer "))
            .unwrap_or("");
        if !self.sessions.iter().any(|s| s == token) {
            return errors(401, "INVALID_SESSION_ID", "Session expired or invalid");
        }
        if self.api_used >= self.api_max {
            return errors(
                403,
                "REQUEST_LIMIT_EXCEEDED",
                "TotalRequests Limit exceeded.",
            )
            .header(
                "sforce-limit-info",
                &format!("api-usage={}/{}", self.api_used, self.api_max),
            );
        }
        self.api_used += 1;
        let limit = format!("api-usage={}/{}", self.api_used, self.api_max);
        if self.faults.server_errors > 0 {
            self.faults.server_errors -= 1;
            return errors(503, "SERVER_UNAVAILABLE", "Server temporarily unavailable")
                .header("sforce-limit-info", &limit);
        }
        let reply = self.route(seen, version, rest);
        reply.header("sforce-limit-info", &limit)
    }

    fn route(&mut self, seen: &Seen, version: &str, rest: &str) -> Reply {
        let parts: Vec<&str> = rest.trim_end_matches('/').split('/').collect();
        match (seen.method.as_str(), parts.as_slice()) {
            ("GET", ["sobjects"]) => self.global_describe(),
            ("GET", ["sobjects", name, "describe"]) => self.describe(name),
            ("GET", ["query" | "queryAll"]) => {
                let all = parts[0] == "queryAll";
                let q = seen.param("q").unwrap_or("").to_owned();
                self.query(&q, all, seen, version)
            }
            ("GET", ["query" | "queryAll", locator]) => self.query_more(locator, seen, version),
            ("POST", ["jobs", "query"]) => self.create_query_job(seen),
            ("GET", ["jobs", "query", id]) => self.query_job_info(id),
            ("GET", ["jobs", "query", id, "results"]) => self.query_results(id, seen),
            ("GET", ["jobs", "query", id, "resultPages"]) => self.result_pages(id, seen, version),
            ("POST", ["jobs", "ingest"]) => self.create_ingest_job(seen, version),
            ("PUT", ["jobs", "ingest", id, "batches"]) => self.upload(id, seen),
            ("PATCH", ["jobs", "ingest", id]) => self.ingest_state(id, seen),
            ("GET", ["jobs", "ingest", id]) => self.ingest_job_info(id),
            ("GET", ["jobs", "ingest", id, "failedResults"]) => self.ingest_results(id, false),
            ("GET", ["jobs", "ingest", id, "successfulResults"]) => self.ingest_results(id, true),
            ("POST", ["composite", "sobjects"]) => self.collection(seen, "insert", None),
            ("PATCH", ["composite", "sobjects"]) => self.collection(seen, "update", None),
            ("PATCH", ["composite", "sobjects", object, field]) => {
                let key = (*object).to_owned();
                self.collection(seen, "upsert", Some((key, (*field).to_owned())))
            }
            ("DELETE", ["composite", "sobjects"]) => self.collection_delete(seen),
            _ => errors(404, "NOT_FOUND", "The requested resource does not exist"),
        }
    }

    fn token(&mut self, seen: &Seen) -> Reply {
        if self.faults.revoked {
            return oauth_error("invalid_grant", "expired access/refresh token");
        }
        let form = seen.form();
        match form.get("grant_type").map(String::as_str) {
            Some("urn:ietf:params:oauth:grant-type:jwt-bearer") => {
                let assertion = form.get("assertion").cloned().unwrap_or_default();
                if let Err(e) = self.check_assertion(&assertion) {
                    return oauth_error("invalid_grant", &e);
                }
            }
            Some("refresh_token") => {
                if form.get("client_id") != Some(&self.client_id) {
                    return oauth_error("invalid_client_id", "client identifier invalid");
                }
                if let Some(secret) = &self.client_secret
                    && form.get("client_secret") != Some(secret)
                {
                    return oauth_error("invalid_client", "invalid client credentials");
                }
                if form.get("refresh_token") != Some(&self.refresh_token) {
                    return oauth_error("invalid_grant", "expired access/refresh token");
                }
            }
            other => {
                return oauth_error(
                    "unsupported_grant_type",
                    &format!("grant type not supported: {other:?}"),
                );
            }
        }
        self.issued += 1;
        let token = format!("00D000000000001!AQ{}x{:08}", self.issued, fastrand::u32(..));
        self.sessions.push(token.clone());
        Reply::json(
            json!({
                "access_token": token,
                "instance_url": self.base,
                "id": format!("{}/id/00D000000000001/005000000000001", self.base),
                "token_type": "Bearer",
                "issued_at": Utc::now().timestamp_millis().to_string(),
                "signature": STANDARD.encode(b"signature"),
                "scope": "api",
            })
            .to_string(),
        )
    }

    fn check_assertion(&self, assertion: &str) -> Result<(), String> {
        let parts: Vec<&str> = assertion.split('.').collect();
        let [header, claims, signature] = parts.as_slice() else {
            return Err("invalid assertion".to_owned());
        };
        let header: Value = serde_json::from_slice(
            &URL_SAFE_NO_PAD
                .decode(header)
                .map_err(|_| "invalid assertion")?,
        )
        .map_err(|_| "invalid assertion")?;
        if header["alg"] != "RS256" {
            return Err("invalid assertion: algorithm must be RS256".to_owned());
        }
        let signature = URL_SAFE_NO_PAD
            .decode(signature)
            .map_err(|_| "invalid assertion")?;
        ring::signature::UnparsedPublicKey::new(
            &ring::signature::RSA_PKCS1_2048_8192_SHA256,
            &self.public_key,
        )
        .verify(format!("{}.{}", parts[0], parts[1]).as_bytes(), &signature)
        .map_err(|_| "invalid assertion: signature does not match the certificate".to_owned())?;
        let claims: Value = serde_json::from_slice(
            &URL_SAFE_NO_PAD
                .decode(claims)
                .map_err(|_| "invalid assertion")?,
        )
        .map_err(|_| "invalid assertion")?;
        if claims["iss"] != self.client_id.as_str() {
            return Err("invalid client identifier".to_owned());
        }
        if claims["sub"] != self.username.as_str() {
            return Err("user hasn't approved this consumer".to_owned());
        }
        if claims["aud"] != self.audience.as_str() {
            return Err("audience is invalid".to_owned());
        }
        let exp = claims["exp"].as_i64().unwrap_or(0);
        let now = Utc::now().timestamp();
        if exp < now || exp > now + 300 {
            return Err("expired authorization code".to_owned());
        }
        Ok(())
    }

    fn global_describe(&self) -> Reply {
        let sobjects: Vec<Value> = self
            .objects
            .keys()
            .map(|name| json!({"name": name, "label": name, "queryable": true, "createable": true, "updateable": true, "deletable": true, "custom": name.ends_with("__c")}))
            .collect();
        Reply::json(
            json!({"encoding": "UTF-8", "maxBatchSize": 200, "sobjects": sobjects}).to_string(),
        )
    }

    fn describe(&self, name: &str) -> Reply {
        let Some((name, object)) = self
            .objects
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
        else {
            return errors(404, "NOT_FOUND", "The requested resource does not exist");
        };
        let fields: Vec<Value> = object.fields.iter().map(FieldDef::describe).collect();
        Reply::json(
            json!({"name": name, "queryable": true, "createable": true, "fields": fields})
                .to_string(),
        )
    }

    /// Runs a SOQL query: the rows, or an error reply.
    fn run(&self, soql: &str, all: bool) -> Result<(Soql, Vec<Map<String, Value>>), Reply> {
        let query = parse(soql).map_err(|e| errors(400, "MALFORMED_QUERY", &e))?;
        let Some(object) = self
            .objects
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(&query.object))
            .map(|(_, o)| o)
        else {
            return Err(errors(
                400,
                "INVALID_TYPE",
                &format!(
                    "\n{soql}\nsObject type '{}' is not supported.",
                    query.object
                ),
            ));
        };
        let mut used = query.fields.clone();
        if let Some(c) = &query.condition {
            condition_fields(c, &mut used);
        }
        for f in &used {
            let known = object.field(f).is_some_and(|d| {
                !object
                    .hidden
                    .iter()
                    .any(|h| h.eq_ignore_ascii_case(&d.name))
            });
            if !known {
                return Err(errors(
                    400,
                    "INVALID_FIELD",
                    &no_such_column(soql, f, &query.object),
                ));
            }
        }
        let mut rows = Vec::new();
        for record in &object.records {
            if !all && record.get("IsDeleted") == Some(&Value::Bool(true)) {
                continue;
            }
            let keep = match &query.condition {
                Some(c) => {
                    eval(c, record, object).map_err(|e| errors(400, "MALFORMED_QUERY", &e))?
                }
                None => true,
            };
            if keep {
                rows.push(project(record, &query.fields, object));
            }
        }
        if let Some((field, desc)) = &query.order {
            let kind = object
                .field(field)
                .map(|d| d.kind.clone())
                .unwrap_or_default();
            let name = object
                .field(field)
                .map_or(field.clone(), |d| d.name.clone());
            rows.sort_by(|a, b| {
                let a = comparable(a.get(&name).unwrap_or(&Value::Null), &kind);
                let b = comparable(b.get(&name).unwrap_or(&Value::Null), &kind);
                let o = a.partial_cmp(&b).unwrap_or(std::cmp::Ordering::Equal);
                if *desc { o.reverse() } else { o }
            });
        }
        if let Some(limit) = query.limit {
            rows.truncate(limit);
        }
        Ok((query, rows))
    }

    fn batch_size(seen: &Seen) -> usize {
        seen.header("sforce-query-options")
            .and_then(|o| {
                o.split(',')
                    .find_map(|p| p.trim().strip_prefix("batchSize="))
            })
            .and_then(|n| n.parse::<usize>().ok())
            .unwrap_or(2000)
            .clamp(200, 2000)
    }

    fn query(&mut self, soql: &str, all: bool, seen: &Seen, version: &str) -> Reply {
        let (query, rows) = match self.run(soql, all) {
            Ok(x) => x,
            Err(reply) => return reply,
        };
        if query.count {
            return Reply::json(
                json!({"totalSize": rows.len(), "done": true, "records": []}).to_string(),
            );
        }
        let id = format!("01g{:015}", self.next_id);
        self.next_id += 1;
        let size = Self::batch_size(seen);
        let object = query.object.clone();
        self.cursors.insert(id.clone(), (rows, 0, object.clone()));
        self.page(&id, size, version, &object)
    }

    fn query_more(&mut self, locator: &str, seen: &Seen, version: &str) -> Reply {
        let Some((id, _)) = locator.split_once('-') else {
            return errors(400, "INVALID_QUERY_LOCATOR", "invalid query locator");
        };
        let Some((_, _, object)) = self.cursors.get(id) else {
            return errors(400, "INVALID_QUERY_LOCATOR", "invalid query locator");
        };
        let object = object.clone();
        self.page(id, Self::batch_size(seen), version, &object)
    }

    fn page(&mut self, id: &str, size: usize, version: &str, object: &str) -> Reply {
        self.pages += 1;
        let page_number = self.pages;
        let (rows, offset, _) = self.cursors.get_mut(id).unwrap();
        let total = rows.len();
        let end = (*offset + size).min(total);
        let mut out = String::with_capacity((end - *offset) * 400);
        for (i, row) in rows[*offset..end].iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let rid = row.get("Id").and_then(Value::as_str).unwrap_or("");
            let mut record = Map::new();
            record.insert(
                "attributes".into(),
                json!({"type": object, "url": format!("/services/data/v{version}/sobjects/{object}/{rid}")}),
            );
            for (k, v) in row {
                record.insert(k.clone(), v.clone());
            }
            out.push_str(&Value::Object(record).to_string());
        }
        *offset = end;
        let done = end >= total;
        let next = if done {
            String::new()
        } else {
            format!(r#","nextRecordsUrl":"/services/data/v{version}/query/{id}-{end}""#)
        };
        let mut body = format!(r#"{{"totalSize":{total},"done":{done}{next},"records":[{out}]}}"#);
        if let Some(rewrite) = self.rewrite_pages {
            body = rewrite(body);
        }
        if self.faults.malformed_page == Some(page_number) {
            return Reply::json(body[..body.len() / 2].to_owned());
        }
        Reply::json(body)
    }

    fn create_query_job(&mut self, seen: &Seen) -> Reply {
        let body: Value = serde_json::from_str(&seen.body).unwrap_or(Value::Null);
        let operation = body["operation"].as_str().unwrap_or("").to_owned();
        if !matches!(operation.as_str(), "query" | "queryAll") {
            return errors(
                400,
                "INVALIDJOB",
                "InvalidJob : operation must be query or queryAll",
            );
        }
        let soql = body["query"].as_str().unwrap_or("");
        let (query, rows) = match self.run(soql, operation == "queryAll") {
            Ok(x) => x,
            Err(mut reply) => {
                // Bulk API 2.0 reports the query's error as an invalid job.
                let text =
                    String::from_utf8_lossy(&reply.body).replace("INVALID_FIELD", "INVALIDJOB");
                reply.body = text.into();
                return reply;
            }
        };
        let id = format!("750{:015}", self.next_id);
        self.next_id += 1;
        let error = self.faults.fail_query_jobs.clone();
        self.query_jobs.insert(
            id.clone(),
            QueryJob {
                object: query.object.clone(),
                fields: query.fields.clone(),
                rows,
                polls: self.faults.bulk_polls,
                state: "UploadComplete".to_owned(),
                error,
            },
        );
        Reply::json(
            json!({"id": id, "operation": operation, "object": query.object, "state": "UploadComplete",
                   "concurrencyMode": "Parallel", "contentType": "CSV", "apiVersion": 62.0,
                   "lineEnding": "LF", "columnDelimiter": "COMMA"})
            .to_string(),
        )
    }

    fn query_job_info(&mut self, id: &str) -> Reply {
        let Some(job) = self.query_jobs.get_mut(id) else {
            return errors(404, "NOT_FOUND", "The requested resource does not exist");
        };
        if job.polls > 0 {
            job.polls -= 1;
            job.state = "InProgress".to_owned();
        } else {
            job.state = if job.error.is_some() {
                "Failed"
            } else {
                "JobComplete"
            }
            .to_owned();
        }
        let mut info = json!({"id": id, "operation": "query", "object": job.object, "state": job.state,
            "numberRecordsProcessed": if job.state == "JobComplete" { job.rows.len() } else { 0 }});
        if job.state == "Failed" {
            info["errorMessage"] = json!(job.error);
        }
        Reply::json(info.to_string())
    }

    fn locator_offset(locator: Option<&str>) -> Option<usize> {
        match locator {
            None => Some(0),
            Some(l) => String::from_utf8(STANDARD.decode(l).ok()?)
                .ok()?
                .parse()
                .ok(),
        }
    }

    fn query_results(&mut self, id: &str, seen: &Seen) -> Reply {
        let Some(job) = self.query_jobs.get(id) else {
            return errors(404, "NOT_FOUND", "The requested resource does not exist");
        };
        if job.state != "JobComplete" {
            return errors(
                400,
                "API_ERROR",
                &format!("Job {id} is not complete: {}", job.state),
            );
        }
        let Some(offset) = Self::locator_offset(seen.param("locator")) else {
            return errors(400, "INVALIDLOCATOR", "Invalid locator");
        };
        let max: usize = seen
            .param("maxRecords")
            .and_then(|m| m.parse().ok())
            .unwrap_or(100_000);
        let object = &self.objects[&job.object];
        let end = (offset + max).min(job.rows.len());
        let mut out = String::new();
        let names: Vec<String> = job
            .fields
            .iter()
            .map(|f| object.field(f).map_or(f.clone(), |d| d.name.clone()))
            .collect();
        out.push_str(
            &names
                .iter()
                .map(|n| format!("\"{n}\""))
                .collect::<Vec<_>>()
                .join(","),
        );
        out.push('\n');
        for row in &job.rows[offset.min(end)..end] {
            let line: Vec<String> = names
                .iter()
                .map(|n| {
                    csv_field(
                        row.get(n).unwrap_or(&Value::Null),
                        &object.field(n).map(|d| d.kind.clone()).unwrap_or_default(),
                    )
                })
                .collect();
            out.push_str(&line.join(","));
            out.push('\n');
        }
        let locator = if end < job.rows.len() {
            STANDARD.encode(end.to_string())
        } else {
            "null".to_owned()
        };
        Reply::status(200, out)
            .header("content-type", "text/csv")
            .header("sforce-locator", &locator)
            .header(
                "sforce-numberofrecords",
                &(end - offset.min(end)).to_string(),
            )
    }

    fn result_pages(&mut self, id: &str, seen: &Seen, version: &str) -> Reply {
        let Some(job) = self.query_jobs.get(id) else {
            return errors(404, "NOT_FOUND", "The requested resource does not exist");
        };
        if job.state != "JobComplete" {
            return errors(
                400,
                "API_ERROR",
                &format!("Job {id} is not complete: {}", job.state),
            );
        }
        let per_page = 2000usize;
        let Some(start) = Self::locator_offset(seen.param("locator")) else {
            return errors(400, "INVALIDLOCATOR", "Invalid locator");
        };
        let mut pages = Vec::new();
        let mut offset = start;
        while pages.len() < 5 && (offset < job.rows.len() || (offset == 0 && pages.is_empty())) {
            let locator = if offset == 0 {
                String::new()
            } else {
                format!("&locator={}", STANDARD.encode(offset.to_string()))
            };
            pages.push(json!({"resultUrl": format!("/services/data/v{version}/jobs/query/{id}/results?maxRecords={per_page}{locator}")}));
            offset += per_page;
        }
        let done = offset >= job.rows.len();
        let mut answer = json!({"resultPages": pages, "done": done});
        if !done {
            answer["nextRecordsUrl"] = json!(format!(
                "/services/data/v{version}/jobs/query/{id}/resultPages?locator={}",
                STANDARD.encode(offset.to_string())
            ));
        }
        Reply::json(answer.to_string())
    }

    // -------------------------------------------------------------- writes

    fn new_id(&mut self) -> String {
        self.next_id += 1;
        format!("006N{:014}", self.next_id)
    }

    /// Applies one write; Ok(id, created) or Err(statusCode, message, fields).
    fn save(
        &mut self,
        object: &str,
        operation: &str,
        external_id: Option<&str>,
        mut record: Map<String, Value>,
    ) -> Result<(String, bool), (String, String, Vec<String>)> {
        let Some(obj) = self.objects.get(object).cloned() else {
            return Err((
                "INVALID_TYPE".into(),
                format!("sObject type '{object}' is not supported"),
                vec![],
            ));
        };
        record.remove("attributes");
        // Values: by the field's type; unknown and read-only fields refused.
        let mut typed = Map::new();
        for (k, v) in record {
            let Some(def) = obj.field(&k) else {
                return Err((
                    "INVALID_FIELD".into(),
                    format!("No such column '{k}' on sobject of type {object}"),
                    vec![k],
                ));
            };
            let value = match (def.kind.as_str(), v) {
                (_, Value::String(s)) if s.is_empty() || s == "#N/A" => Value::Null,
                ("int", Value::String(s)) if s.parse::<i64>().is_ok() => {
                    json!(s.parse::<i64>().unwrap_or(0))
                }
                ("currency" | "double" | "percent" | "int", Value::String(s)) => {
                    match s.parse::<f64>() {
                        Ok(n) => json!(n),
                        Err(_) => {
                            return Err((
                                "INVALID_TYPE_ON_FIELD_IN_RECORD".into(),
                                format!("{}: value not of required type: {s}", def.name),
                                vec![def.name.clone()],
                            ));
                        }
                    }
                }
                ("boolean", Value::String(s)) => json!(s.eq_ignore_ascii_case("true")),
                ("datetime", Value::String(s)) => match parse_time(&s) {
                    Some(t) => json!(sf_time(t)),
                    None => {
                        return Err((
                            "INVALID_TYPE_ON_FIELD_IN_RECORD".into(),
                            format!("{}: value not of required type: {s}", def.name),
                            vec![def.name.clone()],
                        ));
                    }
                },
                (_, v) => v,
            };
            typed.insert(def.name.clone(), value);
        }
        if self.faults.reject_negative_amounts
            && typed
                .get("Amount")
                .and_then(Value::as_f64)
                .is_some_and(|a| a < 0.0)
        {
            return Err((
                "FIELD_CUSTOM_VALIDATION_EXCEPTION".into(),
                "Amount must not be negative".into(),
                vec!["Amount".into()],
            ));
        }
        let index_of = |records: &[Map<String, Value>], field: &str, value: &Value| {
            records.iter().position(|r| {
                r.get(field) == Some(value) && r.get("IsDeleted") != Some(&Value::Bool(true))
            })
        };
        let records = &self.objects[object].records;
        let (existing, creating) = match operation {
            "insert" => (None, true),
            "update" | "delete" => {
                let id = typed.get("Id").cloned().unwrap_or(Value::Null);
                match index_of(records, "Id", &id) {
                    Some(i) => (Some(i), false),
                    None if operation == "delete" => {
                        return Err((
                            "ENTITY_IS_DELETED".into(),
                            "entity is deleted".into(),
                            vec![],
                        ));
                    }
                    None => {
                        return Err((
                            "INVALID_CROSS_REFERENCE_KEY".into(),
                            "invalid cross reference id".into(),
                            vec![],
                        ));
                    }
                }
            }
            _ => {
                let key = obj
                    .field(external_id.unwrap_or(""))
                    .map(|d| d.name.clone())
                    .unwrap_or_default();
                let value = typed.get(&key).cloned().unwrap_or(Value::Null);
                if value.is_null() {
                    return Err((
                        "REQUIRED_FIELD_MISSING".into(),
                        format!("Required fields are missing: [{key}]"),
                        vec![key],
                    ));
                }
                match index_of(records, &key, &value) {
                    Some(i) => (Some(i), false),
                    None => (None, true),
                }
            }
        };
        if creating {
            let missing: Vec<String> = obj
                .fields
                .iter()
                .filter(|f| !f.nillable && f.writable && f.kind != "boolean")
                .filter(|f| typed.get(&f.name).is_none_or(Value::is_null))
                .map(|f| f.name.clone())
                .collect();
            if !missing.is_empty() {
                return Err((
                    "REQUIRED_FIELD_MISSING".into(),
                    format!("Required fields are missing: [{}]", missing.join(", ")),
                    missing,
                ));
            }
        }
        let now = sf_time(Utc::now());
        let id = match existing {
            Some(i) => {
                let records = &mut self.objects.get_mut(object).unwrap().records;
                if operation == "delete" {
                    records[i].insert("IsDeleted".into(), json!(true));
                } else {
                    for (k, v) in typed {
                        if k != "Id" {
                            records[i].insert(k, v);
                        }
                    }
                }
                records[i].insert("SystemModstamp".into(), json!(now));
                records[i]["Id"].as_str().unwrap_or("").to_owned()
            }
            None => {
                let id = self.new_id();
                let mut record = Map::new();
                for f in &obj.fields {
                    record.insert(f.name.clone(), Value::Null);
                }
                record.insert("IsDeleted".into(), json!(false));
                record.insert("IsWon".into(), json!(false));
                for (k, v) in typed {
                    record.insert(k, v);
                }
                record.insert("Id".into(), json!(id));
                record.insert("CreatedDate".into(), json!(now));
                record.insert("SystemModstamp".into(), json!(now));
                self.objects.get_mut(object).unwrap().records.push(record);
                id
            }
        };
        Ok((id, creating))
    }

    fn save_result(
        result: Result<(String, bool), (String, String, Vec<String>)>,
        upsert: bool,
    ) -> Value {
        match result {
            Ok((id, created)) => {
                let mut v = json!({"id": id, "success": true, "errors": []});
                if upsert {
                    v["created"] = json!(created);
                }
                v
            }
            Err((code, message, fields)) => {
                json!({"success": false, "errors": [{"statusCode": code, "message": message, "fields": fields}]})
            }
        }
    }

    fn collection(
        &mut self,
        seen: &Seen,
        operation: &str,
        upsert: Option<(String, String)>,
    ) -> Reply {
        let Ok(body) = serde_json::from_str::<Value>(&seen.body) else {
            return errors(
                400,
                "JSON_PARSER_ERROR",
                "Unexpected character: was expecting JSON",
            );
        };
        let records = body["records"].as_array().cloned().unwrap_or_default();
        if records.len() > 200 {
            return errors(
                400,
                "EXCEEDED_ID_LIMIT",
                "record limit reached. cannot submit more than 200 records into this call",
            );
        }
        let mut results = Vec::new();
        for record in records {
            let Some(map) = record.as_object().cloned() else {
                results.push(Self::save_result(
                    Err(("JSON_PARSER_ERROR".into(), "not an object".into(), vec![])),
                    false,
                ));
                continue;
            };
            let object = match &upsert {
                Some((o, _)) => o.clone(),
                None => map
                    .get("attributes")
                    .and_then(|a| a["type"].as_str())
                    .unwrap_or("")
                    .to_owned(),
            };
            if object.is_empty() {
                results.push(Self::save_result(
                    Err((
                        "INVALID_TYPE".into(),
                        "Must send a concrete entity type.".into(),
                        vec![],
                    )),
                    false,
                ));
                continue;
            }
            let result = self.save(
                &object,
                operation,
                upsert.as_ref().map(|(_, f)| f.as_str()),
                map,
            );
            results.push(Self::save_result(result, upsert.is_some()));
        }
        Reply::json(Value::Array(results).to_string())
    }

    fn collection_delete(&mut self, seen: &Seen) -> Reply {
        let ids: Vec<String> = seen
            .param("ids")
            .unwrap_or("")
            .split(',')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect();
        if ids.len() > 200 {
            return errors(
                400,
                "EXCEEDED_ID_LIMIT",
                "record limit reached. cannot submit more than 200 records into this call",
            );
        }
        let mut results = Vec::new();
        for id in ids {
            let object = self
                .objects
                .iter()
                .find(|(_, o)| o.records.iter().any(|r| r.get("Id") == Some(&json!(id))))
                .map(|(n, _)| n.clone())
                .unwrap_or_else(|| self.objects.keys().next().cloned().unwrap_or_default());
            let mut map = Map::new();
            map.insert("Id".into(), json!(id));
            let result = self.save(&object, "delete", None, map);
            results.push(Self::save_result(result, false));
        }
        Reply::json(Value::Array(results).to_string())
    }

    fn create_ingest_job(&mut self, seen: &Seen, version: &str) -> Reply {
        let body: Value = serde_json::from_str(&seen.body).unwrap_or(Value::Null);
        let object = body["object"].as_str().unwrap_or("").to_owned();
        let operation = body["operation"].as_str().unwrap_or("").to_owned();
        if !self.objects.contains_key(&object) {
            return errors(
                400,
                "INVALIDJOB",
                &format!("InvalidJob : Invalid object: {object}"),
            );
        }
        if !matches!(
            operation.as_str(),
            "insert" | "update" | "upsert" | "delete"
        ) {
            return errors(
                400,
                "INVALIDJOB",
                &format!("InvalidJob : Invalid operation: {operation}"),
            );
        }
        let external_id = body["externalIdFieldName"].as_str().map(str::to_owned);
        if operation == "upsert" && external_id.is_none() {
            return errors(
                400,
                "INVALIDJOB",
                "InvalidJob : External ID was blank for upsert",
            );
        }
        let id = format!("750I{:014}", self.next_id);
        self.next_id += 1;
        self.ingest_jobs.insert(
            id.clone(),
            IngestJob {
                object: object.clone(),
                operation: operation.clone(),
                external_id,
                state: "Open".into(),
                data: None,
                polls: self.faults.bulk_polls,
                error: None,
                processed: 0,
                successes: Vec::new(),
                failures: Vec::new(),
                header: None,
            },
        );
        Reply::json(
            json!({"id": id, "operation": operation, "object": object, "state": "Open",
                   "contentType": "CSV", "lineEnding": "LF", "columnDelimiter": "COMMA",
                   "contentUrl": format!("services/data/v{version}/jobs/ingest/{id}/batches")})
            .to_string(),
        )
    }

    fn upload(&mut self, id: &str, seen: &Seen) -> Reply {
        let Some(job) = self.ingest_jobs.get_mut(id) else {
            return errors(404, "NOT_FOUND", "The requested resource does not exist");
        };
        if job.state != "Open" || job.data.is_some() {
            return errors(
                409,
                "INVALIDJOBSTATE",
                "Job data can only be uploaded once, to an Open job",
            );
        }
        if !seen
            .header("content-type")
            .is_some_and(|c| c.starts_with("text/csv"))
        {
            return errors(400, "INVALIDCONTENTTYPE", "Content-Type must be text/csv");
        }
        job.data = Some(seen.body.clone());
        Reply::status(201, "")
    }

    fn ingest_state(&mut self, id: &str, seen: &Seen) -> Reply {
        let body: Value = serde_json::from_str(&seen.body).unwrap_or(Value::Null);
        let Some(job) = self.ingest_jobs.get_mut(id) else {
            return errors(404, "NOT_FOUND", "The requested resource does not exist");
        };
        match body["state"].as_str() {
            Some("UploadComplete") if job.state == "Open" => {
                job.state = "UploadComplete".into();
            }
            Some("Aborted") => job.state = "Aborted".into(),
            other => {
                return errors(
                    400,
                    "INVALIDJOBSTATE",
                    &format!("cannot change state to {other:?} from {}", job.state),
                );
            }
        }
        Reply::json(json!({"id": id, "state": job.state}).to_string())
    }

    fn process(&mut self, id: &str) {
        let (object, operation, external_id, data) = {
            let job = &self.ingest_jobs[id];
            (
                job.object.clone(),
                job.operation.clone(),
                job.external_id.clone(),
                job.data.clone().unwrap_or_default(),
            )
        };
        if let Some(message) = self.faults.fail_ingest_jobs.clone() {
            let job = self.ingest_jobs.get_mut(id).unwrap();
            job.state = "Failed".into();
            job.error = Some(message);
            return;
        }
        let mut reader = csv::ReaderBuilder::new().from_reader(data.as_bytes());
        let header = reader.headers().cloned().unwrap_or_default();
        let obj = self.objects[&object].clone();
        if let Some(bad) = header.iter().find(|h| obj.field(h).is_none()) {
            let job = self.ingest_jobs.get_mut(id).unwrap();
            job.state = "Failed".into();
            job.error = Some(format!("InvalidBatch : Field name not found : {bad}"));
            return;
        }
        let mut successes = Vec::new();
        let mut failures = Vec::new();
        for row in reader.records() {
            let row = row.unwrap_or_default();
            let mut map = Map::new();
            for (h, v) in header.iter().zip(row.iter()) {
                map.insert(h.to_owned(), json!(v));
            }
            match self.save(&object, &operation, external_id.as_deref(), map) {
                Ok((rid, created)) => successes.push((rid, created, row)),
                Err((code, message, fields)) => {
                    let fields = if fields.is_empty() {
                        String::new()
                    } else {
                        fields.join(",")
                    };
                    failures.push((String::new(), format!("{code}:{message}:{fields} --"), row));
                }
            }
        }
        let job = self.ingest_jobs.get_mut(id).unwrap();
        job.processed = (successes.len() + failures.len()) as u64;
        job.successes = successes;
        job.failures = failures;
        job.header = Some(header);
        job.state = "JobComplete".into();
    }

    fn ingest_job_info(&mut self, id: &str) -> Reply {
        let Some(job) = self.ingest_jobs.get_mut(id) else {
            return errors(404, "NOT_FOUND", "The requested resource does not exist");
        };
        if matches!(job.state.as_str(), "UploadComplete" | "InProgress") {
            if job.polls > 0 {
                job.polls -= 1;
                job.state = "InProgress".into();
            } else {
                self.process(id);
            }
        }
        let job = &self.ingest_jobs[id];
        let mut info = json!({"id": id, "operation": job.operation, "object": job.object, "state": job.state,
            "numberRecordsProcessed": job.processed, "numberRecordsFailed": job.failures.len()});
        if let Some(e) = &job.error {
            info["errorMessage"] = json!(e);
        }
        Reply::json(info.to_string())
    }

    fn ingest_results(&self, id: &str, successful: bool) -> Reply {
        let Some(job) = self.ingest_jobs.get(id) else {
            return errors(404, "NOT_FOUND", "The requested resource does not exist");
        };
        if job.state != "JobComplete" {
            return errors(
                400,
                "API_ERROR",
                &format!("Job {id} is not complete: {}", job.state),
            );
        }
        let mut writer = csv::Writer::from_writer(Vec::new());
        let header = job.header.clone().unwrap_or_default();
        let first = if successful {
            ["sf__Id", "sf__Created"]
        } else {
            ["sf__Id", "sf__Error"]
        };
        writer
            .write_record(first.iter().copied().chain(header.iter()))
            .unwrap();
        if successful {
            for (rid, created, row) in &job.successes {
                let created = created.to_string();
                writer
                    .write_record(
                        [rid.as_str(), created.as_str()]
                            .into_iter()
                            .chain(row.iter()),
                    )
                    .unwrap();
            }
        } else {
            for (rid, error, row) in &job.failures {
                writer
                    .write_record([rid.as_str(), error.as_str()].into_iter().chain(row.iter()))
                    .unwrap();
            }
        }
        Reply::status(
            200,
            String::from_utf8(writer.into_inner().unwrap()).unwrap(),
        )
        .header("content-type", "text/csv")
    }
}
