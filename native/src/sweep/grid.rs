//! A sweep's grid file and its expansion into named runs.
//!
//! ```toml
//! [search]                 # flags of `rdarts search` every run shares (names without the --)
//! epochs = 10
//! max-images = 2048
//!
//! [grid]                   # every combination of these values
//! space = ["s2", "s3"]
//! seed = [1, 2]
//!
//! [[method]]               # each run takes one method: a name and its own search flags
//! name = "darts"
//! [[method]]
//! name = "rdarts-l2"
//! rdarts-l2 = 2
//!
//! [train]                  # optional: `rdarts train` of each found genotype with these flags
//! epochs = 5
//! es = true                # also train DARTS-ES's genotype where the search recorded one
//!
//! [budget]                 # optional wall-clock limit per search and per training, in minutes
//! search-minutes = 60
//! train-minutes = 30
//! ```
//!
//! A run's name is its grid values, its method and a fingerprint of every flag it runs with:
//! the same settings give the same name on any machine, and a changed setting is a new run.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

/// A flag's value as written in the grid file.
pub type Value = toml::Value;

/// The grid file.
#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct GridFile {
    /// Search flags every run shares.
    #[serde(default)]
    pub search: BTreeMap<String, Value>,
    /// Flags and the values each takes; runs are every combination.
    #[serde(default)]
    pub grid: BTreeMap<String, Vec<Value>>,
    /// Named methods; each run takes one (none: one unnamed method `search`).
    #[serde(default)]
    pub method: Vec<BTreeMap<String, Value>>,
    /// Training of the found genotypes.
    pub train: Option<BTreeMap<String, Value>>,
    /// Wall-clock limits.
    #[serde(default)]
    pub budget: Budget,
}

/// Wall-clock limits per task part, in minutes (none: unlimited). A part over its limit is
/// stopped; the next `rdarts sweep` resumes it from its last checkpoint.
#[derive(Deserialize, Serialize, Debug, Default, Clone, Copy, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Budget {
    /// Per search (or its resumption).
    pub search_minutes: Option<f64>,
    /// Per training run.
    pub train_minutes: Option<f64>,
}

/// One run of the sweep: its name, the values that place it in the grid, and its flags.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Run {
    /// Directory name under the sweep's `runs/`.
    pub name: String,
    /// The method's name.
    pub method: String,
    /// The grid's value of each grid flag, as text.
    pub point: BTreeMap<String, String>,
    /// `rdarts search` flags.
    pub search: Vec<String>,
    /// `rdarts train` flags, when the found genotype is trained.
    pub train: Option<Vec<String>>,
    /// Whether DARTS-ES's genotype is trained too.
    pub train_es: bool,
}

/// Reads and expands the grid file at `path`.
pub fn read(path: &Path) -> Result<(GridFile, Vec<Run>)> {
    let text = std::fs::read_to_string(path).with_context(|| format!("{}: cannot read", path.display()))?;
    let grid: GridFile = toml::from_str(&text).with_context(|| format!("{}: invalid sweep grid", path.display()))?;
    let runs = expand(&grid).with_context(|| format!("{}", path.display()))?;
    Ok((grid, runs))
}

/// Flags the sweep sets itself.
const RESERVED: [&str; 4] = ["out", "overwrite", "replace-finished", "config"];

/// A flag and its value as command-line words (`true` → the bare flag, `false` → nothing).
fn words(flag: &str, value: &Value, what: &str) -> Result<Vec<String>> {
    if RESERVED.contains(&flag) {
        bail!("{what}: '{flag}' is set by the sweep itself");
    }
    if flag.is_empty() || flag.starts_with('-') || !flag.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        bail!("{what}: '{flag}' is not a flag name (write e.g. max-images, without the leading --)");
    }
    Ok(match value {
        Value::Boolean(true) => vec![format!("--{flag}")],
        Value::Boolean(false) => vec![],
        Value::Array(_) | Value::Table(_) | Value::Datetime(_) => bail!("{what}: '{flag}' must be a number, text or true/false, found {}", text(value)),
        v => vec![format!("--{flag}"), text(v)],
    })
}

/// A scalar as command-line text (strings without their quotes); other values named by kind.
fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Integer(i) => i.to_string(),
        Value::Float(f) => f.to_string(),
        Value::Boolean(b) => b.to_string(),
        Value::Datetime(d) => format!("a date ({d})"),
        Value::Array(_) => "a list".into(),
        Value::Table(_) => "a table".into(),
    }
}

/// Every run of `grid`, in a stable order: methods in file order, then the grid's combinations
/// (flags in name order, values in file order).
pub fn expand(grid: &GridFile) -> Result<Vec<Run>> {
    let default_method = [BTreeMap::from([("name".to_string(), Value::String("search".into()))])];
    let methods: &[BTreeMap<String, Value>] = if grid.method.is_empty() { &default_method } else { &grid.method };
    let mut names = std::collections::BTreeSet::new();
    for (i, m) in methods.iter().enumerate() {
        let Some(Value::String(name)) = m.get("name") else { bail!("method {}: needs a name (name = \"...\")", i + 1) };
        if !names.insert(name.clone()) {
            bail!("method '{name}' is defined twice");
        }
    }
    for (flag, values) in &grid.grid {
        if values.is_empty() {
            bail!("grid: '{flag}' has no values");
        }
        if grid.search.contains_key(flag) {
            bail!("'{flag}' is set in both [search] and [grid]");
        }
    }
    let mut train_flags = grid.train.clone().unwrap_or_default();
    let train_es = match train_flags.remove("es") {
        None => false,
        Some(Value::Boolean(b)) => b,
        Some(v) => bail!("[train]: 'es' must be true or false, found {}", text(&v)),
    };
    let train = match &grid.train {
        None => None,
        Some(_) => Some(train_flags.iter().map(|(k, v)| words(k, v, "[train]")).collect::<Result<Vec<_>>>()?.concat()),
    };
    let mut runs = Vec::new();
    for m in methods {
        let name = text(&m["name"]);
        for point in combinations(&grid.grid) {
            let mut flags = grid.search.clone();
            for (k, v) in m.iter().filter(|(k, _)| k.as_str() != "name") {
                if point.contains_key(k) {
                    bail!("method '{name}' sets '{k}', which [grid] varies");
                }
                flags.insert(k.clone(), v.clone());
            }
            flags.extend(point.iter().map(|(k, v)| (k.clone(), v.clone())));
            let search = flags.iter().map(|(k, v)| words(k, v, &format!("method '{name}'"))).collect::<Result<Vec<_>>>()?.concat();
            let point: BTreeMap<String, String> = point.iter().map(|(k, v)| (k.clone(), text(v))).collect();
            let id = crate::common::fingerprint(&(&search, &train, train_es));
            let mut parts: Vec<String> = point.iter().filter(|(k, _)| grid.grid[*k].len() > 1).map(|(k, v)| format!("{k}={v}")).collect();
            parts.insert(0, name.clone());
            parts.push(id[..8].to_string());
            let run_name = parts.join("-").chars().map(|c| if is_name_char(c) { c } else { '_' }).collect();
            runs.push(Run { name: run_name, method: name.clone(), point, search, train: train.clone(), train_es });
        }
    }
    Ok(runs)
}

/// The characters a run name keeps (others become `_`).
fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "._=-".contains(c)
}

/// Whether `name` could be a run name: a plain directory name of [`is_name_char`]s ending in the
/// fingerprint (so never `.` or `..`).
pub fn is_run_name(name: &str) -> bool {
    name.len() > 9 && name.chars().all(is_name_char) && name.rsplit('-').next().is_some_and(|id| id.len() == 8 && id.chars().all(|c| c.is_ascii_hexdigit()))
}

/// Every combination of the grid's values, flags in name order.
fn combinations(grid: &BTreeMap<String, Vec<Value>>) -> Vec<BTreeMap<String, Value>> {
    grid.iter().fold(vec![BTreeMap::new()], |acc, (flag, values)| {
        acc.iter()
            .flat_map(|partial| {
                values.iter().map(move |v| {
                    let mut p = partial.clone();
                    p.insert(flag.clone(), v.clone());
                    p
                })
            })
            .collect()
    })
}
