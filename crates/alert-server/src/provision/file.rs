//! Reading a provisioning file: TOML into checked instances, groups, bindings and clusters,
//! each with the line it was declared on, secrets resolved from the environment or from files.
//!
//! Every object is checked with the API's own rules (the same plugin parameter validation, name,
//! URL and job-pattern checks), so a file is accepted exactly when the same objects sent to the
//! API would be.

use std::collections::{BTreeMap, HashSet};
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;
use toml::Spanned;

use crate::api::bindings::check_job_binding_with_conditions;
use crate::api::clusters::{self, ClusterBody};
use crate::api::error::ApiError;
use crate::api::instances::{self, check_name, InstanceBody};
use crate::api::templates::{self, TemplateBody};
use alert_store::{BindingInput, ClusterInput, InstanceInput, ProvisionBinding, ProvisionGroup};

/// One problem in a provisioning file, where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileError {
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// The field to blame (`instances[0].params.webhook`), when there is one.
    pub field: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl FileError {
    /// `FILE:LINE: FIELD: MESSAGE`, as printed.
    pub fn display(&self, file: &Path) -> String {
        let mut out = file.display().to_string();
        if let Some(line) = self.line {
            out.push_str(&format!(":{line}"));
        }
        out.push_str(": ");
        if let Some(field) = &self.field {
            out.push_str(field);
            out.push_str(": ");
        }
        out.push_str(&self.message);
        out
    }
}

/// A value with the line it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Located<T> {
    /// 1-based line of its declaration.
    pub line: usize,
    /// The value.
    pub value: T,
}

/// A checked provisioning file.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Desired {
    /// Instances, secrets resolved (in clear: for the store only, never printed).
    pub instances: Vec<Located<InstanceInput>>,
    /// Groups, members by instance name.
    pub groups: Vec<Located<ProvisionGroup>>,
    /// Job bindings, groups by name.
    pub bindings: Vec<Located<ProvisionBinding>>,
    /// Clusters.
    pub clusters: Vec<Located<ClusterInput>>,
    /// Things that work but should be done otherwise (a secret written inline).
    pub warnings: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileDoc {
    #[serde(default)]
    instances: Vec<Spanned<InstanceDecl>>,
    #[serde(default)]
    groups: Vec<Spanned<GroupDecl>>,
    #[serde(default)]
    bindings: Vec<Spanned<BindingDecl>>,
    #[serde(default)]
    clusters: Vec<Spanned<ClusterDecl>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct InstanceDecl {
    name: String,
    kind: String,
    #[serde(default = "yes")]
    enabled: bool,
    rate_per_minute: Option<u32>,
    #[serde(default)]
    params: BTreeMap<String, Spanned<ParamValue>>,
}

/// A parameter: a secret reference or a plain value.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum ParamValue {
    Env(EnvRef),
    File(FileRef),
    Plain(toml::Value),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EnvRef {
    env: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileRef {
    file: PathBuf,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct GroupDecl {
    name: String,
    #[serde(default = "yes")]
    enabled: bool,
    #[serde(default)]
    instances: Vec<String>,
    /// `template = { title = "...", text = "...", markdown = "..." }`, checked like the API's.
    #[serde(default)]
    template: Option<TemplateBody>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BindingDecl {
    job: String,
    cluster: Option<String>,
    group: String,
    /// Job states and health conditions (`CHECKPOINT_FAILED`, …), as in the API.
    statuses: Option<Vec<String>>,
    /// `thresholds = { checkpoint_failures = 5 }`, as in the API.
    thresholds: Option<serde_json::Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ClusterDecl {
    name: String,
    url: String,
    #[serde(default = "yes")]
    enabled: bool,
    poll_interval_ms: Option<u64>,
}

fn yes() -> bool {
    true
}

/// Line numbers of byte offsets in one text.
struct Lines<'a>(&'a str);

impl Lines<'_> {
    fn of(&self, span: &Range<usize>) -> usize {
        let end = span.start.min(self.0.len());
        self.0.as_bytes()[..end]
            .iter()
            .filter(|b| **b == b'\n')
            .count()
            + 1
    }
}

/// Where secret references are resolved: the environment, and files relative to the
/// provisioning file's folder.
pub trait SecretSource {
    /// The value of an environment variable.
    fn env(&self, name: &str) -> Option<String>;
    /// The provisioning file's folder.
    fn base(&self) -> &Path;
}

/// The process environment and the file's folder.
#[derive(Debug)]
pub struct ProcessSecrets {
    /// The provisioning file's folder.
    pub base: PathBuf,
}

impl SecretSource for ProcessSecrets {
    fn env(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
    fn base(&self) -> &Path {
        &self.base
    }
}

/// Parses and checks a provisioning file's text; every problem found, or the checked file.
pub fn parse(text: &str, secrets: &dyn SecretSource) -> Result<Desired, Vec<FileError>> {
    let lines = Lines(text);
    let doc: FileDoc = toml::from_str(text).map_err(|e| {
        vec![FileError {
            line: e.span().map(|s| lines.of(&s)),
            field: None,
            message: e.message().trim().replace('\n', ": "),
        }]
    })?;
    let mut errors = Vec::new();
    let mut desired = Desired::default();
    let mut names = HashSet::new();
    for (i, decl) in doc.instances.into_iter().enumerate() {
        let line = lines.of(&decl.span());
        let at = |field: String, message: String| FileError {
            line: Some(line),
            field: Some(field),
            message,
        };
        let decl = decl.into_inner();
        let mut params = serde_json::Map::new();
        let mut inline = Vec::new();
        let mut key_lines = BTreeMap::new();
        for (key, value) in decl.params {
            let key_line = lines.of(&value.span());
            key_lines.insert(format!("params.{key}"), key_line);
            let field = format!("instances[{i}].params.{key}");
            let resolved = match value.into_inner() {
                ParamValue::Env(r) => match secrets.env(&r.env) {
                    Some(v) => Value::String(v),
                    None => {
                        errors.push(FileError {
                            line: Some(key_line),
                            field: Some(field),
                            message: format!("environment variable {} is not set", r.env),
                        });
                        continue;
                    }
                },
                ParamValue::File(r) => {
                    let path = secrets.base().join(&r.file);
                    match std::fs::read_to_string(&path) {
                        Ok(v) => Value::String(v.trim_end_matches(['\n', '\r']).to_owned()),
                        Err(e) => {
                            errors.push(FileError {
                                line: Some(key_line),
                                field: Some(field),
                                message: format!("cannot read {}: {e}", path.display()),
                            });
                            continue;
                        }
                    }
                }
                ParamValue::Plain(v) => {
                    inline.push((key.clone(), key_line));
                    match serde_json::to_value(&v) {
                        Ok(v) => v,
                        Err(e) => {
                            errors.push(FileError {
                                line: Some(key_line),
                                field: Some(field),
                                message: format!("cannot be used as a parameter: {e}"),
                            });
                            continue;
                        }
                    }
                }
            };
            params.insert(key, resolved);
        }
        if errors.iter().any(|e| {
            e.field
                .as_deref()
                .is_some_and(|f| f.starts_with(&format!("instances[{i}].")))
        }) {
            // A secret that could not be read: checking the rest would only repeat it.
            continue;
        }
        let kind = decl.kind.clone();
        let body = InstanceBody {
            name: decl.name,
            kind: decl.kind,
            enabled: decl.enabled,
            params: Value::Object(params),
            rate_per_minute: decl.rate_per_minute,
        };
        match instances::validate(body, None) {
            Ok(input) => {
                if !names.insert(input.name.clone()) {
                    errors.push(at(
                        format!("instances[{i}].name"),
                        format!("`{}` is declared twice", input.name),
                    ));
                    continue;
                }
                if let Ok(d) = crate::registry().get(&kind) {
                    for (key, key_line) in &inline {
                        if d.params.iter().any(|p| p.secret && p.name == key) {
                            desired.warnings.push(format!(
                                "line {key_line}: instances[{i}].params.{key} is a secret written \
                                 inline; prefer {{ env = \"NAME\" }} or {{ file = \"PATH\" }}"
                            ));
                        }
                    }
                }
                desired.instances.push(Located { line, value: input });
            }
            Err(e) => {
                // A parameter's error is on its own line.
                let line = e
                    .field
                    .as_ref()
                    .and_then(|f| key_lines.get(f))
                    .copied()
                    .unwrap_or(line);
                errors.push(api_error(line, &format!("instances[{i}]"), e));
            }
        }
    }
    let mut group_names = HashSet::new();
    for (i, decl) in doc.groups.into_iter().enumerate() {
        let line = lines.of(&decl.span());
        let decl = decl.into_inner();
        let name = match check_name(&decl.name) {
            Ok(n) => n,
            Err(e) => {
                errors.push(api_error(line, &format!("groups[{i}]"), e));
                continue;
            }
        };
        if !group_names.insert(name.clone()) {
            errors.push(FileError {
                line: Some(line),
                field: Some(format!("groups[{i}].name")),
                message: format!("`{name}` is declared twice"),
            });
            continue;
        }
        let mut members: Vec<String> = Vec::new();
        for m in decl.instances {
            let m = m.trim().to_owned();
            if members.contains(&m) {
                errors.push(FileError {
                    line: Some(line),
                    field: Some(format!("groups[{i}].instances")),
                    message: format!("`{m}` is listed twice"),
                });
            } else {
                members.push(m);
            }
        }
        let template = match templates::check("template", decl.template) {
            Ok(t) => t,
            Err(e) => {
                errors.push(api_error(line, &format!("groups[{i}]"), e));
                continue;
            }
        };
        desired.groups.push(Located {
            line,
            value: ProvisionGroup {
                name,
                enabled: decl.enabled,
                members,
                template,
            },
        });
    }
    let mut binding_keys = HashSet::new();
    for (i, decl) in doc.bindings.into_iter().enumerate() {
        let line = lines.of(&decl.span());
        let decl = decl.into_inner();
        match check_job_binding_with_conditions(
            &decl.job,
            decl.cluster,
            decl.statuses,
            decl.thresholds,
        ) {
            Ok(BindingInput {
                job,
                cluster,
                statuses,
                conditions,
                thresholds,
                ..
            }) => {
                let group = decl.group.trim().to_owned();
                if !binding_keys.insert((job.clone(), cluster.clone(), group.clone())) {
                    errors.push(FileError {
                        line: Some(line),
                        field: Some(format!("bindings[{i}]")),
                        message: format!(
                            "job `{job}` on {} to group `{group}` is declared twice",
                            cluster.as_deref().unwrap_or("every cluster")
                        ),
                    });
                    continue;
                }
                desired.bindings.push(Located {
                    line,
                    value: ProvisionBinding {
                        job,
                        cluster,
                        group,
                        statuses,
                        conditions,
                        thresholds,
                    },
                });
            }
            Err(e) => errors.push(api_error(line, &format!("bindings[{i}]"), e)),
        }
    }
    let mut cluster_names = HashSet::new();
    for (i, decl) in doc.clusters.into_iter().enumerate() {
        let line = lines.of(&decl.span());
        let decl = decl.into_inner();
        let body = ClusterBody {
            name: decl.name,
            url: decl.url,
            enabled: decl.enabled,
            poll_interval_ms: decl.poll_interval_ms,
        };
        match clusters::validate(body) {
            Ok(c) if !cluster_names.insert(c.name.clone()) => errors.push(FileError {
                line: Some(line),
                field: Some(format!("clusters[{i}].name")),
                message: format!("`{}` is declared twice", c.name),
            }),
            Ok(c) => desired.clusters.push(Located { line, value: c }),
            Err(e) => errors.push(api_error(line, &format!("clusters[{i}]"), e)),
        }
    }
    if errors.is_empty() {
        Ok(desired)
    } else {
        Err(errors)
    }
}

/// An API validation error as a file error on `line`, its field under `prefix`.
fn api_error(line: usize, prefix: &str, e: ApiError) -> FileError {
    // Plugin messages may start with their own field name: say it once.
    let message = match &e.field {
        Some(f) => e
            .message
            .strip_prefix(&format!("{f}: "))
            .unwrap_or(&e.message)
            .to_owned(),
        None => e.message.clone(),
    };
    FileError {
        line: Some(line),
        field: Some(match e.field {
            Some(f) => format!("{prefix}.{f}"),
            None => prefix.to_owned(),
        }),
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fake(PathBuf);

    impl SecretSource for Fake {
        fn env(&self, name: &str) -> Option<String> {
            (name == "OPS_WEBHOOK")
                .then(|| "https://oapi.dingtalk.com/robot/send?access_token=t0k3n".to_owned())
        }
        fn base(&self) -> &Path {
            &self.0
        }
    }

    #[test]
    fn secrets_come_from_the_environment_and_from_files_and_inline_ones_warn() {
        let dir =
            std::env::temp_dir().join(format!("flink-alert-provision-unit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("secret.txt"), "SECfromfile\n").unwrap();
        let text = r#"
[[instances]]
name = "a"
kind = "dingtalk"
params = { webhook = { env = "OPS_WEBHOOK" }, secret = { file = "secret.txt" } }

[[instances]]
name = "b"
kind = "dingtalk"
params = { webhook = { env = "OPS_WEBHOOK" }, secret = "SECinline" }
"#;
        let desired = parse(text, &Fake(dir.clone())).unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        let a = &desired.instances[0];
        assert_eq!(a.line, 2);
        assert_eq!(
            a.value.params["webhook"],
            "https://oapi.dingtalk.com/robot/send?access_token=t0k3n"
        );
        assert_eq!(a.value.params["secret"], "SECfromfile");
        assert_eq!(desired.instances[1].value.params["secret"], "SECinline");
        assert_eq!(desired.warnings.len(), 1, "{:?}", desired.warnings);
        assert!(desired.warnings[0].contains("line 10: instances[1].params.secret"));
        assert!(!desired.warnings[0].contains("SECinline"));
    }

    #[test]
    fn duplicates_and_unreadable_files_are_errors_on_their_lines() {
        let text = r#"[[instances]]
name = "a"
kind = "dingtalk"
params = { webhook = { env = "OPS_WEBHOOK" }, secret = { file = "nope.txt" } }

[[clusters]]
name = "prod"
url = "http://127.0.0.1:8081"

[[clusters]]
name = "prod"
url = "http://127.0.0.1:8082"
"#;
        let errors = parse(text, &Fake(PathBuf::from("/nonexistent"))).unwrap_err();
        let shown: Vec<String> = errors
            .iter()
            .map(|e| e.display(Path::new("f.toml")))
            .collect();
        assert!(
            shown[0].starts_with(
                "f.toml:4: instances[0].params.secret: cannot read /nonexistent/nope.txt"
            ),
            "{shown:?}"
        );
        assert_eq!(
            shown[1],
            "f.toml:10: clusters[1].name: `prod` is declared twice"
        );
    }
}
