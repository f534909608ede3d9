//! Search filters: a small, MLflow-like expression language, parsed once and translated by each backend into
//! SQL with bound parameters (never by pasting text into SQL).
//!
//! ```text
//! filter  := clause ( AND clause )*
//! clause  := name = 'x' | name LIKE 'prefix%' | status = 'FINISHED'
//!          | tags.<key> = 'v' | params.<key> = 'v' | metrics.<key> <op> <number>
//! op      := = | != | > | >= | < | <=
//! ```
//! Keys may be written in backquotes (`` metrics.`f1/macro` > 0.8 ``). `AND` is case-insensitive.

use serde::{Deserialize, Serialize};

use crate::entities::RunStatus;
use crate::error::{StoreError, StoreResult};
use crate::names::validate_key;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CmpOp {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
}

impl CmpOp {
    pub fn sql(self) -> &'static str {
        match self {
            CmpOp::Eq => "=",
            CmpOp::Ne => "<>",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
        }
    }

    pub fn holds(self, left: f64, right: f64) -> bool {
        match self {
            CmpOp::Eq => left == right,
            CmpOp::Ne => left != right,
            CmpOp::Gt => left > right,
            CmpOp::Ge => left >= right,
            CmpOp::Lt => left < right,
            CmpOp::Le => left <= right,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Clause {
    NameEquals(String),
    NamePrefix(String),
    Status(RunStatus),
    Tag { key: String, value: String },
    Param { key: String, value: String },
    Metric { key: String, op: CmpOp, value: f64 },
}

impl Clause {
    pub fn describe(&self) -> &'static str {
        match self {
            Clause::NameEquals(_) | Clause::NamePrefix(_) => "name",
            Clause::Status(_) => "status",
            Clause::Tag { .. } => "tags",
            Clause::Param { .. } => "params",
            Clause::Metric { .. } => "metrics",
        }
    }
}

/// A conjunction of clauses. The empty filter matches everything.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Filter {
    pub clauses: Vec<Clause>,
}

impl Filter {
    pub fn all() -> Self {
        Filter::default()
    }

    pub fn and(mut self, clause: Clause) -> Self {
        self.clauses.push(clause);
        self
    }

    pub fn parse(text: &str) -> StoreResult<Self> {
        let tokens = tokenize(text)?;
        let mut clauses = Vec::new();
        let mut rest = tokens.as_slice();
        if rest.is_empty() {
            return Ok(Filter::default());
        }
        loop {
            let (clause, tail) = parse_clause(rest, text)?;
            clauses.push(clause);
            match tail {
                [] => break,
                [Token::Word(word), more @ ..] if word.eq_ignore_ascii_case("and") => rest = more,
                [other, ..] => {
                    return Err(syntax(text, &format!("expected AND, found {other}")));
                }
            }
        }
        Ok(Filter { clauses })
    }

    /// Fails with a clear message when a clause does not apply to the entity being searched.
    pub fn ensure_only(&self, entity: &str, allowed: &[&str]) -> StoreResult<()> {
        for clause in &self.clauses {
            if !allowed.contains(&clause.describe()) {
                return Err(StoreError::InvalidArgument(format!(
                    "{entity} cannot be filtered by {}; allowed: {}",
                    clause.describe(),
                    allowed.join(", ")
                )));
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Word(String),
    Str(String),
    Op(CmpOp),
}

impl std::fmt::Display for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Token::Word(w) => write!(f, "'{w}'"),
            Token::Str(s) => write!(f, "string '{s}'"),
            Token::Op(op) => write!(f, "operator {}", op.sql()),
        }
    }
}

fn syntax(text: &str, message: &str) -> StoreError {
    StoreError::InvalidArgument(format!(
        "cannot parse filter \"{text}\": {message}; example: \"metrics.accuracy > 0.9 and tags.team = 'vision'\""
    ))
}

fn tokenize(text: &str) -> StoreResult<Vec<Token>> {
    let chars: Vec<char> = text.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '\'' || c == '"' {
            let end = chars[i + 1..]
                .iter()
                .position(|&d| d == c)
                .ok_or_else(|| syntax(text, "unterminated string"))?;
            tokens.push(Token::Str(chars[i + 1..i + 1 + end].iter().collect()));
            i += end + 2;
        } else if matches!(c, '=' | '!' | '<' | '>') {
            let two: String = chars[i..(i + 2).min(chars.len())].iter().collect();
            let (op, len) = match two.as_str() {
                "!=" => (CmpOp::Ne, 2),
                ">=" => (CmpOp::Ge, 2),
                "<=" => (CmpOp::Le, 2),
                "<>" => (CmpOp::Ne, 2),
                "==" => (CmpOp::Eq, 2),
                _ => match c {
                    '=' => (CmpOp::Eq, 1),
                    '<' => (CmpOp::Lt, 1),
                    '>' => (CmpOp::Gt, 1),
                    _ => return Err(syntax(text, "'!' must be followed by '='")),
                },
            };
            tokens.push(Token::Op(op));
            i += len;
        } else {
            // A word: field names (with dots and backquoted keys), numbers, AND, LIKE.
            let mut word = String::new();
            while i < chars.len() {
                let d = chars[i];
                if d == '`' {
                    let end = chars[i + 1..]
                        .iter()
                        .position(|&e| e == '`')
                        .ok_or_else(|| syntax(text, "unterminated backquote"))?;
                    word.extend(&chars[i + 1..i + 1 + end]);
                    i += end + 2;
                } else if d.is_whitespace() || matches!(d, '=' | '!' | '<' | '>' | '\'' | '"') {
                    break;
                } else {
                    word.push(d);
                    i += 1;
                }
            }
            tokens.push(Token::Word(word));
        }
    }
    Ok(tokens)
}

fn parse_clause<'t>(tokens: &'t [Token], text: &str) -> StoreResult<(Clause, &'t [Token])> {
    let [Token::Word(field), op, value, rest @ ..] = tokens else {
        return Err(syntax(text, "expected <field> <operator> <value>"));
    };
    let value_text = match value {
        Token::Str(s) | Token::Word(s) => s.clone(),
        Token::Op(_) => return Err(syntax(text, &format!("expected a value after {op}"))),
    };
    let is_like = matches!(op, Token::Word(w) if w.eq_ignore_ascii_case("like"));
    let cmp = match op {
        Token::Op(cmp) => Some(*cmp),
        _ if is_like => None,
        other => {
            return Err(syntax(
                text,
                &format!("expected an operator, found {other}"),
            ));
        }
    };
    let lower = field.to_ascii_lowercase();
    let clause = if lower == "name" {
        match (cmp, is_like) {
            (Some(CmpOp::Eq), _) => Clause::NameEquals(value_text),
            (None, true) => match value_text.strip_suffix('%') {
                Some(prefix) if !prefix.contains(['%', '_']) => Clause::NamePrefix(prefix.into()),
                _ => {
                    return Err(syntax(
                        text,
                        "LIKE supports prefixes only ('abc%', no other wildcard)",
                    ));
                }
            },
            _ => return Err(syntax(text, "name supports = and LIKE 'prefix%'")),
        }
    } else if lower == "status" {
        if cmp != Some(CmpOp::Eq) {
            return Err(syntax(text, "status supports ="));
        }
        let status = RunStatus::parse(&value_text)
            .ok_or_else(|| syntax(text, "status is one of RUNNING, FINISHED, FAILED, KILLED"))?;
        Clause::Status(status)
    } else if let Some((prefix, key)) = field.split_once('.') {
        let key = key.to_string();
        match prefix.to_ascii_lowercase().as_str() {
            "tags" | "tag" => {
                validate_key("tag", &key)?;
                if cmp != Some(CmpOp::Eq) {
                    return Err(syntax(text, "tags support ="));
                }
                Clause::Tag {
                    key,
                    value: value_text,
                }
            }
            "params" | "param" => {
                validate_key("param", &key)?;
                if cmp != Some(CmpOp::Eq) {
                    return Err(syntax(text, "params support ="));
                }
                Clause::Param {
                    key,
                    value: value_text,
                }
            }
            "metrics" | "metric" => {
                validate_key("metric", &key)?;
                let Some(op) = cmp else {
                    return Err(syntax(text, "metrics support =, !=, <, <=, >, >="));
                };
                let value: f64 = value_text
                    .parse()
                    .ok()
                    .filter(|v: &f64| v.is_finite())
                    .ok_or_else(|| {
                        syntax(
                            text,
                            &format!("metric value '{value_text}' is not a number"),
                        )
                    })?;
                Clause::Metric { key, op, value }
            }
            _ => {
                return Err(syntax(
                    text,
                    &format!(
                        "unknown field '{field}'; use name, status, tags.K, params.K or metrics.K"
                    ),
                ));
            }
        }
    } else {
        return Err(syntax(
            text,
            &format!("unknown field '{field}'; use name, status, tags.K, params.K or metrics.K"),
        ));
    };
    Ok((clause, rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_conjunction() {
        let filter =
            Filter::parse("metrics.accuracy > 0.9 AND tags.team = 'vision' and name like 'iris%'")
                .unwrap();
        assert_eq!(
            filter.clauses,
            vec![
                Clause::Metric {
                    key: "accuracy".into(),
                    op: CmpOp::Gt,
                    value: 0.9
                },
                Clause::Tag {
                    key: "team".into(),
                    value: "vision".into()
                },
                Clause::NamePrefix("iris".into()),
            ]
        );
    }

    #[test]
    fn backquoted_keys_and_all_operators() {
        for (text, op) in [
            ("=", CmpOp::Eq),
            ("!=", CmpOp::Ne),
            (">=", CmpOp::Ge),
            ("<=", CmpOp::Le),
            ("<", CmpOp::Lt),
        ] {
            let filter = Filter::parse(&format!("metrics.`f1/macro`{text}1e-3")).unwrap();
            assert_eq!(
                filter.clauses,
                vec![Clause::Metric {
                    key: "f1/macro".into(),
                    op,
                    value: 1e-3
                }]
            );
        }
    }

    #[test]
    fn errors_say_what_is_wrong() {
        for (text, needle) in [
            ("metrics.acc > high", "not a number"),
            ("name like '%iris'", "prefixes only"),
            ("colour = 'red'", "unknown field"),
            ("metrics.acc > 0.9 or name = 'x'", "expected AND"),
            ("tags.team = 'unterminated", "unterminated"),
            ("status = 'DONE'", "RUNNING"),
            ("metrics.acc >", "expected <field>"),
        ] {
            let message = Filter::parse(text).unwrap_err().to_string();
            assert!(message.contains(needle), "{text}: {message}");
        }
    }

    #[test]
    fn empty_filter_matches_all() {
        assert_eq!(Filter::parse("  ").unwrap(), Filter::all());
    }
}
