//! MLflow's search grammar, parsed by hand: a filter is comparisons joined by AND
//! (`metrics.auc > 0.8 and params.model = 'lr' and tags.team LIKE '%ml%'
//! and attributes.status IN ('FINISHED', 'FAILED')`), an order is `field [ASC|DESC]`. Keys may be
//! quoted with backticks or double quotes; strings take single or double quotes. The result is
//! the store's search question (`tracking::external`), so no text reaches SQL.

use super::errors::MlflowError;
use crate::tracking::external::{Attr, Clause, Field, Op, OrderKey, Value};

/// The longest filter or order clause read.
const MAX_FILTER: usize = 8192;
/// The most comparisons one filter holds; each is a subquery.
const MAX_CLAUSES: usize = 50;

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Quoted(String),
    Str(String),
    Num(f64),
    Op(&'static str),
    LParen,
    RParen,
    Comma,
}

fn err(what: &str, msg: impl std::fmt::Display) -> MlflowError {
    MlflowError::invalid(format!("{what}: {msg}"))
}

fn lex(what: &str, s: &str) -> Result<Vec<Tok>, MlflowError> {
    if s.len() > MAX_FILTER {
        return Err(err(
            what,
            format!("{} bytes; at most {MAX_FILTER}", s.len()),
        ));
    }
    let b: Vec<char> = s.chars().collect();
    let mut i = 0;
    let mut out = Vec::new();
    while i < b.len() {
        let c = b[i];
        match c {
            c if c.is_whitespace() => i += 1,
            '(' => {
                out.push(Tok::LParen);
                i += 1
            }
            ')' => {
                out.push(Tok::RParen);
                i += 1
            }
            ',' => {
                out.push(Tok::Comma);
                i += 1
            }
            '\'' | '"' | '`' => {
                let q = c;
                let mut j = i + 1;
                let mut text = String::new();
                loop {
                    match b.get(j) {
                        None => return Err(err(what, format!("unclosed {q} quote"))),
                        // A doubled quote stands for itself, as in SQL.
                        Some(&x) if x == q && b.get(j + 1) == Some(&q) => {
                            text.push(q);
                            j += 2;
                        }
                        Some(&x) if x == q => break,
                        Some(&x) => {
                            text.push(x);
                            j += 1;
                        }
                    }
                }
                i = j + 1;
                out.push(if q == '\'' {
                    Tok::Str(text)
                } else if q == '"' && !matches!(out.last(), Some(Tok::Ident(p)) if p.ends_with('.'))
                {
                    // A double-quoted token after a comparator is a string; after `prefix.` it
                    // is a key.
                    Tok::Str(text)
                } else {
                    Tok::Quoted(text)
                });
            }
            '=' => {
                out.push(Tok::Op("="));
                i += 1
            }
            '!' if b.get(i + 1) == Some(&'=') => {
                out.push(Tok::Op("!="));
                i += 2
            }
            '<' if b.get(i + 1) == Some(&'>') => {
                out.push(Tok::Op("!="));
                i += 2
            }
            '<' | '>' => {
                let eq = b.get(i + 1) == Some(&'=');
                out.push(Tok::Op(match (c, eq) {
                    ('<', true) => "<=",
                    ('<', false) => "<",
                    ('>', true) => ">=",
                    _ => ">",
                }));
                i += if eq { 2 } else { 1 };
            }
            c if c.is_ascii_digit()
                || ((c == '-' || c == '+' || c == '.')
                    && b.get(i + 1)
                        .is_some_and(|d| d.is_ascii_digit() || *d == '.')) =>
            {
                let mut j = i + 1;
                while j < b.len()
                    && (b[j].is_ascii_alphanumeric()
                        || b[j] == '.'
                        || ((b[j] == '-' || b[j] == '+') && matches!(b[j - 1], 'e' | 'E')))
                {
                    j += 1;
                }
                let text: String = b[i..j].iter().collect();
                let n: f64 = text
                    .parse()
                    .map_err(|_| err(what, format!("'{text}' is not a number")))?;
                if !n.is_finite() {
                    return Err(err(what, format!("'{text}' is not a finite number")));
                }
                out.push(Tok::Num(n));
                i = j;
            }
            c if c.is_alphanumeric() || c == '_' => {
                let mut j = i;
                while j < b.len()
                    && (b[j].is_alphanumeric() || matches!(b[j], '_' | '.' | '-' | '/' | ':'))
                {
                    j += 1;
                }
                out.push(Tok::Ident(b[i..j].iter().collect()));
                i = j;
            }
            other => return Err(err(what, format!("unexpected character '{other}'"))),
        }
    }
    Ok(out)
}

/// One comparison as written: the entity (`metrics`, `params`, `tags`, `attributes`, or
/// empty for a bare name), its key, the comparator and the value.
#[derive(Debug, Clone, PartialEq)]
pub struct Raw {
    pub entity: String,
    pub key: String,
    pub op: Op,
    pub value: Value,
}

/// Reads an identifier (`entity.key`, with the key possibly quoted) from the tokens.
fn ident(what: &str, toks: &[Tok], i: &mut usize) -> Result<(String, String), MlflowError> {
    match toks.get(*i) {
        Some(Tok::Ident(s)) => {
            *i += 1;
            if let Some(entity) = s.strip_suffix('.') {
                if let Some(Tok::Quoted(k)) = toks.get(*i) {
                    *i += 1;
                    return Ok((entity.to_lowercase(), k.clone()));
                }
                return Err(err(what, format!("'{s}' names no key")));
            }
            Ok(match s.split_once('.') {
                Some((e, k)) if !k.is_empty() => (e.to_lowercase(), k.to_string()),
                _ => (String::new(), s.clone()),
            })
        }
        // `metrics.x` written whole in backticks.
        Some(Tok::Quoted(s)) => {
            *i += 1;
            Ok(match s.split_once('.') {
                Some((e, k)) => (e.to_lowercase(), k.to_string()),
                None => (String::new(), s.clone()),
            })
        }
        Some(t) => Err(err(what, format!("expected a field name, found {t:?}"))),
        None => Err(err(what, "expected a field name, found the end")),
    }
}

/// Parses a filter into its comparisons.
pub fn parse_filter(what: &str, s: &str) -> Result<Vec<Raw>, MlflowError> {
    let toks = lex(what, s)?;
    let mut i = 0;
    let mut out = Vec::new();
    while i < toks.len() {
        if !out.is_empty() {
            match toks.get(i) {
                Some(Tok::Ident(a)) if a.eq_ignore_ascii_case("and") => i += 1,
                Some(Tok::Ident(o)) if o.eq_ignore_ascii_case("or") => {
                    return Err(err(what, "OR is not supported; join comparisons with AND"))
                }
                t => return Err(err(what, format!("expected AND, found {t:?}"))),
            }
        }
        let (entity, key) = ident(what, &toks, &mut i)?;
        let op = match toks.get(i) {
            Some(Tok::Op(o)) => match *o {
                "=" => Op::Eq,
                "!=" => Op::Ne,
                "<" => Op::Lt,
                "<=" => Op::Le,
                ">" => Op::Gt,
                _ => Op::Ge,
            },
            Some(Tok::Ident(w)) if w.eq_ignore_ascii_case("like") => Op::Like,
            Some(Tok::Ident(w)) if w.eq_ignore_ascii_case("ilike") => Op::ILike,
            Some(Tok::Ident(w)) if w.eq_ignore_ascii_case("in") => Op::In,
            Some(Tok::Ident(w)) if w.eq_ignore_ascii_case("not") => match toks.get(i + 1) {
                Some(Tok::Ident(x)) if x.eq_ignore_ascii_case("in") => {
                    i += 1;
                    Op::NotIn
                }
                _ => return Err(err(what, "NOT must be followed by IN")),
            },
            t => {
                return Err(err(
                    what,
                    format!("expected a comparator after '{key}', found {t:?}"),
                ))
            }
        };
        i += 1;
        let value = match (op, toks.get(i)) {
            (Op::In | Op::NotIn, Some(Tok::LParen)) => {
                i += 1;
                let mut items = Vec::new();
                loop {
                    match toks.get(i) {
                        Some(Tok::Str(s)) => items.push(s.clone()),
                        t => {
                            return Err(err(
                                what,
                                format!("expected a quoted string in the list, found {t:?}"),
                            ))
                        }
                    }
                    i += 1;
                    match toks.get(i) {
                        Some(Tok::Comma) => i += 1,
                        Some(Tok::RParen) => break,
                        t => return Err(err(what, format!("expected ',' or ')', found {t:?}"))),
                    }
                }
                Value::List(items)
            }
            (Op::In | Op::NotIn, t) => {
                return Err(err(
                    what,
                    format!("IN takes a list in parentheses, found {t:?}"),
                ))
            }
            (_, Some(Tok::Num(n))) => Value::Num(*n),
            (_, Some(Tok::Str(s))) => Value::Str(s.clone()),
            (_, t) => {
                return Err(err(
                    what,
                    format!(
                        "expected a number or a quoted string after the comparator, found {t:?}"
                    ),
                ))
            }
        };
        i += 1;
        out.push(Raw {
            entity,
            key,
            op,
            value,
        });
        if out.len() > MAX_CLAUSES {
            return Err(err(what, format!("more than {MAX_CLAUSES} comparisons")));
        }
    }
    Ok(out)
}

/// The field an entity and key name in a run search.
fn run_field(what: &str, entity: &str, key: &str) -> Result<Field, MlflowError> {
    Ok(match entity {
        "metric" | "metrics" => Field::Metric(key.to_string()),
        "param" | "params" | "parameter" | "parameters" => Field::Param(key.to_string()),
        "tag" | "tags" => Field::Tag(key.to_string()),
        "" | "attribute" | "attributes" | "attr" | "run" => Field::Attr(match key {
            "run_id" | "run_uuid" | "id" => Attr::RunId,
            "run_name" => Attr::RunName,
            "status" => Attr::Status,
            "start_time" | "created" | "Created" => Attr::StartTime,
            "end_time" => Attr::EndTime,
            "user_id" => Attr::UserId,
            other => {
                return Err(err(
                    what,
                    format!(
                        "attribute '{}' is not searchable here (run_id, run_name, status, \
                         start_time, end_time, user_id are)",
                        super::wire::clip(other)
                    ),
                ))
            }
        }),
        other => {
            return Err(err(
                what,
                format!(
                    "'{}' is not metrics, params, tags or attributes",
                    super::wire::clip(other)
                ),
            ))
        }
    })
}

/// A run search's filter as the store's clauses.
pub fn run_filter(s: &str) -> Result<Vec<Clause>, MlflowError> {
    parse_filter("filter", s)?
        .into_iter()
        .map(|r| {
            Ok(Clause {
                field: run_field("filter", &r.entity, &r.key)?,
                op: r.op,
                value: r.value,
            })
        })
        .collect()
}

/// A run search's `order_by` entries.
pub fn run_order(items: &[String]) -> Result<Vec<OrderKey>, MlflowError> {
    if items.len() > 10 {
        return Err(err("order_by", "more than 10 keys"));
    }
    items
        .iter()
        .map(|s| {
            let toks = lex("order_by", s)?;
            let mut i = 0;
            let (entity, key) = ident("order_by", &toks, &mut i)?;
            let ascending = match toks.get(i) {
                None => true,
                Some(Tok::Ident(d)) if d.eq_ignore_ascii_case("asc") => true,
                Some(Tok::Ident(d)) if d.eq_ignore_ascii_case("desc") => false,
                Some(t) => {
                    return Err(err(
                        "order_by",
                        format!("expected ASC or DESC, found {t:?}"),
                    ))
                }
            };
            if toks.len() > i + 1 {
                return Err(err(
                    "order_by",
                    format!(
                        "'{}' has more than a field and a direction",
                        super::wire::clip(s)
                    ),
                ));
            }
            Ok(OrderKey {
                field: run_field("order_by", &entity, &key)?,
                ascending,
            })
        })
        .collect()
}

/// What a name filter leaves: every name, those matching a GLOB pattern, or none.
#[derive(Debug, Clone, PartialEq)]
pub enum NameMatch {
    All,
    Glob(String),
    Nothing,
}

/// A tag comparison on something that keeps no tags (registered models and versions): `!=`
/// holds for every one, `=` and `LIKE` for none. The client adds
/// `tag.`mlflow.prompt.is_prompt` != 'true'` to every registry search.
fn tagless(r: &Raw) -> Option<bool> {
    if !matches!(r.entity.as_str(), "tag" | "tags") {
        return None;
    }
    match (r.op, &r.value) {
        (Op::Ne, Value::Str(_)) => Some(true),
        (Op::Eq | Op::Like | Op::ILike, Value::Str(_)) => Some(false),
        _ => None,
    }
}

/// A name filter (experiments, registered models): `name = 'x'` or `name LIKE 'x%'`, once;
/// with `no_tags`, tag comparisons as `tagless` reads them. Anything else is refused by name.
pub fn name_match(what: &str, s: &str, no_tags: bool) -> Result<NameMatch, MlflowError> {
    let mut out = NameMatch::All;
    let mut named = false;
    let refuse = || {
        err(
            what,
            "only one `name = '...'` or `name LIKE '...'` is supported here",
        )
    };
    for r in parse_filter(what, s)? {
        if no_tags {
            match tagless(&r) {
                Some(true) => continue,
                Some(false) => {
                    out = NameMatch::Nothing;
                    continue;
                }
                None => {}
            }
        }
        let is_name =
            r.key == "name" && matches!(r.entity.as_str(), "" | "attribute" | "attributes");
        if !is_name || named {
            return Err(refuse());
        }
        named = true;
        let glob = match (r.op, &r.value) {
            (Op::Eq, Value::Str(v)) => exact_glob(v),
            (Op::Like, Value::Str(v)) => crate::tracking::external::like_to_glob(v),
            _ => return Err(refuse()),
        };
        if out != NameMatch::Nothing {
            out = NameMatch::Glob(glob);
        }
    }
    Ok(out)
}

/// A GLOB pattern matching exactly `s`.
fn exact_glob(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if matches!(c, '*' | '?' | '[' | ']') {
            out.push('[');
            out.push(c);
            out.push(']');
        } else {
            out.push(c);
        }
    }
    out
}

/// Equality on plain fields (model-version search: `name = 'm' and run_id = '...'`).
pub fn equalities(
    what: &str,
    s: &str,
    allowed: &[&str],
) -> Result<Option<Vec<(String, String)>>, MlflowError> {
    let mut out = Vec::new();
    let mut nothing = false;
    for r in parse_filter(what, s)? {
        match tagless(&r) {
            Some(true) => continue,
            Some(false) => {
                nothing = true;
                continue;
            }
            None => {}
        }
        match (r.op, r.value) {
            (Op::Eq, Value::Str(v)) if allowed.contains(&r.key.as_str()) => out.push((r.key, v)),
            _ => {
                return Err(err(
                    what,
                    format!(
                        "only `{}` with = '...' are supported here",
                        allowed.join("`, `")
                    ),
                ))
            }
        }
    }
    Ok((!nothing).then_some(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_filter_parses() {
        let c = run_filter(
            "metrics.auc > 0.5 and params.a = 'b' AND tags.`my tag` LIKE '%x%' \
             and attributes.status IN ('FINISHED', 'FAILED') and tags.mlflow.runName != \"r1\"",
        )
        .unwrap();
        assert_eq!(c.len(), 5);
        assert_eq!(c[0].field, Field::Metric("auc".into()));
        assert_eq!((c[0].op, c[0].value.clone()), (Op::Gt, Value::Num(0.5)));
        assert_eq!(c[2].field, Field::Tag("my tag".into()));
        assert_eq!(c[2].op, Op::Like);
        assert_eq!(
            c[3].value,
            Value::List(vec!["FINISHED".into(), "FAILED".into()])
        );
        assert_eq!(c[4].field, Field::Tag("mlflow.runName".into()));
        assert_eq!(c[4].value, Value::Str("r1".into()));
    }

    #[test]
    fn bad_filters_name_what_is_wrong() {
        for bad in [
            "metrics.auc >",
            "metrics.auc > 0.5 or params.a = 'b'",
            "foo.bar = 'x'",
            "params.a = 'unclosed",
            "attributes.nope = 'x'",
            "params.a IN 'x'",
            "metrics.x > 1e999",
            "params.a ; DROP TABLE runs",
        ] {
            let e = run_filter(bad).unwrap_err();
            assert_eq!(e.code, "INVALID_PARAMETER_VALUE", "{bad}");
            assert!(e.message.starts_with("filter: "), "{bad}: {}", e.message);
        }
        assert!(run_filter("").unwrap().is_empty());
    }

    #[test]
    fn orders_read_direction() {
        let o = run_order(&["metrics.auc DESC".into(), "attributes.start_time".into()]).unwrap();
        assert!(!o[0].ascending && o[1].ascending);
        assert!(run_order(&["metrics.auc sideways".into()]).is_err());
    }

    #[test]
    fn name_filters_become_globs() {
        let m = |s| name_match("filter", s, true).unwrap();
        assert_eq!(m("name = 'a*b'"), NameMatch::Glob("a[*]b".into()));
        assert_eq!(
            m("name LIKE 'exp%' AND tag.`mlflow.prompt.is_prompt` != 'true'"),
            NameMatch::Glob("exp*".into())
        );
        assert_eq!(m("tags.x = 'y'"), NameMatch::Nothing);
        assert_eq!(m(""), NameMatch::All);
        assert!(name_match("filter", "tags.x = 'y'", false).is_err());
        assert!(name_match("filter", "name = 'a' and name = 'b'", true).is_err());
        assert!(name_match("filter", "metrics.x > 1", true).is_err());
    }
}
