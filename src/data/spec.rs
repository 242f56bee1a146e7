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
pub struct ColumnSpec {
    pub name: String,
    pub role: Role,
    pub value: ValueType,
    /// Whether an empty cell is a legitimate value (a known gap in the data).
    pub nullable: bool,
}

/// The rule that turns the label column into the binary target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetRule {
    pub column: String,
    /// Every label the column may hold, in their natural order.
    pub labels: Vec<String>,
    /// The labels that make the target 1.
    pub positive: Vec<String>,
    /// A short human description of the positive class.
    pub description: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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

impl DatasetSpec {
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
            },
        }
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
