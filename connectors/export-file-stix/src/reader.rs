//! Reads what an export needs from the platform, as the asking user (the
//! job's client): entities by id or filters with their type's document,
//! lists, relationships and sightings of an object, nested references, and
//! the objects a filter lets through. Lists are read a page at a time, within
//! [`MAX_LISTED`] objects, stopping when the job is cancelled.

use opencti_connector::api::{ApiClient, ApiError};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::documents;
use crate::mapping::{Object, process_multiple_fields};

/// Page size of list reads (pycti's default for these lists).
const PAGE_SIZE: u64 = 100;
/// Most objects one list read returns; a longer list fails the export
/// rather than growing without bound.
pub const MAX_LISTED: usize = 1_000_000;

/// Why reading the platform failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReadError {
    /// The platform refused or failed a query.
    #[error(transparent)]
    Platform(#[from] ApiError),
    /// A list went on past [`MAX_LISTED`] objects.
    #[error("the platform's `{field}` list goes on past {MAX_LISTED} objects")]
    TooLong {
        /// The list query.
        field: &'static str,
    },
    /// An answer lacked what the query selects.
    #[error("the platform's `{field}` answer is not a connection")]
    Shape {
        /// The query.
        field: &'static str,
    },
    /// The job was cancelled (shutdown).
    #[error("the export was interrupted by shutdown")]
    Cancelled,
}

/// The platform, read for one export job.
#[derive(Debug, Clone, Copy)]
pub struct Reader<'a> {
    api: &'a ApiClient,
    shutdown: &'a CancellationToken,
}

impl<'a> Reader<'a> {
    /// Reads with `api`, giving up when `shutdown` fires.
    pub fn new(api: &'a ApiClient, shutdown: &'a CancellationToken) -> Self {
        Self { api, shutdown }
    }

    async fn query(&self, document: &str, variables: Value) -> Result<Value, ReadError> {
        tokio::select! {
            () = self.shutdown.cancelled() => Err(ReadError::Cancelled),
            answer = self.api.query::<Value>(document, variables) => Ok(answer?),
        }
    }

    /// One entity by id with a read document whose root field is `field`
    /// (`None`: missing or not visible).
    pub async fn by_id(
        &self,
        document: &str,
        field: &'static str,
        id: &str,
    ) -> Result<Option<Object>, ReadError> {
        let data = self.query(document, json!({"id": id})).await?;
        Ok(data
            .get(field)
            .and_then(Value::as_object)
            .cloned()
            .map(processed))
    }

    /// Every node of a list query, page after page.
    async fn all(
        &self,
        document: &str,
        field: &'static str,
        mut variables: Value,
    ) -> Result<Vec<Object>, ReadError> {
        let mut nodes = Vec::new();
        let mut after = Value::Null;
        loop {
            variables["first"] = json!(PAGE_SIZE);
            variables["after"] = after;
            let data = self.query(document, variables.clone()).await?;
            let connection = data.get(field).ok_or(ReadError::Shape { field })?;
            let edges = connection
                .get("edges")
                .and_then(Value::as_array)
                .ok_or(ReadError::Shape { field })?;
            nodes.extend(
                edges
                    .iter()
                    .filter_map(|edge| edge.get("node")?.as_object().cloned())
                    .map(processed),
            );
            if nodes.len() > MAX_LISTED {
                return Err(ReadError::TooLong { field });
            }
            let page = connection.get("pageInfo");
            let more = page
                .and_then(|p| p.get("hasNextPage"))
                .and_then(Value::as_bool)
                .unwrap_or(false);
            after = page
                .and_then(|p| p.get("endCursor"))
                .cloned()
                .unwrap_or(Value::Null);
            if !more || after.is_null() {
                return Ok(nodes);
            }
        }
    }

    /// The first node of a list query's first page.
    async fn first(
        &self,
        document: &str,
        field: &'static str,
        mut variables: Value,
    ) -> Result<Option<Object>, ReadError> {
        variables["first"] = json!(PAGE_SIZE);
        let data = self.query(document, variables).await?;
        let edges = data
            .get(field)
            .and_then(|c| c.get("edges"))
            .and_then(Value::as_array)
            .ok_or(ReadError::Shape { field })?;
        Ok(edges
            .first()
            .and_then(|edge| edge.get("node")?.as_object().cloned())
            .map(processed))
    }

    /// Every entity of a list document whose root field is `field`, by
    /// search and filters, ordered.
    pub async fn list(
        &self,
        document: &str,
        field: &'static str,
        search: Option<&Value>,
        filters: Option<&Value>,
        order_by: Option<&str>,
        order_mode: Option<&str>,
    ) -> Result<Vec<Object>, ReadError> {
        let variables = json!({"search": search, "filters": filters, "orderBy": order_by,
                               "orderMode": order_mode});
        self.all(document, field, variables).await
    }

    /// The first entity of a list document a filter lets through.
    pub async fn first_by_filters(
        &self,
        document: &str,
        field: &'static str,
        filters: &Value,
    ) -> Result<Option<Object>, ReadError> {
        self.first(document, field, json!({"filters": filters}))
            .await
    }

    /// Whether a filter lets anything through.
    pub async fn any(&self, filters: &Value) -> Result<bool, ReadError> {
        let data = self
            .query(
                documents::LIST_OBJECTS_OR_RELATIONSHIPS,
                json!({"filters": filters, "first": 1}),
            )
            .await?;
        let field = "stixObjectOrStixRelationships";
        let edges = data
            .get(field)
            .and_then(|c| c.get("edges"))
            .and_then(Value::as_array)
            .ok_or(ReadError::Shape { field })?;
        Ok(!edges.is_empty())
    }

    /// Every object or relationship a filter lets through (id and types).
    pub async fn objects(&self, filters: Option<&Value>) -> Result<Vec<Object>, ReadError> {
        self.all(
            documents::LIST_OBJECTS_OR_RELATIONSHIPS,
            "stixObjectOrStixRelationships",
            json!({"filters": filters}),
        )
        .await
    }

    /// The core relationships from or to an object.
    pub async fn relationships(
        &self,
        id: &str,
        filters: Option<&Value>,
    ) -> Result<Vec<Object>, ReadError> {
        self.all(
            documents::LIST_RELATIONSHIPS,
            "stixCoreRelationships",
            json!({"fromOrToId": id, "filters": filters}),
        )
        .await
    }

    /// The sightings of, or where, an object.
    pub async fn sightings(
        &self,
        id: &str,
        filters: Option<&Value>,
    ) -> Result<Vec<Object>, ReadError> {
        self.all(
            documents::LIST_SIGHTINGS,
            "stixSightingRelationships",
            json!({"fromOrToId": id, "filters": filters}),
        )
        .await
    }

    /// The nested references from an object: `(relationship type, target
    /// standard id)`.
    pub async fn nested_refs(
        &self,
        id: &str,
        filters: Option<&Value>,
    ) -> Result<Vec<(String, String)>, ReadError> {
        let nodes = self
            .all(
                documents::LIST_NESTED_REFS,
                "stixNestedRefRelationships",
                json!({"fromId": id, "filters": filters}),
            )
            .await?;
        Ok(nodes
            .iter()
            .filter_map(|node| {
                let kind = node.get("relationship_type")?.as_str()?;
                let target = node.get("to")?.get("standard_id")?.as_str()?;
                Some((kind.to_owned(), target.to_owned()))
            })
            .collect())
    }
}

fn processed(mut object: Object) -> Object {
    process_multiple_fields(&mut object);
    object
}
