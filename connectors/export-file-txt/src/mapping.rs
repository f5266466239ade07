//! What a text export lists and what each line writes, as the Python
//! connector decides them (pure, no I/O).

use opencti_connector::listen;
use serde_json::{Value, json};

/// Listed types the Python connector refuses to write as text.
const REFUSED_TYPES: &[&str] = &[
    "stix-sighting-relationship",
    "stix-core-relationship",
    "Observed-Data",
    "Artifact",
    "Note",
    "Opinion",
];

/// Whether the Python connector refuses to export lists of this type.
pub fn is_refused(entity_type: &str) -> bool {
    REFUSED_TYPES.contains(&entity_type)
}

/// Which list a query export reads (pycti's `export_entities_list`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Listing {
    /// Every observable (whatever observable type is listed).
    Observables,
    /// Every core object.
    CoreObjects,
    /// Domain objects of these types (every domain object when `None`).
    DomainObjects(Option<String>),
}

impl Listing {
    /// The list read for a listed type: identities and locations as a
    /// whole, observables as a whole, containers as domain objects.
    pub fn of(entity_type: &str) -> Self {
        if listen::is_observable_entity_type(entity_type) {
            return Self::Observables;
        }
        match entity_type {
            "Stix-Core-Object" => Self::CoreObjects,
            "Stix-Domain-Object" | "Container" => Self::DomainObjects(None),
            // Identities and locations are listed as a whole.
            other => {
                let listed = listen::abstract_entity_type(other).unwrap_or(other);
                Self::DomainObjects(Some(listed.to_owned()))
            }
        }
    }
}

/// What each line of the file is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Column {
    /// The observable's value (a list of `Stix-Cyber-Observable`).
    ObservableValue,
    /// A malware analysis's result name.
    ResultName,
    /// The entity's name (every other list).
    Name,
}

impl Column {
    /// The column written for a listed type.
    pub fn of(entity_type: &str) -> Self {
        match entity_type {
            "Stix-Cyber-Observable" => Self::ObservableValue,
            "Malware-Analysis" => Self::ResultName,
            _ => Self::Name,
        }
    }

    fn key(self) -> &'static str {
        match self {
            Self::ObservableValue => "observable_value",
            Self::ResultName => "result_name",
            Self::Name => "name",
        }
    }
}

/// The file: one line per row that has the column (rows of other types
/// have none), joined by newlines without a final one. A name read under
/// its `name_alt` alias counts as the name.
pub fn lines(rows: &[Value], column: Column) -> String {
    rows.iter()
        .filter_map(|row| {
            let value = row.get(column.key()).or_else(|| match column {
                Column::Name => row.get("name_alt"),
                _ => None,
            });
            value?.as_str()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The filter of a query export: the list's filters within the access
/// filter, as the Python connector combines them (the access filter alone
/// when the list has none, the list's alone when the access filter is
/// empty).
pub fn query_filters(list_filters: Option<&Value>, access: Option<&Value>) -> Option<Value> {
    let access_is_empty = access
        .and_then(|a| a.get("filters"))
        .and_then(Value::as_array)
        .is_none_or(Vec::is_empty);
    match (list_filters, access) {
        (Some(list), Some(access)) if !access_is_empty => Some(json!({
            "mode": "and",
            "filterGroups": [list, access],
            "filters": [],
        })),
        _ if access_is_empty => list_filters.cloned(),
        _ => access.cloned(),
    }
}

/// The order of a whole-list read: `created_at` descending unless the
/// list is ordered by something else than relevance.
pub fn order<'a>(
    order_by: Option<&'a str>,
    order_mode: Option<&'a str>,
) -> (&'a str, Option<&'a str>) {
    match order_by {
        Some(by) if by != "_score" => (by, order_mode),
        _ => ("created_at", order_mode.or(Some("desc"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_filters_and_the_access_filter_combine_as_in_python() {
        let list = json!({"mode": "and", "filters": [{"key": "entity_type", "values": ["Url"]}], "filterGroups": []});
        let empty = json!({"mode": "and", "filters": [], "filterGroups": []});
        let access = json!({"mode": "and", "filters": [{"key": "objectMarking", "values": ["m"]}], "filterGroups": []});
        assert_eq!(query_filters(Some(&list), Some(&empty)), Some(list.clone()));
        assert_eq!(query_filters(None, Some(&empty)), None);
        assert_eq!(query_filters(None, Some(&access)), Some(access.clone()));
        assert_eq!(
            query_filters(Some(&list), Some(&access)).unwrap()["filterGroups"],
            json!([list, access])
        );
    }

    #[test]
    fn rows_without_the_column_write_no_line() {
        let rows = vec![
            json!({"name": "a"}),
            json!({"observable_value": "x"}),
            json!({"name": null}),
            json!({"name": "b"}),
        ];
        assert_eq!(lines(&rows, Column::Name), "a\nb");
        assert_eq!(lines(&rows, Column::ObservableValue), "x");
        assert_eq!(Listing::of("IPv4-Addr"), Listing::Observables);
        assert_eq!(
            Listing::of("Organization"),
            Listing::DomainObjects(Some("Identity".to_owned()))
        );
        assert_eq!(order(None, None), ("created_at", Some("desc")));
        assert_eq!(order(Some("name"), Some("asc")), ("name", Some("asc")));
    }
}
