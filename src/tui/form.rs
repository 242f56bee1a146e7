//! The new-run form: family, name, data file, split and parameters as text, checked before a run
//! starts.

use std::path::PathBuf;

use crate::models::{Family, Params};

use super::app::*;

/// The new-run form: family, name, data file and the family's parameters, each as text.
#[derive(Debug, Clone, PartialEq)]
pub struct RunForm {
    pub family: Family,
    pub name: String,
    pub data: String,
    /// The split's seed and validation share, as `staytrack train --seed --valid-fraction`.
    pub seed: String,
    pub valid_fraction: String,
    /// (key, value as typed, help), in the family's order.
    pub params: Vec<(String, String, &'static str)>,
    /// 0 family, 1 name, 2 data, 3 seed, 4 validation share, 5.. params.
    pub focus: usize,
    pub error: Option<String>,
}

impl RunForm {
    pub fn new(family: Family, data: String) -> RunForm {
        let mut f = RunForm {
            family,
            name: String::new(),
            data,
            seed: crate::data::DEFAULT_SEED.to_string(),
            valid_fraction: crate::train::DEFAULT_VALID_FRACTION.to_string(),
            params: Vec::new(),
            focus: 0,
            error: None,
        };
        f.reset_params();
        f
    }

    fn reset_params(&mut self) {
        let defaults = Params::defaults(self.family).as_strings();
        self.params = self
            .family
            .specs()
            .iter()
            .map(|s| {
                let v = defaults
                    .iter()
                    .find(|(k, _)| k == s.key)
                    .map_or(String::new(), |(_, v)| v.clone());
                (s.key.to_string(), v, s.help)
            })
            .collect();
    }

    /// Fields before the family's params.
    pub const FIXED: usize = 5;

    fn fields(&self) -> usize {
        Self::FIXED + self.params.len()
    }

    fn text(&mut self) -> Option<&mut String> {
        match self.focus {
            0 => None,
            1 => Some(&mut self.name),
            2 => Some(&mut self.data),
            3 => Some(&mut self.seed),
            4 => Some(&mut self.valid_fraction),
            i => self.params.get_mut(i - Self::FIXED).map(|p| &mut p.1),
        }
    }

    /// The run the form describes, or what is wrong with it.
    pub fn job(&self) -> Result<Job, String> {
        let given: Vec<(String, String)> = self
            .params
            .iter()
            .map(|(k, v, _)| (k.clone(), v.clone()))
            .collect();
        let params = Params::resolve(self.family, &given).map_err(|e| e.to_string())?;
        if self.data.trim().is_empty() {
            return Err("the data file is empty".into());
        }
        let name = if self.name.trim().is_empty() {
            self.family.name().to_string()
        } else {
            self.name.trim().to_string()
        };
        let seed = self
            .seed
            .trim()
            .parse::<u64>()
            .map_err(|_| format!("seed '{}': a whole number of 0 or more", self.seed))?;
        let valid_fraction = self
            .valid_fraction
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|v| *v > 0.0 && *v < 1.0)
            .ok_or_else(|| {
                format!(
                    "validation share '{}': a number between 0 and 1",
                    self.valid_fraction
                )
            })?;
        Ok(Job {
            data: PathBuf::from(self.data.trim()),
            name,
            params,
            seed,
            valid_fraction,
        })
    }
}

/// A run to start from the form.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    pub data: PathBuf,
    pub name: String,
    pub params: Params,
    pub seed: u64,
    pub valid_fraction: f64,
}

/// A key inside the new-run form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FormKey {
    Next,
    Prev,
    Left,
    Right,
    Char(char),
    Backspace,
    /// Empty the focused text field.
    Clear,
    /// Every field back to its default, forgetting the last run's settings.
    Reset,
    Submit,
    Cancel,
}

pub(crate) fn form_key(app: &mut App, key: FormKey) -> Option<Effect> {
    let form = app.form.as_mut()?;
    let n = form.fields();
    form.error = None;
    match key {
        FormKey::Next => form.focus = (form.focus + 1) % n,
        FormKey::Prev => form.focus = (form.focus + n - 1) % n,
        FormKey::Left | FormKey::Right if form.focus == 0 => {
            let i = Family::ALL
                .iter()
                .position(|f| *f == form.family)
                .unwrap_or(0);
            let step = if key == FormKey::Right {
                1
            } else {
                Family::ALL.len() - 1
            };
            form.family = Family::ALL[(i + step) % Family::ALL.len()];
            form.reset_params();
        }
        FormKey::Left | FormKey::Right => {}
        FormKey::Char(c) => {
            if let Some(t) = form.text() {
                t.push(c);
            } else if c == 'h' || c == 'l' {
                return form_key(
                    app,
                    if c == 'l' {
                        FormKey::Right
                    } else {
                        FormKey::Left
                    },
                );
            }
        }
        FormKey::Backspace => {
            if let Some(t) = form.text() {
                t.pop();
            }
        }
        FormKey::Clear => {
            if let Some(t) = form.text() {
                t.clear();
            }
        }
        FormKey::Cancel => app.form = None,
        FormKey::Reset => {
            *form = RunForm::new(Family::Gbdt, app.train_file.clone());
            // The next form opens on the defaults too, not on the run before.
            app.last_form = None;
        }
        FormKey::Submit => match form.job() {
            // A file that is not there keeps the form and every entry, with the reason.
            Ok(job) if !job.data.is_file() && !app.workspace.join(&job.data).is_file() => {
                form.error = Some(format!(
                    "no file at {}; type the path of a training CSV",
                    job.data.display()
                ));
                form.focus = 2;
            }
            Ok(job) => {
                app.last_form = app.form.take();
                return Some(Effect::Train(job));
            }
            Err(e) => form.error = Some(e),
        },
    }
    None
}
