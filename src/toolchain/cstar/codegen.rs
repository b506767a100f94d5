//! Code generation: the merged syntax trees → `Emitter` items and the data
//! segment, straight to RV64IM.
//!
//! Control: `generate` builds the procedure table (user procedures win
//! over the prelude's, which win over built-ins), emits `_start`, queues
//! every user procedure and then walks the queue; a call to a prelude
//! procedure or built-in queues it, so only what is used is emitted.
//!
//! The machine model, selfie-style:
//!
//! ```text
//!  expression temporaries: a stack of registers (TEMPS); temporary k
//!  lives in TEMPS[k % N]; pushing temporary k >= N first pushes the
//!  register's previous owner (temporary k - N) onto the machine stack,
//!  popping k reloads it.
//!
//!  frame of a procedure (s0 = fp):
//!     s0 + 16 + 8*i   argument i (pushed by the caller, first at the lowest address)
//!     s0 + 8          return address
//!     s0 + 0          caller's s0
//!     s0 - 8*(j+1)    local j
//!     sp ...          saved temporaries, spills, outgoing arguments
//! ```
//!
//! A call saves the live temporaries, reserves the argument area, evaluates
//! the arguments left to right into it, `jal`s, releases the area and
//! restores. The result comes back in `a0`. Globals and string literals are
//! addressed off `gp`, which `_start` points into the data segment.

use std::collections::{HashMap, VecDeque};

use super::ast::*;
use super::builtins::{builtins, Arg, Builtin};
use super::emitter::{split_hi_lo, Emitter, Item, Label, GP_BIAS, SCRATCH};
use super::errors::{Diagnostics, Pos};
use crate::abi;
use crate::emu::{AmoOp, AmoWidth, BranchOp, ImmOp, Instruction, LoadOp, Reg, RegOp, StoreOp};

/// The registers that hold expression temporaries (all caller-saved by
/// our convention: a call saves the live ones itself).
const TEMPS: [Reg; 24] = [
    Reg(5),
    Reg(6),
    Reg(7),
    Reg(28),
    Reg(29),
    Reg(30),
    Reg(31),
    Reg(11),
    Reg(12),
    Reg(13),
    Reg(14),
    Reg(15),
    Reg(16),
    Reg(17),
    Reg(9),
    Reg(18),
    Reg(19),
    Reg(20),
    Reg(21),
    Reg(22),
    Reg(23),
    Reg(24),
    Reg(25),
    Reg(26),
];

/// The generated program, ready for layout.
pub struct Generated {
    pub emitter: Emitter,
    pub data: Vec<u8>,
    /// Every procedure emitted, in address order.
    pub procedures: Vec<ProcedureCode>,
    /// Every global, in data-segment order.
    pub globals: Vec<GlobalData>,
}

/// One procedure's code, for the symbol table and the debug information.
pub struct ProcedureCode {
    pub name: String,
    /// Its first instruction.
    pub start: Label,
    /// Just after its last instruction.
    pub end: Label,
    /// `None` for `_start` and the built-in stubs, which have no source.
    pub source: Option<ProcedureSource>,
}

/// A procedure compiled from C*, as a debugger sees it.
pub struct ProcedureSource {
    /// Where its declaration starts.
    pub pos: Pos,
    pub returns: Returns,
    /// Parameter i lives at `s0 + 16 + 8*i`.
    pub params: Vec<Variable>,
    /// Local j lives at `s0 - 8*(j+1)`.
    pub locals: Vec<Variable>,
    /// The epilogue: `mv sp, s0; ld ra, 8(sp); ld s0, 0(sp); addi sp, sp,
    /// 16; ret` (the prologue is the mirror image, see `emit_procedure`).
    pub epilogue: Label,
}

/// A global variable and its offset in the data segment.
pub struct GlobalData {
    pub var: Variable,
    pub offset: u64,
}

/// What a procedure name refers to.
struct ProcEntry<'p> {
    decl: &'p Procedure,
    def: Option<&'p Procedure>,
    user: bool,
}

enum Callee<'p> {
    Procedure(&'p Procedure),
    Builtin(Builtin),
    VarStart,
    VarArg,
    VarEnd,
}

/// What an expression leaves: a value of a type, or nothing (a call of a
/// void procedure).
type Value = Option<Type>;

struct Gen<'p, 'd> {
    diags: &'d mut Diagnostics,
    e: Emitter,
    table: HashMap<&'p str, ProcEntry<'p>>,
    builtins: Vec<Builtin>,
    entry_labels: HashMap<String, Label>,
    queue: VecDeque<String>,
    globals: HashMap<String, (Type, u64)>,
    global_symbols: Vec<GlobalData>,
    data: Vec<u8>,
    strings: HashMap<Vec<u8>, u64>,
    symbols: Vec<ProcedureCode>,
    // The procedure being generated.
    vars: HashMap<String, (Type, i64)>,
    current: Option<&'p Procedure>,
    depth: usize,
    epilogue: Label,
}

fn fits12(v: i64) -> bool {
    (-2048..2048).contains(&v)
}

/// Generates the whole program. `user` are the programs' files, `prelude`
/// the prelude's declarations.
pub fn generate(user: &[Program], prelude: &Program, diags: &mut Diagnostics) -> Generated {
    let mut e = Emitter::default();
    let epilogue = e.new_label();
    let mut gen = Gen {
        diags,
        e,
        table: HashMap::new(),
        builtins: builtins(),
        entry_labels: HashMap::new(),
        queue: VecDeque::new(),
        globals: HashMap::new(),
        global_symbols: Vec::new(),
        data: Vec::new(),
        strings: HashMap::new(),
        symbols: Vec::new(),
        vars: HashMap::new(),
        current: None,
        depth: 0,
        epilogue,
    };
    gen.declare(user, prelude);
    gen.emit_start();
    let mut user_procs: Vec<&str> = Vec::new();
    for program in user {
        for p in &program.procedures {
            if p.body.is_some() && !user_procs.contains(&p.name.as_str()) {
                user_procs.push(&p.name);
            }
        }
    }
    for name in user_procs {
        gen.entry_label(name);
    }
    while let Some(name) = gen.queue.pop_front() {
        let def = gen.table.get(name.as_str()).and_then(|entry| entry.def);
        if let Some(def) = def {
            gen.emit_procedure(def);
        } else if let Some(b) = gen.builtins.iter().find(|b| b.name == name).cloned() {
            gen.emit_builtin(&b);
        }
    }
    Generated {
        emitter: gen.e,
        data: gen.data,
        procedures: gen.symbols,
        globals: gen.global_symbols,
    }
}

impl<'p> Gen<'p, '_> {
    // ---- declarations ----

    fn declare(&mut self, user: &'p [Program], prelude: &'p Program) {
        for program in user {
            for g in &program.globals {
                if self.globals.contains_key(&g.var.name) {
                    self.diags.error(
                        g.var.pos,
                        format!("redefinition of global variable '{}'", g.var.name),
                    );
                    continue;
                }
                self.add_global(g);
            }
            for p in &program.procedures {
                self.declare_procedure(p, true);
            }
        }
        for g in &prelude.globals {
            if !self.globals.contains_key(&g.var.name) {
                self.add_global(g);
            }
        }
        for p in &prelude.procedures {
            match self.table.get_mut(p.name.as_str()) {
                // The program's own definition wins over the prelude's.
                Some(entry) if entry.def.is_some() => {}
                Some(entry) => entry.def = p.body.as_ref().map(|_| p),
                None => self.declare_procedure(p, false),
            }
        }
        if self.table.get("main").and_then(|m| m.def).is_none() {
            self.diags.error(
                Pos {
                    file: 0,
                    line: 1,
                    column: 1,
                },
                "missing procedure 'main': a program starts at 'uint64_t main()'",
            );
        }
    }

    fn add_global(&mut self, g: &Global) {
        let offset = self.data.len() as u64;
        self.data.extend_from_slice(&g.init.to_le_bytes());
        self.globals.insert(g.var.name.clone(), (g.var.ty, offset));
        self.global_symbols.push(GlobalData {
            var: g.var.clone(),
            offset,
        });
    }

    fn declare_procedure(&mut self, p: &'p Procedure, user: bool) {
        let Some(entry) = self.table.get_mut(p.name.as_str()) else {
            let def = p.body.as_ref().map(|_| p);
            self.table.insert(&p.name, ProcEntry { decl: p, def, user });
            return;
        };
        let first = entry.decl;
        if first.params.len() != p.params.len()
            || first.variadic != p.variadic
            || first.returns != p.returns
        {
            let at = self.diags.describe(first.pos);
            self.diags.error(
                p.pos,
                format!("conflicting declarations of procedure '{}': this one differs from the one at {at}", p.name),
            );
        }
        if p.body.is_some() {
            if let Some(def) = entry.def {
                let at = self.diags.describe(def.pos);
                self.diags.error(
                    p.pos,
                    format!(
                        "redefinition of procedure '{}' (first defined at {at})",
                        p.name
                    ),
                );
            } else {
                entry.def = Some(p);
            }
        }
    }

    // ---- temporaries ----

    fn reg(&self, k: usize) -> Reg {
        TEMPS[k % TEMPS.len()]
    }

    fn top(&self) -> Reg {
        self.reg(self.depth.saturating_sub(1))
    }

    fn push_temp(&mut self) -> Reg {
        let k = self.depth;
        let r = self.reg(k);
        if k >= TEMPS.len() {
            // Spill the register's previous owner, temporary k - N.
            self.e.add_immediate(Reg::SP, Reg::SP, -8);
            self.e.emit(Instruction::Store {
                op: StoreOp::Sd,
                rs1: Reg::SP,
                rs2: r,
                offset: 0,
            });
        }
        self.depth += 1;
        r
    }

    fn pop_temp(&mut self) {
        self.depth = self.depth.saturating_sub(1);
        let k = self.depth;
        if k >= TEMPS.len() {
            let r = self.reg(k);
            self.e.emit(Instruction::Load {
                op: LoadOp::Ld,
                rd: r,
                rs1: Reg::SP,
                offset: 0,
            });
            self.e.add_immediate(Reg::SP, Reg::SP, 8);
        }
    }

    // ---- memory access ----

    fn load(&mut self, rd: Reg, base: Reg, offset: i64) {
        if fits12(offset) {
            self.e.emit(Instruction::Load {
                op: LoadOp::Ld,
                rd,
                rs1: base,
                offset,
            });
        } else {
            let (hi, lo) = split_hi_lo(offset);
            self.e.load_immediate(rd, hi << 12);
            self.e.emit(Instruction::Op {
                op: RegOp::Add,
                rd,
                rs1: rd,
                rs2: base,
            });
            self.e.emit(Instruction::Load {
                op: LoadOp::Ld,
                rd,
                rs1: rd,
                offset: lo,
            });
        }
    }

    fn store(&mut self, value: Reg, base: Reg, offset: i64) {
        if fits12(offset) {
            self.e.emit(Instruction::Store {
                op: StoreOp::Sd,
                rs1: base,
                rs2: value,
                offset,
            });
        } else {
            let (hi, lo) = split_hi_lo(offset);
            self.e.load_immediate(SCRATCH, hi << 12);
            self.e.emit(Instruction::Op {
                op: RegOp::Add,
                rd: SCRATCH,
                rs1: SCRATCH,
                rs2: base,
            });
            self.e.emit(Instruction::Store {
                op: StoreOp::Sd,
                rs1: SCRATCH,
                rs2: value,
                offset: lo,
            });
        }
    }

    fn mv(&mut self, rd: Reg, rs: Reg) {
        if rd != rs {
            self.e.emit(Instruction::OpImm {
                op: ImmOp::Addi,
                rd,
                rs1: rs,
                imm: 0,
            });
        }
    }

    fn op(&mut self, op: RegOp, rd: Reg, rs1: Reg, rs2: Reg) {
        self.e.emit(Instruction::Op { op, rd, rs1, rs2 });
    }

    fn op_imm(&mut self, op: ImmOp, rd: Reg, rs1: Reg, imm: i64) {
        self.e.emit(Instruction::OpImm { op, rd, rs1, imm });
    }

    /// Where a variable lives: (type, base register, offset).
    fn variable(&mut self, name: &str, pos: Pos) -> Option<(Type, Reg, i64)> {
        if let Some(&(ty, offset)) = self.vars.get(name) {
            return Some((ty, Reg::S0, offset));
        }
        if let Some(&(ty, offset)) = self.globals.get(name) {
            return Some((ty, Reg::GP, offset as i64 - GP_BIAS));
        }
        self.diags.error(pos, format!("unknown variable '{name}'"));
        None
    }

    /// Warns when a value of type `found` goes where `expected` is
    /// wanted; the literal 0 fits a pointer without a cast, as C's null
    /// pointer constant does (C11 6.3.2.3).
    fn warn_mix(&mut self, expected: Type, found: Type, value: &Expr, pos: Pos, what: &str) {
        let null = expected == Type::Uint64Star && matches!(value, Expr::Integer(0, _));
        if expected != found && !null {
            self.diags.warning(
                pos,
                format!(
                    "{what}: expected {}, found {}",
                    expected.name(),
                    found.name()
                ),
            );
        }
    }

    // ---- procedures ----

    fn entry_label(&mut self, name: &str) -> Label {
        if let Some(&label) = self.entry_labels.get(name) {
            return label;
        }
        let label = self.e.new_label();
        self.entry_labels.insert(name.to_string(), label);
        self.queue.push_back(name.to_string());
        label
    }

    /// `_start`: the Linux initial stack has argc at sp and argv after it;
    /// call `main(argc, argv)` and exit with its result.
    fn emit_start(&mut self) {
        let start = self.e.new_label();
        let end = self.e.new_label();
        self.e.bind(start);
        self.e.item(Item::SetGp);
        let (t0, t1) = (Reg::T0, Reg::T1);
        self.e.emit(Instruction::Load {
            op: LoadOp::Ld,
            rd: t0,
            rs1: Reg::SP,
            offset: 0,
        });
        self.op_imm(ImmOp::Addi, t1, Reg::SP, 8);
        self.op_imm(ImmOp::Addi, Reg::SP, Reg::SP, -16);
        self.e.emit(Instruction::Store {
            op: StoreOp::Sd,
            rs1: Reg::SP,
            rs2: t0,
            offset: 0,
        });
        self.e.emit(Instruction::Store {
            op: StoreOp::Sd,
            rs1: Reg::SP,
            rs2: t1,
            offset: 8,
        });
        if self.table.get("main").and_then(|m| m.def).is_some() {
            let main = self.entry_label("main");
            self.e.item(Item::Call(main));
        }
        self.e.load_immediate(Reg::A7, abi::SYS_EXIT as i64);
        self.e.emit(Instruction::Ecall);
        self.e.bind(end);
        self.symbols.push(ProcedureCode {
            name: "_start".to_string(),
            start,
            end,
            source: None,
        });
    }

    fn emit_builtin(&mut self, b: &Builtin) {
        let start = self.entry_label(b.name);
        let end = self.e.new_label();
        self.e.bind(start);
        for (i, arg) in b.regs.iter().enumerate() {
            let rd = Reg(Reg::A0.0 + i as u8);
            match *arg {
                Arg::Param(n) => self.load(rd, Reg::SP, 8 * i64::from(n)),
                Arg::Const(v) => self.e.load_immediate(rd, v as i64),
            }
        }
        if let Some(op) = b.atomic {
            // One RV64A instruction on the doubleword at a0 (docs/spec/cstar.md,
            // "Atomics"); aq and rl make it a full fence (unprivileged spec,
            // chapter "A": "sequentially consistent" when both are set).
            let rs2 = if op == AmoOp::Lr { Reg::ZERO } else { Reg::A1 };
            self.e.emit(Instruction::Amo {
                op,
                width: AmoWidth::Double,
                aq: true,
                rl: true,
                rd: Reg::A0,
                rs1: Reg::A0,
                rs2,
            });
        } else {
            self.e.load_immediate(Reg::A7, b.number as i64);
            self.e.emit(Instruction::Ecall);
            if b.result != Reg::A0 {
                self.op_imm(ImmOp::Addi, Reg::A0, b.result, 0);
            }
        }
        self.e.emit(Instruction::Jalr {
            rd: Reg::ZERO,
            rs1: Reg::RA,
            offset: 0,
        });
        self.e.bind(end);
        self.symbols.push(ProcedureCode {
            name: b.name.to_string(),
            start,
            end,
            source: None,
        });
    }

    fn emit_procedure(&mut self, p: &'p Procedure) {
        let Some(body) = &p.body else { return };
        let start = self.entry_label(&p.name);
        let end = self.e.new_label();
        self.epilogue = self.e.new_label();
        self.current = Some(p);
        self.depth = 0;
        self.vars.clear();
        for (i, param) in p.params.iter().enumerate() {
            self.declare_local(param, 16 + 8 * i as i64);
        }
        for (j, local) in body.locals.iter().enumerate() {
            self.declare_local(local, -8 * (j as i64 + 1));
        }

        // The prologue (its layout is what the call-frame information of
        // toolchain::dwarf describes: keep the two in step).
        self.e.bind(start);
        self.e.mark_line(p.pos);
        self.op_imm(ImmOp::Addi, Reg::SP, Reg::SP, -16);
        self.e.emit(Instruction::Store {
            op: StoreOp::Sd,
            rs1: Reg::SP,
            rs2: Reg::RA,
            offset: 8,
        });
        self.e.emit(Instruction::Store {
            op: StoreOp::Sd,
            rs1: Reg::SP,
            rs2: Reg::S0,
            offset: 0,
        });
        self.mv(Reg::S0, Reg::SP);
        self.e
            .add_immediate(Reg::SP, Reg::SP, -8 * body.locals.len() as i64);

        self.emit_statements(&body.statements, true);
        self.e.mark_line(body.end);
        if !matches!(body.statements.last(), Some(Statement::Return { .. })) {
            // Falling off the end returns 0, so that exit codes are deterministic.
            self.mv(Reg::A0, Reg::ZERO);
        }
        self.e.bind(self.epilogue);
        self.mv(Reg::SP, Reg::S0);
        self.e.emit(Instruction::Load {
            op: LoadOp::Ld,
            rd: Reg::RA,
            rs1: Reg::SP,
            offset: 8,
        });
        self.e.emit(Instruction::Load {
            op: LoadOp::Ld,
            rd: Reg::S0,
            rs1: Reg::SP,
            offset: 0,
        });
        self.op_imm(ImmOp::Addi, Reg::SP, Reg::SP, 16);
        self.e.emit(Instruction::Jalr {
            rd: Reg::ZERO,
            rs1: Reg::RA,
            offset: 0,
        });
        self.e.bind(end);
        self.symbols.push(ProcedureCode {
            name: p.name.clone(),
            start,
            end,
            source: Some(ProcedureSource {
                pos: p.pos,
                returns: p.returns,
                params: p.params.clone(),
                locals: body.locals.clone(),
                epilogue: self.epilogue,
            }),
        });
        self.current = None;
    }

    fn declare_local(&mut self, var: &Variable, offset: i64) {
        if self.vars.contains_key(&var.name) {
            self.diags.error(
                var.pos,
                format!(
                    "redefinition of variable '{}' in the same procedure",
                    var.name
                ),
            );
            return;
        }
        self.vars.insert(var.name.clone(), (var.ty, offset));
    }

    // ---- statements ----

    /// `outermost`: these are the procedure's own statements, so a final
    /// `return` can fall into the epilogue instead of jumping.
    fn emit_statements(&mut self, statements: &[Statement], outermost: bool) {
        for (i, s) in statements.iter().enumerate() {
            let last = outermost && i + 1 == statements.len();
            self.emit_statement(s, last);
            debug_assert_eq!(self.depth, 0, "emit_statement: temporaries leaked");
        }
    }

    fn emit_statement(&mut self, s: &Statement, last: bool) {
        self.e.mark_line(s.pos());
        match s {
            Statement::Assign { target, value, pos } => self.emit_assignment(target, value, *pos),
            Statement::If {
                cond,
                then,
                otherwise,
                ..
            } => {
                let else_label = self.e.new_label();
                self.emit_branch(cond, false, else_label);
                self.emit_statements(then, false);
                if otherwise.is_empty() {
                    self.e.bind(else_label);
                } else {
                    let end = self.e.new_label();
                    self.e.item(Item::Jump(end));
                    self.e.bind(else_label);
                    self.emit_statements(otherwise, false);
                    self.e.bind(end);
                }
            }
            Statement::While { cond, body, pos } => {
                // Test at the bottom: one branch per iteration.
                let test = self.e.new_label();
                let top = self.e.new_label();
                self.e.item(Item::Jump(test));
                self.e.bind(top);
                self.emit_statements(body, false);
                self.e.bind(test);
                self.e.mark_line(*pos);
                self.emit_branch(cond, true, top);
            }
            Statement::Call(call) => {
                self.emit_call(call, false);
            }
            Statement::Return { value, pos } => {
                let returns = self.current.map_or(Returns::Void, |p| p.returns);
                if let Some(value) = value {
                    let ty = self.emit_value(value);
                    match returns {
                        Returns::Void => {
                            let name = self.current.map_or("", |p| p.name.as_str());
                            self.diags
                                .error(*pos, format!("void procedure '{name}' returns a value"));
                        }
                        Returns::Value(expected) => {
                            self.warn_mix(expected, ty, value, value.pos(), "return value")
                        }
                    }
                    let r = self.top();
                    self.mv(Reg::A0, r);
                    self.pop_temp();
                }
                if !last {
                    self.e.item(Item::Jump(self.epilogue));
                }
            }
        }
    }

    fn emit_assignment(&mut self, target: &Target, value: &Expr, pos: Pos) {
        match target {
            Target::Variable(name, var_pos) => {
                let ty = self.emit_value(value);
                let r = self.top();
                if let Some((var_ty, base, offset)) = self.variable(name, *var_pos) {
                    self.warn_mix(var_ty, ty, value, pos, &format!("assignment to '{name}'"));
                    self.store(r, base, offset);
                }
                self.pop_temp();
            }
            Target::Deref(address) => {
                // Address first, then value: left to right.
                let (base, offset) = self.emit_address(address);
                let ty = self.emit_value(value);
                self.warn_mix(Type::Uint64, ty, value, pos, "assignment through a pointer");
                let r = self.top();
                self.store(r, base, offset);
                self.pop_temp();
                self.pop_temp();
            }
        }
    }

    /// Evaluates a pointer expression into a temporary and returns the
    /// register and byte offset to access: `*(p + 3)` becomes `24(p)`.
    fn emit_address(&mut self, address: &Expr) -> (Reg, i64) {
        if let Expr::Binary(op @ (BinaryOp::Add | BinaryOp::Sub), left, right, _) = address {
            if let Expr::Integer(n, _) = **right {
                let ty = self.emit_value(left);
                let scaled = (n as i64).wrapping_mul(if ty == Type::Uint64Star { 8 } else { 1 });
                let offset = if *op == BinaryOp::Add {
                    scaled
                } else {
                    scaled.wrapping_neg()
                };
                let r = self.top();
                if fits12(offset) {
                    return (r, offset);
                }
                self.e.load_immediate(SCRATCH, offset);
                self.op(RegOp::Add, r, r, SCRATCH);
                return (r, 0);
            }
        }
        self.emit_value(address);
        (self.top(), 0)
    }

    /// Branches to `label` when `cond` is `when` (non-zero for true).
    fn emit_branch(&mut self, cond: &Expr, when: bool, label: Label) {
        if let Expr::Binary(op, left, right, _) = cond {
            if op.is_comparison() {
                self.emit_value(left);
                let a = self.top();
                let zero = matches!(**right, Expr::Integer(0, _));
                let b = if zero {
                    Reg::ZERO
                } else {
                    self.emit_value(right);
                    self.top()
                };
                use BranchOp::*;
                // (branch op, swap operands) for "cond is true".
                let (bop, swap) = match op {
                    BinaryOp::Eq => (Beq, false),
                    BinaryOp::NotEq => (Bne, false),
                    BinaryOp::Less => (Bltu, false),
                    BinaryOp::GreaterEq => (Bgeu, false),
                    BinaryOp::Greater => (Bltu, true),
                    _ => (Bgeu, true), // LessEq: b >= a
                };
                let (bop, swap) = if when {
                    (bop, swap)
                } else {
                    let inverse = match bop {
                        Beq => Bne,
                        Bne => Beq,
                        Bltu => Bgeu,
                        Bgeu => Bltu,
                        Blt => Bge,
                        Bge => Blt,
                    };
                    (inverse, swap)
                };
                let (rs1, rs2) = if swap { (b, a) } else { (a, b) };
                self.e.item(Item::Branch {
                    op: bop,
                    rs1,
                    rs2,
                    target: label,
                });
                if !zero {
                    self.pop_temp();
                }
                self.pop_temp();
                return;
            }
        }
        self.emit_value(cond);
        let r = self.top();
        let op = if when { BranchOp::Bne } else { BranchOp::Beq };
        self.e.item(Item::Branch {
            op,
            rs1: r,
            rs2: Reg::ZERO,
            target: label,
        });
        self.pop_temp();
    }

    // ---- expressions ----

    /// Evaluates into a new temporary; reports `void` used as a value.
    fn emit_value(&mut self, expr: &Expr) -> Type {
        match self.emit_expression(expr) {
            Some(ty) => ty,
            None => {
                let name = match expr {
                    Expr::Call(c) => c.name.as_str(),
                    _ => "",
                };
                self.diags.error(
                    expr.pos(),
                    format!("void procedure '{name}' used as a value"),
                );
                Type::Uint64
            }
        }
    }

    /// Evaluates `expr` into exactly one new temporary.
    fn emit_expression(&mut self, expr: &Expr) -> Value {
        match expr {
            Expr::Integer(n, _) => {
                let r = self.push_temp();
                self.e.load_immediate(r, *n as i64);
                Some(Type::Uint64)
            }
            Expr::Sizeof(_) => {
                let r = self.push_temp();
                self.e.load_immediate(r, 8);
                Some(Type::Uint64)
            }
            Expr::Str(bytes, _) => {
                let offset = self.intern(bytes);
                let r = self.push_temp();
                self.e.add_immediate(r, Reg::GP, offset as i64 - GP_BIAS);
                Some(Type::Uint64Star)
            }
            Expr::Variable(name, pos) => {
                let r = self.push_temp();
                match self.variable(name, *pos) {
                    Some((ty, base, offset)) => {
                        self.load(r, base, offset);
                        Some(ty)
                    }
                    None => Some(Type::Uint64),
                }
            }
            Expr::Call(call) => self.emit_call(call, true),
            Expr::Negate(inner, _) => {
                self.emit_value(inner);
                let r = self.top();
                self.op(RegOp::Sub, r, Reg::ZERO, r);
                Some(Type::Uint64)
            }
            Expr::Deref(inner, _) => {
                let (r, offset) = self.emit_address(inner);
                self.e.emit(Instruction::Load {
                    op: LoadOp::Ld,
                    rd: r,
                    rs1: r,
                    offset,
                });
                Some(Type::Uint64)
            }
            Expr::Cast(ty, inner) => {
                self.emit_value(inner);
                Some(*ty)
            }
            Expr::Binary(op, left, right, _) => Some(self.emit_binary(*op, left, right)),
        }
    }

    fn emit_binary(&mut self, op: BinaryOp, left: &Expr, right: &Expr) -> Type {
        let lt = self.emit_value(left);
        let a = self.top();
        let pointer = Type::Uint64Star;
        // `p + n`, `p - n` with a small literal: one addi.
        if let (BinaryOp::Add | BinaryOp::Sub, Expr::Integer(n, _)) = (op, right) {
            let scale = if lt == pointer { 8 } else { 1 };
            if *n < 256 {
                let v = *n as i64 * scale;
                self.op_imm(ImmOp::Addi, a, a, if op == BinaryOp::Add { v } else { -v });
                return lt;
            }
        }
        // `* / %` by a power of two: a shift or a mask (unsigned, so exact).
        if let (BinaryOp::Mul | BinaryOp::Div | BinaryOp::Rem, Expr::Integer(n, _)) = (op, right) {
            if n.is_power_of_two() && (op != BinaryOp::Rem || *n <= 2048) {
                let shift = i64::from(n.trailing_zeros());
                match op {
                    BinaryOp::Mul => self.op_imm(ImmOp::Slli, a, a, shift),
                    BinaryOp::Div => self.op_imm(ImmOp::Srli, a, a, shift),
                    _ => self.op_imm(ImmOp::Andi, a, a, *n as i64 - 1),
                }
                return Type::Uint64;
            }
        }
        let rt = self.emit_value(right);
        let b = self.top();
        let result = match op {
            BinaryOp::Add => {
                if lt == pointer && rt != pointer {
                    self.op_imm(ImmOp::Slli, b, b, 3);
                } else if lt != pointer && rt == pointer {
                    self.op_imm(ImmOp::Slli, a, a, 3);
                }
                self.op(RegOp::Add, a, a, b);
                if (lt == pointer) != (rt == pointer) {
                    pointer
                } else {
                    Type::Uint64
                }
            }
            BinaryOp::Sub => {
                if lt == pointer && rt != pointer {
                    self.op_imm(ImmOp::Slli, b, b, 3);
                    self.op(RegOp::Sub, a, a, b);
                    pointer
                } else {
                    self.op(RegOp::Sub, a, a, b);
                    if lt == pointer && rt == pointer {
                        // The distance in words; arithmetic shift so that
                        // q - p is -1 when p is one word above q.
                        self.op_imm(ImmOp::Srai, a, a, 3);
                    }
                    Type::Uint64
                }
            }
            BinaryOp::Mul => {
                self.op(RegOp::Mul, a, a, b);
                Type::Uint64
            }
            BinaryOp::Div => {
                self.op(RegOp::Divu, a, a, b);
                Type::Uint64
            }
            BinaryOp::Rem => {
                self.op(RegOp::Remu, a, a, b);
                Type::Uint64
            }
            BinaryOp::Eq => {
                self.op(RegOp::Sub, a, a, b);
                self.op_imm(ImmOp::Sltiu, a, a, 1);
                Type::Uint64
            }
            BinaryOp::NotEq => {
                self.op(RegOp::Sub, a, a, b);
                self.op(RegOp::Sltu, a, Reg::ZERO, a);
                Type::Uint64
            }
            BinaryOp::Less => {
                self.op(RegOp::Sltu, a, a, b);
                Type::Uint64
            }
            BinaryOp::Greater => {
                self.op(RegOp::Sltu, a, b, a);
                Type::Uint64
            }
            BinaryOp::LessEq => {
                self.op(RegOp::Sltu, a, b, a);
                self.op_imm(ImmOp::Xori, a, a, 1);
                Type::Uint64
            }
            BinaryOp::GreaterEq => {
                self.op(RegOp::Sltu, a, a, b);
                self.op_imm(ImmOp::Xori, a, a, 1);
                Type::Uint64
            }
        };
        self.pop_temp();
        result
    }

    /// A string literal's offset in the data segment (identical literals
    /// share one copy).
    fn intern(&mut self, bytes: &[u8]) -> u64 {
        if let Some(&offset) = self.strings.get(bytes) {
            return offset;
        }
        let offset = self.data.len() as u64;
        self.data.extend_from_slice(bytes);
        // NUL-terminate and pad to a whole word.
        self.data.push(0);
        while !self.data.len().is_multiple_of(8) {
            self.data.push(0);
        }
        self.strings.insert(bytes.to_vec(), offset);
        offset
    }

    /// What a call of `name` calls. `var_start`, `var_arg` and `var_end`
    /// are macros and win over everything: selfie.c defines dummy
    /// procedures of these names for a C compiler's sake, which a call
    /// must not reach (as in selfie's compiler, macros are looked up first).
    /// Then the program's (or prelude's) definition, then a built-in.
    fn resolve(&self, name: &str) -> Result<Callee<'p>, String> {
        match name {
            "var_start" => return Ok(Callee::VarStart),
            "var_arg" => return Ok(Callee::VarArg),
            "var_end" => return Ok(Callee::VarEnd),
            _ => {}
        }
        if let Some(entry) = self.table.get(name) {
            if let Some(def) = entry.def {
                return Ok(Callee::Procedure(def));
            }
        }
        if let Some(b) = self.builtins.iter().find(|b| b.name == name) {
            return Ok(Callee::Builtin(b.clone()));
        }
        match self.table.get(name) {
            Some(entry) if entry.user => {
                Err(format!("procedure '{name}' is declared but never defined"))
            }
            _ => Err(format!("unknown procedure '{name}'")),
        }
    }

    /// Emits a call. With `want_value` the result is left in a new
    /// temporary (also for a void procedure, after reporting it, so that
    /// the temporaries stay balanced); returns its type, or `None` for void.
    fn emit_call(&mut self, call: &Call, want_value: bool) -> Value {
        let callee = match self.resolve(&call.name) {
            Ok(callee) => callee,
            Err(message) => {
                self.diags.error(call.pos, message);
                // Still evaluate the arguments, to report errors in them.
                for arg in &call.args {
                    self.emit_expression(arg);
                    self.pop_temp();
                }
                if want_value {
                    self.push_temp();
                }
                return Some(Type::Uint64);
            }
        };
        let (params, variadic, returns): (Vec<Option<Type>>, bool, Returns) = match &callee {
            Callee::Procedure(p) => (
                p.params.iter().map(|v| Some(v.ty)).collect(),
                p.variadic,
                p.returns,
            ),
            Callee::Builtin(b) => (vec![None; b.params], false, Returns::Value(b.returns)),
            Callee::VarStart | Callee::VarEnd => {
                return self.emit_var_access(call, &callee, want_value)
            }
            Callee::VarArg => return self.emit_var_access(call, &callee, want_value),
        };
        let n = call.args.len();
        if n < params.len() || (n > params.len() && !variadic) {
            let expected = if variadic {
                format!("at least {}", params.len())
            } else {
                params.len().to_string()
            };
            let s = if params.len() == 1 { "" } else { "s" };
            self.diags.error(
                call.pos,
                format!(
                    "wrong number of arguments to '{}': expected {expected} argument{s}, found {n}",
                    call.name
                ),
            );
        }
        let target = self.entry_label(&call.name);

        // Save the live temporaries that are in registers.
        let live = self.depth;
        let low = live.saturating_sub(TEMPS.len());
        let saved = live - low;
        if saved > 0 {
            self.e.add_immediate(Reg::SP, Reg::SP, -8 * saved as i64);
            for (i, k) in (low..live).enumerate() {
                let r = self.reg(k);
                self.store(r, Reg::SP, 8 * i as i64);
            }
        }
        self.depth = 0;
        if n > 0 {
            self.e.add_immediate(Reg::SP, Reg::SP, -8 * n as i64);
        }
        for (i, arg) in call.args.iter().enumerate() {
            let ty = self.emit_value(arg);
            if let Some(Some(expected)) = params.get(i) {
                self.warn_mix(
                    *expected,
                    ty,
                    arg,
                    arg.pos(),
                    &format!("argument {} of '{}'", i + 1, call.name),
                );
            }
            let r = self.top();
            self.store(r, Reg::SP, 8 * i as i64);
            self.pop_temp();
        }
        self.e.item(Item::Call(target));
        if n > 0 {
            self.e.add_immediate(Reg::SP, Reg::SP, 8 * n as i64);
        }
        if saved > 0 {
            for (i, k) in (low..live).enumerate() {
                let r = self.reg(k);
                self.load(r, Reg::SP, 8 * i as i64);
            }
            self.e.add_immediate(Reg::SP, Reg::SP, 8 * saved as i64);
        }
        self.depth = live;
        if want_value {
            let r = self.push_temp();
            self.mv(r, Reg::A0);
        }
        match returns {
            Returns::Void => None,
            Returns::Value(ty) => Some(ty),
        }
    }

    /// `var_start(args)` points `args` at the first argument after the
    /// named ones; `var_arg(args)` returns the argument `args` points at
    /// and advances it; `var_end(args)` does nothing.
    fn emit_var_access(&mut self, call: &Call, callee: &Callee<'p>, want_value: bool) -> Value {
        let name = match call.args.as_slice() {
            [Expr::Variable(name, pos)] => Some((name.as_str(), *pos)),
            _ => {
                self.diags.error(
                    call.pos,
                    format!(
                        "'{}' takes one argument, the name of a uint64_t* variable",
                        call.name
                    ),
                );
                None
            }
        };
        let variable = name.and_then(|(name, pos)| self.variable(name, pos));
        let result = match callee {
            Callee::VarStart => {
                let current = self.current;
                match current {
                    Some(p) if p.variadic => {
                        if let Some((_, base, offset)) = variable {
                            let r = self.push_temp();
                            self.e
                                .add_immediate(r, Reg::S0, 16 + 8 * p.params.len() as i64);
                            self.store(r, base, offset);
                            self.pop_temp();
                        }
                    }
                    _ => self
                        .diags
                        .error(call.pos, "var_start used in a procedure without '...'"),
                }
                None
            }
            Callee::VarArg => {
                let pointer = self.push_temp();
                let value = self.push_temp();
                if let Some((_, base, offset)) = variable {
                    self.load(pointer, base, offset);
                    self.e.emit(Instruction::Load {
                        op: LoadOp::Ld,
                        rd: value,
                        rs1: pointer,
                        offset: 0,
                    });
                    self.op_imm(ImmOp::Addi, pointer, pointer, 8);
                    self.store(pointer, base, offset);
                    self.mv(pointer, value);
                }
                self.pop_temp();
                if !want_value {
                    self.pop_temp();
                }
                // The type of C's `va_arg(args, type)` is named at each
                // use; ours is that of a `var_arg` prototype when the
                // program has one (selfie.c: `char* var_arg(uint64_t* args)`).
                let declared = self.table.get("var_arg").map(|entry| entry.decl.returns);
                return Some(match declared {
                    Some(Returns::Value(ty)) => ty,
                    _ => Type::Uint64,
                });
            }
            _ => None,
        };
        if want_value {
            self.push_temp();
        }
        result
    }
}
