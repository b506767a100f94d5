//! What the executor runs and what it runs with: the `Op` (one pre-decoded
//! instruction), the `Handler` signature every op's function has, and
//! `Exec`, the state a handler is given.
//!
//! An op is a compact 24-byte value: what it does (`OpKind`), its registers,
//! one pre-computed immediate and, first, the function that runs it. The
//! block decoder (block.rs) makes ops from typed `Instruction`s and picks
//! each one's handler (exec.rs, fuse.rs); the run loop (machine.rs) calls
//! the first op's handler, and each handler calls the next op's.
//!
//! Registers: `rd`, `rs1` and `rs2` index the hart's 33-slot register file.
//! A destination `x0` is replaced by the write sink `SINK` (slot 32), so the
//! hot path never checks for `x0`: slot 0 is never written and stays zero.
//!
//! `Exec` also carries the two caches the fast path reads without a
//! function call, as raw pointers: the TLB's entries (`Tlb`, mmu.rs) and the
//! jump cache's (`JumpCache`, block.rs). entries.rs says why these copies
//! stay valid while the slow paths write the same entries.

use super::bus::Bus;
use super::exception::Exception;
use super::exec_fp::Fpu;
use super::instruction::{AmoOp, AmoWidth, CsrOp};
use super::mmu::TlbEntry;

/// Index of the write sink register: destination `x0` is redirected here.
pub const SINK: u8 = 32;

/// What an op does. Terminators (they set the pc and end the block) are
/// the ones from `Beq` on.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(u8)]
pub(crate) enum OpKind {
    Li,
    Mv,
    Addi,
    Slti,
    Sltiu,
    Xori,
    Ori,
    Andi,
    Slli,
    Srli,
    Srai,
    Addiw,
    Slliw,
    Srliw,
    Sraiw,
    Add,
    Sub,
    Sll,
    Slt,
    Sltu,
    Xor,
    Srl,
    Sra,
    Or,
    And,
    Mul,
    Mulh,
    Mulhsu,
    Mulhu,
    Div,
    Divu,
    Rem,
    Remu,
    Addw,
    Subw,
    Sllw,
    Srlw,
    Sraw,
    Mulw,
    Divw,
    Divuw,
    Remw,
    Remuw,
    Lb,
    Lh,
    Lw,
    Ld,
    Lbu,
    Lhu,
    Lwu,
    Sb,
    Sh,
    Sw,
    Sd,
    /// Reads a counter CSR; `imm` is the CSR number.
    CsrRead,
    /// An atomic; `imm` packs `AmoOp` and width (`amo_pack`).
    Amo,
    Nop,
    /// `li rd, imm` that ends a folded constant: the ops after it up to
    /// `rs2` of them are `Nop`s it skips (block.rs, `fold_constants`).
    LiSkip,
    // Zba, Zbb, Zbs: shifts by an immediate have it in `imm`.
    Sh1add,
    Sh2add,
    Sh3add,
    AddUw,
    Sh1addUw,
    Sh2addUw,
    Sh3addUw,
    Andn,
    Orn,
    Xnor,
    Max,
    Maxu,
    Min,
    Minu,
    Rol,
    Ror,
    Rolw,
    Rorw,
    Bclr,
    Bext,
    Binv,
    Bset,
    SlliUw,
    Rori,
    Roriw,
    Bclri,
    Bexti,
    Binvi,
    Bseti,
    Clz,
    Ctz,
    Cpop,
    Clzw,
    Ctzw,
    Cpopw,
    SextB,
    SextH,
    ZextH,
    OrcB,
    Rev8,
    /// A division or remainder that traps when the divisor is zero
    /// (`--trap-division-by-zero`); `imm` indexes `DIVISIONS`.
    DivTrap,
    // F and D (exec_fp.rs). `rd`, `rs1`, `rs2` are floating-point register
    // numbers where the instruction names one. Loads and stores have the
    // offset in `imm`; the others pack `fp_pack`'s fields into it.
    Flw,
    Fld,
    Fsw,
    Fsd,
    FaddS,
    FaddD,
    FsubS,
    FsubD,
    FmulS,
    FmulD,
    FdivS,
    FdivD,
    FsqrtS,
    FsqrtD,
    /// Sign injection; the `FpSignOp` in the sub-operation field.
    FsgnjS,
    FsgnjD,
    /// fmin/fmax; sub-operation 1 for fmax.
    FminmaxS,
    FminmaxD,
    /// fcvt.s.d and fcvt.d.s.
    FcvtSD,
    FcvtDS,
    /// feq/flt/fle; the `FpCompareOp` in the sub-operation field.
    FcmpS,
    FcmpD,
    FclassS,
    FclassD,
    /// fmv.x.w, fmv.x.d, fmv.w.x, fmv.d.x.
    FmvXW,
    FmvXD,
    FmvWX,
    FmvDX,
    /// fcvt to an integer; the `IntWidth` in the sub-operation field.
    FcvtToIntS,
    FcvtToIntD,
    /// fcvt from an integer; the `IntWidth` in the sub-operation field.
    FcvtFromIntS,
    FcvtFromIntD,
    /// The fused multiply-adds; `FusedOp` in the sub-operation field,
    /// `rs3` in its own.
    FusedS,
    FusedD,
    /// csrrw/csrrs/csrrc (and the immediate forms) on fflags, frm, fcsr;
    /// `imm` packs them (`csr_pack`).
    CsrFp,
    /// A conditional branch in the middle of a block (a *side exit*,
    /// block.rs, `decode_block`: under the JIT, a forward one, or a
    /// backward one that a `j` back to the block's start closely
    /// follows): not taken, the block goes on with the next op; taken, it
    /// gives back the instructions after it (`Op::left` of the next op)
    /// and goes to its target. (The JIT compiles a short jump over ops of
    /// its own block as a skip that stays in the block: jit/x86_64.rs,
    /// `emit_skip`.) The same comparisons as the branches below, in the
    /// same order (`side_exit`, `condition`).
    SideBeq,
    SideBne,
    SideBlt,
    SideBge,
    SideBltu,
    SideBgeu,
    // Terminators.
    Beq,
    Bne,
    Blt,
    Bge,
    Bltu,
    Bgeu,
    Jal,
    Jalr,
    Ecall,
    Ebreak,
    /// `imm` holds the instruction bits.
    Illegal,
    /// End of a block that did not end in control flow: continue at the next pc.
    Fallthrough,
}

impl OpKind {
    /// Whether an op of this kind ends its block.
    pub fn is_terminator(self) -> bool {
        self as u8 >= OpKind::Beq as u8
    }

    /// Whether this is an integer load.
    pub fn is_load(self) -> bool {
        matches!(
            self,
            OpKind::Lb
                | OpKind::Lh
                | OpKind::Lw
                | OpKind::Ld
                | OpKind::Lbu
                | OpKind::Lhu
                | OpKind::Lwu
        )
    }

    /// Whether this is an integer store.
    pub fn is_store(self) -> bool {
        matches!(self, OpKind::Sb | OpKind::Sh | OpKind::Sw | OpKind::Sd)
    }

    /// Whether this is a side exit (a conditional branch that does not
    /// end its block).
    pub fn is_side_exit(self) -> bool {
        self.condition().is_some() && !self.is_terminator()
    }

    /// The side exit that compares as this conditional branch does.
    pub fn side_exit(self) -> Option<OpKind> {
        use OpKind as K;
        Some(match self {
            K::Beq => K::SideBeq,
            K::Bne => K::SideBne,
            K::Blt => K::SideBlt,
            K::Bge => K::SideBge,
            K::Bltu => K::SideBltu,
            K::Bgeu => K::SideBgeu,
            _ => return None,
        })
    }

    /// The comparison of a conditional branch or side exit, as the
    /// branch's kind (`Beq` for both `beq` and its side exit).
    pub fn condition(self) -> Option<OpKind> {
        use OpKind as K;
        Some(match self {
            K::Beq | K::SideBeq => K::Beq,
            K::Bne | K::SideBne => K::Bne,
            K::Blt | K::SideBlt => K::Blt,
            K::Bge | K::SideBge => K::Bge,
            K::Bltu | K::SideBltu => K::Bltu,
            K::Bgeu | K::SideBgeu => K::Bgeu,
            _ => return None,
        })
    }

    /// Whether this is a conditional branch that ends its block.
    pub fn is_branch(self) -> bool {
        matches!(
            self,
            OpKind::Beq | OpKind::Bne | OpKind::Blt | OpKind::Bge | OpKind::Bltu | OpKind::Bgeu
        )
    }
}

/// One pre-decoded instruction.
#[derive(Clone, Copy, Debug)]
#[repr(C)]
pub(crate) struct Op {
    /// The executor's function for this op (exec.rs, or fuse.rs for the
    /// first op of a fused pair).
    pub handler: Handler,
    pub imm: i64,
    pub kind: OpKind,
    pub rd: u8,
    pub rs1: u8,
    pub rs2: u8,
    /// Byte offset of this instruction from the block's first pc.
    pub offset: u16,
    /// Length of the instruction in bytes (2 or 4; 0 for `Fallthrough`).
    pub len: u8,
    /// Guest instructions from this op to the end of its block, this one
    /// included (0 for `Fallthrough`). On a block's first op: the block's
    /// instruction count, which block chaining charges to the budget
    /// (exec.rs, `chain_linked`) without looking the block up.
    pub left: u8,
}

const _: () = assert!(std::mem::size_of::<Op>() == 24);

/// The slot after a block's terminator: where the terminator's successors
/// are, once known (block.rs fills `next_pc` when it makes the block; the
/// executor fills the two block pointers on first use, exec.rs).
///
/// These are the *successor links* between blocks: a branch whose target
/// block is linked goes straight to that block's first op, without the
/// jump cache's hash, compare and loads. A link only ever points to a
/// block on the same page as the block that holds it, i.e. decoded from
/// the same frame under the same translation: so it is as valid as the
/// block it is in, and the block cache clears the links of a frame's
/// blocks whenever it drops one of them (`BlockCache::remove`).
#[derive(Clone, Copy, Debug)]
#[repr(C)]
pub(crate) struct Link {
    /// The first op of the block at the terminator's static target (a
    /// taken branch, `jal`), or null.
    pub target: *const Op,
    /// The first op of the block at `next_pc` (a branch not taken, the
    /// end of a block without control flow), or null.
    pub next: *const Op,
    /// The pc after the terminator: a branch's fall-through, `jal`'s and
    /// `jalr`'s return address, a `Fallthrough`'s target. Computed once,
    /// when the block is made.
    pub next_pc: u64,
}

impl Link {
    /// No successor known yet.
    pub fn unlinked(next_pc: u64) -> Link {
        Link {
            target: std::ptr::null(),
            next: std::ptr::null(),
            next_pc,
        }
    }
}

/// The link slot after a `jalr`, which has no static target: the block
/// it went to last, if that block is on the running block's page (the
/// same rule as `Link`'s, for the same reason), and its pc.
///
/// A `jalr` that goes where it went last (a function's `ret` to its one
/// caller in a loop) then enters that block without the jump cache. What
/// that saves is not so much instructions as waiting: through the jump
/// cache the next block's first op is known only after the target is,
/// and a return's target is loaded from the guest's stack, so the host
/// could start nothing of the next block before that load, the register
/// file round trip and the cache lookup were done. From the link, the
/// next op is known at once and the target only confirms it (a branch
/// the host predicts). (selfie compiling itself runs 5% faster for it
/// under the interpreter: docs/PERFORMANCE.md.)
///
/// It lies over `Link`: `last` where `Link::target` is and `last_pc` where
/// `Link::next` is, so the block cache's unlinking (which writes nulls
/// there) empties it too: `last` null means no block.
#[derive(Clone, Copy, Debug)]
#[repr(C)]
pub(crate) struct ReturnLink {
    /// The first op of the block the `jalr` went to last, or null.
    pub last: *const Op,
    /// That block's pc (meaningless while `last` is null).
    pub last_pc: u64,
    /// As `Link::next_pc`: the return address the `jalr` writes.
    pub next_pc: u64,
}

const _: () = {
    use std::mem::offset_of;
    assert!(offset_of!(ReturnLink, last) == offset_of!(Link, target));
    assert!(offset_of!(ReturnLink, last_pc) == offset_of!(Link, next));
    assert!(offset_of!(ReturnLink, next_pc) == offset_of!(Link, next_pc));
    assert!(std::mem::size_of::<ReturnLink>() == std::mem::size_of::<Link>());
};

/// One slot of a block's storage: an op, or the link slot after the
/// terminator (a `ReturnLink` after a `jalr`). All are 24 bytes, so
/// `op.add(1)` of a terminator is its link slot.
#[derive(Clone, Copy)]
#[repr(C)]
pub(crate) union Slot {
    pub op: Op,
    pub link: Link,
    pub return_link: ReturnLink,
}

const _: () = assert!(std::mem::size_of::<Slot>() == std::mem::size_of::<Op>());
const _: () = assert!(std::mem::size_of::<Link>() == std::mem::size_of::<Op>());

#[allow(improper_ctypes_definitions)]
/// The signature of every op handler: the op, the register file (33
/// slots), the execution state, and the budget: instructions this trip may
/// still run after the running block, which is already counted (machine.rs,
/// module doc). Returns the next pc or `STOPPED`, after writing the
/// budget left to `Exec::budget`.
///
/// Handlers are called by the run loop (machine.rs) and by each other
/// (the next op, a chained block); the contract below is what every
/// handler and every helper in exec.rs and fuse.rs relies on. `lower`
/// (block.rs) makes every register field at most 32, and blocks are added
/// and removed only between runs of handlers, which keeps the first part
/// true while a chain of handlers runs. Ops are never written while
/// handlers run but for the link slot after a terminator (`Link`), which
/// only that terminator's handler reads and writes, through a pointer
/// that may write it (block.rs, `BlockOps`).
///
/// The C calling convention (System V on x86-64: `rdi`, `rsi`, `rdx`,
/// `rcx`, the result in `rax`) is fixed so that code the JIT makes (jit/)
/// can be a handler too and jump to the interpreter's handlers.
///
/// # Safety
/// `op` is in a live block's ops as said above (registers <= 32, the last
/// a terminator and its link slot). `x` is 33 registers nothing else uses
/// meanwhile. `Exec`'s `tlb` and `jump_cache` point to the caches in use.
pub(crate) type Handler = unsafe extern "C" fn(*const Op, *mut u64, &mut Exec<'_>, u64) -> u64;

/// Returned by a handler when the block stopped early (never a valid pc:
/// pcs are even).
pub(crate) const STOPPED: u64 = u64::MAX;

/// Why a block stopped early.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Stop {
    /// The op raised an exception; it did not retire.
    Fault(Exception),
    /// A store hit decoded code; the op retired, the block must be left
    /// because its own code may have changed.
    CodeWritten,
}

/// State shared by the handlers of one run: what the fast paths need in
/// reach, and the bus for the slow paths.
pub(crate) struct Exec<'a> {
    /// The TLB's entries (`Tlb::as_ptr`), read by the fast path.
    pub tlb: *const TlbEntry,
    /// The jump cache's entries (`JumpCache::as_ptr`), for chaining from one
    /// block to the next.
    pub jump_cache: *const JumpEntry,
    /// Virtual address of the running block's first instruction.
    pub block_pc: u64,
    /// Instructions this trip may still run after the running block,
    /// which is counted whole when it is entered: `stop_at - instret`.
    /// Chaining to a block subtracts its count; the run loop reads the
    /// count back as `stop_at - budget` (machine.rs). Compiled code keeps
    /// it in a host register and writes it back at its exits (jit/).
    pub budget: u64,
    /// This trip through the handlers ends when the budget would go below
    /// zero, i.e. at this count: the run's end, or `TRIP_INSTRUCTIONS`
    /// after the trip began if that is sooner (machine.rs), which bounds
    /// how many handlers one trip chains through, and so the native stack
    /// should a tail call not be optimised (an unoptimised build).
    pub stop_at: u64,
    /// Set with `STOPPED`: why, and at which op.
    pub stop: Option<(Stop, *const Op)>,
    /// Memory for the slow paths: translation, misses, atomics.
    pub bus: Bus<'a>,
    /// The floating-point registers and `fcsr` (exec_fp.rs).
    pub fpu: Fpu<'a>,
}

impl Exec<'_> {
    /// Instructions retired before `op` (an op of the running block) ran,
    /// with `budget` left after the running block: the count with that
    /// block counted whole, less its instructions from `op` on
    /// (`Op::left`). A handler passes its own budget argument; the run
    /// loop, after the handlers returned, `budget`, which they left here.
    #[inline(always)]
    pub fn retired_before(&self, op: &Op, budget: u64) -> u64 {
        self.stop_at - budget - u64::from(op.left)
    }
}

/// A jump-cache entry: the block for virtual `pc`. (`repr(C)`: compiled
/// code reads it, jit/x86_64.rs.)
#[derive(Clone, Copy)]
#[repr(C)]
pub(crate) struct JumpEntry {
    /// `u64::MAX` marks an empty entry (pcs are even).
    pub pc: u64,
    /// The block's first op.
    pub ops: *const Op,
    /// The block's instruction count.
    pub count: u64,
}

/// Number of entries of the virtual-pc jump cache (a power of two).
pub(crate) const JUMP_CACHE_ENTRIES: usize = 32768;

impl JumpEntry {
    pub const EMPTY: JumpEntry = JumpEntry {
        pc: u64::MAX,
        ops: std::ptr::null(),
        count: 0,
    };

    /// Index of the entry for virtual `pc` (direct-mapped).
    #[inline(always)]
    pub fn index(pc: u64) -> usize {
        (pc >> 1) as usize & (JUMP_CACHE_ENTRIES - 1)
    }
}

/// The divisions and remainders `DivTrap` stands for, by `imm`.
pub(crate) const DIVISIONS: [OpKind; 8] = [
    OpKind::Div,
    OpKind::Divu,
    OpKind::Rem,
    OpKind::Remu,
    OpKind::Divw,
    OpKind::Divuw,
    OpKind::Remw,
    OpKind::Remuw,
];

/// The `imm` of a floating-point op other than a load or store: the
/// instruction's own bits in the upper half (for the illegal-instruction
/// exception of a dynamic rounding mode that `frm` does not allow), and
/// below them the fields the handler needs.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct FpFields {
    /// The `rm` field (0..=4, or 7 for dynamic).
    pub rm: u8,
    /// `rs3` of a fused multiply-add.
    pub rs3: u8,
    /// Which operation of a family (a sign injection, a comparison, an
    /// integer width, a fused multiply-add).
    pub sub: u8,
    pub bits: u32,
}

impl FpFields {
    pub fn pack(self) -> i64 {
        (i64::from(self.bits) << 32)
            | (i64::from(self.sub) << 16)
            | (i64::from(self.rs3 & 31) << 8)
            | i64::from(self.rm & 7)
    }

    pub fn unpack(imm: i64) -> FpFields {
        FpFields {
            rm: (imm & 7) as u8,
            rs3: ((imm >> 8) & 31) as u8,
            sub: ((imm >> 16) & 0xff) as u8,
            bits: (imm >> 32) as u32,
        }
    }
}

/// The `imm` of a `CsrFp` op: the CSR, the operation, and for the
/// immediate forms the 5-bit immediate (their `rs1` field).
pub(crate) fn csr_pack(op: CsrOp, csr: u16, uimm: u8) -> i64 {
    i64::from(csr & 0xfff) | ((op as i64) << 16) | (i64::from(uimm & 31) << 24)
}

/// The inverse of `csr_pack`.
pub(crate) fn csr_unpack(imm: i64) -> (CsrOp, u16, u64) {
    let op = match (imm >> 16) & 0xff {
        0 => CsrOp::Csrrw,
        1 => CsrOp::Csrrs,
        2 => CsrOp::Csrrc,
        3 => CsrOp::Csrrwi,
        4 => CsrOp::Csrrsi,
        _ => CsrOp::Csrrci,
    };
    (op, (imm & 0xfff) as u16, ((imm >> 24) & 31) as u64)
}

/// The atomics, in the order `amo_pack` numbers them.
const AMO_OPS: [AmoOp; 11] = [
    AmoOp::Lr,
    AmoOp::Sc,
    AmoOp::Swap,
    AmoOp::Add,
    AmoOp::Xor,
    AmoOp::And,
    AmoOp::Or,
    AmoOp::Min,
    AmoOp::Max,
    AmoOp::Minu,
    AmoOp::Maxu,
];

/// Encodes an atomic's operation and width in an op's `imm`.
pub(crate) fn amo_pack(op: AmoOp, width: AmoWidth) -> i64 {
    let w = match width {
        AmoWidth::Word => 0,
        AmoWidth::Double => 1,
    };
    ((op as i64) << 1) | w
}

/// The inverse of `amo_pack`.
pub(crate) fn amo_unpack(imm: i64) -> (AmoOp, AmoWidth) {
    AMO_OPS
        .iter()
        .flat_map(|&a| [(a, AmoWidth::Word), (a, AmoWidth::Double)])
        .find(|&(a, w)| amo_pack(a, w) == imm)
        .unwrap_or((AmoOp::Lr, AmoWidth::Double))
}
