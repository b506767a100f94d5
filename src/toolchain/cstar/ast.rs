//! The syntax tree the parser builds and the code generator walks: one
//! `Program` per source file (merged by `compile`), one node type per kind
//! of construct of docs/spec/cstar.md.

use super::errors::Pos;

/// The two types of C* values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Type {
    Uint64,
    Uint64Star,
}

impl Type {
    pub fn name(self) -> &'static str {
        match self {
            Type::Uint64 => "uint64_t",
            Type::Uint64Star => "uint64_t*",
        }
    }
}

/// What a procedure returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Returns {
    Void,
    Value(Type),
}

#[derive(Clone, Debug)]
pub struct Variable {
    /// Empty for an unnamed parameter of a prototype.
    pub name: String,
    pub ty: Type,
    /// Spelled `char*` (or `const char*`): a `uint64_t*` to bytes packed
    /// eight to a word, which in memory is a C string. Only the debug
    /// information uses it, so that a debugger shows the string.
    pub char_pointer: bool,
    pub pos: Pos,
}

#[derive(Clone, Debug)]
pub struct Global {
    pub var: Variable,
    pub init: u64,
}

#[derive(Clone, Debug)]
pub struct Procedure {
    pub name: String,
    pub returns: Returns,
    pub params: Vec<Variable>,
    pub variadic: bool,
    /// `None` for a prototype.
    pub body: Option<Body>,
    pub pos: Pos,
}

#[derive(Clone, Debug)]
pub struct Body {
    pub locals: Vec<Variable>,
    pub statements: Vec<Statement>,
    /// The closing `}` (the line of the epilogue in the debug information).
    pub end: Pos,
}

#[derive(Clone, Debug)]
pub enum Statement {
    Assign {
        target: Target,
        value: Expr,
        pos: Pos,
    },
    If {
        cond: Expr,
        then: Vec<Statement>,
        otherwise: Vec<Statement>,
        pos: Pos,
    },
    While {
        cond: Expr,
        body: Vec<Statement>,
        pos: Pos,
    },
    Call(Call),
    Return {
        value: Option<Expr>,
        pos: Pos,
    },
}

impl Statement {
    /// Where the statement starts (its line is the statement's line in
    /// the debug information).
    pub fn pos(&self) -> Pos {
        match self {
            Statement::Assign { target, .. } => match target {
                Target::Variable(_, p) => *p,
                Target::Deref(e) => e.pos(),
            },
            Statement::If { pos, .. }
            | Statement::While { pos, .. }
            | Statement::Return { pos, .. } => *pos,
            Statement::Call(call) => call.pos,
        }
    }
}

/// The left side of an assignment.
#[derive(Clone, Debug)]
pub enum Target {
    /// `x = ...`
    Variable(String, Pos),
    /// `*x = ...` or `*(arithmetic) = ...`
    Deref(Expr),
}

#[derive(Clone, Debug)]
pub struct Call {
    pub name: String,
    pub args: Vec<Expr>,
    pub pos: Pos,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinaryOp {
    Add,
    Sub,
    Mul,
    Div,
    Rem,
    Eq,
    NotEq,
    Less,
    LessEq,
    Greater,
    GreaterEq,
}

impl BinaryOp {
    pub fn is_comparison(self) -> bool {
        matches!(
            self,
            BinaryOp::Eq
                | BinaryOp::NotEq
                | BinaryOp::Less
                | BinaryOp::LessEq
                | BinaryOp::Greater
                | BinaryOp::GreaterEq
        )
    }
}

#[derive(Clone, Debug)]
pub enum Expr {
    Integer(u64, Pos),
    Str(Vec<u8>, Pos),
    Variable(String, Pos),
    Call(Call),
    Sizeof(Pos),
    Negate(Box<Expr>, Pos),
    Deref(Box<Expr>, Pos),
    Cast(Type, Box<Expr>),
    Binary(BinaryOp, Box<Expr>, Box<Expr>, Pos),
}

impl Expr {
    pub fn pos(&self) -> Pos {
        match self {
            Expr::Integer(_, p)
            | Expr::Str(_, p)
            | Expr::Variable(_, p)
            | Expr::Sizeof(p)
            | Expr::Negate(_, p)
            | Expr::Deref(_, p)
            | Expr::Binary(_, _, _, p) => *p,
            Expr::Call(c) => c.pos,
            Expr::Cast(_, e) => e.pos(),
        }
    }
}

/// One source file's declarations, in order.
#[derive(Clone, Debug, Default)]
pub struct Program {
    pub globals: Vec<Global>,
    pub procedures: Vec<Procedure>,
}
