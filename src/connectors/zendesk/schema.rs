//! The declared Arrow schemas of Zendesk's core objects, from the API
//! reference (Tickets, Users, Organizations, Groups), and how records are
//! made to fit them.
//!
//! Ids are `Int64`, times `Timestamp(µs, UTC)` (Zendesk writes ISO 8601 in
//! UTC), id lists `List<Int64>` and tags `List<Utf8>`. Fields whose shape
//! varies by account or channel are carried as JSON text: a ticket's `via`
//! and `satisfaction_rating`, a user's `photo`, and the custom fields of
//! users and organizations (`user_fields`, `organization_fields`: objects
//! keyed by the field's key). A ticket's `custom_fields` stay a list of
//! `{id, value}` with the value as text (a number or checkbox as its JSON
//! text, a multi-select list as a JSON array), so that fields of any type
//! fit one column. Other objects have no declared schema: theirs is
//! inferred from the first page.

use arrow::datatypes::{DataType, Field, Fields, Schema, TimeUnit};
use serde_json::Value;

fn time() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

fn ids() -> DataType {
    DataType::new_list(DataType::Int64, true)
}

fn texts() -> DataType {
    DataType::new_list(DataType::Utf8, true)
}

fn field(name: &str, data_type: DataType) -> Field {
    Field::new(name, data_type, true)
}

/// Fields carried as JSON text, per object.
pub fn json_text_fields(object: &str) -> &'static [&'static str] {
    match object {
        "tickets" => &["via", "satisfaction_rating"],
        "users" => &["photo", "user_fields"],
        "organizations" => &["organization_fields"],
        _ => &[],
    }
}

/// The declared schema of `object`, when it has one.
pub fn declared(object: &str) -> Option<Schema> {
    use DataType::{Boolean, Int64, Utf8};
    let fields = match object {
        "tickets" => vec![
            Field::new("id", Int64, false),
            field("url", Utf8),
            field("external_id", Utf8),
            field("type", Utf8),
            field("subject", Utf8),
            field("raw_subject", Utf8),
            field("description", Utf8),
            field("priority", Utf8),
            field("status", Utf8),
            field("recipient", Utf8),
            field("requester_id", Int64),
            field("submitter_id", Int64),
            field("assignee_id", Int64),
            field("organization_id", Int64),
            field("group_id", Int64),
            field("brand_id", Int64),
            field("ticket_form_id", Int64),
            field("custom_status_id", Int64),
            field("problem_id", Int64),
            field("collaborator_ids", ids()),
            field("follower_ids", ids()),
            field("email_cc_ids", ids()),
            field("followup_ids", ids()),
            field("sharing_agreement_ids", ids()),
            field("has_incidents", Boolean),
            field("is_public", Boolean),
            field("allow_channelback", Boolean),
            field("allow_attachments", Boolean),
            field("from_messaging_channel", Boolean),
            field("due_at", time()),
            field("tags", texts()),
            field(
                "custom_fields",
                DataType::new_list(
                    DataType::Struct(Fields::from(vec![field("id", Int64), field("value", Utf8)])),
                    true,
                ),
            ),
            field("via", Utf8),
            field("satisfaction_rating", Utf8),
            field("generated_timestamp", Int64),
            field("created_at", time()),
            field("updated_at", time()),
        ],
        "users" => vec![
            Field::new("id", Int64, false),
            field("url", Utf8),
            field("name", Utf8),
            field("email", Utf8),
            field("phone", Utf8),
            field("shared_phone_number", Boolean),
            field("external_id", Utf8),
            field("alias", Utf8),
            field("role", Utf8),
            field("role_type", Int64),
            field("custom_role_id", Int64),
            field("organization_id", Int64),
            field("default_group_id", Int64),
            field("locale", Utf8),
            field("locale_id", Int64),
            field("time_zone", Utf8),
            field("iana_time_zone", Utf8),
            field("active", Boolean),
            field("verified", Boolean),
            field("suspended", Boolean),
            field("shared", Boolean),
            field("shared_agent", Boolean),
            field("moderator", Boolean),
            field("restricted_agent", Boolean),
            field("only_private_comments", Boolean),
            field("two_factor_auth_enabled", Boolean),
            field("ticket_restriction", Utf8),
            field("signature", Utf8),
            field("details", Utf8),
            field("notes", Utf8),
            field("tags", texts()),
            field("photo", Utf8),
            field("user_fields", Utf8),
            field("last_login_at", time()),
            field("created_at", time()),
            field("updated_at", time()),
        ],
        "organizations" => vec![
            Field::new("id", Int64, false),
            field("url", Utf8),
            field("name", Utf8),
            field("external_id", Utf8),
            field("domain_names", texts()),
            field("details", Utf8),
            field("notes", Utf8),
            field("group_id", Int64),
            field("shared_tickets", Boolean),
            field("shared_comments", Boolean),
            field("tags", texts()),
            field("organization_fields", Utf8),
            field("created_at", time()),
            field("updated_at", time()),
            field("deleted_at", time()),
        ],
        "groups" => vec![
            Field::new("id", Int64, false),
            field("url", Utf8),
            field("name", Utf8),
            field("description", Utf8),
            field("default", Boolean),
            field("deleted", Boolean),
            field("is_public", Boolean),
            field("created_at", time()),
            field("updated_at", time()),
        ],
        _ => return None,
    };
    Some(Schema::new(fields))
}

/// A custom field's value as text: strings as they are, other values as
/// their JSON text, `null` as null.
fn as_text(value: &Value) -> Value {
    match value {
        Value::Null | Value::String(_) => value.clone(),
        other => Value::String(other.to_string()),
    }
}

/// Makes a record of `object` fit its declared schema: JSON-text fields
/// become text, and ticket custom field values text.
pub fn normalize(object: &str, record: &mut serde_json::Map<String, Value>) {
    for name in json_text_fields(object) {
        if let Some(value) = record.get_mut(*name)
            && (value.is_object() || value.is_array())
        {
            *value = Value::String(value.to_string());
        }
    }
    if object == "tickets"
        && let Some(Value::Array(fields)) = record.get_mut("custom_fields")
    {
        for custom in fields.iter_mut() {
            if let Some(value) = custom.get_mut("value") {
                *value = as_text(value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use serde_json::json;

    #[test]
    fn custom_fields_of_any_type_become_text() {
        let mut record = json!({
            "id": 1,
            "via": {"channel": "web", "source": {"from": {}, "to": {}, "rel": null}},
            "custom_fields": [
                {"id": 1, "value": "745"},
                {"id": 2, "value": 12.5},
                {"id": 3, "value": true},
                {"id": 4, "value": ["a", "b"]},
                {"id": 5, "value": null}
            ]
        });
        normalize("tickets", record.as_object_mut().unwrap());
        assert_eq!(
            record["via"],
            json!(r#"{"channel":"web","source":{"from":{},"rel":null,"to":{}}}"#)
        );
        let values: Vec<Value> = record["custom_fields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["value"].clone())
            .collect();
        assert_eq!(
            values,
            [
                json!("745"),
                json!("12.5"),
                json!("true"),
                json!(r#"["a","b"]"#),
                Value::Null
            ]
        );
    }

    #[test]
    fn core_objects_are_declared() {
        for object in ["tickets", "users", "organizations", "groups"] {
            let schema = declared(object).unwrap();
            assert_eq!(schema.field(0).name(), "id");
            assert!(schema.field_with_name("updated_at").is_ok());
        }
        assert!(declared("brands").is_none());
    }
}
