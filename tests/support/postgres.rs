//! The PostgreSQL server `make test` starts (e2e/scripts/postgres.sh) and
//! describes in `SLUICE_TEST_PG_*`: its address and login, its CA, and SQL
//! run on it directly to seed and inspect what the tests write.

use super::server_var;

const SERVER: &str = "the PostgreSQL server (e2e/scripts/postgres.sh)";

/// Where the server is and how to log in.
pub struct Postgres {
    /// Its host.
    pub host: String,
    /// Its port.
    pub port: u16,
    /// The test database.
    pub database: String,
    /// The test user.
    pub user: String,
    /// The test user's password.
    pub password: String,
}

impl Postgres {
    /// The server of `SLUICE_TEST_PG_*`; fails the test, saying how to
    /// start one, without them.
    pub fn from_env() -> Self {
        Self {
            host: server_var("SLUICE_TEST_PG_HOST", SERVER),
            port: server_var("SLUICE_TEST_PG_PORT", SERVER).parse().unwrap(),
            database: server_var("SLUICE_TEST_PG_DATABASE", SERVER),
            user: server_var("SLUICE_TEST_PG_USER", SERVER),
            password: server_var("SLUICE_TEST_PG_PASSWORD", SERVER),
        }
    }

    /// The server's CA certificate (PEM), from `SLUICE_TEST_PG_CA`: the
    /// script's server has TLS when openssl is installed.
    pub fn ca() -> String {
        let path = server_var(
            "SLUICE_TEST_PG_CA",
            "the PostgreSQL server with TLS (when openssl is installed)",
        );
        std::fs::read_to_string(path).unwrap()
    }

    /// A tokio-postgres connection string, without TLS.
    fn connection(&self) -> String {
        format!(
            "host={} port={} dbname={} user={} password={}",
            self.host, self.port, self.database, self.user, self.password
        )
    }
}

/// Runs SQL statements on the server; returns the rows they return, as
/// text (`None` for NULL).
pub fn sql(statements: &str) -> Vec<Vec<Option<String>>> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let (client, connection) =
            tokio_postgres::connect(&Postgres::from_env().connection(), tokio_postgres::NoTls)
                .await
                .unwrap();
        tokio::spawn(connection);
        let mut rows = Vec::new();
        for message in client.simple_query(statements).await.unwrap() {
            if let tokio_postgres::SimpleQueryMessage::Row(row) = message {
                rows.push(
                    (0..row.len())
                        .map(|i| row.get(i).map(str::to_owned))
                        .collect(),
                );
            }
        }
        rows
    })
}

/// Runs SQL statements on the server, from async code.
pub async fn execute(statements: &str) {
    let (client, connection) =
        tokio_postgres::connect(&Postgres::from_env().connection(), tokio_postgres::NoTls)
            .await
            .unwrap();
    let connection = tokio::spawn(connection);
    client.batch_execute(statements).await.unwrap();
    drop(client);
    let _ = connection.await;
}
