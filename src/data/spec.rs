//! The dataset spec: which columns a file has, what each one means, and how the target is derived.
//!
//! Everything downstream (loading, features, drift, serving) reads column roles from here, so a
//! different binary tabular problem only needs a different spec.

use serde::{Deserialize, Serialize};

/// What a column is used for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Identifies a row or an entity; never a model input.
    Id,
    /// A model input whose values are labels (even when they are written as numbers).
    Categorical,
    /// A model input whose values are quantities.
    Numeric,
    /// The label column the binary target is derived from.
    Target,
}

/// How a column's values are written in the CSV file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ValueType {
    Int,
    Float,
    Text,
}

impl ValueType {
    pub fn describe(self) -> &'static str {
        match self {
            ValueType::Int => "an integer",
            ValueType::Float => "a number",
            ValueType::Text => "text",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ColumnSpec {
    pub name: String,
    pub role: Role,
    pub value: ValueType,
    /// Whether an empty cell is a legitimate value (a known gap in the data).
    #[serde(default)]
    pub nullable: bool,
}

/// The probability at or above which a row is predicted positive (the class is 1), unless told.
pub const THRESHOLD: f64 = 0.5;

/// The rule that turns the label column into the binary target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetRule {
    pub column: String,
    /// Every label the column may hold, in their natural order.
    pub labels: Vec<String>,
    /// The labels that make the target 1.
    pub positive: Vec<String>,
    /// A short human description of the positive class.
    #[serde(default)]
    pub description: String,
    /// The name of the 0/1 column scored files carry [default: `positive`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class_column: Option<String>,
    /// What charts and tables call the target's 1 and 0 (`> 30 days`, `readmitted: yes`)
    /// [default: made from the column and its labels; `data init` writes them].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub positive_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub negative_name: Option<String>,
}

impl TargetRule {
    /// The labels that make the target 0.
    pub fn negative(&self) -> impl Iterator<Item = &String> {
        self.labels.iter().filter(|l| !self.positive.contains(l))
    }

    /// The default name of a class: the column and its labels, when there are a few.
    fn named(&self, labels: Vec<&String>, otherwise: &str) -> String {
        if labels.is_empty() || labels.len() > 3 {
            return otherwise.to_string();
        }
        let joined: Vec<&str> = labels.iter().map(|l| l.as_str()).collect();
        format!("{}: {}", self.column, joined.join(" or "))
    }

    /// What the target's 1 is called in every chart, table and line.
    pub fn positive_name(&self) -> String {
        self.positive_name.clone().unwrap_or_else(|| {
            let fallback = if self.description.is_empty() {
                format!("{} positive", self.column)
            } else {
                self.description.clone()
            };
            self.named(self.positive.iter().collect(), &fallback)
        })
    }

    /// What the target's 0 is called.
    pub fn negative_name(&self) -> String {
        self.negative_name.clone().unwrap_or_else(|| {
            let fallback = format!("not {}", self.positive_name());
            self.named(self.negative().collect(), &fallback)
        })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatasetSpec {
    pub name: String,
    pub columns: Vec<ColumnSpec>,
    pub target: TargetRule,
}

/// The 11 `Stay` bins of the hospital dataset, shortest first.
pub const STAY_LABELS: [&str; 11] = [
    "0-10",
    "11-20",
    "21-30",
    "31-40",
    "41-50",
    "51-60",
    "61-70",
    "71-80",
    "81-90",
    "91-100",
    "More than 100 Days",
];

/// Why a spec cannot describe a dataset.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SpecError {
    #[error("column {index}: the name is empty or holds control characters")]
    BadName { index: usize },
    #[error("column '{0}' is listed twice")]
    Duplicate(String),
    #[error("no column is a model input (role categorical or numeric)")]
    NoInputs,
    #[error("the target column '{0}' is not among the columns")]
    NoTargetColumn(String),
    #[error("column '{column}' has role target, but the target rule names '{target}'")]
    OtherTarget { column: String, target: String },
    #[error("the target column '{0}' must have role target")]
    TargetRole(String),
    #[error("the target has {0} label(s); a binary target needs at least two")]
    FewLabels(usize),
    #[error("the target label '{0}' is listed twice")]
    DuplicateLabel(String),
    #[error("no positive label: name the labels that make the target 1")]
    NoPositive,
    #[error("the positive label '{0}' is not one of the target's labels ({1})")]
    UnknownPositive(String, String),
    #[error("every label is positive, so the target would always be 1")]
    AllPositive,
}

impl DatasetSpec {
    /// The spec is one a file can be read by: unique plain column names, at least one input,
    /// one target column matching a rule with two or more labels, some but not all positive.
    /// A spec from a settings file or a bundle is checked before anything reads by it.
    pub fn validate(&self) -> Result<(), SpecError> {
        let mut seen = std::collections::BTreeSet::new();
        for (index, c) in self.columns.iter().enumerate() {
            if c.name.trim().is_empty() || c.name.chars().any(char::is_control) {
                return Err(SpecError::BadName { index });
            }
            if !seen.insert(c.name.as_str()) {
                return Err(SpecError::Duplicate(c.name.clone()));
            }
            if c.role == Role::Target && c.name != self.target.column {
                return Err(SpecError::OtherTarget {
                    column: c.name.clone(),
                    target: self.target.column.clone(),
                });
            }
        }
        if self.features().next().is_none() {
            return Err(SpecError::NoInputs);
        }
        match self.column(&self.target.column) {
            None => return Err(SpecError::NoTargetColumn(self.target.column.clone())),
            Some(c) if c.role != Role::Target => return Err(SpecError::TargetRole(c.name.clone())),
            Some(_) => {}
        }
        let t = &self.target;
        if t.labels.len() < 2 {
            return Err(SpecError::FewLabels(t.labels.len()));
        }
        let mut labels = std::collections::BTreeSet::new();
        if let Some(l) = t.labels.iter().find(|l| !labels.insert(l.as_str())) {
            return Err(SpecError::DuplicateLabel(l.clone()));
        }
        if t.positive.is_empty() {
            return Err(SpecError::NoPositive);
        }
        if let Some(p) = t.positive.iter().find(|p| !labels.contains(p.as_str())) {
            return Err(SpecError::UnknownPositive(p.clone(), t.labels.join(", ")));
        }
        if t.labels.iter().all(|l| t.positive.contains(l)) {
            return Err(SpecError::AllPositive);
        }
        Ok(())
    }

    /// The workspace's dataset: the `[dataset]` table of its settings file, checked; the
    /// hospital spec when there is none, so a workspace without one reads the Kaggle files.
    pub fn of_workspace(cfg: &crate::config::Config) -> anyhow::Result<DatasetSpec> {
        #[derive(Deserialize)]
        struct File {
            dataset: Option<DatasetSpec>,
        }
        let Some(text) = cfg.read_settings()? else {
            return Ok(DatasetSpec::hospital());
        };
        let path = cfg.settings_file();
        let spec = toml::from_str::<File>(&text)
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?
            .dataset;
        match spec {
            None => Ok(DatasetSpec::hospital()),
            Some(s) => {
                s.validate()
                    .map_err(|e| anyhow::anyhow!("{} [dataset]: {e}", path.display()))?;
                Ok(s)
            }
        }
    }

    /// The AV Healthcare Analytics II spec, with the columns in the order of the real file.
    pub fn hospital() -> Self {
        use Role::*;
        use ValueType::*;
        let col = |name: &str, role, value, nullable| ColumnSpec {
            name: name.to_string(),
            role,
            value,
            nullable,
        };
        DatasetSpec {
            name: "av-healthcare-analytics-ii".into(),
            columns: vec![
                col("case_id", Id, Int, false),
                col("Hospital_code", Categorical, Int, false),
                col("Hospital_type_code", Categorical, Text, false),
                col("City_Code_Hospital", Categorical, Int, false),
                col("Hospital_region_code", Categorical, Text, false),
                col("Available Extra Rooms in Hospital", Numeric, Int, false),
                col("Department", Categorical, Text, false),
                col("Ward_Type", Categorical, Text, false),
                col("Ward_Facility_Code", Categorical, Text, false),
                col("Bed Grade", Numeric, Float, true),
                col("patientid", Id, Int, false),
                col("City_Code_Patient", Categorical, Float, true),
                col("Type of Admission", Categorical, Text, false),
                col("Severity of Illness", Categorical, Text, false),
                col("Visitors with Patient", Numeric, Int, false),
                col("Age", Categorical, Text, false),
                col("Admission_Deposit", Numeric, Float, false),
                col("Stay", Target, Text, false),
            ],
            target: TargetRule {
                column: "Stay".into(),
                labels: STAY_LABELS.iter().map(|s| s.to_string()).collect(),
                positive: STAY_LABELS[3..].iter().map(|s| s.to_string()).collect(),
                description: "stay of more than 30 days".into(),
                class_column: Some("long_stay".into()),
                positive_name: Some("> 30 days".into()),
                negative_name: Some("≤ 30 days".into()),
            },
        }
    }

    /// The 0/1 column of scored files: the rule's, else `long_stay` for the hospital spec (its
    /// bundles predate the setting), else `positive`.
    pub fn class_column(&self) -> &str {
        match &self.target.class_column {
            Some(c) => c,
            None if self.name == "av-healthcare-analytics-ii" => "long_stay",
            None => "positive",
        }
    }

    /// The id columns, in file order: what scored files carry to tell rows apart.
    pub fn id_columns(&self) -> impl Iterator<Item = &ColumnSpec> {
        self.columns.iter().filter(|c| c.role == Role::Id)
    }

    /// The probability at or above which a row is predicted positive.
    pub fn threshold(&self) -> f64 {
        THRESHOLD
    }

    /// The case id: the first id column. Logged predictions carry it, and outcomes join by it.
    pub fn case_id(&self) -> Option<&ColumnSpec> {
        self.id_columns().next()
    }

    pub fn column(&self, name: &str) -> Option<&ColumnSpec> {
        self.columns.iter().find(|c| c.name == name)
    }

    /// The columns a model sees, in file order.
    pub fn features(&self) -> impl Iterator<Item = &ColumnSpec> {
        self.columns
            .iter()
            .filter(|c| matches!(c.role, Role::Categorical | Role::Numeric))
    }

    /// The header a file of this spec has; the target column is left out for unlabelled files.
    pub fn header(&self, with_target: bool) -> Vec<&str> {
        self.columns
            .iter()
            .filter(|c| with_target || c.role != Role::Target)
            .map(|c| c.name.as_str())
            .collect()
    }

    /// Index of a target label, if it is one of the known labels.
    pub fn label_index(&self, label: &str) -> Option<usize> {
        self.target.labels.iter().position(|l| l == label)
    }

    pub fn is_positive(&self, label: &str) -> bool {
        self.target.positive.iter().any(|l| l == label)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hospital_spec_matches_the_published_header() {
        let spec = DatasetSpec::hospital();
        let header = spec.header(true).join(",");
        assert_eq!(
            header,
            "case_id,Hospital_code,Hospital_type_code,City_Code_Hospital,Hospital_region_code,\
             Available Extra Rooms in Hospital,Department,Ward_Type,Ward_Facility_Code,Bed Grade,\
             patientid,City_Code_Patient,Type of Admission,Severity of Illness,\
             Visitors with Patient,Age,Admission_Deposit,Stay"
        );
        assert_eq!(spec.header(false).len(), 17);
        assert_eq!(spec.features().count(), 15);
    }

    #[test]
    fn the_hospital_spec_is_valid_and_bad_specs_say_why() {
        let good = DatasetSpec::hospital();
        assert_eq!(good.validate(), Ok(()));
        let broken = |f: &dyn Fn(&mut DatasetSpec)| {
            let mut s = good.clone();
            f(&mut s);
            s.validate().unwrap_err().to_string()
        };
        assert!(broken(&|s| s.columns[1].name = "case_id".into()).contains("twice"));
        assert!(broken(&|s| s.columns[1].name = " ".into()).contains("column 1"));
        assert!(broken(&|s| s.target.column = "Age".into()).contains("role target"));
        assert!(broken(&|s| s.target.column = "Nope".into()).contains("'Nope'"));
        assert!(broken(&|s| s.target.labels.truncate(1)).contains("at least two"));
        assert!(broken(&|s| s.target.positive.clear()).contains("no positive"));
        assert!(broken(&|s| s.target.positive.push("99+".into())).contains("'99+'"));
        assert!(broken(&|s| s.target.positive = s.target.labels.clone()).contains("always be 1"));
        assert!(broken(&|s| s
            .columns
            .retain(|c| !matches!(c.role, Role::Categorical | Role::Numeric)))
        .contains("no column is a model input"));
    }

    #[test]
    fn a_hospital_spec_from_before_class_columns_still_names_long_stay() {
        // A bundle written before the rule named its class column has no such key.
        let mut v = serde_json::to_value(DatasetSpec::hospital()).unwrap();
        v["target"].as_object_mut().unwrap().remove("class_column");
        let old: DatasetSpec = serde_json::from_value(v).unwrap();
        assert_eq!(old.target.class_column, None);
        assert_eq!(old.class_column(), "long_stay");
        assert_eq!(old.validate(), Ok(()));
        let mut other = old.clone();
        other.name = "visits".into();
        assert_eq!(other.class_column(), "positive");
        let ids: Vec<&str> = old.id_columns().map(|c| c.name.as_str()).collect();
        assert_eq!(ids, ["case_id", "patientid"]);
    }

    #[test]
    fn target_rule_is_stay_over_thirty_days() {
        let spec = DatasetSpec::hospital();
        assert!(!spec.is_positive("21-30"));
        assert!(spec.is_positive("31-40"));
        assert!(spec.is_positive("More than 100 Days"));
        assert!(!spec.is_positive("0-10"));
        assert_eq!(spec.label_index("41-50"), Some(4));
        assert_eq!(spec.label_index("30-40"), None);
    }
}
