//! The search over runs: the question a filter and an order become (`crate::mlflow::filter`
//! parses MLflow's grammar into these types) and the one SQL statement it is answered by.
//! Keys and values are bound, never spliced into the text.

use super::external::{status_to_store, ExternalError};

type Res<T> = Result<T, ExternalError>;
/// What a search compares: a metric's latest value, a param, a tag or a run attribute.
#[derive(Debug, Clone, PartialEq)]
pub enum Field {
    Metric(String),
    Param(String),
    Tag(String),
    Attr(Attr),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attr {
    RunId,
    RunName,
    Status,
    StartTime,
    EndTime,
    UserId,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Like,
    ILike,
    In,
    NotIn,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Num(f64),
    Str(String),
    List(Vec<String>),
}

/// One comparison of a filter; a filter is their conjunction.
#[derive(Debug, Clone, PartialEq)]
pub struct Clause {
    pub field: Field,
    pub op: Op,
    pub value: Value,
}

#[derive(Debug, Clone, PartialEq)]
pub struct OrderKey {
    pub field: Field,
    pub ascending: bool,
}

/// Which runs a search sees by their lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    Active,
    Deleted,
    All,
}

/// A search's question, already parsed and checked.
#[derive(Debug, Clone)]
pub struct RunQuery {
    pub experiments: Vec<i64>,
    pub clauses: Vec<Clause>,
    pub order: Vec<OrderKey>,
    pub view: View,
    pub offset: usize,
    pub limit: usize,
}

/// The SQL expression a field reads, with the argument it binds (a key), if any.
fn field_sql(f: &Field) -> (&'static str, Option<&str>) {
    match f {
        Field::Metric(k) => (
            "(SELECT m.value FROM metrics m WHERE m.run_id = r.id AND m.key = ? \
             ORDER BY m.step DESC LIMIT 1)",
            Some(k),
        ),
        Field::Param(k) => (
            "(SELECT p.value FROM params p WHERE p.run_id = r.id AND p.key = ?)",
            Some(k),
        ),
        Field::Tag(k) => (
            "(SELECT t.value FROM run_tags t WHERE t.run_id = r.id AND t.key = ?)",
            Some(k),
        ),
        Field::Attr(a) => (
            match a {
                Attr::RunId => "r.id",
                Attr::RunName => "r.name",
                Attr::Status => "r.status",
                Attr::StartTime => "COALESCE(r.started_at, r.created_at)",
                Attr::EndTime => "r.finished_at",
                Attr::UserId => "r.user_id",
            },
            None,
        ),
    }
}

fn numeric(f: &Field) -> bool {
    matches!(
        f,
        Field::Metric(_) | Field::Attr(Attr::StartTime) | Field::Attr(Attr::EndTime)
    )
}

/// MLflow's LIKE is case-sensitive and SQLite's is not: a LIKE pattern becomes a GLOB one.
pub fn like_to_glob(p: &str) -> String {
    let mut out = String::with_capacity(p.len());
    for ch in p.chars() {
        match ch {
            '%' => out.push('*'),
            '_' => out.push('?'),
            '*' | '?' | '[' | ']' => {
                out.push('[');
                out.push(ch);
                out.push(']');
            }
            c => out.push(c),
        }
    }
    out
}

/// The search as SQL: run ids in order, one more than the page to tell whether more follow.
pub(super) fn search_sql(q: &RunQuery) -> Res<(String, Vec<rusqlite::types::Value>)> {
    use rusqlite::types::Value as V;
    let mut args: Vec<V> = Vec::new();
    let mut wh: Vec<String> = Vec::new();
    let marks = vec!["?"; q.experiments.len()].join(", ");
    wh.push(format!("r.experiment_id IN ({marks})"));
    args.extend(q.experiments.iter().map(|e| V::Integer(*e)));
    wh.push(
        match q.view {
            View::Active => "r.deleted_at IS NULL",
            View::Deleted => "r.deleted_at IS NOT NULL",
            View::All => "1",
        }
        .into(),
    );
    for c in &q.clauses {
        let (expr, key) = field_sql(&c.field);
        let push_key = |args: &mut Vec<V>| {
            if let Some(k) = key {
                args.push(V::Text(k.to_string()));
            }
        };
        let num = numeric(&c.field);
        let status = c.field == Field::Attr(Attr::Status);
        let text = |s: &str| -> Res<V> {
            if status {
                let st = status_to_store(s).ok_or_else(|| {
                    ExternalError::Invalid(format!(
                        "attributes.status: '{s}' is not one of RUNNING, SCHEDULED, FINISHED, FAILED, KILLED"
                    ))
                })?;
                Ok(V::Text(st.into()))
            } else {
                Ok(V::Text(s.to_string()))
            }
        };
        let op = match c.op {
            Op::Eq => "=",
            Op::Ne => "!=",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::Like => "GLOB",
            Op::ILike => "LIKE",
            Op::In => "IN",
            Op::NotIn => "NOT IN",
        };
        match (&c.value, c.op) {
            (Value::Num(n), Op::Eq | Op::Ne | Op::Lt | Op::Le | Op::Gt | Op::Ge) if num => {
                push_key(&mut args);
                args.push(V::Real(*n));
                wh.push(format!("{expr} {op} ?"));
            }
            (Value::Str(s), Op::Eq | Op::Ne) if !num => {
                push_key(&mut args);
                args.push(text(s)?);
                wh.push(format!("{expr} {op} ?"));
            }
            (Value::Str(s), Op::Like | Op::ILike) if !num && !status => {
                push_key(&mut args);
                args.push(V::Text(if c.op == Op::Like {
                    like_to_glob(s)
                } else {
                    s.clone()
                }));
                wh.push(format!("{expr} {op} ?"));
            }
            (Value::List(items), Op::In | Op::NotIn) if !num => {
                push_key(&mut args);
                for s in items {
                    args.push(text(s)?);
                }
                wh.push(format!(
                    "{expr} {op} ({})",
                    vec!["?"; items.len()].join(", ")
                ));
            }
            _ => {
                return Err(ExternalError::Invalid(format!(
                    "filter: {} cannot be compared with {:?} by {op}",
                    describe(&c.field),
                    c.value
                )))
            }
        }
    }
    let mut order = Vec::new();
    for o in &q.order {
        let (expr, key) = field_sql(&o.field);
        if let Some(k) = key {
            // Bound twice: once for the null test, once for the value.
            args.push(V::Text(k.to_string()));
            args.push(V::Text(k.to_string()));
        }
        let dir = if o.ascending { "ASC" } else { "DESC" };
        order.push(format!("({expr}) IS NULL, {expr} {dir}"));
    }
    order.push("COALESCE(r.started_at, r.created_at) DESC, r.id".into());
    let sql = format!(
        "SELECT r.id FROM runs r WHERE {} ORDER BY {} LIMIT {} OFFSET {}",
        wh.join(" AND "),
        order.join(", "),
        q.limit + 1,
        q.offset
    );
    Ok((sql, args))
}

fn describe(f: &Field) -> String {
    match f {
        Field::Metric(k) => format!("metrics.{k}"),
        Field::Param(k) => format!("params.{k}"),
        Field::Tag(k) => format!("tags.{k}"),
        Field::Attr(a) => format!("attributes.{a:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns_become_case_sensitive_globs() {
        assert_eq!(like_to_glob("%x_y%"), "*x?y*");
        assert_eq!(like_to_glob("a*b?[c]"), "a[*]b[?][[]c[]]");
    }
}
