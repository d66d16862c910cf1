//! Requests as each event source delivers them, built from the JSON
//! fixtures in `tests/data/`.

use lambda_http::Request;
use serde_json::{Value, json};

/// Where a request comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// API Gateway HTTP API, payload 2.0, path parameters filled.
    HttpApi,
    /// API Gateway REST API, payload 1.0, path parameters filled, stage `prod`.
    RestApi,
    /// Lambda Function URL: raw path only.
    FunctionUrl,
    /// `cargo lambda watch` with the router from `Cargo.toml`.
    CargoLambdaWatch,
}

/// Every source, for tests that must pass for all of them.
pub const ALL_SOURCES: [Source; 4] = [
    Source::HttpApi,
    Source::RestApi,
    Source::FunctionUrl,
    Source::CargoLambdaWatch,
];

impl Source {
    fn fixture(self) -> &'static str {
        match self {
            Source::HttpApi => include_str!("../data/apigw_http_v2.json"),
            Source::RestApi => include_str!("../data/apigw_rest_v1.json"),
            Source::FunctionUrl => include_str!("../data/function_url.json"),
            Source::CargoLambdaWatch => include_str!("../data/cargo_lambda_watch.json"),
        }
    }
}

/// A request description, turned into an event of any [`Source`].
#[derive(Clone, Debug)]
pub struct Req {
    /// HTTP method.
    pub method: String,
    /// Path as the client sent it (no query string).
    pub path: String,
    /// Route template the gateway matched (for path parameters), if any.
    pub route: Option<&'static str>,
    /// Query string without `?` (already encoded).
    pub query: String,
    /// Extra headers.
    pub headers: Vec<(String, String)>,
    /// Body.
    pub body: Option<String>,
}

impl Req {
    /// A GET of `path` matched against `route`.
    pub fn get(route: &'static str, path: &str) -> Self {
        Req {
            method: "GET".into(),
            path: path.into(),
            route: Some(route),
            query: String::new(),
            headers: Vec::new(),
            body: None,
        }
    }

    /// Sets the method.
    pub fn method(mut self, method: &str) -> Self {
        self.method = method.into();
        self
    }

    /// Sets the raw query string.
    pub fn query(mut self, query: &str) -> Self {
        self.query = query.into();
        self
    }

    /// Adds a header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Sets a body.
    pub fn body(mut self, body: &str) -> Self {
        self.body = Some(body.into());
        self
    }

    /// Path parameters as a gateway would extract them (decoded), if the path fits the route.
    fn path_parameters(&self) -> Option<Value> {
        let route = self.route?;
        let template: Vec<&str> = route.trim_matches('/').split('/').collect();
        let path: Vec<&str> = self.path.trim_matches('/').split('/').collect();
        if template.len() != path.len() {
            return None;
        }
        let mut params = serde_json::Map::new();
        for (t, p) in template.iter().zip(&path) {
            match t.strip_prefix('{').and_then(|t| t.strip_suffix('}')) {
                Some(name) => {
                    let decoded = percent_encoding::percent_decode_str(p)
                        .decode_utf8_lossy()
                        .into_owned();
                    if decoded.is_empty() {
                        return None;
                    }
                    params.insert(name.to_string(), Value::String(decoded));
                }
                None if t == p => {}
                None => return None,
            }
        }
        if params.is_empty() {
            None
        } else {
            Some(Value::Object(params))
        }
    }

    /// The event JSON of `source`.
    pub fn event(&self, source: Source) -> Value {
        let mut event: Value = serde_json::from_str(source.fixture()).expect("fixture is JSON");
        let params = self.path_parameters();
        let pairs: Vec<(String, String)> = url_pairs(&self.query);
        match source {
            Source::RestApi => {
                event["path"] = json!(self.path);
                event["httpMethod"] = json!(self.method);
                event["requestContext"]["httpMethod"] = json!(self.method);
                event["requestContext"]["path"] = json!(format!("/prod{}", self.path));
                event["pathParameters"] = params.unwrap_or(Value::Null);
                if let Some(route) = self.route {
                    event["resource"] = json!(route);
                }
                if pairs.is_empty() {
                    event["queryStringParameters"] = Value::Null;
                    event["multiValueQueryStringParameters"] = Value::Null;
                } else {
                    let mut single = serde_json::Map::new();
                    let mut multi: serde_json::Map<String, Value> = serde_json::Map::new();
                    for (k, v) in &pairs {
                        single.insert(k.clone(), json!(v));
                        multi
                            .entry(k.clone())
                            .or_insert_with(|| json!([]))
                            .as_array_mut()
                            .unwrap()
                            .push(json!(v));
                    }
                    event["queryStringParameters"] = Value::Object(single);
                    event["multiValueQueryStringParameters"] = Value::Object(multi);
                }
                for (k, v) in &self.headers {
                    event["headers"][k] = json!(v);
                    event["multiValueHeaders"][k] = json!([v]);
                }
            }
            Source::HttpApi | Source::FunctionUrl | Source::CargoLambdaWatch => {
                event["rawPath"] = json!(self.path);
                event["rawQueryString"] = json!(self.query);
                event["requestContext"]["http"]["method"] = json!(self.method);
                event["requestContext"]["http"]["path"] = json!(self.path);
                if source != Source::FunctionUrl {
                    match params {
                        Some(p) => event["pathParameters"] = p,
                        None => {
                            if let Some(obj) = event.as_object_mut() {
                                obj.remove("pathParameters");
                            }
                        }
                    }
                }
                if !pairs.is_empty() {
                    let mut single = serde_json::Map::new();
                    for (k, v) in &pairs {
                        let joined = match single.get(k) {
                            Some(Value::String(prev)) => format!("{prev},{v}"),
                            _ => v.clone(),
                        };
                        single.insert(k.clone(), json!(joined));
                    }
                    event["queryStringParameters"] = Value::Object(single);
                }
                for (k, v) in &self.headers {
                    event["headers"][k.to_ascii_lowercase()] = json!(v);
                }
            }
        }
        if let Some(body) = &self.body {
            event["body"] = json!(body);
        }
        event
    }

    /// The request lambda_http builds from the `source` event.
    pub fn request(&self, source: Source) -> Request {
        let event = self.event(source).to_string();
        lambda_http::request::from_str(&event).expect("lambda_http parses the event")
    }
}

fn url_pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let decode = |s: &str| {
                percent_encoding::percent_decode_str(&s.replace('+', " "))
                    .decode_utf8_lossy()
                    .into_owned()
            };
            (decode(k), decode(v))
        })
        .collect()
}
