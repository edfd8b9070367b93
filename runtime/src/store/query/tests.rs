use serde_json::json;

use super::*;
use crate::store::{ObjectRecord, Store};

fn filter(clauses: Vec<Clause>) -> Query {
    Query {
        filter: Filter(clauses),
        order: vec![SortKey {
            key: "n".into(),
            descending: false,
        }],
        skip: 0,
        limit: 100,
        count: true,
    }
}

fn equal(key: &str, value: Value) -> Clause {
    Clause::Field(key.into(), vec![Condition::Equal(value)])
}

async fn store_with(objects: &[Value]) -> Store {
    let store = Store::in_memory().unwrap();
    for (i, fields) in objects.iter().enumerate() {
        let object = ObjectRecord {
            object_id: format!("o{i}"),
            fields: fields.as_object().unwrap().clone(),
            created_at: i as i64,
            updated_at: i as i64,
        };
        store.create_object("Thing", &object).await.unwrap();
    }
    store
}

async fn ids(store: &Store, query: &Query, reader: &Reader) -> (Vec<String>, Option<u64>) {
    let found = store.find_objects("Thing", query, reader).await.unwrap();
    let ids = found.rows.into_iter().map(|o| o.object_id).collect();
    (ids, found.count)
}

#[tokio::test]
async fn hidden_rows_never_reach_a_page_or_a_count() {
    let store = store_with(&[
        json!({"n": 1}),
        json!({"n": 2, "ACL": {"u1": {"read": true}}}),
        json!({"n": 3, "ACL": {"*": {"read": false}, "u2": {"read": true}}}),
        json!({"n": 4, "ACL": {"*": {"read": true}}}),
        json!({"n": 5, "ACL": {"u1": {"read": "true"}}}),
    ])
    .await;
    let mut query = filter(vec![]);
    let anonymous = ids(&store, &query, &Reader::User(None)).await;
    assert_eq!(anonymous, (vec!["o0".into(), "o3".into()], Some(2)));
    let u1 = ids(&store, &query, &Reader::User(Some("u1".into()))).await;
    assert_eq!(u1.0, ["o0", "o1", "o3"], "only a JSON true grants");
    query.skip = 1;
    query.limit = 1;
    let paged = ids(&store, &query, &Reader::User(Some("u2".into()))).await;
    assert_eq!(
        paged,
        (vec!["o2".into()], Some(3)),
        "skip counts readable rows only"
    );
    let master = ids(&store, &filter(vec![]), &Reader::Master).await;
    assert_eq!(master.1, Some(5));
}

#[tokio::test]
async fn values_and_keys_cannot_escape_into_sql() {
    let store = store_with(&[
        json!({"n": 1, "s": "x' OR '1'='1"}),
        json!({"n": 2, "s": "y"}),
    ])
    .await;
    let reader = Reader::User(Some("\" OR 1=1 --".into()));
    let quoted = filter(vec![equal("s", json!("x' OR '1'='1"))]);
    assert_eq!(ids(&store, &quoted, &reader).await.0, ["o0"]);
    let injected = filter(vec![equal("s", json!("' OR 1=1 --"))]);
    assert_eq!(
        ids(&store, &injected, &reader).await.0,
        Vec::<String>::new()
    );
    for key in ["s') OR 1=1 --", "s\"", "a.b", "$where", ""] {
        let by_key = filter(vec![Clause::Field(
            key.into(),
            vec![Condition::Exists(true)],
        )]);
        assert_eq!(
            ids(&store, &by_key, &reader).await.0,
            Vec::<String>::new(),
            "{key}"
        );
    }
}

#[test]
fn numbers_compare_as_numbers_and_kinds_never_mix() {
    let row = |v: Value| json!({ "v": v }).as_object().unwrap().clone();
    let holds =
        |c: Condition, v: Value| Filter(vec![Clause::Field("v".into(), vec![c])]).matches(&row(v));
    assert!(holds(Condition::Equal(json!(2)), json!(2.0)));
    assert!(!holds(Condition::Equal(json!("2")), json!(2)));
    assert!(holds(
        Condition::Compare(Ordering::Less, false, json!(10)),
        json!(9.5)
    ));
    assert!(!holds(
        Condition::Compare(Ordering::Less, false, json!("10")),
        json!(9)
    ));
    assert!(holds(Condition::NotEqual(json!(null)), json!(false)));
    assert!(holds(Condition::Equal(json!("a")), json!(["b", "a"])));
    let date = json!({"__type": "Date", "iso": "2024-01-01T00:00:00.000Z"});
    assert!(holds(
        Condition::Compare(Ordering::Greater, false, json!("2023")),
        date
    ));
    assert_eq!(
        compare_for_sort(None, Some(&json!(false))),
        Ordering::Less,
        "missing sorts first"
    );
    assert_eq!(
        compare_for_sort(Some(&json!(1)), Some(&json!("0"))),
        Ordering::Less
    );
}

fn pointer(id: &str) -> Value {
    json!({"__type": "Pointer", "className": "_User", "objectId": id})
}

#[tokio::test]
async fn finds_by_pointer_follow_creates_updates_and_deletes() {
    let store = store_with(&[
        json!({"n": 0, "owner": pointer("u1")}),
        json!({"n": 1, "owners": [pointer("u1"), pointer("u2")]}),
        json!({"n": 2, "owner": "_User$u1", "owners": [["_User$u2"]]}),
    ])
    .await;
    let by = |key: &str, id: &str| filter(vec![equal(key, pointer(id))]);
    let master = Reader::Master;
    assert_eq!(ids(&store, &by("owner", "u1"), &master).await.0, ["o0"]);
    assert_eq!(ids(&store, &by("owners", "u2"), &master).await.0, ["o1"]);
    store
        .update_object("Thing", "o0", |o| {
            o.fields.insert("owner".into(), pointer("u2"));
            Ok::<_, crate::store::StoreError>(())
        })
        .await
        .unwrap();
    assert_eq!(
        ids(&store, &by("owner", "u1"), &master).await.0,
        Vec::<String>::new()
    );
    assert_eq!(ids(&store, &by("owner", "u2"), &master).await.0, ["o0"]);
    store
        .delete_object("Thing", "o1", |_| Ok::<_, crate::store::StoreError>(()))
        .await
        .unwrap();
    assert_eq!(
        ids(&store, &by("owners", "u2"), &master).await.0,
        Vec::<String>::new()
    );
    let either = filter(vec![Clause::Field(
        "owner".into(),
        vec![Condition::In(vec![pointer("u1"), pointer("u2")])],
    )]);
    assert_eq!(ids(&store, &either, &master).await.0, ["o0"]);
}
