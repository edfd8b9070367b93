use super::*;
use serde_json::json;

fn rows() -> Vec<Map<String, Value>> {
    [
        json!({"objectId": "a", "score": 3, "name": "x", "tags": ["red"],
               "user": {"__type": "Pointer", "className": "_User", "objectId": "u1"}}),
        json!({"objectId": "b", "score": 1, "name": "y", "tags": ["blue"]}),
        json!({"objectId": "c", "score": 2, "name": "x",
               "user": {"__type": "Pointer", "className": "_User", "objectId": "u2"}}),
    ]
    .into_iter()
    .map(|v| v.as_object().unwrap().clone())
    .collect()
}

fn ids(params: Value) -> Vec<String> {
    let options = FindOptions::from_params(params.as_object().unwrap().clone()).unwrap();
    options.run(rows())["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["objectId"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn equality_pointers_arrays_and_strings_from_urls() {
    assert_eq!(ids(json!({"where": {"name": "x"}})), ["a", "c"]);
    assert_eq!(ids(json!({"where": "{\"name\":\"y\"}"})), ["b"]);
    assert_eq!(
        ids(
            json!({"where": {"user": {"__type": "Pointer", "className": "_User", "objectId": "u2"}}})
        ),
        ["c"]
    );
    assert_eq!(ids(json!({"where": {"tags": "red"}})), ["a"]);
}

#[test]
fn operators_order_skip_limit() {
    assert_eq!(
        ids(json!({"where": {"score": {"$gte": 2}}, "order": "-score"})),
        ["a", "c"]
    );
    assert_eq!(
        ids(json!({"order": "score", "skip": "1", "limit": 1})),
        ["c"]
    );
    assert_eq!(ids(json!({"where": {"user": {"$exists": false}}})), ["b"]);
    assert_eq!(
        ids(json!({"where": {"$or": [{"name": "y"}, {"score": 3}]}, "order": "name,-score"})),
        ["a", "b"]
    );
    assert_eq!(
        ids(json!({"where": {"objectId": {"$in": ["a", "c"]}, "name": {"$ne": "x"}}})),
        Vec::<String>::new()
    );
}

#[test]
fn count_and_keys() {
    let options = FindOptions::from_params(
        json!({"count": 1, "limit": 0, "keys": "name"})
            .as_object()
            .unwrap()
            .clone(),
    )
    .unwrap();
    assert_eq!(options.run(rows()), json!({"results": [], "count": 3}));
    let options = FindOptions::from_params(
        json!({"keys": "name", "limit": 1})
            .as_object()
            .unwrap()
            .clone(),
    )
    .unwrap();
    assert_eq!(
        options.run(rows()),
        json!({"results": [{"objectId": "a", "name": "x"}]})
    );
}

#[test]
fn bad_queries_name_the_problem() {
    for (params, code) in [
        (json!({"bogus": 1}), Code::InvalidQuery),
        (json!({"where": "{not json"}), Code::InvalidJson),
        (json!({"where": {"a": {"$regex": "x"}}}), Code::InvalidQuery),
        (json!({"limit": -1}), Code::InvalidQuery),
        (json!({"where": [1]}), Code::InvalidJson),
    ] {
        let err = FindOptions::from_params(params.as_object().unwrap().clone()).unwrap_err();
        assert_eq!(err.code(), Some(code as u32), "{params}");
    }
}

fn where_error(filter: Value) -> Option<u32> {
    let mut params = Map::new();
    params.insert("where".into(), filter);
    FindOptions::from_params(params)
        .err()
        .and_then(|e| e.code())
}

#[test]
fn where_cost_is_bounded() {
    let many: Vec<u32> = (0..=MAX_LIST_VALUES as u32).collect();
    assert_eq!(where_error(json!({"score": {"$in": many}})), Some(102));
    assert_eq!(where_error(json!({"score": {"$nin": many}})), Some(102));
    assert_eq!(where_error(json!({"score": {"$in": many[..100]}})), None);
    let mut nested = json!({"score": 1});
    for _ in 0..=MAX_DEPTH {
        nested = json!({"$or": [nested]});
    }
    assert_eq!(where_error(nested), Some(102));
    let wide: Map<String, Value> = (0..=MAX_TERMS)
        .map(|i| (format!("f{i}"), json!(1)))
        .collect();
    assert_eq!(where_error(Value::Object(wide)), Some(102));
    let huge = json!({"name": "x".repeat(MAX_WHERE_BYTES)});
    assert_eq!(where_error(Value::String(huge.to_string())), Some(102));
}
