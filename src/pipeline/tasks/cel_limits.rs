//! The limits of CEL expressions, so that no expression — however it is
//! written, whatever the records hold — takes the process down or runs
//! unbounded. Documented in docs/pipeline.md ("Limits").
//!
//! The `cel` crate parses and evaluates recursively, one stack frame (or
//! several) per level of the expression: 60 nested parentheses overflowed
//! a thread's 2 MiB stack and aborted the process, and nested
//! comprehensions ran for a minute on a few records. So:
//!
//! - **Before parsing**, on the text: at most [`MAX_LENGTH`] bytes and
//!   [`MAX_NESTING`] levels of parentheses, brackets and braces.
//! - **Parsing** runs on a thread of its own with a [`COMPILE_STACK`] stack,
//!   far more than the longest expression the text limits allow needs.
//! - **After parsing**, on the tree: at most [`MAX_DEPTH`] levels of
//!   operations, so that evaluating (on a thread with an [`EVAL_STACK`]
//!   stack) and dropping the tree stay shallow.
//! - **Evaluating** one record takes at most [`MAX_STEPS`] steps: every
//!   iteration of a comprehension (`all`, `exists`, `exists_one`, `map`,
//!   `filter`) is a step, and a value a `map` adds costs one step more per
//!   element, map entry and 64 bytes of text or bytes it holds (so a `map`
//!   cannot build a result far larger than its steps). The count is kept by
//!   a function the comprehensions' loop steps are wrapped in
//!   ([`meter`]); a record over the budget is a bad record.
//!
//! Each limit is checked when the tasks are compiled, so an expression
//! over one is refused before any record moves, naming the field.

use std::cell::Cell;

use cel::common::ast::{CallExpr, ComprehensionExpr, EntryExpr, Expr, IdedExpr, operators};
use cel::common::types::{CelBytes, CelList, CelMap, CelString};
use cel::common::value::{CowVal, Val};
use cel::{Context, ExecutionError, FunctionContext};

/// The longest expression, in bytes (the CRD's `maxLength` too).
pub const MAX_LENGTH: usize = 8192;
/// The deepest nesting of parentheses, brackets and braces.
pub const MAX_NESTING: usize = 32;
/// The deepest nesting of operations in the parsed expression: each
/// operator, call, member selection, index and nested literal is a level
/// for its operands (`a + b + c` is two levels; `&&` and `||` chains are
/// balanced, so `a && b && c && d` is two too).
pub const MAX_DEPTH: usize = 64;
/// The most evaluation steps one record may take (see the module doc).
pub const MAX_STEPS: u64 = 100_000;
/// Bytes of text or bytes that cost one step in a `map` value.
pub const BYTES_PER_STEP: u64 = 64;

/// The stack of the thread expressions are parsed on: the parser needs
/// hundreds of KiB per nesting level in a debug build, and the text limits
/// bound the levels (the worst expression they allow, 32 parentheses
/// around a 4,000-term chain, needs about 32 MiB in a debug build and a
/// fraction of it in a release build).
pub const COMPILE_STACK: usize = 64 << 20;
/// The stack of the thread expressions are evaluated on: [`MAX_DEPTH`]
/// levels take a few MiB in a debug build.
pub const EVAL_STACK: usize = 32 << 20;

/// The function comprehension steps are wrapped in. Its name cannot be
/// written in CEL, so no expression calls it.
const METER: &str = "@sluice_meter";
/// The function the loop conditions of `all` and `exists` are wrapped in:
/// it fails once the budget is spent. Their steps' errors are deferred (a
/// later element may decide the result), so without it they would go on
/// iterating; an error in a loop condition ends the loop at once.
const CHECK: &str = "@sluice_check";

/// Checks the text of an expression against [`MAX_LENGTH`] and
/// [`MAX_NESTING`]; the error says which limit and how to stay within it.
pub(crate) fn check_text(source: &str) -> Result<(), String> {
    if source.len() > MAX_LENGTH {
        return Err(format!(
            "the CEL expression is {} bytes long; at most {MAX_LENGTH} are allowed",
            source.len()
        ));
    }
    let nesting = nesting(source);
    if nesting > MAX_NESTING {
        return Err(format!(
            "the CEL expression nests parentheses, brackets and braces {nesting} deep; at most {MAX_NESTING} levels are allowed: simplify it or split it into several tasks"
        ));
    }
    Ok(())
}

/// The deepest nesting of `(`, `[` and `{` outside string literals and
/// comments.
fn nesting(source: &str) -> usize {
    let bytes = source.as_bytes();
    let (mut depth, mut deepest, mut i) = (0usize, 0usize, 0usize);
    while i < bytes.len() {
        match bytes[i] {
            b'(' | b'[' | b'{' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b')' | b']' | b'}' => depth = depth.saturating_sub(1),
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            quote @ (b'\'' | b'"') => {
                // A raw string (`r'...'`, `br"..."`) has no escapes.
                let mut start = i;
                while start > 0 && matches!(bytes[start - 1], b'r' | b'R' | b'b' | b'B') {
                    start -= 1;
                }
                let standalone = start == 0
                    || !(bytes[start - 1].is_ascii_alphanumeric() || bytes[start - 1] == b'_');
                let raw = standalone && bytes[start..i].iter().any(|b| matches!(b, b'r' | b'R'));
                let triple = bytes.get(i + 1) == Some(&quote) && bytes.get(i + 2) == Some(&quote);
                let close = if triple { 3 } else { 1 };
                i += close;
                loop {
                    match bytes.get(i) {
                        None => return deepest,
                        Some(b'\\') if !raw => i += 2,
                        Some(b)
                            if *b == quote
                                && (!triple
                                    || (bytes.get(i + 1) == Some(&quote)
                                        && bytes.get(i + 2) == Some(&quote))) =>
                        {
                            i += close - 1;
                            break;
                        }
                        Some(_) => i += 1,
                    }
                }
            }
            _ => {}
        }
        i += 1;
    }
    deepest
}

/// The children of a node.
fn children(expr: &IdedExpr) -> Vec<&IdedExpr> {
    match &expr.expr {
        Expr::Call(call) => call.target.iter().map(|t| &**t).chain(&call.args).collect(),
        Expr::Comprehension(c) => vec![
            &c.iter_range,
            &c.accu_init,
            &c.loop_cond,
            &c.loop_step,
            &c.result,
        ],
        Expr::List(list) => list.elements.iter().collect(),
        Expr::Map(map) => map.entries.iter().flat_map(|e| entry(&e.expr)).collect(),
        Expr::Struct(object) => object.entries.iter().flat_map(|e| entry(&e.expr)).collect(),
        Expr::Select(select) => vec![&*select.operand],
        Expr::Ident(_) | Expr::Literal(_) | Expr::Unspecified => Vec::new(),
    }
}

fn entry(entry: &EntryExpr) -> Vec<&IdedExpr> {
    match entry {
        EntryExpr::MapEntry(e) => vec![&e.key, &e.value],
        EntryExpr::StructField(f) => vec![&f.value],
    }
}

/// The depth of the parsed expression: 1 for a leaf. Iterative, so that it
/// can measure a tree too deep to recurse into.
pub(crate) fn depth(expr: &IdedExpr) -> usize {
    let mut deepest = 0;
    let mut pending = vec![(expr, 1usize)];
    while let Some((node, level)) = pending.pop() {
        deepest = deepest.max(level);
        pending.extend(children(node).into_iter().map(|c| (c, level + 1)));
    }
    deepest
}

/// Checks the depth of a parsed expression against [`MAX_DEPTH`].
pub(crate) fn check_depth(expr: &IdedExpr) -> Result<(), String> {
    let depth = depth(expr);
    if depth > MAX_DEPTH {
        return Err(format!(
            "the CEL expression nests operations {depth} deep; at most {MAX_DEPTH} levels are allowed: a chain such as a + b + c + d nests one level per operator, so group it with parentheses ((a + b) + (c + d)) or split it into several tasks"
        ));
    }
    Ok(())
}

/// `inner` wrapped in a call of the meter.
fn metered(inner: IdedExpr) -> IdedExpr {
    wrapped(METER, inner)
}

/// `inner` wrapped in a call of `function`.
fn wrapped(function: &str, inner: IdedExpr) -> IdedExpr {
    IdedExpr {
        id: inner.id,
        expr: Expr::Call(CallExpr {
            func_name: function.to_owned(),
            target: None,
            args: vec![inner],
        }),
    }
}

/// Whether `expr` is the accumulator variable `accu`.
fn is_accu(expr: &IdedExpr, accu: &str) -> bool {
    matches!(&expr.expr, Expr::Ident(name) if name == accu)
}

/// Meters a `@result + [item]` step: the item is weighed.
fn meter_append(step: &mut IdedExpr, accu: &str) -> bool {
    if let Expr::Call(call) = &mut step.expr
        && call.func_name == operators::ADD
        && call.target.is_none()
        && let [lhs, rhs] = call.args.as_mut_slice()
        && is_accu(lhs, accu)
        && let Expr::List(list) = &mut rhs.expr
    {
        for element in &mut list.elements {
            *element = metered(std::mem::take(element));
        }
        return true;
    }
    false
}

/// Wraps every comprehension's loop step in the meter, keeping the shapes
/// the `cel` crate evaluates fast (`@result && x`, `@result || x`,
/// `@result + [x]`, `c ? @result + [x] : @result`): `x` or `c` is
/// wrapped, not the whole step.
pub(crate) fn meter(expr: &mut IdedExpr) {
    let mut pending = vec![expr];
    while let Some(node) = pending.pop() {
        if let Expr::Comprehension(c) = &mut node.expr {
            meter_step(c);
        }
        match &mut node.expr {
            Expr::Call(call) => {
                pending.extend(call.target.iter_mut().map(|t| &mut **t));
                pending.extend(call.args.iter_mut());
            }
            Expr::Comprehension(c) => pending.extend([
                &mut c.iter_range,
                &mut c.accu_init,
                &mut c.loop_cond,
                &mut c.loop_step,
                &mut c.result,
            ]),
            Expr::List(list) => pending.extend(list.elements.iter_mut()),
            Expr::Map(map) => {
                for e in &mut map.entries {
                    pending.extend(entry_mut(&mut e.expr));
                }
            }
            Expr::Struct(object) => {
                for e in &mut object.entries {
                    pending.extend(entry_mut(&mut e.expr));
                }
            }
            Expr::Select(select) => pending.push(&mut select.operand),
            Expr::Ident(_) | Expr::Literal(_) | Expr::Unspecified => {}
        }
    }
}

fn entry_mut(entry: &mut EntryExpr) -> Vec<&mut IdedExpr> {
    match entry {
        EntryExpr::MapEntry(e) => vec![&mut e.key, &mut e.value],
        EntryExpr::StructField(f) => vec![&mut f.value],
    }
}

fn meter_step(c: &mut ComprehensionExpr) {
    // A literal condition (`map`, `filter`, `exists_one`) is what the
    // crate's fast path looks for; their steps' errors end them at once.
    if !matches!(c.loop_cond.expr, Expr::Literal(_)) {
        c.loop_cond = wrapped(CHECK, std::mem::take(&mut c.loop_cond));
    }
    let accu = c.accu_var.clone();
    let step = &mut c.loop_step;
    if meter_append(step, &accu) {
        return;
    }
    if let Expr::Call(call) = &mut step.expr
        && call.target.is_none()
    {
        let name = call.func_name.as_str();
        match call.args.as_mut_slice() {
            // all(), exists(): `@result && x`, `@result || x`.
            [lhs, rhs]
                if (name == operators::LOGICAL_AND || name == operators::LOGICAL_OR)
                    && is_accu(lhs, &accu) =>
            {
                *rhs = metered(std::mem::take(rhs));
                return;
            }
            // filter(), map() with a predicate, exists_one():
            // `c ? step : @result`.
            [guard, then, _] if name == operators::CONDITIONAL => {
                meter_append(then, &accu);
                *guard = metered(std::mem::take(guard));
                return;
            }
            _ => {}
        }
    }
    *step = metered(std::mem::take(step));
}

thread_local! {
    /// Steps the record being evaluated may still take on this thread.
    static STEPS_LEFT: Cell<u64> = const { Cell::new(MAX_STEPS) };
    /// Whether the record being evaluated ran out of steps.
    static EXHAUSTED: Cell<bool> = const { Cell::new(false) };
}

/// Gives the next record on this thread a full budget.
pub(crate) fn reset_budget() {
    STEPS_LEFT.with(|s| s.set(MAX_STEPS));
    EXHAUSTED.with(|e| e.set(false));
}

/// Whether the last record on this thread ran out of steps.
pub(crate) fn exhausted() -> bool {
    EXHAUSTED.with(Cell::get)
}

/// The reason of a record that ran out of steps.
pub(crate) fn exhausted_reason() -> String {
    format!(
        "CEL evaluation needs more than {MAX_STEPS} steps for this record (each iteration of all, exists, exists_one, map or filter is a step); the expression is refused for it"
    )
}

/// Steps beyond the first a value costs: one per list element and map
/// entry, one per [`BYTES_PER_STEP`] bytes of text or bytes, nested values
/// included; counting stops at `cap`. Iterative: values may nest deeply.
fn weight(value: &dyn Val, cap: u64) -> u64 {
    let mut total = 0u64;
    let mut pending: Vec<&dyn Val> = vec![value];
    while let Some(value) = pending.pop() {
        if total >= cap {
            return cap;
        }
        if let Some(list) = value.downcast_ref::<CelList>() {
            total += list.inner().len() as u64;
            pending.extend(list.inner().iter().map(|v| &**v));
        } else if let Some(map) = value.downcast_ref::<CelMap>() {
            total += map.inner().len() as u64;
            pending.extend(map.inner().values().map(|v| &**v));
        } else if let Some(text) = value.downcast_ref::<CelString>() {
            total += text.inner().len() as u64 / BYTES_PER_STEP;
        } else if let Some(bytes) = value.downcast_ref::<CelBytes>() {
            total += bytes.inner().len() as u64 / BYTES_PER_STEP;
        }
    }
    total.min(cap)
}

/// The meter: passes its argument through, charging the record's budget.
type Function = Box<
    dyn for<'c, 'a> Fn(&mut FunctionContext<'c, 'a>) -> Result<CowVal<'c, 'a>, ExecutionError>
        + Send
        + Sync,
>;

/// Adds the meter to a context the metered expression is evaluated in.
pub(crate) fn add_meter(context: &mut Context<'_, '_>) -> Result<(), String> {
    let meter: Function = Box::new(|ftx| {
        let Some(value) = ftx.args.pop() else {
            return Err(ftx.error("expects one argument"));
        };
        let left = STEPS_LEFT.with(Cell::get);
        let cost = 1 + weight(&*value, left);
        if cost > left {
            STEPS_LEFT.with(|s| s.set(0));
            EXHAUSTED.with(|e| e.set(true));
            return Err(ftx.error("the evaluation budget is exhausted"));
        }
        STEPS_LEFT.with(|s| s.set(left - cost));
        Ok(value)
    });
    let check: Function = Box::new(|ftx| {
        let Some(value) = ftx.args.pop() else {
            return Err(ftx.error("expects one argument"));
        };
        if EXHAUSTED.with(Cell::get) {
            return Err(ftx.error("the evaluation budget is exhausted"));
        }
        Ok(value)
    });
    context
        .add_function(METER, meter)
        .and_then(|()| context.add_function(CHECK, check))
        .map_err(|e| format!("cannot meter CEL evaluation: {e}"))
}

/// Runs `work` on a thread of its own with a `stack`-byte stack, and waits
/// for it. A panic there is resumed here.
pub(crate) fn on_stack<T: Send>(
    stack: usize,
    work: impl FnOnce() -> T + Send,
) -> Result<T, String> {
    std::thread::scope(|scope| {
        let handle = std::thread::Builder::new()
            .name("sluice-cel".to_owned())
            .stack_size(stack)
            .spawn_scoped(scope, work)
            .map_err(|e| format!("cannot start a thread for CEL: {e}"))?;
        match handle.join() {
            Ok(value) => Ok(value),
            Err(panic) => std::panic::resume_unwind(panic),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::nesting;

    #[test]
    fn nesting_skips_strings_and_comments() {
        assert_eq!(nesting("((1))"), 2);
        assert_eq!(nesting("[{'a': (1)}]"), 3);
        assert_eq!(nesting("'((((' + \"[[[\" + '''(\\'''(''' + r'\\' + (1)"), 1);
        assert_eq!(nesting("f(x) // (((((\n + (1)"), 1);
        assert_eq!(nesting("b'\\x00(' + br'(' + (((1)))"), 3);
    }
}
