//! The one route table.
//!
//! `shared::handlers::ROUTES` (what the functions accept) is the reference;
//! the local router of `cargo lambda watch` (`[workspace.metadata.lambda.watch.router]`
//! in Cargo.toml), the HttpApi events of `template.yaml` and `openapi.yaml`
//! (when present) must list exactly the same routes. Also checks that every
//! package under `functions/` is deployed by the template under its own name.

use std::collections::BTreeSet;
use std::fmt::Debug;
use std::path::{Path, PathBuf};

use serde_yaml_ng::Value;

/// (METHOD, path template, function name).
type RouteKey = (String, String, String);

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

fn read(relative: &str) -> String {
    let path = root().join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

fn assert_same<T: Ord + Debug>(a_name: &str, a: &BTreeSet<T>, b_name: &str, b: &BTreeSet<T>) {
    if a != b {
        let only_a: Vec<_> = a.difference(b).collect();
        let only_b: Vec<_> = b.difference(a).collect();
        panic!(
            "{a_name} and {b_name} disagree\n  only in {a_name}: {only_a:?}\n  only in {b_name}: {only_b:?}"
        );
    }
}

/// The routes the functions accept.
fn code_routes() -> BTreeSet<RouteKey> {
    let routes: BTreeSet<RouteKey> = shared::handlers::ROUTES
        .iter()
        .map(|(function, route)| {
            (
                route.method.to_ascii_uppercase(),
                route.template.to_owned(),
                (*function).to_owned(),
            )
        })
        .collect();
    assert_eq!(
        routes.len(),
        shared::handlers::ROUTES.len(),
        "shared::handlers::ROUTES lists a route twice"
    );
    routes
}

/// `[workspace.metadata.lambda.watch.router]` of the root Cargo.toml.
fn watch_routes() -> BTreeSet<RouteKey> {
    let manifest = toml::Value::Table(read("Cargo.toml").parse().expect("Cargo.toml parses"));
    let router = ["workspace", "metadata", "lambda", "watch", "router"]
        .iter()
        .try_fold(&manifest, |value, key| value.get(key))
        .and_then(toml::Value::as_table)
        .expect("Cargo.toml has [workspace.metadata.lambda.watch.router]");
    let mut routes = BTreeSet::new();
    for (path, targets) in router {
        let targets = targets.as_array().unwrap_or_else(|| {
            panic!("watch router {path}: expected an array of {{ method, function }}")
        });
        for target in targets {
            let function = target
                .get("function")
                .and_then(toml::Value::as_str)
                .unwrap_or_else(|| panic!("watch router {path}: entry without function"));
            let methods: Vec<&str> = match target.get("method") {
                Some(toml::Value::String(m)) => vec![m.as_str()],
                Some(toml::Value::Array(ms)) => ms.iter().filter_map(toml::Value::as_str).collect(),
                _ => panic!("watch router {path}: entry without method"),
            };
            for method in methods {
                let new = routes.insert((
                    method.to_ascii_uppercase(),
                    path.clone(),
                    function.to_owned(),
                ));
                assert!(new, "watch router lists {method} {path} twice");
            }
        }
    }
    routes
}

/// Looks through YAML tags (`!Ref x` reads as `x`).
fn untag(value: &Value) -> &Value {
    match value {
        Value::Tagged(tagged) => untag(&tagged.value),
        other => other,
    }
}

fn field<'a>(value: &'a Value, key: &str) -> Option<&'a Value> {
    untag(value).get(key).map(untag)
}

fn string_field<'a>(value: &'a Value, key: &str, what: &str) -> &'a str {
    field(value, key)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("{what}: {key} is missing or not a plain string"))
}

fn template() -> Value {
    serde_yaml_ng::from_str(&read("template.yaml")).expect("template.yaml is valid YAML")
}

/// A function resource of the template.
struct TemplateFunction {
    logical_id: String,
    binary: String,
    /// (METHOD, path) of its HttpApi events.
    http: Vec<(String, String)>,
    /// Ids of its Schedule / ScheduleV2 events.
    schedules: Vec<String>,
    /// Patterns of its EventBridgeRule events.
    rules: Vec<Value>,
    properties: Value,
}

fn resources(template: &Value) -> Vec<(String, Value)> {
    field(template, "Resources")
        .and_then(Value::as_mapping)
        .expect("template.yaml has Resources")
        .iter()
        .map(|(id, resource)| {
            let id = id.as_str().expect("resource ids are strings").to_owned();
            (id, untag(resource).clone())
        })
        .collect()
}

fn template_functions(template: &Value) -> Vec<TemplateFunction> {
    let apis: Vec<String> = resources(template)
        .into_iter()
        .filter(|(_, r)| {
            field(r, "Type").and_then(Value::as_str) == Some("AWS::Serverless::HttpApi")
        })
        .map(|(id, _)| id)
        .collect();
    assert_eq!(
        apis.len(),
        1,
        "template.yaml must have exactly one AWS::Serverless::HttpApi, has {apis:?}"
    );
    let api = &apis[0];

    let mut functions = Vec::new();
    for (id, resource) in resources(template) {
        if field(&resource, "Type").and_then(Value::as_str) != Some("AWS::Serverless::Function") {
            continue;
        }
        let metadata = field(&resource, "Metadata").unwrap_or_else(|| panic!("{id}: no Metadata"));
        assert_eq!(
            string_field(metadata, "BuildMethod", &id),
            "rust-cargolambda",
            "{id}: Metadata.BuildMethod"
        );
        let build = field(metadata, "BuildProperties")
            .unwrap_or_else(|| panic!("{id}: no Metadata.BuildProperties"));
        let binary = string_field(build, "Binary", &id).to_owned();
        let properties = field(&resource, "Properties")
            .cloned()
            .unwrap_or_else(|| panic!("{id}: no Properties"));
        let mut http = Vec::new();
        let mut schedules = Vec::new();
        let mut rules = Vec::new();
        if let Some(events) = field(&properties, "Events").and_then(Value::as_mapping) {
            for (event_id, event) in events {
                let event_id = event_id.as_str().unwrap_or("?");
                let what = format!("{id}.Events.{event_id}");
                let props =
                    field(event, "Properties").unwrap_or_else(|| panic!("{what}: no Properties"));
                match string_field(event, "Type", &what) {
                    "HttpApi" => {
                        let api_ref = field(props, "ApiId").and_then(|v| field(v, "Ref"));
                        assert_eq!(
                            api_ref.and_then(Value::as_str),
                            Some(api.as_str()),
                            "{what}: ApiId must be {{ Ref: {api} }}"
                        );
                        http.push((
                            string_field(props, "Method", &what).to_ascii_uppercase(),
                            string_field(props, "Path", &what).to_owned(),
                        ));
                    }
                    "Schedule" | "ScheduleV2" => schedules.push(event_id.to_owned()),
                    "EventBridgeRule" => rules.push(
                        field(props, "Pattern")
                            .cloned()
                            .unwrap_or_else(|| panic!("{what}: no Pattern")),
                    ),
                    other => panic!("{what}: unexpected event type {other}"),
                }
            }
        }
        functions.push(TemplateFunction {
            logical_id: id,
            binary,
            http,
            schedules,
            rules,
            properties,
        });
    }
    functions
}

fn template_routes(functions: &[TemplateFunction]) -> BTreeSet<RouteKey> {
    let mut routes = BTreeSet::new();
    for function in functions {
        for (method, path) in &function.http {
            let new = routes.insert((method.clone(), path.clone(), function.binary.clone()));
            assert!(new, "template.yaml routes {method} {path} twice");
        }
    }
    routes
}

/// Names of the packages under functions/.
fn function_packages() -> BTreeSet<String> {
    let dir = root().join("functions");
    let mut names = BTreeSet::new();
    for entry in std::fs::read_dir(&dir).expect("functions/ exists") {
        let manifest = entry
            .expect("readable functions/ entry")
            .path()
            .join("Cargo.toml");
        if !manifest.is_file() {
            continue;
        }
        let text = std::fs::read_to_string(&manifest).expect("readable Cargo.toml");
        let table: toml::Table = text.parse().expect("function Cargo.toml parses");
        let name = table
            .get("package")
            .and_then(|p| p.get("name"))
            .and_then(toml::Value::as_str)
            .unwrap_or_else(|| panic!("{}: no package.name", manifest.display()));
        names.insert(name.to_owned());
    }
    assert!(!names.is_empty(), "no packages under functions/");
    names
}

#[test]
fn watch_router_matches_the_code() {
    assert_same(
        "shared::handlers::ROUTES",
        &code_routes(),
        "Cargo.toml [workspace.metadata.lambda.watch.router]",
        &watch_routes(),
    );
}

#[test]
fn template_routes_match_the_code() {
    let functions = template_functions(&template());
    assert_same(
        "shared::handlers::ROUTES",
        &code_routes(),
        "template.yaml HttpApi events",
        &template_routes(&functions),
    );
}

#[test]
fn openapi_matches_the_code() {
    let path = root().join("openapi.yaml");
    if !path.exists() {
        println!("note: openapi.yaml does not exist yet; skipping the OpenAPI comparison");
        return;
    }
    let doc: Value =
        serde_yaml_ng::from_str(&read("openapi.yaml")).expect("openapi.yaml is valid YAML");
    let paths = field(&doc, "paths")
        .and_then(Value::as_mapping)
        .expect("openapi.yaml has paths");
    const METHODS: [&str; 8] = [
        "get", "put", "post", "delete", "options", "head", "patch", "trace",
    ];
    let mut documented = BTreeSet::new();
    for (path, item) in paths {
        let path = path.as_str().expect("OpenAPI paths are strings");
        let item = untag(item)
            .as_mapping()
            .unwrap_or_else(|| panic!("openapi.yaml {path}: not a map"));
        for key in item.keys().filter_map(Value::as_str) {
            if METHODS.contains(&key) {
                documented.insert((key.to_ascii_uppercase(), path.to_owned()));
            }
        }
    }
    let code: BTreeSet<(String, String)> = code_routes()
        .into_iter()
        .map(|(method, path, _)| (method, path))
        .collect();
    assert_same(
        "shared::handlers::ROUTES",
        &code,
        "openapi.yaml paths",
        &documented,
    );
}

#[test]
fn every_function_package_is_deployed_under_its_name() {
    let template = template();
    let functions = template_functions(&template);
    let mut binaries = BTreeSet::new();
    for function in &functions {
        assert!(
            binaries.insert(function.binary.clone()),
            "template.yaml builds {} twice",
            function.binary
        );
    }
    assert_same(
        "packages under functions/",
        &function_packages(),
        "template.yaml Metadata.BuildProperties.Binary",
        &binaries,
    );

    // Runtime, handler, architecture and code location: on the function or in Globals.
    let globals = field(&template, "Globals").and_then(|g| field(g, "Function"));
    for function in &functions {
        let effective = |key: &str| {
            field(&function.properties, key)
                .or_else(|| globals.and_then(|g| field(g, key)))
                .cloned()
                .unwrap_or_else(|| panic!("{}: no {key} (nor in Globals)", function.logical_id))
        };
        let id = &function.logical_id;
        assert_eq!(
            effective("Runtime").as_str(),
            Some("provided.al2023"),
            "{id}: Runtime"
        );
        assert_eq!(
            effective("Handler").as_str(),
            Some("bootstrap"),
            "{id}: Handler"
        );
        assert_eq!(effective("CodeUri").as_str(), Some("."), "{id}: CodeUri");
        let architectures = effective("Architectures");
        let architectures: Vec<&str> = architectures
            .as_sequence()
            .map(|s| s.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        assert_eq!(architectures, ["arm64"], "{id}: Architectures");
    }
}

#[test]
fn cache_warmer_runs_on_a_schedule() {
    let functions = template_functions(&template());
    let warmer = functions
        .iter()
        .find(|f| f.binary == "cache-warmer")
        .expect("template.yaml deploys cache-warmer");
    assert!(
        !warmer.schedules.is_empty(),
        "{}: cache-warmer needs a Schedule event",
        warmer.logical_id
    );
    assert!(
        !warmer.http.is_empty(),
        "{}: cache-warmer also serves its HTTP route",
        warmer.logical_id
    );
}

#[test]
fn cache_invalidate_follows_object_changes_of_the_data_bucket() {
    let functions = template_functions(&template());
    let invalidate = functions
        .iter()
        .find(|f| f.binary == "cache-invalidate")
        .expect("template.yaml deploys cache-invalidate");
    assert_eq!(
        invalidate.rules.len(),
        1,
        "{}: one EventBridge rule",
        invalidate.logical_id
    );
    let pattern = &invalidate.rules[0];
    let strings = |v: Option<&Value>| -> Vec<String> {
        v.and_then(Value::as_sequence)
            .map(|s| {
                s.iter()
                    .filter_map(Value::as_str)
                    .map(String::from)
                    .collect()
            })
            .unwrap_or_default()
    };
    assert_eq!(strings(field(pattern, "source")), ["aws.s3"]);
    assert_eq!(
        strings(field(pattern, "detail-type")),
        ["Object Created", "Object Deleted"]
    );
    let detail = field(pattern, "detail").expect("the rule filters on detail");
    assert!(
        field(detail, "bucket").is_some() && field(detail, "object").is_some(),
        "the rule matches the data bucket and the prefix: {detail:?}"
    );
    assert!(
        !invalidate.http.is_empty(),
        "{}: cache-invalidate also serves its HTTP route",
        invalidate.logical_id
    );
}
