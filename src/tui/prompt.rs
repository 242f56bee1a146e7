//! The dialogs that ask for a few lines of text before work starts: a tune (families, budget,
//! search space), a sweep file, an outcomes file. State and keys here; `views/prompt.rs` draws.

use std::path::{Path, PathBuf};

use crate::models::Family;

use super::app::*;

/// What a prompt starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PromptKind {
    Tune,
    Sweep,
    Outcomes,
}

/// A dialog of text fields: (label, value as typed, help) each.
#[derive(Debug, Clone, PartialEq)]
pub struct Prompt {
    pub kind: PromptKind,
    pub fields: Vec<(&'static str, String, &'static str)>,
    pub focus: usize,
    pub error: Option<String>,
}

/// A tune to start: what `staytrack tune` takes, the split at its defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct TuneJob {
    pub families: Vec<Family>,
    pub budget_ms: i64,
    pub space: Option<PathBuf>,
    pub name: Option<String>,
    pub data: PathBuf,
}

const DATA_HELP: &str = "the training CSV";

impl Prompt {
    fn new(kind: PromptKind, fields: Vec<(&'static str, String, &'static str)>) -> Prompt {
        Prompt {
            kind,
            fields,
            focus: 0,
            error: None,
        }
    }

    /// A tune on `data`, with `staytrack tune`'s defaults.
    pub fn tune(data: String) -> Prompt {
        Prompt::new(
            PromptKind::Tune,
            vec![
                (
                    "families",
                    "gbdt".into(),
                    "comma-separated: lr, tree, forest, gbdt, linfa-lr, linfa-tree, or all",
                ),
                (
                    "budget",
                    "5m".into(),
                    "wall-clock time for the whole sweep: 90s, 5m, 1h",
                ),
                (
                    "space",
                    String::new(),
                    "a TOML file of search spaces, one table per family; empty: the defaults \
                     and [tune.<family>] of staytrack.toml",
                ),
                (
                    "name",
                    String::new(),
                    "the sweep's name (trials are NAME-FAMILY-NN); empty: tune-<time>",
                ),
                ("data", data, DATA_HELP),
            ],
        )
    }

    /// A sweep file's runs on `data`, as `staytrack train --sweep FILE`.
    pub fn sweep(data: String) -> Prompt {
        Prompt::new(
            PromptKind::Sweep,
            vec![
                (
                    "file",
                    String::new(),
                    "a TOML sweep file: one table per family, lists of values are crossed",
                ),
                (
                    "name",
                    String::new(),
                    "the runs' name prefix; empty: the family",
                ),
                ("data", data, DATA_HELP),
            ],
        )
    }

    /// An outcomes file, as `staytrack feedback FILE`.
    pub fn outcomes() -> Prompt {
        Prompt::new(
            PromptKind::Outcomes,
            vec![(
                "file",
                String::new(),
                "a CSV with the dataset spec's id and label columns",
            )],
        )
    }

    pub fn title(&self) -> &'static str {
        match self.kind {
            PromptKind::Tune => "Tune: sampled parameters within a time budget",
            PromptKind::Sweep => "Sweep: every run of a TOML file",
            PromptKind::Outcomes => "Import outcomes",
        }
    }

    /// What Enter does, for the dialog's footer.
    pub fn submit_hint(&self) -> &'static str {
        match self.kind {
            PromptKind::Tune => "Enter starts the tune in the background",
            PromptKind::Sweep => "Enter starts the runs in the background",
            PromptKind::Outcomes => "Enter imports the file",
        }
    }

    fn value(&self, label: &str) -> &str {
        self.fields
            .iter()
            .find(|f| f.0 == label)
            .map_or("", |f| f.1.trim())
    }

    /// The field `label` as a file: a relative path is the workspace's; one that is not there
    /// is refused, with the field focused.
    fn file(&self, label: &str, workspace: &Path) -> Result<PathBuf, (usize, String)> {
        let at = self.fields.iter().position(|f| f.0 == label).unwrap_or(0);
        let v = self.value(label);
        if v.is_empty() {
            return Err((at, format!("{label}: type the path of a file")));
        }
        let path = workspace.join(v);
        if !path.is_file() {
            return Err((at, format!("{label}: no file at {}", path.display())));
        }
        Ok(path)
    }

    /// What the dialog asks for, checked; or the field at fault and why.
    pub fn effect(&self, workspace: &Path) -> Result<Effect, (usize, String)> {
        let name = Some(self.value("name").to_string()).filter(|n| !n.is_empty());
        match self.kind {
            PromptKind::Tune => {
                let mut families = Vec::new();
                for f in self.value("families").split(',').map(str::trim) {
                    if f == "all" {
                        families.extend(Family::ENGINES);
                        continue;
                    }
                    families.push(Family::parse(f).ok_or_else(|| {
                        (
                            0,
                            format!(
                                "families: unknown model '{f}' (use lr, tree, forest, gbdt, \
                                 linfa-lr, linfa-tree or all)"
                            ),
                        )
                    })?);
                }
                let mut seen = std::collections::BTreeSet::new();
                families.retain(|f| seen.insert(*f));
                let budget = self.value("budget");
                let budget_ms = crate::util::parse_duration_ms(budget)
                    .ok_or_else(|| (1, format!("budget '{budget}': use 90s, 5m or 1h")))?;
                let space = match self.value("space") {
                    "" => None,
                    _ => Some(self.file("space", workspace)?),
                };
                Ok(Effect::Tune(TuneJob {
                    families,
                    budget_ms,
                    space,
                    name,
                    data: self.file("data", workspace)?,
                }))
            }
            PromptKind::Sweep => Ok(Effect::Sweep {
                file: self.file("file", workspace)?,
                name,
                data: self.file("data", workspace)?,
            }),
            PromptKind::Outcomes => Ok(Effect::Outcomes {
                file: self.file("file", workspace)?,
            }),
        }
    }
}

/// A key inside a prompt. Enter leaves the dialog open: the effect closes it once the work has
/// started, or puts the reason it could not on the dialog, so nothing typed is lost.
pub(crate) fn prompt_key(app: &mut App, key: FormKey) -> Option<Effect> {
    let p = app.prompt.as_mut()?;
    let n = p.fields.len();
    p.error = None;
    match key {
        FormKey::Next => p.focus = (p.focus + 1) % n,
        FormKey::Prev => p.focus = (p.focus + n - 1) % n,
        FormKey::Char(c) => p.fields[p.focus].1.push(c),
        FormKey::Backspace => {
            p.fields[p.focus].1.pop();
        }
        FormKey::Clear => p.fields[p.focus].1.clear(),
        FormKey::Cancel => app.prompt = None,
        FormKey::Submit => match p.effect(&app.workspace) {
            Ok(e) => return Some(e),
            Err((at, why)) => {
                p.focus = at;
                p.error = Some(why);
            }
        },
        FormKey::Left | FormKey::Right | FormKey::Reset => {}
    }
    None
}
