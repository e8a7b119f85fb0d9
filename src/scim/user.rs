//! A SCIM User as revokd reads and writes it: the few attributes it keeps
//! (`userName`, `externalId`, `active`, and the attribute mapped to the
//! provider's `sub`), read from a full resource (POST, PUT) or changed by
//! PATCH operations (RFC 7644 §3.5.2), and rendered back with `meta`.
//!
//! Attribute names are case-insensitive (RFC 7643 §2.1). The other
//! attributes of the core User schema and of the enterprise extension
//! (`name`, `emails`, `displayName`, `manager`, …) are accepted and not kept,
//! so that a provider's default attribute mapping works unchanged; an
//! attribute no schema of revokd's defines is refused (`invalidSyntax` in
//! a body, `invalidPath` as a PATCH path).

use serde_json::{Map, Value, json};

use super::error::ScimError;
use crate::providers::scim_settings::{SubjectAttribute, USER_SCHEMA};

/// The enterprise User extension (RFC 7643 §4.3).
pub const ENTERPRISE_SCHEMA: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
/// PATCH requests (RFC 7644 §3.5.2).
pub const PATCH_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

/// The longest `userName`, `externalId` or mapped value kept, in bytes.
pub const MAX_VALUE_LEN: usize = 256;

/// Core User attributes accepted and not kept (RFC 7643 §4.1).
const IGNORED_CORE: [&str; 19] = [
    "name",
    "displayName",
    "nickName",
    "profileUrl",
    "title",
    "userType",
    "preferredLanguage",
    "locale",
    "timezone",
    "password",
    "emails",
    "phoneNumbers",
    "ims",
    "photos",
    "addresses",
    "groups",
    "entitlements",
    "roles",
    "x509Certificates",
];

/// Enterprise extension attributes (RFC 7643 §4.3), accepted and not kept
/// unless one is the mapped attribute.
const ENTERPRISE: [&str; 6] = [
    "employeeNumber",
    "costCenter",
    "organization",
    "division",
    "department",
    "manager",
];

/// Read-only attributes: ignored in a body (RFC 7644 §3.5.1), refused as a
/// PATCH target.
const READ_ONLY: [&str; 2] = ["id", "meta"];

/// What revokd keeps of a user, before it is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fields {
    pub user_name: String,
    pub external_id: Option<String>,
    pub active: bool,
    /// The value of a custom mapped attribute, when the mapping is one.
    pub custom: Option<String>,
}

impl Fields {
    /// The `sub` this user maps to.
    ///
    /// # Errors
    /// The mapped attribute has no value.
    pub fn sub(&self, mapping: &SubjectAttribute) -> Result<String, ScimError> {
        let (value, name) = match mapping {
            SubjectAttribute::ExternalId => (self.external_id.clone(), "externalId".to_owned()),
            SubjectAttribute::UserName => (Some(self.user_name.clone()), "userName".to_owned()),
            SubjectAttribute::Custom { schema, name } => (
                self.custom.clone(),
                match schema {
                    Some(s) => format!("{s}:{name}"),
                    None => name.clone(),
                },
            ),
        };
        value.ok_or_else(|| {
            ScimError::InvalidValue(format!(
                "`{name}` is required: it is the attribute this SCIM client maps to the provider's `sub`"
            ))
        })
    }
}

fn eq(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b)
}

/// A bounded string value without control characters.
fn text(name: &str, value: &Value) -> Result<String, ScimError> {
    let Value::String(s) = value else {
        return Err(ScimError::InvalidValue(format!(
            "`{name}` must be a string"
        )));
    };
    if s.is_empty() || s.len() > MAX_VALUE_LEN || s.chars().any(char::is_control) {
        return Err(ScimError::InvalidValue(format!(
            "`{name}` must be 1 to {MAX_VALUE_LEN} bytes without control characters"
        )));
    }
    Ok(s.clone())
}

/// `active`: a boolean, or Entra ID's `"True"`/`"False"` strings.
fn boolean(value: &Value) -> Result<bool, ScimError> {
    match value {
        Value::Bool(b) => Ok(*b),
        Value::String(s) if eq(s, "true") => Ok(true),
        Value::String(s) if eq(s, "false") => Ok(false),
        _ => Err(ScimError::InvalidValue(
            "`active` must be true or false".into(),
        )),
    }
}

/// One attribute, as a body or a PATCH names it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Target {
    UserName,
    ExternalId,
    Active,
    /// The custom mapped attribute.
    Custom,
    /// Accepted, not kept.
    Ignored,
    ReadOnly(String),
}

/// Which attribute `name` (of the core schema, or of `schema`) is.
fn target(schema: Option<&str>, name: &str, mapping: &SubjectAttribute) -> Option<Target> {
    if let SubjectAttribute::Custom {
        schema: mapped_schema,
        name: mapped,
    } = mapping
    {
        let same_schema = match (schema, mapped_schema.as_deref()) {
            (None, None) => true,
            (Some(a), Some(b)) => eq(a, b),
            _ => false,
        };
        if same_schema && eq(name, mapped) {
            return Some(Target::Custom);
        }
    }
    match schema {
        None => Some(match name {
            n if eq(n, "userName") => Target::UserName,
            n if eq(n, "externalId") => Target::ExternalId,
            n if eq(n, "active") => Target::Active,
            n if READ_ONLY.iter().any(|r| eq(n, r)) => Target::ReadOnly(n.to_owned()),
            n if IGNORED_CORE.iter().any(|r| eq(n, r)) => Target::Ignored,
            _ => return None,
        }),
        Some(s) if eq(s, ENTERPRISE_SCHEMA) && ENTERPRISE.iter().any(|r| eq(name, r)) => {
            Some(Target::Ignored)
        }
        Some(_) => None,
    }
}

/// Sets one attribute of `fields` from `value` (`null` unassigns).
fn set(fields: &mut Fields, target: &Target, name: &str, value: &Value) -> Result<(), ScimError> {
    match target {
        Target::UserName => fields.user_name = text(name, value)?,
        Target::ExternalId if value.is_null() => fields.external_id = None,
        Target::ExternalId => fields.external_id = Some(text(name, value)?),
        // `null` is unassigned (RFC 7643 §2.5): the state stays as it is.
        Target::Active if value.is_null() => {}
        Target::Active => fields.active = boolean(value)?,
        Target::Custom if value.is_null() => fields.custom = None,
        Target::Custom => fields.custom = Some(text(name, value)?),
        Target::Ignored | Target::ReadOnly(_) => {}
    }
    Ok(())
}

/// The members of a resource (or of a PATCH value object) applied to
/// `fields`: core attributes by name, extension attributes inside their
/// schema's object, or fully qualified (`<schema URN>:<attribute>`).
fn apply_members(
    fields: &mut Fields,
    members: &Map<String, Value>,
    mapping: &SubjectAttribute,
) -> Result<(), ScimError> {
    for (key, value) in members {
        if eq(key, "schemas") {
            continue;
        }
        if key.starts_with("urn:") {
            // An extension's object, or a fully-qualified attribute.
            if let Value::Object(inner) = value
                && (eq(key, ENTERPRISE_SCHEMA)
                    || matches!(mapping, SubjectAttribute::Custom { schema: Some(s), .. } if eq(s, key)))
            {
                for (name, v) in inner {
                    let t = target(Some(key), name, mapping).ok_or_else(|| {
                        ScimError::InvalidSyntax(format!(
                            "`{key}:{name}` is not an attribute revokd knows"
                        ))
                    })?;
                    set(fields, &t, name, v)?;
                }
                continue;
            }
            let path = parse_path(key, mapping)?;
            set(fields, &path, key, value)?;
            continue;
        }
        let t = target(None, key, mapping).ok_or_else(|| {
            ScimError::InvalidSyntax(format!("`{key}` is not an attribute of the User schema"))
        })?;
        set(fields, &t, key, value)?;
    }
    Ok(())
}

/// Reads a full User resource (POST, PUT). `id` and `meta` are ignored
/// (read-only); `active` defaults to true.
///
/// # Errors
/// Not an object, no core User schema in `schemas`, an unknown attribute,
/// a value of the wrong type, no `userName`.
pub fn parse_resource(body: &Value, mapping: &SubjectAttribute) -> Result<Fields, ScimError> {
    let Value::Object(members) = body else {
        return Err(ScimError::InvalidSyntax(
            "the body must be a JSON object".into(),
        ));
    };
    let schemas = members
        .iter()
        .find(|(k, _)| eq(k, "schemas"))
        .map(|(_, v)| v);
    let has_user_schema = matches!(schemas, Some(Value::Array(list))
        if list.iter().any(|s| s.as_str().is_some_and(|s| eq(s, USER_SCHEMA))));
    if !has_user_schema {
        return Err(ScimError::InvalidSyntax(format!(
            "`schemas` must list `{USER_SCHEMA}`"
        )));
    }
    // Every schema named must be one revokd reads.
    let known = |urn: &str| {
        eq(urn, USER_SCHEMA)
            || eq(urn, ENTERPRISE_SCHEMA)
            || matches!(mapping, SubjectAttribute::Custom { schema: Some(s), .. } if eq(s, urn))
    };
    if let Some(Value::Array(list)) = schemas
        && let Some(other) = list.iter().find(|s| !s.as_str().is_some_and(known))
    {
        return Err(ScimError::InvalidSyntax(format!(
            "`schemas` names {other}, which revokd does not serve"
        )));
    }
    let mut fields = Fields {
        user_name: String::new(),
        external_id: None,
        active: true,
        custom: None,
    };
    apply_members(&mut fields, members, mapping)?;
    if fields.user_name.is_empty() {
        return Err(ScimError::InvalidValue("`userName` is required".into()));
    }
    Ok(fields)
}

/// A PATCH `path`: an attribute, optionally qualified by its schema; a
/// sub-attribute (`name.givenName`) or a value filter (`emails[type eq
/// "work"].value`) of an attribute that is not kept is accepted as such.
fn parse_path(path: &str, mapping: &SubjectAttribute) -> Result<Target, ScimError> {
    let unknown = || ScimError::InvalidPath(format!("`{path}` names no attribute revokd knows"));
    let (schema, rest) = match path.rfind(':') {
        Some(at) if path.starts_with("urn:") => (Some(&path[..at]), &path[at + 1..]),
        Some(_) => return Err(unknown()),
        None => (None, path),
    };
    let schema = schema.filter(|s| !eq(s, USER_SCHEMA));
    let root_end = rest.find(['.', '[']).unwrap_or(rest.len());
    let (root, tail) = rest.split_at(root_end);
    let t = target(schema, root, mapping).ok_or_else(unknown)?;
    if !tail.is_empty() && !matches!(t, Target::Ignored) {
        return Err(ScimError::InvalidPath(format!(
            "`{path}`: `{root}` has no sub-attributes"
        )));
    }
    Ok(t)
}

/// Applies a PATCH request (RFC 7644 §3.5.2) to `fields`.
///
/// # Errors
/// Not a PatchOp, an unknown `op`, a `remove` without a path, an unknown
/// path, a value of the wrong type, a read-only or required attribute
/// touched the wrong way.
pub fn apply_patch(
    fields: &mut Fields,
    body: &Value,
    mapping: &SubjectAttribute,
) -> Result<(), ScimError> {
    let Value::Object(members) = body else {
        return Err(ScimError::InvalidSyntax(
            "the body must be a JSON object".into(),
        ));
    };
    let member = |name: &str| members.iter().find(|(k, _)| eq(k, name)).map(|(_, v)| v);
    let is_patch = matches!(member("schemas"), Some(Value::Array(list))
        if list.iter().any(|s| s.as_str() == Some(PATCH_SCHEMA)));
    if !is_patch {
        return Err(ScimError::InvalidSyntax(format!(
            "`schemas` must be [\"{PATCH_SCHEMA}\"]"
        )));
    }
    let Some(Value::Array(operations)) = member("Operations") else {
        return Err(ScimError::InvalidSyntax(
            "`Operations` must be an array of operations".into(),
        ));
    };
    if operations.is_empty() {
        return Err(ScimError::InvalidSyntax("`Operations` is empty".into()));
    }
    for operation in operations {
        let Value::Object(op) = operation else {
            return Err(ScimError::InvalidSyntax(
                "each operation must be an object".into(),
            ));
        };
        let get = |name: &str| op.iter().find(|(k, _)| eq(k, name)).map(|(_, v)| v);
        let kind = match get("op") {
            Some(Value::String(s)) if eq(s, "add") || eq(s, "replace") || eq(s, "remove") => {
                s.to_ascii_lowercase()
            }
            _ => {
                return Err(ScimError::InvalidSyntax(
                    "`op` must be \"add\", \"replace\" or \"remove\"".into(),
                ));
            }
        };
        let path = match get("path") {
            None | Some(Value::Null) => None,
            Some(Value::String(p)) => Some(p.as_str()),
            Some(_) => return Err(ScimError::InvalidPath("`path` must be a string".into())),
        };
        let value = get("value");
        match (kind.as_str(), path) {
            ("remove", None) => {
                return Err(ScimError::NoTarget(
                    "a `remove` needs a `path` (RFC 7644 §3.5.2.2)".into(),
                ));
            }
            ("remove", Some(path)) => match parse_path(path, mapping)? {
                Target::ExternalId => fields.external_id = None,
                Target::Ignored => {}
                Target::ReadOnly(name) => {
                    return Err(ScimError::Mutability(format!("`{name}` is read-only")));
                }
                Target::UserName | Target::Active | Target::Custom => {
                    return Err(ScimError::InvalidValue(format!(
                        "`{path}` cannot be removed; replace it instead"
                    )));
                }
            },
            (_, None) => {
                let Some(Value::Object(members)) = value else {
                    return Err(ScimError::InvalidValue(
                        "without a `path`, `value` must be an object of attributes".into(),
                    ));
                };
                apply_members(fields, members, mapping)?;
            }
            (_, Some(path)) => {
                let Some(value) = value else {
                    return Err(ScimError::InvalidValue(format!(
                        "`{path}`: `value` is missing"
                    )));
                };
                match parse_path(path, mapping)? {
                    Target::ReadOnly(name) => {
                        return Err(ScimError::Mutability(format!("`{name}` is read-only")));
                    }
                    Target::UserName if value.is_null() => {
                        return Err(ScimError::InvalidValue("`userName` is required".into()));
                    }
                    t => set(fields, &t, path, value)?,
                }
            }
        }
    }
    Ok(())
}

/// The `ETag` of a version (RFC 7644 §3.14: weak, opaque).
pub fn etag(version: u64) -> String {
    format!("W/\"{version}\"")
}

/// RFC 3339 in UTC, as `meta` gives instants.
pub fn timestamp(at: crate::domain::UnixTime) -> String {
    let secs = u64::try_from(at.as_secs()).unwrap_or(0);
    let time = std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs);
    humantime::format_rfc3339_seconds(time).to_string()
}

/// The resource of a stored user. `location` is the user's URL.
pub fn render(user: &crate::store::ScimUser, location: &str) -> Value {
    let mut out = json!({
        "schemas": [USER_SCHEMA],
        "id": user.id,
        "userName": user.user_name,
        "active": user.active,
        "meta": {
            "resourceType": "User",
            "created": timestamp(user.created),
            "lastModified": timestamp(user.last_modified),
            "location": location,
            "version": etag(user.version),
        },
    });
    if let Some(ext) = &user.external_id {
        out["externalId"] = Value::String(ext.clone());
    }
    out
}

/// Keeps the attributes of `attributes` (or drops those of `excluded`):
/// RFC 7644 §3.4.2.5, on top-level attributes; `id` and `schemas` are
/// always returned.
pub fn project(resource: &mut Value, attributes: &[String], excluded: &[String]) {
    let Value::Object(members) = resource else {
        return;
    };
    let root = |a: &str| {
        let a = a
            .strip_prefix(USER_SCHEMA)
            .and_then(|r| r.strip_prefix(':'))
            .unwrap_or(a);
        a.split('.').next().unwrap_or(a).to_owned()
    };
    let always = |k: &str| eq(k, "id") || eq(k, "schemas");
    if !attributes.is_empty() {
        let keep: Vec<String> = attributes.iter().map(|a| root(a)).collect();
        members.retain(|k, _| always(k) || keep.iter().any(|a| eq(a, k)));
    } else if !excluded.is_empty() {
        let drop: Vec<String> = excluded.iter().map(|a| root(a)).collect();
        members.retain(|k, _| always(k) || !drop.iter().any(|a| eq(a, k)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields() -> Fields {
        Fields {
            user_name: "alice@example.com".into(),
            external_id: Some("ext".into()),
            active: true,
            custom: None,
        }
    }

    fn patch(ops: Value) -> Value {
        json!({"schemas": [PATCH_SCHEMA], "Operations": ops})
    }

    fn patched(ops: Value) -> Result<Fields, ScimError> {
        let mut f = fields();
        apply_patch(&mut f, &patch(ops), &SubjectAttribute::ExternalId)?;
        Ok(f)
    }

    #[test]
    fn every_documented_shape_of_deactivation_sets_active_false() {
        for op in [
            // RFC 7644 §3.5.2.3 with a path.
            json!({"op": "replace", "path": "active", "value": false}),
            // Entra ID: capitalised op, the value as a string.
            json!({"op": "Replace", "path": "active", "value": "False"}),
            // Okta: no path, a value object.
            json!({"op": "replace", "value": {"active": false}}),
            // Entra ID also sends a value object with a string.
            json!({"op": "Replace", "value": {"active": "False"}}),
            json!({"op": "add", "path": "urn:ietf:params:scim:schemas:core:2.0:User:active", "value": false}),
        ] {
            let f = patched(json!([op.clone()])).unwrap();
            assert!(!f.active, "{op}");
        }
    }

    #[test]
    fn attributes_not_kept_are_accepted() {
        let f = patched(json!([
            {"op": "Replace", "path": "displayName", "value": "Alice"},
            {"op": "Add", "path": "emails[type eq \"work\"].value", "value": "a@b"},
            {"op": "Replace", "path": "name.familyName", "value": "A"},
            {"op": "Replace", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager", "value": {"value": "x"}},
            {"op": "Remove", "path": "title"},
        ]))
        .unwrap();
        assert_eq!(f, fields());
    }

    #[test]
    fn each_broken_patch_rule_has_its_scim_type() {
        let cases = [
            (json!([{"op": "remove"}]), "noTarget"),
            (
                json!([{"op": "replace", "path": "nonsense", "value": 1}]),
                "invalidPath",
            ),
            (
                json!([{"op": "replace", "path": "userName.x", "value": "a"}]),
                "invalidPath",
            ),
            (
                json!([{"op": "replace", "path": "active", "value": "maybe"}]),
                "invalidValue",
            ),
            (
                json!([{"op": "replace", "path": "active", "value": 0}]),
                "invalidValue",
            ),
            (
                json!([{"op": "replace", "path": "id", "value": "x"}]),
                "mutability",
            ),
            (
                json!([{"op": "remove", "path": "userName"}]),
                "invalidValue",
            ),
            (json!([{"op": "move", "path": "active"}]), "invalidSyntax"),
            (
                json!([{"op": "replace", "value": {"bogus": 1}}]),
                "invalidSyntax",
            ),
            (json!([{"op": "replace", "value": true}]), "invalidValue"),
            (json!([]), "invalidSyntax"),
            (
                json!([{"op": "replace", "path": "userName", "value": "x".repeat(257)}]),
                "invalidValue",
            ),
        ];
        for (ops, scim_type) in cases {
            let err = patched(ops.clone()).unwrap_err();
            assert_eq!(err.scim_type(), Some(scim_type), "{ops}: {err}");
        }
        let mut f = fields();
        let err = apply_patch(
            &mut f,
            &json!({"Operations": []}),
            &SubjectAttribute::ExternalId,
        )
        .unwrap_err();
        assert_eq!(err.scim_type(), Some("invalidSyntax"));
    }

    #[test]
    fn a_resource_is_read_with_its_extension_and_mapped_attribute() {
        let mapping = SubjectAttribute::parse(
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber",
        )
        .unwrap();
        let body = json!({
            "schemas": [USER_SCHEMA, ENTERPRISE_SCHEMA],
            "userName": "bob",
            "active": "False",
            "name": {"givenName": "Bob"},
            "id": "ignored",
            ENTERPRISE_SCHEMA: {"employeeNumber": "e-42", "department": "x"},
        });
        let f = parse_resource(&body, &mapping).unwrap();
        assert_eq!(f.user_name, "bob");
        assert!(!f.active);
        assert_eq!(f.sub(&mapping).unwrap(), "e-42");
        assert!(
            f.sub(&SubjectAttribute::ExternalId).is_err(),
            "no externalId to map"
        );
    }

    #[test]
    fn a_broken_resource_is_refused_with_its_scim_type() {
        let m = SubjectAttribute::ExternalId;
        let cases = [
            (json!([]), "invalidSyntax"),
            (json!({"userName": "a"}), "invalidSyntax"),
            (json!({"schemas": [USER_SCHEMA]}), "invalidValue"),
            (
                json!({"schemas": [USER_SCHEMA], "userName": 5}),
                "invalidValue",
            ),
            (
                json!({"schemas": [USER_SCHEMA], "userName": "a", "shoeSize": 5}),
                "invalidSyntax",
            ),
            (
                json!({"schemas": [USER_SCHEMA], "userName": "a", "urn:x:y": 5}),
                "invalidPath",
            ),
        ];
        for (body, scim_type) in cases {
            let err = parse_resource(&body, &m).unwrap_err();
            assert_eq!(err.scim_type(), Some(scim_type), "{body}: {err}");
        }
    }
}
