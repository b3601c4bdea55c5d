//! What a `postgres` profile exposes: the check connects and runs
//! `SELECT 1`; the entities are the tables, views and foreign tables the
//! user may select from (`schema.table`); a table's fields come from the
//! catalog with their Arrow type as the source reads them, nullability, the
//! primary key, whether an incremental read can use them as its cursor
//! (timestamps and dates) and whether a destination can write them (not
//! generated, not `GENERATED ALWAYS AS IDENTITY`, not in a view).

use tokio_postgres::types::Type;

use super::client::{connect, query_error};
use super::source::arrow_type;
use super::{PgConfig, Result};
use crate::connectors::{Entity, EntityField};

fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(crate::connectors::common::runtime::current_thread()?)
}

/// Connects and runs `SELECT 1`.
pub fn check(config: &PgConfig) -> Result<()> {
    runtime()?.block_on(async {
        let client = connect(config).await?;
        client
            .simple_query("SELECT 1")
            .await
            .map_err(|e| query_error(format!("{}: SELECT 1", config.target()), &e))?;
        Ok(())
    })
}

/// The relations the user may select from, as `schema.table`.
pub fn entities(config: &PgConfig) -> Result<Vec<Entity>> {
    const SQL: &str = "SELECT n.nspname::text, c.relname::text
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f')
          AND n.nspname NOT IN ('pg_catalog', 'information_schema')
          AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%'
          AND has_table_privilege(c.oid, 'SELECT')
        ORDER BY 1, 2";
    runtime()?.block_on(async {
        let client = connect(config).await?;
        let rows = client
            .query(SQL, &[])
            .await
            .map_err(|e| query_error(format!("{}: listing tables", config.target()), &e))?;
        Ok(rows
            .iter()
            .map(|row| Entity {
                name: format!("{}.{}", row.get::<_, String>(0), row.get::<_, String>(1)),
                fields: Vec::new(),
            })
            .collect())
    })
}

/// The columns of `schema.table` (or `table` in `public`); `None` when
/// there is no such relation.
pub fn describe(config: &PgConfig, entity: &str) -> Result<Option<Entity>> {
    const SQL: &str = "SELECT a.attname::text, a.atttypid, NOT a.attnotnull,
            COALESCE(a.attnum = ANY(i.indkey), false),
            c.relkind IN ('r', 'p') AND a.attgenerated = '' AND a.attidentity <> 'a',
            a.atttypmod
        FROM pg_class c
        JOIN pg_namespace n ON n.oid = c.relnamespace
        JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
        LEFT JOIN pg_index i ON i.indrelid = c.oid AND i.indisprimary
        WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
        ORDER BY a.attnum";
    let (schema, table) = entity.split_once('.').unwrap_or(("public", entity));
    runtime()?.block_on(async {
        let client = connect(config).await?;
        let rows = client
            .query(SQL, &[&schema, &table])
            .await
            .map_err(|e| query_error(format!("{}: describing {entity}", config.target()), &e))?;
        if rows.is_empty() {
            return Ok(None);
        }
        let fields = rows
            .iter()
            .map(|row| {
                let oid: u32 = row.get(1);
                let server_type = Type::from_oid(oid).unwrap_or(Type::TEXT);
                EntityField {
                    name: row.get(0),
                    data_type: arrow_type(&server_type, row.get(5)),
                    nullable: row.get(2),
                    primary_key: row.get(3),
                    incremental: matches!(
                        server_type,
                        Type::TIMESTAMP | Type::TIMESTAMPTZ | Type::DATE
                    ),
                    writable: row.get(4),
                }
            })
            .collect();
        Ok(Some(Entity {
            name: format!("{schema}.{table}"),
            fields,
        }))
    })
}
