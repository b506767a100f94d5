//! The parser: tokens → `ast::Program`, by recursive descent with one
//! `parse_<rule>` per rule of docs/spec/cstar.md, in the same order.
//!
//! Control: `parse` calls `parse_program`, which loops over global
//! variables and procedures. A rule that meets an unexpected token reports
//! "expected X, found Y" and returns `None`; the enclosing statement or
//! declaration loop then skips to the next `;` or `}` (`synchronize`) and
//! carries on, so that one run reports several errors. Nesting of
//! expressions and statements is bounded (`MAX_NESTING`) so that no input
//! can overflow the compiler's stack.

use super::ast::*;
use super::errors::{Diagnostics, Pos};
use super::scanner::Token;

/// Deepest nesting accepted: parentheses, blocks and operators of one
/// chain (`a + b + c` is a tree two deep) all count, so this bounds the
/// depth of the syntax tree that codegen recurses over.
pub const MAX_NESTING: u32 = 200;

struct Parser<'a> {
    tokens: &'a [(Token, Pos)],
    at: usize,
    depth: u32,
    diags: &'a mut Diagnostics,
    /// The procedure whose body is being parsed (the value of `__func__`).
    procedure: Option<String>,
}

/// selfie's bootstrapping of the printf family: selfie.c defines its own
/// `printf` as `non_0_boot_level_printf` (so that a C compiler, at boot
/// level 0, keeps the C library's), and selfie's compiler, which is where
/// boot levels above 0 come from, defines it under the short name. So do
/// we: a declaration or definition of `non_0_boot_level_X` declares `X`.
fn bootstrap_name(name: String) -> String {
    match name.as_str() {
        "non_0_boot_level_printf" | "non_0_boot_level_sprintf" | "non_0_boot_level_dprintf" => {
            name["non_0_boot_level_".len()..].to_string()
        }
        _ => name,
    }
}

/// Parses one file's tokens (which end with `Token::End`).
pub fn parse(tokens: &[(Token, Pos)], diags: &mut Diagnostics) -> Program {
    let mut parser = Parser {
        tokens,
        at: 0,
        depth: 0,
        diags,
        procedure: None,
    };
    parser.parse_program()
}

impl Parser<'_> {
    fn token(&self) -> &Token {
        self.tokens.get(self.at).map_or(&Token::End, |t| &t.0)
    }

    fn lookahead(&self, n: usize) -> &Token {
        self.tokens.get(self.at + n).map_or(&Token::End, |t| &t.0)
    }

    fn pos(&self) -> Pos {
        match self.tokens.get(self.at).or(self.tokens.last()) {
            Some(t) => t.1,
            None => Pos::default(),
        }
    }

    fn advance(&mut self) {
        if self.at < self.tokens.len() && *self.token() != Token::End {
            self.at += 1;
        }
    }

    fn at(&self, token: &Token) -> bool {
        self.token() == token
    }

    /// Consumes `token` if it is next.
    fn accept(&mut self, token: &Token) -> bool {
        if self.at(token) {
            self.advance();
            true
        } else {
            false
        }
    }

    fn expected(&mut self, what: &str) {
        let found = self.token().describe();
        let pos = self.pos();
        self.diags
            .error(pos, format!("expected {what}, found {found}"));
    }

    fn expect(&mut self, token: Token) -> Option<()> {
        if self.accept(&token) {
            Some(())
        } else {
            self.expected(&token.describe());
            None
        }
    }

    fn identifier(&mut self, what: &str) -> Option<(String, Pos)> {
        if let Token::Identifier(name) = self.token() {
            let name = name.clone();
            let pos = self.pos();
            self.advance();
            Some((name, pos))
        } else {
            self.expected(what);
            None
        }
    }

    /// Skips past the next `;`, or up to (not past) the next `}`, always
    /// consuming at least one token unless at `}` or the end.
    fn synchronize(&mut self) {
        loop {
            match self.token() {
                Token::End | Token::RBrace => return,
                Token::Semicolon => {
                    self.advance();
                    return;
                }
                _ => self.advance(),
            }
        }
    }

    /// Enters one level of nesting; `None` (after an error) when too deep.
    fn nest(&mut self) -> Option<()> {
        if self.depth >= MAX_NESTING {
            let pos = self.pos();
            self.diags.error(
                pos,
                format!("nesting too deep: more than {MAX_NESTING} levels of parentheses, operators or blocks"),
            );
            return None;
        }
        self.depth += 1;
        Some(())
    }

    fn unnest(&mut self) {
        self.depth = self.depth.saturating_sub(1);
    }

    /// Does a type (of a variable, cast or procedure) start here?
    fn at_type(&self) -> bool {
        matches!(
            self.token(),
            Token::Uint64
                | Token::Void
                | Token::Int
                | Token::Char
                | Token::Unsigned
                | Token::Long
                | Token::Const
        )
    }

    // program = { variable [ initialize ] ";" | procedure } .
    fn parse_program(&mut self) -> Program {
        let mut program = Program::default();
        while !self.at(&Token::End) {
            if self.parse_declaration(&mut program).is_none() {
                self.synchronize();
                // A stray `}` at the top level would stop `synchronize` forever.
                self.accept(&Token::RBrace);
            }
        }
        program
    }

    /// One `variable [ initialize ] ";"` or `procedure` of `program`; the
    /// two share their start (a type and a name).
    fn parse_declaration(&mut self, program: &mut Program) -> Option<()> {
        let pos = self.pos();
        let (returns, char_pointer) = self.parse_type_or_void()?;
        let (name, name_pos) = self.identifier("the name of a variable or procedure")?;
        if self.at(&Token::LParen) {
            let procedure = self.parse_procedure(returns, bootstrap_name(name), pos)?;
            program.procedures.push(procedure);
            return Some(());
        }
        let Returns::Value(ty) = returns else {
            self.diags.error(
                pos,
                format!("variable '{name}' is declared void: expected 'uint64_t' or 'uint64_t*'"),
            );
            return None;
        };
        let init = if self.at(&Token::Assign) {
            self.parse_initialize()?
        } else {
            0
        };
        self.expect(Token::Semicolon)?;
        program.globals.push(Global {
            var: Variable {
                name,
                ty,
                char_pointer,
                pos: name_pos,
            },
            init,
        });
        Some(())
    }

    // variable = type identifier .
    fn parse_variable(&mut self) -> Option<Variable> {
        let (ty, char_pointer) = self.parse_type_spelled()?;
        let (name, pos) = self.identifier("the name of a variable")?;
        Some(Variable {
            name,
            ty,
            char_pointer,
            pos,
        })
    }

    // parameter = type [ identifier ] .
    //
    // A prototype may leave a parameter unnamed, as C allows (selfie.c's
    // `void* malloc(unsigned long);`); it is then named "".
    fn parse_parameter(&mut self) -> Option<Variable> {
        let pos = self.pos();
        let (ty, char_pointer) = self.parse_type_spelled()?;
        let name = match self.token() {
            Token::Identifier(name) => name.clone(),
            Token::Comma | Token::RParen => String::new(),
            _ => {
                self.expected("the name of a parameter, ',' or ')'");
                return None;
            }
        };
        let pos = if name.is_empty() {
            pos
        } else {
            let at = self.pos();
            self.advance();
            at
        };
        Some(Variable {
            name,
            ty,
            char_pointer,
            pos,
        })
    }

    // type = [ "const" ] ( "uint64_t" | "int" | "char" | "void"
    //                    | ( "unsigned" | "long" ) { "long" | "int" | "char" } )
    //        [ "const" ] { "*" } .
    //
    // selfie's `type = "uint64_t" [ "*" ]`, spelled as C spells it: as
    // selfie does, `int`, `char`, `unsigned long`, `unsigned int`,
    // `long`, `const` and `void*` read as `uint64_t` (or `uint64_t*`), and
    // more than one `*` reads as one, so that files written for a C
    // compiler parse.
    fn parse_type(&mut self) -> Option<Type> {
        self.parse_type_spelled().map(|(ty, _)| ty)
    }

    /// `type`, and whether it was spelled `char*` (see `Variable`).
    fn parse_type_spelled(&mut self) -> Option<(Type, bool)> {
        let pos = self.pos();
        match self.parse_type_or_void()? {
            (Returns::Value(ty), char_pointer) => Some((ty, char_pointer)),
            (Returns::Void, _) => {
                self.diags.error(
                    pos,
                    "'void' is not a type of a value: expected 'uint64_t' or 'uint64_t*'",
                );
                None
            }
        }
    }

    /// `type`, or `void` (not followed by `*`) for a procedure's return
    /// type; and whether it was spelled `char*`.
    fn parse_type_or_void(&mut self) -> Option<(Returns, bool)> {
        self.accept(&Token::Const);
        let char_word = self.at(&Token::Char);
        let void = match self.token() {
            Token::Uint64 | Token::Int | Token::Char => {
                self.advance();
                false
            }
            Token::Void => {
                self.advance();
                true
            }
            Token::Unsigned | Token::Long => {
                self.advance();
                while matches!(self.token(), Token::Long | Token::Int | Token::Char) {
                    self.advance();
                }
                false
            }
            _ => {
                self.expected("a type ('uint64_t', 'uint64_t*' or 'void')");
                return None;
            }
        };
        self.accept(&Token::Const);
        let mut stars = 0;
        while self.accept(&Token::Star) {
            stars += 1;
        }
        let returns = match (void, stars) {
            (true, 0) => Returns::Void,
            (_, 0) => Returns::Value(Type::Uint64),
            _ => Returns::Value(Type::Uint64Star),
        };
        Some((returns, char_word && stars == 1))
    }

    // initialize = "=" [ cast ] [ "-" ] value .
    fn parse_initialize(&mut self) -> Option<u64> {
        self.expect(Token::Assign)?;
        if self.at(&Token::LParen) {
            self.parse_cast()?;
        }
        let negative = self.accept(&Token::Minus);
        let value = self.parse_value()?;
        Some(if negative {
            value.wrapping_neg()
        } else {
            value
        })
    }

    // cast = "(" type ")" .
    fn parse_cast(&mut self) -> Option<Type> {
        self.expect(Token::LParen)?;
        let ty = self.parse_type()?;
        self.expect(Token::RParen)?;
        Some(ty)
    }

    // value = integer | character .
    fn parse_value(&mut self) -> Option<u64> {
        if let Token::Integer(n) = self.token() {
            let n = *n;
            self.advance();
            Some(n)
        } else {
            self.expected("an integer or character literal");
            None
        }
    }

    // procedure = ( type | "void" ) identifier
    //             "(" [ parameter { "," parameter } [ "," "..." ] ] ")"
    //             ( ";" | "{" { variable ";" } { statement } "}" ) .
    fn parse_procedure(&mut self, returns: Returns, name: String, pos: Pos) -> Option<Procedure> {
        self.expect(Token::LParen)?;
        let mut params = Vec::new();
        let mut variadic = false;
        if self.at(&Token::Void) && *self.lookahead(1) == Token::RParen {
            self.advance(); // C's `f(void)`
        } else if !self.at(&Token::RParen) {
            loop {
                if self.accept(&Token::Ellipsis) {
                    if params.is_empty() {
                        let pos = self.pos();
                        self.diags
                            .error(pos, "'...' needs a named parameter before it");
                    }
                    variadic = true;
                    break;
                }
                params.push(self.parse_parameter()?);
                if !self.accept(&Token::Comma) {
                    break;
                }
            }
        }
        self.expect(Token::RParen)?;
        if self.accept(&Token::Semicolon) {
            return Some(Procedure {
                name,
                returns,
                params,
                variadic,
                body: None,
                pos,
            });
        }
        for (i, param) in params.iter().enumerate() {
            if param.name.is_empty() {
                self.diags.error(
                    param.pos,
                    format!(
                        "parameter {} of '{name}' has no name: only a prototype (ending in ';') may leave parameters unnamed",
                        i + 1
                    ),
                );
            }
        }
        if !self.at(&Token::LBrace) {
            self.expected("';' or '{' after the parameters");
            return None;
        }
        self.advance();
        let mut locals = Vec::new();
        while self.at_type() {
            match self.parse_variable() {
                Some(var) => {
                    locals.push(var);
                    if self.at(&Token::Assign) {
                        let pos = self.pos();
                        self.diags.error(
                            pos,
                            "expected ';', found '=': local variables cannot be initialized in C*; assign them in a statement",
                        );
                        self.synchronize();
                    } else if self.expect(Token::Semicolon).is_none() {
                        self.synchronize();
                    }
                }
                None => self.synchronize(),
            }
        }
        self.procedure = Some(name.clone());
        let statements = self.parse_statements();
        self.procedure = None;
        let end = self.pos();
        self.expect(Token::RBrace)?;
        Some(Procedure {
            name,
            returns,
            params,
            variadic,
            body: Some(Body {
                locals,
                statements,
                end,
            }),
            pos,
        })
    }

    /// `{ statement }` up to a `}` or the end, recovering after errors.
    fn parse_statements(&mut self) -> Vec<Statement> {
        let mut statements = Vec::new();
        while !self.at(&Token::RBrace) && !self.at(&Token::End) {
            if self.at_type() {
                let pos = self.pos();
                self.diags.error(
                    pos,
                    "local variables must be declared before the first statement",
                );
                self.synchronize();
                continue;
            }
            match self.parse_statement() {
                Some(s) => statements.push(s),
                None => self.synchronize(),
            }
        }
        statements
    }

    // statement = assignment ";" | if | while | call ";" | return ";" .
    fn parse_statement(&mut self) -> Option<Statement> {
        match self.token() {
            Token::Identifier(_) if *self.lookahead(1) == Token::LParen => {
                let call = self.parse_call()?;
                self.expect(Token::Semicolon)?;
                Some(Statement::Call(call))
            }
            Token::Identifier(_) | Token::Star => {
                let s = self.parse_assignment()?;
                self.expect(Token::Semicolon)?;
                Some(s)
            }
            Token::If => self.parse_if(),
            Token::While => self.parse_while(),
            Token::Return => {
                let s = self.parse_return()?;
                self.expect(Token::Semicolon)?;
                Some(s)
            }
            _ => {
                self.expected("a statement (assignment, if, while, call or return)");
                None
            }
        }
    }

    // assignment = ( [ "*" ] identifier | "*" "(" arithmetic ")" ) "=" expression .
    fn parse_assignment(&mut self) -> Option<Statement> {
        let target = if self.accept(&Token::Star) {
            if self.accept(&Token::LParen) {
                self.nest()?;
                let address = self.parse_arithmetic();
                self.unnest();
                let address = address?;
                self.expect(Token::RParen)?;
                Target::Deref(address)
            } else {
                let (name, pos) = self.identifier("an identifier or '(' after '*'")?;
                Target::Deref(Expr::Variable(name, pos))
            }
        } else {
            let (name, pos) = self.identifier("a variable")?;
            Target::Variable(name, pos)
        };
        let pos = self.pos();
        if !self.at(&Token::Assign) {
            self.expected("'=' of an assignment");
            return None;
        }
        self.advance();
        let value = self.parse_expression()?;
        Some(Statement::Assign { target, value, pos })
    }

    // if = "if" "(" expression ")" body [ "else" body ] .
    fn parse_if(&mut self) -> Option<Statement> {
        let pos = self.pos();
        self.expect(Token::If)?;
        self.expect(Token::LParen)?;
        let cond = self.parse_expression()?;
        self.expect(Token::RParen)?;
        let then = self.parse_body()?;
        let otherwise = if self.accept(&Token::Else) {
            self.parse_body()?
        } else {
            Vec::new()
        };
        Some(Statement::If {
            cond,
            then,
            otherwise,
            pos,
        })
    }

    // while = "while" "(" expression ")" body .
    fn parse_while(&mut self) -> Option<Statement> {
        let pos = self.pos();
        self.expect(Token::While)?;
        self.expect(Token::LParen)?;
        let cond = self.parse_expression()?;
        self.expect(Token::RParen)?;
        let body = self.parse_body()?;
        Some(Statement::While { cond, body, pos })
    }

    // body = statement | "{" { statement } "}" .
    fn parse_body(&mut self) -> Option<Vec<Statement>> {
        self.nest()?;
        let body = if self.accept(&Token::LBrace) {
            let statements = self.parse_statements();
            self.expect(Token::RBrace).map(|()| statements)
        } else {
            self.parse_statement().map(|s| vec![s])
        };
        self.unnest();
        body
    }

    // call = identifier "(" [ expression { "," expression } ] ")" .
    fn parse_call(&mut self) -> Option<Call> {
        let (name, pos) = self.identifier("the name of a procedure")?;
        self.expect(Token::LParen)?;
        let mut args = Vec::new();
        if !self.at(&Token::RParen) {
            loop {
                args.push(self.parse_expression()?);
                if !self.accept(&Token::Comma) {
                    break;
                }
            }
        }
        if !self.at(&Token::RParen) {
            self.expected("',' or ')' in the arguments of a call");
            return None;
        }
        self.advance();
        Some(Call { name, args, pos })
    }

    // return = "return" [ expression ] .
    fn parse_return(&mut self) -> Option<Statement> {
        let pos = self.pos();
        self.expect(Token::Return)?;
        let value = if self.at(&Token::Semicolon) {
            None
        } else {
            Some(self.parse_expression()?)
        };
        Some(Statement::Return { value, pos })
    }

    // expression = arithmetic [ ( "==" | "!=" | "<" | ">" | "<=" | ">=" ) arithmetic ] .
    fn parse_expression(&mut self) -> Option<Expr> {
        self.nest()?;
        let result = self.parse_expression_nested();
        self.unnest();
        result
    }

    fn parse_expression_nested(&mut self) -> Option<Expr> {
        let left = self.parse_arithmetic()?;
        let op = match self.token() {
            Token::Eq => BinaryOp::Eq,
            Token::NotEq => BinaryOp::NotEq,
            Token::Less => BinaryOp::Less,
            Token::LessEq => BinaryOp::LessEq,
            Token::Greater => BinaryOp::Greater,
            Token::GreaterEq => BinaryOp::GreaterEq,
            _ => return Some(left),
        };
        let pos = self.pos();
        self.advance();
        let right = self.parse_arithmetic()?;
        Some(Expr::Binary(op, Box::new(left), Box::new(right), pos))
    }

    // arithmetic = term { ( "+" | "-" ) term } .
    fn parse_arithmetic(&mut self) -> Option<Expr> {
        let outer = self.depth;
        let result = self.parse_arithmetic_chain();
        self.depth = outer;
        result
    }

    /// Each operator of the chain nests the tree one level deeper.
    fn parse_arithmetic_chain(&mut self) -> Option<Expr> {
        let mut left = self.parse_term()?;
        loop {
            let op = match self.token() {
                Token::Plus => BinaryOp::Add,
                Token::Minus => BinaryOp::Sub,
                _ => return Some(left),
            };
            let pos = self.pos();
            self.advance();
            self.nest()?;
            let right = self.parse_term()?;
            left = Expr::Binary(op, Box::new(left), Box::new(right), pos);
        }
    }

    // term = factor { ( "*" | "/" | "%" ) factor } .
    fn parse_term(&mut self) -> Option<Expr> {
        let outer = self.depth;
        let result = self.parse_term_chain();
        self.depth = outer;
        result
    }

    /// Each operator of the chain nests the tree one level deeper.
    fn parse_term_chain(&mut self) -> Option<Expr> {
        let mut left = self.parse_factor()?;
        loop {
            let op = match self.token() {
                Token::Star => BinaryOp::Mul,
                Token::Slash => BinaryOp::Div,
                Token::Percent => BinaryOp::Rem,
                _ => return Some(left),
            };
            let pos = self.pos();
            self.advance();
            self.nest()?;
            let right = self.parse_factor()?;
            left = Expr::Binary(op, Box::new(left), Box::new(right), pos);
        }
    }

    // factor = [ cast ] [ "-" ] [ "*" ]
    //          ( "sizeof" "(" type ")" | literal | identifier | call | "(" expression ")" ) .
    fn parse_factor(&mut self) -> Option<Expr> {
        let cast = if self.at(&Token::LParen) && self.lookahead_is_type(1) {
            Some(self.parse_cast()?)
        } else {
            None
        };
        let minus = self.at(&Token::Minus).then(|| self.pos());
        if minus.is_some() {
            self.advance();
        }
        let star = self.at(&Token::Star).then(|| self.pos());
        if star.is_some() {
            self.advance();
        }
        let pos = self.pos();
        let mut expr = match self.token() {
            Token::Sizeof => {
                self.advance();
                self.expect(Token::LParen)?;
                self.parse_type()?;
                self.expect(Token::RParen)?;
                Expr::Sizeof(pos)
            }
            Token::Integer(_) | Token::Str(_) | Token::Func => self.parse_literal()?,
            Token::Identifier(_) if *self.lookahead(1) == Token::LParen => {
                Expr::Call(self.parse_call()?)
            }
            Token::Identifier(name) => {
                let name = name.clone();
                self.advance();
                Expr::Variable(name, pos)
            }
            Token::LParen => {
                self.advance();
                let inner = self.parse_expression()?;
                self.expect(Token::RParen)?;
                inner
            }
            _ => {
                self.expected("a value (literal, variable, call or '(')");
                return None;
            }
        };
        if let Some(pos) = star {
            expr = Expr::Deref(Box::new(expr), pos);
        }
        if let Some(pos) = minus {
            expr = match expr {
                // Fold `-literal` so that initial-value style constants cost nothing.
                Expr::Integer(n, _) => Expr::Integer(n.wrapping_neg(), pos),
                other => Expr::Negate(Box::new(other), pos),
            };
        }
        if let Some(ty) = cast {
            expr = Expr::Cast(ty, Box::new(expr));
        }
        Some(expr)
    }

    fn lookahead_is_type(&self, n: usize) -> bool {
        matches!(
            self.lookahead(n),
            Token::Uint64
                | Token::Void
                | Token::Int
                | Token::Char
                | Token::Unsigned
                | Token::Long
                | Token::Const
        )
    }

    // literal = value | string | "__func__" .
    fn parse_literal(&mut self) -> Option<Expr> {
        let pos = self.pos();
        match self.token() {
            Token::Func => {
                self.advance();
                let Some(name) = self.procedure.clone() else {
                    self.diags
                        .error(pos, "'__func__' used outside of a procedure body");
                    return None;
                };
                Some(Expr::Str(name.into_bytes(), pos))
            }
            Token::Str(bytes) => {
                let bytes = bytes.clone();
                self.advance();
                Some(Expr::Str(bytes, pos))
            }
            _ => Some(Expr::Integer(self.parse_value()?, pos)),
        }
    }
}
