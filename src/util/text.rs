//! Text: cells clipped and escaped for terminals, tables, bounded listings, numbers and CSV
//! fields as we print them.

/// A number as charts and tables label it (a bin edge, a parameter): whole numbers as they are, others to four significant
/// digits with no trailing zeros (`3181.2`, not `3181.200`).
pub fn short_number(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        return format!("{}", x as i64);
    }
    let digits = (4 - (x.abs().log10().floor() as i32 + 1)).clamp(0, 6) as usize;
    let s = format!("{x:.digits$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// A CSV field as RFC 4180 writes it: quoted (inner quotes doubled) when it holds a comma, a
/// quote or a line break, as is otherwise.
pub fn csv_field(s: &str) -> std::borrow::Cow<'_, str> {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\"")).into()
    } else {
        s.into()
    }
}

/// The most names an error lists; it counts the rest, so an answer's size never grows with
/// what the request held.
pub const MAX_LISTED: usize = 20;

/// The first `MAX_LISTED` items, copied, and how many more there were.
pub fn first_few<'a>(items: impl Iterator<Item = &'a str>) -> (Vec<String>, usize) {
    let mut first = Vec::new();
    let mut more = 0;
    for s in items {
        if first.len() < MAX_LISTED {
            first.push(s.to_string());
        } else {
            more += 1;
        }
    }
    (first, more)
}

/// `a, b, c`, and ` … and 37,980 more <noun>` when `more` were left out.
pub fn listing(first: &[String], more: usize, noun: &str) -> String {
    let mut out = first.join(", ");
    if more > 0 {
        out.push_str(&format!(" … and {} more {noun}", thousands(more)));
    }
    out
}

/// The most characters a table cell shows; a wider value is cut with "…". Tables go to
/// terminals, files and logs alike, so the bound is fixed rather than a terminal's width.
pub const MAX_CELL: usize = 80;

/// `s` cut to at most `max` characters, the last one "…" when anything was cut.
pub fn clip(s: &str, max: usize) -> std::borrow::Cow<'_, str> {
    match s.char_indices().nth(max) {
        None => s.into(),
        Some(_) => {
            let keep = s
                .char_indices()
                .nth(max.saturating_sub(1))
                .map_or(s.len(), |(i, _)| i);
            format!("{}…", &s[..keep]).into()
        }
    }
}

/// `s` for a message: cut to `MAX_CELL` characters, and escaped when it holds a control
/// character (a NUL or an escape sequence never reaches a terminal as itself).
pub fn shown(s: &str) -> std::borrow::Cow<'_, str> {
    if s.chars().any(char::is_control) {
        clip(&s.escape_debug().to_string(), MAX_CELL)
            .into_owned()
            .into()
    } else {
        clip(s, MAX_CELL)
    }
}

/// Renders rows as a left-aligned text table with a header rule; every cell at most
/// `MAX_CELL` characters. Padding is written by hand: the formatter's width argument panics
/// past 65,535.
pub fn render_table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let clipped: Vec<Vec<std::borrow::Cow<'_, str>>> = rows
        .iter()
        .map(|r| r.iter().map(|c| clip(c, MAX_CELL)).collect())
        .collect();
    let heads: Vec<std::borrow::Cow<'_, str>> = headers.iter().map(|h| clip(h, MAX_CELL)).collect();
    let mut widths: Vec<usize> = heads.iter().map(|h| h.chars().count()).collect();
    for r in &clipped {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut out = String::new();
        for (i, (c, w)) in cells.iter().zip(&widths).enumerate() {
            if i > 0 {
                out.push_str("  ");
            }
            out.push_str(c);
            out.extend(std::iter::repeat_n(
                ' ',
                w.saturating_sub(c.chars().count()),
            ));
        }
        out.trim_end().to_string()
    };
    let mut out = line(heads.iter().map(|h| h.as_ref()).collect());
    out.push('\n');
    out.push_str(&line(
        widths
            .iter()
            .map(|w| "-".repeat(*w))
            .collect::<Vec<_>>()
            .iter()
            .map(|s| s.as_str())
            .collect(),
    ));
    out.push('\n');
    for r in &clipped {
        out.push_str(&line(r.iter().map(|s| s.as_ref()).collect()));
        out.push('\n');
    }
    out
}

/// `318438` ⇒ `318,438`.
pub fn thousands(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wide_cell_is_cut_and_never_panics() {
        let wide = "x".repeat(70_000);
        let t = render_table(&["A", "B"], &[vec![wide.clone(), "b".into()]]);
        let row = t.lines().nth(2).unwrap();
        assert_eq!(row, format!("{}…  b", "x".repeat(MAX_CELL - 1)));
        assert_eq!(clip("é".repeat(81).as_str(), 80).chars().count(), 80);
        assert_eq!(clip("short", 80), "short");
    }

    #[test]
    fn tables_and_numbers() {
        let t = render_table(&["a", "bb"], &[vec!["xyz".into(), "1".into()]]);
        assert_eq!(t, "a    bb\n---  --\nxyz  1\n");
        assert_eq!(thousands(318_438), "318,438");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000_000), "1,000,000");
    }
}
