//! Conditions and values: `not open(office_hours) or caller starts_with "+49"`. Precedence from
//! loosest: `or`, `and`, `not`, comparison. Nesting is limited so no input overflows the stack.

use super::cursor::{Cursor, PResult, Reported};
use super::tree::{Part, TokKind};
use crate::ast::{ArithOp, CmpOp, Cond, Expr, Ident};
use crate::diagnostics::{Diagnostic, Diagnostics, codes};

const MAX_NESTING: usize = 32;

const EXPECTED_VALUE: &str = "a value (a name such as `caller`, text in quotes, a number or a check such as `open(office_hours)`)";

/// Reads a condition that extends to the end of `cur` (or to a block, which it leaves).
pub fn condition(cur: &mut Cursor, diags: &mut Diagnostics) -> PResult<Cond> {
    if cur.at_end() || matches!(cur.peek(), Some(Part::Block(_))) {
        return Err(cur.error(
            diags,
            "a condition",
            Some("for example `if open(office_hours) { ... }`"),
        ));
    }
    or(cur, diags, 0)
}

fn or(cur: &mut Cursor, diags: &mut Diagnostics, depth: usize) -> PResult<Cond> {
    let mut left = and(cur, diags, depth)?;
    while cur.eat("or").is_some() {
        let right = and(cur, diags, depth)?;
        left = Cond::Or(Box::new(left), Box::new(right));
    }
    Ok(left)
}

fn and(cur: &mut Cursor, diags: &mut Diagnostics, depth: usize) -> PResult<Cond> {
    let mut left = not(cur, diags, depth)?;
    while cur.eat("and").is_some() {
        let right = not(cur, diags, depth)?;
        left = Cond::And(Box::new(left), Box::new(right));
    }
    Ok(left)
}

fn not(cur: &mut Cursor, diags: &mut Diagnostics, depth: usize) -> PResult<Cond> {
    if depth > MAX_NESTING {
        diags.push(
            Diagnostic::new(
                codes::EXPECTED,
                cur.here(),
                "this condition is nested too deeply",
                "too deep",
            )
            .help("split it with intermediate `if` statements"),
        );
        return Err(Reported);
    }
    if let Some(span) = cur.eat("not") {
        let inner = not(cur, diags, depth + 1)?;
        return Ok(Cond::Not(Box::new(inner), span));
    }
    if let Some(open) = cur.eat_punct("(") {
        let inner = or(cur, diags, depth + 1)?;
        if cur.eat_punct(")").is_none() {
            let d = cur.error(diags, "`)`", None);
            let _ = open;
            return Err(d);
        }
        return Ok(inner);
    }
    comparison(cur, diags)
}

fn comparison(cur: &mut Cursor, diags: &mut Diagnostics) -> PResult<Cond> {
    let left = value(cur, diags)?;
    if let Some(is) = cur.eat("is") {
        let negated = cur.eat("not");
        match cur.eat("anonymous") {
            Some(a) => {
                if !matches!(&left, Expr::Name(i) if i.name == "caller") {
                    diags.push(
                        Diagnostic::new(
                            codes::EXPECTED,
                            left.span(),
                            "only the caller can be anonymous",
                            "this is not `caller`",
                        )
                        .help("write `caller is anonymous`"),
                    );
                    return Err(Reported);
                }
                let c = Cond::Anonymous(left.span().to(a));
                return Ok(match negated {
                    Some(n) => Cond::Not(Box::new(c), n),
                    None => c,
                });
            }
            None => {
                let _ = is;
                return Err(cur.error(
                    diags,
                    "`anonymous`",
                    Some("`is` is only used in `caller is anonymous`; compare values with `==`"),
                ));
            }
        }
    }
    if let Some(span) = cur.eat("in") {
        cur.expect_punct("(", diags)?;
        let list = cur.list(diags, value)?;
        let close = cur.expect_punct(")", diags)?;
        let _ = span;
        return Ok(Cond::In {
            span: left.span().to(close),
            left,
            list,
        });
    }
    let op = match cur.peek_tok() {
        Some(t) if t.kind == TokKind::Punct => match t.text.as_str() {
            "==" => Some(CmpOp::Eq),
            "!=" => Some(CmpOp::Ne),
            "<" => Some(CmpOp::Lt),
            "<=" => Some(CmpOp::Le),
            ">" => Some(CmpOp::Gt),
            ">=" => Some(CmpOp::Ge),
            "=" => {
                diags.push(
                    Diagnostic::new(
                        codes::EXPECTED,
                        t.span,
                        "`=` sets a variable; conditions compare with `==`",
                        "use `==` here",
                    )
                    .help("write `==` to compare"),
                );
                return Err(Reported);
            }
            _ => None,
        },
        Some(t) if t.kind == TokKind::Ident => match t.text.as_str() {
            "starts_with" => Some(CmpOp::StartsWith),
            "matches" => Some(CmpOp::Matches),
            _ => None,
        },
        _ => None,
    };
    match op {
        Some(op) => {
            let op_span = cur.bump().map(Part::span).unwrap_or_default();
            let right = value(cur, diags)?;
            Ok(Cond::Compare {
                left,
                op,
                op_span,
                right,
            })
        }
        None => {
            let ends_here = cur.at_end()
                || matches!(cur.peek(), Some(Part::Block(_)))
                || cur.is_ident("and")
                || cur.is_ident("or")
                || cur.is_punct(")")
                || cur.is_punct(",");
            if ends_here {
                Ok(Cond::Test(left))
            } else {
                Err(cur.error(
                    diags,
                    "`and`, `or`, a comparison such as `==`, or `{` to start the block",
                    None,
                ))
            }
        }
    }
}

/// A value: terms joined by `+` and `-`, left to right (`tries + 1`, `"0" + digits`).
pub fn value(cur: &mut Cursor, diags: &mut Diagnostics) -> PResult<Expr> {
    let mut left = term(cur, diags)?;
    for n in 0.. {
        if n == MAX_NESTING && (cur.is_punct("+") || cur.is_punct("-")) {
            diags.push(
                Diagnostic::new(
                    codes::TOO_DEEP,
                    cur.here(),
                    format!("more than {MAX_NESTING} `+` and `-` in one value"),
                    "too long",
                )
                .help("set part of it in a variable first"),
            );
            return Err(Reported);
        }
        let op = if cur.is_punct("+") {
            ArithOp::Add
        } else if cur.is_punct("-") {
            ArithOp::Sub
        } else {
            return Ok(left);
        };
        let op_span = cur.bump().map(Part::span).unwrap_or_default();
        let right = term(cur, diags)?;
        left = Expr::Binary {
            op,
            op_span,
            left: Box::new(left),
            right: Box::new(right),
        };
    }
    Ok(left)
}

/// One term of a value: text, number, duration, name, `lookup.field` or `function(names)`.
fn term(cur: &mut Cursor, diags: &mut Diagnostics) -> PResult<Expr> {
    if let Some(t) = cur.text() {
        return Ok(Expr::Text(t));
    }
    if let Some(n) = cur.number(diags) {
        return Ok(Expr::Number(n?));
    }
    if cur.is_kind(TokKind::Duration) {
        return Ok(Expr::Duration(cur.expect_duration("a duration", diags)?));
    }
    let Some(name) = cur.ident() else {
        return Err(cur.error(diags, EXPECTED_VALUE, None));
    };
    if cur.eat_punct(".").is_some() {
        let field = cur.expect_ident("a field name after `.`", diags)?;
        return Ok(Expr::Field {
            lookup: name,
            field,
        });
    }
    if cur.eat_punct("(").is_some() {
        let mut args: Vec<Ident> = Vec::new();
        if cur.eat_punct(")").is_none() {
            args = cur.list(diags, |c, d| c.expect_ident("a name", d))?;
            cur.expect_punct(")", diags)?;
        }
        let span = cur.span_from(name.span);
        return Ok(Expr::Call {
            func: name,
            args,
            span,
        });
    }
    Ok(Expr::Name(name))
}
